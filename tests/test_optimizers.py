"""Update rules against an independent numpy implementation, and what they buy."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

from ._reference import gradient_descent_regression

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
SOLVERS = [("stochastic", 1), ("minibatch", 8), ("batch", 40)]


def _data(n=40, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    return X, X @ rng.randn(d) + 0.1 * rng.randn(n) + 1.0


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("solver, batch_size", SOLVERS)
@pytest.mark.parametrize("sparse", [False, True])
def test_first_updates_match_numpy(optimizer, solver, batch_size, sparse):
    X, y = _data()
    params = dict(
        solver=solver, batch_size=batch_size, optimizer=optimizer,
        learning_rate="constant", eta0=0.01, alpha=0.01, penalty="elasticnet",
        l1_ratio=0.3, max_iter=2, tol=None, shuffle=False,
    )
    est = GDRegressor(**params).fit(sp.csr_matrix(X) if sparse else X, y)
    coef, intercept = gradient_descent_regression(
        X, y, batch_size=batch_size, n_epochs=2, eta=0.01, optimizer=optimizer,
        alpha=0.01, l1_ratio=0.3,
    )
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.intercept_[0], intercept, rtol=1e-9)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_state_survives_partial_fit(optimizer):
    # k partial_fit calls without shuffling equal one fit of k epochs.
    X, y = _data()
    params = dict(optimizer=optimizer, solver="minibatch", batch_size=8, shuffle=False, tol=None)
    full = GDRegressor(max_iter=3, **params).fit(X, y)
    parts = GDRegressor(**params)
    for _ in range(3):
        parts.partial_fit(X, y)
    np.testing.assert_allclose(parts.coef_, full.coef_, rtol=1e-12)
    assert parts.t_ == full.t_
    for a, b in zip(parts.optimizer_state_, full.optimizer_state_):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_warm_start_restarts_the_optimizer_state(optimizer):
    # scikit-learn's warm start: a warm fit is a fit from coef_init and
    # intercept_init set to the previous solution, with the step count (and
    # here the optimizer's state) anew. partial_fit is what continues a fit.
    X, y = _data()
    params = dict(optimizer=optimizer, solver="batch", tol=None, learning_rate="constant", eta0=0.01)
    first = GDRegressor(max_iter=2, **params).fit(X, y)
    cold = GDRegressor(max_iter=2, **params).fit(X, y, coef_init=first.coef_,
                                                  intercept_init=first.intercept_)
    warm = GDRegressor(max_iter=2, warm_start=True, **params).fit(X, y).fit(X, y)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-12)
    assert warm.t_ == cold.t_ == 3


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_reaches_ridge_r2_with_minibatches(optimizer):
    X_train, X_test, y_train, y_test = _diabetes()
    ridge = Ridge(alpha=1e-4 * len(y_train)).fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GDRegressor(solver="minibatch", optimizer=optimizer, random_state=0).fit(
            X_train, y_train
        )
    assert est.score(X_test, y_test) == pytest.approx(ridge.score(X_test, y_test), abs=0.02)


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
def test_adaptive_optimizers_handle_badly_scaled_features(optimizer):
    # Columns scaled over three orders of magnitude: plain steps small enough
    # for the largest column crawl along the smallest.
    rng = np.random.RandomState(0)
    X = rng.randn(500, 6) * np.logspace(-1.5, 1.5, 6)
    y = X @ (1.0 / np.logspace(-1.5, 1.5, 6)) + 0.1 * rng.randn(500)
    reference = LinearRegression().fit(X, y).score(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        adaptive = GDRegressor(
            solver="minibatch", optimizer=optimizer, penalty=None, max_iter=300,
            random_state=0,
        ).fit(X, y)
        plain = GDRegressor(
            solver="minibatch", optimizer="sgd", learning_rate="constant",
            eta0=1e-4, penalty=None, max_iter=300, random_state=0,
        ).fit(X, y)
    assert adaptive.score(X, y) >= reference - 0.05
    assert plain.score(X, y) < reference - 0.05  # the crawl the optimizers fix


def test_plain_steps_on_badly_scaled_features_diverge_clearly():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4) * np.logspace(-1.5, 1.5, 4)
    y = X.sum(axis=1)
    est = GDRegressor(solver="minibatch", learning_rate="constant", eta0=0.1)
    with pytest.raises(ValueError, match=r"diverged at epoch \d+.*smaller eta0"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_momentum_needs_fewer_batch_iterations(optimizer):
    # An ill-conditioned quadratic: eigenvalues of X'X / n from 1 to 1e-3.
    rng = np.random.RandomState(0)
    Q, _ = np.linalg.qr(rng.randn(8, 8))
    X = rng.randn(400, 8) @ np.diag(np.sqrt(np.logspace(0, -3, 8))) @ Q
    y = X @ rng.randn(8)
    # All three take the same constant step 1/L.
    L = np.linalg.eigvalsh(np.c_[X, np.ones(400)].T @ np.c_[X, np.ones(400)] / 400).max()
    params = dict(solver="batch", penalty=None, max_iter=20000, tol=1e-8,
                  learning_rate="constant", eta0=1.0 / L)
    plain = GDRegressor(**params).fit(X, y)
    fast = GDRegressor(optimizer=optimizer, **params).fit(X, y)
    optimum = LinearRegression().fit(X, y)
    for est in (plain, fast):
        np.testing.assert_allclose(est.predict(X), optimum.predict(X), atol=1e-2)
    assert fast.n_iter_ < plain.n_iter_ / 3


def test_classifier_optimizers_run_on_every_solver():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 5)
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    for optimizer in OPTIMIZERS:
        for solver, _ in SOLVERS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est = GDClassifier(optimizer=optimizer, solver=solver, loss="log_loss", random_state=0)
                est.fit(X, y)
            assert est.score(X, y) > 0.85, (optimizer, solver)
