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


# The epochs of "auto"'s shortened hinge steps in a fit, or in a partial_fit
# sequence's calls of the first call's size (EpochSchedule.scaled_until):
# switched after 20, the standardised breast cancer fit (all 569 rows) with
# tol=None ended 1.53 times above the optimum's objective after 20 epochs,
# 1.20 after 200 and 1.03 after 2,000 (scikit-learn's steps: 8.1, 1.49,
# 1.04); a TF-IDF text's default fit stops within them (21 epochs).
SCALED_EPOCHS = 20


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
        self.shrinks = 0  # how often the adaptive schedule has shrunk it
        # The log loss's mini-batch step or "optimal" cap under "auto", re-read
        # as the fit goes (skgd._steps.LocalCurvature), or None.
        self.curvature = None
        self.minimum = (np.inf, None)  # (objective, weights) of the best point remembered
        # "auto"'s hinge: the factor its first "optimal" steps are shortened
        # by (skgd._steps.hinge_norm_scale), 1 for every other schedule.
        self.norm_scale = 1.0

    def remember(self, objective, weights):
        """Note the objective at ``weights`` (a copy), which a fit may end at if it is the lowest.

        The batch solver's subgradient steps on a kinked loss zigzag above
        the optimum rather than settle: epsilon-insensitive steps published
        a last point 2.5% above a linear program's optimum after passing
        within 0.18% of it (a fuzzing helper's case).
        """
        if objective < self.minimum[0]:
            self.minimum = (objective, weights)

    @property
    def best(self):
        """``(objective, weights)`` of the best point remembered (where a fit may end)."""
        return self.minimum

    def base_for_epoch(self, epoch):
        """Base step for epoch number ``epoch`` (counted from 0 over the fit)."""
        if self.name == "exponential":
            return self.eta0 * self.decay_rate**epoch
        if self.name == "adaptive":
            return self.eta
        return self.eta0

    def scaled_until(self, alpha, t0, t, n_rows):
        """The update at which the shortened ``"optimal"`` steps end
        (:meth:`optimal_terms`), for a first call at update ``t`` of
        ``n_rows`` steps an epoch.

        After :data:`SCALED_EPOCHS` epochs, unless scikit-learn's own steps
        ``1 / (alpha (t0 + t))`` fall to ``1 / r`` (:attr:`norm_scale`),
        where they move a mean row's score by about its derivative, within
        them: then where the shortened steps fall to that size, ``t0 + t =
        1 / alpha``, and the tail follows at about that size until
        scikit-learn's reach it. Otherwise a large alpha kept steps far
        shorter than scikit-learn's for hundreds of epochs: standardised
        breast cancer, alpha=0.1, default fit 1.06 to 1.12 times the
        optimum's objective, against 1.001 to 1.003 with scikit-learn's
        steps and 1.002 to 1.004 now (a review helper's case).
        """
        alpha = alpha / self.damping
        until = t + SCALED_EPOCHS * n_rows
        if self.norm_scale / alpha - t0 <= until:
            until = max(int(1.0 / alpha - t0), t)
        return until

    def optimal_terms(self, alpha, t0, t, scaled_until):
        """``(alpha, t0)`` of the ``"optimal"`` steps ``1 / (alpha (t0 + t))``
        of the epoch starting at update ``t``.

        ``alpha`` is divided by :attr:`damping`. With a :attr:`norm_scale`
        ``r`` above 1, the steps before update ``scaled_until``
        (:meth:`scaled_until`) are ``r`` times shorter, and the later ones
        decay as scikit-learn's from where those end: ``t0`` becomes ``r (t0
        + u) - u`` (``u = scaled_until``), so that the step does not jump and
        falls as ``1 / (alpha t)`` behind it. Shortened for good, the tail
        ``1 / (r alpha t)`` converged slowly: the hinge fit of the
        standardised breast cancer data (all 569 rows) with ``tol=None``
        ended 1.165 times above the optimum's objective after 2,000 epochs,
        against 1.04 with scikit-learn's steps and 1.03 now.
        """
        alpha = alpha / self.damping
        if self.norm_scale == 1.0 or scaled_until is None:
            return alpha, t0
        if t < scaled_until:
            return alpha * self.norm_scale, t0
        return alpha, self.norm_scale * (t0 + scaled_until) - scaled_until

    @property
    def kept_step(self):
        """The step that later ``partial_fit`` calls of this sequence keep unless
        their rows need a shorter one (:func:`skgd._steps.resolve_schedule`'s
        ``first``): ``eta0``, as the call ended with it."""
        return self.eta0

    def can_shrink(self, relative=False):
        """Whether a stall shrinks the step (the adaptive schedule above its floor) or stops.

        The adaptive schedule divides its step by :data:`ADAPTIVE_DIVISOR`
        while the step is above :data:`MIN_ADAPTIVE_ETA`, as in scikit-learn,
        or, ``relative``, above that share of ``eta0`` (the batch solver's:
        under "auto" eta0 is in the units of y); every other schedule stops.
        """
        floor = MIN_ADAPTIVE_ETA * (self.eta0 if relative else 1.0)
        return self.name == "adaptive" and self.eta > floor

    def shrink(self):
        self.eta /= ADAPTIVE_DIVISOR
        self.shrinks += 1


def _quarter_power_of_two(x):
    """``x`` rounded to a power of ``2 ** (1 / 4)``: rounding noise (almost) never changes it."""
    return 2.0 ** (round(4.0 * math.log2(x)) / 4.0)


class BarzilaiBorweinSchedule(EpochSchedule):
    """Barzilai-Borwein steps with a non-monotone line search, for the batch solver.

    Each epoch computes the objective and the gradient at the weights it
    starts from and steps from there; the driver then reports the weights
    before and after (:meth:`observe`), and the gradient (mapping, with an
    l1 part) is recovered as ``(before - after) / eta``. A point is accepted
    when its objective is below the highest of the last ``memory`` accepted
    ones by at least ``GAMMA |w - w_a|^2 / eta`` (``w_a`` the point it was
    stepped from): the Grippo-Lampariello-Lucidi (1986) condition, which
    lets the objective rise now and then, as Barzilai-Borwein steps need,
    and still guarantees convergence on smooth convex objectives. Otherwise
    the weights go back to ``w_a`` and the step is halved until a point is
    accepted, so that a fit cannot diverge (the halving goes below the
    estimated ``1 / L`` if need be). After an accepted point ``w`` with
    gradient ``g``, the next step is ``s's / s'y`` (``s = w - w_a``,
    ``y = g - g_a``), clipped to ``[eta0, MAX_RATIO eta0]`` and rounded to
    powers of ``2 ** (1 / 4)``, so that rounding noise in ``s`` and ``y``
    (almost) never changes the step and fits that differ only by rounding
    (rows repeated instead of weighted, another row order) follow the same
    path.

    Parameters
    ----------
    eta0 : float
        The step ``1 / L``, the first one and the shortest BB step.
    memory : int, default=10
        Accepted objectives the line search compares with.
    """

    MAX_RATIO = 1e4
    GAMMA = 1e-4
    # A trial this much shorter than 1 / L moves the objective by rounding
    # alone: it is accepted whatever its objective's last bits say.
    ROUNDING_STEP = 2.0**-40
    needs_gradient = False  # (observe recovers the gradient mapping from the step)

    def __init__(self, eta0, memory=10):
        super().__init__("barzilai-borwein", eta0, 1.0)
        self.memory = memory
        self.accepted = []  # objectives of the accepted points
        self.anchor = None  # (weights, gradient) of the last accepted point
        self.anchor_eta = eta0  # the step taken from the anchor
        self.returning = False  # the next epoch starts at the anchor again

    def observe(self, before, after, eta, objective, gradient=None):
        """Take the epoch that moved ``before`` (objective ``objective``) to ``after``.

        Returns ``(accepted, weights)``: whether ``before`` is accepted, and
        the weights to go back to when it is not (else None: the epoch's
        step stands). ``gradient`` (the objective's at ``before``) is not
        used: with an l1 part the step's gradient mapping is the one to take.
        """
        if self.returning:  # back at the anchor, stepping with the shorter step
            self.returning = False
            self.anchor_eta = eta
            return True, None
        if self.anchor is not None:
            w_a, g_a = self.anchor
            decrease = self.GAMMA * float(np.sum((before - w_a) ** 2)) / self.anchor_eta
            reference = max(self.accepted[-self.memory:])
            # (At the optimum, where every point's objective is the same up
            # to rounding, a trial a bit above the reference was halved
            # without end: the step underflowed to 0 and the next test
            # divided by it.)
            rounding = self.anchor_eta <= self.ROUNDING_STEP * self.eta0
            if not (math.isfinite(objective) and (objective <= reference - decrease or rounding)):
                self.eta = self.anchor_eta / 2.0
                self.returning = True
                return False, w_a
        gradient = (before - after) / eta
        self.accepted.append(objective)
        self.remember(objective, before)
        if self.anchor is not None:
            w_a, g_a = self.anchor
            s, y = before - w_a, gradient - g_a
            sy = float(s @ y)
            ratio = float(s @ s) / sy / self.eta0 if sy > 0 else 1.0
            ratio = min(max(ratio, 1.0), self.MAX_RATIO)
            self.eta = self.eta0 * _quarter_power_of_two(ratio)
        self.anchor = (before, gradient)
        self.anchor_eta = eta
        return True, None

    def base_for_epoch(self, epoch):
        return self.eta


@jit()
def dot(a, b):
    """``a'b`` of two 1-D arrays, on this thread.

    Not numpy's: OpenBLAS threads its dot products above 10,000 elements,
    and where the cores are busy (another fit, cross-validation's workers)
    each one waits for a sleeping thread. L-BFGS's 40-odd dot products an
    epoch took 340 ms on 4,000 x 10,000 text with 5 classes under load,
    against 11 ms with one BLAS thread.
    """
    total = 0.0
    for i in range(a.size):
        total += a[i] * b[i]
    return total


@jit()
def _two_loop(S, Y, rho, order, gradient, h0):
    """``-H gradient`` by the two-loop recursion over the pairs ``order`` (oldest first),
    from the diagonal ``h0``."""
    q = gradient.copy()
    alphas = np.empty(order.size)
    for k in range(order.size - 1, -1, -1):
        i = order[k]
        alphas[k] = rho[i] * dot(S[i], q)
        q -= alphas[k] * Y[i]
    q *= h0
    for k in range(order.size):
        i = order[k]
        q += (alphas[k] - rho[i] * dot(Y[i], q)) * S[i]
    return -q


class LbfgsSchedule(EpochSchedule):
    """Limited-memory BFGS directions with a backtracking line search, for the batch solver.

    For smooth objectives without an l1 part. Each epoch computes the
    objective and its gradient at the weights it starts from (the kernel's
    own gradient step from there is not kept); :meth:`observe` then accepts
    or rejects that point and says where the next epoch starts. From an
    accepted point ``w`` with gradient ``g`` the direction is ``d = -H g``,
    ``H`` the inverse curvature of the last ``memory`` pairs ``s = w - w_a``,
    ``y = g - g_a`` (the two-loop recursion; Nocedal and Wright, 2006,
    algorithm 7.4), from the diagonal ``1 / (1 / gamma + l2_j)``: the l2
    part's curvature, known per coordinate, plus the loss's, ``gamma`` from
    the newest pair without the l2 part (``s'u / u'u``, ``u = y - l2 s``,
    rounded to a power of ``2 ** (1 / 4)``). In the preconditioned
    coordinates of raw columns the l2 strengths spread over many decades (a
    column of spread 1e-3 weighs 1e6 alpha), and the usual scalar ``s'y /
    y'y`` took the stiffest one's step for every coordinate: raw breast
    cancer (log loss) took 1,307 epochs to the certificate, standardised
    54. The first direction is ``-eta0 g``. The
    point ``w + t d`` is accepted when its objective is at most ``f(w) +
    ARMIJO t g'd`` (Armijo's condition); otherwise ``t`` is halved, from the
    same ``w``, so that a fit cannot diverge. On text data of 20,000 x 2^15
    (log loss), 11 epochs to the default certificate where
    Barzilai-Borwein steps take 16 (66 against 803 before the batch
    solver centred CSR columns and scaled them by their spread over all
    rows: the pairs learn the curvature that the diagonal scaling leaves).

    Parameters
    ----------
    eta0 : float
        The step of the first direction (a gradient step), ``1 / L``.
    l2 : ndarray
        The l2 part's strength of each coordinate, flat as the weights (0
        for the intercepts).
    memory : int, default=10
        Pairs ``(s, y)`` kept.
    first_step : callable, optional
        Instead of ``eta0``, the first direction's step from the gradient
        at the first point, and the plain step that it implies
        (:func:`skgd._steps.cauchy_step`); they become ``eta0`` and
        :attr:`kept_step`.
    """

    ARMIJO = 1e-4
    ROUNDING = 1e-12  # relative changes of an objective that rounding can explain
    needs_gradient = True

    def __init__(self, eta0, l2, memory=10, first_step=None):
        super().__init__("l-bfgs", eta0, 1.0)
        self.l2 = l2
        self.memory = memory
        self.first_step = first_step
        self._plain_step = eta0
        # The pairs, in rows of S and Y (a ring: the newest in row
        # (stored - 1) % memory), and 1 / s'y of each.
        self._S = self._Y = None
        self._rho = np.empty(memory)
        self._stored = 0  # pairs stored so far (the last `memory` are kept)
        self._h0 = None  # the diagonal the recursion starts from
        self.anchor = None  # (weights, gradient, objective, direction) of the last accepted point
        self.t = 1.0  # the line search's step along the direction
        # For the certificate's estimate of the excess (_stopping.estimated_excess):
        # the longer of g'Hg / g'g at the last accepted point (the gradient
        # step of the curvature model) and s's / s'y of the newest pair (the
        # inverse curvature along the last move). H alone had not met the
        # flattest curvature of weakly penalised log-loss problems: the
        # estimate was 10-15 times low, and default fits ended up to 1.7e-3
        # above the optimum (the corpus's digits), now at most 6.5e-5.
        self.step_along_gradient = eta0
        self.pair_step = 0.0  # s's / s'y of the newest pair

    def observe(self, before, after, eta, objective, gradient=None):
        """Take the epoch that started at ``before`` (objective ``objective``, gradient ``gradient``).

        Returns ``(accepted, weights)``: whether ``before`` is accepted, and
        where the next epoch starts (``after``, the kernel's step, is not used).
        """
        if self.anchor is not None:
            w_a, g_a, f_a, d = self.anchor
            armijo = objective <= f_a + self.ARMIJO * self.t * dot(g_a, d)
            # Near the optimum the objective's changes fall below its
            # rounding, and Armijo's test, then a coin toss, halved the step
            # without end (a gradient 3.6e-10 of its start after 100,000
            # epochs where tol asked for 1e-13): there the gradient judges.
            rounding = (objective <= f_a + self.ROUNDING * abs(f_a)
                        and dot(gradient, gradient) < dot(g_a, g_a))
            if not (math.isfinite(objective) and (armijo or rounding)):
                self.t /= 2.0
                return False, w_a + self.t * d
            self._remember(before - w_a, gradient - g_a)
        elif self.first_step is not None:
            self.eta0, self._plain_step = self.first_step(gradient)
        d = self._direction(gradient)
        if not dot(gradient, d) < 0.0:  # (rounding near the optimum): a gradient step
            self._stored = 0
            d = -self.eta0 * gradient
        self.anchor = (before, gradient, objective, d)
        self.t = 1.0
        self.step_along_gradient = max(-dot(gradient, d) / max(dot(gradient, gradient), 1e-300),
                                       self.pair_step)
        return True, before + d

    @property
    def kept_step(self):
        """The plain gradient step (its l2 part exact) of these rows: ``eta0``
        unless ``first_step`` gave it, where ``eta0`` counts the l2 part."""
        return self._plain_step

    @property
    def best(self):
        """``(objective, weights)`` of the last accepted point, the best (where a fit may end)."""
        return (np.inf, None) if self.anchor is None else (self.anchor[2], self.anchor[0])

    def _remember(self, s, y):
        sy, yy = dot(s, y), dot(y, y)
        # (Convexity gives s'y >= 0; near 0 it is rounding, and the pair
        # would make H singular.)
        if not sy > 1e-12 * math.sqrt(dot(s, s) * yy):
            return
        if self._S is None:
            self._S, self._Y = np.empty((self.memory, s.size)), np.empty((self.memory, s.size))
        row = self._stored % self.memory
        self._S[row], self._Y[row], self._rho[row] = s, y, 1.0 / sy
        self._stored += 1
        self.pair_step = dot(s, s) / sy
        u = y - self.l2 * s  # the loss's part of the change of the gradient
        su, uu = dot(s, u), dot(u, u)
        if su > 0 or self._h0 is None:
            gamma = _quarter_power_of_two(su / uu) if su > 0 else self.eta0
            self._h0 = 1.0 / (1.0 / gamma + self.l2)

    def _direction(self, gradient):
        """``-H gradient``; ``-eta0 gradient`` before the first pair."""
        if self._stored == 0:
            return -self.eta0 * gradient
        count = min(self._stored, self.memory)
        order = np.arange(self._stored - count, self._stored) % self.memory
        return _two_loop(self._S, self._Y, self._rho, order, gradient, self._h0)
