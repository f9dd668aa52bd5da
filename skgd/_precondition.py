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

import numpy as np


class Preconditioner:
    """Column shift ``center`` (or none), and scale ``bucket_scale[bucket[j]]`` of column j.

    Parameters
    ----------
    center : ndarray of shape (n_features,) or (0,)
    bucket : ndarray of uint8, shape (n_features,)
    bucket_scale : ndarray of shape (n_buckets,)
    """

    def __init__(self, center, bucket, bucket_scale):
        self.center = np.ascontiguousarray(center, dtype=np.float64)
        self.bucket = np.ascontiguousarray(bucket, dtype=np.uint8)
        self.bucket_scale = np.ascontiguousarray(bucket_scale, dtype=np.float64)

    @classmethod
    def identity(cls, n_features):
        """No shift and unit scales: the kernels work on ``x`` itself."""
        return cls(np.empty(0), np.zeros(n_features, dtype=np.uint8), np.ones(1))

    @property
    def is_identity(self):
        return self.center.size == 0 and np.all(self.bucket_scale == 1.0)

    def column_scale(self):
        """The scale ``s_j`` of every column."""
        return self.bucket_scale[self.bucket]

    def penalty(self, l2, l1):
        """Per-bucket ``(l2, l1)`` strengths in the kernels' coordinates."""
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
