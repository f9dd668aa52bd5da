"""Penalties: l2, l1 and elastic-net.

The l2 part enters the gradient (or, for plain steps, a multiplicative weight
decay); the l1 part is applied as a proximal soft-threshold after each step so
that coefficients reach exact zeros instead of oscillating around them.
"""

import numpy as np

from ._jit import jit

PENALTIES = ("l2", "l1", "elasticnet")


def split_penalty(penalty, alpha, l1_ratio):
    """Return the ``(l2, l1)`` strengths of the objective ``l2/2 |w|^2 + l1 |w|_1``.

    ``l1_ratio`` matters for the elastic net only (None is fine elsewhere).
    """
    if penalty is None:
        return 0.0, 0.0
    if penalty == "l2":
        return float(alpha), 0.0
    if penalty == "l1":
        return 0.0, float(alpha)
    return float(alpha * (1.0 - l1_ratio)), float(alpha * l1_ratio)


def penalty_values(W, bucket, l2, l1):
    """The penalty of each output's weights ``W[k]``.

    ``l2`` and ``l1`` hold the strengths of each bucket of columns
    (``bucket[j]`` is column ``j``'s).
    """
    W = np.asarray(W, dtype=np.float64)
    # einsum raises no floating-point warnings: tiny weights underflow
    # harmlessly, huge ones overflow to inf, which the divergence check
    # reports with a clear error. (It also takes a third of the time of
    # products and sums under np.errstate, once or twice per epoch.)
    if l2.shape[0] > 1:
        # (numpy gathers through an intp index in half the time of a uint8 one:
        # 87 -> 45 us on 32,768 columns.)
        column = bucket.astype(np.intp)
        values = np.einsum("ij,ij,j->i", W, W, (0.5 * l2).take(column))
        if l1.any():
            values += np.einsum("ij,j->i", np.abs(W), l1.take(column))
        return values
    values = np.einsum("ij,ij,->i", W, W, 0.5 * l2[0])
    if l1[0]:
        values += np.einsum("ij,->i", np.abs(W), l1[0])
    return values


@jit(inline="always")
def soft_threshold(w, threshold):
    """Proximal operator of ``threshold * |w|``: shrink towards zero, stop at it."""
    if w > threshold:
        return w - threshold
    if w < -threshold:
        return w + threshold
    return 0.0 * w
