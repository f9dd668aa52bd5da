"""Learning-rate schedules.

Inside an epoch the step size is a pure function of the update count ``t``
(:func:`step_size`, compiled into the kernels). Between epochs the Python
driver may change the base step (the ``"adaptive"`` and ``"exponential"``
schedules); :class:`EpochSchedule` holds that rule.
"""

import math

from numba import njit

# Codes of the within-epoch rule.
CONSTANT = 0  # eta = base
INVSCALING = 1  # eta = base / t ** power_t
OPTIMAL = 2  # eta = 1 / (alpha * (t0 + t - 1))

SCHEDULES = ("constant", "invscaling", "optimal", "adaptive", "exponential")

# The ``"adaptive"`` rule divides the step by this factor when the objective
# stalls and stops once the step falls below MIN_ADAPTIVE_ETA (scikit-learn's
# values).
ADAPTIVE_DIVISOR = 5.0
MIN_ADAPTIVE_ETA = 1e-6


@njit(cache=True, nogil=True, inline="always")
def step_size(code, base, t, power_t, alpha, t0):
    """Step size of update number ``t`` (counted from 1)."""
    if code == INVSCALING:
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
    """

    def __init__(self, name, eta0, decay_rate):
        self.name = name
        self.eta0 = eta0
        self.decay_rate = decay_rate
        self.code = {"invscaling": INVSCALING, "optimal": OPTIMAL}.get(name, CONSTANT)
        self.eta = eta0  # current base step of the adaptive schedule

    def base_for_epoch(self, epoch):
        """Base step for epoch number ``epoch`` (counted from 0 over the fit)."""
        if self.name == "exponential":
            return self.eta0 * self.decay_rate**epoch
        if self.name == "adaptive":
            return self.eta
        return self.eta0

    def on_stall(self):
        """Called when the objective stalled; return True to stop the fit.

        The adaptive schedule divides its step and goes on while the step is
        above :data:`MIN_ADAPTIVE_ETA`; every other schedule stops.
        """
        if self.name == "adaptive" and self.eta > MIN_ADAPTIVE_ETA:
            self.eta /= ADAPTIVE_DIVISOR
            return False
        return True
