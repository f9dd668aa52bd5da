"""The lazy O(nnz) loop of the optimizers other than sgd on CSR input (skgd._lazy).

References: the general loop, which moves every coefficient at every step
(on the dense copy of the rows, or forced on the CSR rows), and the exact
optimum (Ridge). Where the lazy loop is exact (no penalty, no averaging, a
constant step) it agrees with the dense fit to rounding; where it documents
an approximation (Adam's missed moves, the penalty paid when a column is
met, the average held between meetings) it must get as near the optimum.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from skgd import GDClassifier, GDRegressor
from skgd._engine import call_kernel, epoch_kernel
from skgd._kernels import general_epoch_csr
from skgd._lazy import lazy_epoch_csr, lazy_one_output_csr
from skgd._optimizers import OPTIMIZERS, init_state

EXACT = ("momentum", "nesterov", "adagrad", "rmsprop")


def _sparse_problem(n_rows=300, n_features=40, density=0.1, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n_rows, n_features, density=density, random_state=seed, format="csr")
    y = X @ rng.randn(n_features) + 0.1 * rng.randn(n_rows)
    return X, y


def _fixed_steps(**params):
    return dict(learning_rate="constant", eta0=0.01, max_iter=5, tol=None,
                random_state=0, batch_size=8, **params)


def test_the_lazy_loop_runs_every_optimizer_but_sgd_on_csr_rows():
    for name, code in OPTIMIZERS.items():
        for n_outputs, lazy in ((1, lazy_one_output_csr), (3, lazy_epoch_csr)):
            kernel = epoch_kernel(code, 8, 100, sparse=True, n_outputs=n_outputs)
            assert (kernel is lazy) == (name != "sgd")
    # One step over every row (the batch solver) stays in the general loop.
    assert epoch_kernel(OPTIMIZERS["adam"], 100, 100, sparse=True) is general_epoch_csr


def test_the_one_output_loop_refuses_the_weights_of_several(monkeypatch):
    # Its records have room for one output: handed three, it would write
    # past them.
    import skgd._engine

    monkeypatch.setattr(skgd._engine, "epoch_kernel", lambda *args: lazy_one_output_csr)
    X, y = _sparse_problem()
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    with pytest.raises(ValueError, match="one output"):
        GDClassifier(optimizer="adam", max_iter=1, tol=None).fit(X, labels)


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
@pytest.mark.parametrize("optimizer", EXACT)
def test_exact_catch_up_takes_the_dense_steps(optimizer, solver):
    X, y = _sparse_problem()
    params = _fixed_steps(solver=solver, optimizer=optimizer, penalty=None)
    lazy = GDRegressor(**params).fit(X, y)
    dense = GDRegressor(**params).fit(X.toarray(), y)
    np.testing.assert_allclose(lazy.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lazy.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop"])
def test_the_held_average_is_exact_where_missed_steps_do_not_move(optimizer, solver):
    """AdaGrad and RMSProp leave a coefficient where it is under a zero
    gradient, so holding it between meetings is the dense rule's average.
    """
    X, y = _sparse_problem()
    params = _fixed_steps(solver=solver, optimizer=optimizer, penalty=None, average=3)
    lazy = GDRegressor(**params).fit(X, y)
    dense = GDRegressor(**params).fit(X.toarray(), y)
    np.testing.assert_allclose(lazy.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lazy.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", EXACT)
def test_exact_catch_up_with_several_outputs(optimizer):
    """One-vs-rest over three classes: every output's coefficients caught up."""
    X, y = _sparse_problem(seed=1)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    params = _fixed_steps(optimizer=optimizer, penalty=None, loss="log_loss")
    lazy = GDClassifier(**params).fit(X, labels)
    dense = GDClassifier(**params).fit(X.toarray(), labels)
    np.testing.assert_allclose(lazy.coef_, dense.coef_, rtol=1e-10, atol=1e-12)


def _ridge_objective(X, y, coef, intercept, alpha):
    residual = X @ coef + intercept - y
    return 0.5 * np.mean(residual ** 2) + 0.5 * alpha * coef @ coef


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
@pytest.mark.parametrize("optimizer", [*EXACT, "adam"])
def test_lazy_penalty_reaches_the_objective_of_the_dense_rule(optimizer, solver, average,
                                                             request):
    """With the penalty paid when a column is met (and the average held
    between meetings), a fit on CSR rows gets as near Ridge's optimum as the
    same fit with every coefficient moved at every step.
    """
    X, y = _sparse_problem(n_rows=2000, n_features=200, density=0.05)
    alpha = 1e-2
    ridge = Ridge(alpha=alpha * X.shape[0]).fit(X, y)
    best = _ridge_objective(X, y, ridge.coef_, ridge.intercept_, alpha)
    params = dict(solver=solver, optimizer=optimizer, alpha=alpha, random_state=0,
                  average=average, max_iter=50)

    def gap():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = GDRegressor(**params).fit(X, y)
        return _ridge_objective(X, y, est.coef_, est.intercept_[0], alpha) / best - 1

    lazy_gap = gap()
    request.getfixturevalue("general_loop_on_csr")
    general_gap = gap()
    assert lazy_gap <= 1.25 * general_gap + 2e-4, (lazy_gap, general_gap)


def test_lazy_l1_keeps_exact_zeros():
    """The soft-threshold of the steps a column missed still zeroes the noise columns."""
    rng = np.random.RandomState(0)
    X = sp.random(2000, 100, density=0.05, random_state=0, format="csr")
    y = X[:, :5] @ (5 + rng.rand(5)) + 0.01 * rng.randn(2000)
    params = dict(optimizer="adagrad", penalty="l1", alpha=1e-3, random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lazy = GDRegressor(**params).fit(X, y)
        dense = GDRegressor(**params).fit(X.toarray(), y)
    assert np.all(lazy.coef_[:5] != 0)
    assert np.mean(lazy.coef_[5:] == 0) >= 0.9 * np.mean(dense.coef_[5:] == 0) > 0.5


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_row_with_a_repeated_column_takes_the_gathered_gradient(optimizer):
    """A step of one row settles each column straight from its entry; a row
    that names a column twice (CSR that is not canonical, which the kernel
    may be handed outside ``fit``) must still take one step on the column's
    summed gradient. Each entry split into two halves is the same matrix.
    """
    X, y = _sparse_problem(n_rows=60, n_features=30, density=0.2)
    est = GDRegressor(optimizer=optimizer, learning_rate="constant", eta0=0.01, max_iter=1,
                      tol=None, random_state=0).fit(X, y)
    problem = est._build_problem(X, y, None, None, False, True)[0]
    halves = sp.csr_matrix((np.repeat(X.data / 2, 2), np.repeat(X.indices, 2), X.indptr * 2),
                           shape=X.shape)
    assert not halves.has_canonical_format
    code = OPTIMIZERS[optimizer]
    results = []
    for rows in (X, halves):
        W, b = np.zeros((1, X.shape[1])), np.zeros(1)
        S1, S2 = init_state(code, 1, X.shape[1])
        state_args = (code, np.array([0.9, 0.99, 0.9, 0.999, 1e-8]), S1, S2, 0, 0,
                      np.zeros((0, 0)), np.zeros(0), 1, np.empty((0, 0)), np.zeros(1))
        call_kernel(problem._replace(X=rows), problem.train, 1, W, b,
                    (0, 0.01, 0.5, 1e-4, 0.0), state_args)
        results.append(np.append(W, b))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", EXACT)
def test_columns_an_epoch_does_not_meet_are_caught_up(optimizer):
    """partial_fit on a few rows at a time: each call is an epoch that meets
    a few of the columns and catches the others up from their state at its
    start, which must be the dense rule's steps exactly.
    """
    X, y = _sparse_problem(n_rows=120, n_features=60, density=0.05)
    params = _fixed_steps(optimizer=optimizer, penalty=None)
    lazy, dense = GDRegressor(**params), GDRegressor(**params)
    for start in range(0, 120, 6):
        rows = slice(start, start + 6)
        lazy.partial_fit(X[rows], y[rows])
        dense.partial_fit(X[rows].toarray(), y[rows])
    np.testing.assert_allclose(lazy.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lazy.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_a_rare_column_with_a_strong_penalty_does_not_blow_up(optimizer, request):
    """A column met once an epoch whose single value is tiny gets, after
    preconditioning, an l2 strength thousands of times alpha. With its
    missed steps' penalty in the velocity, the catch-up moved it past zero
    and back, further each epoch: the fit raised DivergenceError at epoch
    7 (momentum) or 10 (Nesterov), where the dense rule converges.
    """
    rng = np.random.default_rng(1)
    n_rows, n_features, per_row = 300, 3000, 20
    X = sp.csr_matrix((rng.standard_normal(n_rows * per_row),
                       rng.integers(0, n_features, n_rows * per_row),
                       np.arange(0, n_rows * per_row + 1, per_row)), shape=(n_rows, n_features))
    X.sum_duplicates()
    tiny = sp.csr_matrix(([1e-4], ([0], [0])), shape=(n_rows, 1))
    X = sp.hstack([X, tiny]).tocsr()
    y = X @ rng.standard_normal(n_features + 1) * 0.1 + rng.standard_normal(n_rows)
    params = dict(optimizer=optimizer, random_state=0, max_iter=30, tol=None)

    def objective():
        est = GDRegressor(**params).fit(X, y)
        return _ridge_objective(X, y, est.coef_, est.intercept_[0], est.alpha)

    lazy = objective()
    request.getfixturevalue("general_loop_on_csr")
    assert lazy <= 1.01 * objective()
