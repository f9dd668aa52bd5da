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


def hinge_optimum(X, signs, alpha, widths=10.0 ** -np.arange(6)):
    """Minimise ``mean(max(0, 1 - signs (X w + b))) + alpha |w|^2 / 2`` (``b`` unpenalised).

    scipy's L-BFGS on the hinge smoothed within ``mu`` of its kink, for each
    width ``mu`` of ``widths`` in turn (warm-started), in standardised
    coordinates; the smoothed objective is within ``mu / 2`` of the hinge's.
    Returns ``w, b`` on the columns of ``X``.
    """
    from scipy.optimize import minimize

    means, scales = X.mean(axis=0), X.std(axis=0)
    scales[scales == 0] = 1.0
    Z = (X - means) / scales
    penalty = alpha / scales**2  # (alpha |w|^2 with w = v / scales)

    def value_and_gradient(theta, mu):
        v, b = theta[:-1], theta[-1]
        slack = 1.0 - signs * (Z @ v + b)
        loss = np.where(slack <= 0, 0.0, np.where(slack < mu, slack**2 / (2 * mu), slack - mu / 2))
        derivative = -signs * np.clip(slack / mu, 0.0, 1.0)
        gradient = np.append(Z.T @ derivative / len(signs) + penalty * v, derivative.mean())
        return loss.mean() + 0.5 * penalty @ v**2, gradient

    theta = np.zeros(X.shape[1] + 1)
    for mu in widths:
        theta = minimize(value_and_gradient, theta, args=(mu,), jac=True, method="L-BFGS-B",
                         options=dict(gtol=1e-7, ftol=0.0, maxiter=100_000)).x
    w = theta[:-1] / scales
    return w, theta[-1] - w @ means
