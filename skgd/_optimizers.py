"""Update rules: plain steps, momentum, Nesterov, AdaGrad, RMSProp, Adam.

Each rule turns a gradient ``g`` into a descent direction ``d`` (the weights
move by ``-eta * d``), reading and updating at most two state arrays of the
shape of the weights. The definitions follow ``torch.optim``:

=========  ==================================================================
sgd        ``d = g``
momentum   ``v = mu v + g``; ``d = v``
nesterov   ``v = mu v + g``; ``d = g + mu v``
adagrad    ``s = s + g^2``; ``d = g / (sqrt(s) + eps)``
rmsprop    ``s = rho s + (1 - rho) g^2``; ``d = g / (sqrt(s) + eps)``
adam       ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
           ``d = m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moments
=========  ==================================================================
"""

import math

import numpy as np
from numba import njit

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAGRAD = 3
RMSPROP = 4
ADAM = 5

OPTIMIZERS = {
    "sgd": SGD,
    "momentum": MOMENTUM,
    "nesterov": NESTEROV,
    "adagrad": ADAGRAD,
    "rmsprop": RMSPROP,
    "adam": ADAM,
}

# How many state arrays (of the shape of the weights) each rule keeps.
N_STATE_ARRAYS = {SGD: 0, MOMENTUM: 1, NESTEROV: 1, ADAGRAD: 1, RMSPROP: 1, ADAM: 2}


def init_state(code, n_outputs, n_features):
    """Zeroed optimizer state ``(S1, S2)``, each ``(n_outputs, n_features + 1)``.

    Column ``n_features`` holds the intercept's state. Rules that need fewer
    arrays get empty ones, so the kernels always receive the same types.
    State is kept in float64 whatever the data's dtype: AdaGrad's sum of
    squares would lose precision in float32.
    """
    n_arrays = N_STATE_ARRAYS[code]
    return tuple(
        np.zeros((n_outputs, n_features + 1) if index < n_arrays else (0, 0))
        for index in range(2)
    )


@njit(cache=True, nogil=True, inline="always")
def descent_direction(code, g, S1, S2, k, j, hyper, c1, c2):
    """Direction for coordinate ``(k, j)`` of gradient ``g``, updating the state.

    ``hyper`` is ``(momentum, rho, beta_1, beta_2, eps)``; ``c1`` and ``c2``
    are Adam's bias corrections for the current update.
    """
    if code == SGD:
        return g
    if code == MOMENTUM:
        S1[k, j] = hyper[0] * S1[k, j] + g
        return S1[k, j]
    if code == NESTEROV:
        S1[k, j] = hyper[0] * S1[k, j] + g
        return g + hyper[0] * S1[k, j]
    if code == ADAGRAD:
        S1[k, j] += g * g
        return g / (math.sqrt(S1[k, j]) + hyper[4])
    if code == RMSPROP:
        S1[k, j] = hyper[1] * S1[k, j] + (1.0 - hyper[1]) * g * g
        return g / (math.sqrt(S1[k, j]) + hyper[4])
    # ADAM
    S1[k, j] = hyper[2] * S1[k, j] + (1.0 - hyper[2]) * g
    S2[k, j] = hyper[3] * S2[k, j] + (1.0 - hyper[3]) * g * g
    return S1[k, j] * c1 / (math.sqrt(S2[k, j] * c2) + hyper[4])
