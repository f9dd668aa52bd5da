"""Loss functions: value and derivative with respect to the decision value.

Every loss is identified by a small integer code so that one compiled kernel
serves all of them (see ``DESIGN.md``). The definitions follow
:class:`sklearn.linear_model.SGDRegressor` and
:class:`sklearn.linear_model.SGDClassifier`: for classification losses the
target is ``y in {-1, +1}`` and the loss is a function of the margin ``y * p``.
"""

import math

import numpy as np

from ._jit import jit

SQUARED_ERROR = 0
HUBER = 1
EPSILON_INSENSITIVE = 2
SQUARED_EPSILON_INSENSITIVE = 3
HINGE = 4
LOG_LOSS = 5
MODIFIED_HUBER = 6
SQUARED_HINGE = 7
PERCEPTRON = 8
MULTINOMIAL = 9  # softmax cross-entropy over all outputs jointly

REGRESSION_LOSSES = {
    "squared_error": SQUARED_ERROR,
    "huber": HUBER,
    "epsilon_insensitive": EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": SQUARED_EPSILON_INSENSITIVE,
}

CLASSIFICATION_LOSSES = {
    "hinge": HINGE,
    "log_loss": LOG_LOSS,
    "modified_huber": MODIFIED_HUBER,
    "squared_hinge": SQUARED_HINGE,
    "perceptron": PERCEPTRON,
    **REGRESSION_LOSSES,
}

# Upper bound on the second derivative of each loss in the decision value,
# used for the Lipschitz step of the batch solver. Losses with a kink
# (hinge, perceptron, epsilon-insensitive) have no such bound; 1.0 is used as
# the curvature scale so that their subgradient steps stay of a sane size.
CURVATURE = {
    SQUARED_ERROR: 1.0,
    HUBER: 1.0,
    EPSILON_INSENSITIVE: 1.0,
    SQUARED_EPSILON_INSENSITIVE: 2.0,
    HINGE: 1.0,
    LOG_LOSS: 0.25,
    MODIFIED_HUBER: 2.0,
    SQUARED_HINGE: 2.0,
    PERCEPTRON: 1.0,
    MULTINOMIAL: 0.5,
}

# Losses with a kink, whose gradient does not change smoothly: the batch
# solver keeps a constant step on them.
NONSMOOTH_LOSSES = (HINGE, PERCEPTRON, EPSILON_INSENSITIVE)

# Losses whose derivative grows with the error: a long step on one sample
# can throw the weights arbitrarily far.
UNBOUNDED_GRADIENT_LOSSES = (SQUARED_ERROR, SQUARED_EPSILON_INSENSITIVE, SQUARED_HINGE)

# Derivatives are clipped to this magnitude, as SGDClassifier does, so that a
# single wild sample cannot throw the weights to infinity in one step (with
# an explicit learning_rate; not under "auto": Problem.max_dloss).
MAX_DLOSS = 1e12


@jit(inline="always")
def loss_and_derivative(code, p, y, epsilon):
    """Return ``(loss, dloss/dp)`` of one output for decision value ``p``.

    Parameters
    ----------
    code : int
        Loss code (one of the module constants, not ``MULTINOMIAL``).
    p : float
        Decision value ``w . x + b``.
    y : float
        Target: any real for regression losses, ``-1`` or ``+1`` for
        classification losses.
    epsilon : float
        Width of the Huber and epsilon-insensitive losses.
    """
    if code == SQUARED_ERROR:
        r = p - y
        return 0.5 * r * r, r
    if code == HUBER:
        r = p - y
        if abs(r) <= epsilon:
            return 0.5 * r * r, r
        if r > 0.0:
            return epsilon * r - 0.5 * epsilon * epsilon, epsilon
        return -epsilon * r - 0.5 * epsilon * epsilon, -epsilon
    if code == EPSILON_INSENSITIVE:
        r = y - p
        excess = abs(r) - epsilon
        if excess <= 0.0:
            return 0.0, 0.0
        return excess, (-1.0 if r > 0.0 else 1.0)
    if code == SQUARED_EPSILON_INSENSITIVE:
        r = y - p
        excess = abs(r) - epsilon
        if excess <= 0.0:
            return 0.0, 0.0
        return excess * excess, (-2.0 * excess if r > 0.0 else 2.0 * excess)
    z = p * y
    # At the kink itself the hinge losses take the slope -y (as SGDClassifier
    # does), so that a perceptron started at w = 0 moves.
    if code == HINGE:
        if z > 1.0:
            return 0.0, 0.0
        return 1.0 - z, -y
    if code == PERCEPTRON:
        if z > 0.0:
            return 0.0, 0.0
        return -z, -y
    if code == LOG_LOSS:
        # log(1 + exp(-z)) in a form that neither overflows for large |z| nor
        # loses the tiny values to cancellation. The derivative is
        # scikit-learn's expit(p) - y01, computed as it does (one exp of -p,
        # exact for p <= -37), so that the steps round as its steps do.
        if z > 18.0:
            value = math.exp(-z)
        elif z < -18.0:
            value = -z
        else:
            value = math.log1p(math.exp(-z))
        y01 = 1.0 if y > 0.0 else 0.0
        if p > -37.0:
            e = math.exp(-p)
            return value, ((1.0 - y01) - y01 * e) / (1.0 + e)
        return value, math.exp(p) - y01
    if code == MODIFIED_HUBER:
        if z >= 1.0:
            return 0.0, 0.0
        if z >= -1.0:
            return (1.0 - z) * (1.0 - z), -2.0 * (1.0 - z) * y
        return -4.0 * z, -4.0 * y
    # SQUARED_HINGE
    m = 1.0 - z
    if m <= 0.0:
        return 0.0, 0.0
    return m * m, -2.0 * y * m


@jit()
def multinomial_loss_and_gradient(z, label, out):
    """Softmax cross-entropy of scores ``z`` for the true class ``label``.

    Writes ``softmax(z) - onehot(label)`` into ``out`` and returns the loss
    ``logsumexp(z) - z[label]``, computed with the maximum subtracted so
    that large scores do not overflow.
    """
    z_max = z[0]
    for k in range(1, z.shape[0]):
        if z[k] > z_max:
            z_max = z[k]
    total = 0.0
    for k in range(z.shape[0]):
        out[k] = math.exp(z[k] - z_max)
        total += out[k]
    for k in range(z.shape[0]):
        out[k] = out[k] / total
    out[label] -= 1.0
    return math.log(total) + z_max - z[label]


def optimal_init(code, alpha, epsilon):
    """Offset ``t0`` of the ``"optimal"`` schedule ``eta = 1 / (alpha (t0 + t - 1))``.

    Léon Bottou's heuristic as scikit-learn's SGD estimators implement it:
    the first step is ``typw / max(1, g)`` with ``typw = sqrt(1 / sqrt(alpha))``
    and ``g`` the loss's derivative at the margin ``-typw`` of a positive
    sample. scikit-learn takes ``g`` with its sign, which is negative there
    for every loss, so the first step is ``typw`` whatever the loss; skgd
    does the same, so that the steps are scikit-learn's.
    """
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    if code == MULTINOMIAL:
        slope = 1.0
    else:
        # The Python function, not the compiled one (after skgd._jit.load):
        # compiling it on its own for one number cost a first fit about 0.2 s.
        python_function = getattr(loss_and_derivative, "py_func", loss_and_derivative)
        slope = python_function(code, -typw, 1.0, epsilon)[1]
    initial_eta0 = typw / max(1.0, slope)
    return 1.0 / (initial_eta0 * alpha)
