"""Fits on dask arrays across a dask.distributed LocalCluster (2 worker processes, 1 thread each).

The references are independent of the dask path: the in-memory fit of the
same rows (batch solver: to 1e-8 relative; stochastic and mini-batch: test
score within 0.01), the same fit repeated (bit-identical), and what the
workers themselves log about the bytes they sent.
"""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from skgd import GDClassifier, GDRegressor  # noqa: E402

from .test_tuning_free import _one_hot_and_far_columns  # noqa: E402

N_ROWS, N_FEATURES, CHUNK = 4000, 20, 500  # 8 chunks
SCALES = np.logspace(-2, 3, N_FEATURES)  # raw columns: the preconditioner has work to do


def _cluster(**config):
    import dask

    with dask.config.set(config):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def client():
    cluster, client = _cluster()
    yield client
    client.close()
    cluster.close()


def _data(kind, seed=0, sparse=False, n_rows=N_ROWS, chunk=CHUNK, n_features=N_FEATURES):
    """X and y built by the workers from a seed: they never exist on the client.

    X has raw columns (scales 1e-2 to 1e3, shifted by 3), so that the
    preconditioner has work to do; with ``sparse``, CSR chunks holding the
    entries more than one scale away from the shift.
    """
    Z = da.random.RandomState(seed).standard_normal((n_rows, n_features), chunks=(chunk, -1))
    X = Z * np.resize(SCALES, n_features) + 3.0
    if sparse:
        X = da.where(abs(Z) > 1.0, X, 0.0).map_blocks(
            sp.csr_matrix, dtype=X.dtype, meta=sp.csr_matrix((0, 0)))
    coef = np.random.RandomState(seed + 1).standard_normal((n_features, 3))
    noise = da.random.RandomState(seed + 2).standard_normal((n_rows, 3), chunks=(chunk, -1))
    scores = Z.dot(coef) / np.sqrt(n_features) + 0.5 * noise
    if kind == "regression":
        return X, scores[:, 0]
    if kind == "binary":
        return X, (scores[:, 0] > 0).astype(int)
    return X, scores.argmax(axis=1)


def _in_memory(*arrays):
    import dask

    return dask.compute(*arrays, scheduler="sync")


def _relative(a, b):
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


CASES = [
    # (estimator, target kind, sparse chunks, weighted)
    (GDRegressor(solver="batch", tol=1e-10, max_iter=5000), "regression", False, True),
    (GDRegressor(solver="batch", tol=1e-10, max_iter=5000), "regression", True, False),
    (GDClassifier(loss="log_loss", solver="batch", tol=1e-10, max_iter=5000), "binary",
     False, False),
    (GDClassifier(loss="log_loss", solver="batch", tol=1e-10, max_iter=5000,
                  class_weight="balanced"), "multiclass", True, False),
    (GDClassifier(loss="log_loss", solver="batch", tol=1e-10, max_iter=5000,
                  multi_class="multinomial"), "multiclass", False, True),
]


@pytest.mark.parametrize("est, kind, sparse, weighted", CASES,
                         ids=["reg", "reg-csr", "binary", "ovr-csr-balanced", "multinomial"])
def test_batch_solver_equals_the_in_memory_fit(client, est, kind, sparse, weighted):
    X, y = _data(kind, sparse=sparse)
    weight = da.random.RandomState(5).uniform(0.5, 2.0, N_ROWS, chunks=CHUNK) if weighted else None
    X_mem, y_mem, w_mem = _in_memory(X, y, weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: no ConvergenceWarning
        reference = est.__class__(**est.get_params()).fit(X_mem, y_mem, sample_weight=w_mem)
        first = est.__class__(**est.get_params()).fit(X, y, sample_weight=weight)
    second = est.__class__(**est.get_params()).fit(X, y, sample_weight=weight)
    assert _relative(first.coef_, reference.coef_) < 1e-8
    assert _relative(first.intercept_, reference.intercept_) < 1e-8
    assert np.array_equal(first.coef_, second.coef_)  # the same bits, run to run
    assert np.array_equal(first.intercept_, second.intercept_)
    if kind != "regression":
        assert np.array_equal(first.classes_, reference.classes_)


def test_dask_local_scheduler_without_a_cluster():
    """With no distributed.Client (here: dask's threads), the same fit."""
    import dask

    X, y = _data("binary")
    X_mem, y_mem = _in_memory(X, y)
    params = dict(loss="log_loss", solver="batch", tol=1e-10, max_iter=5000)
    with dask.config.set(scheduler="threads"):
        est = GDClassifier(**params).fit(X, y)
    assert _relative(est.coef_, GDClassifier(**params).fit(X_mem, y_mem).coef_) < 1e-8


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
@pytest.mark.parametrize("kind", ["regression", "multiclass"])
def test_local_epochs_score_as_the_in_memory_fit(client, solver, kind):
    (X, y), (X_test, y_test) = _data(kind, 0), _data(kind, 10)
    X_mem, y_mem, X_test_mem, y_test_mem = _in_memory(X, y, X_test, y_test)
    Est = GDRegressor if kind == "regression" else GDClassifier
    params = dict(solver=solver, random_state=0)
    if kind != "regression":
        params["loss"] = "log_loss"
    in_memory = Est(**params).fit(X_mem, y_mem)
    est = Est(**params).fit(X, y)
    if solver == "minibatch":  # (the stochastic log loss's cap is read in memory only)
        # The same "auto" step: it once came from no rows on dask (the
        # step of one row, 15 times shorter here).
        assert est.eta0_ == pytest.approx(in_memory.eta0_, rel=1e-6)
    assert est.score(X_test_mem, y_test_mem) >= in_memory.score(X_test_mem, y_test_mem) - 0.01
    again = Est(**params).fit(X, y)
    assert np.array_equal(est.coef_, again.coef_)  # local models and averaging: deterministic


@pytest.mark.parametrize("sparse, weighted", [(False, False), (True, False), (False, True)])
def test_the_hinge_steps_are_sized_for_the_rows_norm_summed_over_the_chunks(
        client, monkeypatch, sparse, weighted):
    # The stochastic hinge's first steps are shortened by the rows' mean
    # squared norm (skgd._steps.hinge_norm_scale): on dask, from the sums
    # over the chunks, the same factor as in memory. Weighted by the sample
    # weights in both (in memory the drawn rows' uniform weights took the
    # plain mean: 23.2 where the weighted one is 33.0 on breast cancer with
    # its largest rows at weight 20, a review helper's case).
    import skgd._steps

    factors = []

    def recording(*args):
        factors.append(hinge_norm_scale(*args))
        return factors[-1]

    hinge_norm_scale = skgd._steps.hinge_norm_scale
    monkeypatch.setattr(skgd._steps, "hinge_norm_scale", recording)
    X, y = _data("binary", sparse=sparse)
    weight = None
    if weighted:  # (the rows' weights grow with their first, raw column)
        weight = 1.0 + 20.0 * (abs(X[:, 0] - 3.0) > 1.5 * SCALES[0])
    X_mem, y_mem, *weight_mem = _in_memory(X, y, *([] if weight is None else [weight]))
    GDClassifier(random_state=0, max_iter=3, tol=None).fit(X, y, sample_weight=weight)
    GDClassifier(random_state=0, max_iter=3, tol=None).fit(
        X_mem, y_mem, sample_weight=weight_mem[0] if weighted else None)
    assert len(factors) == 2 and factors[0] > 2.0  # (20 columns: about 21)
    assert factors[0] == pytest.approx(factors[1], rel=1e-9)


@pytest.mark.parametrize("solver, optimizer", [("stochastic", "adam"),
                                               ("minibatch", "momentum")])
def test_the_optimizers_centre_the_far_columns_of_csr_chunks(client, solver, optimizer):
    # CSR chunks of one-hot blocks beside three raw numeric columns far from
    # zero: the chunks' lazy loop took them uncentred, and every optimizer
    # ended at 42 to 46 times Ridge's objective, silently (in memory: 1.0002
    # to 1.0021). Each chunk now takes a copy with those columns centred.
    from sklearn.linear_model import Ridge

    X, y = _one_hot_and_far_columns()
    chunks = da.from_array(X.toarray(), chunks=(CHUNK, -1)).map_blocks(
        sp.csr_matrix, dtype=X.dtype, meta=sp.csr_matrix((0, 0)))
    alpha = 1e-4

    def objective(coef, intercept):
        residual = y - X @ coef - intercept
        return 0.5 * np.mean(residual**2) + 0.5 * alpha * coef @ coef

    exact = Ridge(alpha=alpha * len(y)).fit(X.toarray(), y)
    est = GDRegressor(solver=solver, optimizer=optimizer, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(chunks, da.from_array(y, chunks=CHUNK))
    assert objective(est.coef_, est.intercept_) <= 1.02 * objective(exact.coef_, exact.intercept_)


def test_predictions_are_lazy_dask_arrays(client):
    X, y = _data("multiclass")
    clf = GDClassifier(loss="log_loss", solver="batch", random_state=0).fit(X, y)
    X_mem, = _in_memory(X)
    for method in ("predict", "decision_function", "predict_proba", "predict_log_proba"):
        lazy = getattr(clf, method)(X)
        assert isinstance(lazy, da.Array), method
        np.testing.assert_allclose(lazy.compute(), getattr(clf, method)(X_mem), rtol=1e-12)
    reg = GDRegressor(solver="batch").fit(*_data("regression"))
    assert isinstance(reg.predict(X), da.Array)
    assert reg.predict(X).shape == (N_ROWS,)


def test_dask_dataframes_keep_their_feature_names(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _in_memory(*_data("regression"))
    names = [f"f{j}" for j in range(N_FEATURES)]
    frame = dd.from_pandas(pd.DataFrame(X, columns=names), npartitions=4)
    target = dd.from_pandas(pd.Series(y), npartitions=4)
    est = GDRegressor(solver="batch", tol=1e-10, max_iter=5000).fit(frame, target)
    reference = GDRegressor(solver="batch", tol=1e-10, max_iter=5000).fit(
        pd.DataFrame(X, columns=names), y)
    assert list(est.feature_names_in_) == names
    assert _relative(est.coef_, reference.coef_) < 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        prediction = est.predict(frame).compute()
    np.testing.assert_allclose(prediction, est.predict(pd.DataFrame(X, columns=names)))


def test_partial_fit_on_dask_arrays_is_one_epoch(client):
    X, y = _data("binary")
    X_mem, y_mem = _in_memory(X, y)
    on_dask = GDClassifier(loss="log_loss", solver="batch")
    in_memory = GDClassifier(loss="log_loss", solver="batch")
    for _ in range(3):
        on_dask.partial_fit(X, y, classes=[0, 1])
        in_memory.partial_fit(X_mem, y_mem, classes=[0, 1])
    assert on_dask.n_iter_ == 1 and len(on_dask.loss_curve_) == 3
    assert _relative(on_dask.coef_, in_memory.coef_) < 1e-10


def test_errors_name_the_dask_input(client):
    X, y = _data("regression")
    with pytest.raises(ValueError, match="early_stopping=True is not available for dask"):
        GDRegressor(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError, match="y has 3999 rows but X has 4000"):
        GDRegressor().fit(X, y[:-1])
    bad = da.where(X > 1e3, np.nan, X)
    with pytest.raises(ValueError, match="NaN"):
        GDRegressor().fit(bad, y)


def test_chunks_without_rows_are_skipped(client):
    X, y = _data("regression")
    rows = (0, CHUNK, 0) + (CHUNK,) * (N_ROWS // CHUNK - 1)  # as a filtered DataFrame's
    gappy = X.rechunk({0: rows}), y.rechunk({0: rows})
    assert 0 in gappy[0].chunks[0]
    est = GDRegressor(solver="batch").fit(*gappy)
    assert np.array_equal(est.coef_, GDRegressor(solver="batch").fit(X, y).coef_)
    with pytest.raises(ValueError, match="0 sample"):
        GDRegressor().fit(X[:0], y[:0])


def _transfers(client):
    """``(bytes, to a worker?)`` of every transfer the workers logged."""
    workers = set(client.scheduler_info()["workers"])
    logs = client.run(lambda dask_worker: [(entry["total"], entry.get("who"))
                                           for entry in dask_worker.transfer_outgoing_log])
    return [(size, who in workers) for entries in logs.values() for size, who in entries]


def test_X_never_travels(client):
    # Chunks of 8 MB: on chunks of a few kB, dask's work stealing finds it
    # cheaper to move a chunk than to wait for the busier worker.
    X, y = _data("binary", 3, n_rows=160_000, chunk=20_000, n_features=50)
    X, y = client.persist([X, y])  # on the workers, as a user would keep it
    distributed.wait([X, y])
    client.run(lambda dask_worker: dask_worker.transfer_outgoing_log.clear())
    GDClassifier(loss="log_loss", solver="batch", tol=1e-6).fit(X, y)
    GDClassifier(loss="log_loss", solver="minibatch", random_state=0).fit(X, y)
    sent = _transfers(client)
    to_client = [size for size, to_worker in sent if not to_worker]
    between_workers = [size for size, to_worker in sent if to_worker]
    assert to_client, "the workers logged nothing sent to the client: a vacuous check"
    chunk_bytes = 20_000 * 50 * 8
    # What reaches the client (through the scheduler): weights, gradients,
    # statistics; never a chunk of X, let alone X.
    assert max(to_client) < chunk_bytes / 4
    assert sum(to_client) < X.nbytes / 10
    # dask may move a chunk from one worker to the other to balance the
    # work (a few chunks per fit were seen), but no epoch moves the data:
    # over the two fits' 60 or so epochs, less than twice X in all.
    assert sum(between_workers) < 2 * X.nbytes


def _kill_a_worker_during(client, fit, delay):
    """Run ``fit`` in a thread and kill a worker process ``delay`` seconds in."""
    outcome = {}

    def run():
        try:
            outcome["result"] = fit()
        except Exception as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(delay)
    assert thread.is_alive(), "the fit ended before the fault: make it longer"
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)  # a crash: the worker's memory, and its chunks, are gone
    thread.join(timeout=300)
    assert not thread.is_alive()
    return outcome


def test_a_lost_worker_changes_nothing(client):
    """Chunks lost with a worker are recomputed from their graph: the same coefficients."""
    X, y = _data("regression", 4)
    params = dict(solver="batch", tol=None, max_iter=150)
    expected = GDRegressor(**params).fit(X, y)
    outcome = _kill_a_worker_during(client, lambda: GDRegressor(**params).fit(X, y), 1.5)
    assert "error" not in outcome, outcome.get("error")
    assert np.array_equal(outcome["result"].coef_, expected.coef_)
    assert np.array_equal(outcome["result"].intercept_, expected.intercept_)
    client.wait_for_workers(2, timeout=60)


def test_a_worker_lost_for_good_raises_a_clear_error():
    """With no retries allowed, a task on a lost worker fails: a clear error, no model."""
    cluster, client = _cluster(**{"distributed.scheduler.allowed-failures": 0})
    try:
        X, y = _data("regression", 6)
        X = X.map_blocks(lambda block: (time.sleep(3), block)[1])
        est = GDRegressor(solver="batch")
        outcome = _kill_a_worker_during(client, lambda: est.fit(X, y), 1.5)
        assert isinstance(outcome.get("error"), RuntimeError), outcome
        assert "worker was lost during the fit" in str(outcome["error"])
        assert not hasattr(est, "coef_")
    finally:
        client.close()
        cluster.close()
