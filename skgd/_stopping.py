"""When a fit stops, and when it has failed.

Stopping rules look at one figure per epoch and per *group* of outputs: the
outputs of a one-vs-rest classifier or of a multi-output regressor are
independent problems, so each is a group of its own and stops on its own, as
``SGDClassifier`` stops each binary problem (its weights are kept as they
were then while the others go on); a binary or multinomial classifier and a
single-output regressor are one group.

Divergence: a fit whose weights or objective become non-finite has failed.
So has one whose objective grows far past the intercept-only model's, except
under an explicit decaying schedule, which may start with long steps and
recover, as scikit-learn's SGD does; the end of such a call is checked
instead (:func:`check_final_objective`).
"""

import math

import numpy as np

from ._losses import NONSMOOTH_LOSSES
from ._optimizers import ADAPTIVE_OPTIMIZERS
from ._schedules import ADAPTIVE_DIVISOR, dot

# A fit whose objective grows past this multiple of the intercept-only
# model's has diverged, even where clipped derivatives keep it finite.
DIVERGENCE_FACTOR = 1e8

DECAYING_SCHEDULES = ("optimal", "invscaling", "exponential")

# A fit of a smooth loss whose gradient at the published weights is above
# this share of its size at the start stopped far from its optimum, and
# says so (see BaseGD._warn_if_unconverged).
FAR_FROM_STATIONARY = 0.1

# Under "auto" the mini-batch solver's adaptive step shrinks after stalled
# epochs of n_iter_no_change times at most STALL_STEPS steps in all where
# epochs are long, and at least LEAST_STALL_STEPS where they are short
# (stall_epochs).
STALL_STEPS = 1_000
LEAST_STALL_STEPS = 20

# The least share of its intercept-only tolerance by which the objective of a
# RelativeToleranceStopping fit must fall not to stall.
RELATIVE_FLOOR = 0.1


class DivergenceError(ValueError):
    """A fit whose weights or objective became non-finite or exploded.

    A subclass of ``ValueError``, which scikit-learn's SGD estimators raise
    in the same case. The estimator keeps the state it had before the call.
    """


def advice(est, schedule):
    """What would change the outcome of a diverging fit with these settings (a phrase)."""
    if est.learning_rate == "auto" and schedule.name != "optimal":
        return (
            f"learning_rate={_explicit(schedule.name)!r} with an eta0 below the "
            f"{schedule.eta0:.3g} that 'auto' chose, or features scaled with StandardScaler"
        )
    if schedule.name == "optimal":
        return (
            f"a larger alpha (now {est.alpha:g}; learning_rate='optimal' takes steps "
            "1 / (alpha (t0 + t))), or learning_rate='invscaling' with eta0"
        )
    what = "the aggressiveness C, " if schedule.name in ("pa1", "pa2") else ""
    return f"a smaller eta0 ({what}now {est.eta0:g}) or learning_rate='auto'"


def _explicit(name):
    """An explicit schedule that reproduces an "auto" choice."""
    return "constant" if name in ("barzilai-borwein", "l-bfgs") else name


def divergence_error(est, schedule, epoch, what, non_finite):
    """The error for a fit that diverged at ``epoch``: ``what`` happened."""
    if non_finite:
        # scikit-learn's words first, so that code matching them still does.
        message = (
            f"Floating-point under-/overflow occurred at epoch #{epoch}: {what}. "
            "Scaling input data with StandardScaler or MinMaxScaler might help; so "
            f"might {advice(est, schedule)}."
        )
    else:
        message = f"The fit diverged at epoch {epoch}: {what}. Try {advice(est, schedule)}."
    return DivergenceError(message + " The estimator keeps its previous state.")


class Reference:
    """The objectives a call's objective is judged against.

    ``baseline`` is the intercept-only model's, ``floor`` the larger of the
    zero model's and what rounding can explain, and ``start`` (a function,
    called at most once and only when needed: it costs a pass over the
    data) the objective at the weights the call started from, when those
    are not zero.
    """

    def __init__(self, baseline, floor, start=None):
        self.baseline = baseline
        self.floor = floor
        self._start = start

    def tolerance(self, tol):
        """``tol`` in units of the intercept-only objective: what "auto"'s stopping rules read.

        At least the smallest positive float (for ``tol > 0``): where the
        intercept-only model is exact (a constant target) the objective
        stays at 0, and a tolerance of ``tol`` times 0 never saw it stall
        (1,000 epochs and a warning, where SGDRegressor stops after 6 to 9).
        """
        return max(tol * self.baseline, np.finfo(np.float64).tiny) if tol > 0 else 0.0

    def exceeded(self, value, factor):
        """Whether ``value`` is above ``factor`` times each reference.

        Never, where every reference is zero (a perceptron at w = 0 has no
        loss at all): there is no scale to judge growth by.
        """
        if value <= factor * max(self.baseline, self.floor):
            return False
        if self._start is not None:
            self.floor = max(self.floor, self._start())
            self._start = None
            return value > factor * max(self.baseline, self.floor)
        return max(self.baseline, self.floor) > 0


def check_divergence(est, schedule, epoch, objective, weights_finite, reference):
    """Raise if the weights or the objective are non-finite or exploding.

    Derivative clipping can keep a diverging fit finite, so growth far past
    the :class:`Reference` counts as divergence too, unless the schedule is
    an explicit decaying one (which may recover).
    """
    finite = weights_finite and math.isfinite(objective)
    if not finite:
        raise divergence_error(est, schedule, epoch, "the weights or the objective "
                               "became non-finite", non_finite=True)
    may_recover = est.learning_rate != "auto" and schedule.name in DECAYING_SCHEDULES
    if may_recover or not reference.exceeded(objective, DIVERGENCE_FACTOR):
        return
    raise divergence_error(est, schedule, epoch, f"the objective grew to {objective:.3g}, "
                           f"against {reference.baseline:.3g} for the intercept-only model",
                           non_finite=False)


# A published average whose objective is above the intercept-only model's
# by more than this share of it warns (average_worse_than_intercept_only).
AVERAGE_WORSE_SHARE = 0.01


def average_worse_than_intercept_only(est, final, iterates, reference):
    """The warning for an ``average`` whose objective ``final`` is above the
    intercept-only model's and the last epoch's iterates' (``iterates``), else None.

    The iterates' losses are what the stopping rules and the per-epoch
    checks read; the mean of the iterates can lag far behind them, where
    they started far from the optimum. The intercept-only model is one of the
    models the objective is minimised over, so an objective above it is
    above the optimum's by at least the difference. (Found by a
    random-sequence fuzzer: ``precondition=None`` and ``average=True`` on
    columns of offsets up to 6,500 published a model of R^2 -59.6 on its
    training rows, silently, where the last iterate's was 0.)
    """
    baseline = reference.baseline
    if not (baseline > 0 and final > (1 + AVERAGE_WORSE_SHARE) * baseline and iterates < final):
        return None
    return (f"The published average of the iterates (average={est.average!r}) ended at an "
            f"objective of {final:.3g}, above the intercept-only model's ({baseline:.3g}); "
            f"the iterates' in the last epoch was {iterates:.3g}. average=False publishes "
            "the last iterate; a later start of the average (average=N, the update it "
            "starts from) forgets more of the first iterates.")


def check_final_objective(est, schedule, epoch, final, first, reference):
    """Raise if the call ended far worse than the intercept-only model.

    Far worse: above it and either 10 times the first epoch's objective or
    100 times its own (the latter not under a decaying schedule that "auto"
    chose, whose first epochs judge it). Returns a warning message instead
    for an explicit decaying schedule, which scikit-learn would let run on.
    (Its first epoch may already be as far off as the end: "optimal" steps
    on standardised diabetes reached an objective of 2.7e27, against 0.5
    for the intercept-only model, in the one epoch of a call.)
    """
    if not math.isfinite(final):
        raise divergence_error(est, schedule, epoch, "the objective at the final weights "
                               "is non-finite", non_finite=True)
    decaying = schedule.name in DECAYING_SCHEDULES
    explicit_decaying = decaying and est.learning_rate != "auto"
    grew = first > 0 and final > 10 * first
    far_above = (not decaying or explicit_decaying) and reference.exceeded(final, 100.0)
    if not (reference.exceeded(final, 1.0) and (grew or far_above)):
        return None
    what = (f"its objective ended at {final:.3g}, worse than the intercept-only model's "
            f"({reference.baseline:.3g})"
            + (f" and than the {first:.3g} of the call's first epoch" if grew else ""))
    if explicit_decaying:
        return f"The fit may not have recovered from its first steps: {what}. Try {advice(est, schedule)}."
    raise divergence_error(est, schedule, epoch, what, non_finite=False)


class ToleranceStopping:
    """scikit-learn's SGD rule, per group of outputs.

    A group stalls in an epoch whose criterion (lower is better) is not
    below its best so far minus ``tol``; it is done after
    ``n_iter_no_change`` stalled epochs in a row.
    """

    def __init__(self, n_groups, tol, n_iter_no_change):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best = np.full(n_groups, np.inf)
        self.count = np.zeros(n_groups, dtype=int)

    def update(self, criterion, history=None):
        stalled = criterion > self.best - self.required_fall()
        self.count = (self.count + 1) * stalled  # (a stall adds one, progress resets)
        self.best = np.minimum(self.best, criterion)
        return self.count >= self.n_iter_no_change

    def required_fall(self):
        """How far below its best so far an epoch's criterion must fall not to stall."""
        return self.tol

    def reset(self):
        self.count[:] = 0

    def after_shrink(self):
        """Start counting anew after a stall shrank the step."""
        self.reset()


class RelativeToleranceStopping(ToleranceStopping):
    """:class:`ToleranceStopping` with ``tol`` read as a share of the objective.

    An epoch stalls unless its criterion falls below its best so far by
    ``tol * best`` (with ``whole_window``, the window unless its criterion
    fell by that much over it: :meth:`update`), kept between
    :data:`RELATIVE_FLOOR` times and 1 times ``unit``, the caller's ``tol``
    in units of a group's intercept-only objective (as "auto"'s other rules
    read it). For the batch solver's
    adaptive step on a kinked loss (:func:`judges_relative_fall`), whose
    optimum's objective can be a small share of the zero model's (the
    hinge's 0.015 on the standardised breast cancer data, where the zero
    model's is 1): there Adam's objective fell by 1.2% an epoch, under the
    absolute tol=1e-3, and the stall's shrinks ended it 4.4 times above its
    optimum at test accuracy 0.951 against 0.965. A full batch's objective
    does not fluctuate, so a fall of it is progress and not noise: 171
    epochs, 2.8 times the optimum, 0.965. The floor ends fits whose
    objective heads to 0 (separable rows), whose share would shrink with
    it: digits' 0 against the rest ran all 1,000 epochs with a floor of
    0.01, and 255 with 0.1 (141 under scikit-learn's rule).
    """

    def __init__(self, n_groups, tol, n_iter_no_change, unit, whole_window=False):
        super().__init__(n_groups, tol, n_iter_no_change)
        self.unit = unit
        self.whole_window = whole_window
        self.recent = []  # the criteria of the last n_iter_no_change + 1 epochs

    def update(self, criterion, history=None):
        """With ``whole_window``, done once the criterion fell by less than the
        required fall over the last ``n_iter_no_change`` epochs in all; else
        scikit-learn's rule (a fall in each epoch).

        Over the window for the adaptive optimizers (AdaGrad, RMSProp, Adam),
        whose steps are of one size in every coordinate: a full batch's slow
        and steady fall is progress. On iris' hinge (one vs rest,
        standardised) Adam's step of 0.01 took 1.3e-4 off an objective of
        0.66 at every epoch, under the 6.6e-4 asked of each, so 25 such
        epochs stopped the fit 14% above the optimum (test accuracy 0.868
        against 0.947), without a warning; over the window, 309 epochs and
        0.947. Not for plain steps, which the per-epoch rule stops within
        0.01 of the optimum's test score on every hinge task of the corpus:
        over the window, batch plain steps took 1.17 times as long there and
        ended closer to the optimum's objective, but by chance two test scores
        fell out of the 0.01.
        """
        if not self.whole_window:
            return super().update(criterion, history)
        self.best = np.minimum(self.best, criterion)
        self.recent.append(np.array(criterion, dtype=np.float64))
        del self.recent[:-(self.n_iter_no_change + 1)]
        if len(self.recent) <= self.n_iter_no_change:
            return np.zeros(self.best.shape, dtype=bool)
        return self.recent[0] - self.recent[-1] < self.required_fall()

    def required_fall(self):
        return np.clip(self.tol * self.best, RELATIVE_FLOOR * self.unit, self.unit)

    def steady_fall(self, objectives, n_iter_no_change):
        """The fall an epoch of the best objective so far, as a share of it, over the
        last ``n_iter_no_change`` epochs of ``objectives`` (one an epoch), where
        the rule's floor is above ``tol`` of it and the fall was at least ``tol``
        both there and over the rule's window; else None.

        Such a fit stopped on :data:`RELATIVE_FLOOR`, not on ``tol``: its
        objective, a small share of the intercept-only model's, still fell
        steadily by more than ``tol`` of itself an epoch, and it is far above
        its optimum. Plain batch hinge steps on the wine data (class 0
        against the rest, every tenth row at weight 100) stopped so 97 times
        above the optimum's objective, still falling by 0.6% an epoch, and
        0.022 below its test accuracy, without a warning. With tol=1e-5 it
        runs all 1,000 epochs, to 38 times (and warns of them); with
        tol=None, whose step never shrinks, to 1.24 times and the same
        accuracy (the shrink that follows a bump of the hinge's objective
        slows the fall fivefold). Of the 56 batch hinge fits of
        ``benchmarks/weighted.py`` 9 fall so, 1.8 to 169 times above their
        optimum. None of the 47 others does: they end at most 5.2 times
        above theirs, but for two that ran all 1,000 epochs and warned (65
        times) and wine's with every tenth row at 1e4 (330 and 622 times),
        whose steps are too short to fall by tol. None of the 32 of
        ``corpus.py --loss hinge`` does. Both windows: over the rule's
        alone, which grows with each shrink, two of wine's weighted fits 1.2
        times above their optimum zigzag down by more than tol, and so do
        the corpus's wine tasks. The best so far, not the last value: a flat
        zigzag that ends on a low would read as a fall, and the last epochs
        of the corpus's standardised wine task (13 times above its optimum)
        climbing back from a bump did. (:func:`still_descending` asks
        another question: what a stochastic fit's noisy fall, in units of
        the intercept-only objective, promises still to come.)
        """
        windows = (n_iter_no_change, self.n_iter_no_change)
        if len(objectives) <= max(windows):
            return None
        best = np.minimum.accumulate(np.asarray(objectives, dtype=np.float64))
        last = best[-1]
        if not (last > 0 and RELATIVE_FLOOR * self.unit > self.tol * last):
            return None
        falls = [(best[-1 - n] - last) / (n * last) for n in windows]
        return falls[0] if min(falls) >= self.tol else None

    def reset(self):
        super().reset()
        self.recent = []

    def after_shrink(self):
        """Start counting anew, and wait :data:`ADAPTIVE_DIVISOR` times longer for a stall.

        A step 5 times shorter needs 5 times the epochs to move as far. With
        a window that stays the same, the shrinks' steps add up to a
        geometric series, which ends short of a kinked loss's optimum
        wherever its zigzag stalls: batch plain hinge steps on the
        standardised breast cancer data (alpha=0.01) stopped 1.8% above the
        optimum whatever the tol (tol=1e-8: 496 epochs). Growing with the
        shrinks, the window lets ``tol`` reach it: 0.01% above at
        ``max_iter=100_000``.
        """
        self.reset()
        self.n_iter_no_change = int(self.n_iter_no_change * ADAPTIVE_DIVISOR)


class ConstantStepStopping(ToleranceStopping):
    """The batch solver with a constant step: stop when the remaining decrease is small.

    Near the optimum, gradient descent shrinks the objective's excess by a
    roughly constant factor ``rho`` per epoch; with the last two decreases
    ``d0`` and ``d1`` that gives ``rho = d1 / d0`` and a remaining decrease
    of ``d1 rho / (1 - rho) = d1^2 / (d0 - d1)``. An epoch stalls when that
    estimate is at most ``tol``, or when the objective did not decrease (as
    with the subgradients of non-smooth losses). Requiring
    ``n_iter_no_change`` stalled epochs in a row guards against a single
    sudden slow-down being read as convergence.
    """

    def update(self, criterion, history=None):
        stalled = False
        if len(history) >= 3:
            d0 = history[-3] - history[-2]
            d1 = history[-2] - history[-1]
            stalled = d1 <= 0 or (d0 > d1 and d1 * d1 / (d0 - d1) <= self.tol)
        self.count[:] = self.count + 1 if stalled else 0
        return self.count >= self.n_iter_no_change


class GradientStopping(ToleranceStopping):
    """The batch solver on a smooth loss: stop on the certificate.

    The criterion is the larger of two figures, both at the epoch's start:
    the norm of the objective's gradient (the minimal subgradient with an l1
    part) relative to its norm at the start of the fit (see
    :func:`stationarity`), and the objective's excess over its optimum
    relative to the objective, as estimated by :func:`estimated_excess`.
    The fit stops at the first epoch where it is at most ``tol / 10``. The
    gradient is exact, so one such epoch suffices. The relative gradient
    alone is not enough: near the optimum the excess is about
    ``|g|^2 / (2 mu)`` for curvature ``mu``, and a weakly penalised logistic
    regression has a tiny ``mu`` (on the standardised breast cancer data,
    a relative gradient of 1e-4 left 1.6e-3 of the objective). With the
    default tol=1e-3 the batch solver (L-BFGS) ends within 2e-8 (relative)
    of Ridge's objective on the bundled diabetes data, raw and standardised,
    and within 5.5e-5 of LogisticRegression's on the standardised breast
    cancer data (L-BFGS's longest "step" is the longest of its ``g'Hg /
    g'g`` and ``s's / s'y``). With constant steps (momentum) the longest
    step is ``1 / L``, and the estimate is only a lower bound: 2e-3 there.
    """

    SHARE = 0.1  # of tol

    def __init__(self, tol, n_iter_no_change=1):
        super().__init__(1, tol, n_iter_no_change)
        self.previous = np.inf  # the last epoch's objective, for stalled()

    def update(self, criterion, history=None):
        return np.array([criterion[0] <= self.SHARE * self.tol])

    def stalled(self, objective):
        """Under the adaptive schedule: whether the step should shrink.

        The adaptive optimizers' full-batch steps move every coordinate by
        about the step, so that near the optimum they overshoot it and the
        objective rises, epoch after epoch, while their momentum carries
        them past. After ``n_iter_no_change`` rising epochs in a row the
        step is too long for the distance left. Slow progress is not a
        stall: shrinking on it (scikit-learn's rule, a decrease below tol)
        made the steps ever slower and stopped batch Adam 0.23 of the
        objective above its optimum on near-duplicate columns; so did
        shrinking whenever the objective stayed above its best, because
        after a shrink the momentum still carries the iterate away.
        """
        rising = objective >= self.previous
        self.previous = objective
        self.count[0] = self.count[0] + 1 if rising else 0
        if self.count[0] < self.n_iter_no_change:
            return False
        self.count[0] = 0
        return True


def estimated_excess(norm, longest_step, objective, scale):
    """The objective's excess over its optimum, relative, as a quadratic model puts it.

    A gradient step of length ``eta`` that the line search accepts sees a
    curvature of about ``1 / eta`` along the gradient; the smallest
    curvature met so far is about ``1 / longest_step``, and a quadratic of
    that curvature with gradient norm ``norm`` lies ``norm^2 longest_step /
    2`` above its minimum. (An estimate, not a bound: curvature not yet met
    would leave more.) Relative to the objective, or to ``scale`` where the
    objective is smaller: an optimum of objective 0 (data fitted exactly)
    has no relative excess to speak of.
    """
    denominator = max(objective, scale)
    if denominator <= 0:
        return 0.0
    return norm * norm * longest_step / (2.0 * denominator)


# The epochs of each of the two windows still_descending compares: fixed
# (scikit-learn's default n_iter_no_change), so that the check is the same
# whatever n_iter_no_change is.
DESCENT_WINDOW = 5


def still_descending(values, tol, window=DESCENT_WINDOW):
    """Whether the criterion's recent fall promises a further decrease of more than ``window tol``.

    scikit-learn's rule stops once ``n_iter_no_change`` epochs in a row
    each improved by less than tol. A fit that descends slowly but steadily
    (a decaying step on an ill-conditioned problem) passes that test long
    before its optimum: on one-hot blocks beside numeric columns, as CSR,
    the stochastic solver stopped at 40 epochs 9% of the objective above it.
    So the last ``2 window`` epochs are read as two windows whose decreases
    ``d0`` and ``d1`` shrink geometrically by ``rho = d1 / d0``: what is left
    is ``d1 rho / (1 - rho)``, unbounded when the fall does not slow down.
    (An estimate: a sublinear tail leaves more.) The fit may stop when that
    is at most ``window tol``. A window that fell by less than one epoch's
    ``tol``, as at a noise floor, promises nothing.
    """
    if len(values) < 2 * window + 1:
        return False
    d0 = values[-2 * window - 1] - values[-window - 1]
    d1 = values[-window - 1] - values[-1]
    if d1 <= tol:  # the whole window fell less than one epoch's tol: settled, or noise
        return False
    if d0 <= d1:
        return True
    rho = d1 / d0
    return d1 * rho / (1.0 - rho) > window * tol


# The tol rule of an averaged fit under "auto" judges the average's objective
# every epoch (BaseGD._run_epochs) on this many training rows where there
# are more than twice as many (judged_rows).
JUDGED_ROWS = 4096


def judged_rows(problem):
    """The training rows the average's objective is judged on each epoch.

    All of them up to ``2 JUDGED_ROWS``; beyond, ``JUDGED_ROWS`` drawn at
    random (a fixed seed: the same every epoch and every run), so that the
    objective's fall from one epoch to the next is measured on the same rows
    and stays smooth (the rule reads differences of at least tol, in units
    of the intercept-only objective). Not evenly spaced rows: on rows whose
    labels alternate those were all of one class. The full pass cost 3.5 ms
    of a 20,000-row TF-IDF epoch's 11.7 ms. (On chunks of a dask array, all
    rows: they are summed on the workers.)
    """
    train = problem.train
    if problem.chunked or train.size <= 2 * JUDGED_ROWS:
        return train
    sample = np.random.default_rng(0).choice(train.size, JUDGED_ROWS, replace=False)
    return train[np.sort(sample)]


def certifies(est, loss_code, schedule, validating):
    """Whether this fit stops on the gradient certificate (:class:`GradientStopping`).

    Not with averaging: the certificate is computed at the iterate, and the
    published weights are the average. Under the adaptive schedule (the
    "auto" choice for AdaGrad, RMSProp and Adam) a stall shrinks the step
    (:meth:`GradientStopping.stalled`) and only the certificate stops.
    """
    return (not validating and not est.average and est.solver == "batch"
            and loss_code not in NONSMOOTH_LOSSES
            and schedule.name in ("constant", "barzilai-borwein", "l-bfgs", "adaptive"))


def judges_relative_fall(est, loss_code, schedule, validating):
    """Whether this fit's stalls read ``tol`` relative to the objective
    (:class:`RelativeToleranceStopping`).

    The batch solver's adaptive step (AdaGrad, RMSProp, Adam; plain steps on
    the hinge) on a kinked loss under "auto", with a tol: the certificate of
    smooth losses does not apply, and a stall is all that shrinks and stops
    the step (:meth:`RelativeToleranceStopping.after_shrink`).
    (:func:`shrinking_is_done` keeps its tolerance: read relative too, it
    changed no fit of the hinge corpus.)
    """
    return (est.learning_rate == "auto" and not validating and est.solver == "batch"
            and est.tol is not None
            and loss_code in NONSMOOTH_LOSSES and schedule.name == "adaptive")


def stall_epochs(est, schedule, n_train, validating):
    """How many stalled epochs in a row shrink (or stop) the step: ``n_iter_no_change``,
    or another count for the mini-batch solver's adaptive step under "auto".

    There the window is counted in steps, not epochs: it spans
    ``n_iter_no_change`` epochs where these hold between
    ``n_iter_no_change`` times :data:`LEAST_STALL_STEPS` and
    ``n_iter_no_change`` times :data:`STALL_STEPS` steps in all, and as many
    epochs as reach the nearer bound elsewhere (at least one); but
    ``n_iter_no_change`` epochs of one batch (a full-batch step each).

    - Long epochs, fewer of them: an epoch's objective is the mean of its
      steps' losses, and over thousands of steps its noise is far below tol.
      On 200,000 dense rows (6,250 steps an epoch) every epoch after the
      first of a step sat on that step's noise floor within 2e-4, and five
      of them in a row before each of three shrinks were 15 of the fit's 23
      epochs; one each gave the same test score in 7 (time_to_target.py's
      dense regression). Epochs of up to 1,000 steps (32,000 rows in
      batches of 32) keep all five.
    - Short epochs, more of them: an epoch of iris' 112 training rows is 4
      steps (the stochastic solver's is 112), and five such epochs fell by
      less than tol while the objective was still 5-11% above its optimum:
      one test row below the optimum's accuracy in 16 of 18 fits
      (corpus.py's split, raw and standardised, log loss, sgd / momentum /
      adam, 3 seeds), silently. With a window of 100 steps (25 epochs) they
      end 1-4% above it, every one within; diabetes (11 steps an epoch)
      ends nearer too. Epochs of at least 20 steps (609 rows in batches of
      32) keep all five. Not epochs of one batch: each is an exact gradient
      step, and on a kinked loss, whose gradient stays far from 0, 100
      epochs for each of the step's divisions ran 1,000 (three-class hinge
      on 20 rows: 54 epochs became 954 and a warning).
    """
    n_epochs = est.n_iter_no_change
    if (est.learning_rate == "auto" and est.solver == "minibatch" and not validating
            and schedule.name == "adaptive"):
        steps = -(-n_train // est.batch_size)  # an epoch's batches
        longest = -(-n_epochs * STALL_STEPS // steps)
        shortest = n_epochs if steps == 1 else -(-n_epochs * LEAST_STALL_STEPS // steps)
        n_epochs = max(min(n_epochs, longest), shortest)
    return n_epochs


def stopping_rule(est, loss_code, schedule, n_groups, validating, n_train, reference):
    """The rule for this fit: scikit-learn's, or the batch solver's (``reference``:
    the :class:`Reference` whose intercept-only objective is "auto"'s unit)."""
    if certifies(est, loss_code, schedule, validating):
        return GradientStopping(est.tol, est.n_iter_no_change)
    if not validating and est.solver == "batch" and schedule.name == "constant":
        return ConstantStepStopping(1, est.tol, est.n_iter_no_change)
    if judges_relative_fall(est, loss_code, schedule, validating):
        return RelativeToleranceStopping(n_groups, est.tol, est.n_iter_no_change,
                                         reference.tolerance(est.tol) / n_groups,
                                         whole_window=est.optimizer in ADAPTIVE_OPTIMIZERS)
    return ToleranceStopping(n_groups, est.tol,
                             stall_epochs(est, schedule, n_train, validating))


def shrinking_is_done(stalled_at, objective, tol):
    """Whether the adaptive step, stalled at ``objective``, should stop rather than shrink.

    A constant step ends in a noise floor above the optimum, and dividing
    the step by :data:`ADAPTIVE_DIVISOR` (5) divides that floor's excess
    by about as much: after a shrink that gained ``gain``, all later ones
    together would gain about ``gain / 4``. Under "auto" the fit stops once
    that is below ``tol`` (the caller's, in units of the intercept-only
    model's objective, as the averaged rule reads it; and the gradient
    within 0.1 of its start:
    :meth:`skgd._base.BaseGD._far_from_stationary`), where scikit-learn's "adaptive"
    shrinks on to a step of 1e-6: the mini-batch solver's 49 and 60 epochs
    on 8,000 x 20 and 16,000 x 50 dense rows (time_to_target.py's data)
    became 24 and 30, with the same test scores to 0.0005.
    """
    if not stalled_at:
        return False
    gain = stalled_at[-1] - objective
    return gain / (ADAPTIVE_DIVISOR - 1) < tol


def stationarity(G, G_b, W, problem):
    """Norm of the objective's minimal (sub)gradient at ``W`` (the kernels' coordinates).

    ``G`` and ``G_b`` are the mean loss's gradient in the weights and the
    intercepts. The penalty adds ``l2 W`` and, where the l1 part applies,
    ``l1 sign(W)`` at non-zero weights; at zero weights the smallest
    subgradient is the loss's gradient soft-thresholded by ``l1``. The
    intercepts count when they are fitted.
    """
    W = np.asarray(W, dtype=np.float64)
    grad = _l2_gradient(G, W, problem)
    if problem.l1.any():
        l1 = _per_column(problem.l1, problem)
        grad = np.where(W != 0, grad + l1 * np.sign(W),
                        np.sign(grad) * np.maximum(np.abs(grad) - l1, 0.0))
    # (Dot products: this runs at every epoch of the batch solver, and each
    # numpy call costs about a microsecond on small data; not BLAS's, see
    # skgd._schedules.dot.)
    flat = grad.ravel()
    G_b = np.asarray(G_b, dtype=np.float64) if problem.fit_intercept else None
    with np.errstate(over="ignore"):
        total = float(dot(flat, flat))
        if G_b is not None:
            total += float(G_b @ G_b)
    if math.isinf(total):
        # Squares beyond float64 (sample weights of 1e200): the norm of the
        # gradient over its largest entry, times that entry. (Before, the
        # norm was inf, stationarity_ NaN, and a fit that had reached its
        # optimum warned that it was far from it.)
        parts = [flat] if G_b is None else [flat, G_b]
        peak = max(float(np.abs(part).max(initial=0.0)) for part in parts)
        if not math.isfinite(peak):
            return peak
        return peak * math.sqrt(sum(float(np.sum((part / peak) ** 2)) for part in parts))
    return math.sqrt(total)


def _per_column(strengths, problem):
    """A penalty's per-bucket ``strengths`` on each column (the kernels' coordinates):
    a scalar where there is one bucket, else a vector."""
    return strengths[0] if strengths.shape[0] == 1 else strengths[problem.preconditioner.bucket]


def _l2_gradient(G, W, problem):
    """``G`` plus the l2 part's gradient at ``W`` (per-column strengths)."""
    return G + _per_column(problem.l2, problem) * W


def flat_l2(problem):
    """The l2 part's strength of each coordinate, flat as :meth:`GDState.flat_weights`."""
    columns = np.broadcast_to(_per_column(problem.l2, problem), (problem.X.shape[1],))
    return np.concatenate([np.tile(columns, problem.n_outputs), np.zeros(problem.n_outputs)])


def smooth_gradient(G, G_b, W, problem):
    """The objective's gradient at ``W`` (no l1 part), flat as :meth:`GDState.flat_weights`.

    ``G`` and ``G_b`` are the mean loss's gradient in the weights and the
    intercepts; the intercepts' part is 0 when they are not fitted.
    """
    G_b = np.asarray(G_b, dtype=np.float64) if problem.fit_intercept else np.zeros(len(G_b))
    return np.concatenate([_l2_gradient(G, np.asarray(W, dtype=np.float64), problem).ravel(),
                           G_b])
