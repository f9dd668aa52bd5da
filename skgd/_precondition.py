"""The diagonal preconditioner: the coordinates the kernels fit in.

The kernels fit ``z = W~ x~ + b~`` with ``x~_j = (x_j - c_j) s_j``: a column
shift ``c`` (dense data only, so that a sparse step stays O(nnz)) and a
column scale ``s``. In the original coordinates the same model is
``W = W~ s`` (column-wise) and ``b = b~ - W c``, so the penalty on ``W`` is,
in the kernels' coordinates, ``l2/2 sum_j (s_j w~_j)^2 + l1 sum_j s_j |w~_j|``:
per-column strengths. The objective minimised is exactly the one in the
original coordinates; only the path to its minimum changes.

Scales are rounded to powers of ``2 ** (1 / 2)`` and the columns grouped in
buckets of equal scale: the plain stochastic steps keep each bucket's weights
as ``scale_b * V``, so the l2 decay costs O(buckets) per step instead of
O(n_features).
"""

import copy
import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ._jit import jit
from ._jit import load as jit_load
from ._jit import read_only_view


class Preconditioner:
    """Column shift ``center`` (or none), and scale ``bucket_scale[bucket[j]]`` of column j.

    Parameters
    ----------
    center : ndarray of shape (n_features,) or (0,)
    bucket : ndarray of uint8, shape (n_features,)
    bucket_scale : ndarray of shape (n_buckets,)
    """

    # Made when first needed (kernel_arguments, unit_scale, column_scale);
    # class defaults too, for preconditioners pickled before they existed
    # (2026-12-05, 2026-12-06).
    _kernel_arguments = None
    _unit_scale = None
    _column_scale = None
    _uncentred = None

    def __init__(self, center, bucket, bucket_scale):
        self.center = np.ascontiguousarray(center, dtype=np.float64)
        self.bucket = np.ascontiguousarray(bucket, dtype=np.uint8)
        self.bucket_scale = np.ascontiguousarray(bucket_scale, dtype=np.float64)
        self._columns = None

    def bucket_columns(self):
        """``(columns, starts)``: ``columns[starts[b]:starts[b + 1]]`` are bucket ``b``'s.

        Read-only, made once per preconditioner: the kernels fold a
        bucket's scale into its columns alone (``_kernels._fold``).
        """
        if self._columns is None:
            counts = np.bincount(self.bucket, minlength=self.bucket_scale.size)
            columns = np.argsort(self.bucket, kind="stable").astype(np.int64)
            starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
            columns.flags.writeable = starts.flags.writeable = False
            self._columns = columns, starts
        return self._columns

    def __getstate__(self):
        # Without the kernels' arguments: pickled, their read-only views of
        # the arrays would come back as writeable copies (remade when needed).
        state = dict(vars(self))
        state.pop("_kernel_arguments", None)
        state.pop("_unit_scale", None)
        state.pop("_column_scale", None)
        state.pop("_uncentred", None)
        return state

    def kernel_arguments(self):
        """``(center, bucket, bucket_scale, columns, starts, proximal_l2)`` as the kernels
        take them: read-only (the kernels are compiled for read-only arrays), made once
        per preconditioner rather than at every kernel call of a small fit's epochs.

        ``proximal_l2``: whether the stochastic and mini-batch loops take the l2
        decay after the step, ``1 / (1 + eta l2)`` (with the l1 threshold
        divided likewise), which they do in any coordinates but the identity
        (one bucket of scale 1, no centre). There a column of spread 1e-3 has
        an l2 strength of 1e6 alpha: ``eta l2`` is far above 1, and
        scikit-learn's decay before the step, ``max(0, 1 - eta l2)``, zeroes
        the coordinate and lets the step's whole move through, unpenalised (on
        300 rows of 6 columns of spreads 1e-3 to 1e4 the mini-batch solver's
        objective went 1.8, 26, 94 over three epochs: a DivergenceError with
        tol=None). On the columns as given, scikit-learn's order and factor, so
        that explicit schedules take its exact steps.
        """
        if self._kernel_arguments is None:
            arrays = [read_only_view(array) for array in (
                self.center, self.bucket, self.bucket_scale, *self.bucket_columns())]
            identity = (self.center.size == 0 and self.bucket_scale.size == 1
                        and self.bucket_scale[0] == 1.0)
            self._kernel_arguments = (*arrays, not identity)
        return self._kernel_arguments

    def unit_scale(self):
        """The same centre with every column's scale 1 (one bucket): made once.

        For the evaluations that take the scales into the weights instead
        (:func:`skgd._engine._in_unit_scale`).
        """
        if self._unit_scale is None:
            self._unit_scale = type(self)(self.center, np.zeros_like(self.bucket), np.ones(1))
        return self._unit_scale

    def uncentred(self):
        """The same scales without the centre, for rows that are centred already
        (:func:`explicitly_centred`): made once, with this preconditioner's
        ``proximal_l2`` (:meth:`kernel_arguments`), so that its steps are the same.
        """
        if self._uncentred is None:
            plain = type(self)(np.empty(0), self.bucket, self.bucket_scale)
            plain._kernel_arguments = (read_only_view(plain.center), *self.kernel_arguments()[1:])
            self._uncentred = plain
        return self._uncentred

    @classmethod
    def identity(cls, n_features):
        """No shift and unit scales: the kernels work on ``x`` itself."""
        return cls(np.empty(0), np.zeros(n_features, dtype=np.uint8), np.ones(1))

    def column_scale(self):
        """The scale ``s_j`` of every column: read-only, made once per preconditioner.

        A text fit reads it about 20 times (evaluations, penalties, the
        power iteration), and gathering it anew took 90 us a time on 32,768
        columns (numpy gathers slowly through a uint8 index).
        """
        if self._column_scale is None:
            self._column_scale = read_only_view(self.bucket_scale[self.bucket])
        return self._column_scale

    def penalty(self, l2, l1):
        """Per-bucket ``(l2, l1)`` strengths in the kernels' coordinates.

        For columns of size 1e150 and more the l2 strength underflows to 0,
        which is right to working precision (their coefficients are of size
        1e-150 and less): the underflow is not an error.
        """
        with np.errstate(under="ignore"):
            return l2 * self.bucket_scale**2, l1 * self.bucket_scale

    def to_original(self, W, b):
        """``(W, b)`` of the kernels' coordinates in the original ones (new arrays)."""
        W = W * self.column_scale().astype(W.dtype, copy=False)
        b = b.copy()
        if self.center.size:
            b -= (W @ self.center).astype(b.dtype, copy=False)
        return W, b

    def from_original(self, W, b):
        """Inverse of :meth:`to_original`."""
        W = np.asarray(W)
        b = np.array(b, copy=True)
        if self.center.size:
            b += (W @ self.center).astype(b.dtype, copy=False)
        return W / self.column_scale().astype(W.dtype, copy=False), b


# Bits kept of the estimates that set a fit's course (steps, centres, the
# starting intercept): they come from sums whose last bits depend on how
# BLAS splits them, which can change with the memory alignment of an array
# (seen on the chunks of a dask array, from one run to the next). Rounded,
# they give the same bits run to run, except where the exact value is within
# 2 ** -BITS of a rounding boundary.
BITS = 24


def significant_bits(value, bits=BITS):
    """``value`` (a float) rounded to ``bits`` significant bits."""
    value = float(value)
    if not math.isfinite(value):
        return value
    mantissa, exponent = math.frexp(value)
    try:
        return math.ldexp(round(math.ldexp(mantissa, bits)), exponent - bits)
    except OverflowError:  # rounded up past the largest float
        return math.copysign(math.inf, value)


def significant_bits_of(values, bits=BITS):
    """:func:`significant_bits` of each of ``values`` (an array)."""
    mantissa, exponent = np.frexp(values)
    return np.ldexp(np.round(np.ldexp(mantissa, bits)), exponent - bits)


def on_grid(value, quantum):
    """``value`` rounded to a multiple of ``quantum``, where that is coarser than its rounding.

    (Where ``quantum`` is 0, or finer than ``value``'s own last bit, ``value``
    stays: a constant target's scale is the smallest float.)
    """
    value = np.asarray(value, dtype=np.float64)
    quantum = np.asarray(quantum, dtype=np.float64)
    coarse = quantum > np.abs(value) * np.finfo(np.float64).eps
    safe = np.where(coarse, quantum, 1.0)
    return np.where(coarse, np.round(value / safe) * safe, value)


# Scales are rounded to powers of this base: half an octave, so that every
# preconditioned column's spread is within 2 ** (1 / 4) of 1.
SCALE_BASE = 2.0 ** 0.5
# No preconditioned value is larger than this in absolute value: a column
# whose spread is tiny next to its extremes (a rare non-zero among n rows,
# whose spread is sqrt(1 / n) of it; a column constant up to rounding) is
# scaled less, so that no single row gets a squared norm of n and with it
# steps n times too short (standardised digits, a pixel almost constant on
# the training rows: a stochastic step of 1e-27). Gaussian columns, whose
# extremes are within 5 standard deviations of their mean at these sizes,
# keep their standard deviation.
MAX_VALUE = 8.0
# A column whose spread is at most this share of its size is constant.
CONSTANT = 1e-9


def column_nonzeros(X):
    """The number of non-zero entries of each column (the same for dense and CSR copies)."""
    if sp.issparse(X):
        # Compiled: numpy's mask, copy and bincount took 30 ms on 80,000 rows
        # of 100 non-zeros (a tenth of an Adam epoch there), this 8 ms.
        jit_load()
        X = X.tocsr()  # (the kernel reads indices as column numbers, unchecked)
        counts = np.zeros(X.shape[1], dtype=np.int64)
        _csr_nonzero_counts(X.data, X.indices, counts)
        return counts
    return np.count_nonzero(X, axis=0)


@jit()
def _csr_nonzero_counts(data, indices, counts):
    """Add each stored non-zero entry to its column's count."""
    for k in range(indices.shape[0]):
        if data[k] != 0:
            counts[np.uint64(indices[k])] += 1


def explicitly_centred(X, center):
    """A copy of CSR ``X`` in which every row stores each column of non-zero
    ``center``, at ``x - c`` (``-c`` where ``X`` does not store it).

    For the optimizers' lazy loop (:mod:`skgd._lazy`), which takes no centre
    (:meth:`Preconditioner.uncentred`): these columns are the ones far from
    zero relative to their spread (``FAR_COLUMNS``), stored in most rows
    already, so the copy holds at most a few entries a row more and a step
    stays O(nnz).
    """
    jit_load()
    X = canonical(X)  # (the merge takes each row's columns in order, once each)
    centred = np.flatnonzero(center).astype(np.int64)
    is_centred = np.zeros(X.shape[1], dtype=np.bool_)
    is_centred[centred] = True
    kept = np.zeros(X.shape[0], dtype=np.int64)
    _count_uncentred(X.indices, X.indptr, is_centred, kept)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(kept + centred.size, out=indptr[1:])
    data = np.empty(indptr[-1], dtype=X.dtype)
    indices = np.empty(indptr[-1], dtype=X.indices.dtype)
    _merge_centred(X.data, X.indices, X.indptr, center, centred, is_centred, indptr, data,
                   indices)
    return sp.csr_matrix((data, indices, indptr), shape=X.shape)


@jit()
def _count_uncentred(indices, indptr, is_centred, kept):
    """Each row's number of stored entries in columns that are not centred."""
    for i in range(kept.shape[0]):
        for p in range(indptr[i], indptr[i + 1]):
            if not is_centred[indices[p]]:
                kept[i] += 1


@jit(fastmath=False)
def _merge_centred(data, indices, indptr, center, centred, is_centred, out_ptr, out_data,
                   out_indices):
    """:func:`explicitly_centred`'s rows: each row's entries (in increasing
    columns, none twice) with the centred columns merged in."""
    for i in range(indptr.shape[0] - 1):
        q, out = 0, out_ptr[i]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            while q < centred.shape[0] and centred[q] < j:
                out_data[out] = -center[centred[q]]
                out_indices[out] = centred[q]
                q, out = q + 1, out + 1
            if is_centred[j]:
                if q < centred.shape[0] and centred[q] == j:
                    q += 1
                out_data[out] = np.float64(data[p]) - center[j]
            else:
                out_data[out] = data[p]
            out_indices[out] = j
            out += 1
        while q < centred.shape[0]:
            out_data[out] = -center[centred[q]]
            out_indices[out] = centred[q]
            q, out = q + 1, out + 1


def canonical(X):
    """CSR ``X`` with duplicate entries summed (they add up to the value), on a copy."""
    if X.has_canonical_format:
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


# A column's scan record: its peak, low, high, number of stored entries, and
# the weighted sums of its stored entries (as they are), their squares and
# their weights.
# (The passes over CSR entries index with unsigned integers, as the epoch
# loops do: numba checks a signed index for wraparound at every access, and
# the deviations' pass took twice as long; DESIGN.md, "Kernels".)
PEAK, LOW, HIGH, STORED, VALUE, SQUARE, WEIGHT = range(7)


@jit(fastmath=False)
def _csr_column_scan(data, indices, indptr, weight, records, sums, values):
    """One pass over CSR entries: each column's largest absolute value (all rows), the
    weighted sums of its stored entries' squares and of their weights (if ``sums``)
    and of the entries themselves (if ``values``), and over the rows of positive weight
    its extremes and number of stored entries.

    One record per column (``records[j]``, :data:`PEAK` ...), so that an
    entry touches one record, not one place in each of seven arrays (with
    four arrays: 41 -> 26 ms on 100,000 rows of 100 non-zeros over 50,000
    columns).
    """
    for i in range(np.uint64(indptr.shape[0] - 1)):
        w = weight[i]
        counted = w > 0.0
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            j = np.uint64(indices[k])
            value = np.float64(data[k])
            records[j, PEAK] = max(records[j, PEAK], abs(value))
            if sums:
                records[j, SQUARE] += w * value * value
                records[j, WEIGHT] += w
            if values:
                records[j, VALUE] += w * value
            if counted:
                records[j, LOW] = min(records[j, LOW], value)
                records[j, HIGH] = max(records[j, HIGH], value)
                records[j, STORED] += 1.0


@jit(fastmath=False)
def _csr_square_sums(data, indices, indptr, weight, unit, square, total):
    """Add each column's weighted sum of squared entries (in units of ``unit``) and weight."""
    for i in range(np.uint64(indptr.shape[0] - 1)):
        w = weight[i]
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            j = np.uint64(indices[k])
            scaled = np.float64(data[k]) / unit[j]
            square[j] += w * scaled * scaled
            total[j] += w


@jit(fastmath=False)
def _csr_value_sums(data, indices, indptr, weight, unit, values):
    """Add each column's weighted sum of its stored entries (in units of ``unit``)."""
    for i in range(np.uint64(indptr.shape[0] - 1)):
        w = weight[i]
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            j = np.uint64(indices[k])
            values[j] += w * (np.float64(data[k]) / unit[j])


@jit(fastmath=False)
def _csr_deviations(data, indices, indptr, weight, unit, mean, deviations):
    """Add each column's weighted sum of squared deviations from ``mean`` over its stored entries.

    (Not :func:`_csr_square_sums` with a centre: reading a centre of zeros
    at every entry made the other solvers' statistics 16% slower.)
    """
    for i in range(np.uint64(indptr.shape[0] - 1)):
        w = weight[i]
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            j = np.uint64(indices[k])
            deviation = np.float64(data[k]) / unit[j] - mean[j]
            deviations[j] += w * deviation * deviation


class DenseColumnPass(NamedTuple):
    """What one pass over dense rows gives of each column (:func:`dense_column_pass`)."""

    peak: np.ndarray  # the largest absolute value, over all rows
    low: np.ndarray  # the extremes over the rows of positive weight
    high: np.ndarray
    mean: np.ndarray  # the weighted mean over those rows, as the values are
    square: np.ndarray  # the weighted sum of squared deviations from it


def dense_column_pass(X, weight):
    """A :class:`DenseColumnPass` of dense C-ordered ``X``'s columns with row weights
    ``weight`` (float64).

    Compiled, one pass over the rows: with numpy's extremes and peaks, then
    the moments' two compiled passes, :meth:`ColumnStats.update` took 0.61 ms
    of a 6.5 ms fit on 5,000 x 50 rows; with this pass, 0.27 ms.
    """
    jit_load()
    n_features = X.shape[1]
    peak, shift = np.zeros(n_features), np.zeros(n_features)
    mean, square = np.zeros(n_features), np.zeros(n_features)
    low, high = np.full(n_features, np.inf), np.full(n_features, -np.inf)
    _dense_column_scan(read_only_view(X), read_only_view(weight), peak, low, high, shift,
                       mean, square)
    return DenseColumnPass(peak, low, high, shift + mean, square)


@jit(fastmath=False)
def _dense_column_scan(X, weight, peak, low, high, shift, mean, square):
    """One pass over dense rows: each column's peak (all rows), and over the rows of
    positive weight its extremes, weighted mean (``shift + mean``) and sum of
    squared deviations.

    The moments are updated row by row, in West's weighted form of
    Welford's update, of the values less the first counted row's
    (``shift``): from the mean itself, a column far from zero (sorted
    timestamps, 1.7e9 + U(0, 3600)) lost its spread's digits to the
    offset at each row (relative error 3e-8 on the squared deviations,
    against 2e-13 for two passes), and a row weighing far more than those
    before it (1 then 1e15) its own term (8%). Both now within 1e-13. As
    the values are: in range where their squares are (:func:`_sums_as_they_are`).
    """
    total = 0.0
    for i in range(X.shape[0]):
        w = weight[i]
        if w > 0.0:
            if total == 0.0:
                for j in range(X.shape[1]):
                    shift[j] = np.float64(X[i, j])
            previous = total
            total += w
            share = w / total
            kept = w * (previous / total)
            for j in range(X.shape[1]):
                value = np.float64(X[i, j])
                peak[j] = max(peak[j], abs(value))
                low[j] = min(low[j], value)
                high[j] = max(high[j], value)
                deviation = (value - shift[j]) - mean[j]
                mean[j] += share * deviation
                square[j] += kept * deviation * deviation
        else:
            for j in range(X.shape[1]):
                peak[j] = max(peak[j], abs(np.float64(X[i, j])))


@jit(fastmath=False)
def _dense_moments(X, weight, total, unit, mean, square):
    """Each column's weighted mean and sum of squared deviations, in units of ``unit``.

    Into ``mean`` and ``square`` (zeros on entry), over the rows of positive
    ``weight`` (which sum to ``total``), in two passes: where
    :func:`dense_column_pass`'s moments, summed as the values are, would
    overflow or underflow (:func:`_sums_as_they_are`: values or weights
    near 1e300 or 1e-300, or a peak in a row of weight 0 far above the
    values that weigh).
    """
    for i in range(X.shape[0]):
        w = weight[i]
        if w > 0.0:
            for j in range(X.shape[1]):
                mean[j] += w * (np.float64(X[i, j]) / unit[j])
    for j in range(X.shape[1]):
        mean[j] /= total
    for i in range(X.shape[0]):
        w = weight[i]
        if w > 0.0:
            for j in range(X.shape[1]):
                deviation = np.float64(X[i, j]) / unit[j] - mean[j]
                square[j] += w * deviation * deviation


class ColumnPass(NamedTuple):
    """What one pass over a CSR matrix's entries gives of each column (:func:`csr_column_pass`)."""

    peak: np.ndarray  # the largest absolute value, over all rows
    low: np.ndarray  # the extremes over the rows of positive weight, unstored zeros included
    high: np.ndarray
    stored: np.ndarray  # the number of stored entries in the rows of positive weight
    value: np.ndarray  # the weighted sum of the stored entries, as they are
    square: np.ndarray  # the weighted sum of their squares
    weight: np.ndarray  # the sum of the weights of the rows that store an entry


def csr_column_pass(X, weight, sums=True, values=False):
    """A :class:`ColumnPass` of CSR ``X``'s columns with row weights ``weight``
    (its ``square`` and ``weight`` zero unless ``sums``, its ``value`` unless
    ``values``: the scan without the sums takes 25 ms on 100,000 rows of 100
    non-zeros over 50,000 columns, 38 ms with them, 44 ms with the values too).

    Compiled, one pass over the entries: with numpy's ``ufunc.at`` and
    ``bincount`` the column statistics took 0.4 to 0.5 s of a fit on
    100,000 rows of 100 non-zeros, where an epoch takes 0.1 s.
    """
    jit_load()
    X = canonical(X)
    records = np.zeros((X.shape[1], 7))
    records[:, LOW], records[:, HIGH] = np.inf, -np.inf
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    _csr_column_scan(X.data, X.indices, X.indptr, weight, records, bool(sums), bool(values))
    low, high = records[:, LOW], records[:, HIGH]
    # (A stored zero is among the extremes already.)
    has_zeros = records[:, STORED] < np.count_nonzero(weight > 0)
    return ColumnPass(records[:, PEAK].copy(), np.where(has_zeros, np.minimum(low, 0.0), low),
                      np.where(has_zeros, np.maximum(high, 0.0), high),
                      *(records[:, field].copy() for field in (STORED, VALUE, SQUARE, WEIGHT)))


# The range of column peaks and positive row weights in which the values
# and squares summed as they are (ColumnPass.value, .square; the squared
# deviations of DenseColumnPass.square, each at most 4 times the peak) neither
# overflow nor lose the column's largest terms to underflow: there the sums
# in units of the peaks are those sums over the peaks (squared), to rounding.
SQUARE_RANGE = (1e-100, 1e100)
WEIGHT_RANGE = (1e-50, 1e50)


def _sums_as_they_are(scan, weight):
    """Whether ``scan``'s sums over the peaks (squared) give the sums in units of the peaks.

    The peaks over all rows are the units; those over the rows of positive
    weight, the largest terms of the sums (a column's peak may be in a row
    of weight 0, a row held out for early stopping, and its other values
    tiny).
    """
    counted_peak = np.maximum(np.abs(scan.low), np.abs(scan.high))  # (inf: no row counted)
    return (_within(scan.peak, SQUARE_RANGE)
            and _within(counted_peak[np.isfinite(counted_peak)], SQUARE_RANGE)
            and _within(weight, WEIGHT_RANGE)
            and np.isfinite(scan.square).all())


def _within(values, bounds):
    """Whether every positive one of ``values`` is within ``bounds``."""
    positive = values[values > 0]
    return bool(np.all((positive >= bounds[0]) & (positive <= bounds[1])))


# ColumnStats.preconditioner's centre of CSR rows for plain stochastic and
# mini-batch steps: the columns whose mean is at least FAR_FROM_ZERO times
# their standard deviation only (all of them stored in most rows).
FAR_COLUMNS = "far columns"
FAR_FROM_ZERO = 2.0
# A CSR column's squared deviations come from its sums (the squares less the
# mean's share) where that difference is at least this share of the squares:
# at most about four digits lost to cancellation (ColumnStats._deviations).
SUMS_CANCEL = 1e-4


class ColumnStats:
    """Weighted statistics of the columns, merged over ``partial_fit`` calls.

    Dense data: total weight, mean and sum of squared deviations (merged as
    Chan et al., 1979). CSR data: per column, the weight and the weighted
    sum of squares of its non-zero entries (``weight``, ``square``); with
    ``all_rows``, also the mean and the squared deviations over all rows
    (``row_weight``, ``mean``, ``deviations``), for the solvers that centre
    (the scan's sums of the values too, and a pass over the entries more
    only for columns far from zero, :meth:`_deviations`; the optimizers'
    lazy loop does not pay them). All are kept in units of each
    column's largest absolute value seen so far (``unit``), so that values
    near 1e300, or near float32's 3e38, square without overflow; float32
    data is read value by value, never copied to float64.
    """

    def __init__(self, n_features, sparse, all_rows=True):
        self.sparse = sparse
        self.all_rows = bool(all_rows) or not sparse
        self.unit = np.ones(n_features)
        self.seen = np.zeros(n_features, dtype=bool)  # whether unit is a peak yet
        self.weight = np.zeros(n_features) if sparse else 0.0
        self.mean = np.zeros(n_features)
        self.square = np.zeros(n_features)  # sum of squared deviations (of values, CSR)
        # CSR: the total weight of the rows and the sum of squared deviations over them.
        self.row_weight = 0.0
        self.deviations = np.zeros(n_features)
        self.low = np.full(n_features, np.inf)  # the extremes of the rows seen
        self.high = np.full(n_features, -np.inf)

    def _rescale(self, peak):
        """Move the sums to the units of the new peaks."""
        grow = peak > np.where(self.seen, self.unit, 0.0)
        new_unit = np.where(grow & (peak > 0), peak, self.unit)
        ratio = np.where(self.seen, self.unit / new_unit, 1.0)
        self.mean *= ratio
        self.square *= ratio * ratio
        self.deviations *= ratio * ratio
        self.unit = new_unit
        self.seen |= peak > 0

    def update(self, X, weight):
        """Merge the rows of ``X`` with weights ``weight`` (zero: not counted).

        ``call_peak`` is then each column's largest absolute value in ``X``
        (all rows, weighted or not), as :func:`skgd._steps.column_peaks`
        gives it: the power iteration's units (a pass over the data less).
        """
        new = ColumnStats(X.shape[1], self.sparse, self.all_rows)._accumulate(X, weight)
        self.call_peak = np.where(new.seen, new.unit, 0.0)
        if self._empty():
            # Nothing to merge with (every fit's case): the new statistics
            # as they are, without the merge's 20 numpy calls.
            vars(self).update(vars(new))
            return self
        return self._absorb(new)

    def __getstate__(self):
        # (The last call's peaks are for that call only, not for the model.)
        return {name: value for name, value in vars(self).items() if name != "call_peak"}

    def __setstate__(self, state):
        """Unpickle; statistics pickled before the CSR all-rows moments existed
        (2026-12-05) have none, and a batch call of the sequence starts them."""
        self.__dict__.update(state)
        if "all_rows" not in state:
            self.all_rows = not self.sparse
            self.row_weight = 0.0
            self.deviations = np.zeros_like(self.square)
            if self.sparse:
                self.mean = np.zeros_like(self.square)

    def gather_all_rows(self):
        """Gather the all-rows moments too, from the rows to come.

        Those of the rows seen so far were not gathered: a ``partial_fit``
        sequence begun by another solver centres from its batch calls'
        rows (any centre is a valid one; ``move_state`` maps the weights).
        """
        self.all_rows = True
        self.row_weight = 0.0
        self.mean = np.zeros_like(self.mean)
        self.deviations = np.zeros_like(self.deviations)

    def _empty(self):
        """Whether no row has been counted yet."""
        return not self.seen.any() and not np.any(self.weight) and not np.isfinite(self.low).any()

    def _accumulate(self, X, weight):
        """The statistics of ``X``'s rows, into these empty ones (in units of X's peaks)."""
        if self.sparse:
            X = canonical(X)
            weight = np.ascontiguousarray(weight, dtype=np.float64)
            scan = csr_column_pass(X, weight, values=self.all_rows)
            stored = scan.stored
            self.low = np.minimum(self.low, scan.low)
            self.high = np.maximum(self.high, scan.high)
            self._rescale(scan.peak)
            # The scan's sums where they are exact to rounding: a pass over
            # the entries less (55 -> 39 ms on 100,000 rows of 100 non-zeros
            # over 50,000 columns), and one for the all-rows mean.
            as_they_are = _sums_as_they_are(scan, weight)
            if as_they_are:
                self.square, self.weight = scan.square / self.unit**2, scan.weight
            else:
                _csr_square_sums(X.data, X.indices, X.indptr, weight, self.unit, self.square,
                                 self.weight)
            self.row_weight = float(weight.sum())
            if self.all_rows and self.row_weight > 0:
                if as_they_are:
                    self.mean = scan.value / self.unit
                else:
                    _csr_value_sums(X.data, X.indices, X.indptr, weight, self.unit, self.mean)
                self.mean /= self.row_weight
                self.deviations = self._deviations(X, weight, stored)
            return self
        X = np.ascontiguousarray(X)
        weight = np.ascontiguousarray(weight, dtype=np.float64)
        scan = dense_column_pass(X, weight)
        self.low, self.high = scan.low, scan.high
        self._rescale(scan.peak)
        total = float(weight.sum())
        if total <= 0:
            return self
        if _sums_as_they_are(scan, weight):
            self.mean, self.square = scan.mean / self.unit, scan.square / self.unit**2
        else:
            _dense_moments(read_only_view(X), read_only_view(weight), total, self.unit,
                           self.mean, self.square)
        self.weight = total
        return self

    def _deviations(self, X, weight, stored):
        """Each CSR column's weighted sum of squared deviations from its mean over all rows.

        From the sums (the squares less the mean's share), where that
        difference is at least :data:`SUMS_CANCEL` of the squares (at most
        about four digits lost): a pass over the entries less (:meth:`update`
        9.4 -> 6.8 ms on ``time_to_target.py``'s 16,000 TF-IDF training
        rows). Else, for a column
        far from zero against its spread, a pass of the deviations
        themselves: the stored entries', then the unstored zeros', each
        ``(0 - mean) ** 2``. The zeros' weight is exactly 0 for a column
        stored in every row: the difference of the two weights is rounding
        there, which ``mean ** 2`` would blow up past the column's variance
        (1e9 + N(0, 1) with random weights: a variance of -664).
        """
        deviations = self.square - self.row_weight * self.mean**2
        cancelled = ~(deviations >= SUMS_CANCEL * self.square)
        if not cancelled.any():
            return deviations
        exact = np.zeros_like(deviations)
        _csr_deviations(X.data, X.indices, X.indptr, weight, self.unit, self.mean, exact)
        zeros = np.where(stored == np.count_nonzero(weight > 0), 0.0,
                         np.maximum(self.row_weight - self.weight, 0.0))
        exact += zeros * self.mean**2
        return np.where(cancelled, exact, deviations)

    def merge(self, other):
        """Merge ``other``, the statistics of other rows, into these (Chan et al.'s update).

        ``other`` is left as it was. Merging in any grouping gives the same
        statistics up to rounding: dask fits merge those of each chunk.
        """
        return self._absorb(copy.deepcopy(other))

    def _absorb(self, other):
        """:meth:`merge`, leaving ``other`` in the units of the merged statistics."""
        # Both in units of the larger peaks of each column.
        self._rescale(np.where(other.seen, other.unit, 0.0))
        other._rescale(np.where(self.seen, self.unit, 0.0))
        self.low = np.minimum(self.low, other.low)
        self.high = np.maximum(self.high, other.high)
        if self.sparse:
            self.square += other.square
            self.weight += other.weight
            self.all_rows = self.all_rows and other.all_rows
            self.row_weight, self.mean, self.deviations = _merged_moments(
                (self.row_weight, self.mean, self.deviations),
                (other.row_weight, other.mean, other.deviations))
        else:
            self.weight, self.mean, self.square = _merged_moments(
                (self.weight, self.mean, self.square), (other.weight, other.mean, other.square))
        return self

    def preconditioner(self, center):
        """The :class:`Preconditioner` these statistics give.

        With ``center``: centre on the weighted mean (the centre moves into
        the intercept, so a model without one cannot be centred), scale by
        the weighted standard deviation. Without: dense data are scaled by
        the root mean square; CSR data by the RMS of the non-zero entries,
        which keeps a preconditioned row's squared norm near its number of
        non-zeros on sparse data (text, one-hot blocks), where the RMS over
        all rows would blow a rare feature up to the square root of the
        number of rows. (The batch solver centres CSR data too: its steps
        are O(n_features) anyway, and the kernels centre a CSR row
        implicitly, through the intercept and the gradient's sum; it
        gathers the statistics of ``all_rows``.)

        ``center=FAR_COLUMNS`` (CSR rows, the stochastic and mini-batch
        solvers' plain steps): only the columns whose mean is at least
        :data:`FAR_FROM_ZERO` times their standard deviation are centred,
        and scaled by that deviation; the others as without a centre.
        Uncentred, such a column is near collinear with the intercept (a
        share ``r^2 / (1 + r^2)`` of it, ``r`` the ratio), which a step
        cannot resolve: a column of ``-300 + N(0, 1)`` in CSR rows ended the
        default stochastic fit at 9.7 times Ridge's objective, silently, and
        twenty of ``3 + N(0, 1)`` at 1.10 times. Such a column is stored in
        most rows (stored in a share ``q`` of them, its ratio is at most
        ``sqrt(q / (1 - q))``: 2 needs ``q >= 0.8``), so each step moves it
        too (``_kernels._add_centre``) at most a quarter of the row's own
        entries more. (Centring every column stored in half the rows, the
        commonest words of a TF-IDF text too, of ratios 0.8-2.7, cost 18% of
        a fit there and changed no score.)
        """
        if self.sparse and not (center and self.all_rows):
            return _bucketed(np.empty(0), self._stored_rms() * self.unit, self._extreme(0.0))
        total, deviations = ((self.row_weight, self.deviations) if self.sparse
                             else (self.weight, self.square))
        var = deviations / total if total > 0 else np.zeros_like(deviations)
        mean, spread = self.mean * self.unit, np.sqrt(np.maximum(var, 0.0)) * self.unit
        if center is FAR_COLUMNS and self.sparse:
            far = (np.abs(mean) >= FAR_FROM_ZERO * spread) & (mean != 0)  # (not empty ones)
            if not far.any():
                return self.preconditioner(False)
            mean = np.where(far, mean, 0.0)
            spread = np.where(far, spread, self._stored_rms() * self.unit)
        if center:
            mean = on_grid(mean, spread * 2.0**-BITS)
            return _bucketed(mean, spread, self._extreme(mean))
        return _bucketed(np.empty(0), np.hypot(spread, mean), self._extreme(0.0))

    def _stored_rms(self):
        """Each CSR column's root mean square of its stored entries (in units of ``unit``)."""
        return np.sqrt(np.divide(self.square, self.weight, out=np.zeros_like(self.square),
                                 where=self.weight > 0))

    def _extreme(self, center):
        """The largest distance of each column's values from ``center``."""
        with np.errstate(invalid="ignore", over="ignore"):
            far = np.maximum(np.abs(self.high - center), np.abs(self.low - center))
        return np.where(np.isfinite(far), far, 0.0)


def _merged_moments(ours, theirs):
    """``(weight, mean, sum of squared deviations)`` of two sets of rows together
    (Chan et al., 1979), from those of each set."""
    weight, mean, square = ours
    other_weight, other_mean, other_square = theirs
    if not other_weight > 0:
        return ours
    delta = other_mean - mean
    merged = weight + other_weight
    return (merged, mean + delta * other_weight / merged,
            square + other_square + delta * delta * weight * other_weight / merged)


def _bucketed(center, spread, extreme):
    """Scales ``1 / spread`` rounded to powers of :data:`SCALE_BASE`, in buckets.

    The spread is at least ``extreme / MAX_VALUE``: no scaled value is
    larger than :data:`MAX_VALUE`. Columns without spread keep a scale of 1
    (their centred values are zero).
    """
    spread = np.maximum(spread, extreme / MAX_VALUE)
    # A column constant up to rounding (a spread of 1e-9 of its size) is not
    # to be blown up to unit spread: it is scaled by its size.
    size = np.abs(center) if np.ndim(center) and np.size(center) else 0.0
    constant = spread <= CONSTANT * np.maximum(size, extreme)
    spread = np.where(constant, np.maximum(size, extreme), spread)
    with np.errstate(divide="ignore"):
        exponent = np.where(spread > 0, np.round(-np.log(spread) / np.log(SCALE_BASE)), 0.0)
    # 255 half-octaves cover 1e-38 to 1e38: the extremes are merged. The
    # levels present and each column's rank among them by counting (the
    # sort in np.unique took 5 ms on 32,768 columns).
    # (Scales stay within 2 ** +-1023: an infinite spread, beyond float64
    # data, gets the smallest.)
    exponent = np.clip(exponent, -2046, 2046)
    lowest = int(exponent.min()) if exponent.size else 0
    offset = np.clip(exponent - lowest, 0, 254).astype(np.intp)
    present = np.bincount(offset, minlength=1) > 0
    bucket = (np.cumsum(present) - 1)[offset]
    levels = (np.flatnonzero(present) + lowest) if exponent.size else np.empty(0)
    bucket_scale = SCALE_BASE ** levels.astype(np.float64)
    return Preconditioner(center, bucket.astype(np.uint8), bucket_scale)


# Optimizer states by how they change with the coordinates: sums of
# gradients (momentum, Adam's first moment) or of squared gradients.
LINEAR_STATE = {1: (0,), 2: (0,), 5: (0,)}  # optimizer code -> state arrays (S1=0, S2=1)
QUADRATIC_STATE = {3: (0,), 4: (0,), 5: (1,)}


def move_state(state, old, new):
    """Express ``state`` (weights, averages, optimizer state) in ``new``'s coordinates.

    The weights and averages move exactly (through the original
    coordinates). A gradient in the kernels' coordinates is ``s (g_w - c
    g_b)`` for the weights and ``g_b`` for the intercept, so the sums of
    gradients of momentum and Adam move exactly too; the sums of squared
    gradients (AdaGrad, RMSProp, Adam's second moment) are rescaled by the
    square of the change of scale, which ignores what the centre mixes in.
    """
    state.W, state.b = _moved(state.W, state.b, old, new)
    if state.W_avg.size:
        state.W_avg, state.b_avg = _moved(state.W_avg, state.b_avg, old, new)
    old_scale, new_scale = old.column_scale(), new.column_scale()
    arrays = [state.S1, state.S2]
    for index in LINEAR_STATE.get(state.optimizer_code, ()):
        S = arrays[index]
        g_b = S[:, -1:]
        g_w = S[:, :-1] / old_scale + (g_b * old.center if old.center.size else 0.0)
        S[:, :-1] = new_scale * (g_w - (g_b * new.center if new.center.size else 0.0))
    for index in QUADRATIC_STATE.get(state.optimizer_code, ()):
        arrays[index][:, :-1] *= (new_scale / old_scale) ** 2
    state.preconditioner = new


def _moved(W, b, old, new):
    W_orig, b_orig = old.to_original(W.astype(np.float64), b.astype(np.float64))
    W_new, b_new = new.from_original(W_orig, b_orig)
    return W_new.astype(W.dtype), b_new.astype(b.dtype)
