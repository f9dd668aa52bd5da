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

For the epoch, each column's state is one record, a row of a table
(:func:`_record_table`) made from the column's state when the epoch first
meets it (:func:`_load_record`) and written back at the end, so that
meeting a column touches its record (one 64-byte line for one output)
rather than a line in each of seven arrays, and with several outputs a line
per output in each. A column the epoch does not meet is caught up from its
state as it stands, without a record.

A step of one row (the stochastic solver) marks the row's columns
(:func:`_mark_row`), scores the row with each column caught up
(:func:`_row_sums`) and takes each column's step straight from its entry
(:func:`_row_steps`): three short loops. With the catch-up's table and
the loop compiled for one output, a quarter to a third faster than one
pass that also kept the list of the step's columns (100,000 rows of 100
non-zeros over 50,000 columns, a kernel epoch: momentum 207 -> 135 ms,
AdaGrad 169 -> 128, Adam 238 -> 165, plain sgd 46). A step of several rows
gathers its gradient in the records and settles the columns after its last
row.

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
  ``n > 1``, the l2 part is taken implicitly, and where the velocity would
  carry the weight past zero with it, as a proximal step of the rule's
  long-run length ``eta / (1 - mu)`` outside the velocity, so that a rare
  column's large ``n`` cannot overshoot; a column met at every step takes
  the dense rule's steps exactly, penalty included).
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

from ._borrow import borrowed, keep_alive
from ._jit import jit
from ._kernels import (
    CSR_JIT, PREFETCH_DISTANCE, _average_weight, _multinomial_row_losses, _prefetch_row,
    _row_losses, _total_average_weight,
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
def _catch_up(code, w, s1, s2, powers, m, eta, hyper, c1, c2):
    """``(w, s1, s2)`` after ``m`` steps of zero gradient and no penalty
    (none moves for ``m = 0``), from the rule's table (:func:`_decay_powers`).
    """
    decay_1, decay_2, moves = powers[0, m], powers[1, m], powers[2, m]
    mu, rho, beta_1, beta_2, eps = hyper
    # Selects, not early returns: a column never moved before (state zero)
    # is as common as any other, and a branch on it mispredicts.
    if code == MOMENTUM or code == NESTEROV:
        still = s1 == 0.0 or mu == 0.0
        return (w if still else w - eta * s1 * moves), (0.0 if still else s1 * decay_1), s2
    if code == RMSPROP:
        return w, s1 * decay_1, s2
    if code == ADAM:
        move = eta * moves * (s1 * c1) / (math.sqrt(s2 * c2) + eps)
        return (w if s1 == 0.0 else w - move), s1 * decay_1, s2 * decay_2
    return w, s1, s2  # ADAGRAD


@jit(inline="always")
def _lazy_step(code, w, s1, s2, g, lam, implicit, eta, hyper, c1, c2):
    """``(w, s1, s2)`` after one step on data gradient ``g`` plus the l2 gradient ``lam w``.

    With ``implicit``, momentum and Nesterov take the l2 part at the new
    weight, ``w' = w - eta d(g + lam w')`` solved for ``w'``: stable however
    many steps' penalty ``lam`` holds. The penalty ``lam w'`` then joins the
    velocity, unless the catch-up would carry the weight past zero with it
    (it moves the weight by up to ``eta lam w' mu / (1 - mu)``, a frozen
    force; Nesterov's by ``mu^2 / (1 - mu)``): then the velocity holds the
    data alone, and the penalty is a proximal step of the rule's long-run
    length ``eta / (1 - mu)``. Where the weight lands after that step, data
    and penalty balance as in the dense rule; between meetings the velocity
    still moves it a little, so the data sees a slightly different weight (a
    reviewer's averaged fits ended up to 0.7% of the objective further from
    the optimum than with the velocity form, where that one is stable). (On
    2,000 rows of 50,000 sparse columns, a column met once an epoch with an
    l2 strength of 3,355 after preconditioning went 54 times past zero a
    meeting, and the fit diverged.) Otherwise the dense rule's step.
    """
    mu, rho, beta_1, beta_2, eps = hyper
    if (code == MOMENTUM or code == NESTEROV) and implicit:
        reach = mu if code == MOMENTUM else mu * mu  # the catch-up's moves per unit of velocity
        if eta * lam * reach >= 1.0 - mu:
            v = mu * s1 + g
            direction = v if code == MOMENTUM else g + mu * v
            return (w - eta * direction) / (1.0 + eta * lam / (1.0 - mu)), v, s2
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


# A column's record: the step before which it has taken every step, since
# when its average has been held, its bucket; then per output its weight,
# the rule's two states, the gathered gradient and the average's sum.
SETTLED, SINCE, BUCKET, HEAD = 0, 1, 2, 3
WEIGHT, FIRST, SECOND, GRADIENT, SUM, FIELDS = 0, 1, 2, 3, 4, 5


@jit(inline="always")
def _paid(code, w, s1, s2, g, steps, l2_j, l1_j, eta, hyper, c1, c2):
    """``(w, s1, s2)`` after the step that pays for ``steps`` steps: data
    gradient ``g`` and the penalty of all of them (l2, then the l1 threshold).
    """
    w, s1, s2 = _lazy_step(code, w, s1, s2, g, steps * l2_j, steps > 1, eta, hyper, c1, c2)
    threshold = eta * steps * l1_j
    return (soft_threshold(w, threshold) if threshold > 0.0 else w), s1, s2


@jit(inline="always")
def _rounded(cast, w):
    """``w`` rounded to the weights' dtype (``cast``'s), as ``W`` would hold it."""
    cast[0] = w
    return cast[0]


@jit(inline="always")
def _store(records, j, f, w, s1, s2, cast):
    """Write one output's weight, rounded, and states into column ``j``'s record
    (that output's fields from ``f``); return the rounded weight."""
    w = _rounded(cast, w)
    records[j, f + WEIGHT] = w
    records[j, f + FIRST] = s1
    records[j, f + SECOND] = s2
    return w


@jit(inline="always")
def _bring_up(code, records, j, n_outputs, missed, powers, eta, hyper, c1, c2, cast):
    """Column ``j``'s coefficients through its ``missed`` steps of zero gradient."""
    if missed <= 0 or code == ADAGRAD:  # AdaGrad's state does not move without a gradient
        return
    for k in range(n_outputs):
        f = HEAD + FIELDS * k
        w, s1, s2 = _catch_up(code, records[j, f + WEIGHT], records[j, f + FIRST],
                              records[j, f + SECOND], powers, missed, eta,
                              hyper, c1, c2)
        _store(records, j, f, w, s1, s2, cast)


@jit(inline="always")
def _settle(code, records, j, n_outputs, steps, l2_j, l1_j, eta, hyper, c1, c2, cast):
    """Column ``j``'s step that pays for ``steps`` steps: the data gradient
    gathered in it (taken, and zeroed) and the penalty of all of them.
    """
    for k in range(n_outputs):
        f = HEAD + FIELDS * k
        g = records[j, f + GRADIENT]
        records[j, f + GRADIENT] = 0.0
        w, s1, s2 = _paid(code, records[j, f + WEIGHT], records[j, f + FIRST],
                          records[j, f + SECOND], g, steps, l2_j, l1_j, eta, hyper, c1, c2)
        _store(records, j, f, w, s1, s2, cast)


@jit(inline="always")
def _hold_average(records, total, j, n_outputs):
    """Count column ``j`` at its current value for the averaged steps since it was last held."""
    held = total - records[j, SINCE]
    for k in range(n_outputs):
        f = HEAD + FIELDS * k
        records[j, f + SUM] += records[j, f + WEIGHT] * held
    records[j, SINCE] = total


@jit(inline="always")
def _mark_row(records, loaded, W, S1, S2, W_avg, averages, bucket, single, t_start, total_start,
              indices, begin, end, t, owed):
    """Mark row ``[begin, end)``'s columns as taking step ``t`` (``SETTLED = t + 1``).

    Loads each column's record at its first meeting and leaves in ``owed[c]``
    the steps the row's ``c``-th entry pays for. Returns False, with the
    marks undone, if a column appears twice in the row (a CSR matrix not in
    canonical form), for the batch path to take the row.
    """
    for c in range(end - begin):
        j = np.uint64(indices[begin + c])
        if not loaded[j]:
            loaded[j] = True
            _load_record(records, j, W, S1, S2, W_avg, averages, bucket, single, t_start,
                         total_start)
        settled = np.int64(records[j, SETTLED])
        if settled == t + 1:
            for q in range(c):
                records[np.uint64(indices[begin + q]), SETTLED] = t + 1 - owed[q]
            return False
        records[j, SETTLED] = t + 1
        owed[c] = t + 1 - settled
    return True


@jit(inline="always")
def _row_sums(code, records, indices, data, begin, end, single, bucket_scale, owed, averages,
              total, powers, eta, hyper, c1, c2, cast, n_outputs, z):
    """``z[k]``: the marked row's weighted sum per output before the single
    factor and the intercept (as :func:`_record_sums`), each column first
    brought through the steps it missed (and its average held).
    """
    for k in range(n_outputs):
        z[k] = 0.0
    score = 0.0  # the first output's, in a register
    for c in range(end - begin):
        j = np.uint64(indices[begin + c])
        if averages:
            _hold_average(records, total, j, n_outputs)
        missed = owed[c] - 1
        for k in range(n_outputs):
            f = HEAD + FIELDS * k
            w = records[j, f + WEIGHT]
            if code != ADAGRAD:  # AdaGrad's state does not move without a gradient
                w, s1, s2 = _catch_up(code, w, records[j, f + FIRST], records[j, f + SECOND],
                                      powers, missed, eta, hyper, c1, c2)
                w = _store(records, j, f, w, s1, s2, cast)
            if not single:
                w *= bucket_scale[np.int64(records[j, BUCKET])]
            if k == 0:
                score += w * data[begin + c]
            else:
                z[k] += w * data[begin + c]
    z[0] = score


@jit(inline="always")
def _row_steps(code, records, indices, data, begin, end, single, bucket_scale, l2, l1, owed,
               dloss, eta, hyper, c1, c2, cast, n_outputs):
    """Each of the marked row's columns' step on the row's gradient ``dloss[k]
    x`` per output, paying the penalty of the steps it missed too.
    """
    for c in range(end - begin):
        j = np.uint64(indices[begin + c])
        bj = 0 if single else np.int64(records[j, BUCKET])
        for k in range(n_outputs):
            f = HEAD + FIELDS * k
            g = 0.0 + dloss[k] * bucket_scale[bj] * data[begin + c]
            w, s1, s2 = _paid(code, records[j, f + WEIGHT], records[j, f + FIRST],
                              records[j, f + SECOND], g, owed[c], l2[bj], l1[bj], eta, hyper,
                              c1, c2)
            _store(records, j, f, w, s1, s2, cast)


@jit(inline="always")
def _record_sums(records, factor, data, indices, begin, end, first_output, z):
    """``z[k]`` for each output from ``first_output``: row ``[begin, end)``'s
    weighted sum before the single factor and the intercept (as
    :func:`skgd._kernels._scores` takes them).
    """
    single = factor.shape[0] == 1
    for k in range(first_output, z.shape[0]):
        f = HEAD + FIELDS * k + WEIGHT
        acc = 0.0
        for p in range(begin, end):
            j = np.uint64(indices[p])
            if single:
                acc += records[j, f] * data[p]
            else:
                acc += records[j, f] * factor[np.int64(records[j, BUCKET])] * data[p]
        z[k] = acc


@jit()
def _record_table(n_rows, n_outputs):
    """An uninitialised table of ``n_rows`` records that starts on a 64-byte line.

    A record of one output is padded to fill a line, so each sits on one;
    with several outputs a record spans a few lines, from wherever it starts.
    """
    width = 8 if n_outputs == 1 else HEAD + FIELDS * n_outputs
    raw = np.empty(n_rows * width + 8)
    skip = (-np.int64(raw.ctypes.data)) % 64 // 8
    return raw[skip:skip + n_rows * width].reshape((n_rows, width))


@jit(inline="always")
def _load_record(records, j, W, S1, S2, W_avg, averages, bucket, single, t, total):
    """Column ``j``'s record from its state, as of step ``t`` (its average held to ``total``)."""
    records[j, SETTLED] = t
    records[j, SINCE] = total
    records[j, BUCKET] = 0 if single else bucket[j]
    for k in range(W.shape[0]):
        f = HEAD + FIELDS * k
        records[j, f + WEIGHT] = W[k, j]
        records[j, f + FIRST] = S1[k, j]
        records[j, f + SECOND] = S2[k, j] if S2.shape[0] > 0 else 0.0
        records[j, f + GRADIENT] = 0.0
        records[j, f + SUM] = W_avg[k, j] * total if averages else 0.0


@jit()
def _decay_powers(code, hyper, n):
    """``powers[:, m]``, for ``m`` up to ``n``: the rule's decay rates to the
    power ``m`` (its first, momentum's, RMSProp's or Adam's, and Adam's
    second), and the moves of ``m`` steps of zero gradient per unit of the
    first state (``mu + ... + mu^m``, times ``mu`` once more for Nesterov).

    A table per epoch, so that catching a column up costs no ``pow`` and no
    division (on the division unit, Adam's catch-up and step are the limit).
    """
    first = hyper[1] if code == RMSPROP else (hyper[2] if code == ADAM else hyper[0])
    powers = np.empty((3, n + 1))
    powers[0, 0] = powers[1, 0] = 1.0
    for m in range(1, n + 1):
        powers[0, m] = powers[0, m - 1] * first
        powers[1, m] = powers[1, m - 1] * hyper[3]
    for m in range(n + 1):
        moves = first * (1.0 - powers[0, m]) / (1.0 - first)
        powers[2, m] = moves * first if code == NESTEROV else moves
    return powers


def _lazy_loop(one_output):
    """The lazy loop, for any number of outputs or (``one_output``) for one:
    the regressor's and the binary classifier's, whose loops over the
    outputs LLVM then unrolls away (on 100,000 CSR rows of 100 non-zeros,
    12% of a momentum epoch, 18% of an AdaGrad or Adam one).
    """
    def lazy_epoch_csr(X, data, indices, indptr, args):
        """Steps of an optimizer other than sgd on batches of CSR rows, O(nnz) each.

        ``X`` is empty: the arguments are those of every epoch entry point
        (:mod:`skgd._kernels`).
        """
        (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
         fit_intercept, loss_code, epsilon, max_dloss, center, bucket, bucket_scale, columns,
         starts, proximal_l2, l2, l1,
         schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
         average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
         G_out, G_b_out, mode) = borrowed(args)
        X, data, indices, indptr = borrowed((X, data, indices, indptr))
        n_samples = order.shape[0]
        n_features = W.shape[1]
        n_outputs = 1 if one_output else W.shape[0]  # a constant for LLVM when one
        if one_output and W.shape[0] != 1:  # (its records have room for one output)
            raise ValueError("lazy_one_output_csr takes the weights of one output")
        single = bucket_scale.shape[0] == 1
        z = np.empty(n_outputs)
        dloss = np.empty(n_outputs)
        G_b = np.empty(n_outputs)
        cast = np.empty(1, W.dtype)
        averages = average_start > 0
        tau = max(t - average_start, 0) if averages else 0
        total = _total_average_weight(float(tau), average_power)
        t_start, total_start = t, total
        # Column j's record, records[j], is made from its state when the epoch
        # first meets it (taken every step before SETTLED = t_start, average
        # held to total_start; loaded[j] says it is): an epoch of a few rows
        # costs little more than a pass over the columns it does not meet.
        records = _record_table(n_features, n_outputs)
        loaded = np.zeros(n_features, np.bool_)
        met = np.empty(n_features, np.int64)  # the current batch's columns
        owed = np.empty(n_features, np.int64)  # the steps each of them pays for
        beta_1_t = hyper[2] ** (t - 1)
        beta_2_t = hyper[3] ** (t - 1)
        eta, c1, c2 = 0.0, 1.0, 1.0
        rates = (hyper[0], hyper[1], hyper[2], hyper[3], hyper[4])
        powers = _decay_powers(optimizer_code, hyper, (n_samples + batch_size - 1) // batch_size)
        owned = (z, dloss, G_b, cast, records, loaded, met, owed, powers)  # kept alive to the end
        z, dloss, G_b, cast, records, loaded, met, owed, powers = borrowed(owned)

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
                # A step of one row (if its columns are distinct) brings each
                # column up to date, scores the row and takes each column's step
                # straight from its entry: three passes over the row's entries,
                # each a short loop. A batch of rows gathers the gradient in the
                # records and settles the batch's columns after its last row.
                one_row = m == 1 and _mark_row(records, loaded, W, S1, S2, W_avg, averages,
                                               bucket, single, t_start, total_start, indices,
                                               begin, end, t, owed)
                if one_row:
                    _row_sums(optimizer_code, records, indices, data, begin, end, single,
                              bucket_scale, owed, averages, total, powers, eta, rates, c1, c2,
                              cast, n_outputs, z)
                else:
                    score = 0.0  # the first output's, in the same pass
                    for p in range(begin, end):  # bring the columns up to the start of this step
                        j = np.uint64(indices[p])
                        if not loaded[j]:
                            loaded[j] = True
                            _load_record(records, j, W, S1, S2, W_avg, averages, bucket, single,
                                         t_start, total_start)
                        settled = np.int64(records[j, SETTLED])
                        if settled != t + 1:
                            if averages:
                                _hold_average(records, total, j, n_outputs)
                            _bring_up(optimizer_code, records, j, n_outputs, t - settled, powers,
                                      eta, rates, c1, c2, cast)
                            met[n_columns] = j
                            owed[n_columns] = t + 1 - settled
                            n_columns += 1
                            records[j, SETTLED] = t + 1
                        if single:
                            score += records[j, HEAD + WEIGHT] * data[p]
                        else:
                            score += records[j, HEAD + WEIGHT] * bucket_scale[
                                np.int64(records[j, BUCKET])] * data[p]
                    z[0] = score
                    _record_sums(records, bucket_scale, data, indices, begin, end, 1, z)
                for k in range(n_outputs):
                    z[k] = (z[k] * bucket_scale[0] if single else z[k]) + b[k]
                if loss_code == MULTINOMIAL:
                    _multinomial_row_losses(labels, sample_weight, i, max_dloss, z, dloss, loss_out)
                else:
                    _row_losses(Y, labels, pos_weight, neg_weight, sample_weight, i, loss_code,
                                epsilon, max_dloss, z, dloss, loss_out)
                for k in range(n_outputs):
                    dloss[k] /= m
                    G_b[k] += dloss[k]
                if one_row:
                    _row_steps(optimizer_code, records, indices, data, begin, end, single,
                               bucket_scale, l2, l1, owed, dloss, eta, rates, c1, c2, cast,
                               n_outputs)
                else:
                    for k in range(n_outputs):
                        if dloss[k] != 0.0:
                            f = HEAD + FIELDS * k + GRADIENT
                            for p in range(begin, end):
                                j = np.uint64(indices[p])
                                s_j = bucket_scale[0] if single else bucket_scale[
                                    np.int64(records[j, BUCKET])]
                                records[j, f] += dloss[k] * s_j * data[p]

            for c in range(n_columns):
                j = met[c]
                bj = 0 if single else np.int64(records[j, BUCKET])
                _settle(optimizer_code, records, j, n_outputs, owed[c], l2[bj], l1[bj], eta, rates,
                        c1, c2, cast)
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

        # Every column up to date, as if met with no data in the epoch's last
        # step, and written back (a column not met from its state at the start).
        adam = S2.shape[0] > 0
        for j in range(n_features):
            settled = np.int64(records[j, SETTLED]) if loaded[j] else t_start
            since = records[j, SINCE] if loaded[j] else total_start
            missed = t - settled
            bj = 0 if single else bucket[j]
            for k in range(n_outputs):
                f = HEAD + FIELDS * k
                if not loaded[j]:
                    w, s1, s2 = W[k, j], S1[k, j], S2[k, j] if adam else 0.0
                    held = W_avg[k, j] * total_start if averages else 0.0
                else:
                    w, s1, s2 = (records[j, f + WEIGHT], records[j, f + FIRST],
                                 records[j, f + SECOND])
                    held = records[j, f + SUM]
                if averages:
                    held += w * (total - since)
                if missed > 1 and optimizer_code != ADAGRAD:
                    w, s1, s2 = _catch_up(optimizer_code, w, s1, s2, powers, missed - 1, eta,
                                          rates, c1, c2)
                    w = _rounded(cast, w)
                if missed > 0:
                    w, s1, s2 = _paid(optimizer_code, w, s1, s2, 0.0, missed, l2[bj], l1[bj], eta,
                                      rates, c1, c2)
                W[k, j] = w
                S1[k, j] = s1
                if adam:
                    S2[k, j] = s2
                if averages and total > 0.0:
                    W_avg[k, j] = held / total
        keep_alive(owned)
        return t

    return lazy_epoch_csr


lazy_epoch_csr = CSR_JIT(_lazy_loop(one_output=False))
lazy_one_output_csr = CSR_JIT(_lazy_loop(one_output=True))
