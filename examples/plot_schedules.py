"""Learning-rate schedules compared.

A logistic regression (``GDClassifier(loss="log_loss")``) on standardised
synthetic data is fitted with every ``learning_rate`` schedule, with the
stochastic solver (left) and the mini-batch solver (right), each run to its
stopping rule (``tol=1e-3``, ``n_iter_no_change=5``):

* ``constant``: ``eta0`` throughout. Fast at first, then the noise of the
  single-sample (or small-batch) gradients keeps the objective above its
  minimum: the fit stops on a plateau.
* ``invscaling``: ``eta0 / t^power_t``: the noise fades as steps shrink, but
  so does progress.
* ``optimal``: ``1 / (alpha (t0 + t))``, scikit-learn's default for
  ``SGDClassifier``. It needs no ``eta0``; its first steps are very long
  (``1 / (alpha t0)``), which shows as a high objective in the first epochs.
* ``adaptive``: ``eta0`` until the objective stalls, then divided by 5 each
  time: the fit runs longer and reaches a lower objective.
* ``exponential``: ``eta0 * decay_rate^epoch``: a smooth decay per epoch;
  once the steps are tiny the objective stops moving and the fit stops.
* ``auto``: skgd's tuning-free default; what it resolved to is shown in the
  legend and the table (``learning_rate_`` and ``eta0_``).

The curves are each fit's ``loss_curve_``, drawn with
:class:`skgd.plotting.ConvergenceDisplay`: the training objective per epoch,
averaged over the epoch's updates. The y axis is zoomed on the last
stretch, where the schedules differ. Curves that coincide hide each other:
``constant`` and ``adaptive`` until the first stall, and ``auto`` and the
schedule it resolved to.
"""

import time
import warnings

import matplotlib.pyplot as plt
from _common import classification_data, parse_args, print_table, save_figure
from sklearn.exceptions import ConvergenceWarning

from skgd import GDClassifier
from skgd.plotting import ConvergenceDisplay

SCHEDULES = ("constant", "invscaling", "optimal", "adaptive", "exponential", "auto")
SOLVERS = ("stochastic", "minibatch")
ETA0 = 0.01


def main():
    args = parse_args(__doc__)
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = classification_data(args.quick)
    for solver in SOLVERS:  # load each solver's compiled kernel before timing
        GDClassifier(solver=solver, max_iter=1).fit(X, y)

    fig, axes = plt.subplots(
        1, len(SOLVERS), figsize=(12, 4.5), sharey=True, layout="constrained"
    )
    rows, best = [], float("inf")
    for solver, ax in zip(SOLVERS, axes):
        models = {}
        for schedule in SCHEDULES:
            model = GDClassifier(
                loss="log_loss", solver=solver, learning_rate=schedule, eta0=ETA0,
                max_iter=200, random_state=0,
            )
            start = time.perf_counter()
            model.fit(X, y)
            seconds = time.perf_counter() - start
            label = schedule
            if schedule == "auto":
                label = f"auto: {model.learning_rate_}, eta0={model.eta0_:.3g}"
            models[label] = model
            rows.append((solver, schedule, model.learning_rate_, model.eta0_, model.n_iter_,
                         model.loss_curve_[-1], model.score(X, y), 1000 * seconds))
        ConvergenceDisplay.from_estimator(models, ax=ax, log_scale=False)
        ax.set_title(f"solver={solver!r}")
        best = min(best, *(min(model.loss_curve_) for model in models.values()))
    # Zoom on the tails, where the schedules differ (the axes share y); the
    # long first steps of "optimal" leave the top of the picture.
    axes[0].set_ylim(0.99 * best, 1.15 * best)
    fig.suptitle(f"Logistic regression, {X.shape[0]} x {X.shape[1]}, eta0={ETA0}")

    print_table(
        "Each schedule run to its stopping rule",
        ("solver", "schedule", "resolved", "eta0_", "epochs", "objective",
         "train acc", "fit ms"),
        rows,
    )
    save_figure(fig, args, "plot_schedules")


if __name__ == "__main__":
    main()
