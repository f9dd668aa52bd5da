"""Learning-rate schedules.

Inside an epoch the step size is a pure function of the update count ``t``
(:func:`step_size`, compiled into the kernels). Between epochs the Python
driver may change the base step (the ``"adaptive"`` and ``"exponential"``
schedules); :class:`EpochSchedule` holds that rule.
"""

import math

import numpy as np

from ._jit import jit

# Codes of the within-epoch rule.
CONSTANT = 0  # eta = base
INVSCALING = 1  # eta = base / t ** power_t
OPTIMAL = 2  # eta = 1 / (alpha * (t0 + t - 1))
PA1 = 3  # passive-aggressive steps (PA-I), eta0 the aggressiveness C
PA2 = 4  # passive-aggressive steps (PA-II)

SCHEDULES = ("constant", "invscaling", "optimal", "adaptive", "exponential", "pa1", "pa2")
PASSIVE_AGGRESSIVE = ("pa1", "pa2")

# The ``"adaptive"`` rule divides the step by this factor when the objective
# stalls and stops once the step falls below MIN_ADAPTIVE_ETA (scikit-learn's
# values).
ADAPTIVE_DIVISOR = 5.0
MIN_ADAPTIVE_ETA = 1e-6


@jit(inline="always")
def step_size(code, base, t, power_t, alpha, t0):
    """Step size of update number ``t`` (counted from 1)."""
    if code == INVSCALING:
        # pow costs about 50 ns, a fifth of a stochastic step on 100
        # features; the defaults 0.25 and 0.5 are square roots, much cheaper.
        if power_t == 0.25:
            return base / math.sqrt(math.sqrt(t))
        if power_t == 0.5:
            return base / math.sqrt(t)
        return base / math.pow(t, power_t)
    if code == OPTIMAL:
        return 1.0 / (alpha * (t0 + t - 1.0))
    return base


class EpochSchedule:
    """The step-size rule of one fit, as the driver applies it per epoch.

    Parameters
    ----------
    name : str
        Resolved schedule name (one of :data:`SCHEDULES`).
    eta0 : float
        Base step.
    decay_rate : float
        Factor applied per epoch by the ``"exponential"`` schedule.
    damping : float, default=1.0
        Factor on the ``"optimal"`` steps (which do not use ``eta0``):
        ``"auto"`` shortens them for momentum methods.
    """

    def __init__(self, name, eta0, decay_rate, damping=1.0):
        self.name = name
        self.eta0 = eta0
        self.decay_rate = decay_rate
        self.damping = damping
        self.code = {"invscaling": INVSCALING, "optimal": OPTIMAL, "pa1": PA1, "pa2": PA2}.get(
            name, CONSTANT
        )
        self.eta = eta0  # current base step of the adaptive schedule

    def base_for_epoch(self, epoch):
        """Base step for epoch number ``epoch`` (counted from 0 over the fit)."""
        if self.name == "exponential":
            return self.eta0 * self.decay_rate**epoch
        if self.name == "adaptive":
            return self.eta
        return self.eta0

    def can_shrink(self):
        """Whether a stall shrinks the step (the adaptive schedule above its floor) or stops.

        The adaptive schedule divides its step by :data:`ADAPTIVE_DIVISOR`
        while the step is above :data:`MIN_ADAPTIVE_ETA`, as in scikit-learn;
        every other schedule stops.
        """
        return self.name == "adaptive" and self.eta > MIN_ADAPTIVE_ETA

    def shrink(self):
        self.eta /= ADAPTIVE_DIVISOR


class BarzilaiBorweinSchedule(EpochSchedule):
    """Barzilai-Borwein steps for the batch solver's plain steps.

    After each epoch the driver reports the weights before and after the
    step; the gradient is recovered as ``(before - after) / eta``, and the
    next step is ``s's / s'y`` with ``s`` the last change of the weights and
    ``y`` that of the gradient (the inverse of the curvature along the last
    step), clipped to ``[eta0, 1e4 eta0]`` where ``eta0 = 1 / L`` is the
    always-safe step. Because the current gradient is only known once its
    step is taken, the rule uses the previous pair (a step "with retard",
    Friedlander et al., 1999).

    The fit stalls (see :meth:`stalled`) when the objective's remaining
    decrease, estimated from the gradient and the longest step taken, is at
    most ``tol``. The objective may rise now and then. When the objective at the start of
    an epoch is above the highest of the last ``memory`` epochs, the weights
    go back to the best point seen (:meth:`observe` returns it) and the
    rule restarts from ``eta0``, so the fit never ends worse than plain
    ``1 / L`` steps would have left it.

    Parameters
    ----------
    eta0 : float
        The safe step ``1 / L``, the smallest step taken.
    memory : int, default=10
        Epochs over which the objective may rise before the restart.
    """

    MAX_RATIO = 1e4

    def __init__(self, eta0, memory=10):
        super().__init__("barzilai-borwein", eta0, 1.0)
        self.memory = memory
        self.objectives = []
        self.previous = None  # (weights before the last step, its gradient)
        self.best = (np.inf, None)  # (objective, weights) of the best start seen
        self.longest = eta0
        self.remaining_decrease = np.inf

    def observe(self, before, after, eta, objective):
        """Take the epoch that moved ``before`` (objective ``objective``) to ``after``.

        Returns the weights to go back to after a rise, else None.
        """
        recent = self.objectives[-self.memory:]
        self.objectives.append(objective)
        if objective < self.best[0]:
            self.best = (objective, before)
        if not math.isfinite(objective) or (recent and objective > max(recent)):
            self.eta = self.eta0
            self.previous = None
            return self.best[1]
        gradient = (before - after) / eta
        # Near the optimum the objective's excess is at most |g|^2 / (2 mu)
        # for curvature mu; the longest step taken estimates 1 / mu.
        self.longest = max(self.longest, self.eta)
        self.remaining_decrease = 0.5 * float(gradient @ gradient) * self.longest
        if self.previous is not None:
            s = before - self.previous[0]
            y = gradient - self.previous[1]
            sy = float(s @ y)
            ratio = float(s @ s) / sy / self.eta0 if sy > 0 else 1.0
            ratio = min(max(ratio, 1.0), self.MAX_RATIO)
            # Round to a grid of 2^(1/4): rounding noise in s and y then
            # (almost) never changes the step, so fits that differ only by
            # rounding (rows repeated instead of weighted, another row
            # order) follow the same path instead of drifting apart.
            self.eta = self.eta0 * 2.0 ** (round(4.0 * math.log2(ratio)) / 4.0)
        self.previous = (before, gradient)
        return None

    def base_for_epoch(self, epoch):
        return self.eta

    def stalled(self, tol):
        """Whether the last epoch counts towards stopping."""
        return self.remaining_decrease <= tol
