"""Compile the kernels of the default fits at install time (``python -m skgd._precompile``).

numba compiles a kernel at its first call, 4 to 8 s for each epoch loop, and
stores it in the package's ``__pycache__``. A new environment would pay that
at its first fit. ``setup.py`` runs this module on the built package before
the wheel is made, so that the compiled kernels are installed with the
sources, as a compiled extension would be: the first fit loads them (about
0.5 s with numba's import) instead of compiling them.

numba (0.68 on) checks a cached kernel against a hash of its source file,
not the file's time, so the kernels stay valid once installed (an older
numba compares the time, which pip does not keep: it compiles at the first
fit, as without them); and skgd checks the
whole cache against the hash of all its compiled modules
(:func:`skgd._jit.clear_stale_cache`). The cache is also keyed by numba's
version and by the machine's CPU: an environment with another numba, or a
wheel moved to another machine, compiles at the first fit as before.

What is compiled: every solver's default fit (``GDRegressor(solver=...)``
and ``GDClassifier(solver=...)``) on float64 rows, dense and CSR, with one
output, two classes and three. Other settings (an optimizer, a penalty with
l1, float32 rows, ...) compile at their first fit.
"""

import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

SOLVERS = ("stochastic", "minibatch", "batch")


def _data(seed=0, n_rows=60, n_features=4):
    """Rows (dense), a regression target and labels of two and three classes."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_rows, n_features))
    y = X @ rng.standard_normal(n_features) + 0.1 * rng.standard_normal(n_rows)
    return X, y, (y > np.median(y)).astype(int), np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))


def warm_up(solvers=SOLVERS):
    """Fit each solver's default regressor and classifier once on small data,
    dense and CSR, so that numba compiles (and caches) the kernels they use."""
    from . import GDClassifier, GDRegressor

    X, y, binary, three = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (small data: convergence warnings)
        for rows in (X, sp.csr_matrix(X)):
            for solver in solvers:
                GDRegressor(solver=solver, random_state=0).fit(rows, y)
                for labels in (binary, three):
                    GDClassifier(solver=solver, random_state=0).fit(rows, labels)


def main():
    start = time.perf_counter()
    warm_up()
    print(f"skgd: compiled the default fits' kernels in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
