"""Demo: ``python -m skgd``.

Fits GDRegressor with each solver and SGDRegressor on scikit-learn's bundled
diabetes data, and GDClassifier with each solver and SGDClassifier on the
bundled handwritten digits (10 classes), then prints test scores, epochs and
fit times side by side. The first fit of each kernel compiles it (cached on
disk for later runs); the demo compiles before it times.
"""

import time
import warnings

from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

SOLVERS = ("stochastic", "minibatch", "batch")


def _split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _timed_fit(model, X, y, repeats=3):
    """Best of ``repeats`` fit times (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best


def _table(title, score_name, rows):
    print(f"\n{title}")
    print(f"{'model':<34} {score_name:>9} {'epochs':>7} {'fit time (ms)':>14}")
    for name, score, epochs, seconds in rows:
        print(f"{name:<34} {score:>9.4f} {epochs:>7} {1000 * seconds:>14.2f}")


def _compare(make_gd, reference, data, score_name, title):
    X_train, X_test, y_train, y_test = data
    rows = []
    for solver in SOLVERS:
        model = make_gd(solver)
        model.fit(X_train, y_train)  # compile (or load the cached kernel)
        seconds = _timed_fit(model, X_train, y_train)
        rows.append(
            (f"{type(model).__name__}(solver={solver!r})",
             model.score(X_test, y_test), model.n_iter_, seconds)
        )
    seconds = _timed_fit(reference, X_train, y_train)
    rows.append(
        (f"{type(reference).__name__}()", reference.score(X_test, y_test),
         reference.n_iter_, seconds)
    )
    _table(title, score_name, rows)


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    _compare(
        lambda solver: GDRegressor(solver=solver, random_state=0),
        SGDRegressor(random_state=0),
        _split(*load_diabetes(return_X_y=True)),
        "test R2",
        "Regression: diabetes (442 x 10), standardised, 25% held out",
    )
    _compare(
        lambda solver: GDClassifier(solver=solver, random_state=0),
        SGDClassifier(random_state=0),
        _split(*load_digits(return_X_y=True)),
        "accuracy",
        "Classification: digits (1797 x 64, 10 classes), hinge loss, 25% held out",
    )
    print(
        "\nEpochs are passes over the data; the batch solver takes one step per "
        "epoch, the stochastic one a step per sample."
    )


if __name__ == "__main__":
    main()
