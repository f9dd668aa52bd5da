"""Learning from data larger than memory with partial_fit.

``partial_fit`` runs one epoch over the rows it is given and keeps the
weights, the optimizer state and the step count between calls, so a model
can learn from data that never fits in memory at once, one chunk at a time.

Here the data is a numpy memmap on disk, written chunk by chunk to a
temporary directory (features on very different scales, a linear target
plus noise); the last chunks are held out for testing. Nothing ever loads
the whole file:

1. a first pass fits a ``StandardScaler`` with its own ``partial_fit``;
2. a few passes over the training chunks feed each chunk, standardised, to
   ``GDRegressor.partial_fit``; after each pass the held-out R² is computed
   chunk by chunk with scikit-learn's ``r2_score``;
3. when dask-ml is installed, the same passes run through dask-ml's
   ``Incremental`` wrapper on a dask array backed by the same memmap, which
   calls ``partial_fit`` once per dask chunk. It is scored with
   scikit-learn's ``r2_score`` on the computed predictions (dask-ml's own
   r2 scorer fails with current dask versions).

The figure shows ``loss_curve_``, which has one entry per ``partial_fit``
call, i.e. per chunk: the mean loss over that chunk's updates. With the
same chunks in the same order both routes do the same computation, so the
dask-ml curve lies on top of the plain one.
"""

import tempfile
from pathlib import Path

import numpy as np
from _common import parse_args, print_table, save_figure
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from skgd import GDRegressor
from skgd.plotting import ConvergenceDisplay

N_FEATURES = 20


def chunks(start, stop, chunk_size):
    """Slices of at most ``chunk_size`` consecutive rows from ``start`` to ``stop``."""
    return [slice(i, min(i + chunk_size, stop)) for i in range(start, stop, chunk_size)]


def write_memmaps(directory, n_samples, chunk_size, seed=0):
    """Write X (float32) and y to ``.npy`` memmaps, chunk by chunk; return them read-only."""
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=N_FEATURES)
    scales = np.logspace(-2, 2, N_FEATURES)  # features on very different scales
    X_path, y_path = Path(directory) / "X.npy", Path(directory) / "y.npy"
    X = np.lib.format.open_memmap(X_path, mode="w+", dtype=np.float32,
                                  shape=(n_samples, N_FEATURES))
    y = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.float32, shape=(n_samples,))
    for part in chunks(0, n_samples, chunk_size):
        Z = rng.normal(size=(part.stop - part.start, N_FEATURES))
        X[part] = Z * scales
        y[part] = Z @ coef + 0.5 * rng.normal(size=len(Z))
    X.flush()
    y.flush()
    del X, y
    return np.load(X_path, mmap_mode="r"), np.load(y_path, mmap_mode="r")


def fit_memmap(X, y, scaler, train, test, n_passes):
    """Passes of ``partial_fit`` over the memmap's chunks; held-out R² after each."""
    model = GDRegressor(random_state=0)
    y_test = np.concatenate([y[part] for part in test])
    scores = []
    for _ in range(n_passes):
        for part in train:
            model.partial_fit(scaler.transform(X[part]), y[part])
        y_pred = np.concatenate([model.predict(scaler.transform(X[part])) for part in test])
        scores.append(r2_score(y_test, y_pred))
    return model, scores


def fit_dask_ml(X, y, scaler, n_train, chunk_size, n_passes):
    """The same passes through dask-ml's ``Incremental``; None without dask-ml."""
    try:
        import dask.array as da
        from dask_ml.wrappers import Incremental
    except ImportError:
        print('\ndask-ml is not installed, skipping its route: pip install dask-ml "dask[array]"')
        return None, []
    X_dask = da.from_array(X, chunks=(chunk_size, N_FEATURES)).map_blocks(
        scaler.transform, dtype=X.dtype
    )
    y_dask = da.from_array(y, chunks=chunk_size)
    incremental = Incremental(GDRegressor(random_state=0), shuffle_blocks=False)
    y_test = y_dask[n_train:].compute()
    scores = []
    for _ in range(n_passes):
        incremental.partial_fit(X_dask[:n_train], y_dask[:n_train])
        y_pred = incremental.predict(X_dask[n_train:]).compute()
        scores.append(r2_score(y_test, y_pred))
    return incremental.estimator_, scores


def main():
    args = parse_args(__doc__)
    n_samples, chunk_size, n_passes = (20_000, 2_000, 2) if args.quick else (1_000_000, 50_000, 3)
    n_train = n_samples - 2 * chunk_size
    train, test = chunks(0, n_train, chunk_size), chunks(n_train, n_samples, chunk_size)

    with tempfile.TemporaryDirectory() as directory:
        X, y = write_memmaps(directory, n_samples, chunk_size)
        print(f"Wrote {X.nbytes / 1e6:.0f} MB of features to {directory}")
        scaler = StandardScaler()
        for part in train:
            scaler.partial_fit(X[part])

        results = {
            "memmap + partial_fit": fit_memmap(X, y, scaler, train, test, n_passes),
            "dask-ml Incremental": fit_dask_ml(X, y, scaler, n_train, chunk_size, n_passes),
        }
        del X, y  # close the memmaps before the directory is removed

    models = {name: model for name, (model, _) in results.items() if model is not None}
    rows = [(name, epoch, score) for name, (_, scores) in results.items()
            for epoch, score in enumerate(scores, 1)]
    print_table(f"Held-out R2 after each pass over {len(train)} chunks of {chunk_size} rows",
                ("route", "pass", "test R2"), rows)
    if len(models) == 2:
        curves = [model.loss_curve_ for model in models.values()]
        print(f"Largest difference between the two loss curves: "
              f"{np.max(np.abs(np.subtract(*curves))):.3g}")
    display = ConvergenceDisplay.from_estimator(models)
    for line in display.lines_[1:]:
        line.set(linestyle="--", linewidth=2.5)
    display.ax_.legend()
    display.ax_.set_xlabel("partial_fit call (one chunk)")
    display.ax_.set_title(f"{n_passes} passes over a {n_samples} x {N_FEATURES} memmap")
    save_figure(display.figure_, args, "out_of_core")


if __name__ == "__main__":
    main()
