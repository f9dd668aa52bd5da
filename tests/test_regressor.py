"""GDRegressor against closed-form and scikit-learn references."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import ElasticNet, Lasso, Ridge, SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skgd import GDRegressor

SOLVERS = ["stochastic", "minibatch", "batch"]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def diabetes_split():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def ridge_objective(X, y, coef, intercept, alpha, sample_weight=None):
    residual = X @ coef + intercept - y
    return 0.5 * np.average(residual**2, weights=sample_weight) + 0.5 * alpha * coef @ coef


@pytest.mark.parametrize("tol, rtol", [(1e-10, 1e-8), (1e-3, 1e-4)])
def test_batch_solver_reaches_ridge(diabetes, tol, rtol):
    X, y = diabetes
    alpha = 1e-4
    ridge = Ridge(alpha=alpha * len(y)).fit(X, y)
    est = GDRegressor(solver="batch", alpha=alpha, tol=tol, max_iter=100_000).fit(X, y)
    best = ridge_objective(X, y, ridge.coef_, ridge.intercept_, alpha)
    reached = ridge_objective(X, y, est.coef_, est.intercept_[0], alpha)
    assert abs(reached - best) <= rtol * best


def test_batch_l1_and_elasticnet_match_lasso_and_elasticnet(diabetes):
    # skgd's objective mean(r^2)/2 + alpha (l1_ratio |w|_1 + (1-l1_ratio)|w|^2/2)
    # is exactly scikit-learn's Lasso / ElasticNet objective.
    X, y = diabetes
    for penalty, reference in [
        ("l1", Lasso(alpha=2.0, tol=1e-12, max_iter=100_000)),
        ("elasticnet", ElasticNet(alpha=2.0, l1_ratio=0.15, tol=1e-12, max_iter=100_000)),
    ]:
        reference.fit(X, y)
        est = GDRegressor(solver="batch", penalty=penalty, alpha=2.0, tol=1e-10, max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(est.coef_, reference.coef_, atol=1e-4)
        np.testing.assert_array_equal(est.coef_ == 0, reference.coef_ == 0)


def test_l1_gives_exact_zeros_on_sparse_truth():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 30)
    true = np.zeros(30)
    true[:4] = [3.0, -2.0, 1.5, 1.0]
    y = X @ true + 0.1 * rng.randn(400)
    for solver in SOLVERS:
        est = GDRegressor(solver=solver, penalty="l1", alpha=0.05, random_state=0).fit(X, y)
        assert np.all(est.coef_[:4] != 0), solver
        assert np.sum(est.coef_[4:] == 0) >= 24, (solver, est.coef_)


@pytest.mark.parametrize("solver", SOLVERS)
def test_dense_and_csr_agree(diabetes, solver):
    # Same steps under an explicit schedule (under "auto" dense data is
    # centred and CSR is not: test_hardening.py checks that they converge
    # to the same model).
    X, y = diabetes
    params = dict(solver=solver, random_state=0, penalty="elasticnet", alpha=0.01,
                  learning_rate="constant", eta0=0.01)
    dense = GDRegressor(**params).fit(X, y)
    sparse = GDRegressor(**params).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8)
    assert sparse.n_iter_ == dense.n_iter_


def test_integer_sample_weight_equals_repeated_rows(diabetes):
    # scikit-learn's SGD objective divides the weighted losses by the number
    # of rows, n: n' repeated rows minimise the objective of the n weighted
    # ones with alpha times n' / n.
    X, y = diabetes
    weight = np.random.RandomState(0).randint(0, 4, size=len(y))
    params = dict(solver="batch", tol=1e-10, max_iter=100_000)
    alpha = 1e-4 * weight.sum() / len(y)
    weighted = GDRegressor(alpha=alpha, **params).fit(X, y, sample_weight=weight)
    repeated = GDRegressor(**params).fit(np.repeat(X, weight, axis=0), np.repeat(y, weight))
    # Both stop on the objective, which is known to about 1e-13 relative; the
    # worst-conditioned direction of the weights is then known to ~1e-5.
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-4)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6)


def test_multi_output_equals_per_target_ridge(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -0.5 * y + 3.0, np.random.RandomState(0).randn(len(y))])
    est = GDRegressor(solver="batch", tol=1e-10, max_iter=100_000).fit(X, Y)
    assert est.coef_.shape == (3, X.shape[1])
    assert est.predict(X).shape == Y.shape
    for k in range(3):
        ridge = Ridge(alpha=1e-4 * len(y)).fit(X, Y[:, k])
        np.testing.assert_allclose(est.coef_[k], ridge.coef_, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(est.intercept_[k], ridge.intercept_, rtol=1e-8)


@pytest.mark.parametrize("solver", SOLVERS)
def test_test_r2_matches_sgdregressor(diabetes_split, solver):
    X_train, X_test, y_train, y_test = diabetes_split
    ours, theirs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(3):
            ours.append(GDRegressor(solver=solver, random_state=seed).fit(X_train, y_train).score(X_test, y_test))
            theirs.append(SGDRegressor(random_state=seed).fit(X_train, y_train).score(X_test, y_test))
    assert np.mean(ours) >= np.mean(theirs) - 0.02


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_random_state_gives_identical_coef(diabetes, solver, optimizer):
    X, y = diabetes
    first = GDRegressor(solver=solver, optimizer=optimizer, random_state=3).fit(X, y)
    second = GDRegressor(solver=solver, optimizer=optimizer, random_state=3).fit(X, y)
    assert first.coef_.tobytes() == second.coef_.tobytes()
    assert first.intercept_.tobytes() == second.intercept_.tobytes()


def test_stochastic_auto_is_sgdregressor_default(diabetes):
    X, y = diabetes
    est = GDRegressor().fit(X, y)
    assert (est.learning_rate_, est.eta0_) == ("invscaling", 0.01)
    assert GDRegressor(solver="batch").fit(X, y).learning_rate_ == "l-bfgs"
    # (An l1 part needs a proximal step.)
    assert GDRegressor(solver="batch", penalty="l1").fit(X, y).learning_rate_ == "barzilai-borwein"
    assert GDRegressor(solver="batch", loss="epsilon_insensitive").fit(X, y).learning_rate_ == "constant"
    assert GDRegressor(solver="batch", optimizer="momentum").fit(X, y).learning_rate_ == "constant"
    assert GDRegressor(solver="minibatch").fit(X, y).learning_rate_ == "adaptive"


# The losses' second derivatives: r^2 / 2 and (|r| - epsilon)^2.
@pytest.mark.parametrize(
    "loss, curvature", [("squared_error", 1.0), ("squared_epsilon_insensitive", 2.0)]
)
def test_stochastic_auto_caps_eta0_on_large_rows(loss, curvature):
    # Rows with squared norms in the thousands: SGDRegressor's eta0 = 0.01
    # would take single-sample steps 50 times too long. "auto" works in
    # preconditioned coordinates x~ = (x - c) s and caps eta0 at 2 / L_max,
    # L_max = curvature * (largest squared norm of x~ + 1 for the
    # intercept), and reaches Ridge's test R².
    X, y = make_regression(2000, 20, noise=5.0, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(10 * X, y, random_state=0)
    alpha = 1e-4
    est = GDRegressor(loss=loss, alpha=alpha, random_state=0).fit(X_train, y_train)
    p = est._state.preconditioner
    largest = np.max(np.sum(((X_train - p.center) * p.column_scale()) ** 2, axis=1))
    assert est.learning_rate_ == "invscaling"
    np.testing.assert_allclose(est.eta0_, min(0.01, 2.0 / (curvature * (largest + 1.0))),
                               rtol=1e-12)
    ridge = Ridge(alpha=alpha * len(y_train)).fit(X_train, y_train)
    assert est.score(X_test, y_test) > ridge.score(X_test, y_test) - 0.01


def test_averaging_is_the_mean_of_the_iterates(diabetes):
    # The batch solver is deterministic, so fits of 1, 2 and 3 epochs give
    # the iterates that average=True must average.
    X, y = diabetes
    # (A constant step: under "auto" the fits without averaging take L-BFGS
    # steps, which average=True does not.)
    params = dict(solver="batch", tol=None, learning_rate="constant", eta0=0.1)
    iterates = [GDRegressor(max_iter=k, **params).fit(X, y) for k in (1, 2, 3)]
    averaged = GDRegressor(max_iter=3, average=True, **params).fit(X, y)
    np.testing.assert_allclose(averaged.coef_, np.mean([e.coef_ for e in iterates], axis=0), rtol=1e-12)
    np.testing.assert_allclose(averaged.intercept_, np.mean([e.intercept_ for e in iterates], axis=0), rtol=1e-12)


def test_partial_fit_continues_the_fit(diabetes):
    X, y = diabetes
    params = dict(shuffle=False, tol=None, solver="minibatch")
    full = GDRegressor(max_iter=4, **params).fit(X, y)
    parts = GDRegressor(**params)
    for _ in range(4):
        parts.partial_fit(X, y)
    np.testing.assert_allclose(parts.coef_, full.coef_, rtol=1e-12)
    assert parts.n_iter_ == 1 and len(parts.loss_curve_) == 4
    np.testing.assert_allclose(parts.loss_curve_, full.loss_curve_, rtol=1e-12)


def test_partial_fit_sample_weight_zero_ignores_rows(diabetes):
    # Rows of weight zero add no loss but still count in n (scikit-learn's
    # SGD objective), so they are the rows left out with alpha times n / n'.
    X, y = diabetes
    weight = np.ones(len(y))
    weight[::2] = 0.0
    kept = len(y[1::2])
    a = GDRegressor(solver="batch", shuffle=False).partial_fit(X, y, sample_weight=weight)
    b = GDRegressor(solver="batch", shuffle=False, alpha=1e-4 * len(y) / kept).partial_fit(
        X[1::2], y[1::2])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)


def test_early_stopping_records_validation_scores(diabetes):
    X, y = diabetes
    est = GDRegressor(early_stopping=True, random_state=0, solver="minibatch").fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert 0.3 < est.best_validation_score_ < 1.0
    assert GDRegressor().fit(X, y).validation_scores_ is None


def test_constant_batch_steps_decrease_the_objective(diabetes):
    X, y = diabetes
    params = dict(solver="batch", tol=None, learning_rate="constant", eta0=0.1)
    est = GDRegressor(max_iter=50, **params).fit(X, y)
    assert np.all(np.diff(est.loss_curve_) <= 1e-12)
    # loss_curve_[k] is the objective at the start of epoch k + 1.
    previous = GDRegressor(max_iter=49, **params).fit(X, y)
    assert est.loss_curve_[-1] == pytest.approx(
        ridge_objective(X, y, previous.coef_, previous.intercept_[0], 1e-4), rel=1e-10
    )


def test_auto_batch_steps_beat_the_constant_step(diabetes):
    # The default batch steps on a ridge problem of condition number ~470.
    X, y = diabetes
    auto = GDRegressor(solver="batch", tol=None, max_iter=150).fit(X, y)
    eta = 1.0 / np.linalg.eigvalsh(np.c_[X, np.ones(len(y))].T @ np.c_[X, np.ones(len(y))] / len(y)).max()
    constant = GDRegressor(solver="batch", tol=None, max_iter=150, learning_rate="constant", eta0=eta).fit(X, y)
    ridge = Ridge(alpha=1e-4 * len(y)).fit(X, y)
    best = ridge_objective(X, y, ridge.coef_, ridge.intercept_, 1e-4)
    gap = lambda est: ridge_objective(X, y, est.coef_, est.intercept_[0], 1e-4) - best
    assert gap(auto) < 1e-3 * gap(constant)


def test_convergence_warning_when_max_iter_is_reached(diabetes):
    X, y = diabetes
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GDRegressor(solver="batch", max_iter=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GDRegressor(solver="batch", max_iter=3, tol=None).fit(X, y)


def test_verbose_shows_the_lbfgs_line_search_step(diabetes, capsys):
    # Under L-BFGS the step is the line search's fraction of the direction
    # (1 when the whole direction is taken), not the unused 1 / L.
    X, y = diabetes
    est = GDRegressor(solver="batch", verbose=1, max_iter=3, tol=None).fit(X, y)
    assert est.learning_rate_ == "l-bfgs"
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert all("step=1," in line for line in lines)


def test_verbose_prints_one_line_per_epoch(diabetes, capsys):
    X, y = diabetes
    est = GDRegressor(verbose=1, max_iter=4, tol=None, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == est.n_iter_ == 4
    assert "objective=" in lines[0] and "step=" in lines[0] and "elapsed=" in lines[0]
    GDRegressor(max_iter=2, tol=None).fit(X, y)
    assert capsys.readouterr().out == ""


def test_pandas_feature_names(diabetes):
    pd = pytest.importorskip("pandas")
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = GDRegressor(solver="batch").fit(frame, y)
    assert list(est.feature_names_in_) == list(frame.columns)
    np.testing.assert_allclose(est.predict(frame), est.predict(X))


def test_coef_and_intercept_init(diabetes):
    X, y = diabetes
    ridge = Ridge(alpha=1e-4 * len(y)).fit(X, y)
    est = GDRegressor(solver="batch", max_iter=1, tol=None).fit(
        X, y, coef_init=ridge.coef_, intercept_init=ridge.intercept_
    )
    np.testing.assert_allclose(est.coef_, ridge.coef_, rtol=1e-6)
    with pytest.raises(ValueError, match="coef_init"):
        GDRegressor().fit(X, y, coef_init=np.zeros(3))


@pytest.mark.parametrize(
    "params",
    [dict(solver="sgd"), dict(alpha=-1.0), dict(optimizer="lbfgs"), dict(batch_size=0),
     dict(learning_rate="fast"), dict(loss="hinge"), dict(momentum=1.0)],
)
def test_invalid_parameters_raise(diabetes, params):
    X, y = diabetes
    with pytest.raises(InvalidParameterError):
        GDRegressor(**params).fit(X, y)


def test_cross_parameter_rules(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="eta0 must be > 0"):
        GDRegressor(learning_rate="constant", eta0=0.0).fit(X, y)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        GDRegressor(learning_rate="optimal", alpha=0.0).fit(X, y)


def test_input_errors(diabetes):
    X, y = diabetes
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GDRegressor().fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        GDRegressor().fit(X, y[:-1])
    with pytest.raises(ValueError, match="(?i)negative"):
        GDRegressor().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(NotFittedError):
        GDRegressor().predict(X)
    est = GDRegressor(max_iter=2, tol=None).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])


def test_divergence_raises_and_keeps_previous_state(diabetes):
    X, y = diabetes
    est = GDRegressor(learning_rate="constant", eta0=1e4)
    with pytest.raises(ValueError, match=r"diverged at epoch 1.*smaller eta0 \(now 10000\)"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")
    est = GDRegressor(max_iter=3, tol=None).fit(X, y)
    before = est.coef_.copy()
    est.set_params(learning_rate="constant", eta0=1e4)
    with pytest.raises(ValueError, match="diverged"):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(est.coef_, before)
    assert np.isfinite(est.coef_).all()


def test_batch_momentum_partial_fit_on_changing_chunks_converges():
    """A partial_fit sequence of the batch solver over chunks in turn is a
    mini-batch method: momentum's step is damped by ``1 - momentum`` there
    (undamped, 1 / L drifted away: test R2 -0.29 after 120 calls where one
    chunk of all rows gives 0.998, without a warning)."""
    rng = np.random.RandomState(0)
    X = rng.randn(400, 6)
    X[:, 0] += 5
    X[:, 2] = X[:, 2] * 10 + 100
    X[rng.rand(*X.shape) < 0.3] = 0
    y = X @ rng.randn(6) / 10 + 0.1 * rng.randn(400)
    scores = {}
    for n_chunks in (1, 4):
        est = GDRegressor(solver="batch", optimizer="momentum", random_state=0)
        for _ in range(120 // n_chunks):
            for rows in np.array_split(np.arange(400), n_chunks):
                est.partial_fit(X[rows], y[rows])
        scores[n_chunks] = est.score(X, y)
    assert scores[1] > 0.99
    assert scores[4] > scores[1] - 0.01


@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize("average", [True, 10])
def test_batch_solver_average_on_raw_columns_ends_near_the_optimum(penalty, average):
    """``average`` with the batch solver: the mean of 1 / L steps, its own
    objective judged by tol. (With Barzilai-Borwein steps the line search's
    rejected trials joined the mean: raw diabetes with l1 ended at R2 -7.1,
    or raised a DivergenceError with average=10.)"""
    X, y = load_diabetes(return_X_y=True)
    best = GDRegressor(solver="batch", penalty=penalty, tol=1e-8, max_iter=10_000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDRegressor(solver="batch", penalty=penalty, average=average).fit(X, y)
    assert est.learning_rate_ == "constant"
    assert est.score(X, y) > best.score(X, y) - 0.01
