"""Time of small fits, skgd against scikit-learn's SGD estimators in the same run.

Grid searches, cross-validation and ``check_estimator`` fit hundreds of
models on small data, where the time of a fit is mostly per-fit and
per-epoch overhead rather than arithmetic on rows. Each row of the table
is one task: the median time of a fit with default parameters (and the
epochs it ran), and the same with ``max_iter=1, tol=None``, which is the
per-fit overhead (one epoch, no stopping rule). Ratios are skgd / SGD*,
of fits that take turns (one of each model, then the next round).

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


def median_fits(models, X, y, repeats):
    """``{name: (median wall time of a fit, epochs)}`` of ``models`` (a dict) over
    ``repeats`` fits each, after one untimed fit each.

    The fits take turns (one of each model, then the next round), so that a
    burst of load on the machine slows every model alike: the ratios compare
    fits made at the same moments.
    """
    for model in models.values():
        model.fit(X, y)
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(X, y)
            times[name].append(time.perf_counter() - start)
    return {name: (float(np.median(times[name])), getattr(model, "n_iter_", None))
            for name, model in models.items()}


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
        models = {"SGD*": theirs(random_state=0),
                  "SGD* 1": theirs(random_state=0, max_iter=1, tol=None)}
        for solver in ("stochastic", "minibatch", "batch"):
            models[solver] = ours(solver=solver, random_state=0)
            models[f"{solver} 1"] = ours(solver=solver, random_state=0, max_iter=1, tol=None)
        fits = median_fits(models, X, y, args.repeats)
        reference, reference_one = fits["SGD*"], fits["SGD* 1"]
        for solver in ("stochastic", "minibatch", "batch"):
            fit, one = fits[solver], fits[f"{solver} 1"]
            print(f"| {name} | {solver} | {fit[0] * 1e3:.2f} ms ({fit[1]}) | "
                  f"{reference[0] * 1e3:.2f} ms ({reference[1]}) | "
                  f"{fit[0] / reference[0]:.2f} | {one[0] * 1e3:.2f} ms | "
                  f"{reference_one[0] * 1e3:.2f} ms | {one[0] / reference_one[0]:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
