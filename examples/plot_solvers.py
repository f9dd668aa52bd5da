"""Batch, stochastic and mini-batch gradient descent on the same problem.

The three solvers minimise the same ridge objective

    f(w, b) = mean_i (y_i - w.x_i - b)^2 / 2 + alpha |w|^2 / 2

on standardised, strongly correlated synthetic data, each with its default
``learning_rate="auto"`` and its default stopping rule. They differ in how
many samples feed each step:

* ``stochastic``: one step per sample. The first epoch already brings the
  objective close to its minimum, but the steps stay noisy, so progress
  stalls at a noise floor set by the step size.
* ``minibatch``: one step per ``batch_size`` samples: less noise per step,
  fewer (vectorisable) steps per epoch.
* ``batch``: one exact gradient per epoch, each cheap. With
  ``learning_rate="auto"`` the steps are L-BFGS steps (the direction from
  the last changes of the weights and of the gradient, with a line search):
  the objective falls fast, far below the other two's noise floors.

To see the whole path, each solver is fitted once to find where its
stopping rule ends it, then refitted with ``max_iter = k`` for a grid of
``k`` up to that point: the same seed gives the same path, so fit ``k``
is the first ``k`` epochs of the full fit. For each ``k`` the example
records the exact suboptimality ``f(w_k, b_k) - f*`` (``f*`` from the
closed-form ridge solution) and plots it against epochs (left) and against
the wall-clock time of the fit (right), which includes a fixed set-up cost
(validation, and for the batch and mini-batch solvers the power iteration
behind their step size). The left panel
says which solver makes the most of a pass over the data; the right one
which reaches a given accuracy first on this machine.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, print_table, regression_data, save_figure, timed_fit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from skgd import GDRegressor

SOLVERS = ("stochastic", "minibatch", "batch")
ALPHA = 1e-4


def objective(model, X, y):
    """The ridge objective that every solver minimises, evaluated exactly."""
    residual = y - model.predict(X)
    return 0.5 * np.mean(residual**2) + 0.5 * ALPHA * np.sum(model.coef_**2)


def solver_path(solver, X, y, n_points, repeats):
    """Epochs, fit times and exact objectives along one solver's path.

    Every epoch of a solver costs the same, so the time of a ``k``-epoch fit
    is interpolated between two timed fits, of one epoch (which includes the
    set-up: validation, the step-size estimate) and of the full run. That is
    much less sensitive to a busy machine than timing every ``k``.
    """
    def make(max_iter):
        return GDRegressor(solver=solver, alpha=ALPHA, max_iter=max_iter, random_state=0)

    full = make(1000)
    full_seconds = timed_fit(full, X, y, repeats=repeats)
    one_seconds = timed_fit(make(1), X, y, repeats=repeats)
    n_epochs = full.n_iter_
    per_epoch = max(full_seconds - one_seconds, 0.0) / max(n_epochs - 1, 1)
    epochs = np.unique(np.geomspace(1, n_epochs, n_points).round().astype(int))
    seconds = one_seconds + (epochs - 1) * per_epoch
    objectives = np.array([objective(make(int(k)).fit(X, y), X, y) for k in epochs])
    return epochs, seconds, objectives, per_epoch


def main():
    args = parse_args(__doc__)
    warnings.simplefilter("ignore", ConvergenceWarning)  # fits cut short by max_iter warn
    X, y = regression_data(args.quick)
    n_samples = X.shape[0]
    # GDRegressor's objective with alpha is Ridge's with alpha * n_samples.
    ridge = Ridge(alpha=ALPHA * n_samples, solver="cholesky").fit(X, y)
    f_star = objective(ridge, X, y)
    for solver in SOLVERS:  # load each solver's compiled kernel before timing
        GDRegressor(solver=solver, max_iter=1).fit(X, y)

    fig, (ax_epochs, ax_time) = plt.subplots(
        1, 2, figsize=(11, 4.2), sharey=True, layout="constrained"
    )
    rows = []
    for solver in SOLVERS:
        epochs, seconds, objectives, per_epoch = solver_path(
            solver, X, y, n_points=6 if args.quick else 14, repeats=1 if args.quick else 5
        )
        gap = np.maximum(objectives - f_star, 1e-16)
        ax_epochs.plot(epochs, gap, marker="o", label=solver)
        ax_time.plot(seconds, gap, marker="o", label=solver)
        rows.append((solver, int(epochs[-1]), 1000 * seconds[-1],
                     1000 * (seconds[0] - per_epoch), 1000 * per_epoch, float(gap[-1])))

    ax_epochs.set(yscale="log", xlabel="epochs (passes over the data)",
                  ylabel="f(w) - f*  (suboptimality)")
    ax_time.set(xlabel="fit time (s)")
    ax_epochs.legend(title="solver")
    for ax in (ax_epochs, ax_time):
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"Ridge objective, {n_samples} x {X.shape[1]} correlated features")

    print_table(
        f"Each solver run to its stopping rule (tol=1e-3), f* = {f_star:.6g}",
        ("solver", "epochs", "fit ms", "set-up ms", "ms/epoch", "f - f*"),
        rows,
    )
    save_figure(fig, args, "plot_solvers")


if __name__ == "__main__":
    main()
