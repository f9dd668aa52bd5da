"""Time of small fits, skgd against scikit-learn's SGD estimators in the same run.

Grid searches, cross-validation and ``check_estimator`` fit hundreds of
models on small data, where the time of a fit is mostly per-fit and
per-epoch overhead rather than arithmetic on rows. Each row of the table
is one task: the median time of a fit with default parameters (and the
epochs it ran), and the same with ``max_iter=1, tol=None``, which is the
per-fit overhead (one epoch, no stopping rule). Ratios are skgd / SGD*.

Usage, from the root of the repository::

    python benchmarks/small_fits.py            # about 20 s
    python benchmarks/small_fits.py --repeats 51
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from skgd import GDClassifier, GDRegressor  # noqa: E402


def tasks():
    """``(name, X, y, skgd class, scikit-learn class)`` of each task."""
    X_reg, y_reg = make_regression(100, 10, noise=1.0, random_state=0)
    X_clf, y_clf = make_classification(100, 10, random_state=0)
    return [
        ("regression 100 x 10", X_reg, y_reg, GDRegressor, SGDRegressor),
        ("classification 100 x 10", X_clf, y_clf, GDClassifier, SGDClassifier),
        ("diabetes 442 x 10", *load_diabetes(return_X_y=True), GDRegressor, SGDRegressor),
        ("breast cancer 569 x 30", *load_breast_cancer(return_X_y=True), GDClassifier,
         SGDClassifier),
    ]


def median_fit(model, X, y, repeats):
    """Median wall time of ``model.fit(X, y)`` over ``repeats`` fits, after one untimed fit."""
    model.fit(X, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), getattr(model, "n_iter_", None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed fits per model")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"command: python {' '.join(sys.argv)}")
    print("| task | solver | skgd default (epochs) | SGD* default (epochs) | ratio | "
          "skgd 1 epoch | SGD* 1 epoch | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, X, y, ours, theirs in tasks():
        reference = median_fit(theirs(random_state=0), X, y, args.repeats)
        reference_one = median_fit(theirs(random_state=0, max_iter=1, tol=None), X, y,
                                   args.repeats)
        for solver in ("stochastic", "minibatch", "batch"):
            fit = median_fit(ours(solver=solver, random_state=0), X, y, args.repeats)
            one = median_fit(ours(solver=solver, random_state=0, max_iter=1, tol=None), X, y,
                             args.repeats)
            print(f"| {name} | {solver} | {fit[0] * 1e3:.2f} ms ({fit[1]}) | "
                  f"{reference[0] * 1e3:.2f} ms ({reference[1]}) | "
                  f"{fit[0] / reference[0]:.2f} | {one[0] * 1e3:.2f} ms | "
                  f"{reference_one[0] * 1e3:.2f} ms | {one[0] / reference_one[0]:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
