"""The end of an "auto" stochastic or mini-batch fit: the best point of a small subspace.

A stochastic or mini-batch fit stops where its steps' noise, or a slow
descent that its stopping rule reads as a stall, leaves it. Its last point
is then off the optimum along a few directions that one exact search finds
cheaply: the gradient (the noise of the last steps lies mostly along the
directions of high curvature, which the gradient points to) and the
weights' own scale (near-separable classes, whose optimum lies far out
along the weights, are approached ever more slowly).

:func:`polish` minimises the objective exactly over the plane
``(1 + s) W + t D``, ``b + t d + c`` of each output, with ``D, d`` the
objective's negative gradient at the published weights ``W, b`` (in the
kernels' preconditioned coordinates, where the gradient is well scaled), by
Newton's method on the three numbers ``(s, t, c)``. Three products of the
rows (the scores of ``W``, the gradient there, the scores of ``D``) give
every score of the plane, so each Newton step costs a pass over the scores,
not over the data. The point is taken only where it lowers the objective,
which is the fit's own (the same losses, row weights and penalty), in
float64: the fit ends nearer its optimum. (Weights of float32 data are then
stored in float32, as every fit's are; against columns of large offsets
that rounding moves the objective more than the search does.)

On weighted data (``benchmarks/weighted.py``, log loss) the median objective
of a stochastic fit went from 1.34 to 1.07 times its optimum's; with
``class_weight={0: 100}`` on the standardised breast cancer data the
mini-batch fit's test accuracy went from 0.811 to 0.909 (the optimum's:
0.930); on the corpus of ``benchmarks/corpus.py`` the two stochastic Adam
fits more than 0.01 below the optimum's test score without a warning (iris)
reached it. The figures and the cost are in DESIGN.md ("Preconditioning and
stopping").

Where the steps leave such gaps: where the rows weigh differently (sample
or class weights: the heavy rows' steps set the noise), and with the
per-coordinate steps of AdaGrad, RMSProp and Adam (whose descent slows to a
crawl that the stopping rule reads as a stall). Plain, momentum and
Nesterov steps on rows of one weight end within a few 1e-3 of the optimum's
objective (the corpus's median: 2.8e-3, every fit within 0.01 of its test
score), and the search would add 5-20% to their time for no better score.
Not with ``tol=None``, where the caller chose the number of epochs: such a
fit is those epochs, as ``k`` calls of ``partial_fit`` are (and neither
searches). Not for the kinked losses (hinge, perceptron, epsilon-insensitive),
which have no Newton step, nor under an l1 penalty (the plane would leave
the zeros its steps found), nor for the multinomial loss (its outputs are
not independent), nor on the chunks of a dask array.
"""

import numpy as np
import scipy.sparse as sp

from ._losses import (
    HUBER,
    LOG_LOSS,
    MODIFIED_HUBER,
    MULTINOMIAL,
    NONSMOOTH_LOSSES,
    SQUARED_EPSILON_INSENSITIVE,
    SQUARED_ERROR,
    SQUARED_HINGE,
)
from ._optimizers import ADAPTIVE_OPTIMIZERS
from ._precondition import significant_bits_of
from ._steps import BLOCK_ROWS, BLOCK_VALUES, row_scores
from ._stopping import _per_column

# Newton steps on (s, t, c), each a few passes over the scores.
NEWTON_STEPS = 30
# Halvings of a Newton step before its output gives up (the step that
# rounding leaves no room for).
HALVINGS = 40
# Newton stops where the decrease it predicts is below this share of the objective.
RELATIVE_DECREASE = 1e-12


def applies(est, problem, partial, validating):
    """Whether the end of this call searches the plane (see the module docstring)."""
    return (not partial and not validating and est.learning_rate == "auto" and est.tol is not None
            and est.solver in ("stochastic", "minibatch")
            and problem.loss_code not in NONSMOOTH_LOSSES and problem.loss_code != MULTINOMIAL
            and not float(problem.l1.max()) > 0 and not problem.chunked
            and (est.optimizer in ADAPTIVE_OPTIMIZERS or rows_weigh_differently(problem)))


def rows_weigh_differently(problem):
    """Whether some output's rows weigh differently: sample weights that differ, or
    an output whose class weighs other than the rest (one-vs-rest ``class_weight={0:
    0.5}`` weighs class 0's rows 0.5 against 1 in output 0)."""
    return bool(np.ptp(problem.sample_weight[problem.train]) > 0
                or (problem.labels.size and np.any(problem.pos_weight != problem.neg_weight)))


def loss_terms(code, z, y, epsilon):
    """Each row's loss at scores ``z``, and its first and second derivative in ``z``.

    ``y``: the targets (``-1`` or ``+1`` for the classification losses),
    of ``z``'s shape. The smooth losses only; where a derivative jumps
    (Huber's at ``epsilon``) either side's value serves Newton's method.
    """
    if code in (SQUARED_ERROR, HUBER):
        r = z - y
        if code == SQUARED_ERROR:
            return 0.5 * r * r, r, 1.0
        inside = np.abs(r) <= epsilon
        loss = np.where(inside, 0.5 * r * r, epsilon * np.abs(r) - 0.5 * epsilon * epsilon)
        return loss, np.clip(r, -epsilon, epsilon), inside.astype(np.float64)
    if code == SQUARED_EPSILON_INSENSITIVE:
        r = z - y
        excess = np.maximum(np.abs(r) - epsilon, 0.0)
        return excess * excess, 2.0 * excess * np.sign(r), 2.0 * (excess > 0)
    m = y * z
    if code == LOG_LOSS:
        tail = 0.5 * (1.0 - np.tanh(0.5 * m))  # expit(-m), without overflow
        return np.logaddexp(0.0, -m), -y * tail, tail * (1.0 - tail)
    if code == SQUARED_HINGE:
        gap = np.maximum(1.0 - m, 0.0)
        return gap * gap, -2.0 * y * gap, 2.0 * (gap > 0)
    if code == MODIFIED_HUBER:
        gap = np.maximum(1.0 - m, 0.0)
        linear = m < -1.0
        loss = np.where(linear, -4.0 * m, gap * gap)
        slope = np.where(linear, -4.0 * y, -2.0 * y * gap)
        return loss, slope, np.where(linear, 0.0, 2.0 * (gap > 0))
    raise ValueError(f"no Newton step for loss code {code}")


def _targets_and_weights(problem, rows, outputs):
    """The targets and row weights of ``outputs``, each ``(len(rows), len(outputs))``,
    as the kernels read them (a row weighs its sample weight times its class's weight)."""
    weight = problem.sample_weight[rows].astype(np.float64)[:, None]
    if not problem.labels.size:
        return problem.Y[rows][:, outputs].astype(np.float64), np.repeat(weight, len(outputs), 1)
    hit = problem.labels[rows][:, None] == outputs[None, :]
    return (np.where(hit, 1.0, -1.0),
            weight * np.where(hit, problem.pos_weight[outputs], problem.neg_weight[outputs]))


def polish(problem, W, b):
    """The best point of each output's plane through ``W, b`` (see the module docstring).

    ``W, b``: weights in the kernels' coordinates. Returns ``(W, b)`` in
    float64, the outputs that the search could not improve as they were,
    each output's objective before and after, and the norm of the
    objective's gradient at ``W, b`` (as :func:`~skgd._stopping.stationarity`
    reads it, to 24 bits). Three products of the training rows: the scores,
    the gradient, and the direction's scores.
    """
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    X = problem.X  # (all rows: only early stopping holds some out, and then no search)
    n_outputs = W.shape[0]
    block = max(1, BLOCK_VALUES // max(X.shape[0], 1))
    new_W, new_b = W.copy(), b.copy()
    before, after = np.zeros(n_outputs), np.zeros(n_outputs)
    squares = 0.0  # (of the gradient)
    for start in range(0, n_outputs, block):
        outputs = np.arange(start, min(start + block, n_outputs))
        Y, C = _targets_and_weights(problem, problem.train, outputs)
        Wk, bk = W[outputs], b[outputs]
        Z = row_scores(problem, Wk, bk, problem.train)
        D, d = _descent(problem, X, Z, Y, C, Wk)
        squares += float(np.sum(D * D) + np.sum(d * d))
        plane = _Plane(problem, Y, C, Z, Z - bk, row_scores(problem, D, d, problem.train),
                       _penalty_terms(problem, Wk, D))
        (s, t, c), f0, f1 = plane.minimise()
        better = f1 < f0
        new_W[outputs] = np.where(better[:, None], (1.0 + s)[:, None] * Wk + t[:, None] * D, Wk)
        new_b[outputs] = np.where(better, bk + t * d + c, bk)
        before[outputs], after[outputs] = f0, np.where(better, f1, f0)
    return new_W, new_b, before, after, np.sqrt(squares)


def _transposed_product(X, R):
    """``X' R`` in float64, ``(n_columns, n_outputs)``."""
    if sp.issparse(X) or X.dtype == np.float64:
        return np.asarray(X.T @ R, dtype=np.float64)
    # (Dense float32 rows in float64 a block at a time: a float64 copy of all of
    # them would double the data's memory.)
    out = np.zeros((X.shape[1], R.shape[1]))
    for start in range(0, X.shape[0], BLOCK_ROWS):
        out += X[start:start + BLOCK_ROWS].astype(np.float64).T @ R[start:start + BLOCK_ROWS]
    return out


def _descent(problem, X, Z, Y, C, W):
    """The objective's negative gradient ``(D, d)`` in the kernels' coordinates, at
    the weights ``W`` whose scores are ``Z``, rounded to
    :data:`~skgd._precondition.BITS` significant bits: the published weights
    are ``(1 + s) W + t D``, and BLAS's sums may end in other bits from one
    run to the next (with the alignment of a new array)."""
    R = C * loss_terms(problem.loss_code, Z, Y, problem.epsilon)[1] / max(Z.shape[0], 1)
    p = problem.preconditioner
    G = _transposed_product(X, R).T  # (outputs, columns), in the original coordinates
    sums = R.sum(axis=0)
    if p.center.size:  # (x~ = (x - center) scale)
        G -= sums[:, None] * p.center
    G *= p.column_scale()
    D = -(G + _per_column(problem.l2, problem) * W)
    d = -sums if problem.fit_intercept else np.zeros(W.shape[0])
    return significant_bits_of(D), significant_bits_of(d)


def _penalty_terms(problem, W, D):
    """``(W l2 W, W l2 D, D l2 D)`` per output: the penalty on the plane is
    ``0.5 ((1 + s)^2 ww + 2 (1 + s) t wd + t^2 dd)``."""
    l2 = np.broadcast_to(_per_column(problem.l2, problem), W.shape[1])
    return (np.einsum("kj,kj,j->k", W, W, l2), np.einsum("kj,kj,j->k", W, D, l2),
            np.einsum("kj,kj,j->k", D, D, l2))


class _Plane:
    """The objective of a block of outputs on their planes, as a function of ``(s, t, c)``.

    ``theta`` is ``(3, n_outputs)``; the scores are ``Z + s ZW + t ZD + c``.
    """

    def __init__(self, problem, Y, C, Z, ZW, ZD, penalty):
        self.code, self.epsilon = problem.loss_code, problem.epsilon
        self.fit_intercept = problem.fit_intercept
        self.Y, self.Z, self.ZW, self.ZD = Y, Z, ZW, ZD
        self.C = C / max(Y.shape[0], 1)  # (each row's share of the mean)
        self.ww, self.wd, self.dd = penalty

    def terms(self, theta, derivatives=True):
        """The objective at ``theta``, and its gradient ``(3, k)`` and Hessian
        ``(3, 3, k)`` with ``derivatives`` (else None, None)."""
        s, t, c = theta
        Z = self.Z + s * self.ZW + t * self.ZD + c
        loss, d1, d2 = loss_terms(self.code, Z, self.Y, self.epsilon)
        f = (np.einsum("ik,ik->k", self.C, loss)
             + 0.5 * ((1 + s) ** 2 * self.ww + 2 * (1 + s) * t * self.wd + t * t * self.dd))
        if not derivatives:
            return f, None, None
        d1, d2 = self.C * d1, self.C * d2
        g = np.array([np.einsum("ik,ik->k", d1, self.ZW), np.einsum("ik,ik->k", d1, self.ZD),
                      d1.sum(axis=0)])
        g[0] += (1 + s) * self.ww + t * self.wd
        g[1] += (1 + s) * self.wd + t * self.dd
        u = d2 * self.ZW
        v = d2 * self.ZD
        H = np.empty((3, 3, f.shape[0]))
        H[0, 0] = np.einsum("ik,ik->k", u, self.ZW) + self.ww
        H[0, 1] = H[1, 0] = np.einsum("ik,ik->k", u, self.ZD) + self.wd
        H[1, 1] = np.einsum("ik,ik->k", v, self.ZD) + self.dd
        H[0, 2] = H[2, 0] = u.sum(axis=0)
        H[1, 2] = H[2, 1] = v.sum(axis=0)
        H[2, 2] = d2.sum(axis=0)
        if not self.fit_intercept:  # (c stays 0)
            g[2] = 0.0
            H[2, :] = H[:, 2] = 0.0
        return f, g, H

    def minimise(self):
        """``(theta, f(0), f(theta))``: damped Newton steps from 0, with halvings
        until the objective falls (Armijo), per output; ``theta`` rounded to
        :data:`~skgd._precondition.BITS` significant bits, so that the
        result does not depend on how BLAS splits the products' sums."""
        k = self.Z.shape[1]
        with np.errstate(all="ignore"):
            theta = np.zeros((3, k))
            f0, g, H = self.terms(theta)
            f = f0
            active = np.isfinite(f0)
            for _ in range(NEWTON_STEPS):
                step = _newton_steps(g, H)
                predicted = -np.einsum("ik,ik->k", g, step)
                active &= np.isfinite(predicted) & (predicted > RELATIVE_DECREASE * np.abs(f))
                fraction = np.ones(k)
                pending = active.copy()  # (the outputs whose step has not yet lowered f)
                for _ in range(HALVINGS):
                    if not pending.any():
                        break
                    trial = theta + fraction * step
                    value, g_trial, H_trial = self.terms(trial)
                    accepted = pending & (value <= f - 1e-4 * fraction * predicted)
                    theta = np.where(accepted, trial, theta)
                    f = np.where(accepted, value, f)
                    g = np.where(accepted, g_trial, g)
                    H = np.where(accepted, H_trial, H)
                    pending &= ~accepted
                    fraction = np.where(pending, 0.5 * fraction, fraction)
                active &= ~pending & np.isfinite(theta).all(axis=0)
                if not active.any():
                    break
            theta = significant_bits_of(np.where(np.isfinite(theta), theta, 0.0))
            final = self.terms(theta, derivatives=False)[0]
        return theta, f0, np.where(np.isfinite(final), final, np.inf)


def _newton_steps(g, H):
    """Each output's Newton step ``-H^-1 g`` (``g``: ``(3, k)``, ``H``: ``(3, 3, k)``),
    damped where ``H`` is (nearly) singular; the gradient step where that is no descent."""
    H = np.moveaxis(H, 2, 0).copy()
    g = g.T
    scale = np.maximum(np.abs(np.diagonal(H, axis1=1, axis2=2)).max(axis=1), np.finfo(float).tiny)
    H += (1e-12 * scale)[:, None, None] * np.eye(3)
    unit = np.diagonal(H, axis1=1, axis2=2) == 0  # (no curvature at all: c without an intercept)
    H[:, np.arange(3), np.arange(3)] += unit
    try:
        step = -np.linalg.solve(H, g[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        step = np.full_like(g, np.nan)
    descent = np.isfinite(step).all(axis=1) & (np.einsum("ki,ki->k", g, step) < 0)
    fallback = -g / scale[:, None]
    return np.where(descent[:, None], step, fallback).T
