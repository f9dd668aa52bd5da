"""Peak memory of a fit on a large dense X, against the size of the input.

Goal: fitting needs the input, plus O(n_features x n_outputs) for the
weights and optimizer state, plus a few O(n_samples) vectors (targets,
normalised sample weights, the shuffle order): never a copy of X.

Each configuration runs in its own subprocess so that ``ru_maxrss`` (the
process's high-water mark of resident memory) belongs to that fit alone. The
child compiles the kernels on a tiny problem first, then builds X in place
(no temporaries), reads its resident set size, fits, and reads the
high-water mark again: ``peak - before`` is what the fit added. tracemalloc
(which sees numpy's allocations, not numba's) gives a second opinion on the
Python-side allocations. The high-water mark is reset (``/proc/self/clear_refs``)
just before the fit, so compiling and building X do not count.

Usage::

    python benchmarks/memory.py                    # 2_500_000 x 100 (2 GB)
    python benchmarks/memory.py --n 500000 --d 50  # smaller
    python benchmarks/memory.py --only batch-auto stochastic-auto
    python benchmarks/memory.py --n 20000 --d 20 --only clf-1000-classes-stochastic \
        clf-1000-classes-batch clf-1000-multinomial-batch clf-1000-classes-early-stopping

With 1,000 classes the fit's own memory must stay O(n_samples + n_classes x
n_features): no (n_samples, n_classes) targets, baselines or scores.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

MiB = 2**20

# name: (estimator, dtype, params, extra description)
CONFIGS = {
    "stochastic-auto": ("regressor", "float64", {"solver": "stochastic"}),
    "minibatch-auto": ("regressor", "float64", {"solver": "minibatch"}),
    "batch-auto": ("regressor", "float64", {"solver": "batch"}),
    "batch-constant": ("regressor", "float64", {"solver": "batch", "learning_rate": "constant", "eta0": 0.01}),
    "stochastic-adam": ("regressor", "float64", {"solver": "stochastic", "optimizer": "adam"}),
    "stochastic-early-stopping": ("regressor", "float64", {"solver": "stochastic", "early_stopping": True}),
    "clf-ovr-3-stochastic": ("classifier3", "float64", {"solver": "stochastic"}),
    "clf-multinomial-batch": ("multinomial", "float64", {"solver": "batch"}),
    "float32-batch-auto": ("regressor", "float32", {"solver": "batch"}),
    "float32-stochastic-auto": ("regressor", "float32", {"solver": "stochastic"}),
    "float32-minibatch-auto": ("regressor", "float32", {"solver": "minibatch"}),
    # CSR with 10 * d columns and 0.4 * d stored entries per row: X.data and
    # X.indices together about 60% of the dense X above.
    "csr-stochastic-auto": ("regressor", "csr", {"solver": "stochastic"}),
    "csr-minibatch-auto": ("regressor", "csr", {"solver": "minibatch"}),
    "csr-batch-auto": ("regressor", "csr", {"solver": "batch"}),
    # 1,000 classes: memory O(n + k d), not O(n k).
    "clf-1000-classes-stochastic": ("classes1000", "float64", {"solver": "stochastic"}),
    "clf-1000-classes-batch": ("classes1000", "float64", {"solver": "batch"}),
    "clf-1000-multinomial-batch": ("multinomial1000", "float64", {"solver": "batch"}),
    "clf-1000-classes-early-stopping": ("classes1000", "float64",
                                        {"solver": "minibatch", "early_stopping": True}),
}


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes():
    """High-water mark of resident memory (VmHWM; ru_maxrss where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _reset_peak():
    """Reset the high-water mark to the current RSS (Linux >= 4.0); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(name, n, d, max_iter):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from skgd import GDClassifier, GDRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    kind, dtype, params = CONFIGS[name]
    sparse = dtype == "csr"
    dtype = np.dtype("float64" if sparse else dtype)

    def make_csr(n_rows, rng):
        import scipy.sparse as sp

        n_cols, per_row = 10 * d, max(1, (2 * d) // 5)
        indices = np.empty((n_rows, per_row), dtype=np.int32)
        data = np.empty((n_rows, per_row))
        y = np.zeros(n_rows)
        w = rng.normal(size=n_cols)
        chunk = 100_000
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            # Distinct sorted columns per row: per_row strata of the columns.
            stride = n_cols // per_row
            cols = np.arange(per_row) * stride + rng.integers(0, stride, size=(stop - start, per_row))
            indices[start:stop] = cols
            data[start:stop] = rng.standard_normal((stop - start, per_row))
            y[start:stop] = (data[start:stop] * w[cols]).sum(axis=1)
        indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int64)
        X = sp.csr_matrix((data.ravel(), indices.ravel(), indptr), shape=(n_rows, n_cols))
        return X, y

    def make(n_rows, rng):
        if sparse:
            return make_csr(n_rows, rng)
        X = np.empty((n_rows, d), dtype=dtype)
        chunk = 100_000
        w = rng.normal(size=d)
        y = np.empty(n_rows)
        for start in range(0, n_rows, chunk):
            block = rng.standard_normal((min(chunk, n_rows - start), d))
            X[start:start + len(block)] = block
            y[start:start + len(block)] = block @ w
        if kind == "regressor":
            return X, y
        if kind == "classifier3" or kind == "multinomial":
            return X, np.digitize(y, np.quantile(y[:10000], [1 / 3, 2 / 3]))
        if kind.endswith("1000"):  # every class present, even in the small warm-up
            return X, rng.permutation(np.arange(n_rows) % min(1000, n_rows // 20))
        return X, (y > 0).astype(np.int64)

    def estimator():
        common = dict(random_state=0, max_iter=max_iter, tol=None, **params)
        if kind == "regressor":
            return GDRegressor(**common)
        if kind.startswith("multinomial"):
            return GDClassifier(loss="log_loss", multi_class="multinomial", **common)
        return GDClassifier(loss="log_loss", **common)

    # Compile (or load from the cache) before measuring anything.
    X_small, y_small = make(200, np.random.default_rng(1))
    estimator().fit(X_small, y_small)
    del X_small, y_small

    X, y = make(n, np.random.default_rng(0))
    if sparse:
        X_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    else:
        assert X.flags.c_contiguous
        X_bytes = X.nbytes
    reset = _reset_peak()
    before = _rss_bytes()
    peak_before = _peak_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    model = estimator().fit(X, y)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _peak_bytes()
    if not reset and peak_before > before:
        raise RuntimeError("cannot reset the high-water mark; the figures would be wrong")
    return {
        "name": name,
        "X_bytes": X_bytes,
        "y_bytes": y.nbytes,
        "rss_before": before,
        "peak_before": peak_before,
        "peak_after": peak,
        "added": max(peak - before, 0),
        "traced_peak": traced_peak,
        "seconds": seconds,
        "epochs": int(model.n_iter_),
        "learning_rate_": getattr(model, "learning_rate_", "?"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_500_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--max-iter", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.d, args.max_iter)))
        return
    names = args.only or list(CONFIGS)
    print(
        f"X: {args.n:,} x {args.d} C-contiguous; {args.max_iter} epochs per fit "
        "(tol=None); each row a fresh subprocess."
    )
    one_vector = args.n * 8 / MiB
    print(f"One float64 (or int64) vector of n_samples: {one_vector:.1f} MiB\n")
    header = (
        f"{'configuration':<28} {'X MiB':>8} {'RSS before':>11} {'peak':>9} "
        f"{'added':>9} {'added/X':>8} {'n-vectors':>9} {'traced':>9} {'fit s':>7}  schedule"
    )
    print(header)
    print("-" * len(header))
    env = dict(os.environ)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([repo, env.get("PYTHONPATH", "")])
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--n", str(args.n), "--d", str(args.d),
             "--max-iter", str(args.max_iter)],
            capture_output=True, text=True, env=env, check=False,
        )
        if out.returncode != 0:
            print(f"{name:<28} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{name:<28} {r['X_bytes'] / MiB:>8.0f} {r['rss_before'] / MiB:>11.0f} "
            f"{r['peak_after'] / MiB:>9.0f} {r['added'] / MiB:>9.0f} "
            f"{r['added'] / r['X_bytes']:>8.2f} {r['added'] / MiB / one_vector:>9.1f} "
            f"{r['traced_peak'] / MiB:>9.0f} {r['seconds']:>7.1f}  {r['learning_rate_']}"
        )
    print(
        "\nadded = high-water RSS after the fit minus RSS before it; n-vectors = "
        "added / one n_samples float64 vector; traced = tracemalloc peak of the "
        "Python-side (numpy) allocations during the fit."
    )


if __name__ == "__main__":
    main()
