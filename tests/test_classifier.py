"""GDClassifier against scikit-learn's optima and SGDClassifier."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import recall_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from skgd import GDClassifier

SOLVERS = ["stochastic", "minibatch", "batch"]


def _scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def log_loss_objective(X, y, classes, coef, intercept, alpha):
    """Mean log-loss (binary logistic or softmax) plus alpha/2 |W|^2, in numpy."""
    Z = X @ coef.T + intercept
    if Z.shape[1] == 1:
        sign = np.where(y == classes[1], 1.0, -1.0)
        losses = np.logaddexp(0.0, -sign * Z[:, 0])
    else:
        index = np.searchsorted(classes, y)
        losses = np.logaddexp.reduce(Z, axis=1) - Z[np.arange(len(y)), index]
    return losses.mean() + 0.5 * alpha * np.sum(coef**2)


@pytest.mark.parametrize("loader, multi_class", [(load_breast_cancer, "ovr"), (load_wine, "multinomial")])
def test_batch_log_loss_reaches_logistic_regression(loader, multi_class):
    X, y = _scaled(loader)
    alpha = 0.01
    reference = LogisticRegression(C=1.0 / (len(y) * alpha), tol=1e-12, max_iter=10_000).fit(X, y)
    est = GDClassifier(
        loss="log_loss", solver="batch", multi_class=multi_class, alpha=alpha,
        tol=1e-12, max_iter=100_000,
    ).fit(X, y)
    best = log_loss_objective(X, y, reference.classes_, reference.coef_, reference.intercept_, alpha)
    reached = log_loss_objective(X, y, est.classes_, est.coef_, est.intercept_, alpha)
    assert abs(reached - best) <= 1e-6 * best
    # Certified, not stopped by max_iter: near the optimum the line search
    # once halved its step without end, the objective's changes being rounding.
    assert est.stationarity_ <= est.tol / 10


@pytest.mark.parametrize("loss, tolerance", [("squared_hinge", 1e-5), ("hinge", 1e-3)])
def test_batch_hinge_losses_reach_their_optimum(loss, tolerance):
    # LinearSVC minimises |w|^2 / 2 + C sum(loss), the same optimum as the
    # mean loss + alpha/2 |w|^2 with C = 1 / (n alpha); its intercept is
    # penalised through intercept_scaling, made negligible here. The hinge
    # loss has a kink: subgradient steps end in a neighbourhood of the
    # optimum whose size grows with the step; the shrinks of the hinge's
    # "adaptive" steps wait ever longer, so that a tight tol gets there
    # (0.01% here; 1.8% when every shrink waited 5 epochs).
    X, y = _scaled(load_breast_cancer)
    alpha = 0.01
    sign = np.where(y == 1, 1.0, -1.0)

    def objective(w, b):
        margin = np.maximum(0.0, 1.0 - sign * (X @ w + b))
        return np.mean(margin**2 if loss == "squared_hinge" else margin) + 0.5 * alpha * w @ w

    svc = LinearSVC(loss=loss, C=1.0 / (len(y) * alpha), intercept_scaling=100, tol=1e-10, max_iter=1_000_000).fit(X, y)
    est = GDClassifier(loss=loss, solver="batch", alpha=alpha, tol=1e-8, max_iter=100_000).fit(X, y)
    best = objective(svc.coef_[0], svc.intercept_[0])
    assert objective(est.coef_[0], est.intercept_[0]) <= best * (1 + tolerance)


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_breast_cancer, load_digits])
@pytest.mark.parametrize("solver", SOLVERS)
def test_accuracy_matches_sgdclassifier(loader, solver):
    # 5-fold cross-validated accuracy averaged over seeds: on these small
    # sets one test sample is worth more than the 0.02 tolerance.
    X, y = loader(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours, theirs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(4):
            for model, scores in [(GDClassifier(solver=solver, random_state=seed), ours),
                                  (SGDClassifier(random_state=seed), theirs)]:
                scores.append(cross_val_score(make_pipeline(StandardScaler(), model), X, y, cv=cv).mean())
    assert np.mean(ours) >= np.mean(theirs) - 0.02


def test_one_vs_rest_in_one_pass_equals_separate_binary_fits():
    X, y = _scaled(load_iris)
    params = dict(solver="batch", loss="log_loss", tol=None, max_iter=50, learning_rate="constant", eta0=0.1)
    ovr = GDClassifier(**params).fit(X, y)
    for k, label in enumerate(ovr.classes_):
        binary = GDClassifier(**params).fit(X, np.where(y == label, 1, 0))
        np.testing.assert_allclose(ovr.coef_[k], binary.coef_[0], rtol=1e-10)
        np.testing.assert_allclose(ovr.intercept_[k], binary.intercept_[0], rtol=1e-10)


def test_stochastic_one_vs_rest_certificate_comes_from_each_problems_stop(monkeypatch):
    # The stochastic solver's one-vs-rest problems stop one by one, each
    # after a check of its own gradient (BaseGD._far_from_stationary); the
    # final certificate adds those checks up instead of a pass over the
    # data, and equals that pass at the published weights.
    from skgd import _base

    X, y = load_digits(return_X_y=True)
    params = dict(loss="log_loss", random_state=0)
    assembled = []
    from_parts = _base._from_parts
    monkeypatch.setattr(_base, "_from_parts",
                        lambda *args: assembled.append(from_parts(*args)) or assembled[-1])
    est = GDClassifier(**params).fit(X, y)
    assert len(assembled) == 1 and assembled[0] is not None
    monkeypatch.setattr(_base, "_from_parts", lambda *args: None)  # a pass instead
    passed = GDClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(est.coef_, passed.coef_)
    assert est.n_iter_ < est.max_iter
    assert est.stationarity_ == pytest.approx(passed.stationarity_, rel=1e-12)


@pytest.mark.parametrize("leave_out_from", [0, np.inf])
def test_a_problem_that_stops_before_averaging_publishes_its_weights_then(leave_out_from,
                                                                          monkeypatch):
    # average=N: one-vs-rest problems of the stochastic solver that stop
    # before update N publish the weights they had when they stopped (not
    # averages that never began, zeros), whether or not the stopped problems
    # are left out of the later epochs (_engine.LEAVE_OUT_VALUES); the one
    # still running at update N publishes its average. (Explicit steps:
    # no preconditioner, so coef_ is the kernels' W.)
    from skgd import _base, _engine

    monkeypatch.setattr(_engine, "LEAVE_OUT_VALUES", leave_out_from)
    stopped = {}
    group_state = _base.BaseGD._group_state

    def spy(self, state, outputs):
        stopped[int(outputs[0])] = (state.W[outputs].copy(), state.b[outputs].copy(),
                                    state.averaged)
        return group_state(self, state, outputs)

    monkeypatch.setattr(_base.BaseGD, "_group_state", spy)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 8))
    y = np.where(X[:, 0] > 1.0, 0, np.where(X[:, 1] + 2 * rng.standard_normal(3000) > 0, 1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GDClassifier(solver="stochastic", average=30000, max_iter=60, random_state=0,
                           learning_rate="constant", eta0=0.01).fit(X, y)
    before = [k for k, (_, _, averaged) in stopped.items() if not averaged]
    assert before and len(before) < 3 and est.t_ > 30000
    for k in before:
        np.testing.assert_array_equal(est.coef_[k], stopped[k][0][0])
        np.testing.assert_array_equal(est.intercept_[k], stopped[k][1][0])
    running = [k for k in range(3) if k not in before]
    assert all(not np.array_equal(est.coef_[k], stopped[k][0][0]) for k in running)


@pytest.mark.parametrize(
    "params",
    [dict(loss="log_loss"), dict(loss="log_loss", multi_class="multinomial"), dict(loss="modified_huber")],
)
def test_predict_proba_rows_sum_to_one(params):
    X, y = _scaled(load_wine)
    est = GDClassifier(solver="minibatch", random_state=0, **params).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X))
    np.testing.assert_allclose(np.exp(est.predict_log_proba(X)), proba)


def test_multinomial_proba_is_softmax_of_decision():
    X, y = _scaled(load_iris)
    est = GDClassifier(loss="log_loss", multi_class="multinomial", solver="batch").fit(X, y)
    scores = est.decision_function(X)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(est.predict_proba(X), expected / expected.sum(axis=1, keepdims=True))


def test_binary_proba_is_sigmoid():
    X, y = _scaled(load_breast_cancer)
    est = GDClassifier(loss="log_loss", solver="batch").fit(X, y)
    expected = 1.0 / (1.0 + np.exp(-est.decision_function(X)))
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], expected)


def test_proba_unavailable_for_hinge():
    X, y = _scaled(load_iris)
    est = GDClassifier().fit(X, y)
    assert not hasattr(est, "predict_proba")
    with pytest.raises(AttributeError) as error:
        est.predict_log_proba(X)
    assert "loss='log_loss'" in str(error.value.__cause__)


def test_balanced_class_weight_raises_minority_recall():
    rng = np.random.RandomState(0)
    X = rng.randn(1000, 2)
    y = (X[:, 0] + 0.8 * rng.randn(1000) > 1.6).astype(int)  # about 7% positives
    assert y.mean() < 0.1
    plain = GDClassifier(solver="batch").fit(X, y)
    balanced = GDClassifier(solver="batch", class_weight="balanced").fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X)) + 0.2


def test_string_and_non_contiguous_labels_round_trip():
    X, y = _scaled(load_iris)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = GDClassifier(solver="batch").fit(X, names)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(est.predict(X)) <= set(names)
    codes = np.array([10, -3, 42])[y]
    est = GDClassifier(solver="batch").fit(X, codes)
    np.testing.assert_array_equal(est.classes_, [-3, 10, 42])
    assert est.score(X, codes) > 0.9


def test_partial_fit_needs_classes_first():
    X, y = _scaled(load_iris)
    est = GDClassifier()
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:50], y[:50], classes=[0, 1, 2])  # the first chunk has one class
    est.partial_fit(X[50:], y[50:])
    assert est.coef_.shape == (3, 4)
    with pytest.raises(ValueError, match="not in classes"):
        est.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="balanced"):
        GDClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_one_class_is_a_clear_error():
    X, y = _scaled(load_iris)
    with pytest.raises(ValueError, match="at least 2 classes"):
        GDClassifier().fit(X[:50], y[:50])


def test_multinomial_needs_log_loss():
    X, y = _scaled(load_iris)
    with pytest.raises(ValueError, match="multinomial.*log_loss"):
        GDClassifier(multi_class="multinomial", loss="hinge").fit(X, y)


def test_early_stopping_uses_stratified_accuracy():
    X, y = _scaled(load_digits)
    est = GDClassifier(early_stopping=True, random_state=0, solver="minibatch").fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_
    assert 0.85 < est.best_validation_score_ <= 1.0


def test_stochastic_auto_is_sgdclassifier_optimal():
    X, y = _scaled(load_iris)
    assert GDClassifier().fit(X, y).learning_rate_ == "optimal"


def test_sparse_input_and_shapes():
    X, y = _scaled(load_digits)
    est = GDClassifier(solver="minibatch", random_state=0).fit(sp.csr_matrix(X), y)
    assert est.coef_.shape == (10, 64) and est.intercept_.shape == (10,)
    assert est.decision_function(X[:5]).shape == (5, 10)
    binary = GDClassifier(solver="batch").fit(X, y == 3)
    assert binary.coef_.shape == (1, 64) and binary.decision_function(X[:5]).shape == (5,)


def test_batch_average_under_l1_stops_and_says_how_to_get_the_certified_iterate():
    """The batch solver judges an explicit ``average``'s mean, and under l1
    the mean keeps small values where the iterate has zeros (each adds l1
    to the subgradient): judged on the iterate's support it stops (52
    epochs, not all 1,000), and the warning that the mean is far from
    stationary points to ``average=False``."""
    X, y = load_breast_cancer(return_X_y=True)
    est = GDClassifier(loss="log_loss", solver="batch", penalty="l1", alpha=0.01, average=True)
    with pytest.warns(ConvergenceWarning, match="average=False") as caught:
        est.fit(X, y)
    assert est.n_iter_ < est.max_iter
    assert not any("Maximum number" in str(w.message) for w in caught)


def test_partial_fit_after_switching_optimizer_takes_the_new_rules_step():
    """A partial_fit sequence keeps the step of its first call, unless the
    optimizer changes: momentum's batch step is damped by 1 - momentum,
    which plain steps kept after set_params(optimizer="sgd") (10 times too
    short)."""
    X, y = load_breast_cancer(return_X_y=True)
    classes = np.unique(y)
    switched = GDClassifier(solver="batch", optimizer="momentum")
    switched.partial_fit(X, y, classes=classes)
    switched.set_params(optimizer="sgd").partial_fit(X, y)
    fresh = GDClassifier(solver="batch").partial_fit(X, y, classes=classes)
    assert switched.eta0_ == pytest.approx(fresh.eta0_, rel=1e-6)
