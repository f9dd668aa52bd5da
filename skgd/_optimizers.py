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

from ._jit import jit

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

# The rules whose steps are normalised per coordinate (about one size in
# every coordinate, whatever the gradient's): "auto" gives them base steps of
# their own (skgd._steps.ADAPTIVE_AUTO_ETA) and the batch solver's relative
# stall rule counts their fall over its whole window (skgd._stopping).
ADAPTIVE_OPTIMIZERS = ("adagrad", "rmsprop", "adam")

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


@jit()
def step_row(code, w, g, l2, bucket, S1, S2, k, offset, eta, hyper, c1, c2):
    """Move ``w`` by ``-eta`` times the rule's direction for gradient ``g + l2 w``.

    (Plain steps take the l2 part as a proximal step instead:
    ``w <- (w - eta g) / (1 + eta l2)``.)

    ``w`` and ``g`` are one output's coefficients (or its intercept, as a
    length-1 view) and their gradient; ``l2`` holds the penalty's strength
    per bucket of coordinates (``bucket[j]`` is coordinate ``j``'s), a single
    strength, or none (the intercept). The rule's state for ``w[j]`` is
    ``S1[k, offset + j]`` (and ``S2``). ``hyper`` is ``(momentum, rho,
    beta_1, beta_2, eps)``; ``c1`` and ``c2`` are Adam's bias corrections
    ``1 / (1 - beta ** t)`` for the current update.

    Each rule's loop is a compiled function of its own, called once a step:
    written as branches of this function, LLVM neither vectorised them nor
    pruned the reference counting of the arrays inside them (every
    coordinate paid an atomic increment and decrement: Adam's step on 100
    coordinates took 930 ns, against 140 ns as a function of its own).
    """
    per_bucket = l2.shape[0] > 1
    lam = l2[0] if l2.shape[0] == 1 else 0.0
    if code == SGD:
        _plain_steps(w, g, l2, bucket, per_bucket, lam, eta)
    elif code == MOMENTUM or code == NESTEROV:
        _momentum_steps(code == NESTEROV, w, g, l2, bucket, per_bucket, lam, S1[k, offset:],
                        eta, hyper[0])
    elif code == ADAGRAD:
        _adagrad_steps(w, g, l2, bucket, per_bucket, lam, S1[k, offset:], eta, hyper[4])
    elif code == RMSPROP:
        _rmsprop_steps(w, g, l2, bucket, per_bucket, lam, S1[k, offset:], eta, hyper[1],
                       hyper[4])
    else:
        _adam_steps(w, g, l2, bucket, per_bucket, lam, S1[k, offset:], S2[k, offset:], eta,
                    hyper[2], hyper[3], hyper[4], c1, c2)


# The rules' loops over coordinates. The l2 strength of coordinate j is
# l2[bucket[j]] with several buckets (per_bucket), else lam.
@jit()
def _plain_steps(w, g, l2, bucket, per_bucket, lam, eta):
    # The l2 part as a proximal step: stable for any strength (a column of
    # tiny spread has a huge one in preconditioned coordinates), with the
    # optimum as its fixed point.
    for j in range(w.shape[0]):
        w[j] = (w[j] - eta * g[j]) / (1.0 + eta * (l2[bucket[j]] if per_bucket else lam))


@jit()
def _momentum_steps(nesterov, w, g, l2, bucket, per_bucket, lam, v, eta, mu):
    code = NESTEROV if nesterov else MOMENTUM
    for j in range(w.shape[0]):
        gj = g[j] + (l2[bucket[j]] if per_bucket else lam) * w[j]
        w[j], v[j] = momentum_update(code, w[j], v[j], gj, eta, mu)


@jit()
def _adagrad_steps(w, g, l2, bucket, per_bucket, lam, s, eta, eps):
    for j in range(w.shape[0]):
        gj = g[j] + (l2[bucket[j]] if per_bucket else lam) * w[j]
        w[j], s[j] = adagrad_update(w[j], s[j], gj, eta, eps)


@jit()
def _rmsprop_steps(w, g, l2, bucket, per_bucket, lam, s, eta, rho, eps):
    for j in range(w.shape[0]):
        gj = g[j] + (l2[bucket[j]] if per_bucket else lam) * w[j]
        w[j], s[j] = rmsprop_update(w[j], s[j], gj, eta, rho, eps)


@jit()
def _adam_steps(w, g, l2, bucket, per_bucket, lam, m, v, eta, beta_1, beta_2, eps, c1, c2):
    for j in range(w.shape[0]):
        gj = g[j] + (l2[bucket[j]] if per_bucket else lam) * w[j]
        w[j], m[j], v[j] = adam_update(w[j], m[j], v[j], gj, eta, beta_1, beta_2, eps, c1, c2)


# One coordinate's step of each rule on its full gradient ``g``: the new
# weight and state. Inlined into step_row's loops, and into the lazy loop's
# per-coordinate steps (skgd._lazy).
@jit(inline="always")
def momentum_update(code, w, v, g, eta, mu):
    v = mu * v + g
    return w - eta * (v if code == MOMENTUM else g + mu * v), v


@jit(inline="always")
def adagrad_update(w, s, g, eta, eps):
    s = s + g * g
    return w - eta * g / (math.sqrt(s) + eps), s


@jit(inline="always")
def rmsprop_update(w, s, g, eta, rho, eps):
    s = rho * s + (1.0 - rho) * g * g
    return w - eta * g / (math.sqrt(s) + eps), s


@jit(inline="always")
def adam_update(w, m, v, g, eta, beta_1, beta_2, eps, c1, c2):
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    return w - eta * (m * c1) / (math.sqrt(v * c2) + eps), m, v
