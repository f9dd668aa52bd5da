"""Every optimizer on one problem: the training objective per epoch.

The picture shows ``loss_curve_`` (the training objective per epoch) of
``GDRegressor`` with each ``optimizer`` (sgd, momentum, nesterov, adagrad,
rmsprop, adam) on the same standardised, ill-conditioned ridge regression,
with the batch solver (left: one exact gradient step per epoch) and the
mini-batch solver (right: one step per 32 samples). Every fit uses the
defaults otherwise: ``learning_rate="auto"`` (the schedule and base step it
resolved to are in the legend) and the stopping rule ``tol=1e-3``, capped
at 100 epochs. The dotted line is the minimum, from the closed-form ridge
solution.

What to look for:

* On the batch solver ``sgd``, ``momentum`` and ``nesterov`` start from the
  same step, about ``1 / L`` for the smoothness constant ``L`` of the
  objective. Momentum keeps moving along the flat directions of an
  ill-conditioned problem, at the price of some overshoot (the bumps), which
  Nesterov's look-ahead damps.
* ``adagrad``, ``rmsprop`` and ``adam`` divide each coordinate's step by a
  running size of its gradients, so their first steps have about the same
  length in every coordinate whatever the curvature: on the batch solver
  that overshoots at first (the early spikes) before they settle.
* With mini-batches the gradient is noisy: each curve levels off at a
  height set by its step size, and drops when the ``"adaptive"`` schedule
  divides the step after the objective stalls.
"""

import warnings

import matplotlib.pyplot as plt
from _common import parse_args, print_table, regression_data, save_figure
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from skgd import GDRegressor
from skgd.plotting import ConvergenceDisplay

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SOLVERS = ("batch", "minibatch")
ALPHA = 1e-4


def main():
    args = parse_args(__doc__)
    warnings.simplefilter("ignore", ConvergenceWarning)  # some stop at max_iter
    X, y = regression_data(args.quick)
    max_iter = 30 if args.quick else 100
    ridge = Ridge(alpha=ALPHA * X.shape[0], solver="cholesky").fit(X, y)
    f_star = 0.5 * ((y - ridge.predict(X)) ** 2).mean() + 0.5 * ALPHA * (ridge.coef_**2).sum()

    fig, axes = plt.subplots(1, len(SOLVERS), figsize=(12, 4.5), layout="constrained")
    rows = []
    for solver, ax in zip(SOLVERS, axes):
        models = {}
        for optimizer in OPTIMIZERS:
            model = GDRegressor(
                solver=solver, optimizer=optimizer, alpha=ALPHA, max_iter=max_iter,
                random_state=0,
            ).fit(X, y)
            models[f"{optimizer} ({model.learning_rate_}, eta0={model.eta0_:.3g})"] = model
            rows.append((solver, optimizer, model.learning_rate_, model.eta0_, model.n_iter_,
                         model.loss_curve_[0], model.loss_curve_[-1], model.score(X, y)))
        ConvergenceDisplay.from_estimator(models, ax=ax, log_scale=True)
        ax.axhline(f_star, color="black", linestyle=":", linewidth=1)
        ax.legend(fontsize="small")
        ax.set_title(f"solver={solver!r}")
    fig.suptitle(f"Ridge regression, {X.shape[0]} x {X.shape[1]} correlated features")

    print_table(
        f"{X.shape[0]} x {X.shape[1]}: objective at the first and last epoch; "
        f"its minimum f* = {f_star:.6g}",
        ("solver", "optimizer", "schedule", "eta0_", "epochs", "first", "last", "train R2"),
        rows,
    )
    save_figure(fig, args, "plot_optimizers")


if __name__ == "__main__":
    main()
