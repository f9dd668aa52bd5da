"""Fitting on a dask cluster: the rows stay on the workers.

A ``LocalCluster`` of 2 worker processes stands in for a real cluster. The
data is written to disk in chunks (``dask.array.to_npy_stack``, by the
workers) and read back lazily with ``da.from_npy_stack``: no process ever
holds all of it. Three routes fit the same raw (unscaled) columns:

1. ``GDRegressor(solver="batch").fit(X, y)`` on the dask arrays: every epoch,
   each worker computes the loss and gradient of its chunks with skgd's
   kernels, the client sums them in a fixed order and takes the step. Equal
   to the in-memory fit up to rounding; only weights and gradients travel.
2. ``GDRegressor(solver="minibatch").fit(X, y)``: each worker runs mini-batch
   epochs over its own chunks from the same weights, and the client
   averages the local models once per epoch (model averaging).
3. dask-ml's ``Incremental`` wrapper, which calls ``partial_fit`` on one
   chunk after another: the data is distributed, the training is not (the
   model visits the chunks in turn). Three passes.

The table gives the held-out R² (computed lazily: ``predict`` on a dask
array returns a dask array) and the time of each route; the figure shows the
same.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from _common import parse_args, print_table, save_figure
from sklearn.metrics import r2_score

from skgd import GDRegressor

N_FEATURES = 20


def write_chunks(directory, n_samples, chunk_size, seed):
    """Write X (raw columns, scales 1e-2 to 1e3) and y to ``.npy`` stacks; read them back lazily."""
    import dask.array as da

    coef = np.random.default_rng(seed).normal(size=N_FEATURES)
    Z = da.random.RandomState(seed).standard_normal((n_samples, N_FEATURES),
                                                   chunks=(chunk_size, -1))
    noise = da.random.RandomState(seed + 1).standard_normal(n_samples, chunks=chunk_size)
    X = Z * np.logspace(-2, 3, N_FEATURES) + 5.0
    y = Z @ coef + 0.5 * noise
    Path(directory).mkdir(parents=True)
    da.to_npy_stack(Path(directory) / "X", X)
    da.to_npy_stack(Path(directory) / "y", y)
    return da.from_npy_stack(Path(directory) / "X"), da.from_npy_stack(Path(directory) / "y")


def timed(fit):
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def fit_incremental(X, y, n_passes):
    """dask-ml's Incremental, partial_fit per chunk; None without dask-ml."""
    try:
        from dask_ml.wrappers import Incremental
    except ImportError:
        print('dask-ml is not installed, skipping its route: pip install dask-ml')
        return None
    incremental = Incremental(GDRegressor(random_state=0), shuffle_blocks=False)
    for _ in range(n_passes):
        incremental.partial_fit(X, y)
    return incremental.estimator_


def main():
    args = parse_args(__doc__)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SystemExit('This example needs dask.distributed: pip install "skgd[dask]"')
    n_samples, chunk_size = (40_000, 5_000) if args.quick else (2_000_000, 100_000)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster), \
            tempfile.TemporaryDirectory() as directory:
        X, y = write_chunks(Path(directory) / "train", n_samples, chunk_size, seed=0)
        X_test, y_test = write_chunks(Path(directory) / "test", n_samples // 4, chunk_size, 0)
        print(f"Wrote {X.nbytes / 1e6:.0f} MB of features in {X.numblocks[0]} chunks "
              f"to {directory}")
        y_test = y_test.compute()  # a vector: small next to X
        routes = {
            "fit, solver='batch'": lambda: GDRegressor(solver="batch").fit(X, y),
            "fit, solver='minibatch'": lambda: GDRegressor(solver="minibatch",
                                                           random_state=0).fit(X, y),
            "dask-ml Incremental, 3 passes": lambda: fit_incremental(X, y, 3),
        }
        rows = []
        for name, fit in routes.items():
            model, seconds = timed(fit)
            if model is None:
                continue
            prediction = model.predict(X_test)  # lazy: a dask array
            rows.append((name, model.n_iter_, seconds,
                         r2_score(y_test, np.asarray(prediction))))
    print_table(f"{n_samples} x {N_FEATURES} raw columns on 2 workers; held-out R2",
                ("route", "epochs", "time (s)", "test R2"), rows)

    import matplotlib.pyplot as plt

    figure, (ax_time, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
    names = [row[0] for row in rows]
    ax_time.barh(names, [row[2] for row in rows])
    ax_time.set_xlabel("fit time (s)")
    ax_score.barh(names, [row[3] for row in rows])
    ax_score.set_xlabel("held-out R2")
    ax_score.set_yticklabels([])
    ax_score.set_xlim(min(0.0, min(row[3] for row in rows)), 1.0)
    figure.suptitle(f"{n_samples} x {N_FEATURES} on a 2-worker LocalCluster")
    figure.tight_layout()
    save_figure(figure, args, "dask_cluster")


if __name__ == "__main__":
    main()
