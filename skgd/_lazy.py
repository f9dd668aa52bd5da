"""Momentum, Nesterov, AdaGrad, RMSProp and Adam in O(nnz) a step on CSR input.

The general loop (:func:`skgd._kernels._general_loop`) moves every
coefficient at every step, O(n_features) a step however few columns the
batch holds. This loop moves only the columns of the step's rows and brings
every other column up to date when it is next met ("lazy", or just-in-time,
updates), and all of them at the end of the epoch.

Between two meetings a column's data gradient is zero, so its missed steps
follow the rule under a zero gradient (:func:`_catch_up`):

============  ==============================================================
momentum      ``w -= eta v (mu + ... + mu^m)``, ``v *= mu^m``: exact
nesterov      the same with one more factor ``mu`` on the move: exact
adagrad       nothing moves: exact
rmsprop       ``s *= rho^m``: exact
adam          ``m1 *= b1^m``, ``m2 *= b2^m`` (exact) and the weight moves by
              ``eta c1 m1 / (sqrt(c2 m2) + eps) (b1 + ... + b1^m)``
============  ==============================================================

Where this is not the dense rule's trajectory:

* the moves of the missed steps take the step size of the step that brings
  the column up to date (exact for the constant schedule the adaptive rules
  use under ``learning_rate="auto"``; a decaying schedule moves by slightly
  smaller steps than it would have taken);
* Adam's missed moves keep the denominator ``sqrt(c2 m2) + eps`` and the
  bias corrections of that step, where the dense rule's denominator shrinks
  by ``sqrt(b2)`` a step: term ``i`` is ``b2^(i/2)`` too small (0.5% over the
  ten steps that carry most of the move with the defaults 0.9 and 0.999),
  and early in a fit (the first few thousand steps, while ``1 - b2^t`` is
  far from 1) the missed steps' own bias corrections were larger;
* the penalty of the missed steps is paid when the column is met: its
  l2 gradient ``n l2 w`` and soft-threshold ``eta n l1`` count the ``n``
  steps since the column's last step (with momentum and Nesterov, for
  ``n > 1``, the l2 part is taken implicitly, so that a rare column's large
  ``n`` cannot overshoot; a column met at every step takes the dense rule's
  steps exactly, penalty included).
  Summed over an epoch every column receives the penalty of every step, so
  the fixed point is the same objective's optimum; the path differs;
* the average of the iterates (``average``) counts a column at the value of
  its last step until it is next met.

Without a penalty, on a constant schedule, momentum, Nesterov, AdaGrad and
RMSProp take the dense rule's steps exactly, and AdaGrad and RMSProp (which
do not move under a zero gradient) its averages too; tests/test_lazy.py
compares them to rounding.
"""

import math

import numpy as np

from ._jit import jit
from ._kernels import (
    CSR_JIT, PREFETCH_DISTANCE, _average_weight, _multinomial_row_losses, _prefetch_row,
    _row_losses, _scores, _total_average_weight,
)
from ._losses import MULTINOMIAL
from ._optimizers import (
    ADAGRAD, ADAM, MOMENTUM, NESTEROV, RMSPROP, adagrad_update, adam_update, momentum_update,
    rmsprop_update, step_row,
)
from ._penalties import soft_threshold
from ._schedules import step_size


# The per-coefficient helpers take and return scalars and are inlined. A
# call that passes arrays to a function numba has not inlined counts
# references on each array: the first version's stochastic epoch took 15
# times plain sgd's (24,000 CSR rows of 100 non-zeros: 400 against 27 ms);
# scalar calls took 120 ms, inlined 70 to 90 ms.
@jit(inline="always")
def _catch_up(code, w, s1, s2, decay_1, decay_2, eta, hyper, c1, c2):
    """``(w, s1, s2)`` after ``m`` steps of zero gradient and no penalty.

    ``decay_1`` and ``decay_2`` are the rule's decay rates to the power
    ``m``: momentum's, RMSProp's or Adam's first, and Adam's second.
    """
    mu, rho, beta_1, beta_2, eps = hyper
    if code == MOMENTUM or code == NESTEROV:
        if s1 == 0.0 or mu == 0.0:
            return w, 0.0, s2
        moves = mu * (1.0 - decay_1) / (1.0 - mu)  # mu + mu^2 + ... + mu^m
        if code == NESTEROV:
            moves *= mu
        return w - eta * s1 * moves, s1 * decay_1, s2
    if code == RMSPROP:
        return w, s1 * decay_1, s2
    if code == ADAM:
        if s1 != 0.0:
            moves = beta_1 * (1.0 - decay_1) / (1.0 - beta_1)
            w -= eta * moves * (s1 * c1) / (math.sqrt(s2 * c2) + eps)
        return w, s1 * decay_1, s2 * decay_2
    return w, s1, s2  # ADAGRAD


@jit(inline="always")
def _lazy_step(code, w, s1, s2, g, lam, implicit, eta, hyper, c1, c2):
    """``(w, s1, s2)`` after one step on data gradient ``g`` plus the l2 gradient ``lam w``.

    With ``implicit``, momentum and Nesterov take the l2 part at the new
    weight, ``w' = w - eta d(g + lam w')`` solved for ``w'``: stable however
    many steps' penalty ``lam`` holds. Otherwise the dense rule's step.
    """
    mu, rho, beta_1, beta_2, eps = hyper
    if (code == MOMENTUM or code == NESTEROV) and implicit:
        if code == MOMENTUM:
            w_new = (w - eta * (mu * s1 + g)) / (1.0 + eta * lam)
        else:
            w_new = (w - eta * ((1.0 + mu) * g + mu * mu * s1)) / (1.0 + eta * (1.0 + mu) * lam)
        return w_new, mu * s1 + g + lam * w_new, s2
    g += lam * w
    if code == MOMENTUM or code == NESTEROV:
        w, s1 = momentum_update(code, w, s1, g, eta, mu)
    elif code == ADAGRAD:
        w, s1 = adagrad_update(w, s1, g, eta, eps)
    elif code == RMSPROP:
        w, s1 = rmsprop_update(w, s1, g, eta, rho, eps)
    else:
        w, s1, s2 = adam_update(w, s1, s2, g, eta, beta_1, beta_2, eps, c1, c2)
    return w, s1, s2


@jit(inline="always")
def _bring_up(code, W, S1, S2, j, missed, powers, eta, hyper, c1, c2):
    """Column ``j``'s coefficients through its ``missed`` steps of zero gradient."""
    if missed <= 0:
        return
    adam = S2.shape[0] > 0
    for k in range(W.shape[0]):
        w, s1, s2 = _catch_up(code, W[k, j], S1[k, j], S2[k, j] if adam else 0.0,
                              powers[0, missed], powers[1, missed], eta, hyper, c1, c2)
        W[k, j] = w
        S1[k, j] = s1
        if adam:
            S2[k, j] = s2


@jit(inline="always")
def _settle(code, W, S1, S2, j, steps, with_data, G, l2_j, l1_j, eta, hyper, c1, c2):
    """Column ``j``'s step that pays for ``steps`` steps: the data gradient
    ``G[:, j]`` (taken, and zeroed) if ``with_data``, the penalty of all of them.
    """
    adam = S2.shape[0] > 0
    lam = steps * l2_j
    threshold = eta * steps * l1_j
    for k in range(W.shape[0]):
        g = 0.0
        if with_data:
            g = G[k, j]
            G[k, j] = 0.0
        w, s1, s2 = _lazy_step(code, W[k, j], S1[k, j], S2[k, j] if adam else 0.0, g, lam,
                               steps > 1, eta, hyper, c1, c2)
        W[k, j] = soft_threshold(w, threshold) if threshold > 0.0 else w
        S1[k, j] = s1
        if adam:
            S2[k, j] = s2


@jit(inline="always")
def _hold_average(W, acc, since, total, j):
    """Count column ``j`` at its current value for the averaged steps since ``since[j]``."""
    for k in range(W.shape[0]):
        acc[k, j] += W[k, j] * (total - since[j])
    since[j] = total


@jit()
def _decay_powers(code, hyper, n):
    """``powers[:, m]``: the rule's decay rates to the power ``m``, for ``m`` up to ``n``.

    A table per epoch, so that catching a column up costs no ``pow``.
    """
    first = hyper[1] if code == RMSPROP else (hyper[2] if code == ADAM else hyper[0])
    powers = np.empty((2, n + 1))
    powers[0, 0] = powers[1, 0] = 1.0
    for m in range(1, n + 1):
        powers[0, m] = powers[0, m - 1] * first
        powers[1, m] = powers[1, m - 1] * hyper[3]
    return powers


@CSR_JIT
def lazy_epoch_csr(X, data, indices, indptr, args):
    """Steps of an optimizer other than sgd on batches of CSR rows, O(nnz) each.

    ``X`` is empty: the arguments are those of every epoch entry point
    (:mod:`skgd._kernels`).
    """
    (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
     fit_intercept, loss_code, epsilon, center, bucket, bucket_scale, columns,
     starts, proximal_l2, l2, l1,
     schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
     average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
     G_out, G_b_out, mode) = args
    n_samples = order.shape[0]
    n_outputs, n_features = W.shape
    single = bucket_scale.shape[0] == 1
    z = np.empty(n_outputs)
    dloss = np.empty(n_outputs)
    G = np.zeros((n_outputs, n_features))  # the batch's gradient, on its columns only
    G_b = np.empty(n_outputs)
    # Column j has taken the steps before settled[j]: the epoch's first step,
    # or the step after the last one whose batch held it (t + 1 as soon as
    # the current batch's rows are found to hold it).
    settled = np.full(n_features, t, np.int64)
    columns = np.empty(n_features, np.int64)  # the columns of the current batch
    owed = np.empty(n_features, np.int64)  # the steps each of them pays for
    averages = average_start > 0
    tau = max(t - average_start, 0) if averages else 0
    total = _total_average_weight(float(tau), average_power)
    acc = np.empty((n_outputs, n_features) if averages else (0, 0))
    since = np.full(n_features if averages else 0, total)
    for k in range(acc.shape[0]):
        for j in range(n_features):
            acc[k, j] = W_avg[k, j] * total
    beta_1_t = hyper[2] ** (t - 1)
    beta_2_t = hyper[3] ** (t - 1)
    eta, c1, c2 = 0.0, 1.0, 1.0
    rates = (hyper[0], hyper[1], hyper[2], hyper[3], hyper[4])
    powers = _decay_powers(optimizer_code, hyper, (n_samples + batch_size - 1) // batch_size)

    for start in range(0, n_samples, batch_size):
        m = min(batch_size, n_samples - start)
        eta = step_size(schedule_code, eta_base, t, power_t, alpha, t0)
        beta_1_t *= hyper[2]
        beta_2_t *= hyper[3]
        c1 = 1.0 / (1.0 - beta_1_t)
        c2 = 1.0 / (1.0 - beta_2_t)
        n_columns = 0
        for k in range(n_outputs):
            G_b[k] = 0.0
        for r in range(m):
            _prefetch_row(True, X, data, indices, indptr, order, start + r + PREFETCH_DISTANCE)
            i = np.uint64(order[start + r])
            begin, end = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
            for p in range(begin, end):  # bring the row's columns up to the start of this step
                j = np.uint64(indices[p])
                if settled[j] != t + 1:
                    if averages:
                        _hold_average(W, acc, since, total, j)
                    _bring_up(optimizer_code, W, S1, S2, j, t - settled[j], powers, eta, rates,
                              c1, c2)
                    columns[n_columns] = j
                    owed[n_columns] = t + 1 - settled[j]
                    n_columns += 1
                    settled[j] = t + 1
            _scores(True, W, bucket_scale, bucket, center, X, data, indices, indptr, i, b, z)
            if loss_code == MULTINOMIAL:
                _multinomial_row_losses(labels, sample_weight, i, z, dloss, loss_out)
            else:
                _row_losses(Y, labels, pos_weight, neg_weight, sample_weight, i, loss_code,
                            epsilon, z, dloss, loss_out)
            for k in range(n_outputs):
                g = dloss[k] / m
                if g != 0.0:
                    for p in range(begin, end):
                        j = np.uint64(indices[p])
                        s_j = bucket_scale[0] if single else bucket_scale[bucket[j]]
                        G[k, j] += g * s_j * data[p]
                    G_b[k] += g

        for c in range(n_columns):
            j = columns[c]
            bj = 0 if single else bucket[j]
            _settle(optimizer_code, W, S1, S2, j, owed[c], True, G, l2[bj], l1[bj], eta, rates,
                    c1, c2)
        if fit_intercept:
            for k in range(n_outputs):
                step_row(optimizer_code, b[k:k + 1], G_b[k:k + 1], l2[:0], bucket, S1, S2,
                         k, n_features, eta, hyper, c1, c2)
        if averages and t >= average_start:
            weight = _average_weight(t - average_start + 1.0, average_power)
            total += weight
            for k in range(n_outputs):
                b_avg[k] += (b[k] - b_avg[k]) * (weight / total)
        t += 1

    # Every column up to date, as if met with no data in the epoch's last step.
    for j in range(n_features):
        if averages:
            _hold_average(W, acc, since, total, j)
        missed = t - settled[j]
        if missed > 0:
            _bring_up(optimizer_code, W, S1, S2, j, missed - 1, powers, eta, rates, c1, c2)
            bj = 0 if single else bucket[j]
            _settle(optimizer_code, W, S1, S2, j, missed, False, G, l2[bj], l1[bj], eta,
                    rates, c1, c2)
    if averages and total > 0.0:
        for k in range(n_outputs):
            for j in range(n_features):
                W_avg[k, j] = acc[k, j] / total
    return t
