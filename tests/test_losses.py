"""Loss derivatives against finite differences, and stability for large margins."""

import numpy as np
import pytest

from skgd._losses import (
    CLASSIFICATION_LOSSES,
    LOG_LOSS,
    MULTINOMIAL,
    REGRESSION_LOSSES,
    loss_and_derivative,
    multinomial_loss_and_gradient,
)

EPSILON = 0.1
H = 1e-6


def _points_away_from_kinks(code, y):
    """Decision values where every loss is differentiable (kinks at margins -1, 0, 1
    and at residuals 0, +-epsilon)."""
    p = np.linspace(-3.0, 3.0, 41) + 0.0123
    kinks = np.array([-1.0, 0.0, 1.0]) * y if code in CLASSIFICATION_LOSSES.values() else []
    kinks = np.concatenate([np.atleast_1d(kinks), y + np.array([-EPSILON, 0.0, EPSILON])])
    return p[np.min(np.abs(p[:, None] - kinks[None, :]), axis=1) > 10 * H]


# Classification losses take y in {-1, +1}; regression losses any real y.
CASES = [
    (name, y)
    for name in sorted(CLASSIFICATION_LOSSES)
    for y in ((-1.0, 1.0, 0.7) if name in REGRESSION_LOSSES else (-1.0, 1.0))
]


@pytest.mark.parametrize("name, y", CASES)
def test_derivative_matches_finite_differences(name, y):
    code = CLASSIFICATION_LOSSES[name]
    for p in _points_away_from_kinks(code, y):
        up = loss_and_derivative(code, p + H, y, EPSILON)[0]
        down = loss_and_derivative(code, p - H, y, EPSILON)[0]
        numeric = (up - down) / (2 * H)
        assert loss_and_derivative(code, p, y, EPSILON)[1] == pytest.approx(
            numeric, rel=1e-5, abs=1e-6
        ), (name, p)


def test_regression_loss_values():
    r = 0.5  # p - y
    expected = {
        "squared_error": 0.5 * r**2,
        "huber": EPSILON * r - 0.5 * EPSILON**2,
        "epsilon_insensitive": r - EPSILON,
        "squared_epsilon_insensitive": (r - EPSILON) ** 2,
    }
    for name, value in expected.items():
        loss = loss_and_derivative(REGRESSION_LOSSES[name], 1.5, 1.0, EPSILON)[0]
        assert loss == pytest.approx(value), name


@pytest.mark.parametrize("margin", [-800.0, -30.0, -1.0, 0.0, 2.0, 30.0, 800.0])
def test_log_loss_is_stable_for_large_margins(margin):
    loss, dloss = loss_and_derivative(LOG_LOSS, margin, 1.0, EPSILON)
    assert loss == pytest.approx(np.logaddexp(0.0, -margin), rel=1e-12, abs=1e-300)
    assert dloss == pytest.approx(-np.exp(-np.logaddexp(0.0, margin)), rel=1e-12, abs=1e-300)
    assert np.isfinite(loss) and np.isfinite(dloss)


def test_multinomial_gradient_matches_finite_differences():
    rng = np.random.RandomState(0)
    z = rng.randn(4) * 3
    y = 2  # the true class
    grad = np.empty(4)
    loss = multinomial_loss_and_gradient(z, y, grad)
    assert loss == pytest.approx(np.logaddexp.reduce(z) - z[2])
    for k in range(4):
        step = np.zeros(4)
        step[k] = H
        out = np.empty(4)
        numeric = (
            multinomial_loss_and_gradient(z + step, y, out)
            - multinomial_loss_and_gradient(z - step, y, out)
        ) / (2 * H)
        assert grad[k] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_multinomial_is_stable_for_huge_scores():
    grad = np.empty(3)
    loss = multinomial_loss_and_gradient(np.array([1000.0, -1000.0, 0.0]), 1, grad)
    assert loss == pytest.approx(2000.0)
    np.testing.assert_allclose(grad, [1.0, -1.0, 0.0], atol=1e-12)


def test_log_loss_derivative_is_scikit_learns_expit_minus_label():
    # The kernels take scikit-learn's form of the derivative, expit(p) - y01,
    # so that their steps round as SGDClassifier's do.
    from scipy.special import expit

    for p in (-800.0, -37.5, -5.0, 0.0, 3.0, 40.0):
        for y in (-1.0, 1.0):
            expected = expit(p) - (y > 0)
            assert loss_and_derivative(LOG_LOSS, p, y, EPSILON)[1] == pytest.approx(
                expected, rel=1e-12, abs=1e-16)
