"""Sequences of calls: warm refits, set_params, partial_fit, and what the kernels may read.

One regression test per defect of the second hardening pass (issue 12),
each with its minimal reproducer (``X`` 100 x 4 standard normal, ``y`` a
linear target). The random sequences of ``tests/test_state_machine.py``
found them; these pin each one down.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor

from skgd import DivergenceError, GDClassifier, GDRegressor
from skgd._engine import call_kernel, check_problem

SOLVERS = ["stochastic", "minibatch", "batch"]
ADAPTIVE = ["adagrad", "rmsprop", "adam"]


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(100, 4)
    return X, X @ [1.0, 2.0, -1.0, 0.5] + 0.1 * rng.randn(100)


def _quiet(est, *args, method="fit", **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(est, method)(*args, **kwargs)


# 1. Warm start with another number of targets or classes ----------------------
WARM_CASES = [
    ("regressor", "1 -> 3 targets"),
    ("regressor", "3 -> 1 targets"),
    ("classifier", "2 -> 5 classes"),
    ("classifier", "5 -> 2 classes"),
]


@pytest.mark.parametrize("kind, change", WARM_CASES)
def test_warm_start_on_another_output_shape_raises_and_keeps_the_model(data, kind, change):
    X, y = data
    targets = {
        "1 -> 3 targets": (y, np.c_[y, y, y]), "3 -> 1 targets": (np.c_[y, y, y], y),
        "2 -> 5 classes": (y > 0, np.arange(100) % 5), "5 -> 2 classes": (np.arange(100) % 5, y > 0),
    }[change]
    est = (GDRegressor if kind == "regressor" else GDClassifier)(warm_start=True, max_iter=2,
                                                                tol=None, random_state=0)
    est.fit(X, targets[0])
    before = {k: v.copy() for k, v in vars(est).items() if isinstance(v, np.ndarray)}
    prediction = est.predict(X)
    with pytest.raises(ValueError, match="warm_start=True.*warm_start=False"):
        est.fit(X, targets[1])
    for name, value in before.items():
        assert_array_equal(getattr(est, name), value, err_msg=name)
    assert_array_equal(est.predict(X), prediction)
    assert est.predict(X).shape[0] == len(y)


def test_kernels_refuse_arguments_that_do_not_fit_together(data):
    # The check at the kernels' boundary: weights of 3 outputs on a problem
    # of 1 would make the kernel read Y[i, k] past its end.
    X, y = data
    est = GDRegressor(max_iter=1, tol=None).fit(X, y)
    problem = est._build_problem(X, y, None, None, False, True)[0]
    state = est._state
    wrong_W = np.zeros((3, 4))
    state_args = (0, np.zeros(5), state.S1, state.S2, 0, 0, state.W_avg, state.b_avg, 1,
                  np.empty((0, 0)), np.zeros(1))
    with pytest.raises(RuntimeError, match="internal error"):
        call_kernel(problem, problem.train, 1, wrong_W, np.zeros(3), (0, 0.01, 0.5, 1e-4, 0.0),
                    state_args)
    for bad_order in (np.array([0, 100]), np.array([0, -1]), np.array([-1], dtype=np.int32)):
        with pytest.raises(RuntimeError, match="row order out of range"):
            call_kernel(problem, bad_order, 1, state.W, state.b, (0, 0.01, 0.5, 1e-4, 0.0),
                        state_args)


@pytest.mark.parametrize("bad_index", [-1, 4])
def test_kernels_refuse_csr_column_indices_out_of_range(data, bad_index):
    # Checked once per call (check_problem): a CSR index outside the columns
    # would make a kernel read and write outside the weights.
    X, y = data
    est = GDRegressor(max_iter=1, tol=None).fit(X, y)
    X_csr = sp.csr_matrix(X)
    problem = est._build_problem(X_csr, y, None, None, False, True)[0]
    X_csr.indices[5] = bad_index  # (the problem holds a view of these indices)
    with pytest.raises(RuntimeError, match="CSR column indices out of range"):
        check_problem(problem)


# 2. Averaging switched on part-way ---------------------------------------------
def test_averaging_switched_on_in_a_warm_refit_does_not_shrink_the_model(data):
    X, y = data
    est = GDRegressor(warm_start=True, max_iter=50, random_state=0)
    _quiet(est, X, y)
    assert est.score(X, y) > 0.99
    _quiet(est.set_params(average=True), X, y)
    assert est.score(X, y) > 0.99


def test_averaging_switched_on_between_partial_fits_starts_there(data):
    X, y = data
    est = GDRegressor(random_state=0, learning_rate="constant", eta0=0.01)
    for _ in range(30):
        est.partial_fit(X, y)
    t_switch = est.t_
    est.set_params(average=True)
    est.partial_fit(X, y)
    assert est._state.average_start == t_switch
    assert est.score(X, y) > 0.99  # the mean of the last epoch's iterates, not of 31 epochs


# 3. float32, constant target, adaptive optimizers --------------------------------
@pytest.mark.parametrize("optimizer", ADAPTIVE)
@pytest.mark.parametrize("solver", SOLVERS)
def test_constant_float32_target_with_adaptive_optimizers(data, optimizer, solver):
    X, _ = data
    est = GDRegressor(optimizer=optimizer, solver=solver, random_state=0)
    _quiet(est, X.astype(np.float32), np.full(100, 0.3))
    assert_allclose(est.predict(X.astype(np.float32)), 0.3, atol=1e-5)


# 4. float32 X near the end of its range ------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_features_of_size_1e25_get_finite_steps_and_a_model(data, solver):
    X, y = data
    X = (X * 1e25).astype(np.float32)
    est = _quiet(GDRegressor(solver=solver, random_state=0), X, y)
    assert np.isfinite(est.eta0_) and est.eta0_ > 0
    assert est.score(X, y) > 0.99


# 5. coef_init of the wrong shape --------------------------------------------------
def test_coef_init_of_the_wrong_size_is_an_error_even_on_a_warm_fit(data):
    X, y = data
    est = GDRegressor(warm_start=True, max_iter=2, tol=None).fit(X, y)
    with pytest.raises(ValueError, match="coef_init does not match dataset"):
        est.fit(X, y, coef_init=np.zeros(17))


def test_transposed_coef_init_is_an_error(data):
    X, y = data
    Y = np.c_[y, -y]
    with pytest.raises(ValueError, match=r"coef_init does not match dataset.*\(2, 4\)"):
        GDRegressor().fit(X, Y, coef_init=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="intercept_init does not match dataset"):
        GDClassifier().fit(X, np.arange(100) % 3, intercept_init=np.zeros(2))
    # The shapes that mean one output are fine: (n_features,) and (1, n_features).
    GDRegressor(max_iter=1, tol=None).fit(X, y, coef_init=np.zeros((1, 4)), intercept_init=0.0)


# 6. partial_fit: a step for each call's data, weights that mean what they say -------
def test_a_later_partial_fit_on_heavier_rows_gets_a_stable_step(data):
    X, y = data
    est = GDRegressor(solver="batch", optimizer="momentum", random_state=0)
    est.partial_fit(X, y)
    weight = np.ones(100)
    weight[7] = 1e4  # one row carries the call: its step is 1e4 times shorter

    def weighted_objective():
        residual = est.predict(X) - y
        return 0.5 * np.mean(weight * residual**2) + 0.5 * est.alpha * est.coef_ @ est.coef_

    first = weighted_objective()
    for _ in range(5):
        est.partial_fit(X, y, sample_weight=weight)
        # Momentum overshoots and comes back, but never past where it started.
        assert np.isfinite(est.coef_).all() and weighted_objective() < first


def test_sample_weights_keep_their_meaning_across_partial_fit_calls(data):
    # A second chunk of weight 100 pulls the intercept towards its targets
    # far harder than the same chunk of weight 1, as in SGDRegressor.
    X, y = data
    rng = np.random.RandomState(1)
    X2 = rng.randn(100, 4)
    y2 = X2 @ [1.0, 2.0, -1.0, 0.5] + 10.0
    intercepts = {}
    for Estimator in (GDRegressor, SGDRegressor):
        for weight in (1.0, 100.0):
            est = Estimator(random_state=0).partial_fit(X, y)
            est.partial_fit(X2, y2, sample_weight=np.full(100, weight))
            intercepts[Estimator.__name__, weight] = float(est.intercept_[0])
    for name in ("GDRegressor", "SGDRegressor"):
        assert intercepts[name, 100.0] > intercepts[name, 1.0] + 5.0
    assert abs(intercepts["GDRegressor", 100.0] - 10.0) < 1.0


# 8. Multiclass memory: O(n + k d) ---------------------------------------------------
@pytest.mark.parametrize("params", [
    dict(solver="stochastic"), dict(solver="batch"),
    dict(solver="batch", loss="log_loss", multi_class="multinomial"),
    dict(solver="minibatch", early_stopping=True),
    # (with a tol: the search at the end of the fit, skgd._polish)
    dict(solver="stochastic", loss="log_loss", optimizer="adam", tol=1e-3),
    # (the log loss's step cap reads every output's score of a row:
    # _steps.LocalCurvature; 9.9 MiB before it read them in blocks of rows)
    dict(solver="stochastic", loss="log_loss", class_weight="balanced"),
])
def test_many_classes_never_build_a_samples_by_classes_array(params):
    n, k = 4000, 400  # one (n, k) float64 array: 12.2 MiB
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 10))
    y = rng.permutation(np.arange(n) % k)
    est = GDClassifier(**{"max_iter": 2, "tol": None, "random_state": 0, **params})
    _quiet(est, X[:400], y[:400] % 20)  # compile first
    tracemalloc.start()
    _quiet(est, X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < n * k * 8 / 2, f"peak {peak / 2**20:.1f} MiB"
    assert est.predict(X[:5]).shape == (5,)


def test_csr_and_dense_warm_refits_agree(data):
    # A sequence found by the state machine: a warm refit on CSR data after a
    # dense fit takes the same steps as on the dense copy (an explicit
    # schedule: under "auto" dense data is centred, CSR data is not).
    X, y = data
    params = dict(warm_start=True, max_iter=3, tol=None, random_state=0,
                  learning_rate="invscaling", eta0=0.01)
    a = GDRegressor(**params).fit(X, y)
    b = GDRegressor(**params).fit(X, y)
    a.fit(X, y)
    b.fit(sp.csr_matrix(X), y)
    assert_allclose(a.coef_, b.coef_, rtol=1e-9)


def test_a_partial_fit_that_overflows_says_so():
    """Found by the state machine: a non-finite final objective under an explicit
    schedule (no line search, so no best point to go back to) was a TypeError."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)) * 1e100
    y = rng.integers(0, 3, 20)
    weight = np.ones(20)
    weight[::3] = 0.0  # zero times an infinite loss: a NaN objective
    est = GDClassifier(solver="batch", learning_rate="optimal", loss="squared_error")
    with pytest.raises(DivergenceError, match="non-finite"):
        for _ in range(3):
            _quiet(est, X, y, method="partial_fit", classes=[0, 1, 2], sample_weight=weight)


@pytest.mark.parametrize("solver", ["stochastic", "batch"])
@pytest.mark.parametrize("first_sparse", [False, True])
def test_partial_fit_may_switch_between_dense_and_csr(data, solver, first_sparse):
    """The column statistics of another storage start anew (a review found a TypeError)."""
    X, y = data
    first, second = (sp.csr_matrix(X), X) if first_sparse else (X, sp.csr_matrix(X))
    est = GDRegressor(solver=solver, random_state=0)
    for _ in range(3):
        est.partial_fit(first, y)
    for _ in range(3):
        est.partial_fit(second, y)
    assert np.isfinite(est.coef_).all() and est.score(X, y) > 0.9


def test_a_warm_refit_of_a_converged_model_stops_at_once(data):
    """The certificate's unit is the zero model's gradient, not the warm start's."""
    X, y = data
    est = GDRegressor(solver="batch", tol=1e-12, max_iter=5000, warm_start=True).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.set_params(tol=1e-3).fit(X, y)
    assert est.n_iter_ <= 3 and est.stationarity_ < 1e-4


def test_early_stopping_on_float32_columns_of_size_1e25_scores_without_overflow():
    """Found by the state machine: the validation scores of float32 data were
    computed in float32, and overflowed (a numpy RuntimeWarning).

    Every epoch is scored; the fit then raises, because its weights (steps
    of 1e-3 on columns of 1e25) predict only infinities in float32.
    """
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((30, 4)) * 1e25).astype(np.float32)
    y = rng.standard_normal(30)
    est = GDRegressor(solver="batch", loss="huber", learning_rate="invscaling", eta0=0.001,
                      early_stopping=True, validation_fraction=0.3, max_iter=5, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(DivergenceError, match="predictions on the training rows overflow"):
            _quiet(est, X, y)


def test_a_warm_start_onto_float32_columns_of_size_1e25():
    """Found by the state machine: the warm weights, of size 1e24 in the new
    coordinates, times float32 values of 1e25 overflowed in float32 before the
    column scale brought them down, and the fit 'diverged' at once."""
    rng = np.random.default_rng(0)
    X1, y1 = rng.standard_normal((16, 1)), rng.standard_normal(16)
    X2 = (rng.standard_normal((10, 1)) * 1e25).astype(np.float32)
    y2 = np.full(10, 0.3)
    est = GDRegressor(solver="minibatch", batch_size=1, loss="huber", fit_intercept=False,
                      warm_start=True, max_iter=1, tol=None, random_state=0)
    _quiet(est, X1, y1)
    _quiet(est, X2, y2)
    assert np.isfinite(est.coef_).all()
