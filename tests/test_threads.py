"""n_jobs: the batch solver's passes over row blocks in threads, and the
other solvers' epochs over blocks of independent outputs.

Against the one-thread fit (the reference: the kernel's own epoch), to
rounding (row blocks) or bit for bit (output blocks), and against itself
run to run, bit for bit.
"""

import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import parallel_backend
from sklearn.datasets import load_iris

from skgd import GDClassifier, GDRegressor
from skgd._engine import map_in_threads, thread_pool

N_ROWS = 5000  # above 2 blocks of ROWS_PER_THREAD


def _data(kind):
    rng = np.random.RandomState(0)
    X = rng.randn(N_ROWS, 6)
    X[rng.rand(*X.shape) < 0.5] = 0.0
    scores = X @ rng.randn(6)
    if kind == "regression":
        y = scores + 0.1 * rng.randn(N_ROWS)
    elif kind == "binary":
        y = (scores + rng.logistic(size=N_ROWS) > 0).astype(int)
    else:
        y = np.digitize(scores + rng.logistic(size=N_ROWS), [-1.0, 1.0])
    return X, y


def _estimator(kind, **params):
    if kind == "regression":
        return GDRegressor(solver="batch", **params)
    multi_class = "multinomial" if kind == "multinomial" else "ovr"
    return GDClassifier(loss="log_loss", solver="batch", multi_class=multi_class, **params)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["regression", "binary", "ovr", "multinomial"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_threads_give_the_one_thread_fit(kind, sparse, optimizer):
    X, y = _data("multiclass" if kind in ("ovr", "multinomial") else kind)
    X = sp.csr_matrix(X) if sparse else X
    params = dict(optimizer=optimizer, penalty="elasticnet", max_iter=30, tol=None)
    one = _estimator(kind, n_jobs=1, **params).fit(X, y)
    two = _estimator(kind, n_jobs=2, **params).fit(X, y)
    again = _estimator(kind, n_jobs=2, **params).fit(X, y)
    np.testing.assert_array_equal(two.coef_, again.coef_)
    np.testing.assert_array_equal(two.intercept_, again.intercept_)
    scale = np.max(np.abs(one.coef_))
    np.testing.assert_allclose(two.coef_, one.coef_, rtol=0, atol=1e-9 * scale)
    # Adam divides the gradient by its running size, so the intercept's
    # gradient of rounding size (1e-10 on centred columns) still moves it by
    # 1% of a step, and the two summation orders' rounding shows in the
    # objective (1e-4 relative) until the fit converges.
    rtol = 1e-3 if optimizer == "adam" else 1e-10
    np.testing.assert_allclose(two.loss_curve_, one.loss_curve_, rtol=rtol)
    assert two.stationarity_ == pytest.approx(one.stationarity_, rel=rtol)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
@pytest.mark.parametrize("params", [
    dict(loss="log_loss"),  # "auto": stopped one-vs-rest problems are left out too
    dict(optimizer="adam", penalty="elasticnet", learning_rate="constant", eta0=0.01,
         max_iter=8, tol=None),
    dict(penalty="elasticnet", average=True, learning_rate="constant", eta0=0.01, max_iter=8,
         tol=None),
])
def test_independent_outputs_in_threads_give_the_same_bits(solver, sparse, params, monkeypatch):
    # The stochastic and mini-batch epochs on several independent outputs
    # (one-vs-rest, a multi-output regression's targets) train blocks of
    # outputs in threads (_engine.call_kernel_in_threads): each output as on
    # one thread, to the bit, with the cumulative l1 books, Adam's state and
    # the averages. (Threads for data of any size here: VALUES_PER_THREAD = 1.)
    from skgd import _base, _engine

    monkeypatch.setattr(_engine, "VALUES_PER_THREAD", 1)
    threads = []  # the threads of each call
    in_threads = _base.call_kernel_in_threads
    monkeypatch.setattr(_base, "call_kernel_in_threads",
                        lambda *args: threads.append(args[-1]) or in_threads(*args))
    X, y = _data("multiclass")
    X = sp.csr_matrix(X) if sparse else X
    Y = np.column_stack([X @ np.arange(6.0), X @ np.ones(6), y])
    # (Iris is too small for a stopped problem to be left out on one thread,
    # _engine.LEAVE_OUT_VALUES: it is trained on, and then keeps the state
    # it stopped with, as in the threads where it is left out.)
    iris_X, iris_y = load_iris(return_X_y=True)
    for estimator, X, target in ((GDClassifier, X, y), (GDRegressor, X, Y),
                                 (GDClassifier, iris_X, iris_y)):
        kwargs = dict(params, loss="squared_error") if estimator is GDRegressor else params
        one = estimator(solver=solver, n_jobs=1, random_state=0, **kwargs).fit(X, target)
        threads.clear()
        two = estimator(solver=solver, n_jobs=2, random_state=0, **kwargs).fit(X, target)
        assert 2 in threads
        np.testing.assert_array_equal(two.coef_, one.coef_)
        np.testing.assert_array_equal(two.intercept_, one.intercept_)
        assert two.n_iter_ == one.n_iter_
        # The state a later call starts from (optimizer state, averages).
        for name in ("S1", "S2", "W_avg", "b_avg"):
            np.testing.assert_array_equal(getattr(two._state, name),
                                          getattr(one._state, name))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["regression", "multinomial"])
def test_a_gradient_in_the_columns_scale_gives_the_kernels_own_epoch(kind, sparse, monkeypatch):
    # With several buckets of column scales, the batch solver's one-thread
    # epoch on enough dense values takes its gradient from an evaluation in
    # the columns' own scale and the step from the kernel's STEP mode
    # (_engine.batch_epoch); CSR rows keep the kernel's own epoch, but for
    # several outputs, whose evaluation takes the weights column by column
    # (_engine._weights_order). Against the kernel's own epoch, to rounding.
    from skgd import _engine
    from skgd._kernels import STEP

    X, y = _data("multiclass" if kind == "multinomial" else kind)
    X = X * np.array([1e-3, 1.0, 30.0, 1e3, 0.2, 5e4])
    X = sp.csr_matrix(X) if sparse else X
    params = dict(optimizer="sgd", penalty="elasticnet", max_iter=20, tol=None, n_jobs=1)
    call_kernel, steps = _engine.call_kernel, []

    def counting(*args, **kwargs):
        steps.append(kwargs.get("mode") == STEP)
        return call_kernel(*args, **kwargs)

    monkeypatch.setattr(_engine, "call_kernel", counting)
    fits = {}
    for split_from in (0, np.inf):  # every pass split where it may be, or none
        monkeypatch.setattr(_engine, "SPLIT_STEP_VALUES", split_from)
        steps.clear()
        fits[split_from] = _estimator(kind, **params).fit(X, y)
        several_outputs = kind == "multinomial"
        assert sum(steps) == (20 if (split_from == 0 and not sparse)
                              or (sparse and several_outputs) else 0)
    split, own = fits[0], fits[np.inf]
    assert split._state.preconditioner.bucket_scale.size > 1
    scale = np.max(np.abs(own.coef_))
    np.testing.assert_allclose(split.coef_, own.coef_, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(split.loss_curve_, own.loss_curve_, rtol=1e-10)


def test_n_jobs_follows_joblib_parallel_backend():
    X, y = _data("regression")
    params = dict(max_iter=20, tol=None)
    threaded = _estimator("regression", n_jobs=2, **params).fit(X, y)
    with parallel_backend("threading", n_jobs=2):
        inside = _estimator("regression", **params).fit(X, y)
    np.testing.assert_array_equal(inside.coef_, threaded.coef_)


def test_the_thread_pool_is_kept_per_calling_thread():
    # Started once, not at every pass (1.5 ms of a 9.3 ms gradient pass),
    # grown to the largest size asked for, and one per calling thread, so
    # that fits in several threads do not queue behind each other's blocks.
    pool = thread_pool(2)
    assert thread_pool(2) is pool
    larger = thread_pool(3)
    assert thread_pool(2) is larger
    with ThreadPoolExecutor(1) as other:
        assert other.submit(thread_pool, 2).result() is not larger


def test_map_in_threads_runs_the_first_call_here_and_waits_for_all():
    # The calling thread takes the first block instead of waiting idle; the
    # results come in the order of the arguments; and when a call raises,
    # the others have ended first (they read and write the caller's arrays).
    import threading

    here = threading.get_ident()
    results = map_in_threads(lambda i, j: (i * j, threading.get_ident()), [1, 2, 3], [4, 5, 6])
    assert [value for value, _ in results] == [4, 10, 18]
    assert results[0][1] == here
    assert all(ident != here for _, ident in results[1:])

    finished = []

    def slow_or_failing(i):
        if i == 0:
            raise ValueError("the first block failed")
        time.sleep(0.2)
        finished.append(i)

    with pytest.raises(ValueError, match="first block"):
        map_in_threads(slow_or_failing, [0, 1])
    assert finished == [1]
    assert map_in_threads(lambda i: i + 1, [7]) == [8]  # (one call: no pool)


def _fit_in_child(queue):
    X, y = _data("regression")
    est = _estimator("regression", n_jobs=2, max_iter=5, tol=None).fit(X, y)
    queue.put(est.coef_)


@pytest.mark.skipif(sys.platform == "win32" or sys.platform == "darwin",
                    reason="fork: not on Windows; not safe with threads on macOS")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*:DeprecationWarning")
def test_a_forked_process_starts_its_own_pool():
    # The forking thread's pool is copied into a forked child without its
    # threads: tasks submitted to it would wait for ever.
    X, y = _data("regression")
    parent = _estimator("regression", n_jobs=2, max_iter=5, tol=None).fit(X, y)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,))
    child.start()
    try:
        for _ in range(300):  # up to 30 s, failing as soon as the child has
            if not queue.empty() or child.exitcode is not None:
                break
            time.sleep(0.1)
        assert not queue.empty(), f"the child's fit did not finish (exit {child.exitcode})"
        coef = queue.get(timeout=5)
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=10)
        queue.close()
    np.testing.assert_array_equal(coef, parent.coef_)


def test_a_fit_on_large_data_runs_blas_on_one_thread(monkeypatch):
    # A fit's BLAS products (the target's moments, blocks of scores) run on
    # one thread, where each waited for BLAS threads that a busy machine had
    # not scheduled (engine.blas_on_one_thread); the process's BLAS threads
    # are as they were after the fit, and a fit on small data leaves them
    # alone (the limit costs more than its products there).
    from threadpoolctl import threadpool_info, threadpool_limits

    import skgd._base

    def blas_threads():
        return max(info["num_threads"] for info in threadpool_info()
                   if info["user_api"] == "blas")

    seen = []
    original = skgd._base.BaseGD._fit_or_fail

    def recording(self, *args, **kwargs):
        seen.append(blas_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(skgd._base.BaseGD, "_fit_or_fail", recording)
    rng = np.random.RandomState(0)
    small, large = rng.randn(4000, 50), rng.randn(30000, 40)
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() < 2:
            pytest.skip("BLAS runs on one thread here")
        GDRegressor(max_iter=2, tol=None).fit(large, large @ rng.randn(40))
        GDRegressor(max_iter=2, tol=None).fit(sp.csr_matrix(large), large[:, 0])
        GDRegressor(max_iter=2, tol=None).partial_fit(large, large[:, 0])
        GDRegressor(max_iter=2, tol=None).fit(small, small[:, 0])
        assert seen == [1, 1, 1, 2]
        assert blas_threads() == 2


def test_overlapping_fits_restore_the_blas_threads_there_were():
    # Two fits in threads, the second entering while the first runs and
    # leaving after it (joblib's threading backend, a user's threads): each
    # restoring what it found left BLAS on one thread for good (a review
    # helper's case). They share one limit; the last to leave restores it.
    import threading

    from threadpoolctl import threadpool_info

    from skgd._engine import blas_on_one_thread

    def blas_threads():
        return max(info["num_threads"] for info in threadpool_info()
                   if info["user_api"] == "blas")

    large = np.empty(2**20)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with blas_on_one_thread(large):
            first_in.set()
            second_in.wait()
        first_out.set()

    def second():
        first_in.wait()
        with blas_on_one_thread(large):
            second_in.set()
            first_out.wait()
            seen["inside"] = blas_threads()

    # (Not under an outer threadpool_limits: with one set in the main thread,
    # a limit set in another thread did not show in threadpool_info here.)
    before = blas_threads()
    if before < 2:
        pytest.skip("BLAS runs on one thread here")
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert seen["inside"] == 1
    assert blas_threads() == before
