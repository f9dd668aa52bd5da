"""n_jobs: the batch solver's epoch with its passes over row blocks in threads,
and the stochastic solver's one-vs-rest epoch over blocks of classes.

The batch solver's epoch is one pass over the rows (the gradient) and one
step; with ``n_jobs`` the pass runs over ``n_jobs`` blocks of rows in
threads and the blocks' sums are added in a fixed order (the same bits for
the same ``n_jobs``). The stochastic solver's epoch on a one-vs-rest problem
trains ``n_jobs`` blocks of classes in threads (each class to the same bits
as on one thread). The table gives the marginal epoch, ``(fit(k2) -
fit(k1)) / (k2 - k1)`` with ``tol=None``, for every ``n_jobs`` up to the
machine's cores, with BLAS held to one thread, and the speed-up over
``n_jobs=1``, measured side by side (runs interleaved, medians).

Then the memory's share: a bare read of the dense rows (numpy's sum of
each block in a thread), on 1 to n threads. An epoch reads the rows once,
so on ``n`` threads it takes at least that read, and its speed-up is at most
``T1 / max(T1 / n, read_n)`` with ``T1`` its one-thread epoch. On this 2-core
VM one thread nearly fills the memory's bandwidth: the read took 4.9 ms on
one thread and 4.3 on two (33 and 37 GB/s, 1.13x), so the regression's
epoch of 10.8 ms on one thread could still take 5.4 on two (2.0x), but
only by reading its 160 MB at 30 GB/s while it computes. It took 6.5 ms
(1.65x, 25 GB/s); the log loss's, with more arithmetic a value, 1.84x.

Usage, from the root of the repository::

    python benchmarks/threads.py              # about 30 s on 2 cores (grows with the cores)
    python benchmarks/threads.py --repeats 9
"""

import argparse
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from skgd import GDClassifier, GDRegressor  # noqa: E402

GOAL = 1.8  # speed-up of n_jobs=2 over n_jobs=1 on the dense regression (issue 14, goal 3)


def datasets():
    """``(name, X, y, estimator class, extra parameters)`` of each case."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200_000, 100))
    y = X @ rng.standard_normal(100) + rng.standard_normal(X.shape[0])
    n, d, k = 100_000, 50_000, 100
    X_csr = sp.csr_matrix((rng.standard_normal(n * k), rng.integers(0, d, n * k),
                           np.arange(0, n * k + 1, k)), shape=(n, d))
    X_csr.sum_duplicates()
    y_csr = X_csr @ rng.standard_normal(d) + rng.standard_normal(n)
    rows = slice(0, 20_000)
    classes = np.digitize(y_csr[rows], np.quantile(y_csr[rows], np.linspace(0.1, 0.9, 9)))
    return [
        ("dense regression 200,000 x 100", X, y, GDRegressor, {}),
        ("dense log-loss classification 200,000 x 100", X, (y > 0).astype(int), GDClassifier,
         {"loss": "log_loss"}),
        ("CSR regression 100,000 x 50,000, 100 non-zeros a row", X_csr, y_csr, GDRegressor, {}),
        ("CSR one-vs-rest log loss, 10 classes, 20,000 of those rows, stochastic solver",
         X_csr[rows], classes, GDClassifier, {"loss": "log_loss", "solver": "stochastic"}),
    ]


def fit_seconds(cls, params, X, y, n_jobs, epochs):
    est = cls(n_jobs=n_jobs, max_iter=epochs, tol=None, random_state=0,
              **{"solver": "batch", **params})
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start


def read_seconds(X, n_threads, pool):
    """Seconds to read ``X`` once: numpy's sum of each of ``n_threads`` row blocks in a thread."""
    blocks = np.array_split(X, n_threads)  # (views of consecutive rows)
    start = time.perf_counter()
    list(pool.map(np.sum, blocks))
    return time.perf_counter() - start


def memory_bound(X, jobs, one_epoch, repeats):
    """Print the bare read of ``X`` on each number of threads, and the speed-up
    it leaves an epoch of ``one_epoch`` seconds on one thread (at most)."""
    pool = ThreadPoolExecutor(max(jobs))
    reads = {n: [] for n in jobs}
    for _ in range(repeats * 5):
        for n in jobs:
            reads[n].append(read_seconds(X, n, pool))
    pool.shutdown()
    print(f"\nThe memory's share, dense {X.shape[0]:,} x {X.shape[1]} rows "
          f"({X.nbytes / 1e6:.0f} MB) read once (numpy's sum of each block in a thread):\n")
    print("| threads | read | bandwidth | read's speed-up | epoch's speed-up at most |")
    print("|---:|---:|---:|---:|---:|")
    one = float(np.median(reads[1]))
    for n in jobs:
        read = float(np.median(reads[n]))
        ceiling = one_epoch / max(one_epoch / n, read)
        print(f"| {n} | {read * 1e3:.2f} ms | {X.nbytes / read / 1e9:.1f} GB/s | "
              f"{one / read:.2f}x | {ceiling:.2f}x |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per n_jobs")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    n_cores = os.cpu_count() or 1
    jobs = list(range(1, n_cores + 1))
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {n_cores} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; BLAS held to 1 thread\n")
    print("| data | n_jobs | marginal epoch | speed-up over n_jobs=1 |")
    print("|---|---:|---:|---:|")
    speedups, one_epochs = {}, {}
    with threadpool_limits(1):
        cases = datasets()
        for name, X, y, cls, params in cases:
            for n_jobs in jobs:  # warm-up: compile, and start the threads
                fit_seconds(cls, params, X, y, n_jobs, 2)
            epochs = {n_jobs: [] for n_jobs in jobs}
            for _ in range(args.repeats):
                for n_jobs in jobs:
                    short = fit_seconds(cls, params, X, y, n_jobs, 2)
                    long = fit_seconds(cls, params, X, y, n_jobs, 12)
                    epochs[n_jobs].append((long - short) / 10)
            one = float(np.median(epochs[1]))
            one_epochs[name] = one
            for n_jobs in jobs:
                epoch = float(np.median(epochs[n_jobs]))
                speedups[name, n_jobs] = one / epoch
                print(f"| {name} | {n_jobs} | {epoch * 1e3:.1f} ms | {one / epoch:.2f}x |",
                      flush=True)
        name, X = cases[0][:2]  # (the dense rows)
        memory_bound(X, jobs, one_epochs[name], args.repeats)
    if n_cores >= 2:
        measured = speedups["dense regression 200,000 x 100", 2]
        status = "met" if measured >= GOAL else "MISSED"
        print(f"\n- **goal** dense regression: n_jobs=2 speed-up >= {GOAL:.1f}x: "
              f"{measured:.2f}x -> {status}")


if __name__ == "__main__":
    main()
