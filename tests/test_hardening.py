"""Bad and awkward inputs: each gets a correct model or a clear error.

A clear error is a ValueError (or TypeError) whose message names the input at
fault (``X``, ``y``, ``sample_weight``, ``class_weight``, ``classes``), or,
for a fit that blows up, names the epoch and says what to do (a smaller
``eta0``, scaled features). Never acceptable: a model holding NaN, a numpy or
numba error from deep inside the fit, a garbage model returned silently, or a
different answer for the same data handed over in another container.

Expected values are computed here independently (scikit-learn's ``Ridge``,
closed forms, the objective evaluated with numpy), never copied from skgd.
"""

import re
import warnings

import numpy as np
import pandas as pd
import numba
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from skgd import DivergenceError, GDClassifier, GDRegressor
from skgd import _kernels
from skgd._schedules import EpochSchedule
from skgd._stopping import stall_epochs

SOLVERS = ("stochastic", "minibatch", "batch")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
KINDS = ("regressor", "classifier")

# A diverging fit must say where it went wrong and what to do about it.
# A divergence error names the epoch and a parameter whose change helps.
DIVERGENCE_MESSAGE = r"(?s)(?=.*epoch #?\d+)(?=.*(eta0|alpha))"


def _data(kind, n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = np.arange(1.0, d + 1.0)
    score = X @ w
    if kind == "regressor":
        return GDRegressor, X, score + 0.5
    return GDClassifier, X, (score > 0).astype(int)


def _make(kind, **params):
    Est, X, y = _data(kind)
    params.setdefault("random_state", 0)
    return Est(**params), X, y


def _fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _coefs(est):
    return np.asarray(est.coef_), np.asarray(est.intercept_)


def _assert_same_model(a, b):
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.intercept_, b.intercept_)


# ---------------------------------------------------------------------------
# Non-finite values
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
@pytest.mark.parametrize("sparse", [False, True])
def test_nonfinite_X_is_rejected(kind, value, word, sparse):
    est, X, y = _make(kind)
    X = X.copy()
    X[3, 1] = value
    if sparse:
        X = sp.csr_matrix(X)
    with pytest.raises(ValueError, match=f"Input X contains {word}"):
        est.fit(X, y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nonfinite_y_is_rejected(kind, value, word):
    est, X, y = _make(kind)
    y = y.astype(float)
    y[5] = value
    with pytest.raises(ValueError, match=f"Input y contains {word}"):
        est.fit(X, y)


@pytest.mark.parametrize("params", [{}, {"solver": "batch"}, {"solver": "minibatch"},
                                    {"learning_rate": "constant", "eta0": 0.01},
                                    {"loss": "huber", "epsilon": 1e159}])
@pytest.mark.parametrize("scale", [1e160, 1e200])
def test_a_target_whose_losses_overflow_is_rejected_naming_y(params, scale):
    """Found by a fuzzer: y at 1e200 raised an OverflowError from the divergence
    reference, and at 1e153 to 1e160 the fits diverged at epoch 1 with advice to
    scale X (or, under a constant step, ended with NaN weights)."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = scale * (X[:, 0] + 0.1 * rng.randn(300))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"y's values reach .*Divide y by a constant"):
            GDRegressor(random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_weights_whose_losses_overflow_are_rejected_naming_them(kind):
    """(The classifier ran 1,000 epochs to coefficients of 0 and accuracy 0.51.)"""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = X[:, 0] + 0.1 * rng.randn(300)
    est, target = ((GDRegressor(random_state=0), y) if kind == "regressor" else
                   (GDClassifier(loss="log_loss", random_state=0), y > 0))
    with pytest.raises(ValueError, match="reaches 1e.305.*Divide sample_weight"):
        est.fit(X, target, sample_weight=np.full(300, 1e305))


@pytest.mark.parametrize("solver, rows", [("minibatch", 20), ("stochastic", 1)])
def test_a_call_of_one_update_that_diverges_raises(solver, rows):
    """Found by a fuzzer: a partial_fit whose epoch is one update (one batch, or one
    row) was judged on its running objective, the loss before that update, and
    returned a model 10,000 times worse than predicting 0 without a word."""
    rng = np.random.RandomState(0)
    X = rng.randn(20, 3) * 100
    y = (X[:, 0] > 0).astype(int)
    est = GDClassifier(solver=solver, loss="squared_error", learning_rate="constant",
                       eta0=0.01, random_state=0)
    with pytest.raises(DivergenceError, match="objective ended at"):
        est.partial_fit(X[:rows], y[:rows], classes=[0, 1])


@pytest.mark.parametrize("case, says, not_says", [
    # (Found by a fuzzer: the first said "with early_stopping=False ..." with it
    # False, the second "solver='batch'" alone, where the batch solver would not
    # certify either, the third "a smaller tol (now 0.0)".)
    ("classifier batch invscaling",
     "with learning_rate='auto' (now 'invscaling') the batch solver", "early_stopping"),
    ("regressor minibatch exponential",
     "with solver='batch', learning_rate='auto' (now 'exponential')", "solver='batch' stops"),
    ("regressor constant tol=0", "With tol=0 already, a larger n_iter_no_change",
     "smaller tol"),
])
def test_the_far_from_the_optimum_warning_names_settings_that_would_certify(case, says,
                                                                           not_says):
    if case.startswith("classifier"):
        X, y = load_breast_cancer(return_X_y=True)
        est = GDClassifier(solver="batch", loss="log_loss", learning_rate="invscaling",
                           eta0=0.01, random_state=0)
    else:
        X, y = load_diabetes(return_X_y=True)
        est = (GDRegressor(solver="minibatch", learning_rate="exponential", eta0=0.01,
                           random_state=0) if "exponential" in case else
               GDRegressor(learning_rate="constant", eta0=0.05, tol=0.0, random_state=0))
    with pytest.warns(ConvergenceWarning, match="far from the optimum") as caught:
        est.fit(StandardScaler().fit_transform(X), y)
    message = " ".join(str(w.message) for w in caught)
    assert says in message and not_says not in message


@pytest.mark.parametrize("learning_rate, precondition, says", [
    ("auto", None, "precondition='auto' (now None)"),
    ("constant", None, "precondition='diagonal' (now None)"),
    ("constant", "auto", "learning_rate='auto'"),
])
def test_the_bad_scale_warning_names_the_setting_that_scales(learning_rate, precondition, says):
    """Found by a fuzzer: under "auto" with precondition=None it advised "auto"."""
    rng = np.random.RandomState(0)
    est = GDRegressor(learning_rate=learning_rate, eta0=1e-16, precondition=precondition,
                      max_iter=2, tol=None, random_state=0)
    with pytest.warns(ConvergenceWarning, match=re.escape(says)):
        est.fit(rng.randn(50, 2) * 1e7, rng.randn(50))


def test_missing_values_in_object_y_are_rejected_by_the_regressor():
    # An object array with None: scikit-learn checks finiteness before it
    # converts object y to float, so None turns into NaN after the check.
    est, X, y = _make("regressor")
    y = y.astype(object)
    y[2] = None
    with pytest.raises(ValueError, match=r"\by\b.*(NaN|finite|missing)"):
        est.fit(X, y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nonfinite_sample_weight_is_rejected(kind, value, word):
    est, X, y = _make(kind)
    sample_weight = np.ones(len(y))
    sample_weight[0] = value
    with pytest.raises(ValueError, match=f"Input sample_weight contains {word}"):
        est.fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("kind", KINDS)
def test_nonfinite_X_in_predict_is_rejected(kind):
    est, X, y = _make(kind)
    _fit_quietly(est, X, y)
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(X_bad)


# ---------------------------------------------------------------------------
# Shapes: lengths, empty data, zero features, a single sample
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_X_and_y_of_different_lengths(kind):
    est, X, y = _make(kind)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[40, 39\]"):
        est.fit(X, y[:-1])


@pytest.mark.parametrize("kind", KINDS)
def test_sample_weight_of_wrong_length(kind):
    est, X, y = _make(kind)
    with pytest.raises(ValueError, match=r"sample_weight.*\(39,\).*\(40,\)"):
        est.fit(X, y, sample_weight=np.ones(39))


@pytest.mark.parametrize("kind", KINDS)
def test_empty_X(kind):
    est, X, y = _make(kind)
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        est.fit(X[:0], y[:0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sparse", [False, True])
def test_zero_features(kind, sparse):
    est, _, y = _make(kind)
    X0 = np.empty((len(y), 0))
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        est.fit(sp.csr_matrix(X0) if sparse else X0, y)


@pytest.mark.parametrize("solver", SOLVERS)
def test_single_sample_regression_is_fitted_exactly(solver):
    # One sample: the l2-penalised least-squares optimum with an unpenalised
    # intercept is w = 0, b = y (zero loss, zero penalty).
    est, X, y = _make("regressor", solver=solver)
    _fit_quietly(est, X[:1], y[:1])
    assert np.isfinite(est.coef_).all()
    assert_allclose(est.coef_, 0.0, atol=1e-12)
    assert_allclose(est.predict(X[:1]), y[:1], rtol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_single_sample_classification_is_a_single_class(solver):
    est, X, y = _make("classifier", solver=solver)
    with pytest.raises(ValueError, match="one class"):
        est.fit(X[:1], y[:1])


@pytest.mark.parametrize("kind", KINDS)
def test_single_sample_with_early_stopping(kind):
    est, X, y = _make(kind, early_stopping=True)
    with pytest.raises(ValueError, match="(early_stopping|validation_fraction|one class)"):
        est.fit(X[:1], y[:1])


def test_single_class():
    est, X, y = _make("classifier")
    with pytest.raises(ValueError, match="only one class"):
        est.fit(X, np.zeros_like(y))


def test_single_class_in_a_partial_fit_batch_is_fine_when_classes_are_given():
    est, X, y = _make("classifier")
    est.partial_fit(X[y == 0], y[y == 0], classes=[0, 1])
    assert_array_equal(est.classes_, [0, 1])
    assert np.isfinite(est.coef_).all()
    assert (est.predict(X[y == 0]) == 0).mean() > 0.9


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("value", [0.0, 1.0, 3.25])
@pytest.mark.parametrize("tol", [1e-3, 1e-16])
def test_constant_target_regression(solver, value, tol):
    # y constant: the optimum is w = 0, b = that constant. "auto" starts
    # there (its intercept starts at the mean), and the objective stays at
    # exactly 0 where the mean is exact (0 and 1): the stall rules, reading
    # tol in units of the intercept-only objective, 0, never saw a stall,
    # and the stochastic solver ran all 1,000 epochs with a warning. (The
    # floor is on the product: tol = 1e-16 times the smallest float is 0.)
    # It stops after two stall windows: one shrinks the step, the next ends
    # the fit (the mini-batch solver's windows hold 100 batches: 50 epochs
    # of 2 here).
    est, X, y = _make("regressor", solver=solver, tol=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, np.full(len(y), value))
    assert_allclose(est.coef_, 0.0, atol=1e-10)
    assert_allclose(est.intercept_, value, rtol=1e-12)
    window = stall_epochs(est, EpochSchedule("adaptive", 0.1, 0.0), len(y), False)
    assert window == (50 if solver == "minibatch" else est.n_iter_no_change)
    assert est.n_iter_ <= 2 * window + 1


# ---------------------------------------------------------------------------
# Sample and class weights
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_all_zero_sample_weights(kind, method):
    est, X, y = _make(kind)
    kwargs = {"classes": [0, 1]} if kind == "classifier" and method == "partial_fit" else {}
    with pytest.raises(ValueError, match=r"(?i)sample.weight"):
        getattr(est, method)(X, y, sample_weight=np.zeros(len(y)), **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_zero_sample_weights_on_every_training_row_with_early_stopping(kind, solver):
    # The weights are positive on the validation rows only: nothing is left
    # to train on. That is a problem with sample_weight, not a divergence.
    est, X, y = _make(kind, solver=solver, early_stopping=True, validation_fraction=0.5)
    _, val = train_test_split(
        np.arange(len(y)), test_size=0.5, random_state=check_random_state(0),
        stratify=y if kind == "classifier" else None,
    )
    sample_weight = np.zeros(len(y))
    sample_weight[val] = 1.0
    try:
        _fit_quietly(est, X, y, sample_weight=sample_weight)
    except ValueError as exc:
        assert re.search(r"(?i)sample.weight", str(exc)), str(exc)
        assert "diverged" not in str(exc), str(exc)
    else:
        pytest.fail("fitted although every training row has weight zero")


@pytest.mark.parametrize("kind", KINDS)
def test_negative_sample_weights(kind):
    est, X, y = _make(kind)
    sample_weight = np.ones(len(y))
    sample_weight[4] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        est.fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("scale", [1e308, 1e-320])
def test_extreme_but_valid_sample_weight_scales(kind, solver, scale):
    # The objective is a weighted *mean*, so multiplying every weight by a
    # constant changes nothing. Weights near the float limits must give the
    # unit-weight model (or, at worst, an error that names sample_weight).
    est, X, y = _make(kind, solver=solver)
    reference = _fit_quietly(est.__class__(**est.get_params()), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            _fit_quietly(est, X, y, sample_weight=np.full(len(y), scale))
        except ValueError as exc:
            assert re.search(r"(?i)sample.weight", str(exc)), str(exc)
            return
    assert_allclose(est.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(est.intercept_, reference.intercept_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_weights_whose_gradient_squares_overflow_certify(kind):
    """Found by a random-sequence fuzzer: uniform weights of 1e200 (a valid
    scale, whose squared gradient overflows float64) leaked numpy's overflow
    warnings, made stationarity_ NaN, and the regressor's good fit warned
    that it had stopped far from the optimum; the batch classifier on
    float32 data could not certify."""
    rng = np.random.RandomState(0)
    X = rng.randn(100, 4)
    y = X @ [1.0, 2.0, -1.0, 0.5] + 0.1 * rng.randn(100)
    if kind == "regressor":
        est, target = GDRegressor(random_state=0), y
    else:
        est, target, X = GDClassifier(solver="batch", random_state=0), y > 0, X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # (True of the classifier, and not about overflow: these separable
        # rows weighed 1e200 against alpha=1e-4 are a hard-margin problem,
        # whose objective heads to 0 and still falls by more than tol of
        # itself an epoch when the relative rule's floor stops the fit, after
        # 249 epochs; with weights of 1 or 1e4, 293 and 335, and no warning.)
        warnings.filterwarnings("ignore", "The fit stopped far from the optimum of its "
                                "objective: the objective still fell", ConvergenceWarning)
        est.fit(X, target, sample_weight=np.full(100, 1e200))
    assert 0 < est.stationarity_ < 0.1
    assert est.score(X, target) > 0.95


def test_class_weights_summing_to_zero():
    est, X, y = _make("classifier", class_weight={0: 0.0, 1: 0.0})
    with pytest.raises(ValueError, match="class weights"):
        est.fit(X, y)


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf])
def test_invalid_class_weight_values(value):
    est, X, y = _make("classifier", class_weight={0: value, 1: 1.0})
    with pytest.raises(ValueError, match="class_weight"):
        _fit_quietly(est, X, y)


# ---------------------------------------------------------------------------
# Non-numeric input
# ---------------------------------------------------------------------------
def _string_inputs():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", "b"])
    frame["colour"] = ["red", "blue"] * 20
    return {
        "str-array": np.array([["a", "b", "c"]] * 40),
        "object-array": np.array([[1.0, "b", 2.0]] * 40, dtype=object),
        "dataframe-with-str-column": frame,
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(_string_inputs()))
def test_non_numeric_X_names_X(kind, name):
    est, _, y = _make(kind)
    with pytest.raises((ValueError, TypeError), match=r"\bX\b"):
        est.fit(_string_inputs()[name], y)


@pytest.mark.parametrize("kind", KINDS)
def test_non_numeric_X_in_predict_names_X(kind):
    est, X, y = _make(kind)
    _fit_quietly(est, X, y)
    with pytest.raises((ValueError, TypeError), match=r"\bX\b"):
        est.predict(np.array([["a", "b", "c"]]))


def test_non_numeric_y_of_the_regressor_names_y():
    est, X, _ = _make("regressor")
    with pytest.raises((ValueError, TypeError), match=r"\by\b"):
        est.fit(X, np.array(["low", "high"] * 20))


@pytest.mark.parametrize("kind", KINDS)
def test_non_numeric_sample_weight_names_sample_weight(kind):
    est, X, y = _make(kind)
    with pytest.raises((ValueError, TypeError), match="sample_weight"):
        est.fit(X, y, sample_weight=np.array(["heavy"] * 40))


def test_string_labels_are_fine_for_the_classifier():
    est, X, y = _make("classifier")
    labels = np.array(["no", "yes"])[y]
    reference = _fit_quietly(GDClassifier(random_state=0), X, y)
    _fit_quietly(est, X, labels)
    assert_array_equal(est.classes_, ["no", "yes"])
    _assert_same_model(est, reference)
    assert_array_equal(est.predict(X), np.array(["no", "yes"])[reference.predict(X)])


@pytest.mark.parametrize("solver", SOLVERS)
def test_perceptron_leaves_the_all_zero_start(solver):
    """At w = 0, b = 0 every margin is exactly 0. The perceptron must treat
    that as a mistake (as scikit-learn's Perceptron/SGDClassifier do), or it
    never takes a step and silently returns the all-zero model."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = (X @ [1.0, -2.0, 0.5] > 0).astype(int)
    est = GDClassifier(loss="perceptron", solver=solver, random_state=0)
    _fit_quietly(est, X, y)
    assert np.any(est.coef_ != 0.0), "the perceptron never moved from w = 0"
    assert est.score(X, y) >= 0.9


def test_continuous_y_is_rejected_by_the_classifier():
    est, X, _ = _make("classifier")
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        est.fit(X, np.linspace(0, 1, 40))


# ---------------------------------------------------------------------------
# partial_fit
# ---------------------------------------------------------------------------
def test_partial_fit_with_an_unseen_class():
    est, X, y = _make("classifier")
    est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels.*2.*not in classes"):
        est.partial_fit(X, np.where(y == 1, 2, 0))


def test_partial_fit_needs_classes_first():
    est, X, y = _make("classifier")
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)


def test_partial_fit_with_other_classes():
    est, X, y = _make("classifier")
    est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("first", ["fit", "partial_fit"])
def test_partial_fit_with_a_different_number_of_features(kind, first):
    est, X, y = _make(kind)
    kwargs = {"classes": [0, 1]} if kind == "classifier" and first == "partial_fit" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        getattr(est, first)(X, y, **kwargs)
    coef = est.coef_.copy()
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3 features"):
        est.partial_fit(X[:, :2], y)
    assert_array_equal(est.coef_, coef)


def test_partial_fit_regressor_with_a_different_target_shape():
    est, X, y = _make("regressor")
    est.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"y has shape \(40, 2\)"):
        est.partial_fit(X, np.column_stack([y, y]))


@pytest.mark.parametrize("kind", KINDS)
def test_predict_with_a_different_number_of_features(kind):
    est, X, y = _make(kind)
    _fit_quietly(est, X, y)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 3 features"):
        est.predict(np.ones((2, 4)))


# ---------------------------------------------------------------------------
# Containers: sparse formats, dtypes, read-only and non-contiguous arrays
# ---------------------------------------------------------------------------
SPARSE_FORMATS = [
    sp.csc_matrix, sp.coo_matrix, sp.lil_matrix, sp.dok_matrix, sp.bsr_matrix,
    sp.dia_matrix, sp.csc_array, sp.coo_array, sp.csr_array,
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_every_sparse_format_gives_the_csr_and_dense_model(kind, solver):
    # Under an explicit schedule dense and CSR take the same steps; under
    # "auto" dense data is centred and CSR is not, so only converged fits
    # agree (test_auto_converges_to_the_same_model_on_dense_and_csr). Every
    # sparse format gives the CSR model exactly, under any schedule.
    est, X, y = _make(kind, solver=solver, learning_rate="constant", eta0=0.01)
    X = X.copy()
    X[np.abs(X) < 0.5] = 0.0  # some real sparsity
    dense = _fit_quietly(est.__class__(**est.get_params()), X, y)
    csr = _fit_quietly(est.__class__(**est.get_params()), sp.csr_matrix(X), y)
    assert_allclose(csr.coef_, dense.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(csr.intercept_, dense.intercept_, rtol=1e-9, atol=1e-12)
    est.set_params(learning_rate="auto")
    csr = _fit_quietly(est.__class__(**est.get_params()), sp.csr_matrix(X), y)
    for fmt in SPARSE_FORMATS:
        model = _fit_quietly(est.__class__(**est.get_params()), fmt(X), y)
        assert_array_equal(model.coef_, csr.coef_, err_msg=fmt.__name__)
        assert_array_equal(model.intercept_, csr.intercept_, err_msg=fmt.__name__)
        assert_array_equal(
            model.predict(fmt(X)), csr.predict(sp.csr_matrix(X)), err_msg=fmt.__name__
        )


@pytest.mark.parametrize("kind", KINDS)
def test_auto_converges_to_the_same_model_on_dense_and_csr(kind):
    est, X, y = _make(kind, solver="batch", tol=1e-10, max_iter=100_000)
    X = X.copy()
    X[np.abs(X) < 0.5] = 0.0
    if kind == "classifier":
        est.set_params(loss="log_loss")  # a smooth loss: the batch solver certifies
    dense = _fit_quietly(est.__class__(**est.get_params()), X, y)
    csr = _fit_quietly(est.__class__(**est.get_params()), sp.csr_matrix(X), y)
    # (The batch solver centres CSR columns too, implicitly: the same coordinates.)
    assert_allclose(csr._state.preconditioner.center, dense._state.preconditioner.center,
                    rtol=1e-12)
    assert_allclose(csr.coef_, dense.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(csr.intercept_, dense.intercept_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_csr_with_duplicates_unsorted_indices_and_int64_indices(kind):
    # Canonicalisation of the CSR structure must not change the model.
    est, X, y = _make(kind, solver="minibatch")
    X = X.copy()
    X[np.abs(X) < 0.5] = 0.0
    reference = _fit_quietly(est.__class__(**est.get_params()), sp.csr_matrix(X), y)
    rows, cols = np.nonzero(X)
    half = X[rows, cols] / 2
    # Each entry stored twice (halves), in reverse column order within rows.
    order = np.lexsort((-cols, rows))
    rows2 = np.repeat(rows[order], 2)
    cols2 = np.repeat(cols[order], 2)
    data2 = np.repeat(half[order], 2)
    indptr = np.searchsorted(rows2, np.arange(X.shape[0] + 1)).astype(np.int64)
    messy = sp.csr_matrix((data2, cols2.astype(np.int64), indptr), shape=X.shape)
    assert not messy.has_canonical_format
    model = _fit_quietly(est.__class__(**est.get_params()), messy, y)
    assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool])
def test_int_and_bool_X_give_the_float64_model(kind, dtype):
    est, X, y = _make(kind)
    X_cast = (np.abs(X) * 3).astype(dtype) if dtype is not bool else X > 0
    reference = _fit_quietly(est.__class__(**est.get_params()), X_cast.astype(np.float64), y)
    _fit_quietly(est, X_cast, y)
    assert est.coef_.dtype == np.float64
    _assert_same_model(est, reference)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_read_only_arrays(kind, solver):
    est, X, y = _make(kind, solver=solver)
    sample_weight = np.linspace(0.5, 1.5, len(y))
    reference = _fit_quietly(est.__class__(**est.get_params()), X, y, sample_weight=sample_weight)
    X_ro, y_ro, sw_ro = X.copy(), y.copy(), sample_weight.copy()
    for array in (X_ro, y_ro, sw_ro):
        array.flags.writeable = False
    _fit_quietly(est, X_ro, y_ro, sample_weight=sw_ro)
    _assert_same_model(est, reference)
    assert_array_equal(est.predict(X_ro), reference.predict(X))
    # Read-only CSR buffers (e.g. shared memory from joblib) too: the CSR
    # model of writeable buffers.
    csr = sp.csr_matrix(X)
    csr_reference = _fit_quietly(est.__class__(**est.get_params()), csr.copy(), y,
                                 sample_weight=sample_weight)
    for array in (csr.data, csr.indices, csr.indptr):
        array.flags.writeable = False
    sparse_model = _fit_quietly(
        est.__class__(**est.get_params()), csr, y_ro, sample_weight=sw_ro
    )
    _assert_same_model(sparse_model, csr_reference)
    # partial_fit on read-only input.
    kwargs = {"classes": [0, 1]} if kind == "classifier" else {}
    est.__class__(**est.get_params()).partial_fit(X_ro, y_ro, sample_weight=sw_ro, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_kernels_see_read_only_inputs_and_32_bit_indices(kind, solver):
    # numba compiles a kernel once per argument type, and whether an array is
    # writeable is part of that type, as is the CSR index dtype. The kernels
    # always get read-only inputs and int32 indices, so that each dtype
    # compiles once whatever the caller passes.
    est, X, y = _make(kind, solver=solver)
    wide_index = sp.csr_array(X)
    wide_index.indptr = wide_index.indptr.astype(np.int64)  # only one of the two
    for data in (X, wide_index):
        _fit_quietly(est.__class__(**est.get_params()), data, y)
    # The inputs: X, data, indices, indptr, then in the argument tuple Y,
    # labels, the class and sample weights and the row order, and the
    # preconditioner's columns grouped by bucket.
    for storage in ("dense", "csr"):
        for kernel in ("stochastic_epoch", "minibatch_epoch", "plain_stochastic",
                       "plain_minibatch", "general_epoch", "evaluate"):
            for signature in getattr(_kernels, f"{kernel}_{storage}").signatures:
                inputs = (*signature[:4], *signature[4].types[:6], *signature[4].types[16:18])
                assert not any(argument.mutable for argument in inputs)
                assert signature[2].dtype == signature[3].dtype == numba.int32


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_read_only_memmap(kind, solver, tmp_path):
    est, X, y = _make(kind, solver=solver)
    reference = _fit_quietly(est.__class__(**est.get_params()), X, y)
    path = tmp_path / "X.dat"
    writer = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    writer[:] = X
    writer.flush()
    del writer
    X_mm = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    np.save(tmp_path / "y.npy", y)
    y_mm = np.load(tmp_path / "y.npy", mmap_mode="r")
    _fit_quietly(est, X_mm, y_mm)
    _assert_same_model(est, reference)
    assert_array_equal(est.predict(X_mm), reference.predict(X))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_non_contiguous_and_fortran_arrays(kind, solver):
    est, X, y = _make(kind, solver=solver)
    sample_weight = np.linspace(0.5, 1.5, len(y))
    reference = _fit_quietly(est.__class__(**est.get_params()), X, y, sample_weight=sample_weight)
    wide = np.repeat(X, 2, axis=1)[:, ::2]  # a strided view
    assert not wide.flags.c_contiguous
    long_y = np.repeat(y, 2)[::2]
    long_w = np.repeat(sample_weight, 2)[::2]
    fortran = np.asfortranarray(X)
    for X_, y_, w_ in [(wide, long_y, long_w), (fortran, y, sample_weight)]:
        model = _fit_quietly(est.__class__(**est.get_params()), X_, y_, sample_weight=w_)
        _assert_same_model(model, reference)
        # BLAS may round a strided or Fortran product differently (1 ulp).
        if kind == "regressor":
            assert_allclose(model.predict(X_), reference.predict(X), rtol=1e-13, atol=1e-13)
        else:
            assert_allclose(model.decision_function(X_), reference.decision_function(X), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_input_stays_float32(kind, solver):
    est, X, y = _make(kind, solver=solver)
    _fit_quietly(est, X.astype(np.float32), y)
    assert est.coef_.dtype == np.float32
    assert np.isfinite(est.coef_).all()


# ---------------------------------------------------------------------------
# Numerical edge cases
# ---------------------------------------------------------------------------
def _ridge_reference(X, y, alpha):
    # skgd's objective: mean(0.5 r^2) + alpha/2 |w|^2  ==  Ridge(alpha * n).
    return Ridge(alpha=alpha * X.shape[0], solver="cholesky").fit(X, y)


def test_constant_and_duplicated_columns_reach_the_ridge_solution():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(60, 3))
    X = np.column_stack([base, np.full(60, 2.0), np.zeros(60), base[:, 0]])
    y = base @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=60) + 4.0
    alpha = 0.1
    ridge = _ridge_reference(X, y, alpha)
    # The constant column and the intercept are collinear; only the penalty
    # (curvature alpha) separates them, so run a fixed, ample number of epochs.
    est = GDRegressor(solver="batch", alpha=alpha, tol=None, max_iter=3000, random_state=0)
    _fit_quietly(est, X, y)
    assert np.isfinite(est.coef_).all()
    assert_allclose(est.coef_, ridge.coef_, atol=1e-5)
    assert_allclose(est.intercept_, ridge.intercept_, atol=1e-5)
    assert est.coef_[4] == 0.0  # an all-zero column never gets a gradient
    assert_allclose(est.coef_[0], est.coef_[5], rtol=1e-8)  # duplicates share


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_constant_and_duplicated_columns_give_finite_models(kind, solver):
    est, X, y = _make(kind, solver=solver)
    X = np.column_stack([X, np.full(len(y), 7.0), X[:, 0], X[:, 0]])
    _fit_quietly(est, X, y)
    assert np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()
    assert_allclose(est.coef_[..., 4], est.coef_[..., 5], rtol=1e-6, atol=1e-9)


def _scaled_regression(scale, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, 2.0, 3.0] + 0.1 * rng.normal(size=60) + 0.5
    return X * scale, y


def _fit_or_clear_signal(est, X, y):
    """Fit; return the model, or None if the fit said clearly that it failed.

    A clear signal is a ValueError that gives the epoch and advice, or a
    ConvergenceWarning that suggests scaling the features. NaN coefficients
    are never acceptable.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, y)
        except ValueError as exc:
            assert re.search(DIVERGENCE_MESSAGE, str(exc)) or re.search(r"\bX\b", str(exc)), str(exc)
            assert not hasattr(est, "coef_") or np.isfinite(est.coef_).all()
            return None
    assert np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()
    for w in caught:
        if issubclass(w.category, ConvergenceWarning) and "scal" in str(w.message):
            return None
    overflow = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not overflow, f"the fit 'succeeded' with numpy RuntimeWarnings: {overflow}"
    return est


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("scale", [1e-8, 1e8, 1e150])
def test_badly_scaled_features_regression(solver, scale):
    """Features at 1e-8 or 1e8 (or 1e150): a correct fit or a clear signal.

    Correct means the predictions of the penalised least-squares optimum
    (``Ridge`` on the same data). At 1e-8 the penalty dominates and the
    optimum is (almost) the intercept-only model; at 1e8 and beyond the
    penalty is negligible and the optimum is (almost) least squares.
    """
    X, y = _scaled_regression(scale)
    alpha = 1e-4
    est = GDRegressor(solver=solver, random_state=0)
    model = _fit_or_clear_signal(est, X, y)
    if model is None:
        return
    # The same objective in the unscaled coordinates w' = scale * w.
    expected = _ridge_reference(X / scale, y, alpha * scale**-2).predict(X / scale)
    tolerance = 0.05 * np.std(y)
    if solver == "stochastic":
        # Its default steps (SGDRegressor's invscaling, 0.01 / t^0.25) stop
        # about 0.1 std(y) from the optimum on these 60 rows even when they
        # are standardised (SGDRegressor: 0.07): the scale must not make it
        # worse than that.
        unscaled = GDRegressor(solver=solver, random_state=0).fit(X / scale, y)
        tolerance = max(tolerance, 1.5 * np.max(np.abs(unscaled.predict(X / scale) - expected)))
    error = float(np.max(np.abs(model.predict(X) - expected)))
    assert error < tolerance, (
        f"silently inaccurate: predictions differ from the optimum's by up to "
        f"{error:.3g} (std(y) = {np.std(y):.3g}), with no error or ConvergenceWarning"
    )


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("loss", ["hinge", "log_loss"])
@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_badly_scaled_features_classification(solver, loss, scale):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X @ [1.0, 2.0, 3.0] > 0).astype(int)
    est = GDClassifier(loss=loss, solver=solver, random_state=0)
    model = _fit_or_clear_signal(est, X * scale, y)
    if model is None:
        return
    assert np.isfinite(model.decision_function(X * scale)).all()
    if scale > 1:
        # The penalty is negligible at this scale: the data are separable.
        assert model.score(X * scale, y) >= 0.9


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("multi_class", ["ovr", "multinomial"])
def test_perfectly_separable_log_loss(solver, multi_class):
    """Separable classes with log_loss: weights grow, nothing overflows."""
    rng = np.random.default_rng(1)
    centres = np.array([[20.0, 0.0], [-20.0, 0.0], [0.0, 20.0]])
    labels = np.repeat([0, 1, 2], 20)
    X = centres[labels] + rng.normal(size=(60, 2))
    if multi_class == "ovr":
        X, labels = X[labels < 2], labels[labels < 2]
    est = GDClassifier(
        loss="log_loss", multi_class=multi_class, solver=solver, alpha=1e-7,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, labels)
        proba = est.predict_proba(X)
        log_proba = est.predict_log_proba(X)
    assert np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(axis=1), 1.0)
    assert not np.isnan(log_proba).any()
    assert est.score(X, labels) == 1.0


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("loss", ["log_loss", "hinge", "modified_huber", "squared_hinge"])
def test_huge_margins_in_training(solver, loss):
    """Rows with norms ~1e4: margins in the thousands during the fit."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3)) * 1e4
    y = (X[:, 0] > 0).astype(int)
    est = GDClassifier(loss=loss, solver=solver, random_state=0)
    model = _fit_or_clear_signal(est, X, y)  # also fails on RuntimeWarnings
    if model is not None:
        assert model.score(X, y) >= 0.9


@pytest.mark.parametrize("multi_class", ["ovr", "multinomial"])
def test_huge_margins_in_prediction(multi_class):
    """Scores that overflow to +-inf: probabilities stay probabilities."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = np.argmax(X, axis=1)
    est = GDClassifier(loss="log_loss", multi_class=multi_class, solver="batch", random_state=0)
    _fit_quietly(est, X, y)
    # One non-zero feature per row, so every score is +-inf, never inf - inf.
    j = int(np.argmax(np.abs(est.coef_).max(axis=0)))
    X_huge = np.zeros((2, 3))
    X_huge[0, j], X_huge[1, j] = 1e308, -1e308
    with np.errstate(over="ignore"):
        scores = est.decision_function(X_huge)
    assert np.isinf(scores).any()  # the case is really exercised
    try:
        with np.errstate(over="ignore"):
            proba = est.predict_proba(X_huge)
    except ValueError as exc:
        assert re.search(r"\bX\b", str(exc)), str(exc)
        return
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_float32_near_its_limits(solver, scale):
    """float32 X at 1e+-30 (float32 spans 1e-38..3e38): finite, and sensible."""
    X, y = _scaled_regression(1.0)
    X32 = (X * scale).astype(np.float32)
    est = GDRegressor(solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            est.fit(X32, y)
        except ValueError as exc:
            assert re.search(DIVERGENCE_MESSAGE, str(exc)) or re.search(r"\bX\b", str(exc))
            return
    assert est.coef_.dtype == np.float32
    assert np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()
    assert np.isfinite(est.predict(X32)).all()


# ---------------------------------------------------------------------------
# Divergence with a deliberately huge step
# ---------------------------------------------------------------------------
def _logsumexp(Z):
    m = Z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]


def _objective(est, X, y, alpha, coef=None, intercept=None):
    """skgd's training objective, computed with numpy from the formulas."""
    W = np.atleast_2d(est.coef_ if coef is None else coef).astype(np.float64)
    b = np.asarray(est.intercept_ if intercept is None else intercept, dtype=np.float64)
    Z = X @ W.T + b
    loss = est.loss
    if isinstance(est, GDRegressor):
        r = Z[:, 0] - y
        if loss == "squared_error":
            values = 0.5 * r**2
        else:  # huber
            eps = est.epsilon
            values = np.where(np.abs(r) <= eps, 0.5 * r**2, eps * np.abs(r) - 0.5 * eps**2)
    elif W.shape[0] > 1 and est.multi_class == "multinomial":
        index = np.searchsorted(est.classes_, y)
        values = _logsumexp(Z) - Z[np.arange(len(y)), index]
    else:
        if W.shape[0] == 1:
            T = np.where(y == est.classes_[1], 1.0, -1.0)[:, None]
        else:
            T = np.where(y[:, None] == est.classes_[None, :], 1.0, -1.0)
        M = T * Z
        if loss == "log_loss":
            values = np.logaddexp(0.0, -M).sum(axis=1)
        elif loss == "hinge":
            values = np.maximum(0.0, 1.0 - M).sum(axis=1)
        else:  # squared_hinge
            values = (np.maximum(0.0, 1.0 - M) ** 2).sum(axis=1)
    return values.mean() + 0.5 * alpha * np.sum(W**2)


DIVERGENCE_CASES = [
    ("regressor", "squared_error"),
    ("regressor", "huber"),
    ("classifier", "log_loss"),
    ("classifier", "hinge"),
    ("classifier", "squared_hinge"),
    ("multinomial", "log_loss"),
]


def _divergence_problem(kind, loss, **params):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    params = dict(
        loss=loss, learning_rate="constant", eta0=1e6, random_state=0, batch_size=8, **params
    )
    if kind == "regressor":
        return GDRegressor(**params), X, X @ [1.0, 2.0, 3.0] + 0.5
    if kind == "classifier":
        return GDClassifier(**params), X, (X @ [1.0, 2.0, 3.0] > 0).astype(int)
    return GDClassifier(multi_class="multinomial", **params), X, np.argmax(X, axis=1)


def _null_objective(est, X, y):
    """Objective of the model that predicts a constant (w = 0)."""
    n_outputs = np.atleast_2d(est.coef_).shape[0]
    coef = np.zeros((n_outputs, X.shape[1]))
    intercept = np.full(n_outputs, y.mean()) if isinstance(est, GDRegressor) else np.zeros(n_outputs)
    return _objective(est, X, y, est.alpha, coef, intercept)


def _is_correct(est, X, y):
    """A fit counts as correct if it beats doing nothing and scores well."""
    if not (np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()):
        return False
    if _objective(est, X, y, est.alpha) > _null_objective(est, X, y):
        return False
    return est.score(X, y) >= (0.9 if isinstance(est, GDRegressor) else 0.85)


@pytest.mark.parametrize("kind, loss", DIVERGENCE_CASES)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_huge_eta0_is_reported_as_divergence(kind, loss, solver, optimizer):
    """eta0=1e6 with a constant step: a clear error, or (if the optimizer's
    normalised steps cope) a correct model, never a silent garbage model."""
    est, X, y = _divergence_problem(kind, loss, solver=solver, optimizer=optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            est.fit(X, y)
        except ValueError as exc:
            assert re.search(DIVERGENCE_MESSAGE, str(exc)), str(exc)
            assert not hasattr(est, "coef_"), "a failed first fit left coefficients behind"
            return
    assert _is_correct(est, X, y), (
        f"silent bad model: objective {_objective(est, X, y, est.alpha):.3g} vs "
        f"{_null_objective(est, X, y):.3g} for w=0; score {est.score(X, y):.3f}; "
        f"max |coef| {np.abs(est.coef_).max():.3g}"
    )


@pytest.mark.parametrize("kind, loss", DIVERGENCE_CASES)
@pytest.mark.parametrize("solver", SOLVERS)
def test_failed_partial_fit_keeps_the_previous_model(kind, loss, solver):
    est, X, y = _divergence_problem(kind, loss, solver=solver)
    est.set_params(learning_rate="auto")
    _fit_quietly(est, X, y)
    assert np.isfinite(est.coef_).all()
    est.set_params(learning_rate="constant", eta0=1e6)
    for _ in range(3):
        coef, intercept = est.coef_.copy(), est.intercept_.copy()
        n_iter, t = est.n_iter_, est.t_
        predictions = est.predict(X)
        try:
            est.partial_fit(X, y)
        except ValueError as exc:
            assert re.search(DIVERGENCE_MESSAGE, str(exc)), str(exc)
            assert_array_equal(est.coef_, coef)
            assert_array_equal(est.intercept_, intercept)
            assert (est.n_iter_, est.t_) == (n_iter, t)
            assert_array_equal(est.predict(X), predictions)
            return
        assert np.isfinite(est.coef_).all()
    assert _is_correct(est, X, y), "partial_fit with eta0=1e6 went on silently"


def test_failed_refit_keeps_the_whole_previous_model():
    """A refit that diverges on other data must not leave a half-updated
    estimator (new classes_ or n_features_in_ with the old coef_)."""
    est, X, y = _divergence_problem("classifier", "log_loss", solver="stochastic")
    est.set_params(learning_rate="auto")
    _fit_quietly(est, X, y)
    fitted = {k: v for k, v in vars(est).items() if k.endswith("_")}
    predictions = est.predict(X)
    rng = np.random.default_rng(9)
    X_other = rng.normal(size=(30, 5))
    y_other = np.arange(30) % 3
    est.set_params(loss="squared_hinge", optimizer="momentum", learning_rate="constant", eta0=1e6)
    with pytest.raises(ValueError, match=DIVERGENCE_MESSAGE):
        est.fit(X_other, y_other)
    for name, value in fitted.items():
        now = getattr(est, name)
        if isinstance(value, np.ndarray):
            assert_array_equal(now, value, err_msg=name)
        elif name != "optimizer_state_":
            assert now == value, name
    assert_array_equal(est.predict(X), predictions)


def test_power_iteration_falls_back_to_the_row_bound_when_a_product_overflows(monkeypatch):
    """A Gram product that overflows X's dtype gives the largest row curvature, an upper bound."""
    from skgd import _steps

    rng = np.random.RandomState(0)
    X = rng.randn(60, 3).astype(np.float32)
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.randn(60)
    exact = _steps.gram_product
    monkeypatch.setattr(_steps, "gram_product", lambda *args: exact(*args) * np.inf)
    est = GDRegressor(solver="batch", optimizer="momentum").fit(X, y)
    assert np.isfinite(est.eta0_) and est.eta0_ > 0
    assert est.score(X, y) > 0.99


def test_batch_adaptive_schedule_says_why_it_stopped_without_a_certificate(monkeypatch):
    """A step shrunk to its floor ends the fit with a warning that names the reason and a fix."""
    from skgd import _stopping

    monkeypatch.setattr(_stopping.GradientStopping, "stalled", lambda self, objective: True)
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    y = X @ np.array([1.0, -2.0, 3.0, 0.5]) + 0.1 * rng.randn(200)
    est = GDRegressor(solver="batch", optimizer="adam", random_state=0)
    with pytest.warns(ConvergenceWarning, match="the step fell to .* optimizer='sgd'"):
        est.fit(X, y)
    assert est.n_iter_ < est.max_iter


def test_explicit_optimal_steps_whose_predictions_overflow_float32_raise():
    """Columns of 1e24 in float32 under learning_rate="optimal" (found by the state machine).

    The explicit decaying schedule only warns when a fit ends far off, as
    scikit-learn's would; here the weights reached 6.6e35 and predicted
    infinities on the training rows, which is an error.
    """

    X = np.array([[1.2573023e24], [-1.3210486e24]], dtype=np.float32)
    y = np.array([0.64042265, 0.10490012])
    est = GDRegressor(alpha=1.0, fit_intercept=False, learning_rate="optimal", max_iter=1,
                      tol=None, shuffle=False, random_state=0)
    with pytest.raises(DivergenceError, match="predictions on the training rows overflow float32"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


def test_validation_predictions_that_overflow_raise_a_divergence_error():
    """Found by a random-sequence fuzzer: under early stopping, an explicit schedule
    whose weights stayed finite but whose validation predictions overflowed float32
    raised scikit-learn's "Input contains NaN" from r2_score, which names no cause
    or fix (the same fit without early stopping raised a DivergenceError)."""

    rng = np.random.RandomState(1)
    scales = np.array([4e-5, 33, 5e3, 6e3, 13, 2.6e6, 0.16, 8.6, 4e-5, 19])
    X = (np.abs(rng.randn(233, 10)) * scales).astype(np.float32)
    y = 3 * rng.randn(233)
    est = GDRegressor(early_stopping=True, learning_rate="invscaling", optimizer="nesterov",
                      precondition="diagonal", solver="batch", tol=None, max_iter=12,
                      random_state=0)
    with pytest.raises(DivergenceError, match="predictions on the validation rows"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("kind", KINDS)
def test_validation_scores_refuse_predictions_that_overflow(kind):
    # Both estimators' validation scores (early stopping) check their scores:
    # the classifier's accuracy would otherwise count NaN scores silently.
    from skgd._base import _ScoresOverflow

    X = np.ones((4, 2), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    est = (GDRegressor() if kind == "regressor" else GDClassifier()).fit(X, y)
    W = np.full((1, 2), 3e38, dtype=np.float32)
    with pytest.raises(_ScoresOverflow):
        est._validation_scores(X, y, np.ones(4), W, np.zeros(1, dtype=np.float32))


def test_partial_fit_under_explicit_invscaling_whose_predictions_overflow_float32_raises():
    """Found by the state machine: the objective (in float64) stayed finite and unremarkable."""

    X = np.array([[1.2573023e24], [-1.3210486e24], [6.4042265e24], [1.0490012e24]],
                 dtype=np.float32)
    y = np.array([-0.53566937, 0.36159505, 1.30400005, 0.94708096])
    est = GDRegressor(alpha=0.0, fit_intercept=False, learning_rate="invscaling", eta0=0.001,
                      max_iter=1, tol=None, shuffle=False, random_state=0)
    with pytest.raises(DivergenceError, match="predictions on the training rows overflow float32"):
        est.partial_fit(X, y)


def test_an_average_worse_than_the_intercept_only_model_warns():
    """Found by a random-sequence fuzzer: without preconditioning, columns of
    offsets up to 6,500 and spread 1e-4 (a target unrelated to them) gave an
    average of the iterates at training R^2 -59.6 while the last iterate's was 0, and
    neither the stopping rule nor the checks, which read the iterates' losses,
    said anything. average=False, or a later start, fits near the intercept-only
    model, as the warning advises. (With 20 epochs and tol=None: with a tol, the
    search at the end of an "auto" fit, skgd._polish, finds that model from the
    average itself, at training R^2 0.)"""
    rng = np.random.RandomState(0)
    X = np.array([30.0, 6500.0, 20.0, 370.0, -610.0, 290.0, 2.0, 2500.0]) \
        + 1e-4 * rng.randn(100, 8)
    y = 1000 + rng.randn(100)
    params = dict(solver="minibatch", optimizer="adagrad", precondition=None, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"average=False publishes the last iterate"):
        averaged = GDRegressor(average=True, tol=None, max_iter=20, **params).fit(X, y)
    assert averaged.score(X, y) < -1
    for average in (False, 1000, True):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert GDRegressor(average=average, **params).fit(X, y).score(X, y) > -0.01
