"""GDClassifier and GDRegressor drop in for SGDClassifier and SGDRegressor.

One regression test per difference that scikit-learn's own SGD test suite
found (``tests/test_upstream_sgd.py`` runs that suite). The differences
about the steps themselves (one-vs-rest class weights, the passive-aggressive
schedules, warm starts, the "optimal" schedule's recovery) are checked
against scikit-learn's steps in ``tests/test_sgd_trajectory.py``.
"""

import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

ESTIMATORS = [GDClassifier, GDRegressor]


def _data(n=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4)
    y = X @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.randn(n)
    return X, y


def _target(Estimator, y):
    return (y > 0).astype(int) if Estimator is GDClassifier else y


def test_l1_books_last_the_whole_fit_so_irrelevant_coefficients_are_exactly_zero():
    # scikit-learn's cumulative l1 penalty keeps its totals over every epoch
    # of a fit; reset at each epoch, coefficients that should be zero stay
    # near 1e-4 after many epochs. Same data and settings as scikit-learn's
    # test_sgd_l1, and the same coefficients as SGDClassifier's.
    X = np.array([[1, 0.9, 0.8, 0, 0, 0], [1, 0.84, 0.98, 0, 0, 0], [1, 0.96, 0.88, 0, 0, 0],
                  [1, 0.91, 0.99, 0, 0, 0], [0, 0, 0, 0.89, 0.91, 1], [0, 0, 0, 0.79, 0.84, 1],
                  [0, 0, 0, 0.91, 0.95, 1], [0, 0, 0, 0.93, 1, 1]])
    y = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    params = dict(penalty="l1", alpha=0.2, fit_intercept=False, max_iter=2000, tol=None,
                  shuffle=False, learning_rate="optimal")
    ours = GDClassifier(**params).fit(X, y)
    theirs = SGDClassifier(**params).fit(X, y)
    assert_array_equal(ours.coef_[0, 1:-1], 0.0)
    assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert_allclose(ours.coef_, theirs.coef_, rtol=1e-9, atol=1e-12)


def test_one_vs_rest_class_weight_weighs_only_the_class_own_problem():
    # class_weight={k: 0} silences class k's rows in problem k only: in the
    # other problems they are "rest" rows of weight 1, as in SGDClassifier.
    X, y = _data(90)
    labels = np.digitize(y, [-1.0, 1.0])
    params = dict(shuffle=False, tol=None, max_iter=5, learning_rate="constant", eta0=0.01)
    ours = GDClassifier(class_weight={0: 0.0, 1: 1.0, 2: 1.0}, **params).fit(X, labels)
    theirs = SGDClassifier(class_weight={0: 0.0, 1: 1.0, 2: 1.0}, **params).fit(X, labels)
    assert_allclose(ours.coef_, theirs.coef_, rtol=1e-9)
    # Problem 0 is the binary problem "0 against the rest" with class 0's rows at weight 0...
    binary = GDClassifier(**params).fit(X, labels == 0, sample_weight=(labels != 0) * 1.0)
    assert_allclose(ours.coef_[0], binary.coef_[0], rtol=1e-9)
    # ...and the other problems are those without class weights.
    reference = GDClassifier(**params).fit(X, labels)
    assert_allclose(ours.coef_[1:], reference.coef_[1:], rtol=1e-9)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("penalty", ["l2", "l1", None])
def test_l1_ratio_none_is_fine_where_the_penalty_does_not_use_it(Estimator, penalty):
    X, y = _data()
    y = _target(Estimator, y)
    a = Estimator(penalty=penalty, l1_ratio=None, random_state=0).fit(X, y)
    b = Estimator(penalty=penalty, l1_ratio=0.7, random_state=0).fit(X, y)
    assert_allclose(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="l1_ratio must be set when penalty is 'elasticnet'"):
        Estimator(penalty="elasticnet", l1_ratio=None).fit(X, y)


def test_classifier_eta0_default_is_sgdclassifiers_so_constant_steps_fit():
    assert GDClassifier().eta0 == SGDClassifier().eta0 == 0.01
    X, y = _data()
    est = GDClassifier(learning_rate="constant", random_state=0).fit(X, y > 0)
    assert est.eta0_ == 0.01 and est.score(X, y > 0) > 0.9


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_n_jobs_is_accepted_validated_and_follows_joblibs_backend(Estimator):
    X, y = _data()
    y = _target(Estimator, y)
    reference = Estimator(random_state=0).fit(X, y)
    for n_jobs in (None, 1, 2, -1):
        est = Estimator(n_jobs=n_jobs, random_state=0).fit(X, y)
        assert_allclose(est.coef_, reference.coef_)
    with joblib.parallel_backend("threading", n_jobs=2):
        assert_allclose(Estimator(random_state=0).fit(X, y).coef_, reference.coef_)
    with pytest.raises(ValueError, match="n_jobs"):
        Estimator(n_jobs=0).fit(X, y)
    with pytest.raises(ValueError, match="n_jobs"):
        Estimator(n_jobs="two").fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_with_early_stopping_raises_as_in_scikit_learn(Estimator):
    X, y = _data()
    y = _target(Estimator, y)
    extra = {"classes": [0, 1]} if Estimator is GDClassifier else {}
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        Estimator(early_stopping=True).partial_fit(X, y, **extra)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_restarts_the_step_count(Estimator):
    X, y = _data()
    y = _target(Estimator, y)
    est = Estimator(warm_start=True, max_iter=3, tol=None, random_state=0).fit(X, y)
    est.fit(X, y)
    assert est.t_ == 3 * len(y) + 1  # not 6 epochs' worth


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_n_iter_counts_the_last_calls_epochs_as_in_scikit_learn(Estimator):
    """Found by a fuzzer: skgd summed n_iter_ over partial_fit calls (3 after three,
    4 after a fit of 3 epochs and one), where SGD* counts the last call's (1)."""
    X, y = _data()
    y = _target(Estimator, y)
    reference = SGDClassifier if Estimator is GDClassifier else SGDRegressor
    counts = []
    for make in (Estimator, reference):
        est = make(learning_rate="constant", eta0=0.01, max_iter=3, tol=None, random_state=0)
        classes = {"classes": np.unique(y)} if Estimator is GDClassifier else {}
        for _ in range(3):
            est.partial_fit(X, y, **classes)
        after_partial = est.n_iter_
        est.fit(X, y)
        after_fit = est.n_iter_
        est.partial_fit(X, y)
        counts.append((after_partial, after_fit, est.n_iter_))
    assert counts[0] == counts[1] == (1, 3, 1)


def test_explicit_optimal_squared_error_may_swing_and_recover():
    # scikit-learn's test_partial_fit_equal_fit[optimal-SGDRegressor]: the
    # "optimal" steps throw the weights far off in the first epochs; skgd
    # used to raise DivergenceError at epoch 5 where SGDRegressor recovers.
    X, y = _data(200)
    est = GDRegressor(learning_rate="optimal", alpha=0.01, max_iter=20, tol=None,
                      random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(20):
            est.partial_fit(X, y)
    fitted = GDRegressor(learning_rate="optimal", alpha=0.01, max_iter=20, tol=None,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X, y)
    assert np.isfinite(est.coef_).all() and np.isfinite(fitted.coef_).all()


def test_explicit_optimal_steps_that_end_far_off_from_their_first_epoch_warn():
    # (Found by a fuzzing helper.) The user guide: a call of an explicit
    # decaying schedule that ends far worse than the intercept-only model
    # warns. Its first epoch may already be as far off as its end ("optimal"
    # steps on standardised diabetes: an objective of 2.7e27 against 0.5),
    # and then "10 times the first epoch's" did not hold: no warning. The
    # coefficients are SGDRegressor's, which blows up the same way (one
    # epoch's, to 1e-3: such steps amplify rounding, 2e-5 there, and after
    # 5 epochs the two are apart).
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    for max_iter in (1, 5):
        est = GDRegressor(learning_rate="optimal", shuffle=False, max_iter=max_iter, tol=None)
        with pytest.warns(ConvergenceWarning, match="may not have recovered .* worse than the "
                          r"intercept-only model's \(0\.5\)"):
            est.fit(X, y)
        sgd = SGDRegressor(learning_rate="optimal", shuffle=False, max_iter=max_iter, tol=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sgd.fit(X, y)
        assert np.abs(est.coef_).max() > 1e11 and np.abs(sgd.coef_).max() > 1e11
        if max_iter == 1:
            assert_allclose(est.coef_, sgd.coef_, rtol=1e-3)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_all_validation_weights_zero_is_a_clear_error_before_fitting(Estimator):
    X, y = load_iris(return_X_y=True)
    if Estimator is GDRegressor:
        y = y.astype(float)
    est = Estimator(early_stopping=True, validation_fraction=0.4, random_state=0)
    with pytest.raises(ValueError, match="The sample weights for validation set are all zero"):
        est.fit(X, y, sample_weight=np.zeros(len(y)))
    assert not hasattr(est, "coef_")
    weight = np.ones(len(y))
    # Zero weights on exactly the held-out rows: caught before any epoch.
    _, val = Estimator(early_stopping=True, validation_fraction=0.4,
                       random_state=0)._validation_split(y, weight)
    weight[val] = 0.0
    with pytest.raises(ValueError, match="validation set are all zero"):
        est.fit(X, y, sample_weight=weight)


def test_one_vs_rest_problems_stop_on_their_own_like_separate_binary_fits():
    # SGDClassifier stops each one-vs-rest problem on its own objective; so
    # does the stochastic solver: each row of coef_ equals the binary fit of
    # its class against the rest, whenever each stopped.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(shuffle=False, tol=1e-3, learning_rate="invscaling", eta0=0.05)
    ovr = GDClassifier(**params).fit(X, y)
    epochs = []
    for k in range(3):
        binary = GDClassifier(**params).fit(X, (y == k).astype(int))
        assert_allclose(ovr.coef_[k], binary.coef_[0], rtol=1e-9, atol=1e-12)
        epochs.append(binary.n_iter_)
    assert len(set(epochs)) > 1  # the classes did stop at different epochs
    assert ovr.n_iter_ == max(epochs)


def test_passive_aggressive_steps_are_scikit_learns():
    X, y = _data()
    for lr in ("pa1", "pa2"):
        params = dict(learning_rate=lr, eta0=0.5, shuffle=False, tol=None, max_iter=4)
        ours = GDClassifier(**params).fit(X, y > 0)
        theirs = SGDClassifier(**params).fit(X, y > 0)
        assert_allclose(ours.coef_, theirs.coef_, rtol=1e-9)
        ours = GDRegressor(loss="epsilon_insensitive", **params).fit(X, y)
        theirs = SGDRegressor(loss="epsilon_insensitive", **params).fit(X, y)
        assert_allclose(ours.coef_, theirs.coef_, rtol=1e-9)
    with pytest.raises(ValueError, match="only works with loss 'hinge'"):
        GDClassifier(learning_rate="pa1", loss="log_loss").fit(X, y > 0)
    with pytest.raises(ValueError, match="solver='stochastic'"):
        GDClassifier(learning_rate="pa1", solver="batch").fit(X, y > 0)


def test_fit_averages_by_default_partial_fit_does_not():
    # Under learning_rate="auto" the stochastic solver's fit publishes the
    # polynomial-decay average of its iterates; partial_fit the last iterate.
    X, y = _data()
    fitted = GDRegressor(random_state=0, max_iter=3, tol=None).fit(X, y)
    assert fitted._state.averaged
    assert not np.allclose(fitted.coef_, fitted._state.W[0])
    streamed = GDRegressor(random_state=0).partial_fit(X, y)
    assert not streamed._state.averaged
    assert_allclose(streamed.coef_, streamed._state.W[0])
