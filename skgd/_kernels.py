"""The compiled epoch kernels, dense and CSR.

One call runs one epoch: it walks the rows in the given ``order`` in batches
of ``batch_size`` (1 for the stochastic solver, all rows for the batch
solver), and for each batch computes the per-sample loss derivatives with the
weights as they were at the start of the batch, then takes one step. Loss,
schedule, optimizer and penalty are chosen by integer codes (see
``_losses``, ``_schedules``, ``_optimizers``), so each compiled entry
point serves every estimator and loss. Each loop below has a dense and a CSR
entry point that inline it with a constant storage flag, so each compiles to
a loop without the other format's branch; :func:`skgd._engine.epoch_kernel` picks one.

Coordinates. The kernels fit ``z = W x~ + b`` in preconditioned coordinates
``x~_j = (x_j - center_j) * s_j``, with ``s_j = bucket_scale[bucket[j]]``
(:mod:`skgd._precondition`): the columns are split into a few buckets of
equal scale. CSR rows have a centre in the general and evaluation loops
(the batch solver's, every column), which take it implicitly: through the
intercepts (:func:`_intercepts`) and the gradient's sum
(:func:`_centre_gradient`), so that a pass stays O(nnz + n_features); and
in the stochastic and mini-batch loops, on the columns far from zero only
(all stored in most rows), which every score and step reads and moves
(:func:`_centre_scores`, :func:`_add_centre`), so that a step stays O(nnz +
those columns).
Without a preconditioner there is one bucket of scale 1 and no centre, and
the loops take the plain ``x`` (the explicit schedules, which
follow SGD*'s steps exactly). ``l2`` and ``l1`` hold each bucket's penalty
strengths in these coordinates, so that the objective is the one in the
original coordinates.

Targets. Regression reads ``Y[i, k]``. Classification reads a label code per
row (``labels``): output ``k`` has target +1 where ``labels[i] == k`` and -1
elsewhere (binary: code 0 for the positive class, -1 for the negative one),
and the row weighs ``pos_weight[k]`` or ``neg_weight[k]`` times its sample
weight there: scikit-learn's one-vs-rest class weights. The multinomial loss
takes the label as the index of the true class. No (n_samples, n_outputs)
array is built.

Two update paths, in three loops:

* plain steps on more than one batch per epoch (the stochastic and mini-batch
  solvers with ``optimizer="sgd"``) keep each bucket's weights as
  ``scale_b * V`` so that the l2 decay costs O(buckets) per step and an
  update touches only the features present in the batch. On the columns as
  given the decay is scikit-learn's, ``max(0, 1 - eta l2)`` before the step;
  in preconditioned coordinates it is ``1 / (1 + eta l2)`` after it (the
  proximal step of the l2 part: ``proximal_l2``, see
  :meth:`skgd._precondition.Preconditioner.kernel_arguments`). Each loop is
  made twice more, without the l1 books, the passive-aggressive steps and the
  multinomial loss (``general=False``), for the default fits, which then
  compile less. Their l1 part is
  the cumulative penalty of Tsuruoka et al. (2009), as in scikit-learn's SGD:
  each coefficient is shrunk towards zero by the total penalty accrued so far
  minus what it has received, and clipped at zero, so that noisy steps do not
  keep coefficients off zero. The books (``l1_accrued`` per bucket and
  ``l1_received`` per coefficient) last for the whole call, over all its
  epochs, as in scikit-learn. They are kept in units of ``V``, so that a
  payment made late is the same as one made at every step; scikit-learn
  keeps them in the weights' units, which gives the same steps except for
  the unpaid part of a coefficient clipped at zero under the elastic net
  (here it shrinks with the l2 decay, there it does not). On CSR input the penalty is paid
  lazily, when a feature is next seen (and for all features at the end of
  the epoch), which keeps a sparse step O(nnz). One row per step (the
  stochastic solver, the hot path) has a loop of its own,
  :func:`_stochastic_loop`, which also takes the passive-aggressive steps;
  :func:`_minibatch_loop` stores a batch's derivatives before its step.
* every other case (:func:`_general_loop`) builds the mean gradient of the
  batch, adds the l2 term, asks the optimizer for a direction, moves all
  coordinates and applies the l1 part as a proximal soft-threshold:
  O(n_features) per step on top of the O(nnz) gradient. For the batch solver
  this is proximal gradient descent. Given ``G_out`` in TRAIN mode, it
  leaves there the gradient of its last batch (the batch solver's full
  gradient, which its stopping rule uses).

Evaluations at fixed weights (the losses, the full gradient, the
intercept-only model's losses) have a small loop of their own,
:func:`_evaluate_loop`.

The other optimizers on CSR rows, when an epoch has more than one step, run
in a fourth loop, :func:`skgd._lazy.lazy_epoch_csr`, which moves only the
columns of each step's rows (O(nnz) a step) and catches the others up when
next met.

Rows visited in random order are nearly all cache misses, so the shuffled
loops prefetch the rows a few steps ahead (:mod:`skgd._prefetch`).
"""

import numpy as np

from ._borrow import borrowed, keep_alive
from ._jit import jit
from ._losses import MULTINOMIAL, loss_and_derivative, multinomial_loss_and_gradient
from ._optimizers import SGD, step_row
from ._penalties import soft_threshold
from ._prefetch import prefetch
from ._schedules import PA1, PA2, step_size

# Below this a bucket's scale of ``W = scale * V`` is folded into V, before
# float underflow could make it meaningless.
MIN_SCALE = 1e-9
MIN_SCALE_AVERAGING = 1e-3


# What a kernel call does (``mode``): TRAIN and STEP run in the epoch loops,
# the others in the evaluation loop (:func:`_evaluate_loop`).
TRAIN = 0
EVALUATE = 1  # sum the losses at the current weights, no step
GRADIENT = 2  # EVALUATE, and leave the mean gradient in G_out and G_b_out
STEP = 3  # one step from the gradient given in G_out and G_b_out (summed elsewhere)
INTERCEPT_ONLY = 4  # sum the losses of the model that predicts b everywhere (W unread)
ZERO_GRADIENT = 5  # GRADIENT at W = 0 (W unread: the scores are b, not summed over the row)

# What is inlined: the per-row helpers and the small per-step ones (the
# loss, the l2 decay). The larger helpers that do not depend on the storage
# format (optimizer steps, paying the l1 penalty, the softmax) are plain
# calls: numba inlines at the level of its own IR, and inlining them too
# made the first compile about twice as long.
#
# The shape of the per-row helpers is set by reference counting. Inlining
# copies each array argument into a variable of the helper: a count taken
# before the helper's loops and dropped after them, two atomic operations,
# which numba's pruning pass removes only in simple cases. It leaves them
# in place when the helper holds a call (even one never made) or another
# inlined helper inside one of its loops, and a plain call counts its
# arguments the same way. So each per-row helper holds its own loop over
# the outputs, calls nothing, and takes 2-D arrays with a row index rather
# than views (``W[k]``, which is one more count); the rare calls (the
# softmax, folding a scale into V) are made from the loops themselves.
# Before, about 30 such pairs a row cost 50 to 100 ns: an epoch on 20,000
# rows of 10 columns took 7.3 ms where it now takes 3.3 ms.

# Indices read from arrays (row numbers, CSR row bounds and column indices)
# are cast to unsigned before indexing: numba otherwise adds a negative-index
# check to every access, which cost about 20% of a sparse epoch.


# Array-to-array slice assignment (``a[:] = b``) is written out as loops:
# numba's version formats its shape-mismatch message with compiled string
# code, which added about 4 s to the first compile of the general loop.
@jit(inline="always")
def _copy(destination, source):
    for j in range(destination.shape[0]):
        destination[j] = source[j]


@jit(inline="always")
def _copy_rows(destination, source):
    for k in range(destination.shape[0]):
        _copy(destination[k], source[k])


@jit(inline="always")
def _scores(is_csr, W, factor, bucket, center, X, data, indices, indptr, i, b, z):
    """``z_k = sum_j W_kj factor[bucket_j] (x_ij - center_j) + b_k``: row ``i``'s scores.

    One bucket takes the plain dot product (of the centred row) times
    ``factor[0]``: the lookups cost about 20% of a sparse epoch, and kept
    LLVM from vectorising the dense loop (an evaluation of 5,000 x 50
    standardised rows, centred, took 200 us, now 135). (A test compares every
    variant with numpy: test_kernels.py.)
    """
    single = factor.shape[0] == 1
    for k in range(W.shape[0]):
        acc = 0.0
        # (Products in float64 even for float32 data: a float32 weight of 1e24
        # times a float32 value of 1e25 overflows before the factor scales it.)
        if is_csr:
            if single:
                for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                    acc += np.float64(W[k, np.uint64(indices[p])]) * data[p]
                acc *= factor[0]
            else:
                for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                    j = np.uint64(indices[p])
                    acc += W[k, j] * factor[bucket[j]] * data[p]
        elif center.shape[0] == 0:
            if single:
                for j in range(X.shape[1]):
                    acc += np.float64(W[k, j]) * X[i, j]
                acc *= factor[0]
            else:
                for j in range(X.shape[1]):
                    acc += W[k, j] * factor[bucket[j]] * X[i, j]
        elif single:
            for j in range(X.shape[1]):
                acc += np.float64(W[k, j]) * (X[i, j] - center[j])
            acc *= factor[0]
        else:
            for j in range(X.shape[1]):
                acc += W[k, j] * factor[bucket[j]] * (X[i, j] - center[j])
        z[k] = acc + b[k]


@jit(inline="always")
def _add_row(is_csr, coef, divisor, W, b, add_intercept, inverse, bucket, center, X, data,
             indices, indptr, i):
    """``W_kj += c_k x~_ij / factor_j`` with ``c_k = coef_k / divisor``, for every output ``k``.

    A step ``c x~_i`` on weights stored as ``factor * V`` (and ``b_k +=
    c_k`` if ``add_intercept``); ``inverse`` holds each bucket's ``1 /
    factor`` times its column scale. Outputs with ``c_k = 0`` are skipped.
    """
    single = inverse.shape[0] == 1
    for k in range(W.shape[0]):
        c = coef[k] / divisor
        if c == 0.0:
            continue
        if add_intercept:
            b[k] += c
        if is_csr:
            if single:
                c *= inverse[0]
                for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                    W[k, np.uint64(indices[p])] += c * data[p]
            else:
                for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                    j = np.uint64(indices[p])
                    W[k, j] += c * inverse[bucket[j]] * data[p]
        elif center.shape[0] == 0:
            if single:
                c *= inverse[0]
                for j in range(X.shape[1]):
                    W[k, j] += c * X[i, j]
            else:
                for j in range(X.shape[1]):
                    W[k, j] += c * inverse[bucket[j]] * X[i, j]
        elif single:
            c *= inverse[0]
            for j in range(X.shape[1]):
                W[k, j] += c * (X[i, j] - center[j])
        else:
            for j in range(X.shape[1]):
                W[k, j] += c * inverse[bucket[j]] * (X[i, j] - center[j])


# The training loops' steps on CSR rows centre the columns far from zero
# relative to their spread (the numeric columns of a table in CSR format;
# ColumnStats.preconditioner): a step's row is x_i - c on those columns,
# non-zero in the rows that do not store them too. So each score and step
# also reads and moves them, O(nnz + those columns) a step.
@jit(inline="always")
def _centred_columns(center):
    """The columns whose centre is not 0, in increasing order (unsigned)."""
    n = 0
    for j in range(center.shape[0]):
        if center[j] != 0.0:
            n += 1
    columns = np.empty(n, dtype=np.uint64)
    n = 0
    for j in range(center.shape[0]):
        if center[j] != 0.0:
            columns[n] = j
            n += 1
    return columns


@jit(inline="always")
def _centre_scores(W, factor, bucket, center, centred, z):
    """Take ``sum_j W_kj factor[bucket_j] c_j`` over the ``centred`` columns out of each
    score ``z_k`` of a CSR row (:func:`_scores` read its stored entries)."""
    for k in range(W.shape[0]):
        shift = 0.0
        for q in range(centred.shape[0]):
            j = centred[q]
            shift += W[k, j] * factor[bucket[j]] * center[j]
        z[k] -= shift


@jit(inline="always")
def _add_centre(coef, W, inverse, bucket, center, centred, averaging, acc, S):
    """The ``centred`` columns' part of a step ``c x~_i`` on a CSR row:
    ``W_kj -= c_k c_j / factor_j`` (:func:`_add_row` added the stored entries),
    with the lazy average's books if ``averaging`` (:func:`_add_row_averaged`)."""
    for k in range(W.shape[0]):
        c = coef[k]
        if c == 0.0:
            continue
        for q in range(centred.shape[0]):
            j = centred[q]
            d = -c * inverse[bucket[j]] * center[j]
            W[k, j] += d
            if averaging:
                acc[k, j] -= d * S[bucket[j]]


@jit(inline="always")
def _centred_row_sq_norm(bucket_scale, bucket, center, centred, data, indices, indptr, i, met):
    """``|x~_i|^2`` of CSR row ``i`` with its ``centred`` columns centred (the
    passive-aggressive step's), each term as ``(s (x - c))^2``: as ``|x|^2 -
    2 x.c + |c|^2`` it lost every digit on a column of 1e7 + N(0, 1) (a
    review helper's case: the fit diverged). ``met[j]`` notes the last row
    that stored column ``j``."""
    acc = 0.0
    row = np.float64(i)
    for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        j = np.uint64(indices[p])
        v = (data[p] - center[j]) * bucket_scale[bucket[j]]
        acc += v * v
        met[j] = row
    for q in range(centred.shape[0]):
        j = centred[q]
        if met[j] != row:
            v = center[j] * bucket_scale[bucket[j]]
            acc += v * v
    return acc


@jit(inline="always")
def _intercepts(is_csr, W, b, bucket_scale, bucket, center, out):
    """``out_k``: the intercept row scores start from at ``W, b``.

    ``b_k``, less ``sum_j W_kj s_j c_j`` on CSR rows with a centre (the batch
    solver's): a CSR row's centred values are not stored, so the centre's
    part of every score is taken once, from the weights, and
    :func:`_scores` reads the stored entries alone.
    """
    for k in range(W.shape[0]):
        shift = 0.0
        if is_csr and center.shape[0] > 0:
            for j in range(W.shape[1]):
                shift += W[k, j] * bucket_scale[bucket[j]] * center[j]
        out[k] = b[k] - shift


@jit(inline="always")
def _centre_gradient(is_csr, G, G_b, bucket_scale, bucket, center):
    """Take the centre's part out of a gradient summed over CSR rows with a centre.

    ``_add_row`` added ``c s_j x_ij`` for the stored entries; the centred
    rows' gradient also has ``-c s_j c_j`` from every row, ``-s_j c_j G_b``
    in all (``G_b`` holds the sum of the coefficients ``c``).
    """
    if is_csr and center.shape[0] > 0:
        for k in range(G.shape[0]):
            for j in range(G.shape[1]):
                G[k, j] -= bucket_scale[bucket[j]] * center[j] * G_b[k]


@jit(inline="always")
def _row_sq_norm(is_csr, bucket_scale, bucket, center, X, data, indices, indptr, i):
    """``|x~_i|^2``, the row's squared norm in the preconditioned coordinates
    (a CSR row without a centre: with one, :func:`_centred_row_sq_norm`)."""
    acc = 0.0
    single = bucket_scale.shape[0] == 1
    if is_csr:
        for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            v = data[p] * (bucket_scale[0] if single else bucket_scale[bucket[np.uint64(indices[p])]])
            acc += v * v
        return acc
    for j in range(X.shape[1]):
        v = X[i, j] - (center[j] if center.shape[0] else 0.0)
        v *= bucket_scale[0] if single else bucket_scale[bucket[j]]
        acc += v * v
    return acc


@jit(inline="always")
def _target_and_weight(Y, labels, pos_weight, neg_weight, i, k, weight):
    """Target of output ``k`` for row ``i``, and the row's weight there."""
    if labels.shape[0] == 0:
        return Y[i, k], weight
    if labels[i] == k:
        return 1.0, weight * pos_weight[k]
    return -1.0, weight * neg_weight[k]


@jit(inline="always")
def _row_losses(Y, labels, pos_weight, neg_weight, sample_weight, i, loss_code, epsilon,
                max_dloss, z, dloss, loss_out):
    """Add row ``i``'s weighted losses at scores ``z`` to ``loss_out`` (not multinomial).

    Leaves in ``dloss`` the derivatives of the loss in each score, clipped to
    ``[-max_dloss, max_dloss]`` (the problem's bound: scikit-learn's, or none under
    "auto"; :attr:`skgd._engine.Problem.max_dloss`) and then
    multiplied by the row's weight in that output. The multinomial loss has
    a helper of its own, which the loops call in a branch of their own: as a
    branch in here, its call cost 30 ns a row even where never taken (the
    pruning of reference counts stops at a call).
    """
    weight = sample_weight[i]
    for k in range(z.shape[0]):
        y, w = _target_and_weight(Y, labels, pos_weight, neg_weight, i, k, weight)
        value, derivative = loss_and_derivative(loss_code, z[k], y, epsilon)
        loss_out[k] += w * value
        dloss[k] = min(max(derivative, -max_dloss), max_dloss) * w


@jit(inline="always")
def _multinomial_row_losses(labels, sample_weight, i, max_dloss, z, dloss, loss_out):
    """:func:`_row_losses` of the multinomial loss."""
    weight = sample_weight[i]
    label = labels[i]
    loss_out[label] += weight * multinomial_loss_and_gradient(z, label, dloss)
    for k in range(z.shape[0]):
        dloss[k] = min(max(dloss[k], -max_dloss), max_dloss) * weight


@jit()
def _pay_l1(W, bucket, accrued, received, j, acc, S):
    """Cumulative l1 penalty on feature ``j`` (Tsuruoka et al., 2009).

    ``accrued[b]`` is the total shrinkage every coefficient of bucket ``b`` is
    owed and ``received[k, j]`` the signed shrinkage coefficient ``(k, j)``
    has had, both in the units of ``V`` (the weights are ``scale * V``), so
    that paying lazily, at a feature's next use, is the same as paying at
    every step. A coefficient moves towards zero by what it is still owed in
    its direction, and stops at zero. While the lazy average runs (``acc``
    not empty) the payment is a change of ``V`` like a step's, taken out of
    ``acc`` so that the iterates already averaged keep their value (as
    :func:`_add_row_averaged` does): without it every payment moved them
    all, and the default stochastic fit with ``penalty="l1"`` ended 16%
    above Lasso's objective.
    """
    owed = accrued[bucket[j]]
    averaging = acc.shape[0] > 0
    for k in range(W.shape[0]):
        w = W[k, j]
        if w > 0.0:
            W[k, j] = max(0.0, w - (owed + received[k, j]))
        elif w < 0.0:
            W[k, j] = min(0.0, w + (owed - received[k, j]))
        paid = W[k, j] - w
        received[k, j] += paid
        if averaging:
            acc[k, j] -= paid * S[bucket[j]]


@jit()
def _pay_all_l1(W, bucket, accrued, received, acc, S):
    for j in range(W.shape[1]):
        _pay_l1(W, bucket, accrued, received, j, acc, S)


@jit()
def _pay_row_l1(W, bucket, accrued, received, indices, indptr, i, centred, acc, S):
    """Pay the l1 penalty owed by the features a step on CSR row ``i`` moves: the
    row's own and the ``centred`` columns (:func:`_add_centre`)."""
    for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        _pay_l1(W, bucket, accrued, received, np.uint64(indices[p]), acc, S)
    for q in range(centred.shape[0]):
        _pay_l1(W, bucket, accrued, received, centred[q], acc, S)


# How many rows ahead of the current one the kernels prefetch: far enough
# for the memory to arrive in time, near enough for it to still be in cache.
PREFETCH_DISTANCE = 4


@jit(inline="always")
def _prefetch_row(is_csr, X, data, indices, indptr, order, r):
    """Start loading row ``order[r]`` (if there is one) into the cache."""
    if r >= order.shape[0]:
        return
    i = np.uint64(order[r])
    if is_csr:
        begin, end = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
        # A prefetch per 64-byte line of float64 data and of int32 indices
        # (float32 data gets two per line). A row that starts mid-line may
        # leave its last line out; fetching it too was no faster (43.7
        # against 43.6 ms per CSR epoch).
        for p in range(begin, end, 8):
            prefetch(data, p)
        for p in range(begin, end, 16):
            prefetch(indices, p)
    else:
        n_features = X.shape[1]
        first = i * np.uint64(n_features)
        for j in range(0, n_features, 8):
            prefetch(X, first + np.uint64(j))
        prefetch(X, first + np.uint64(n_features - 1))  # the row may end on a new line


@jit(inline="always")
def _average_weight(tau, power):
    """Weight of the ``tau``-th averaged iterate (from 1): ``tau (tau + 1) ... (tau + power - 1)``.

    ``power`` 0 gives uniform weights, scikit-learn's ``average`` (the mean
    of the iterates). Weights growing as ``tau ** power`` (polynomial-decay
    averaging, Shamir and Zhang, 2013) forget the iterates of the start,
    which are far from the optimum; ``learning_rate="auto"`` uses power 3.
    """
    weight = 1.0
    for i in range(power):
        weight *= tau + i
    return weight


@jit(inline="always")
def _total_average_weight(tau, power):
    """Sum of the weights of the first ``tau`` averaged iterates (a closed form)."""
    total = tau
    for i in range(1, power + 1):
        total *= tau + i
    return total / (power + 1)


@jit()
def _average(W_avg, b_avg, W, b, rate):
    """Move the averages towards the weights ``W, b`` by ``rate`` (a weight over the total)."""
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            W_avg[k, j] += (W[k, j] - W_avg[k, j]) * rate
        b_avg[k] += (b[k] - b_avg[k]) * rate


@jit(inline="always")
def _add_row_averaged(is_csr, step, W, b, fit_intercept, acc, S, inverse, bucket, center, X,
                      data, indices, indptr, i):
    """:func:`_add_row` (with ``divisor`` 1) that also keeps the lazy average's books.

    The weighted sum of the iterates of coefficient ``j`` is kept as
    ``acc_j + V_j S_b``: ``S_b`` sums the averaging weight times bucket
    ``b``'s scale over the averaged steps, so a step that leaves ``V_j``
    alone costs nothing, and a change ``d`` of ``V_j`` subtracts ``d S_b``
    from ``acc_j`` (the iterates before it keep their value). O(nnz) per
    step, where an average of every coefficient costs O(n_features).
    """
    single = inverse.shape[0] == 1
    for k in range(W.shape[0]):
        c = step[k]
        if c == 0.0:
            continue
        if fit_intercept:
            b[k] += c
        # One bucket (and no centre) apart: the bucket lookups keep LLVM from
        # vectorising the dense loop, which took twice as long.
        if is_csr:
            for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                j = np.uint64(indices[p])
                d = c * inverse[bucket[j]] * data[p]
                W[k, j] += d
                acc[k, j] -= d * S[bucket[j]]
        elif single:
            c_inverse, s = c * inverse[0], S[0]
            if center.shape[0] == 0:
                for j in range(X.shape[1]):
                    d = c_inverse * X[i, j]
                    W[k, j] += d
                    acc[k, j] -= d * s
            else:
                for j in range(X.shape[1]):
                    d = c_inverse * (X[i, j] - center[j])
                    W[k, j] += d
                    acc[k, j] -= d * s
        else:
            for j in range(X.shape[1]):
                x = X[i, j] - center[j] if center.shape[0] else X[i, j]
                d = c * inverse[bucket[j]] * x
                W[k, j] += d
                acc[k, j] -= d * S[bucket[j]]


@jit(inline="always")
def _start_lazy_average(W_avg, t, average_start, power, averages):
    """The lazy average's ``(acc, total)`` at the start of an epoch (empty if not ``averages``)."""
    if not averages:
        return np.empty((0, 0)), 0.0
    tau = max(t - average_start, 0)
    total = _total_average_weight(float(tau), power)
    acc = np.empty(W_avg.shape)
    for k in range(W_avg.shape[0]):
        for j in range(W_avg.shape[1]):
            acc[k, j] = W_avg[k, j] * total
    return acc, total


@jit(inline="always")
def _finish_lazy_average(W_avg, W, bucket, acc, S, total):
    """``W_avg = (acc + V S) / total``: the weighted mean of the iterates so far."""
    if total == 0.0:
        return
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            W_avg[k, j] = (acc[k, j] + W[k, j] * S[bucket[j]]) / total


@jit(inline="always")
def _accumulate_average(S, scale, b_avg, b, weight, total):
    """One averaged step of weight ``weight``: ``S_b += weight scale_b``; the intercept eagerly."""
    for bk in range(S.shape[0]):
        S[bk] += weight * scale[bk]
    for k in range(b.shape[0]):
        b_avg[k] += (b[k] - b_avg[k]) * (weight / total)


@jit()
def _fold(W, scale, columns, starts, floor, accrued, received, acc, S):
    """Fold the scale of each bucket whose scale is below ``floor`` into ``V`` (``inf``: all).

    The l1 books, in units of ``V``, are rescaled with it; the lazy
    average's sum so far, ``acc + V S``, moves into ``acc`` and ``S``
    restarts from zero. Only the folded buckets' columns are touched
    (``columns[starts[b]:starts[b + 1]]`` are bucket ``b``'s:
    :meth:`skgd._precondition.Preconditioner.bucket_columns`): under the
    "optimal" schedule a bucket of a few rare TF-IDF columns, whose l2
    strength in the kernels' coordinates is hundreds of times alpha,
    folds every few rows of a first epoch, and a pass over all 32,768
    columns each time took 20 of the epoch's 29 ms.
    """
    averaging = acc.shape[0] > 0
    for bk in range(scale.shape[0]):
        s = scale[bk]
        if not s < floor:
            continue
        for p in range(starts[bk], starts[bk + 1]):
            j = columns[p]
            for k in range(W.shape[0]):
                if averaging:
                    acc[k, j] += W[k, j] * S[bk]
                W[k, j] *= s
            if s != 1.0:
                for k in range(received.shape[0]):
                    received[k, j] *= s
        accrued[bk] *= s
        S[bk] = 0.0
        scale[bk] = 1.0


@jit(inline="always")
def _scale_floor(acc):
    """The scale below which :func:`_decay` asks for a fold into ``V``.

    :data:`MIN_SCALE`, or :data:`MIN_SCALE_AVERAGING` while the lazy average
    runs (its sum ``acc + V S`` loses the digits of ``1 / scale`` to
    cancellation).
    """
    return MIN_SCALE_AVERAGING if acc.shape[0] else MIN_SCALE


@jit(inline="always")
def _decay(scale, bucket_scale, factor, inverse, eta, l2, floor, proximal):
    """Apply each bucket's l2 decay to ``W = scale * V``: ``w <- max(0, 1 - eta l2_b) w``,
    or ``w <- w / (1 + eta l2_b)`` with ``proximal``.

    The proximal decay is the one the loops apply after the step (the
    proximal step of the l2 part; see
    :meth:`skgd._precondition.Preconditioner.kernel_arguments`). The decay
    goes into ``scale``, an O(1) step per bucket, and the factors are refreshed (as
    :func:`_refresh_factors` does). Returns whether a scale fell below
    ``floor`` (zero or tiny): the caller then folds it into ``V``
    (:func:`_fold`) and refreshes the factors again. As in scikit-learn, a
    decay factor below zero sets the weights to zero instead of flipping
    them. Inlined and free of calls: as a call (or holding the call to
    ``_fold``), its reference counts cost about 50 ns a row (see above).
    """
    small = False
    for bk in range(scale.shape[0]):
        if l2[bk] != 0.0:
            if proximal:
                scale[bk] *= 1.0 / (1.0 + eta * l2[bk])
            else:
                scale[bk] *= max(1.0 - eta * l2[bk], 0.0)
            small = small or scale[bk] < floor
        factor[bk] = scale[bk] * bucket_scale[bk]
        inverse[bk] = bucket_scale[bk] / scale[bk]
    return small


@jit(inline="always")
def _refresh_factors(scale, bucket_scale, factor, inverse):
    """The dot's ``scale_b s_b`` and the step's ``s_b / scale_b`` per bucket."""
    for bk in range(scale.shape[0]):
        factor[bk] = scale[bk] * bucket_scale[bk]
        inverse[bk] = bucket_scale[bk] / scale[bk]


@jit()
def _accrue_l1(W, scale, bucket, accrued, received, eta, l1, l2, proximal, lazy, acc, S):
    """Add one step's l1 penalty to the books (in units of V); pay it now unless ``lazy``.

    After a ``proximal`` l2 decay the step's threshold is ``eta l1 / (1 +
    eta l2)``: the elastic net's proximal step ``soft(w - eta g, eta l1) /
    (1 + eta l2)`` with the decay taken first. (The full ``eta l1`` would
    solve the problem of l1 strength ``l1 (1 + eta l2)``.) Returns whether
    some coefficients are now behind.
    """
    for bk in range(accrued.shape[0]):
        threshold = eta * l1[bk] / (1.0 + eta * l2[bk]) if proximal else eta * l1[bk]
        accrued[bk] += threshold / scale[bk]
    if lazy:
        return True
    _pay_all_l1(W, bucket, accrued, received, acc, S)
    return False


@jit()
def _pa_step(schedule_code, loss, derivative, sq_norm, C):
    """Passive-aggressive step of scikit-learn's ``"pa1"``/``"pa2"`` schedules.

    The step moves the score against the loss's derivative by ``min(C,
    loss / |x|^2)`` (PA-I) or ``loss / (|x|^2 + 1 / (2 C))`` (PA-II)
    (Crammer et al., 2006). A zero row takes no PA-I step.
    """
    if loss == 0.0:
        return 0.0
    if schedule_code == PA1:
        if sq_norm == 0.0:
            return 0.0
        size = min(C, loss / sq_norm)
    else:
        size = loss / (sq_norm + 0.5 / C)
    return -size if derivative > 0.0 else size


@jit(inline="always")
def _end_lazy_epoch(W, scale, bucket, columns, starts, l1_accrued, l1_received, acc, S, behind,
                    averages, W_avg, total):
    """Bring the lazy books up to date at the end of an epoch of plain steps.

    The l1 penalty still owed, the lazily kept averages, and the scale folded
    back into ``W``.
    """
    if behind:
        _pay_all_l1(W, bucket, l1_accrued, l1_received, acc, S)
    if averages:
        _finish_lazy_average(W_avg, W, bucket, acc, S, total)
    _fold(W, scale, columns, starts, np.inf, l1_accrued, l1_received, acc, S)


def _stochastic_loop(is_csr, general):
    """The stochastic loop for one storage format (``is_csr``, a constant of the closure).

    ``general`` (a constant too) says whether the loop holds the cumulative
    l1 penalty's books, the passive-aggressive steps and the multinomial
    loss: without them numba prunes those branches before typing them, and
    the helpers they call are not compiled at all (a first fit in a fresh
    environment compiled for about 1.5 s less).
    """

    def stochastic_epoch(X, data, indices, indptr, args):
        """Plain (or passive-aggressive) steps on one row at a time, with W = scale * V.

        The stochastic solver's hot loop. The row's loss is written out here
        rather than taken from :func:`_row_losses` for the multinomial-free
        case: with the helper the loop took 39 instead of 33 ms per epoch on
        200,000 x 100 dense rows (why is unknown: this machine has no hardware
        counters to tell).
        """
        (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
         fit_intercept, loss_code, epsilon, max_dloss, center, bucket, bucket_scale, columns,
         starts, proximal_l2, l2, l1,
         schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
         average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
         G_out, G_b_out, mode) = borrowed(args)
        X, data, indices, indptr = borrowed((X, data, indices, indptr))
        n_samples = order.shape[0]
        n_outputs = W.shape[0]
        n_buckets = bucket_scale.shape[0]
        cumulative_l1 = l1_received.shape[0] > 0
        passive_aggressive = schedule_code == PA1 or schedule_code == PA2
        z = np.empty(n_outputs)
        step = np.empty(n_outputs)
        # (np.empty filled in place: np.ones and np.zeros compile overloads of their
        # own, about 0.15 s of a first fit.)
        scale = np.empty(n_buckets)
        scale[:] = 1.0
        factor = bucket_scale.copy()
        inverse = bucket_scale.copy()
        behind = False  # whether some coefficients have not been paid their l1 yet
        averages = average_start > 0
        S = np.empty(n_buckets)
        S[:] = 0.0
        acc, total = _start_lazy_average(W_avg, t, average_start, average_power, averages)
        floor = _scale_floor(acc)
        centred = _centred_columns(center if is_csr else center[:0])
        # (The passive-aggressive row norm's notes of the rows that stored each column.)
        met = np.empty(W.shape[1] if general and passive_aggressive and centred.shape[0] else 0)
        met[:] = -1.0
        owned = (z, step, scale, factor, inverse, S, acc, centred, met)  # kept alive to the end
        z, step, scale, factor, inverse, S, acc, centred, met = borrowed(owned)

        for r in range(n_samples):
            eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
            averaging = average_start > 0 and t >= average_start
            # Averaging needs every coefficient up to date after every step.
            lazy = cumulative_l1 and is_csr and not averaging
            if general:
                if behind and not lazy:
                    _pay_all_l1(W, bucket, l1_accrued, l1_received, acc, S)
                    behind = False
            _prefetch_row(is_csr, X, data, indices, indptr, order, r + PREFETCH_DISTANCE)
            i = np.uint64(order[r])
            if general:
                if lazy:
                    _pay_row_l1(W, bucket, l1_accrued, l1_received, indices, indptr, i, centred,
                                acc, S)

            _scores(is_csr, W, factor, bucket, center, X, data, indices, indptr, i, b, z)
            if is_csr and centred.shape[0] > 0:
                _centre_scores(W, factor, bucket, center, centred, z)
            weight = sample_weight[i]
            if general and loss_code == MULTINOMIAL:
                label = labels[i]
                loss_out[label] += weight * multinomial_loss_and_gradient(z, label, step)
                for k in range(n_outputs):
                    step[k] = -eta * min(max(step[k], -max_dloss), max_dloss) * weight
            else:
                sq_norm = 0.0
                if general and passive_aggressive:
                    if is_csr and centred.shape[0] > 0:
                        sq_norm = _centred_row_sq_norm(bucket_scale, bucket, center, centred,
                                                       data, indices, indptr, i, met)
                    else:
                        sq_norm = _row_sq_norm(is_csr, bucket_scale, bucket, center, X, data,
                                               indices, indptr, i)
                for k in range(n_outputs):
                    y, w = _target_and_weight(Y, labels, pos_weight, neg_weight, i, k, weight)
                    value, derivative = loss_and_derivative(loss_code, z[k], y, epsilon)
                    loss_out[k] += w * value
                    if general and passive_aggressive:
                        step[k] = _pa_step(schedule_code, value, derivative, sq_norm, eta_base) * w
                    else:
                        step[k] = -eta * min(max(derivative, -max_dloss), max_dloss) * w

            if not proximal_l2 and _decay(scale, bucket_scale, factor, inverse, eta, l2, floor,
                                          False):
                _fold(W, scale, columns, starts, floor, l1_accrued, l1_received, acc, S)
                _refresh_factors(scale, bucket_scale, factor, inverse)
            if averaging:
                _add_row_averaged(is_csr, step, W, b, fit_intercept, acc, S, inverse, bucket,
                                  center, X, data, indices, indptr, i)
            else:
                _add_row(is_csr, step, 1, W, b, fit_intercept, inverse, bucket, center, X, data,
                         indices, indptr, i)
            if is_csr and centred.shape[0] > 0:
                _add_centre(step, W, inverse, bucket, center, centred, averaging, acc, S)
            if proximal_l2 and _decay(scale, bucket_scale, factor, inverse, eta, l2, floor, True):
                _fold(W, scale, columns, starts, floor, l1_accrued, l1_received, acc, S)
                _refresh_factors(scale, bucket_scale, factor, inverse)
            if averaging:
                weight = _average_weight(t - average_start + 1.0, average_power)
                total += weight
                _accumulate_average(S, scale, b_avg, b, weight, total)
            if general and cumulative_l1:
                behind = _accrue_l1(W, scale, bucket, l1_accrued, l1_received, eta, l1, l2,
                                    proximal_l2, lazy, acc, S)
            t += 1

        _end_lazy_epoch(W, scale, bucket, columns, starts, l1_accrued, l1_received, acc, S,
                        behind, averages, W_avg, total)
        keep_alive(owned)
        return t

    return stochastic_epoch


def _minibatch_loop(is_csr, general):
    """The mini-batch loop for one storage format (``is_csr``, a constant of the closure);
    ``general`` as in :func:`_stochastic_loop` (no passive-aggressive steps here)."""

    def minibatch_epoch(X, data, indices, indptr, args):
        """Plain steps on batches of ``1 < batch_size < n_samples`` rows, with W = scale * V.

        The l1 books and the lazy payment are those of :func:`_stochastic_loop`.
        """
        (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
         fit_intercept, loss_code, epsilon, max_dloss, center, bucket, bucket_scale, columns,
         starts, proximal_l2, l2, l1,
         schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
         average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
         G_out, G_b_out, mode) = borrowed(args)
        X, data, indices, indptr = borrowed((X, data, indices, indptr))
        n_samples = order.shape[0]
        n_outputs = W.shape[0]
        n_buckets = bucket_scale.shape[0]
        cumulative_l1 = l1_received.shape[0] > 0
        z = np.empty(n_outputs)
        dloss = np.empty(n_outputs)
        dz = np.empty((batch_size, n_outputs))  # the batch's steps per row
        step = np.empty(n_outputs)  # one row's, copied from dz: no view (see above)
        scale = np.empty(n_buckets)
        scale[:] = 1.0
        factor = bucket_scale.copy()
        inverse = bucket_scale.copy()
        behind = False
        averages = average_start > 0
        S = np.empty(n_buckets)
        S[:] = 0.0
        acc, total = _start_lazy_average(W_avg, t, average_start, average_power, averages)
        floor = _scale_floor(acc)
        centred = _centred_columns(center if is_csr else center[:0])
        owned = (z, dloss, dz, step, scale, factor, inverse, S, acc, centred)  # kept alive
        z, dloss, dz, step, scale, factor, inverse, S, acc, centred = borrowed(owned)

        for start in range(0, n_samples, batch_size):
            m = min(batch_size, n_samples - start)
            eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
            averaging = average_start > 0 and t >= average_start
            lazy = cumulative_l1 and is_csr and not averaging
            if general:
                if behind and not lazy:
                    _pay_all_l1(W, bucket, l1_accrued, l1_received, acc, S)
                    behind = False

            # Loss derivatives of the batch, all at the weights of its start.
            for r in range(m):
                _prefetch_row(is_csr, X, data, indices, indptr, order, start + r + PREFETCH_DISTANCE)
                i = np.uint64(order[start + r])
                if general:
                    if lazy:
                        _pay_row_l1(W, bucket, l1_accrued, l1_received, indices, indptr, i,
                                    centred, acc, S)
                _scores(is_csr, W, factor, bucket, center, X, data, indices, indptr, i, b, z)
                if is_csr and centred.shape[0] > 0:
                    _centre_scores(W, factor, bucket, center, centred, z)
                if general and loss_code == MULTINOMIAL:
                    _multinomial_row_losses(labels, sample_weight, i, max_dloss, z, dloss, loss_out)
                else:
                    _row_losses(Y, labels, pos_weight, neg_weight, sample_weight, i, loss_code,
                                epsilon, max_dloss, z, dloss, loss_out)
                for k in range(n_outputs):
                    dz[r, k] = -eta * dloss[k] / m

            if not proximal_l2 and _decay(scale, bucket_scale, factor, inverse, eta, l2, floor,
                                          False):
                _fold(W, scale, columns, starts, floor, l1_accrued, l1_received, acc, S)
                _refresh_factors(scale, bucket_scale, factor, inverse)
            for r in range(m):
                i = np.uint64(order[start + r])
                for k in range(n_outputs):
                    step[k] = dz[r, k]
                if averaging:
                    _add_row_averaged(is_csr, step, W, b, fit_intercept, acc, S, inverse,
                                      bucket, center, X, data, indices, indptr, i)
                else:
                    _add_row(is_csr, step, 1, W, b, fit_intercept, inverse, bucket, center, X,
                             data, indices, indptr, i)
                if is_csr and centred.shape[0] > 0:
                    _add_centre(step, W, inverse, bucket, center, centred, averaging, acc, S)
            if proximal_l2 and _decay(scale, bucket_scale, factor, inverse, eta, l2, floor, True):
                _fold(W, scale, columns, starts, floor, l1_accrued, l1_received, acc, S)
                _refresh_factors(scale, bucket_scale, factor, inverse)
            if averaging:
                weight = _average_weight(t - average_start + 1.0, average_power)
                total += weight
                _accumulate_average(S, scale, b_avg, b, weight, total)
            if general and cumulative_l1:
                behind = _accrue_l1(W, scale, bucket, l1_accrued, l1_received, eta, l1, l2,
                                    proximal_l2, lazy, acc, S)
            t += 1

        _end_lazy_epoch(W, scale, bucket, columns, starts, l1_accrued, l1_received, acc, S,
                        behind, averages, W_avg, total)
        keep_alive(owned)
        return t

    return minibatch_epoch


def _general_loop(is_csr):
    """The general loop for one storage format (``is_csr``, a constant of the closure)."""

    def general_epoch(X, data, indices, indptr, args):
        """Gradient of each batch, optimizer step, l1 soft-threshold (``mode`` TRAIN or STEP)."""
        (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
         fit_intercept, loss_code, epsilon, max_dloss, center, bucket, bucket_scale, columns,
         starts, proximal_l2, l2, l1,
         schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
         average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
         G_out, G_b_out, mode) = borrowed(args)
        X, data, indices, indptr = borrowed((X, data, indices, indptr))
        n_samples = order.shape[0]
        n_outputs, n_features = W.shape
        single = bucket_scale.shape[0] == 1
        z = np.empty(n_outputs)
        dloss = np.empty(n_outputs)
        G = np.empty(W.shape)
        G_b = np.empty(n_outputs)
        intercepts = np.empty(n_outputs)
        owned = (z, dloss, G, G_b, intercepts)  # kept alive to the end
        z, dloss, G, G_b, intercepts = borrowed(owned)
        tau = max(t - average_start, 0) if average_start > 0 else 0
        total = _total_average_weight(float(tau), average_power)
        # The batch solver reads the rows in order, which the hardware prefetches
        # by itself: the software prefetch only added 10% to its step. (Smaller
        # batches prefetch even with shuffle=False, where it is merely wasted.)
        shuffled = batch_size < n_samples
        thresholds = np.any(l1 > 0.0)  # else a step has no l1 pass over the coefficients
        beta_1_t = hyper[2] ** (t - 1)
        beta_2_t = hyper[3] ** (t - 1)

        for start in range(0, n_samples, batch_size):
            m = min(batch_size, n_samples - start)
            eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
            G[:, :] = 0.0
            G_b[:] = 0.0
            if mode == STEP:
                # The gradient of all rows, computed over row blocks by threads
                # or workers: one step, as the batch solver's own epoch takes.
                _copy_rows(G, G_out)
                _copy(G_b, G_b_out)
                m = 0
            else:
                _intercepts(is_csr, W, b, bucket_scale, bucket, center, intercepts)
            for r in range(m):
                if shuffled:
                    _prefetch_row(is_csr, X, data, indices, indptr, order, start + r + PREFETCH_DISTANCE)
                i = np.uint64(order[start + r])
                _scores(is_csr, W, bucket_scale, bucket, center, X, data, indices, indptr, i,
                        intercepts, z)
                if loss_code == MULTINOMIAL:
                    _multinomial_row_losses(labels, sample_weight, i, max_dloss, z, dloss, loss_out)
                else:
                    _row_losses(Y, labels, pos_weight, neg_weight, sample_weight, i, loss_code,
                                epsilon, max_dloss, z, dloss, loss_out)
                # The row's share of the batch's mean gradient.
                _add_row(is_csr, dloss, m, G, G_b, True, bucket_scale, bucket, center, X, data,
                         indices, indptr, i)
            if mode != STEP:
                _centre_gradient(is_csr, G, G_b, bucket_scale, bucket, center)
            if G_out.shape[0] > 0 and mode == TRAIN:
                # The gradient of the (last) batch's mean loss at the weights it
                # started from: for the batch solver, the full gradient.
                _copy_rows(G_out, G)
                _copy(G_b_out, G_b)

            # Adam's bias corrections 1 / (1 - beta ** t), with the powers
            # carried from step to step rather than recomputed.
            beta_1_t *= hyper[2]
            beta_2_t *= hyper[3]
            c1 = 1.0 / (1.0 - beta_1_t)
            c2 = 1.0 / (1.0 - beta_2_t)
            for k in range(n_outputs):
                step_row(optimizer_code, W[k], G[k], l2, bucket, S1, S2, k, 0, eta, hyper, c1, c2)
                for j in range(n_features if thresholds else 0):
                    threshold = eta * (l1[0] if single else l1[bucket[j]])
                    if optimizer_code == SGD and l2.shape[0] > 0:
                        # step_row took the l2 part as a prox, w / (1 + eta l2):
                        # the elastic net's prox thresholds by eta l1 before that
                        # division, so by eta l1 / (1 + eta l2) after it.
                        threshold /= 1.0 + eta * l2[0 if l2.shape[0] == 1 else bucket[j]]
                    if threshold > 0.0:
                        W[k, j] = soft_threshold(W[k, j], threshold)
                if fit_intercept:
                    step_row(optimizer_code, b[k:k + 1], G_b[k:k + 1], l2[:0], bucket, S1, S2,
                             k, n_features, eta, hyper, c1, c2)
            if average_start > 0 and t >= average_start:
                weight = _average_weight(t - average_start + 1.0, average_power)
                total += weight
                _average(W_avg, b_avg, W, b, weight / total)
            t += 1
        keep_alive(owned)
        return t

    return general_epoch


def _evaluate_loop(is_csr, general):
    """The evaluation loop for one storage format (``is_csr``, a constant of the closure).

    A loop of its own rather than a mode of the general loop: a stochastic
    or mini-batch fit, which evaluates only, then compiles this small loop
    instead of the general one (1.5 s instead of 4.7 s of its first fit).
    ``general`` (a constant too): whether it holds the multinomial loss,
    which a fit without it then does not compile.
    """

    def evaluate_rows(X, data, indices, indptr, args):
        """Sum the losses over the rows ``order`` at ``W, b``, as ``mode`` says (no step).

        EVALUATE: the losses; GRADIENT: and the gradient of their mean in
        ``G_out, G_b_out``; INTERCEPT_ONLY: the losses of the scores ``b``;
        ZERO_GRADIENT: GRADIENT where ``W`` is zero, from those scores.
        """
        (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
         fit_intercept, loss_code, epsilon, max_dloss, center, bucket, bucket_scale, columns,
         starts, proximal_l2, l2, l1,
         schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
         average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
         G_out, G_b_out, mode) = borrowed(args)
        X, data, indices, indptr = borrowed((X, data, indices, indptr))
        n_samples = order.shape[0]
        z = np.empty(W.shape[0])
        dloss = np.empty(W.shape[0])
        intercepts = np.empty(W.shape[0])
        owned = (z, dloss, intercepts)  # kept alive to the end
        z, dloss, intercepts = borrowed(owned)
        # (At W = 0 every score is b, the centre's share included.)
        intercept_scores = mode == INTERCEPT_ONLY or mode == ZERO_GRADIENT
        if not intercept_scores:
            _intercepts(is_csr, W, b, bucket_scale, bucket, center, intercepts)
        gradient = mode == GRADIENT or mode == ZERO_GRADIENT
        if gradient:
            G_out[:, :] = 0.0
            G_b_out[:] = 0.0
        for r in range(n_samples):
            i = np.uint64(order[r])
            if intercept_scores:
                _copy(z, b)
            else:
                _scores(is_csr, W, bucket_scale, bucket, center, X, data, indices, indptr, i,
                        intercepts, z)
            if general and loss_code == MULTINOMIAL:
                _multinomial_row_losses(labels, sample_weight, i, max_dloss, z, dloss, loss_out)
            else:
                _row_losses(Y, labels, pos_weight, neg_weight, sample_weight, i, loss_code,
                            epsilon, max_dloss, z, dloss, loss_out)
            if gradient:
                _add_row(is_csr, dloss, n_samples, G_out, G_b_out, True, bucket_scale, bucket,
                         center, X, data, indices, indptr, i)
        if gradient:
            _centre_gradient(is_csr, G_out, G_b_out, bucket_scale, bucket, center)
        keep_alive(owned)
        return t

    return evaluate_rows


# One entry point per loop and storage format: each loop is a closure whose
# storage flag is a constant, so numba prunes the other format's branches
# (and the disk cache keeps the two apart: its key hashes the closure's
# cells). A single entry point holding all three loops took 18 s to compile
# per signature; inlining each loop into a dense and a CSR entry point (the
# previous shape) spent about 3 s of a 8 s compile copying the loop's IR.
# All take ``(X, data, indices, indptr, args)``: a C-contiguous dense ``X``
# with empty CSR arrays, or an empty ``X`` with the CSR arrays; ``args`` is
# one tuple of the loops' other arguments, in the order each loop unpacks it
# (see :func:`skgd._engine.call_kernel`), so that the caller does not depend
# on which loop runs; each returns the update count after the epoch. ``W``,
# ``b``, the optimizer state ``S1``/``S2``, the averages ``W_avg``/``b_avg``,
# the l1 books and ``loss_out`` (the weighted sum of the losses met during
# the epoch, per output) are updated in place.
#
# Not "reassoc" on CSR: it makes LLVM vectorise the sparse dot product with
# gather instructions, 30% slower than the scalar loop (100 non-zeros a row).
CSR_JIT = jit(fastmath={"contract"})

stochastic_epoch_dense = jit()(_stochastic_loop(False, general=True))
stochastic_epoch_csr = CSR_JIT(_stochastic_loop(True, general=True))
minibatch_epoch_dense = jit()(_minibatch_loop(False, general=True))
minibatch_epoch_csr = CSR_JIT(_minibatch_loop(True, general=True))
# Without the cumulative l1 penalty, passive-aggressive steps and the
# multinomial loss (the defaults): smaller, and compiled faster (the
# evaluation loop without the multinomial loss only).
plain_stochastic_dense = jit()(_stochastic_loop(False, general=False))
plain_stochastic_csr = CSR_JIT(_stochastic_loop(True, general=False))
plain_minibatch_dense = jit()(_minibatch_loop(False, general=False))
plain_minibatch_csr = CSR_JIT(_minibatch_loop(True, general=False))
general_epoch_dense = jit()(_general_loop(False))
general_epoch_csr = CSR_JIT(_general_loop(True))
evaluate_dense = jit()(_evaluate_loop(False, general=True))
evaluate_csr = CSR_JIT(_evaluate_loop(True, general=True))
plain_evaluate_dense = jit()(_evaluate_loop(False, general=False))
plain_evaluate_csr = CSR_JIT(_evaluate_loop(True, general=False))
