"""The epoch kernels against a plain-numpy reference, and dense against CSR."""

import re

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from skgd import GDClassifier, GDRegressor
from skgd._schedules import INVSCALING, step_size
from skgd._steps import gram_product

from ._reference import gradient_descent_regression


def _data(n=60, d=8, density=1.0, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    if density < 1.0:
        X[rng.rand(n, d) > density] = 0.0
    y = X @ rng.randn(d) + 0.3 * rng.randn(n) + 2.0
    return X, y


@pytest.mark.parametrize("solver, batch_size", [("stochastic", 1), ("minibatch", 7), ("batch", 60)])
@pytest.mark.parametrize("penalty, alpha, l1_ratio", [("l2", 0.05, 0.0), ("elasticnet", 0.05, 0.5), ("l1", 0.02, 1.0), (None, 0.0, 0.0)])
def test_plain_steps_match_numpy_reference(solver, batch_size, penalty, alpha, l1_ratio):
    X, y = _data()
    weight = np.random.RandomState(1).uniform(0.5, 2.0, size=y.size)
    est = GDRegressor(
        solver=solver, batch_size=batch_size, penalty=penalty, alpha=alpha,
        l1_ratio=l1_ratio, learning_rate="constant", eta0=0.01, max_iter=3,
        tol=None, shuffle=False,
    ).fit(X, y, sample_weight=weight)
    coef, intercept = gradient_descent_regression(
        X, y, batch_size=batch_size, n_epochs=3, eta=0.01, alpha=alpha,
        l1_ratio=l1_ratio, sample_weight=weight,
    )
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.intercept_[0], intercept, rtol=1e-10)


def test_strong_decay_folds_the_weight_scale():
    # eta * alpha = 0.5 halves the scale every step: after 30 steps it would
    # underflow the 1e-9 floor, so the kernel must fold it into the weights.
    X, y = _data(n=200)
    X *= 0.2  # keeps eta * |x|^2 well below 2, so the steps are stable
    est = GDRegressor(
        alpha=1.0, learning_rate="constant", eta0=0.5, max_iter=2, tol=None,
        shuffle=False,
    ).fit(X, y)
    coef, intercept = gradient_descent_regression(
        X, y, batch_size=1, n_epochs=2, eta=0.5, alpha=1.0
    )
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.intercept_[0], intercept, rtol=1e-9)


@pytest.mark.parametrize("solver", ["stochastic", "minibatch", "batch"])
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
@pytest.mark.parametrize("average", [False, 25])
def test_csr_equals_dense(solver, penalty, average):
    # On CSR the plain path pays the l1 shrinkage lazily; it must be exact.
    X, y = _data(n=120, d=30, density=0.2)
    params = dict(
        solver=solver, penalty=penalty, alpha=0.01, average=average,
        random_state=0, max_iter=5, tol=None, eta0=0.05, learning_rate="constant",
    )
    dense = GDRegressor(**params).fit(X, y)
    sparse = GDRegressor(**params).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-9)
    if penalty != "l2":
        assert np.array_equal(sparse.coef_ == 0, dense.coef_ == 0)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop"])
def test_csr_equals_dense_classifier(optimizer):
    # The other rules on CSR pay the penalty of a column's missed steps when
    # it is next met, and Adam's missed moves are approximated (skgd._lazy,
    # tested in test_lazy.py): exact without a penalty, for these two.
    X, y = _data(n=150, d=20, density=0.3)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    params = dict(optimizer=optimizer, solver="minibatch", random_state=0, max_iter=4, tol=None,
                  learning_rate="constant", eta0=0.01,
                  penalty="l2" if optimizer == "sgd" else None)
    dense = GDClassifier(**params).fit(X, labels)
    sparse = GDClassifier(**params).fit(sp.csr_matrix(X), labels)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


def test_float32_stays_float32_and_matches_float64():
    X, y = _data()
    est64 = GDRegressor(solver="batch", random_state=0).fit(X, y)
    est32 = GDRegressor(solver="batch", random_state=0).fit(X.astype(np.float32), y)
    assert est32.coef_.dtype == np.float32
    assert est32.intercept_.dtype == np.float32
    assert est32.predict(X.astype(np.float32)).dtype == np.float32
    assert est64.coef_.dtype == np.float64
    np.testing.assert_allclose(est32.coef_, est64.coef_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("power_t", [0.25, 0.5, 0.3])
def test_invscaling_step_is_base_over_t_to_the_power(power_t):
    # The kernels take square roots for the default exponents instead of pow.
    t = np.unique(np.geomspace(1, 1e7, 200).astype(np.int64))
    steps = np.array([step_size(INVSCALING, 0.01, float(k), power_t, 0.0, 0.0) for k in t])
    np.testing.assert_allclose(steps, 0.01 / t.astype(float) ** power_t, rtol=1e-15)


def _multi_output_problem(kind):
    X, y = _data(n=90, d=12, density=0.4)
    if kind == "multi-output":
        return GDRegressor, {}, X, np.column_stack([y, -2.0 * y + 1.0])
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    multi_class = "multinomial" if kind == "multinomial" else "ovr"
    return GDClassifier, dict(loss="log_loss", multi_class=multi_class), X, labels


@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
@pytest.mark.parametrize("kind", ["multi-output", "ovr", "multinomial"])
@pytest.mark.parametrize("average", [False, 40])
@pytest.mark.parametrize("sparse", [False, True])
# alpha=6: an l2 decay of 0.7 a step, so that the stochastic loop's scale
# falls below MIN_SCALE (and is folded into V) within an epoch.
@pytest.mark.parametrize("alpha", [0.01, 6.0])
def test_plain_loops_equal_the_general_path(solver, kind, average, sparse, alpha,
                                            general_loop_on_csr):
    # optimizer="momentum" with momentum=0 takes the same steps through the
    # other code path: a dense gradient per batch and an optimizer update,
    # where the plain loops keep W = scale * V and touch only the batch's
    # features. (On CSR the general loop, not the lazy one, which pays the
    # penalty of a column's missed steps when it is next met.)
    Estimator, params, X, y = _multi_output_problem(kind)
    if sparse:
        X = sp.csr_matrix(X)
    params.update(solver=solver, batch_size=5, alpha=alpha, average=average,
                  learning_rate="constant", eta0=0.05, max_iter=3, tol=None,
                  random_state=0)
    plain = Estimator(**params).fit(X, y)
    general = Estimator(optimizer="momentum", momentum=0.0, **params).fit(X, y)
    np.testing.assert_allclose(plain.coef_, general.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(plain.intercept_, general.intercept_, rtol=1e-9, atol=1e-12)


def _engine_problem(kind, n=30, d=4, seed=0, sparse=False):
    """A Problem as BaseGD builds it, for the engine's evaluations (CSR rows if ``sparse``)."""
    from skgd._engine import Problem
    from skgd._losses import CLASSIFICATION_LOSSES, MULTINOMIAL, REGRESSION_LOSSES
    from skgd._precondition import Preconditioner

    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    weight = rng.uniform(0.5, 2.0, n)
    labels = rng.randint(0, 3, n).astype(np.int32)
    common = dict(X=sp.csr_matrix(X) if sparse else X, sample_weight=weight, train=np.arange(n), epsilon=0.1,
                  fit_intercept=True, preconditioner=Preconditioner.identity(d),
                  l2=np.zeros(1), l1=np.zeros(1))
    if kind == "regression":
        Y = rng.randn(n, 2)
        return Problem(Y=Y, labels=np.empty(0, np.int32), pos_weight=np.ones(2),
                       neg_weight=np.ones(2), n_outputs=2,
                       loss_code=REGRESSION_LOSSES["squared_error"], **common)
    if kind == "ovr":
        return Problem(Y=np.empty((0, 0)), labels=labels, pos_weight=np.array([2.0, 0.5, 1.5]),
                       neg_weight=np.ones(3), n_outputs=3,
                       loss_code=CLASSIFICATION_LOSSES["log_loss"], **common)
    return Problem(Y=np.empty((0, 0)), labels=labels, pos_weight=np.ones(3),
                   neg_weight=np.ones(3), n_outputs=3, loss_code=MULTINOMIAL, **common)


def _random_weights(problem, seed=1):
    """Weights and intercepts of ``problem``'s shape, drawn from ``seed``."""
    rng = np.random.RandomState(seed)
    return rng.randn(problem.n_outputs, problem.X.shape[1]), rng.randn(problem.n_outputs)


@pytest.mark.parametrize("kind", ["regression", "ovr", "multinomial"])
@pytest.mark.parametrize("sparse", [False, True])
def test_evaluation_sums_the_weighted_losses_and_gradients(kind, sparse):
    # The kernels' evaluation mode against numpy: per output, the sum of
    # weight x loss, and the mean gradient. One-vs-rest weighs the rows of
    # class k by pos_weight[k] in output k and the others by neg_weight[k].
    # (CSR rows of several outputs take the weights column by column:
    # _engine._weights_order.)
    from scipy.special import logsumexp

    from skgd._engine import evaluate

    problem = _engine_problem(kind, sparse=sparse)
    W, b = _random_weights(problem)
    Z = problem.X @ W.T + b
    s = problem.sample_weight
    if kind == "regression":
        losses = (s[:, None] * 0.5 * (Z - problem.Y) ** 2).sum(axis=0)
        dZ = s[:, None] * (Z - problem.Y)
    elif kind == "ovr":
        own = problem.labels[:, None] == np.arange(3)
        Y = np.where(own, 1.0, -1.0)
        w = s[:, None] * np.where(own, problem.pos_weight, problem.neg_weight)
        losses = (w * np.logaddexp(0, -Y * Z)).sum(axis=0)
        dZ = w * (1 / (1 + np.exp(-Z)) - (Y > 0))
    else:
        row_loss = logsumexp(Z, axis=1) - Z[np.arange(30), problem.labels]
        losses = np.bincount(problem.labels, s * row_loss, minlength=3)
        P = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
        dZ = s[:, None] * (P - np.eye(3)[problem.labels])
    got, G, G_b = evaluate(problem, W, b, problem.train, gradient=True)
    np.testing.assert_allclose(got, losses, rtol=1e-12)
    np.testing.assert_allclose(G, dZ.T @ problem.X / 30, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(G_b, dZ.sum(axis=0) / 30, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["regression", "ovr"])
@pytest.mark.parametrize("sparse", [False, True])
def test_problem_of_some_outputs_evaluates_as_those_of_all(kind, sparse):
    # Problem.for_outputs: independent outputs (one-vs-rest, multi-output
    # regression) evaluated alone give the rows of the evaluation of all.
    from skgd._engine import evaluate

    problem = _engine_problem(kind, sparse=sparse)
    W, b = _random_weights(problem)
    losses, G, G_b = evaluate(problem, W, b, problem.train, gradient=True)
    for outputs in ([1], [0, 1], [2, 0] if kind == "ovr" else [1, 0]):
        some = problem.for_outputs(outputs)
        got, some_G, some_G_b = evaluate(some, W[outputs], b[outputs], problem.train,
                                         gradient=True)
        np.testing.assert_allclose(got, losses[outputs], rtol=1e-14)
        np.testing.assert_allclose(some_G, G[outputs], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(some_G_b, G_b[outputs], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("sparse", [False, True])
def test_training_some_outputs_leaves_the_others_and_matches_all(optimizer, sparse):
    # call_kernel_on_outputs: the outputs trained end bit for bit as a call
    # on all would leave them (with their optimizer state and averages);
    # the others, and their state, are not touched.
    from skgd._engine import call_kernel, call_kernel_on_outputs
    from skgd._optimizers import OPTIMIZERS, init_state

    problem = _engine_problem("ovr", sparse=sparse)
    rng = np.random.RandomState(1)
    code = OPTIMIZERS[optimizer]
    hyper = np.array([0.9, 0.9, 0.9, 0.999, 1e-8])

    def fresh():
        W, b = rng.randn(3, 4), rng.randn(3)
        S1, S2 = init_state(code, 3, 4)
        return [W, b, S1, S2, np.zeros((3, 4)), np.zeros(3)]

    start = fresh()
    order = rng.permutation(30)
    schedule = (0, 0.05, 0.5, 1e-4, 0.0)  # constant eta 0.05

    def run(arrays, outputs=None):
        W, b, S1, S2, W_avg, b_avg = arrays
        state_args = (code, hyper, S1, S2, 5, 0, W_avg, b_avg, 1, np.zeros((0, 0)),
                      np.zeros(1))
        if outputs is None:
            return call_kernel(problem, order, 1, W, b, schedule, state_args)
        return call_kernel_on_outputs(problem, np.array(outputs), order, 1, W, b, schedule,
                                      state_args)

    every = [a.copy() for a in start]
    t_all, losses_all = run(every)
    some = [a.copy() for a in start]
    t_some, losses_some = run(some, [0, 2])
    assert t_some == t_all
    np.testing.assert_array_equal(losses_some, [losses_all[0], 0.0, losses_all[2]])
    for before, after_all, after_some in zip(start, every, some):
        if before.shape[0] != 3:
            continue  # (no state of this optimizer)
        np.testing.assert_array_equal(after_some[[0, 2]], after_all[[0, 2]])
        np.testing.assert_array_equal(after_some[1], before[1])
    assert not np.array_equal(every[0][1], start[0][1])  # (output 1 trains in a full call)


@pytest.mark.parametrize("kind", ["regression", "ovr", "multinomial"])
def test_intercept_only_losses_are_the_losses_at_zero_weights(kind):
    from skgd._engine import evaluate, intercept_only_losses

    problem = _engine_problem(kind)
    b = np.random.RandomState(2).randn(problem.n_outputs)
    zero = np.zeros((problem.n_outputs, problem.X.shape[1]))
    np.testing.assert_array_equal(intercept_only_losses(problem, b, problem.train),
                                  evaluate(problem, zero, b, problem.train))


def _preconditioner(kind, X):
    """A preconditioner of each shape the kernels branch on."""
    from skgd._precondition import Preconditioner

    d = X.shape[1]
    bucket = np.arange(d, dtype=np.uint8) % 3
    scale = np.array([0.5, 1.0, 2.0])
    if kind == "one bucket, centred":
        return Preconditioner(X.mean(axis=0), np.zeros(d, np.uint8), np.array([0.25]))
    if kind == "buckets, centred":
        return Preconditioner(X.mean(axis=0), bucket, scale)
    return Preconditioner(np.empty(0), bucket, scale)  # buckets, no centre (CSR too)


PRECONDITIONERS = ["one bucket, centred", "buckets, centred", "buckets, no centre"]


def test_evaluation_keeps_the_buckets_for_columns_of_extreme_size(monkeypatch):
    # In the columns' own scale, the gradient's sums over columns of size
    # 1e306 overflow: such buckets stay in the kernels' sums of scaled terms
    # (_engine.UNIT_SCALE_RANGE).
    from skgd import _engine
    from skgd._engine import GRADIENT, _evaluation, evaluate
    from skgd._precondition import Preconditioner

    monkeypatch.setattr(_engine, "UNIT_SCALE_VALUES", 0)
    problem = _engine_problem("regression", n=1000, d=2)
    X = np.abs(problem.X) * np.array([1e306, 3e306])
    p = Preconditioner(np.empty(0), np.array([0, 1], np.uint8), np.array([1e-306, 1 / 3e306]))
    problem = problem._replace(X=X, Y=problem.Y - 100.0, preconditioner=p,
                               l2=np.zeros(2), l1=np.zeros(2))
    W, b = np.zeros((2, 2)), np.zeros(2)
    expected = (np.zeros((2, 2)), np.zeros(2))
    _evaluation(problem, W.copy(), b.copy(), problem.train, GRADIENT, expected)
    _, G, G_b = evaluate(problem, W, b, problem.train, gradient=True)
    assert np.isfinite(G).all() and np.abs(G).max() > 1.0
    np.testing.assert_allclose(G, expected[0], rtol=1e-14)
    np.testing.assert_allclose(G_b, expected[1], rtol=1e-14)


@pytest.mark.parametrize("kind", PRECONDITIONERS)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("unit_scale_from", [0, np.inf])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("zero", [False, True])
def test_evaluation_in_preconditioned_coordinates(kind, sparse, unit_scale_from, n_threads,
                                                  zero, monkeypatch):
    # The kernels fit z = W~ x~ + b with x~ = (x - center) * s: against
    # numpy's explicit x~, for each branch of the dot product and the axpy.
    # (CSR rows are centred implicitly, for the batch solver: the centre's
    # part of the scores from the weights, of the gradient from its sum.)
    # Over several buckets, in the columns' own scale (_engine._in_unit_scale,
    # from UNIT_SCALE_VALUES values) and in the kernels' buckets; in threads too.
    # At W = 0 too, whose gradient the loop takes from the scores b alone
    # (ZERO_GRADIENT: the zero model's pass, which each fit takes).
    from skgd import _engine
    from skgd._engine import evaluate

    monkeypatch.setattr(_engine, "UNIT_SCALE_VALUES", unit_scale_from)
    problem = _engine_problem("regression")
    X = problem.X.copy()
    X[np.random.RandomState(3).rand(*X.shape) < 0.4] = 0.0
    p = _preconditioner(kind, X)
    problem = problem._replace(X=sp.csr_matrix(X) if sparse else X, preconditioner=p,
                               l2=np.zeros(p.bucket_scale.size), l1=np.zeros(p.bucket_scale.size))
    X_tilde = (X - (p.center if p.center.size else 0.0)) * p.column_scale()
    rng = np.random.RandomState(1)
    W, b = rng.randn(2, X.shape[1]), rng.randn(2)
    W *= not zero
    Z = X_tilde @ W.T + b
    s = problem.sample_weight
    losses, G, G_b = evaluate(problem, W, b, problem.train, gradient=True, n_threads=n_threads)
    np.testing.assert_allclose(losses, (s[:, None] * 0.5 * (Z - problem.Y) ** 2).sum(axis=0),
                               rtol=1e-12)
    dZ = s[:, None] * (Z - problem.Y)
    np.testing.assert_allclose(G, dZ.T @ X_tilde / len(s), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(G_b, dZ.sum(axis=0) / len(s), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", PRECONDITIONERS)
@pytest.mark.parametrize("solver, batch_size", [("stochastic", 1), ("minibatch", 7)])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_plain_steps_in_preconditioned_coordinates_match_numpy(kind, solver, batch_size,
                                                               l1_ratio):
    # Plain steps on x~ = (x - center) * s, with the l2 penalty of each
    # column alpha * s^2 and the l1 penalty alpha * s (the penalty on the
    # original coefficients; the l1 part cumulative, as scikit-learn's):
    # numpy on the explicit x~, then mapped back, against the kernels'
    # bucketed W = scale_b * V.
    from skgd._precondition import Preconditioner

    X, y = _data(n=40, d=6)
    p = _preconditioner(kind, X)
    est = GDRegressor(solver=solver, batch_size=batch_size, learning_rate="constant", eta0=0.02,
                      alpha=0.3, penalty="elasticnet", l1_ratio=l1_ratio, max_iter=3, tol=None,
                      shuffle=False, precondition="diagonal")
    original = est._build_problem  # which fits a preconditioner; this one instead:

    def with_preconditioner(*args, **kwargs):
        problem, val, stats = original(*args, **kwargs)
        l2, l1 = p.penalty(0.3 * (1 - l1_ratio), 0.3 * l1_ratio)
        return problem._replace(preconditioner=p, l2=l2, l1=l1), val, stats

    est._build_problem = with_preconditioner
    est.fit(X, y)
    X_tilde = (X - (p.center if p.center.size else 0.0)) * p.column_scale()
    s = p.column_scale()
    l2, l1 = 0.3 * (1 - l1_ratio) * s**2, 0.3 * l1_ratio * s
    # (In these coordinates the l2 decay comes after each step: Preconditioner.kernel_arguments.)
    w, b = gradient_descent_regression(X_tilde, y, batch_size=batch_size, n_epochs=3, eta=0.02,
                                       alpha=l2 + l1, l1_ratio=l1 / (l2 + l1), proximal_l2=True)
    coef, intercept = Preconditioner.to_original(p, w[None, :], np.array([b]))
    np.testing.assert_allclose(est.coef_, coef[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.intercept_, intercept, rtol=1e-10, atol=1e-12)


def _counts_in_loops(body):
    """The reference-count calls of an LLVM function ``body`` that lie on a
    cycle of its control-flow graph (run at every pass of a loop)."""
    blocks, successors, label = {}, {}, "entry"
    for line in body.splitlines()[1:]:
        start = re.match(r"^([\w.$-]+):", line)
        if start:
            label = start.group(1)
            continue
        blocks.setdefault(label, []).append(line)
        successors.setdefault(label, set()).update(re.findall(r"label %([\w.$-]+)", line))

    def on_a_cycle(origin):
        seen, todo = set(), list(successors.get(origin, ()))
        while todo:
            block = todo.pop()
            if block == origin:
                return True
            if block not in seen:
                seen.add(block)
                todo.extend(successors.get(block, ()))
        return False

    return [line.strip() for label, lines in blocks.items() for line in lines
            if re.search(r"call void @NRT_(incref|decref)", line) and on_a_cycle(label)]


def test_reference_counts_in_loops_are_seen():
    # The check below reads numba's IR as text: it must see a count in a loop
    # where there is one (an array allocated, and freed, at every pass).
    def allocating(n):
        total = 0.0
        for i in range(n):
            a = np.empty(3)
            a[0] = i
            total += a[0]
        return total

    compiled = numba.njit(allocating)
    assert compiled(4) == 6.0
    ir = next(iter(compiled.inspect_llvm().values()))
    body = re.findall(r"define [^@]*@(?!\S*cpython)\S*allocating\S*\(.*?\n\}", ir, re.S)
    assert body and _counts_in_loops(body[0])


_CHECKED_KERNELS = set()


# One kernel of each shape (each takes a few seconds to compile anew): the
# stochastic, general and lazy loops (the lazy one for one output and for
# three), and the dense and CSR evaluation loops; the others unpack and
# borrow their arrays in the same lines.
@pytest.mark.parametrize("solver, sparse, optimizer, n_classes", [
    ("stochastic", False, "sgd", 0), ("batch", False, "sgd", 0), ("stochastic", True, "adam", 0),
    ("stochastic", True, "adam", 3)])
def test_kernels_count_no_references_in_their_loops(solver, sparse, optimizer, n_classes,
                                                    monkeypatch):
    # numba counts references on the arrays it passes to an inlined helper at
    # every call (a row), unless LLVM prunes the pairs, which it fails to do
    # in the kernels' loops: the kernels borrow their arrays (skgd._borrow).
    # Compiled anew from the signatures a fit used, so that the optimised
    # code can be read.
    import skgd._engine as engine
    from skgd._jit import OPTIONS

    X, y = _data()
    X = sp.csr_matrix(X) if sparse else X
    used, pick = [], engine.epoch_kernel

    def recording_pick(*args, **kwargs):
        used.append(pick(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(engine, "epoch_kernel", recording_pick)
    params = dict(solver=solver, optimizer=optimizer, max_iter=2, tol=None)
    if n_classes:
        GDClassifier(**params).fit(X, np.digitize(y, np.quantile(y, [1 / 3, 2 / 3])))
    else:
        GDRegressor(**params).fit(X, y)
    assert used
    for kernel in set(used) - _CHECKED_KERNELS:
        _CHECKED_KERNELS.add(kernel)
        for signature in kernel.signatures[:1]:  # (others may come from earlier tests)
            fresh = numba.njit(signature, **{**OPTIONS, "cache": False})(kernel.py_func)
            ir = fresh.inspect_llvm(signature)
            name = kernel.py_func.__name__
            body = "\n".join(re.findall(  # the kernel's own function, not wrappers or callees
                rf"define [^@]*@(?!\S*cpython)\S*{name}\S*\(.*?\n\}}", ir, re.S))
            assert body, name
            assert not _counts_in_loops(body), name
            # A borrowed view must not outlive the call: a kernel returns a count.
            assert isinstance(fresh.nopython_signatures[0].return_type, numba.types.Integer)


def test_borrowed_views_write_through_to_the_callers_arrays():
    from skgd._borrow import borrowed

    @numba.njit
    def fill(values):
        target, value, source = borrowed(values)
        target[:] = source * value
        return target[1:].sum()

    target, source = np.zeros(3), np.arange(3.0)
    assert fill((target, 2.0, source)) == 6.0
    np.testing.assert_array_equal(target, [0.0, 2.0, 4.0])


@pytest.mark.parametrize("layout", ["C", "F", "float32", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gram_product_in_preconditioned_coordinates(layout, fit_intercept):
    """The power iteration's product ``(X~ / c)' S (X~ / c) v`` against the matrix
    written out: ``X~`` centred and scaled as the batch solver's preconditioner says,
    with a column of ones for the intercept, and the rows of weight 0 (held out) left
    out. (float32 data: its values read as they are, the products in float64.)"""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 6) * np.logspace(-2, 3, 6) + np.linspace(-50, 40, 6)
    X[rng.rand(*X.shape) < 0.3] = 0.0
    y = X @ rng.randn(6) + rng.randn(300)
    sample_weight = rng.uniform(0.5, 2.0, 300)
    as_given = {"C": X, "F": np.asfortranarray(X), "float32": X.astype(np.float32),
                "csr": sp.csr_matrix(X)}[layout]
    est = GDRegressor(solver="batch", fit_intercept=fit_intercept)
    problem = est._build_problem(as_given, y, sample_weight, None, False, True)[0]
    p = problem.preconditioner
    assert fit_intercept == bool(p.center.size)  # (centred where an intercept absorbs it)
    weight = rng.uniform(0.5, 2.0, 300)
    weight[::4] = 0.0
    v = rng.randn(6 + fit_intercept)
    c = 7.0
    tilde = (as_given.toarray() if layout == "csr" else np.asarray(as_given, np.float64))
    tilde = (tilde - (p.center if p.center.size else 0.0)) * p.column_scale()
    if fit_intercept:
        tilde = np.c_[tilde, np.ones(300)]
    expected = (tilde / c).T @ (weight * ((tilde / c) @ v))
    np.testing.assert_allclose(gram_product(problem, weight, v, c), expected, rtol=1e-10,
                               atol=1e-12 * np.abs(expected).max())
