"""Under an explicit schedule, skgd's stochastic solver takes scikit-learn's SGD steps.

The reference is scikit-learn's own ``SGDRegressor``/``SGDClassifier``,
fitted on the same dense data with ``shuffle=False`` (so that both visit the
rows in the same order) and ``tol=None``: the coefficients must agree to
rounding after several epochs, for every loss, schedule and penalty, with
averaging, sample weights, class weights (one-vs-rest included), warm starts
and ``partial_fit``. Two documented exceptions (user guide, "How skgd
differs"): under the elastic net, the unpaid l1 penalty of a coefficient
clipped at zero shrinks with the l2 decay in skgd and not in scikit-learn;
and scikit-learn's average does not see the l1 shrinkage, so averaging is
compared without l1.
"""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor

from skgd import GDClassifier, GDRegressor

RTOL, ATOL = 1e-9, 1e-12


def _data(n=60, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * [1.0, 2.0, 0.5, 1.0, 3.0]
    y = X @ rng.randn(d) + 0.5 + 0.3 * rng.randn(n)
    weight = rng.uniform(0.2, 3.0, n)
    return X, y, weight


def _both(Ours, Theirs, **params):
    params = {"shuffle": False, "tol": None, "max_iter": 8, "random_state": 0, **params}
    return Ours(**params), Theirs(**params)


def _assert_same(ours, theirs, penalty=None):
    # Elastic net: the same steps but for clipped coefficients (module docstring).
    rtol, atol = (1e-2, 1e-3) if penalty == "elasticnet" else (RTOL, ATOL)
    assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=atol)
    assert_allclose(ours.intercept_, theirs.intercept_, rtol=rtol, atol=atol)
    assert ours.t_ == theirs.t_


REGRESSION_CASES = [
    *itertools.product(
        ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"],
        ["constant", "invscaling"],
        ["l2", "l1", "elasticnet", None],
    ),
    ("epsilon_insensitive", "optimal", "l2"),
    ("epsilon_insensitive", "optimal", "l1"),
    ("epsilon_insensitive", "pa1", "l2"),
    ("epsilon_insensitive", "pa2", None),
]


@pytest.mark.parametrize("loss, learning_rate, penalty", REGRESSION_CASES)
def test_regressor_takes_sgdregressor_steps(loss, learning_rate, penalty):
    X, y, weight = _data()
    ours, theirs = _both(GDRegressor, SGDRegressor, loss=loss, learning_rate=learning_rate,
                         penalty=penalty, eta0=0.01, alpha=0.01, l1_ratio=0.4)
    ours.fit(X, y, sample_weight=weight)
    theirs.fit(X, y, sample_weight=weight)
    _assert_same(ours, theirs, penalty)


@pytest.mark.parametrize("loss", ["squared_error", "huber", "squared_epsilon_insensitive"])
def test_optimal_regression_takes_sgds_steps_through_its_chaotic_start(loss):
    # "optimal" starts with steps of about 3 here: the weights swing wildly
    # (up to 1e11 for the squared losses) before the steps shrink, and in
    # that phase rounding differences of 1e-16 grow exponentially in any
    # two implementations. So: the first epoch agrees to rounding, and once
    # the steps are short the fits agree again.
    X, y, weight = _data()
    params = dict(loss=loss, learning_rate="optimal", alpha=0.01)
    ours, theirs = _both(GDRegressor, SGDRegressor, max_iter=1, **params)
    _assert_same(ours.fit(X, y, sample_weight=weight), theirs.fit(X, y, sample_weight=weight))
    ours, theirs = _both(GDRegressor, SGDRegressor, max_iter=1000, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=weight)
    theirs.fit(X, y, sample_weight=weight)
    assert_allclose(ours.coef_, theirs.coef_, rtol=1e-3, atol=1e-4)
    assert ours.t_ == theirs.t_


CLASSIFICATION_CASES = [
    *itertools.product(
        ["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"],
        ["constant", "invscaling", "optimal"],
        ["l2", "l1"],
    ),
    # Elastic net: not under "optimal", whose long first steps clip many
    # coefficients at zero, where the two differ (module docstring).
    *itertools.product(["hinge", "log_loss"], ["constant", "invscaling"], ["elasticnet"]),
    ("hinge", "pa1", "l2"),
    ("hinge", "pa2", None),
    ("squared_error", "invscaling", "l1"),
]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("loss, learning_rate, penalty", CLASSIFICATION_CASES)
def test_classifier_takes_sgdclassifier_steps(loss, learning_rate, penalty, n_classes):
    X, y, weight = _data()
    labels = np.digitize(y, np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1]))
    # One-vs-rest class weights: in class k's problem its rows weigh w[k], the others 1.
    class_weight = {0: 0.5, 1: 2.0, 2: 1.5} if n_classes == 3 else {0: 0.5, 1: 2.0}
    # Under "optimal" (first steps of about 3 here) rounding differences
    # grow fast, and after 4 epochs one l1 clip can go either way.
    max_iter = 4 if learning_rate == "optimal" else 8
    ours, theirs = _both(GDClassifier, SGDClassifier, loss=loss, learning_rate=learning_rate,
                         penalty=penalty, eta0=0.01, alpha=0.01, l1_ratio=0.4,
                         class_weight=class_weight, max_iter=max_iter)
    ours.fit(X, labels, sample_weight=weight)
    theirs.fit(X, labels, sample_weight=weight)
    _assert_same(ours, theirs, penalty)


@pytest.mark.parametrize("Ours, Theirs", [(GDRegressor, SGDRegressor), (GDClassifier, SGDClassifier)])
@pytest.mark.parametrize("average", [True, 7, 1000])
def test_averaging_is_sgds(Ours, Theirs, average):
    X, y, _ = _data()
    target = y if Ours is GDRegressor else y > np.median(y)
    ours, theirs = _both(Ours, Theirs, learning_rate="constant", eta0=0.005, average=average)
    _assert_same(ours.fit(X, target), theirs.fit(X, target))


@pytest.mark.parametrize("Ours, Theirs", [(GDRegressor, SGDRegressor), (GDClassifier, SGDClassifier)])
@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "optimal"])
def test_partial_fit_calls_are_sgds(Ours, Theirs, learning_rate):
    X, y, weight = _data()
    target = y if Ours is GDRegressor else np.digitize(y, np.quantile(y, [0.3, 0.6]))
    ours, theirs = _both(Ours, Theirs, learning_rate=learning_rate, eta0=0.01, alpha=0.01,
                         penalty="l1")
    extra = {"classes": np.unique(target)} if Ours is GDClassifier else {}
    for chunk in np.array_split(np.arange(len(y)), 3):
        ours.partial_fit(X[chunk], target[chunk], sample_weight=weight[chunk], **extra)
        theirs.partial_fit(X[chunk], target[chunk], sample_weight=weight[chunk], **extra)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("Ours, Theirs, average", [
    (GDRegressor, SGDRegressor, False),
    (GDClassifier, SGDClassifier, False),
    # With averaging SGDRegressor restarts from its last non-averaged
    # iterate, SGDClassifier (and skgd, for both) from the published coef_.
    (GDClassifier, SGDClassifier, 5),
])
def test_warm_start_restarts_the_schedule_like_sgd(Ours, Theirs, average):
    # A warm fit starts from the previous coef_ and intercept_, with the step
    # count, the schedule and the averages anew (t_ is not carried over).
    X, y, _ = _data()
    target = y if Ours is GDRegressor else np.digitize(y, np.quantile(y, [0.3, 0.6]))
    ours, theirs = _both(Ours, Theirs, learning_rate="invscaling", eta0=0.01, alpha=0.01,
                         warm_start=True, average=average)
    ours.fit(X, target)
    theirs.fit(X, target)
    ours.set_params(alpha=0.001)
    theirs.set_params(alpha=0.001)
    _assert_same(ours.fit(X, target), theirs.fit(X, target))
    assert ours.t_ == 8 * len(y) + 1


def test_explicit_init_overrides_the_warm_start():
    X, y, _ = _data()
    est = GDRegressor(warm_start=True, learning_rate="constant", eta0=0.01, shuffle=False,
                      tol=None, max_iter=3).fit(X, y)
    cold = GDRegressor(learning_rate="constant", eta0=0.01, shuffle=False, tol=None,
                       max_iter=3).fit(X, y, coef_init=np.ones(5), intercept_init=2.0)
    est.fit(X, y, coef_init=np.ones(5), intercept_init=2.0)
    assert_allclose(est.coef_, cold.coef_, rtol=RTOL)
    assert_allclose(est.intercept_, cold.intercept_, rtol=RTOL)


def test_optimal_schedule_recovers_from_its_long_first_steps_like_sgdregressor():
    # "optimal" with the squared error starts with steps long enough to throw
    # the weights far off; scikit-learn lets it recover, and so must skgd
    # (no DivergenceError while the weights stay finite).
    X, y, _ = _data()
    ours, theirs = _both(GDRegressor, SGDRegressor, learning_rate="optimal", alpha=0.01,
                         max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # may not have recovered yet
        ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same(ours, theirs)
