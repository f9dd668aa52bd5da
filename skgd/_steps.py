"""Step sizes: the curvature estimates behind ``learning_rate="auto"``, and the schedule it resolves to.

All estimates are of the objective in the kernels' coordinates
(:mod:`skgd._precondition`): the weighted mean loss over the training rows,
with each row weighing its sample weight times its class weight, plus the
penalty. They are computed in float64 and on rescaled products, so that
float32 data near its range (values of 1e25, whose squares overflow float32)
still gives finite, meaningful steps.
"""

import math

import numpy as np
import scipy.sparse as sp

from ._losses import (
    CURVATURE,
    EPSILON_INSENSITIVE,
    HINGE,
    HUBER,
    LOG_LOSS,
    MODIFIED_HUBER,
    NONSMOOTH_LOSSES,
    UNBOUNDED_GRADIENT_LOSSES,
)
from ._jit import jit
from ._jit import load as jit_load
from ._jit import read_only_view
from ._penalties import split_penalty
from ._precondition import (
    Preconditioner,
    canonical,
    column_nonzeros,
    csr_column_pass,
    significant_bits,
)
from ._schedules import BarzilaiBorweinSchedule, EpochSchedule, LbfgsSchedule, dot
from ._stopping import flat_l2

# Base steps that ``learning_rate="auto"`` gives the adaptive optimizers.
# Their steps are normalised per coordinate, so they move each coefficient by
# about eta per update whatever the gradient's size. A prediction sums ``k``
# terms (``k`` the mean number of non-zero features per row), so moves of
# ``eta`` per coefficient change it by about ``eta sqrt(k)``: the base is
# multiplied by ``scale(y) / sqrt(k)``, with ``scale(y)`` the standard
# deviation of y for regression and 1 for classification. The "adaptive"
# schedule then divides the step when progress stalls. Values tuned on
# standardised dense (6 to 100 features) and sparse (5,000 features, 50 per
# row) regression; Adam's batch base raised from 0.03 to 0.1 after the
# preconditioner came (at 0.03 a 3-class log-loss fit of 300 x 5 stopped at
# 0.85 accuracy, 0.17 of its starting gradient; at 0.1, 0.90 and 0.07).
ADAPTIVE_AUTO_ETA = {
    "adagrad": {"stochastic": 0.3, "minibatch": 1.0, "batch": 1.0},
    "rmsprop": {"stochastic": 0.01, "minibatch": 0.1, "batch": 0.1},
    "adam": {"stochastic": 0.01, "minibatch": 0.1, "batch": 0.1},
}

# Rows per block when a pass over dense data needs float64 temporaries.
BLOCK_ROWS = 4096
# The scores of at most this many (row, output) pairs are held at once where
# every output's score of a row is needed: memory stays O(n + k d) with
# hundreds of classes (test_many_classes_never_build_a_samples_by_classes_array).
BLOCK_VALUES = 1 << 15


# The curvature the mini-batch solver's plain and momentum steps (and the
# batch solver's plain "adaptive" ones, below) take for the hinge loss in a
# fit, which has none (its kink): CURVATURE's 1.0 gave steps 4 times
# shorter. The "adaptive" schedule takes back a step that is too long (a
# stall shrinks it) but not one that is too short: with alpha=1e-4 the
# hinge optimum's weights are large, the short step still lowered the
# objective by about tol an epoch when the stalls stopped the fit, and 13
# of 96 hinge fits of the corpus (breast cancer, iris, heavy tails) ended
# 4% to 240% above the optimum, more than 0.01 below its test accuracy,
# without a warning (benchmarks/corpus.py --loss hinge, 3 seeds). With
# 0.25, the log loss's, none does; with momentum, 8 -> 1. (Steps 8 times
# longer missed 3; the epsilon-insensitive and perceptron losses gained
# nothing from longer steps and keep 1.0.)
HINGE_STEP_CURVATURE = 0.25


def row_weight_bound(problem):
    """Each row's largest weight over the outputs: sample weight times class weight."""
    weight = problem.sample_weight
    if problem.labels.size == 0:
        return weight
    labels = problem.labels
    own = np.where(labels >= 0, problem.pos_weight[np.maximum(labels, 0)], 0.0)
    if problem.n_outputs == 1:
        other = np.where(labels >= 0, 0.0, problem.neg_weight[0])
    else:
        other = problem.neg_weight.max()
    return weight * np.maximum(own, other)


def uniform_row_weight(problem, rows):
    """The weight each of ``rows`` has (sample weight times class weight), where
    they all have the same; else (and on chunks of a dask array) None."""
    if problem.chunked:
        return None
    weight = row_weight_bound(problem)[rows]
    return float(weight[0]) if weight.size and np.ptp(weight) == 0 else None


class WeightDraws:
    """The stochastic solver's rows drawn in proportion to their sample weights.

    Under ``"auto"``, where the training rows' sample weights differ, each
    epoch draws as many rows as there are, each about ``n s_i / sum(s)``
    times (:meth:`order`), and the kernels weigh every row the mean weight
    (``problem``: the call's problem with those weights). Each step's
    gradient is then an unbiased estimate of the same weighted objective, as
    with the weights in the steps, but its size no longer depends on which
    row it is on, and the steps of uniform weights apply (the "optimal"
    ``t0`` of ``alpha / c``, and the caps of the log and modified Huber
    losses: :func:`uniform_row_weight`). With the weights in the steps, 10 rows of
    weight 1e4 among 90 of weight 1 took "optimal" steps 1e4 times too long
    on the heavy rows: the log loss diverged, and the hinge ended at
    coefficients of 1.5e5 without a warning (SGDClassifier at 2.8e5). A row
    of weight 0 is never drawn.

    Class weights stay in the steps (the multinomial loss's are in its
    sample weights): drawn by too, ``class_weight={0: 100}`` on breast
    cancer (that class then 98% of the draws) ended at test accuracies of
    0.66 to 0.85 where the steps' 0.84 to 0.88 are nearer the optimum's 0.83
    to 0.94 (hinge, log and modified Huber losses, raw and standardised).
    """

    def __init__(self, problem, weight):
        self.problem = problem
        self._bounds = np.cumsum(weight)  # row k is drawn for a position in its interval
        self._last = int(np.flatnonzero(weight)[-1])  # (a position rounded up to the end)

    def order(self, rng):
        """One epoch's rows, drawn from ``rng``, in a random order.

        Systematically: ``n`` positions ``1 / n`` of the total weight apart,
        from a random start, so that each row is drawn ``n s_i / sum(s)``
        times rounded up or down, as a permutation draws each row once where
        the weights are equal. Drawn independently instead, 33 of 144
        weighted fits (bundled and synthetic data, three losses) ended more
        than 0.01 below the optimum's test score without a warning, against
        27.
        """
        train = self.problem.train
        total = self._bounds[-1]
        positions = (rng.random() + np.arange(train.size)) * (total / train.size)
        drawn = np.minimum(np.searchsorted(self._bounds, positions, side="right"), self._last)
        return train[rng.permutation(drawn)]


def weight_draws(est, problem):
    """:class:`WeightDraws` for ``est``'s stochastic steps on ``problem``, or None.

    Under ``learning_rate="auto"`` with ``shuffle`` (``shuffle=False`` asks
    for the rows in their order), on in-memory rows whose sample weights differ.
    """
    if (est.learning_rate != "auto" or est.solver != "stochastic" or not est.shuffle
            or problem.chunked):
        return None
    weight = problem.sample_weight[problem.train]
    largest = float(weight.max(initial=0.0))
    if not largest > 0 or np.ptp(weight) == 0:
        return None
    relative = weight / largest  # (weights of 1e300 would overflow their sum)
    mean = largest * float(relative.mean())
    drawn = problem._replace(sample_weight=np.full_like(problem.sample_weight, mean))
    return WeightDraws(drawn, relative)


def column_peaks(X):
    """The largest absolute value of each column, in float64."""
    if sp.issparse(X):
        return csr_column_pass(X, np.zeros(X.shape[0]), sums=False).peak
    peak = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], BLOCK_ROWS):
        peak = np.maximum(peak, np.abs(X[start:start + BLOCK_ROWS]).max(axis=0, initial=0.0))
    return peak


@jit(fastmath=False)
def _csr_row_sq_norms(data, indices, indptr, scale, out):
    """``out[i] = sum_k (data_k scale[indices_k])^2`` over row ``i``'s entries (unsigned
    indices: see :mod:`skgd._precondition`'s CSR passes)."""
    for i in range(np.uint64(indptr.shape[0] - 1)):
        total = 0.0
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            value = np.float64(data[k]) * scale[np.uint64(indices[k])]
            total += value * value
        out[i] = total


def csr_row_sq_norms(X, scale):
    """``sum_j (x_ij s_j)^2`` of every row of CSR ``X``, in float64.

    Compiled: numpy's temporaries and ``reduceat`` took 70 to 300 ms on
    100,000 rows of 100 non-zeros, about an epoch.
    """
    jit_load()
    X = canonical(X)
    out = np.empty(X.shape[0])
    # (Read-only, as a preconditioner's column_scale is: one compiled signature.)
    _csr_row_sq_norms(X.data, X.indices, X.indptr,
                      read_only_view(np.ascontiguousarray(scale, np.float64)), out)
    return out


def largest_sq_row_norm(X):
    """The largest squared norm of a row of ``X`` (0 without rows), in float64."""
    if sp.issparse(X):
        norms = csr_row_sq_norms(X, np.ones(X.shape[1]))
    else:
        norms = row_sq_norms(X, None)
    return float(norms.max()) if norms.size else 0.0


def row_sq_norms(X, preconditioner):
    """``|x~_i|^2`` of every row in the kernels' coordinates (of ``X``'s
    own with no ``preconditioner``), in float64."""
    if preconditioner is None:
        preconditioner = Preconditioner.identity(X.shape[1])
    scale = preconditioner.column_scale()
    center = preconditioner.center
    if sp.issparse(X):
        norms = csr_row_sq_norms(X, scale)
        if center.size:
            # |s (x - c)|^2 = |s x|^2 - 2 x . (s^2 c) + |s c|^2 (the batch
            # solver's CSR centre; 0 when rounding takes it below).
            sc = scale * center
            norms += float(sc @ sc) - 2.0 * np.asarray(X @ (scale * sc)).ravel()
            np.maximum(norms, 0.0, out=norms)
        return norms
    jit_load()
    out = np.empty(X.shape[0])
    _dense_row_sq_norms(read_only_view(np.ascontiguousarray(X)),
                        read_only_view(np.ascontiguousarray(center, np.float64) if center.size
                                       else np.zeros(X.shape[1])),
                        read_only_view(np.ascontiguousarray(scale, np.float64)), out)
    return out


@jit()
def _dense_row_sq_norms(X, center, scale, out):
    """``out[i] = sum_j ((x_ij - center_j) scale_j)^2`` for every row ``i`` of dense ``X``.

    Compiled, one pass: numpy's blocks (centred, scaled, then ``einsum``)
    took 0.9 ms on 5,000 x 50 rows, most of a one-epoch fit's step choice.
    """
    for i in range(X.shape[0]):
        total = 0.0
        for j in range(X.shape[1]):
            value = (np.float64(X[i, j]) - center[j]) * scale[j]
            total += value * value
        out[i] = total


def max_row_curvature(problem, rows):
    """``max_i s_i (|x~_i|^2 + 1)`` over ``rows``: the largest single-row Lipschitz factor."""
    if problem.chunked:
        return significant_bits(problem.max_row_curvature())
    norms = row_sq_norms(problem.X, problem.preconditioner)[rows] + problem.fit_intercept
    return significant_bits(float((row_weight_bound(problem)[rows] * norms).max()))


def row_norm_sums(problem, rows):
    """``(sum_i w_i (|x~_i|^2 + 1), sum_i w_i)`` over ``rows`` (the 1 with an intercept),
    ``w_i`` the sample weights."""
    norms = row_sq_norms(problem.X, problem.preconditioner)[rows] + problem.fit_intercept
    weight = problem.sample_weight[rows]
    return float(weight @ norms), float(weight.sum())


def mean_row_sq_norm(problem, rows):
    """The weighted mean of ``|x~_i|^2 + 1`` over ``rows`` (:func:`row_norm_sums`)."""
    total, weight = problem.row_norm_sums() if problem.chunked else row_norm_sums(problem, rows)
    return significant_bits(total / weight) if weight > 0 and total > 0 else 1.0


# The power iteration's tolerance for the L-BFGS schedule's first step.
LBFGS_RTOL = 0.1

# The most outputs whose L-BFGS fit reads its first step from the gradient
# (cauchy_step, a product of the rows with each output's gradient: its
# scores of every row) instead of the power iteration's 1 / L.
CAUCHY_OUTPUTS = 4


def lipschitz_constant(problem, rows, n_iter=30, rtol=1e-2, curvature=None, start=None,
                       return_vector=False):
    """Largest eigenvalue of ``X~' S X~ / n`` over ``rows``, by power iteration.

    ``X~`` is the data in the kernels' coordinates, with a column of ones
    when the intercept is fitted; ``S`` holds the rows' weights and ``n`` is
    the number of rows. The start vector is drawn from a fixed seed, so the
    estimate is deterministic and does not depend on the order or the
    repetition of rows. A step needs only the eigenvalue's size, not its
    vector: the iteration stops once the estimate changes by less than
    ``rtol`` (on data sets tried here, 2 to 8 iterations, within 10% of the
    exact value and below it, so 1 / L stays a stable step; with the
    L-BFGS fit's ``rtol`` of :data:`LBFGS_RTOL`, up to 30% below, which its
    line search absorbs).

    The products are of ``X~ / c`` with ``c`` the largest absolute value of
    ``X~`` (before centring), so that they neither overflow nor underflow,
    in float32 too.

    ``curvature``: a factor on each of ``rows``' weights (the loss's
    curvature at each row). ``start``: a unit vector to start from instead
    of the random one; with ``return_vector``, ``(L, v)`` with ``v`` the
    last iterate (to start the next estimate from).
    """
    jit_load()  # (dot)
    n_features = problem.X.shape[1]
    if problem.chunked:
        peak, product = problem.column_peaks(), problem.gram_product
    else:
        weight = np.zeros(problem.X.shape[0])
        weight[rows] = row_weight_bound(problem)[rows] / max(rows.size, 1)
        if curvature is not None:
            weight[rows] *= curvature
        peak = column_peaks(problem.X) if problem.peaks is None else problem.peaks
        product = lambda v, c: gram_product(problem, weight, v, c)  # noqa: E731
    c = float((peak * problem.preconditioner.column_scale()).max(initial=0.0))
    if not c > 0.0:
        c = 1.0
    # A fixed random start: a vector of ones can be orthogonal to the top
    # eigenvector (e.g. centred features and no intercept). (numpy's
    # Generator: seeding a RandomState takes 90 us, a Generator 7.)
    if start is None:
        v = np.random.default_rng(0).standard_normal(n_features + problem.fit_intercept)
        v /= math.sqrt(dot(v, v))
    else:
        v = start
    eigenvalue, estimate = 0.0, None
    for _ in range(n_iter):
        w = product(v, c)
        # (The norm on this thread: numpy's BLAS threads it, 1 ms a norm of
        # 32,768 elements on busy cores, a quarter of a text fit's estimate.)
        previous, eigenvalue = eigenvalue, math.sqrt(dot(w, w))
        if not np.isfinite(eigenvalue):
            # A product overflowed X's dtype (sample weights near its
            # range): the largest row curvature bounds L from above, a
            # shorter but stable step.
            estimate = max_row_curvature(problem, rows)
            break
        if eigenvalue == 0.0:
            break
        v = w / eigenvalue
        if abs(eigenvalue - previous) <= rtol * eigenvalue:
            break
    if estimate is None:
        estimate = significant_bits(eigenvalue * c * c)
    return (estimate, v) if return_vector else estimate


def cauchy_step(problem, rows, gradient, l2):
    """The step along ``-gradient`` that minimises the objective's quadratic bound there.

    The bound takes every row at the loss's largest curvature (``CURVATURE``),
    as ``1 / L`` does: its Hessian is ``H = c X~' S X~ / n + diag(l2)``
    (:func:`lipschitz_constant`'s notation; ``l2`` each coordinate's l2
    strength, flat as the weights), and the step ``g'g / g'Hg``
    (Cauchy's). The objective falls by at least half of ``g'g`` times the
    step, since the loss curves no more than the bound: Armijo's test
    passes. ``g'Hg`` takes one product of ``rows`` with each output's
    gradient (their scores).

    Returns ``(step, plain)``: ``plain`` is the step of the bound without
    its l2 part, at least ``1 / L`` (``L`` bounds ``c X~' S X~ / n``), the
    plain steps' own (their l2 part is exact), which a later ``partial_fit``
    call keeps unless its rows need a shorter one. Where ``g'Hg`` is not a
    positive finite number (a gradient of 0, or weights near the float
    range's end), both come from ``1 / L``.
    """
    n_outputs, n_features = problem.n_outputs, problem.X.shape[1]
    coef = gradient[: n_outputs * n_features].reshape(n_outputs, n_features)
    scores = row_scores(problem, coef, gradient[n_outputs * n_features:], rows)
    with np.errstate(over="ignore", invalid="ignore"):
        loss_part = float(row_weight_bound(problem)[rows] @ np.einsum("ij,ij->i", scores, scores))
        loss_part *= CURVATURE[problem.loss_code] / max(rows.size, 1)
        along = dot(gradient, gradient)
        curvature = loss_part + dot(l2 * gradient, gradient)
    if along > 0 and loss_part > 0 and math.isfinite(curvature):
        step, plain = along / curvature, along / loss_part
        if math.isfinite(plain):  # (the longer of the two)
            return step, plain
    L = CURVATURE[problem.loss_code] * lipschitz_constant(problem, rows, rtol=LBFGS_RTOL)
    return 1.0 / max(L + float(l2.max(initial=0.0)), 1e-300), 1.0 / max(L, 1e-300)


def gram_product(problem, weight, v, c):
    """``(X~ / c)' S (X~ / c) v``: ``X~`` with a column of ones when the
    intercept is fitted, ``S`` the diagonal of ``weight``.

    One compiled pass over the rows of positive weight, each read once for
    its score and its share of the product, in float64 (a float32 ``X`` is
    read value by value, never copied): numpy's two products read every row
    twice, 35 ms a product against 9.6 on time_to_target.py's 160,000 x 100
    dense rows (as fast on CSR rows). A product that overflows (sample
    weights near 1e300) is caught by :func:`lipschitz_constant`.
    """
    jit_load()
    X = problem.X
    n_features = X.shape[1]
    p = problem.preconditioner
    scale = p.column_scale()
    u = v[:n_features] * scale
    # Each row's score in units of c: x . (u / c) + offset.
    offset = ((v[-1] if problem.fit_intercept else 0.0)
              - (float(p.center @ u) if p.center.size else 0.0)) / c
    u_c = read_only_view(u / c)
    product = np.zeros(n_features)
    weight = read_only_view(np.ascontiguousarray(weight, np.float64))
    if sp.issparse(X):
        X = canonical(X)
        total = _csr_gram_pass(X.data, X.indices, X.indptr, u_c, offset, weight, product)
    else:
        total = _dense_gram_pass(read_only_view(np.ascontiguousarray(X)), u_c, offset, weight,
                                 product)
    if p.center.size:
        product -= p.center * total
    w = np.empty_like(v)
    w[:n_features] = product * scale / c
    if problem.fit_intercept:
        w[-1] = total / c
    return w


@jit()
def _dense_gram_pass(X, u, offset, weight, out):
    """``out += sum_i s_i (x_i . u + offset) x_i`` over the rows of positive weight
    ``s_i``; returns ``sum_i s_i (x_i . u + offset)``."""
    total = 0.0
    for i in range(X.shape[0]):
        w = weight[i]
        if w > 0.0:
            score = offset
            for j in range(X.shape[1]):
                score += np.float64(X[i, j]) * u[j]
            share = w * score
            total += share
            for j in range(X.shape[1]):
                out[j] += share * np.float64(X[i, j])
    return total


@jit(fastmath={"contract"})
def _csr_gram_pass(data, indices, indptr, u, offset, weight, out):
    """:func:`_dense_gram_pass` on CSR rows (unsigned indices: see
    :mod:`skgd._precondition`'s CSR passes; no "reassoc", as the epoch loops)."""
    total = 0.0
    for i in range(np.uint64(indptr.shape[0] - 1)):
        w = weight[i]
        if w > 0.0:
            start, stop = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
            score = offset
            for k in range(start, stop):
                score += np.float64(data[k]) * u[np.uint64(indices[k])]
            share = w * score
            total += share
            for k in range(start, stop):
                out[np.uint64(indices[k])] += share * np.float64(data[k])
    return total


def target_moments(problem, rows):
    """The weighted mean of y over ``rows`` (per target) and its scale (:func:`target_scale`).

    By dot products with the weights: this runs up to four times per fit,
    and ``np.average`` took 60 us a call on 100 rows.
    """
    Y = problem.Y[rows]
    weight = problem.sample_weight[rows]
    total = float(weight.sum())
    if not total > 0:
        return np.zeros(Y.shape[1]), 1.0
    mean, std = _weighted_moments(Y, weight, total)
    if not (np.isfinite(mean).all() and np.isfinite(std)):
        # (Sums that overflow, of targets or weights near float64's limits: the
        # same moments in units of the largest of each.)
        heaviest, top = float(weight.max()), float(np.abs(Y).max())
        mean, std = _weighted_moments(Y / top, weight / heaviest, total / heaviest)
        mean, std = top * mean, top * std
    return mean, significant_bits(std) if std > 0 else float(np.finfo(np.float64).tiny)


def _weighted_moments(Y, weight, total):
    """The weighted mean of each column of ``Y`` and the mean of their standard
    deviations (``total``: the weights' sum); inf or NaN where the sums overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = (weight @ Y) / total
        deviation = Y - mean
        return mean, float(np.sqrt((weight @ (deviation * deviation)) / total).mean())


def target_scale(problem, rows):
    """Typical size of a prediction's error: std(y) for regression, 1 for classification.

    A constant target gives the smallest positive scale: there is nothing
    to fit, and the adaptive optimizers would otherwise take full-size steps
    on rounding noise.
    """
    if problem.chunked:
        return significant_bits(problem.target_scale())
    if problem.labels.size or problem.Y.size == 0:
        return 1.0
    return target_moments(problem, rows)[1]


def batch_sharing(column_counts, n_rows):
    """How much of a row's non-zeros a random other row shares, weighted by their columns.

    ``sum_j c_j^2 / (n sum_j c_j)`` for column counts ``c_j`` over ``n``
    rows: 1 on dense data (every row has every column), about 0 on sparse
    data whose columns are each in a few rows. A batch of ``B`` rows meets
    ``1 + (B - 1) * sharing`` rows on each of its columns, on average.
    """
    counts = np.asarray(column_counts, dtype=np.float64)
    total = counts.sum()
    if not total > 0 or n_rows < 1:
        return 1.0
    return float(min((counts @ counts) / (n_rows * total), 1.0))


def auto_schedule(est, problem, rows, partial=False):
    """The ``learning_rate="auto"`` table (documented in the estimators): ``(name, eta0, damping)``.

    ``partial``: for a ``partial_fit`` call. ``damping`` multiplies the
    steps of the ``"optimal"`` schedule, which has no ``eta0`` to shorten.
    For the log loss (mini-batch, and the stochastic solver's "optimal"
    steps; not on dask), a fourth item: the :class:`LocalCurvature` that
    re-reads the step (the cap) during a ``fit``.
    """
    solver, optimizer = est.solver, est.optimizer
    loss_code = problem.loss_code
    curvature = CURVATURE[loss_code]
    # Plain steps apply the l2 part exactly, as its proximal step after the
    # step in preconditioned coordinates (Preconditioner.kernel_arguments): stable for
    # any strength, so it does not shorten their steps. The other rules
    # take it in the gradient.
    l2 = float(problem.l2.max()) if optimizer != "sgd" else 0.0
    if optimizer in ADAPTIVE_AUTO_ETA:
        base = ADAPTIVE_AUTO_ETA[optimizer][solver]
        # Non-zeros, not columns, so that dense and CSR copies of the same
        # data get the same step.
        counts = (problem.column_nonzeros() if problem.chunked
                  else column_nonzeros(problem.X))
        n_rows = problem.n_train if problem.chunked else problem.X.shape[0]
        per_row = counts.sum() / max(n_rows, 1)
        if solver == "minibatch":
            # The mini-batch steps are longer than the stochastic ones
            # because a batch's rows share their columns, and the mean of
            # their gradients is less noisy: a batch whose rows share none
            # (sparse text) takes a stochastic step on each of its rows at
            # once. Between the two, geometrically by the sharing: on
            # 20,000 rows of 50,000 sparse columns (100 non-zeros a row),
            # RMSProp and Adam with the dense data's mini-batch step ended
            # at test R^2 -1.5 and -1.1, with the stochastic one at 0.29
            # and 0.31.
            stochastic = ADAPTIVE_AUTO_ETA[optimizer]["stochastic"]
            base = stochastic * (base / stochastic) ** batch_sharing(counts, n_rows)
        scale = target_scale(problem, rows)
        eta = base * scale / np.sqrt(max(per_row, 1.0))
        # They move each coefficient by about eta whatever the gradient, the
        # penalty's part too: a move of eta on a coordinate of l2 strength l2
        # costs l2 eta^2 / 2, which must stay below the loss's scale,
        # scale^2 / 2. (A column of spread 1e-3 has, preconditioned, a
        # strength 1e6 times alpha: Adam's uncapped steps of 21 on it cost
        # 2e8 where the loss was 4.5e4.)
        if l2 > 0:
            eta = min(eta, base * scale / np.sqrt(l2))
        return "adaptive", eta, 1.0
    # Momentum methods take steps 1 / (1 - momentum) times longer in the
    # long run, so their base step is shortened by that factor, except on
    # the deterministic batch gradient of a fit, where 1/L is stable with
    # momentum. Not in a partial_fit sequence: its batches are its calls'
    # rows, which change from call to call, and there the undamped step
    # drifted away (the regressor on 4 chunks of 100 rows, called in turn:
    # test R2 0.81 after 24 calls, -0.29 after 120, without a warning).
    damping = 1.0 - est.momentum if optimizer != "sgd" else 1.0
    if solver == "batch":
        # L-BFGS and Barzilai-Borwein steps assume a gradient that changes
        # smoothly; on kinked losses (and under momentum) the step stays
        # 1 / L, except the hinge's plain steps in a fit (below). An l1 part
        # needs the proximal step that Barzilai-Borwein steps take and
        # L-BFGS directions do not. With `average` too: the
        # kernel averages each step it takes, and a line search's rejected
        # trials would join the mean (diabetes raw, l1: test R2 -7.1, or a
        # DivergenceError with average=10), where 1 / L only descends; the
        # mean of the iterates lags them by O(1 / epochs) whatever the
        # steps, so longer ones would not make it converge sooner.
        name = "constant"
        if loss_code not in NONSMOOTH_LOSSES and optimizer == "sgd" and not est.average:
            name = "barzilai-borwein" if problem.l1.any() else "l-bfgs"
        elif loss_code == HINGE and optimizer == "sgd" and not est.average and not partial:
            # The hinge's plain steps shrink on stalls, from the mini-batch
            # hinge's step (HINGE_STEP_CURVATURE), and stop on the
            # relative rule (RelativeToleranceStopping). At a constant 1 / L
            # the subgradient steps ran to max_iter and warned on 12 of the
            # 32 tasks of corpus.py --loss hinge (digits: 1,000 epochs,
            # 0.29 s), and missed 2. Now: 32 of 32, 2 warned (TF-IDF, whose
            # objective still falls at max_iter), median epochs 350 -> 42.
            # Not momentum (3 silent misses: it carried the objective past
            # its stalls) nor the epsilon-insensitive loss (heavy tails:
            # test R2 0.96 -> 0.60, silently).
            name, curvature = "adaptive", HINGE_STEP_CURVATURE
        # L-BFGS takes a step along the gradient for its first direction
        # only, under its line search in a fit: there it is read from the
        # first epoch's gradient (eta0 0 here; cauchy_step) where there are
        # at most CAUCHY_OUTPUTS outputs, at the cost of one product with
        # the rows per output, instead of 1 / L's power iteration (5 gram
        # products of 2 passes each on the binary text of
        # time_to_target.py, 14 of its 110 ms; whatever the outputs: with
        # 10, 13 ms against 16). A partial_fit call's one epoch takes 1 / L
        # alone, with no line search behind it; dask chunks (no rows here)
        # and more outputs take it too, from a rougher estimate (power
        # iterations until it moves by less than 10%, not 1%).
        if (name == "l-bfgs" and not partial and not problem.chunked
                and problem.n_outputs <= CAUCHY_OUTPUTS):
            return name, 0.0, 1.0
        rtol = LBFGS_RTOL if name == "l-bfgs" and not partial else 1e-2
        L = curvature * lipschitz_constant(problem, rows, rtol=rtol) + l2
        return name, (damping if partial else 1.0) / max(L, 1e-300), 1.0
    if solver == "minibatch":
        # (A dask problem holds no rows here: its chunks hold them all.)
        n_rows = problem.n_train if problem.chunked else rows.size
        size = min(est.batch_size, n_rows)
        reader = (LocalCurvature(problem, rows, size, l2, damping)
                  if loss_code == LOG_LOSS and not problem.chunked else None)
        if loss_code == HINGE and not partial:  # (partial_fit never shrinks it)
            curvature = HINGE_STEP_CURVATURE
        L_max = curvature * _largest_row_curvature(problem, rows, reader)
        L = curvature * lipschitz_constant(problem, rows)
        eta = damping / max(batch_smoothness(L, L_max, n_rows, size) + l2, 1e-300)
        if reader is None:
            return "adaptive", eta, 1.0
        return "adaptive", reader.starting_at(eta), 1.0, reader
    # Capped single-sample steps: on unscaled data SGDRegressor's
    # eta0 = 0.01 diverges, and so does SGDClassifier's "optimal" first
    # step with the squared losses on standardised data; capped, neither
    # does. invscaling's eta0 is capped at 2 / L_max: a step on a sample
    # with the largest curvature then lands at most as far past that
    # sample's optimum as it started before it (the bound of relaxed
    # Kaczmarz steps), and no further. The tighter 1 / L_max, which never
    # passes the optimum, halved the step on the benchmark's sparse rows
    # (squared norms 100 on average, 183 at most) and with it the test R²
    # after 5 epochs (0.35 against 0.50). For "optimal" the cap is
    # 1 / L_max, the longest step, held in eta0, for losses whose gradient
    # is unbounded and for momentum: with plain steps and the other losses
    # the long first steps are safe, and SGDClassifier's schedule is kept;
    # momentum adds them up (uncapped, it overflowed at epoch 1 on the raw
    # breast cancer data even when damped).
    name, eta0 = est._auto_stochastic_schedule()
    # The log loss's cap is re-read from the curvature at the weights. With
    # plain steps only where the rows weigh the same: capped for the
    # heaviest row, class_weight={0: 100} gave every other row steps 100
    # times shorter (test accuracy 0.67 on breast cancer, without a
    # warning, against 0.85 uncapped); the log loss's bounded gradient lets
    # plain steps go uncapped, as scikit-learn's.
    uniform = uniform_row_weight(problem, rows) is not None
    reader = (LocalCurvature(problem, rows, 1, l2, 1.0)
              if name == "optimal" and loss_code == LOG_LOSS and not problem.chunked
              and (optimizer != "sgd" or uniform)
              else None)
    # The modified Huber loss's plain steps are capped where the rows weigh
    # the same, at 1 / L_max (its curvature, 2, is constant near the
    # boundary: no reading): uncapped, the steps 1 / (alpha t) of a small
    # alpha threw the weights of near-separable classes far past the
    # optimum's, where its linear part's bounded gradient brings them back
    # only slowly. Default fits on bundled and synthetic data (2 splits x
    # raw and standardised x 2 seeds, against the batch solver to 1e-10)
    # ended 1.1 to 8,000 times above the optimum's objective in 190 to 1,000
    # epochs; capped, 1.0 to 29 times in 7 to 46 epochs, with test scores as
    # good or better.
    capped = (loss_code in UNBOUNDED_GRADIENT_LOSSES or optimizer != "sgd"
              or reader is not None or (loss_code == MODIFIED_HUBER and uniform))
    if name == "optimal" and not capped:
        return name, 0.0, damping  # uncapped: no need for L_max, a pass over X
    L_max = curvature * _largest_row_curvature(problem, rows, reader)
    longest = 1.0 / max(L_max + l2, 1e-300)
    if reader is not None:
        return name, reader.starting_at(longest), damping, reader
    if name == "invscaling":
        reach = _reach(problem, rows)
        if reach > 1.0:  # SGDRegressor's eta0 is for the squared loss: not a cap here
            return name, 2.0 * longest * reach * damping, 1.0
        return name, min(eta0, 2.0 * longest) * damping, 1.0
    return name, longest, damping


def _largest_row_curvature(problem, rows, reader):
    """:func:`max_row_curvature`, from ``reader``'s row factors where there is a reader
    (the same numbers, one pass over the rows' norms instead of two)."""
    if reader is None:
        return max_row_curvature(problem, rows)
    return significant_bits(float(reader.row_factors().max()))


def batch_smoothness(L, L_max, n, size):
    """Expected smoothness of a mean over ``size`` of ``n`` rows drawn without
    replacement (Gower et al., 2019): between ``L`` (all rows) and ``L_max`` (one row)."""
    if n <= 1:
        return L_max
    return (n * (size - 1) * L + (n - size) * L_max) / (size * (n - 1))


# Margin by which LocalCurvature reads each row nearer the decision boundary
# than it is: the steps until the next reading move the margins, and the log
# loss's curvature grows at most e-fold while a margin shrinks by 1.
MARGIN_SLACK = 1.0

# The log loss's largest curvature p (1 - p), at margin 0.
LOG_LOSS_PEAK_CURVATURE = 0.25

# Rows of largest factor that LocalCurvature reads first for the largest row.
ROWS_READ_FIRST = 1024

# How much longer a reading's step may be than the last one's. Where every
# margin is large the curvature underflows to 0 and the reading to an
# unbounded step: after 1,000-fold class weights had thrown the weights far
# out, a cap of 1e300. The readings come after epochs 1, 2, 4, 8, ..., so the
# step can still grow 64-fold by epoch 4 (heavy-tailed columns need 50).
READING_GROWTH = 4.0


class LocalCurvature:
    """The log loss's step, re-read from the rows' curvature at the current weights.

    The mini-batch step, and the cap on the stochastic solver's "optimal"
    steps, are ``1 / L`` with every row at the log loss's largest curvature
    (1/4, at margin 0): a batch's expected smoothness (``size`` rows) or
    the largest row's (one row). Set by the rows of largest norm, a few
    outlying rows (a Cauchy column) can make it 50 times shorter than the
    other rows need once the outliers are classified. As the fit separates
    the classes, the rows far from the boundary stop curving the loss
    (``p (1 - p)`` at their margin). :meth:`step` reads the rows' curvature
    at the current weights: the largest row's exactly (from the rows that
    can hold it, :meth:`_largest_row`) and, for batches (one pass for the
    scores of every row), the mean's by a power iteration
    that starts from the last reading's vector (a few gram products, each
    two passes; it reads up to 12% low, which the margin slack covers). The
    step never falls below the first one (:meth:`starting_at`), which is
    stable wherever the weights go, nor grows more than
    :data:`READING_GROWTH` times from one reading to the next.
    """

    def __init__(self, problem, rows, size, l2, damping):
        self.problem, self.rows = problem, rows
        self.size, self.l2, self.damping = size, l2, damping
        self.floor = self._last = None
        self._norms = self._vector = self._first = None

    def starting_at(self, step):
        """Take ``step``, the first step, as the floor of every reading; return it."""
        self.floor = self._last = step
        return step

    def row_factors(self):
        """Each row's weight times ``|x~_i|^2 + 1`` (with an intercept)."""
        if self._norms is None:
            problem, rows = self.problem, self.rows
            norms = row_sq_norms(problem.X, problem.preconditioner)[rows] + problem.fit_intercept
            self._norms = row_weight_bound(problem)[rows] * norms
        return self._norms

    @staticmethod
    def due(epochs):
        """Whether the step is read again after ``epochs`` epochs: at 1, 2, 4, 8, ..."""
        return epochs > 0 and epochs & (epochs - 1) == 0

    def step(self, W, b):
        """The step (the cap) at the weights ``W, b`` (the kernels' coordinates)."""
        problem, rows = self.problem, self.rows
        if self.size > 1:
            curvature = self._curvatures(W, b, rows)
            L_max = float((curvature * self.row_factors()).max(initial=0.0))
            L, self._vector = lipschitz_constant(problem, rows, n_iter=10, curvature=curvature,
                                                 start=self._vector, return_vector=True)
            L = batch_smoothness(L, L_max, rows.size, self.size)
        else:  # (one row: the largest row's curvature is the bound)
            L = self._largest_row(W, b)
        step = max(significant_bits(self.damping / max(L + self.l2, 1e-300)), self.floor)
        self._last = min(step, READING_GROWTH * self._last)
        return self._last

    def _curvatures(self, W, b, rows):
        """The log loss's curvature at ``W, b`` of each of ``rows``, read
        :data:`MARGIN_SLACK` nearer the boundary (the smallest margin over the outputs)."""
        block = max(1, BLOCK_VALUES // W.shape[0])  # (rows at a time)
        margins = np.empty(rows.size)
        for start in range(0, rows.size, block):
            part = rows[start:start + block]
            margins[start:start + block] = np.abs(row_scores(self.problem, W, b, part)).min(axis=1)
        p = 1.0 / (1.0 + np.exp(-np.maximum(margins - MARGIN_SLACK, 0.0)))
        return p * (1.0 - p)

    def _largest_row(self, W, b):
        """``max_i curvature_i factor_i`` over the rows at ``W, b``, without reading them all.

        No row curves more than :data:`LOG_LOSS_PEAK_CURVATURE`: after the
        :data:`ROWS_READ_FIRST` rows of largest factor, only those whose
        factor at that curvature would beat the largest product found are
        read. The same maximum as a pass over every row: the three readings
        of a default log-loss fit on 200,000 x 100 dense rows took 124-141 ms
        of 605-722 (the scores of every row each time), and take 4-8 ms; on
        10-class TF-IDF text (20,000 x 2^15), 53-67 ms and 11-13. At worst
        (more rows of large factor far from the boundary than are read first,
        every other row near it) it reads every row: 9.4 ms against the full
        pass's 7.6 on 204,096 x 2 rows.
        """
        factors = self.row_factors()
        if self._first is None:  # (the factors stay: found once for every reading)
            self._first = (np.argpartition(factors, -ROWS_READ_FIRST)[-ROWS_READ_FIRST:]
                           if factors.size > ROWS_READ_FIRST else np.arange(factors.size))
        first = self._first
        largest = float((self._curvatures(W, b, self.rows[first]) * factors[first]).max(
            initial=0.0))
        could_beat = factors * LOG_LOSS_PEAK_CURVATURE > largest
        could_beat[first] = False
        rest = np.flatnonzero(could_beat)
        if rest.size:
            largest = max(largest, float(
                (self._curvatures(W, b, self.rows[rest]) * factors[rest]).max()))
        return largest


def row_scores(problem, W, b, rows):
    """The scores ``x~_i W' + b`` of ``rows``, shape ``(len(rows), n_outputs)``, in float64."""
    p = problem.preconditioner
    coef = W.astype(np.float64) * p.column_scale()
    offset = b.astype(np.float64) - (coef @ p.center if p.center.size else 0.0)
    X = problem.X
    if sp.issparse(X):
        if 4 * rows.size < X.shape[0]:  # (a few rows: a copy of them)
            return np.asarray(X[rows] @ coef.T) + offset
        return np.asarray(X @ coef.T)[rows] + offset  # (X[rows] would copy X)
    # All the rows of a C-ordered X: each block a view (no copy of float64
    # rows; the same block, so the same bits, as a copy of it).
    every_row = rows.size == X.shape[0] and X.flags.c_contiguous
    out = np.empty((rows.size, W.shape[0]))
    for start in range(0, rows.size, BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        block = X[start:stop] if every_row else X[rows[start:stop]]
        out[start:stop] = block.astype(np.float64, copy=False) @ coef.T + offset
    return out


def _reach(problem, rows):
    """How much longer than ``2 / L_max`` the steps of a bounded-gradient loss may be.

    The Huber loss's derivative is at most ``epsilon`` and the
    epsilon-insensitive loss's at most 1, in the units of y: far from the
    fit, where the residuals are of the size of std(y), a step moves a
    prediction by at most ``eta * bound * |x~|^2``, so steps sized for the
    squared loss take std(y) / bound times too many to get there. The steps
    are lengthened by the square root of that ratio: long enough to cross
    the distance (on scikit-learn's Huber test, epsilon=0.1 on a target of
    std 1.45: R2 0.37 in 20 epochs before, 1.00 after; on a target of std 300
    within 0.01 of the exact optimum), short enough that the noise they add
    near the optimum is averaged away. Other losses: 1.
    """
    if problem.loss_code == HUBER:
        bound = problem.epsilon
    elif problem.loss_code == EPSILON_INSENSITIVE:
        bound = 1.0
    else:
        return 1.0
    ratio = target_scale(problem, rows) / bound if bound > 0 else np.inf
    return float(np.sqrt(min(max(ratio, 1.0), 1e12)))


def resolve_schedule(est, problem, first=None, partial=False, weighing=None):
    """Turn ``learning_rate`` (possibly ``"auto"``) into the rule of this call.

    Resolved anew at every ``fit`` and ``partial_fit`` call, from that
    call's training rows, so that a later ``partial_fit`` on other data gets
    a step that is stable on it (``partial``: a ``partial_fit`` call).
    ``first`` is ``(name, eta0)`` of the first call of a ``partial_fit``
    sequence: under ``"auto"`` a later call keeps that step unless its own
    rows need a shorter one. The sample weights
    then keep their meaning across calls, as in scikit-learn, where a fixed
    step is multiplied by each row's weight: a chunk of weight 100 pulls 100
    times as hard as one of weight 1 (up to the step that is stable on it),
    instead of getting a step 100 times shorter. ``weighing``: the problem
    whose sample weights weigh the rows' norms for the hinge's shortened
    steps (:func:`hinge_norm_scale`), where ``problem`` is the stochastic
    solver's drawn rows (:class:`WeightDraws`), whose weights are uniform.
    """
    name, eta0, damping = est.learning_rate, est.eta0, 1.0
    if name == "optimal":
        eta0 = 0.0  # as in scikit-learn, "optimal" ignores eta0 (unless "auto" capped it)
    curvature = None
    if name == "auto":
        name, eta0, damping, *reader = auto_schedule(est, problem, problem.train, partial)
        if reader and first is None:  # (a partial_fit sequence keeps its step)
            curvature = reader[0]
        if first is not None and first[0] == name and first[1] > 0:
            eta0 = min(eta0, first[1]) if eta0 > 0 else first[1]
    if name == "barzilai-borwein":
        return BarzilaiBorweinSchedule(float(eta0))
    if name == "l-bfgs":
        l2 = flat_l2(problem)
        first_step = None if eta0 > 0 else (
            lambda gradient: cauchy_step(problem, problem.train, gradient, l2))
        return LbfgsSchedule(float(eta0), l2, first_step=first_step)
    schedule = EpochSchedule(name, float(eta0), float(est.decay_rate), damping)
    schedule.curvature = curvature
    if (est.learning_rate == "auto" and name == "optimal" and eta0 == 0.0
            and problem.loss_code == HINGE and est.optimizer == "sgd"):
        weighing = problem if weighing is None else weighing
        schedule.norm_scale = hinge_norm_scale(est, weighing, weighing.train)
    return schedule


def hinge_norm_scale(est, problem, rows):
    """The factor by which "auto"'s uncapped hinge steps start shorter than
    scikit-learn's "optimal" ones (:meth:`EpochSchedule.optimal_terms`).

    Bottou's heuristic sizes those steps for rows of unit norm, such as
    TF-IDF's; the preconditioned rows have squared norms of about their
    number of columns (30 on breast cancer, 74 on a TF-IDF text). Taken as
    they were, the default fit ended 10 to 20 times above the optimum's
    objective on standardised breast cancer and 32 times on standardised
    digits, silently, and took 102 epochs on a TF-IDF text where
    SGDClassifier took 21. The factor is the rows' mean squared norm
    (:func:`mean_row_sq_norm`), to the power 1 less the penalty's l1 share:
    by the whole factor an l1 penalty's steps (no strong convexity behind
    them) converged too slowly (scikit-learn's test_sgd_l1 kept coefficients
    of 0.05 after its 2,000 epochs where the optimum's are 0); a power keeps
    an elastic net of l1_ratio near 0 on the l2 penalty's steps
    (test_l1_ratio).
    """
    l2_part, l1_part = split_penalty(est.penalty, 1.0, est.l1_ratio)
    l1_share = l1_part / (l1_part + l2_part) if l1_part > 0 else 0.0
    # (Never longer: rows of norm below 1, unpreconditioned and without an
    # intercept, took steps that threw the weights to zero or raised; a
    # review helper's case.)
    return max(mean_row_sq_norm(problem, rows), 1.0) ** (1.0 - l1_share)

