"""Random sequences of calls on one estimator (hypothesis' RuleBasedStateMachine).

Rules: ``fit`` and ``partial_fit`` on new data of any shape (features,
targets, classes), dtype (float32, float64), storage (dense, CSR), scale
(1e-3 to 1e25 for float32: the edge of its range) and sample weights (zeros
included); ``fit`` with ``coef_init``/``intercept_init`` of right and wrong
shapes; ``set_params`` of any parameter to a valid value; warm refits;
pickling.

Invariants, after every step:

* a call either succeeds or raises ``ValueError`` (a documented error about
  the input or the parameters); anything else (IndexError, RuntimeError from
  the kernels' boundary check, ZeroDivisionError, a numpy warning) fails the
  test. Under ``learning_rate="auto"`` the steps are skgd's choice, so a
  ``DivergenceError`` there fails it too (on 5 rows or more, with the
  preconditioner on);
* a failed call leaves every fitted attribute bit-identical;
* after a success the fitted shapes agree with the last data (``coef_``,
  ``intercept_``, ``classes_``, ``n_features_in_``, predictions), and
  everything is finite;
* a pickled copy predicts the same;
* a ``fit`` without warm start is a pure function of the parameters and the
  data: it equals a fresh estimator's fit, bit for bit, whatever came
  before; under ``learning_rate="auto"``, when both stop on their ``tol``
  rule, a warm ``fit`` scores at least as well as that fresh fit, within 0.1 (R² or accuracy on the training rows,
  where the target is not constant; a warm start begins at the last model,
  not at zero, and runs its own epochs; an explicit schedule takes the
  caller's steps from there, however far it is).

``SKGD_STATE_MACHINE_EXAMPLES`` sets how many sequences run (CI: 150, with
up to 12 steps each).
"""

import os
import pickle
import warnings

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skgd import GDClassifier, GDRegressor
from skgd._stopping import DivergenceError

EXAMPLES = int(os.environ.get("SKGD_STATE_MACHINE_EXAMPLES", "150"))

COMMON_PARAMS = {
    "penalty": st.sampled_from(["l2", "l1", "elasticnet", None]),
    "alpha": st.sampled_from([0.0, 1e-4, 0.01, 1.0]),
    "l1_ratio": st.sampled_from([0.0, 0.15, 1.0, None]),
    "fit_intercept": st.booleans(),
    "solver": st.sampled_from(["stochastic", "minibatch", "batch"]),
    "batch_size": st.sampled_from([1, 3, 32]),
    "optimizer": st.sampled_from(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]),
    "learning_rate": st.sampled_from(["auto", "auto", "constant", "invscaling", "optimal",
                                      "adaptive", "exponential"]),
    "eta0": st.sampled_from([0.001, 0.01, 0.1]),
    "max_iter": st.integers(1, 15),
    "tol": st.sampled_from([None, 1e-3, 1e-1]),
    "n_iter_no_change": st.integers(1, 5),
    "early_stopping": st.booleans(),
    "validation_fraction": st.sampled_from([0.1, 0.3]),
    "shuffle": st.booleans(),
    "warm_start": st.booleans(),
    "average": st.sampled_from([False, True, 5]),
    "epsilon": st.sampled_from([0.0, 0.1, 1.0]),
    "random_state": st.integers(0, 3),
    "precondition": st.sampled_from(["auto", "diagonal", None]),
}
REGRESSOR_PARAMS = {
    **COMMON_PARAMS,
    "loss": st.sampled_from(["squared_error", "huber", "epsilon_insensitive",
                             "squared_epsilon_insensitive"]),
}
CLASSIFIER_PARAMS = {
    **COMMON_PARAMS,
    "loss": st.sampled_from(["hinge", "log_loss", "modified_huber", "squared_hinge",
                             "perceptron", "squared_error"]),
    "multi_class": st.sampled_from(["ovr", "multinomial"]),
    "class_weight": st.sampled_from([None, "balanced", {0: 2.0}, {0: 0.0, 1: 1.0}]),
}


@st.composite
def datasets(draw, kind):
    """(X, y, sample_weight): any shape, dtype, storage, scale and weights."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(2, 30))
    d = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 1e4] + ([1e25] if dtype == np.float32 else [])))
    X = rng.standard_normal((n, d)) * scale
    if draw(st.booleans()):
        X[rng.random((n, d)) < 0.5] = 0.0
    X = X.astype(dtype)
    if kind == "regressor":
        shape = draw(st.sampled_from([None, 1, 2, 3]))
        Y = rng.standard_normal((n, shape or 1)) * draw(st.sampled_from([1.0, 300.0]))
        if draw(st.booleans()):
            Y = np.full_like(Y, 0.3)  # a constant target
        y = Y[:, 0] if shape is None else Y
    else:
        n_classes = draw(st.integers(2, 4))
        y = rng.integers(0, n_classes, n)
        y[:n_classes] = np.arange(n_classes)[: min(n, n_classes)]
    weight = draw(st.sampled_from(["none", "positive", "some zeros"]))
    sample_weight = None
    if weight != "none":
        sample_weight = rng.uniform(0.1, 3.0, n)
        if weight == "some zeros":
            sample_weight[rng.random(n) < 0.3] = 0.0
    if draw(st.booleans()):
        X = sp.csr_matrix(X)
    return X, y, sample_weight


def _fitted(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") or k in ("_state", "_target_ndim")}


def _same(a, b):
    if set(a) != set(b):
        return False
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, np.ndarray) or sp.issparse(x):
            x, y = (v.toarray() if sp.issparse(v) else v for v in (x, y))
            if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
                return False
        elif name == "_state":
            if x is not y:
                return False
        elif name == "loss_curve_":
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif name not in ("optimizer_state_", "validation_scores_") and not _equal(x, y):
            return False
    return True


def _equal(x, y):
    if isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y):
        return True  # an undefined validation score (one held-out row) stays undefined
    try:
        return bool(x == y)
    except (TypeError, ValueError):
        return x is y


class EstimatorSequences(RuleBasedStateMachine):
    """One estimator, called in any order with any data and parameters."""

    def __init__(self):
        super().__init__()
        self.est = None
        self.last = None  # (X, y) of the last successful call

    @initialize(kind=st.sampled_from(["regressor", "classifier"]), data=st.data())
    def make(self, kind, data):
        self.kind = kind
        space = REGRESSOR_PARAMS if kind == "regressor" else CLASSIFIER_PARAMS
        params = {name: data.draw(strategy) for name, strategy in space.items()}
        self.est = (GDRegressor if kind == "regressor" else GDClassifier)(**params)

    # ------------------------------------------------------------ the calls
    def _call(self, method, X, y, **kwargs):
        """Call; on failure check that nothing changed; return whether it succeeded."""
        est = self.est
        before = _fitted(est)
        warm = method == "fit" and est.warm_start and hasattr(est, "coef_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("error", RuntimeWarning)  # numpy overflow & co.: a defect
            try:
                getattr(est, method)(X, y, **kwargs)
            except DivergenceError:
                # "auto" must not diverge, except on fewer than 5 rows, where
                # its step estimates have nothing to average, or with the
                # preconditioner switched off (precondition=None), where its
                # steps assume standardised columns (known gaps: see the
                # closing note of the tuning-free issue).
                # (Rows it trains on: early stopping holds out a share.)
                held_out = int(np.ceil(est.validation_fraction * X.shape[0])) \
                    if est.early_stopping else 0
                tuned = est.learning_rate == "auto" and est.precondition is not None
                assert not tuned or X.shape[0] - held_out < 5, "'auto' diverged"
                assert _same(_fitted(est), before), "a failed call changed the estimator"
                return False
            except ValueError:
                assert _same(_fitted(est), before), "a failed call changed the estimator"
                return False
        self.last = (X, y)
        if method == "fit":
            self._check_fit(X, y, kwargs, warm)
        return True

    def _check_fit(self, X, y, kwargs, warm):
        """A cold fit equals a fresh one bit for bit; a warm one scores nearly as well."""
        fresh = clone(self.est).set_params(warm_start=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                fresh.fit(X, y, **kwargs)
            except ValueError:
                assert warm, "a fresh fit failed where the same fit succeeded"
                return
        if not warm:
            # (Seen once in about five full runs, not reproduced alone: a
            # 1-ulp difference on 18 x 3 CSR data, 4 classes. The message
            # carries what a reproducer needs.)
            case = (f"params {self.est.get_params()}, X {type(X).__name__} {X.shape} "
                    f"{getattr(X, 'dtype', '')}, call kwargs {sorted(kwargs)}")
            assert_array_equal(self.est.coef_, fresh.coef_, err_msg=case)
            assert_array_equal(self.est.intercept_, fresh.intercept_, err_msg=case)
            return
        # (R2 of a constant target is not a score: any error is -inf-like. An
        # explicit schedule takes the caller's steps from wherever the warm
        # start is, however far: only "auto" is held to this, and only when
        # both fits stopped on their tol rule, not after max_iter epochs.)
        converged = all(est.tol is not None and est.n_iter_ < est.max_iter
                        for est in (self.est, fresh))
        if ("coef_init" not in kwargs and self.est.learning_rate == "auto" and converged
                and np.ptp(np.asarray(y), axis=0).min() > 0):
            w = kwargs.get("sample_weight")
            assert self.est.score(X, y, w) >= fresh.score(X, y, w) - 0.1

    @rule(data=st.data())
    def fit(self, data):
        X, y, w = data.draw(datasets(self.kind))
        self._call("fit", X, y, sample_weight=w)

    @rule(data=st.data())
    def fit_with_init(self, data):
        X, y, w = data.draw(datasets(self.kind))
        n_outputs = (len(np.unique(y)) if len(np.unique(y)) > 2 else 1) if self.kind == "classifier" \
            else (1 if y.ndim == 1 else y.shape[1])
        right = (n_outputs, X.shape[1]) if n_outputs > 1 else (X.shape[1],)
        shape = data.draw(st.sampled_from([right, right[::-1], (X.shape[1] + 1,), (17,)]))
        ok = self._call("fit", X, y, coef_init=np.zeros(shape), intercept_init=np.zeros(n_outputs))
        if shape != right and (len(shape) == 1 or shape[0] != 1 or shape[1:] != right):
            assert not ok, f"coef_init of shape {shape} accepted where {right} is needed"

    @rule(data=st.data())
    def partial_fit(self, data):
        X, y, w = data.draw(datasets(self.kind))
        kwargs = {"sample_weight": w}
        if self.kind == "classifier":
            kwargs["classes"] = data.draw(st.sampled_from([None, np.unique(y), np.arange(4)]))
        self._call("partial_fit", X, y, **kwargs)

    @rule(data=st.data())
    def set_params(self, data):
        space = REGRESSOR_PARAMS if self.kind == "regressor" else CLASSIFIER_PARAMS
        name = data.draw(st.sampled_from(sorted(space)))
        self.est.set_params(**{name: data.draw(space[name])})

    # --------------------------------------------------------- invariants
    @invariant()
    def fitted_state_matches_the_last_data(self):
        if self.est is None or not hasattr(self.est, "coef_") or self.last is None:
            return
        est = self.est
        X, y = self.last
        coef = est.coef_.toarray() if sp.issparse(est.coef_) else est.coef_
        assert np.isfinite(coef).all() and np.isfinite(est.intercept_).all()
        assert est.n_features_in_ == X.shape[1] == coef.shape[-1]
        prediction = est.predict(X)
        assert np.all(np.isfinite(prediction)) if self.kind == "regressor" else True
        if self.kind == "regressor":
            assert prediction.shape == y.shape
            assert coef.shape == ((X.shape[1],) if y.ndim == 1 else (y.shape[1], X.shape[1]))
        else:
            k = len(est.classes_)
            assert coef.shape == ((1 if k == 2 else k), X.shape[1])
            assert prediction.shape == (X.shape[0],)
            assert np.isin(prediction, est.classes_).all()
        copy = pickle.loads(pickle.dumps(est))
        assert_array_equal(copy.predict(X), prediction)


EstimatorSequences.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_random_call_sequences = EstimatorSequences.TestCase
