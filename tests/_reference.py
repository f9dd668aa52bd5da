"""Plain-numpy reference implementations that the tests compare skgd against.

Written from the formulas (DESIGN.md, torch.optim, the Adam paper), not from
the kernels, so that a mistake in one shows up as a difference.
"""

import numpy as np


def soft_threshold(w, threshold):
    return np.sign(w) * np.maximum(np.abs(w) - threshold, 0.0)


def squared_error_derivative(p, y):
    return p - y


class NumpyOptimizer:
    """One of sgd/momentum/nesterov/adagrad/rmsprop/adam on a parameter array."""

    def __init__(self, name, shape, momentum=0.9, rho=0.99, beta_1=0.9, beta_2=0.999, eps=1e-8):
        self.name = name
        self.momentum, self.rho = momentum, rho
        self.beta_1, self.beta_2, self.eps = beta_1, beta_2, eps
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.step = 0

    def direction(self, g):
        self.step += 1
        if self.name == "sgd":
            return g
        if self.name in ("momentum", "nesterov"):
            self.m = self.momentum * self.m + g
            return self.m if self.name == "momentum" else g + self.momentum * self.m
        if self.name == "adagrad":
            self.v = self.v + g**2
            return g / (np.sqrt(self.v) + self.eps)
        if self.name == "rmsprop":
            self.v = self.rho * self.v + (1 - self.rho) * g**2
            return g / (np.sqrt(self.v) + self.eps)
        self.m = self.beta_1 * self.m + (1 - self.beta_1) * g
        self.v = self.beta_2 * self.v + (1 - self.beta_2) * g**2
        m_hat = self.m / (1 - self.beta_1**self.step)
        v_hat = self.v / (1 - self.beta_2**self.step)
        return m_hat / (np.sqrt(v_hat) + self.eps)


def gradient_descent_regression(
    X, y, *, batch_size, n_epochs, eta, optimizer="sgd", alpha=0.0, l1_ratio=0.0,
    sample_weight=None, fit_intercept=True, proximal_l2=False,
):
    """Squared-error regression by (mini-)batch steps in row order, no shuffling.

    Objective (scikit-learn's SGD objective): the sum of ``s_i (p_i - y_i)^2 / 2``
    divided by the number of rows, plus
    ``alpha ((1 - l1_ratio) |w|^2 / 2 + l1_ratio |w|_1)``, with the sample
    weights ``s`` as given; the intercept starts at 0 (an explicit
    schedule). The l1 part is a soft-threshold after each step, except for
    plain steps on more than one batch per epoch, which use the cumulative
    penalty of Tsuruoka et al. (2009) as scikit-learn does: ``u`` is the
    penalty accrued over the whole call and ``q`` what each coefficient
    received (both shrink with the l2 decay, as the weights do). The batch
    solver's plain step is the elastic net's proximal step,
    ``w <- soft(w - eta g, eta l1) / (1 + eta l2)``; with ``proximal_l2``
    (skgd's plain steps in preconditioned coordinates) the other plain steps
    take the l2 part after the step too, ``w <- (w - eta g) / (1 + eta l2)``.
    Returns ``(coef, intercept)``.
    """
    n, d = X.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    w = np.zeros(d)
    b = 0.0
    opt_w = NumpyOptimizer(optimizer, d)
    opt_b = NumpyOptimizer(optimizer, ())
    # alpha may be one strength per column (a preconditioned problem).
    l2, l1 = np.asarray(alpha) * (1 - l1_ratio), np.asarray(alpha) * l1_ratio
    cumulative = optimizer == "sgd" and batch_size < n
    u, q = 0.0, np.zeros(d)
    for _ in range(n_epochs):
        for start in range(0, n, batch_size):
            rows = slice(start, min(start + batch_size, n))
            m = X[rows].shape[0]
            dz = squared_error_derivative(X[rows] @ w + b, y[rows]) * s[rows] / m
            if optimizer == "sgd" and batch_size >= n:
                # The batch solver's plain step: the elastic net's prox.
                w = soft_threshold(w - eta * (X[rows].T @ dz), eta * l1) / (1 + eta * l2)
            elif proximal_l2 and optimizer == "sgd":
                # The elastic net's prox, the l2 part first: the l1 threshold
                # shrinks with it.
                w = (w - eta * (X[rows].T @ dz)) / (1 + eta * l2)
                if not cumulative:
                    w = soft_threshold(w, eta * l1 / (1 + eta * l2))
                elif np.any(l1 > 0):
                    u, q = (u + eta * l1) / (1 + eta * l2), q / (1 + eta * l2)
                    before = w
                    w = np.where(w > 0, np.maximum(0, w - (u + q)),
                                 np.where(w < 0, np.minimum(0, w + (u - q)), 0.0))
                    q = q + w - before
            else:
                w = w - eta * opt_w.direction(X[rows].T @ dz + l2 * w)
                if not cumulative:
                    w = soft_threshold(w, eta * l1)
                elif np.any(l1 > 0):
                    u, q = u * (1 - eta * l2) + eta * l1, q * (1 - eta * l2)
                    before = w
                    w = np.where(w > 0, np.maximum(0, w - (u + q)),
                                 np.where(w < 0, np.minimum(0, w + (u - q)), 0.0))
                    q = q + w - before
            if fit_intercept:
                b = b - eta * opt_b.direction(dz.sum())
    return w, b
