"""Tuning solver, optimizer and penalty in a pipeline with GridSearchCV.

``GDClassifier`` is an ordinary scikit-learn estimator, so it goes in a
``Pipeline`` behind a ``StandardScaler`` (gradient descent converges much
faster on standardised features) and ``GridSearchCV`` tunes it like any
other, here on the bundled breast-cancer data (569 samples, 30 features),
in two processes (``n_jobs=2``). The grid crosses the ``solver``, the
``optimizer`` and the l2 strength ``alpha`` of a logistic regression; every
fit keeps ``learning_rate="auto"``, so no step size needs tuning.

The figure shows the mean cross-validated accuracy of each solver and
optimizer, at its best ``alpha``; the printout gives the best parameters,
the held-out accuracy of the refitted best pipeline and the top candidates
with their mean fit times. On data this easy most combinations do about as
well: the choice between them is then one of speed.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, print_table, save_figure
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier

SOLVERS = ["stochastic", "minibatch", "batch"]


def param_grid(quick):
    """The grid: every solver, and every optimizer and four alphas unless quick."""
    optimizers = ["sgd", "adam"] if quick else [
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"
    ]
    alphas = [1e-4, 1e-2] if quick else [1e-4, 1e-3, 1e-2, 1e-1]
    return {"gd__solver": SOLVERS, "gd__optimizer": optimizers, "gd__alpha": alphas}


def plot_heatmap(search, grid):
    """Mean CV accuracy per solver and optimizer, at the best alpha."""
    results = search.cv_results_
    scores = np.full((len(grid["gd__solver"]), len(grid["gd__optimizer"])), np.nan)
    for params, score in zip(results["params"], results["mean_test_score"]):
        i = grid["gd__solver"].index(params["gd__solver"])
        j = grid["gd__optimizer"].index(params["gd__optimizer"])
        scores[i, j] = np.fmax(scores[i, j], score)
    fig, ax = plt.subplots(figsize=(1.3 * scores.shape[1] + 2.5, 3.5))
    image = ax.imshow(scores, cmap="viridis")
    ax.set(xticks=range(scores.shape[1]), xticklabels=grid["gd__optimizer"],
           yticks=range(scores.shape[0]), yticklabels=grid["gd__solver"],
           xlabel="optimizer", ylabel="solver",
           title="mean CV accuracy at the best alpha")
    middle = (np.nanmin(scores) + np.nanmax(scores)) / 2
    for (i, j), score in np.ndenumerate(scores):
        ax.text(j, i, f"{score:.3f}", ha="center", va="center",
                color="white" if score < middle else "black")
    fig.colorbar(image, ax=ax)
    return fig


def main():
    args = parse_args(__doc__)
    # Short CV fits may stop at max_iter; the workers inherit this filter
    # through scikit-learn's warning propagation.
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("gd", GDClassifier(loss="log_loss", max_iter=200, random_state=0)),
    ])
    grid = param_grid(args.quick)
    search = GridSearchCV(pipe, grid, cv=3 if args.quick else 5, n_jobs=2)
    search.fit(X_train, y_train)

    print(f"Best parameters: {search.best_params_}")
    print(f"Best mean CV accuracy: {search.best_score_:.4f}")
    print(f"Held-out accuracy of the refitted pipeline: {search.score(X_test, y_test):.4f}")
    results = search.cv_results_
    top = np.argsort(results["rank_test_score"], kind="stable")[:8]
    print_table(
        f"Top of {len(results['params'])} candidates",
        ("rank", "solver", "optimizer", "alpha", "CV accuracy", "fit ms"),
        [(int(results["rank_test_score"][i]), results["param_gd__solver"][i],
          results["param_gd__optimizer"][i], float(results["param_gd__alpha"][i]),
          float(results["mean_test_score"][i]), 1000 * float(results["mean_fit_time"][i]))
         for i in top],
    )
    save_figure(plot_heatmap(search, grid), args, "grid_search")


if __name__ == "__main__":
    main()
