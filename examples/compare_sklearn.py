"""skgd next to scikit-learn's SGDRegressor and SGDClassifier.

``GDRegressor`` and ``GDClassifier`` minimise the objectives of
``SGDRegressor`` and ``SGDClassifier`` with the same defaults (squared
error and hinge loss, l2 penalty, ``alpha=1e-4``, ``tol=1e-3``), so they
can be compared like for like. This example fits each skgd solver and the
scikit-learn estimator on two bundled real data sets, standardised, with a
quarter held out:

* regression: diabetes (442 samples, 10 features), scored by R²;
* classification: handwritten digits (1797 samples, 64 features, 10
  classes), scored by accuracy. With ten classes scikit-learn fits ten
  one-vs-rest problems one after the other; skgd fits all ten in a single
  pass over the data.

The figure shows the held-out score and the fit time (best of several fits,
after a first fit that loads the compiled kernel) of each model, and the
printout the same numbers with the epochs each fit ran. The stochastic
solver is the closest to scikit-learn's SGD; the batch solver takes exact
gradient steps with a tuning-free step size and usually needs more epochs,
each of them cheaper.
"""

import warnings

import matplotlib.pyplot as plt
from _common import parse_args, print_table, save_figure, timed_fit
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

SOLVERS = ("stochastic", "minibatch", "batch")


def split(X, y):
    """Standardised train and test parts (scaler fitted on the train part)."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def compare(models, data, repeats):
    """Held-out score, best fit time and epochs of each named model."""
    X_train, X_test, y_train, y_test = data
    rows = []
    for name, model in models.items():
        model.fit(X_train, y_train)  # the first fit loads the compiled kernel
        seconds = timed_fit(model, X_train, y_train, repeats=repeats)
        rows.append((name, model.score(X_test, y_test), 1000 * seconds, model.n_iter_))
    return rows


def plot_rows(axes, rows, score_name):
    """Bar charts of score (first axes) and fit time (second axes)."""
    names = [row[0] for row in rows]
    colors = ["tab:blue"] * (len(rows) - 1) + ["tab:gray"]  # scikit-learn last, in gray
    for ax, column, label in ((axes[0], 1, score_name), (axes[1], 2, "fit time (ms)")):
        bars = ax.barh(names, [row[column] for row in rows], color=colors)
        ax.bar_label(bars, fmt="%.3g", padding=2)
        ax.set_xlabel(label)
        ax.margins(x=0.15)
        ax.invert_yaxis()


def main():
    args = parse_args(__doc__)
    warnings.simplefilter("ignore", ConvergenceWarning)
    repeats = 1 if args.quick else 5
    regressors = {f"GDRegressor({s})": GDRegressor(solver=s, random_state=0) for s in SOLVERS}
    regressors["SGDRegressor"] = SGDRegressor(random_state=0)
    classifiers = {f"GDClassifier({s})": GDClassifier(solver=s, random_state=0) for s in SOLVERS}
    classifiers["SGDClassifier"] = SGDClassifier(random_state=0)

    cases = [
        ("Regression: diabetes, test R2", "test R²", regressors, load_diabetes),
        ("Classification: digits, test accuracy", "test accuracy", classifiers, load_digits),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), layout="constrained")
    for (title, score_name, models, load), row_axes in zip(cases, axes):
        rows = compare(models, split(*load(return_X_y=True)), repeats)
        print_table(title, ("model", "score", "fit ms", "epochs"), rows)
        plot_rows(row_axes, rows, score_name)
        row_axes[0].set_title(title.split(",")[0], loc="left")
    save_figure(fig, args, "compare_sklearn")


if __name__ == "__main__":
    main()
