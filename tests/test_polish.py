"""The plane search at the end of an "auto" stochastic or mini-batch fit (skgd._polish).

References: the SGD objective written out here in the original coordinates,
minimised over the same plane by scipy; LogisticRegression's optimum.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor
from skgd._engine import evaluate
from skgd._polish import polish

ALPHA = 1e-4


def _sgd_loss(loss, z, y):
    """scikit-learn's SGD losses (``y``: -1/+1 for classification, real for regression)."""
    if loss == "squared_error":
        return 0.5 * (z - y) ** 2
    if loss == "huber":
        r = np.abs(z - y)
        return np.where(r <= 0.1, 0.5 * r * r, 0.1 * r - 0.005)
    m = y * z
    if loss == "log_loss":
        return np.logaddexp(0.0, -m)
    if loss == "modified_huber":
        return np.where(m >= 1, 0.0, np.where(m >= -1, (1 - m) ** 2, -4 * m))
    raise ValueError(loss)


def _objective(loss, X, targets, weights, coef, intercept):
    """Each output's SGD objective in the original coordinates: the weighted mean
    loss plus ``ALPHA |w|^2 / 2``."""
    Z = np.asarray(X @ coef.T) + intercept
    return (np.mean(weights * _sgd_loss(loss, Z, targets), axis=0)
            + 0.5 * ALPHA * np.sum(coef ** 2, axis=1))


def _layouts():
    rng = np.random.RandomState(0)
    X, y = load_breast_cancer(return_X_y=True)
    weight = rng.uniform(0.2, 3.0, X.shape[0])
    iris_X, iris_y = load_iris(return_X_y=True)
    R = rng.randn(300, 8) * np.logspace(-2, 3, 8) + 40.0
    R[rng.rand(*R.shape) < 0.5] = 0.0
    r = R @ rng.randn(8) / 100 + rng.randn(300)
    return {
        # raw columns (centred coordinates), class and sample weights
        "log binary raw weighted": (GDClassifier(loss="log_loss", class_weight={0: 20.0}),
                                    X, y, weight, "log_loss"),
        # one-vs-rest: each class its own plane, class weights on the positives only
        "modified_huber ovr": (GDClassifier(loss="modified_huber",
                                            class_weight={0: 3.0, 2: 0.5}),
                               iris_X, iris_y, None, "modified_huber"),
        "squared_error csr": (GDRegressor(), sp.csr_matrix(R), r, weight[:300], "squared_error"),
        "huber no intercept float32": (GDRegressor(loss="huber", epsilon=0.1, fit_intercept=False),
                                       R.astype(np.float32), r, None, "huber"),
    }


@pytest.mark.parametrize("layout", list(_layouts()))
def test_the_plane_search_finds_the_planes_minimum(layout):
    """From weights some way off the optimum, each output's point is the minimum,
    over its plane, of the objective as scikit-learn defines it (scipy's
    minimum of the same function is no lower), and never above the start. The
    plane's direction is the gradient that the kernels' evaluation gives."""
    est, X, y, sample_weight, loss = _layouts()[layout]
    rng = np.random.RandomState(1)
    problem = est._build_problem(*est._validate_fit_data(X, y, reset=True), sample_weight,
                                 None, False, True)[0]
    k, d = problem.n_outputs, X.shape[1]
    W = 0.3 * rng.randn(k, d)
    b = 0.2 * rng.randn(k) if problem.fit_intercept else np.zeros(k)
    _, G, G_b = evaluate(problem, W, b, problem.train, gradient=True)
    new_W, new_b, before, after, norm = polish(problem, W, b)

    # The reference, in the original coordinates.
    p = problem.preconditioner
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    if isinstance(est, GDClassifier):
        classes = np.unique(y)
        cw = {c: est.class_weight.get(c, 1.0) for c in classes}
        if len(classes) == 2:  # binary: the positive class is classes[1]
            targets = np.where(y == classes[1], 1.0, -1.0)[:, None]
            row_weights = (weights * np.array([cw[c] for c in y]))[:, None]
        else:  # one-vs-rest: class k's weight on its own rows, 1 on the rest
            targets = np.where(y[:, None] == classes, 1.0, -1.0)
            row_weights = weights[:, None] * np.where(y[:, None] == classes,
                                                      [cw[c] for c in classes], 1.0)
    else:
        targets, row_weights = y[:, None], weights[:, None]
    l2 = problem.l2[p.bucket]
    D = -(G + l2 * W)  # (the objective's gradient in the kernels' coordinates)
    d = -G_b if problem.fit_intercept else np.zeros(k)

    def on_plane(theta, output):
        s, t, c = theta
        Wk = (1 + s) * W[output:output + 1] + t * D[output:output + 1]
        bk = b[output:output + 1] + t * d[output:output + 1] + (c if problem.fit_intercept else 0)
        coef, intercept = p.to_original(Wk, bk)
        return float(_objective(loss, X.astype(np.float64), targets[:, [output]],
                                row_weights[:, [output]], coef, intercept)[0])

    coef, intercept = p.to_original(new_W, new_b)
    found = _objective(loss, X.astype(np.float64), targets, row_weights, coef, intercept)
    start = _objective(loss, X.astype(np.float64), targets, row_weights, *p.to_original(W, b))
    np.testing.assert_allclose(before, start, rtol=1e-9)
    np.testing.assert_allclose(after, found, rtol=1e-9)
    assert norm == pytest.approx(np.sqrt(np.sum((G + l2 * W) ** 2) + np.sum(d ** 2)), rel=1e-6)
    for output in range(k):
        scale = 1.0 / max(np.sqrt(np.sum(D[output] ** 2) + d[output] ** 2), 1e-300)
        best = min(minimize(lambda theta: on_plane(theta, output), x0, method="Nelder-Mead",
                            options=dict(xatol=1e-12, fatol=1e-14, maxiter=20_000)).fun
                   for x0 in ([0.0, 0.0, 0.0], [0.0, scale, 0.0]))
        assert found[output] <= start[output]
        assert found[output] <= best + 1e-6 * abs(best), (output, found[output], best)


def _standardised_split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _log_objective(model, X, y, class_weight=None):
    """The one-vs-rest log-loss objective (binary: one problem, each row weighing its
    class's weight; several classes: unweighted)."""
    scores = model.decision_function(X)
    classes = model.classes_
    if scores.ndim == 1:
        signs = np.where(y == classes[1], 1.0, -1.0)[:, None]
        rows = np.array([(class_weight or {}).get(c, 1.0) for c in y])[:, None]
        scores = scores[:, None]
    else:
        signs = np.where(y[:, None] == classes, 1.0, -1.0)
        rows = np.ones_like(signs)
    coef = np.atleast_2d(model.coef_)
    return float(np.sum(np.mean(rows * np.logaddexp(0, -signs * scores), axis=0))
                 + 0.5 * ALPHA * np.sum(coef ** 2))


def test_a_stochastic_adam_fit_on_iris_ends_near_its_optimum():
    """The corpus's two far-and-silent log-loss fits (benchmarks/corpus.py): iris,
    stochastic Adam, stopped 11% above the optimum's objective at test accuracy
    0.92 (raw: 0.89) against 0.97, without a warning; the plane search takes
    them to within 3%."""
    X_train, X_test, y_train, y_test = _standardised_split(*load_iris(return_X_y=True))
    exact = LogisticRegression(C=1 / (X_train.shape[0] * ALPHA), tol=1e-10, max_iter=10_000)
    exact = OneVsRestClassifier(exact).fit(X_train, y_train)
    optimum = sum(_log_objective(e, X_train, np.where(y_train == c, 1, 0))
                  for c, e in zip(exact.classes_, exact.estimators_))
    for seed in range(3):
        est = GDClassifier(loss="log_loss", solver="stochastic", optimizer="adam",
                           random_state=seed).fit(X_train, y_train)
        excess = _log_objective(est, X_train, y_train) / optimum - 1
        assert excess < 0.03, (seed, excess)
    assert est.score(X_test, y_test) >= exact.score(X_test, y_test) - 0.03


def test_a_heavily_class_weighted_minibatch_fit_gets_near_the_optimums_accuracy():
    """class_weight={0: 100} on the standardised breast cancer data: the heavy
    rows' noise stopped the mini-batch fit at 4.9 times the optimum's objective
    and test accuracy 0.811 against 0.930, without a warning; the plane search
    ends it at about 3 times the objective and accuracy 0.90."""
    X_train, X_test, y_train, y_test = _standardised_split(
        *load_breast_cancer(return_X_y=True))
    weights = {0: 100.0}
    exact = LogisticRegression(C=1 / (X_train.shape[0] * ALPHA), class_weight=weights,
                               tol=1e-10, max_iter=100_000).fit(X_train, y_train)
    optimum = _log_objective(exact, X_train, y_train, weights)
    est = GDClassifier(loss="log_loss", solver="minibatch", class_weight=weights,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_train, y_train)
    assert _log_objective(est, X_train, y_train, weights) < 3.5 * optimum
    assert est.score(X_test, y_test) >= exact.score(X_test, y_test) - 0.04


ADAM = dict(loss="log_loss", optimizer="adam")


@pytest.mark.parametrize("params, searched", [
    (ADAM, True),  # per-coordinate steps
    (dict(loss="log_loss", solver="minibatch", class_weight={0: 5.0}), True),  # rows' weights
    (dict(loss="modified_huber", optimizer="rmsprop", average=True), True),
    (dict(loss="log_loss"), False),  # plain steps on rows of one weight
    (dict(loss="log_loss", class_weight={0: 1.0}), False),  # (weights that are all 1)
    (dict(loss="log_loss", class_weight={0: 0.5}), True),  # output 0: 0.5 against 1
    (dict(loss="log_loss", class_weight={0: 2, 1: 2, 2: 2}), True),  # each: 2 against 1
    (dict(ADAM, learning_rate="adaptive", eta0=0.01), False),  # explicit: SGD's path
    (dict(ADAM, tol=None), False),  # the caller's epochs, as partial_fit's
    (dict(ADAM, solver="batch"), False),  # stops on its certificate
    (dict(ADAM, loss="hinge"), False),  # no Newton step
    (dict(ADAM, penalty="elasticnet"), False),  # would leave the l1 zeros
    (dict(ADAM, early_stopping=True), False),  # the validation picks the point
    (dict(ADAM, multi_class="multinomial"), False),  # outputs not independent
])
def test_which_fits_search_the_plane(monkeypatch, params, searched):
    import skgd._base

    calls = []
    real = skgd._base.polish
    monkeypatch.setattr(skgd._base, "polish", lambda *args: calls.append(1) or real(*args))
    X, y = load_iris(return_X_y=True)
    est = GDClassifier(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
        assert bool(calls) == searched
        calls.clear()
        est.set_params(early_stopping=False).partial_fit(X, y)
    assert not calls  # never: a partial_fit publishes the kernels' last point


def test_a_search_that_leaves_a_larger_gradient_does_not_warn_by_it():
    """Found by a review helper: Huber, AdaGrad, three outputs on raw columns of
    scales 1e-3 to 1e6. The search lowers the objective (to within 0.04% of the
    optimum's) but leaves a gradient 0.11 of its size at the start, against 0.017
    before it: the fit warned that it had stopped far from the optimum. It warns
    only where the point the search started from was far too."""
    rng = np.random.RandomState(0)
    scales = np.logspace(-3, 6, 10)
    X = rng.randn(400, 10) * scales + scales[::-1] * 3
    rng.randn(10), rng.randn(400)  # (the reproducer's draws)
    y = X @ (rng.randn(10) / scales) + rng.randn(400)
    Y = np.c_[y, 2 * y + rng.randn(400), -y]
    est = GDRegressor(loss="huber", optimizer="adagrad", alpha=0.01, random_state=4049)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X, Y)
    assert est.stationarity_ > 0.1
