"""The compiled epoch kernels, dense and CSR.

One call runs one epoch: it walks the rows in the given ``order`` in batches
of ``batch_size`` (1 for the stochastic solver, all rows for the batch
solver), and for each batch computes the per-sample loss derivatives with the
weights as they were at the start of the batch, then takes one step. Loss,
schedule, optimizer and penalty are chosen by integer codes (see
``_losses``, ``_schedules``, ``_optimizers``), so each compiled entry
point serves every estimator and loss. Each loop below has a dense and a CSR
entry point that inline it with a constant storage flag, so each compiles to
a loop without the other format's branch; :func:`epoch_kernel` picks one.

Two update paths, in three loops:

* plain steps on more than one batch per epoch (the stochastic and mini-batch
  solvers with ``optimizer="sgd"``) keep the weights as ``scale * V`` so that
  the l2 decay costs O(1) per step and an update touches only the features
  present in the batch. Their l1 part is the cumulative penalty of Tsuruoka
  et al. (2009), as in scikit-learn's SGD: each coefficient is shrunk towards
  zero by the total penalty accrued so far minus what it has received, and
  clipped at zero, so that noisy steps do not keep coefficients off zero. On
  CSR input it is paid lazily, when a feature is next seen (and for all
  features at the end of the epoch), which gives the same result as paying
  every feature at every step and keeps a sparse step O(nnz). The accrued
  penalty starts from zero at each epoch. One row per step (the stochastic
  solver, the hot path) has a loop of its own, :func:`_stochastic_epoch`;
  :func:`_minibatch_epoch` stores a batch's derivatives before its step.
* every other case (:func:`_general_epoch`) builds the mean gradient of the
  batch, adds the l2 term, asks the optimizer for a direction, moves all
  coordinates and applies the l1 part as a proximal soft-threshold:
  O(n_features) per step on top of the O(nnz) gradient. For the batch solver
  this is proximal gradient descent.

Rows visited in random order are nearly all cache misses, so the shuffled
loops prefetch the rows a few steps ahead (:mod:`skgd._prefetch`).
"""

import numpy as np
from ._jit import jit

from ._losses import MAX_DLOSS, MULTINOMIAL, loss_and_derivative, multinomial_loss_and_gradient
from ._optimizers import SGD, step_row
from ._penalties import soft_threshold
from ._prefetch import prefetch
from ._schedules import step_size

# Below this the scale of ``W = scale * V`` is folded into V, before float
# underflow could make it meaningless.
MIN_SCALE = 1e-9


# What is inlined: each epoch loop into its two entry points (so that it
# compiles with the storage flag as a constant), the per-row helpers and the
# small per-step ones (the loss, the l2 decay; as calls they made the binary
# hinge epoch 2 to 10 ms slower). The larger helpers that do not depend on
# the storage format (optimizer steps, averaging, paying the l1 penalty, the
# softmax) are plain calls: numba inlines at the level of its own IR, and
# inlining them too made the first compile about twice as long.

# Indices read from arrays (row numbers, CSR row bounds and column indices)
# are cast to unsigned before indexing: numba otherwise adds a negative-index
# check to every access, which cost about 20% of a sparse epoch.


@jit(inline="always")
def _row_dot(is_csr, w, X, data, indices, indptr, i):
    acc = 0.0
    if is_csr:
        for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            acc += w[np.uint64(indices[p])] * data[p]
    else:
        for j in range(X.shape[1]):
            acc += w[j] * X[i, j]
    return acc


@jit(inline="always")
def _row_axpy(is_csr, c, w, X, data, indices, indptr, i):
    """``w += c * x_i``."""
    if is_csr:
        for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            w[np.uint64(indices[p])] += c * data[p]
    else:
        for j in range(X.shape[1]):
            w[j] += c * X[i, j]


@jit(inline="always")
def _pay_l1(W, accrued, received, j):
    """Cumulative l1 penalty on feature ``j`` (Tsuruoka et al., 2009).

    ``accrued`` is the total shrinkage every coefficient is owed and
    ``received[k, j]`` the signed shrinkage coefficient ``(k, j)`` has had,
    both in units of ``V``. A coefficient moves towards zero by what it is
    still owed in its direction, and stops at zero.
    """
    for k in range(W.shape[0]):
        w = W[k, j]
        if w > 0.0:
            W[k, j] = max(0.0, w - (accrued + received[k, j]))
        elif w < 0.0:
            W[k, j] = min(0.0, w + (accrued - received[k, j]))
        received[k, j] += W[k, j] - w


@jit()
def _pay_all_l1(W, accrued, received):
    for j in range(W.shape[1]):
        _pay_l1(W, accrued, received, j)


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
def _row_loss(is_csr, X, data, indices, indptr, Y, sample_weight, i, W, scale, b,
              loss_code, epsilon, z, dloss):
    """Weighted loss of row ``i`` at the weights ``scale * W, b``.

    Leaves in ``dloss`` the derivatives of the loss in each decision value,
    clipped to ``[-MAX_DLOSS, MAX_DLOSS]`` and then multiplied by the row's
    weight.
    """
    for k in range(W.shape[0]):
        z[k] = scale * _row_dot(is_csr, W[k], X, data, indices, indptr, i) + b[k]
    weight = sample_weight[i]
    loss = 0.0
    if loss_code == MULTINOMIAL:
        loss = weight * multinomial_loss_and_gradient(z, Y[i], dloss)
        for k in range(W.shape[0]):
            dloss[k] = min(max(dloss[k], -MAX_DLOSS), MAX_DLOSS) * weight
    else:
        for k in range(W.shape[0]):
            value, derivative = loss_and_derivative(loss_code, z[k], Y[i, k], epsilon)
            loss += weight * value
            dloss[k] = min(max(derivative, -MAX_DLOSS), MAX_DLOSS) * weight
    return loss


@jit(inline="always")
def _plain_update(is_csr, X, data, indices, indptr, i, W, b, fit_intercept, d, eta, scale):
    """``w_k -= eta * d[k] * x_i`` for every output ``k``, in units of ``V = W / scale``."""
    for k in range(W.shape[0]):
        if d[k] != 0.0:
            _row_axpy(is_csr, -eta * d[k] / scale, W[k], X, data, indices, indptr, i)
            if fit_intercept:
                b[k] -= eta * d[k]


@jit()
def _average(W_avg, b_avg, W, scale, b, count):
    """Fold the weights ``scale * W, b`` into running means over ``count`` steps."""
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            W_avg[k, j] += (scale * W[k, j] - W_avg[k, j]) / count
        b_avg[k] += (b[k] - b_avg[k]) / count


@jit(inline="always")
def _decay(W, received, scale, accrued, eta, l2):
    """Apply the l2 decay ``w <- (1 - eta l2) w`` to ``W = scale * V``.

    Returns the new ``(scale, accrued)``. The decay goes into ``scale``, an
    O(1) step, until ``scale`` gets so small that it is folded into ``V``.
    """
    decay = 1.0 - eta * l2
    if decay >= MIN_SCALE / scale:
        return scale * decay, accrued
    factor = scale * max(decay, 0.0)
    W *= factor
    received *= factor  # the l1 penalty's books are in units of V too
    return 1.0, accrued * factor


@jit()
def _accrue_l1(W, received, accrued, penalty, lazy):
    """Add one step's l1 ``penalty`` to the books; pay it now unless ``lazy``.

    Returns the new ``(accrued, behind)``.
    """
    accrued += penalty
    if lazy:
        return accrued, True
    _pay_all_l1(W, accrued, received)
    return accrued, False


@jit()
def _settle(W, received, accrued, scale, cumulative_l1):
    """End of a plain epoch: pay every coefficient's l1 and fold ``scale`` into ``W``."""
    if cumulative_l1:
        _pay_all_l1(W, accrued, received)
    if scale != 1.0:
        W *= scale


@jit(inline="always")
def _stochastic_epoch(is_csr, X, data, indices, indptr, args):
    """Plain steps on one row at a time, with W = scale * V.

    The stochastic solver's hot loop. The row's loss is written out here
    rather than taken from :func:`_row_loss` (inlined too): with the helper
    the loop took 39 instead of 33 ms per epoch on 200,000 x 100 dense rows
    (why is unknown: this machine has no hardware counters to tell).
    """
    (Y, sample_weight, order, batch_size, W, b, fit_intercept, loss_code, epsilon,
     l2, l1, schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper,
     S1, S2, average_start, W_avg, b_avg, t) = args
    n_samples = order.shape[0]
    n_outputs = W.shape[0]
    cumulative_l1 = l1 > 0.0
    z = np.empty(n_outputs)
    dloss = np.empty(n_outputs)
    received = np.zeros(W.shape if cumulative_l1 else (0, 0))
    accrued = 0.0  # l1 shrinkage owed to every coefficient, in units of V
    behind = False  # whether some coefficients have not been paid yet
    scale = 1.0
    loss_sum = 0.0

    for r in range(n_samples):
        eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
        averaging = average_start > 0 and t >= average_start
        # Averaging needs every coefficient up to date after every step.
        lazy = cumulative_l1 and is_csr and not averaging
        if behind and not lazy:
            _pay_all_l1(W, accrued, received)
            behind = False
        _prefetch_row(is_csr, X, data, indices, indptr, order, r + PREFETCH_DISTANCE)
        i = np.uint64(order[r])
        if lazy:
            for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                _pay_l1(W, accrued, received, np.uint64(indices[p]))

        for k in range(n_outputs):
            z[k] = scale * _row_dot(is_csr, W[k], X, data, indices, indptr, i) + b[k]
        weight = sample_weight[i]
        if loss_code == MULTINOMIAL:
            loss_sum += weight * multinomial_loss_and_gradient(z, Y[i], dloss)
            for k in range(n_outputs):
                dloss[k] = min(max(dloss[k], -MAX_DLOSS), MAX_DLOSS) * weight
        else:
            for k in range(n_outputs):
                value, derivative = loss_and_derivative(loss_code, z[k], Y[i, k], epsilon)
                loss_sum += weight * value
                dloss[k] = min(max(derivative, -MAX_DLOSS), MAX_DLOSS) * weight

        scale, accrued = _decay(W, received, scale, accrued, eta, l2)
        _plain_update(is_csr, X, data, indices, indptr, i, W, b, fit_intercept, dloss, eta, scale)
        if cumulative_l1:
            accrued, behind = _accrue_l1(W, received, accrued, eta * l1 / scale, lazy)
        if averaging:
            _average(W_avg, b_avg, W, scale, b, t - average_start + 1.0)
        t += 1

    _settle(W, received, accrued, scale, cumulative_l1)
    return loss_sum, t


@jit(inline="always")
def _minibatch_epoch(is_csr, X, data, indices, indptr, args):
    """Plain steps on batches of ``1 < batch_size < n_samples`` rows, with W = scale * V.

    The l1 books (``received``, ``accrued``, ``behind``) are those of
    :func:`_stochastic_epoch`.
    """
    (Y, sample_weight, order, batch_size, W, b, fit_intercept, loss_code, epsilon,
     l2, l1, schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper,
     S1, S2, average_start, W_avg, b_avg, t) = args
    n_samples = order.shape[0]
    n_outputs = W.shape[0]
    cumulative_l1 = l1 > 0.0
    z = np.empty(n_outputs)
    dloss = np.empty(n_outputs)
    dz = np.empty((batch_size, n_outputs))  # the batch's derivatives, divided by its size
    received = np.zeros(W.shape if cumulative_l1 else (0, 0))
    accrued = 0.0
    behind = False
    scale = 1.0
    loss_sum = 0.0

    for start in range(0, n_samples, batch_size):
        m = min(batch_size, n_samples - start)
        eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
        averaging = average_start > 0 and t >= average_start
        lazy = cumulative_l1 and is_csr and not averaging
        if behind and not lazy:
            _pay_all_l1(W, accrued, received)
            behind = False

        # Loss derivatives of the batch, all at the weights of its start.
        for r in range(m):
            _prefetch_row(is_csr, X, data, indices, indptr, order, start + r + PREFETCH_DISTANCE)
            i = np.uint64(order[start + r])
            if lazy:
                for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                    _pay_l1(W, accrued, received, np.uint64(indices[p]))
            loss_sum += _row_loss(is_csr, X, data, indices, indptr, Y, sample_weight, i,
                                  W, scale, b, loss_code, epsilon, z, dloss)
            for k in range(n_outputs):
                dz[r, k] = dloss[k] / m

        scale, accrued = _decay(W, received, scale, accrued, eta, l2)
        for r in range(m):
            _plain_update(is_csr, X, data, indices, indptr, np.uint64(order[start + r]),
                          W, b, fit_intercept, dz[r], eta, scale)
        if cumulative_l1:
            accrued, behind = _accrue_l1(W, received, accrued, eta * l1 / scale, lazy)
        if averaging:
            _average(W_avg, b_avg, W, scale, b, t - average_start + 1.0)
        t += 1

    _settle(W, received, accrued, scale, cumulative_l1)
    return loss_sum, t


@jit(inline="always")
def _general_epoch(is_csr, X, data, indices, indptr, args):
    """Gradient of each batch, optimizer step, l1 soft-threshold."""
    (Y, sample_weight, order, batch_size, W, b, fit_intercept, loss_code, epsilon,
     l2, l1, schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper,
     S1, S2, average_start, W_avg, b_avg, t) = args
    n_samples = order.shape[0]
    n_outputs, n_features = W.shape
    z = np.empty(n_outputs)
    dloss = np.empty(n_outputs)
    G = np.empty(W.shape)
    G_b = np.empty(n_outputs)
    loss_sum = 0.0
    # The batch solver reads the rows in order, which the hardware prefetches
    # by itself: the software prefetch only added 10% to its step. (Smaller
    # batches prefetch even with shuffle=False, where it is merely wasted.)
    shuffled = batch_size < n_samples
    beta_1_t = hyper[2] ** (t - 1)
    beta_2_t = hyper[3] ** (t - 1)

    for start in range(0, n_samples, batch_size):
        m = min(batch_size, n_samples - start)
        eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
        G[:, :] = 0.0
        G_b[:] = 0.0
        for r in range(m):
            if shuffled:
                _prefetch_row(is_csr, X, data, indices, indptr, order, start + r + PREFETCH_DISTANCE)
            i = np.uint64(order[start + r])
            loss_sum += _row_loss(is_csr, X, data, indices, indptr, Y, sample_weight, i,
                                  W, 1.0, b, loss_code, epsilon, z, dloss)
            for k in range(n_outputs):
                g = dloss[k] / m
                if g != 0.0:
                    _row_axpy(is_csr, g, G[k], X, data, indices, indptr, i)
                    G_b[k] += g

        # Adam's bias corrections 1 / (1 - beta ** t), with the powers
        # carried from step to step rather than recomputed.
        beta_1_t *= hyper[2]
        beta_2_t *= hyper[3]
        c1 = 1.0 / (1.0 - beta_1_t)
        c2 = 1.0 / (1.0 - beta_2_t)
        for k in range(n_outputs):
            step_row(optimizer_code, W[k], G[k], l2, S1, S2, k, 0, eta, hyper, c1, c2)
            if l1 > 0.0:
                threshold = eta * l1
                for j in range(n_features):
                    W[k, j] = soft_threshold(W[k, j], threshold)
            if fit_intercept:
                step_row(optimizer_code, b[k:k + 1], G_b[k:k + 1], 0.0, S1, S2, k,
                         n_features, eta, hyper, c1, c2)
        if average_start > 0 and t >= average_start:
            _average(W_avg, b_avg, W, 1.0, b, t - average_start + 1.0)
        t += 1
    return loss_sum, t


# One entry point per loop and storage format, each inlining its loop with
# the storage flag as a constant. A single entry point holding all three
# loops took 18 s to compile per signature; one loop takes 3 to 5 s, and a
# fit compiles only the loop its solver uses. All six take the storage's
# arrays and one tuple ``args`` of the loops' other arguments, in the order
# each loop unpacks it (the plain loops ignore the optimizer's), so that the
# caller does not depend on which loop runs; each returns ``(loss_sum, t)``: the weighted sum of the losses
# met during the epoch and the update count after it. ``W``, ``b``, the
# optimizer state ``S1``/``S2`` and the averages ``W_avg``/``b_avg`` are
# updated in place.
#
# Not "reassoc" on CSR: it makes LLVM vectorise the sparse dot product with
# gather instructions, 30% slower than the scalar loop (100 non-zeros a row).
CSR_JIT = jit(fastmath={"contract"})
NO_INDEX = np.empty(0, dtype=np.int32)  # the dense loops' CSR arguments


@jit()
def stochastic_epoch_dense(X, args):
    """:func:`_stochastic_epoch` on a C-contiguous dense ``X``."""
    return _stochastic_epoch(False, X, np.empty(0, X.dtype), NO_INDEX, NO_INDEX, args)


@CSR_JIT
def stochastic_epoch_csr(data, indices, indptr, args):
    """:func:`_stochastic_epoch` on CSR input ``(data, indices, indptr)``."""
    return _stochastic_epoch(True, np.empty((0, 0), data.dtype), data, indices, indptr, args)


@jit()
def minibatch_epoch_dense(X, args):
    """:func:`_minibatch_epoch` on a C-contiguous dense ``X``."""
    return _minibatch_epoch(False, X, np.empty(0, X.dtype), NO_INDEX, NO_INDEX, args)


@CSR_JIT
def minibatch_epoch_csr(data, indices, indptr, args):
    """:func:`_minibatch_epoch` on CSR input ``(data, indices, indptr)``."""
    return _minibatch_epoch(True, np.empty((0, 0), data.dtype), data, indices, indptr, args)


@jit()
def general_epoch_dense(X, args):
    """:func:`_general_epoch` on a C-contiguous dense ``X``."""
    return _general_epoch(False, X, np.empty(0, X.dtype), NO_INDEX, NO_INDEX, args)


@CSR_JIT
def general_epoch_csr(data, indices, indptr, args):
    """:func:`_general_epoch` on CSR input ``(data, indices, indptr)``."""
    return _general_epoch(True, np.empty((0, 0), data.dtype), data, indices, indptr, args)


def epoch_kernel(optimizer_code, batch_size, n_rows, sparse):
    """The entry point that runs an epoch of ``n_rows`` rows in batches of ``batch_size``.

    Separate loops rather than one with branches inside: the stochastic one
    is the hot path, and kept small it leaves the CPU room to work on the
    next rows while it waits for memory.
    """
    if optimizer_code == SGD and batch_size == 1 < n_rows:
        return stochastic_epoch_csr if sparse else stochastic_epoch_dense
    if optimizer_code == SGD and batch_size < n_rows:
        return minibatch_epoch_csr if sparse else minibatch_epoch_dense
    return general_epoch_csr if sparse else general_epoch_dense
