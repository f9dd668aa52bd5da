"""Property tests: the batch solver solves the problem it says it solves.

The objective (DESIGN.md, the estimators' docstrings) is scikit-learn's SGD
objective

    sum_i s_i L(z_i, y_i) / n  +  alpha * R(w)

with ``R(w) = |w|^2 / 2`` for l2, ``|w|_1`` for l1 and
``(1 - l1_ratio) |w|^2 / 2 + l1_ratio |w|_1`` for the elastic net; the
intercept is not penalised. The gradients below are written from that
formula with numpy, independently of skgd's kernels, and the batch solver's
answer must satisfy the optimality conditions: a zero gradient for the
smooth objectives, the subgradient conditions where there is an l1 part.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skgd import GDClassifier, GDRegressor

# Derandomised, so that the suite gives the same verdict on every run (set
# SKGD_HYPOTHESIS_EXAMPLES to search further, e.g. 500, when hunting bugs).
SETTINGS = settings(
    max_examples=int(os.environ.get("SKGD_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Gradient entries of an O(1) problem that count as zero. The solver is run
# to a tight tol, which leaves gradients around 1e-6; any mistake in the
# objective (a penalty off by a factor, weights divided by their sum instead
# of the number of rows, a penalised intercept) leaves gradients of the order of alpha * |w| >= 1e-2.
GRAD_TOL = 1e-4


@st.composite
def problems(draw, classification=False, n_classes=2):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(8, 30))
    d = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=(d, n_classes if classification else 1))
    scores = X @ w + rng.normal(size=(1, w.shape[1]))
    if not classification:
        y = scores[:, 0] + 0.5 * rng.normal(size=n)
    elif n_classes == 2:
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * scores[:, 0]))).astype(int)
    else:
        logits = 2 * scores + rng.gumbel(size=scores.shape)
        y = np.argmax(logits, axis=1)
    assume(len(np.unique(y)) == (n_classes if classification else len(np.unique(y))))
    weighted = draw(st.booleans())
    sample_weight = rng.uniform(0.2, 3.0, size=n) if weighted else None
    return X, y, sample_weight


def _weights(sample_weight, n):
    """Each row's share of the loss: its weight over the number of rows."""
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return s / n


def _fit(est, X, y, sample_weight):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, sample_weight=sample_weight)


def _tight(est_class, **params):
    return est_class(solver="batch", tol=1e-12, max_iter=20000, random_state=0, **params)


# ------------------------------------------------------------------ gradients
def _squared_error_grad(X, y, s, w, b):
    """Gradient of sum s_i (x_i w + b - y_i)^2 / 2 (s: the rows' shares)."""
    r = X @ w + b - y
    return X.T @ (s * r), np.sum(s * r)


def _binary_log_loss_grad(X, T, s, W, b):
    """Per-output logistic loss log(1 + exp(-t z)), t in {-1, +1}."""
    Z = X @ W.T + b
    D = -T / (1.0 + np.exp(T * Z))  # dL/dz
    return (s[:, None] * D).T @ X, (s[:, None] * D).sum(axis=0)


def _multinomial_grad(X, Y, s, W, b):
    """Softmax cross-entropy: dL/dz = softmax(z) - onehot(y)."""
    Z = X @ W.T + b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    D = P - Y
    return (s[:, None] * D).T @ X, (s[:, None] * D).sum(axis=0)


# -------------------------------------------------------- smooth: gradient 0
@SETTINGS
@given(problems(), st.floats(0.05, 1.0), st.booleans())
def test_batch_ridge_gradient_vanishes(problem, alpha, fit_intercept):
    X, y, sample_weight = problem
    est = _fit(_tight(GDRegressor, alpha=alpha, fit_intercept=fit_intercept), X, y, sample_weight)
    s = _weights(sample_weight, len(y))
    g_w, g_b = _squared_error_grad(X, y, s, est.coef_, est.intercept_[0])
    g_w = g_w + alpha * est.coef_
    assert np.max(np.abs(g_w)) < GRAD_TOL, g_w
    if fit_intercept:
        assert abs(g_b) < GRAD_TOL
    else:
        assert est.intercept_[0] == 0.0


@SETTINGS
@given(problems(classification=True), st.floats(0.05, 1.0))
def test_batch_binary_log_loss_gradient_vanishes(problem, alpha):
    X, y, sample_weight = problem
    est = _fit(_tight(GDClassifier, loss="log_loss", alpha=alpha), X, y, sample_weight)
    s = _weights(sample_weight, len(y))
    T = np.where(y == est.classes_[1], 1.0, -1.0)[:, None]
    g_W, g_b = _binary_log_loss_grad(X, T, s, est.coef_, est.intercept_)
    g_W = g_W + alpha * est.coef_
    assert np.max(np.abs(g_W)) < GRAD_TOL, g_W
    assert np.max(np.abs(g_b)) < GRAD_TOL, g_b


@SETTINGS
@given(problems(classification=True, n_classes=3), st.floats(0.05, 1.0), st.sampled_from(["ovr", "multinomial"]))
def test_batch_multiclass_log_loss_gradient_vanishes(problem, alpha, multi_class):
    X, y, sample_weight = problem
    est = _fit(
        _tight(GDClassifier, loss="log_loss", alpha=alpha, multi_class=multi_class),
        X, y, sample_weight,
    )
    s = _weights(sample_weight, len(y))
    onehot = (y[:, None] == est.classes_[None, :]).astype(float)
    if multi_class == "ovr":
        # One-vs-rest: a sum of independent binary problems, one per class.
        g_W, g_b = _binary_log_loss_grad(X, 2 * onehot - 1, s, est.coef_, est.intercept_)
    else:
        g_W, g_b = _multinomial_grad(X, onehot, s, est.coef_, est.intercept_)
    g_W = g_W + alpha * est.coef_
    assert np.max(np.abs(g_W)) < GRAD_TOL, g_W
    assert np.max(np.abs(g_b)) < GRAD_TOL, g_b


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_batch_step_is_stable_when_the_top_direction_is_orthogonal_to_ones(fit_intercept):
    """The batch solver's ``learning_rate="auto"`` step 1/L must not come
    from an underestimated L. Here the direction of largest curvature,
    (1, -1, 0), is orthogonal to the all-ones vector, so a power iteration
    started from ones never sees it and converges to a smaller eigenvalue;
    the step is then too long. Whatever the step rule, the fit must reach the
    optimum (it is a well-posed ridge problem), not diverge or stop early."""
    rng = np.random.default_rng(0)
    # A feature, its negation, and a feature orthogonal to both and to the
    # constant: X'X is block-diagonal and ones has no (1, -1, 0) component.
    a = rng.normal(size=40)
    a = 3.0 * (a - a.mean())
    c = rng.normal(size=40)
    c = c - c.mean()
    c = 0.5 * (c - (c @ a) / (a @ a) * a)
    X = np.column_stack([a, -a, c])
    y = X @ [1.0, 0.5, -1.0] + rng.normal(size=40)
    alpha = 0.1
    est = _fit(_tight(GDRegressor, alpha=alpha, fit_intercept=fit_intercept), X, y, None)
    s = _weights(None, len(y))
    g_w, g_b = _squared_error_grad(X, y, s, est.coef_, est.intercept_[0])
    assert np.max(np.abs(g_w + alpha * est.coef_)) < GRAD_TOL
    if fit_intercept:
        assert abs(g_b) < GRAD_TOL


# -------------------------------------------- l1 and elastic net: subgradient
def _assert_subgradient_conditions(g_smooth, coef, l1):
    """0 in g + l1 * d|w|: |g_j| <= l1 where w_j = 0, else g_j = -l1 sign(w_j)."""
    zero = coef == 0.0
    assert np.all(np.abs(g_smooth[zero]) <= l1 + GRAD_TOL), (g_smooth, coef)
    residual = g_smooth[~zero] + l1 * np.sign(coef[~zero])
    assert np.all(np.abs(residual) < GRAD_TOL), (g_smooth, coef)


@SETTINGS
@given(problems(), st.floats(0.02, 0.5), st.floats(0.2, 1.0))
def test_batch_elastic_net_regression_subgradient_conditions(problem, alpha, l1_ratio):
    X, y, sample_weight = problem
    assume(X.shape[0] > X.shape[1] + 2)
    penalty = "l1" if l1_ratio == 1.0 else "elasticnet"
    est = _fit(
        _tight(GDRegressor, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio),
        X, y, sample_weight,
    )
    s = _weights(sample_weight, len(y))
    g_w, g_b = _squared_error_grad(X, y, s, est.coef_, est.intercept_[0])
    g_w = g_w + alpha * (1.0 - l1_ratio) * est.coef_
    _assert_subgradient_conditions(g_w, est.coef_, alpha * l1_ratio)
    assert abs(g_b) < GRAD_TOL


@SETTINGS
@given(problems(classification=True), st.floats(0.005, 0.1), st.floats(0.3, 1.0))
def test_batch_elastic_net_log_loss_subgradient_conditions(problem, alpha, l1_ratio):
    X, y, sample_weight = problem
    est = _fit(
        _tight(GDClassifier, loss="log_loss", penalty="elasticnet", alpha=alpha, l1_ratio=l1_ratio),
        X, y, sample_weight,
    )
    s = _weights(sample_weight, len(y))
    T = np.where(y == est.classes_[1], 1.0, -1.0)[:, None]
    g_W, g_b = _binary_log_loss_grad(X, T, s, est.coef_, est.intercept_)
    g_W = g_W + alpha * (1.0 - l1_ratio) * est.coef_
    _assert_subgradient_conditions(g_W.ravel(), est.coef_.ravel(), alpha * l1_ratio)
    assert np.max(np.abs(g_b)) < GRAD_TOL


def test_l1_really_zeroes_an_irrelevant_feature():
    """Guard for the subgradient tests: they must see exact zeros."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = 3 * X[:, 0] + 0.1 * rng.normal(size=50)
    est = _fit(_tight(GDRegressor, penalty="l1", alpha=0.5), X, y, None)
    assert est.coef_[1] == 0.0 and est.coef_[2] == 0.0
    assert est.coef_[0] > 2.0


# ------------------------------------------------------------- invariances
# Both fits run to a tight tol and are compared as solutions: an objective
# within ~1e-12 of the optimum of a problem with curvature >= alpha >= 0.05
# puts the coefficients within ~1e-5 of it, so two correct fits agree to
# INVARIANCE_TOL whatever path (and rounding) each took; an order- or
# scale-dependent answer differs by far more.
INVARIANCE_TOL = 1e-4


def _scores(est, X):
    return est.predict(X) if isinstance(est, GDRegressor) else est.decision_function(X)


def _invariance_problem(kind, y, alpha):
    if kind == "regressor":
        return _tight(GDRegressor, alpha=alpha), y
    if kind == "binary":
        target = (y > np.median(y)).astype(int)
    else:
        target = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    assume(len(np.unique(target)) == (2 if kind == "binary" else 3))
    multi_class = "multinomial" if kind == "multinomial" else "ovr"
    return _tight(GDClassifier, loss="log_loss", alpha=alpha, multi_class=multi_class), target


@SETTINGS
@given(
    problems(),
    st.sampled_from(["regressor", "binary", "multinomial"]),
    st.floats(0.05, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_batch_predictions_do_not_depend_on_row_order(problem, kind, alpha, perm_seed):
    X, y, sample_weight = problem
    est, target = _invariance_problem(kind, y, alpha)
    perm = np.random.default_rng(perm_seed).permutation(len(y))
    a = _fit(est, X, target, sample_weight)
    b = _fit(
        est.__class__(**est.get_params()), X[perm], target[perm],
        None if sample_weight is None else sample_weight[perm],
    )
    assert_allclose(_scores(b, X), _scores(a, X), rtol=0, atol=INVARIANCE_TOL)


@SETTINGS
@given(
    problems(),
    st.sampled_from(["regressor", "binary", "multinomial"]),
    st.floats(0.05, 1.0),
    st.floats(1e-3, 1e3),
)
def test_scaling_sample_weight_and_alpha_together_changes_nothing(problem, kind, alpha, factor):
    # The objective sums the weighted losses over n rows (scikit-learn's SGD
    # objective): weights and alpha both times c is the same objective times c.
    X, y, sample_weight = problem
    if sample_weight is None:
        sample_weight = np.ones(len(y))
    est, target = _invariance_problem(kind, y, alpha)
    a = _fit(est, X, target, sample_weight)
    b = _fit(est.__class__(**{**est.get_params(), "alpha": alpha * factor}), X, target,
             sample_weight * factor)
    assert_allclose(b.coef_, a.coef_, rtol=0, atol=INVARIANCE_TOL)
    assert_allclose(b.intercept_, a.intercept_, rtol=0, atol=INVARIANCE_TOL)
    assert_allclose(_scores(b, X), _scores(a, X), rtol=0, atol=INVARIANCE_TOL)
