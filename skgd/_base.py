"""BaseGD: parameters, validation and the epoch driver shared by both estimators.

The driver prepares the data once (validation, sample weights, the
early-stopping split), resolves the learning-rate schedule, then calls the
compiled epoch kernel once per epoch and applies the stopping rules in Python.
Estimator-specific work (targets, scoring) lives in the subclasses through a
few hooks: ``_prepare_targets``, ``_loss_code``, ``_auto_stochastic_schedule``,
``_validation_score`` and ``_split_stratify``.
"""

import contextlib
import copy
import time
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import row_norms, safe_sparse_dot
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._kernels import epoch_kernel
from ._losses import (
    CURVATURE,
    NONSMOOTH_LOSSES,
    UNBOUNDED_GRADIENT_LOSSES,
    mean_loss,
    optimal_init,
)
from ._optimizers import OPTIMIZERS, init_state
from ._penalties import PENALTIES, penalty_value, split_penalty
from ._schedules import SCHEDULES, BarzilaiBorweinSchedule, EpochSchedule

SOLVERS = ("stochastic", "minibatch", "batch")

# Base steps that ``learning_rate="auto"`` gives the adaptive optimizers.
# Their steps are normalised per coordinate, so they move each coefficient by
# about eta per update whatever the gradient's size. A prediction sums ``k``
# terms (``k`` the mean number of non-zero features per row), so moves of
# ``eta`` per coefficient change it by about ``eta sqrt(k)``: the base is
# multiplied by ``scale(y) / sqrt(k)``, with ``scale(y)`` the standard
# deviation of y for regression and 1 for classification. The "adaptive" schedule then divides the step when
# progress stalls. Values tuned on standardised dense (6 to 100 features)
# and sparse (5,000 features, 50 per row) regression.
ADAPTIVE_AUTO_ETA = {
    "adagrad": {"stochastic": 0.3, "minibatch": 1.0, "batch": 1.0},
    "rmsprop": {"stochastic": 0.01, "minibatch": 0.1, "batch": 0.1},
    "adam": {"stochastic": 0.01, "minibatch": 0.1, "batch": 0.03},
}

# A fit whose objective grows past this multiple of the intercept-only
# model's has diverged, even where clipped derivatives keep it finite.
DIVERGENCE_FACTOR = 1e8


class DivergenceError(ValueError):
    """Raised when a fit produces non-finite weights or objective."""


def _divergence_error(state, what):
    """The error for a fit that diverged at the state's epoch: ``what`` happened."""
    return DivergenceError(
        f"The fit diverged at epoch {state.epochs}: {what} (learning_rate "
        f"resolved to {state.schedule.name!r} with eta0={state.schedule.eta0:.4g}). "
        "Use a smaller eta0, scale the features (e.g. with StandardScaler), "
        "or learning_rate='auto'. The estimator keeps its previous state."
    )


def _lipschitz_constant(X, sample_weight, fit_intercept, n_iter=30, rtol=1e-2):
    """Largest eigenvalue of ``X~' S X~ / sum(s)`` by power iteration.

    ``X~`` is ``X`` with a column of ones when ``fit_intercept``. The start
    vector is drawn from a fixed seed, so the estimate is deterministic and
    does not depend on the order or the repetition of rows. A step needs only
    the eigenvalue's size, not its vector: the iteration stops once the estimate changes by
    less than ``rtol`` (on data sets tried here, 2 to 8 iterations, within
    10% of the exact value and below it, so 1 / L stays a stable step).
    """
    n_features = X.shape[1]
    s = sample_weight / sample_weight.sum()
    # A fixed random start: a vector of ones can be orthogonal to the top
    # eigenvector (e.g. centred features and no intercept).
    v = np.random.RandomState(0).standard_normal(n_features + fit_intercept)
    v /= np.linalg.norm(v)
    eigenvalue = 0.0
    for _ in range(n_iter):
        # Products in X's dtype: a float64 vector would make numpy convert a
        # float32 X to float64 on every product (a copy of X each time).
        Xv = safe_sparse_dot(X, v[:n_features].astype(X.dtype)).astype(np.float64)
        if fit_intercept:
            Xv = Xv + v[-1]
        sXv = s * Xv
        w = np.empty_like(v)
        w[:n_features] = safe_sparse_dot(X.T, sXv.astype(X.dtype))
        if fit_intercept:
            w[-1] = sXv.sum()
        previous, eigenvalue = eigenvalue, float(np.linalg.norm(w))
        if eigenvalue == 0.0:
            return 0.0
        v = w / eigenvalue
        if abs(eigenvalue - previous) <= rtol * eigenvalue:
            break
    return eigenvalue


# Rows whose squared norm is this many times larger (or smaller) than the
# intercept's column of ones make the intercept's curvature negligible (or
# dominant): gradient steps cannot serve both.
BAD_SCALE = 1e12


def _warn_if_badly_scaled(X):
    """Warn when the features' scale is so far from 1 that the intercept cannot be fitted."""
    largest = float(row_norms(X, squared=True).max())
    if largest > BAD_SCALE or 0 < largest < 1 / BAD_SCALE:
        warnings.warn(
            f"The largest squared row norm of X is {largest:.3g}, far from the "
            "intercept's 1: gradient steps small enough for the features barely "
            "move the intercept (or the reverse), so the fit may stop far from "
            "the optimum: scale the features, e.g. with StandardScaler.",
            ConvergenceWarning,
        )


def _max_row_sq_norm(X, fit_intercept, rows):
    """Largest squared norm among ``rows`` of ``X`` (plus 1 for the intercept)."""
    return float(row_norms(X, squared=True)[rows].max()) + fit_intercept


def _batch_epoch_stalled(objectives, tol):
    """Whether the last batch epoch counts towards stopping.

    Near the optimum, gradient descent shrinks the objective's excess by a
    roughly constant factor ``rho`` per epoch; with the last two decreases
    ``d0`` and ``d1`` that gives ``rho = d1 / d0`` and a remaining decrease of
    ``d1 rho / (1 - rho) = d1^2 / (d0 - d1)``. An epoch stalls when that
    estimate is at most ``tol``, or when the objective did not decrease (as
    with the subgradients of non-smooth losses). Requiring
    ``n_iter_no_change`` stalled epochs in a row guards against a single
    sudden slow-down being read as convergence.
    """
    if len(objectives) < 3:
        return False
    d0 = objectives[-3] - objectives[-2]
    d1 = objectives[-2] - objectives[-1]
    if d1 <= 0:
        return True
    return d0 > d1 and d1 * d1 / (d0 - d1) <= tol


class GDState:
    """Everything a fit carries from one epoch (or ``partial_fit``) to the next.

    ``W`` and ``b`` are the weights the optimizer moves; ``W_avg`` and
    ``b_avg`` their Polyak-Ruppert averages; ``S1``/``S2`` the optimizer's
    state; ``t`` the update count (from 1); ``epochs`` the epochs run; and
    ``schedule`` the resolved learning-rate rule.
    """

    def __init__(self, W, b, optimizer_code, average_start, schedule):
        self.W = W
        self.b = b
        self.t = 1
        self.epochs = 0
        self.schedule = schedule
        self.optimizer_code = None
        self.average_start = None
        self.match_parameters(optimizer_code, average_start)

    def match_parameters(self, optimizer_code, average_start):
        """Reset the optimizer state or the averages if their parameters changed.

        A ``set_params`` between ``partial_fit`` calls may switch the
        optimizer or the averaging; the old state then means nothing.
        """
        if optimizer_code != self.optimizer_code:
            self.S1, self.S2 = init_state(optimizer_code, *self.W.shape)
            self.optimizer_code = optimizer_code
        if average_start != self.average_start:
            shape = self.W.shape if average_start > 0 else (0, 0)
            self.W_avg = np.zeros(shape, dtype=self.W.dtype)
            self.b_avg = np.zeros(shape[0], dtype=self.W.dtype)
            self.average_start = average_start

    def flat_weights(self):
        """A float64 copy of the coefficients and intercepts as one vector."""
        return np.concatenate([self.W.ravel(), self.b]).astype(np.float64)

    def set_flat_weights(self, flat):
        """Inverse of :meth:`flat_weights`."""
        self.W[:] = flat[: self.W.size].reshape(self.W.shape)
        self.b[:] = flat[self.W.size:]

    def copy(self):
        new = object.__new__(GDState)
        for name, value in vars(self).items():
            setattr(new, name, value.copy() if isinstance(value, np.ndarray) else value)
        # Deep: the Barzilai-Borwein schedule keeps lists and arrays that a
        # failed call must not alter in the state it was copied from.
        new.schedule = copy.deepcopy(self.schedule)
        return new


@contextlib.contextmanager
def _naming_non_numeric(name, value, other=None):
    """Say which input holds text when scikit-learn's float conversion fails.

    scikit-learn's message ("could not convert string to float: 'a'") does
    not say whether ``X``, ``y`` or ``sample_weight`` was at fault. With
    ``other``, the culprit is ``name`` if ``value`` itself does not convert,
    else ``other``.
    """
    try:
        yield
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
        culprit = name
        if other is not None:
            try:
                np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                pass
            else:
                culprit = other
        raise ValueError(
            f"{culprit} must be numeric, but it holds non-numeric values ({exc}). "
            "Encode text or categorical columns first, e.g. with OneHotEncoder "
            "or OrdinalEncoder in a Pipeline."
        ) from exc


def _read_only(array):
    """A read-only view of ``array``.

    numba compiles a kernel once per argument type, and whether an array is
    writeable is part of its type. The kernels only read these arrays, so
    passing them read-only always means one compile per dtype rather than one
    for each mix of writeable and read-only inputs (a first compile takes
    3 to 5 s for each loop).
    """
    view = array.view()
    view.flags.writeable = False
    return view


def _is_fit_state(name):
    """Whether attribute ``name`` is part of what a fit leaves on the estimator."""
    return (name.endswith("_") and not name.startswith("__")) or name in ("_state", "_target_ndim")


class _Problem(NamedTuple):
    """The prepared training data of one ``fit`` or ``partial_fit`` call."""

    X: object  # validated dense array or CSR matrix
    Y: np.ndarray  # float64 targets, (n_samples, n_outputs)
    weight: np.ndarray  # sample times class weights, mean 1 over the training rows
    train: np.ndarray  # indices of the training rows
    loss_code: int
    l2: float
    l1: float


class BaseGD(CallbackSupportMixin, BaseEstimator):
    """Shared parameters and fit driver of :class:`GDRegressor` and :class:`GDClassifier`."""

    _parameter_constraints: dict = {
        "penalty": [StrOptions(set(PENALTIES)), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions(set(SOLVERS))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [StrOptions(set(SCHEDULES) | {"auto"})],
        "eta0": [Interval(Real, 0, None, closed="left")],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "decay_rate": [Interval(Real, 0, 1, closed="right")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "adaptive_eps": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "average": [Interval(Integral, 0, None, closed="neither"), "boolean"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------------ hooks
    def _validate_params(self):
        super()._validate_params()
        self._more_validate_params()

    def _more_validate_params(self):
        """Cross-parameter rules that ``_parameter_constraints`` cannot express."""
        needs_eta0 = self.learning_rate in ("constant", "invscaling", "adaptive", "exponential")
        if needs_eta0 and self.eta0 <= 0.0:
            raise ValueError(
                f"eta0 must be > 0 with learning_rate={self.learning_rate!r}; "
                f"got eta0={self.eta0}. Set eta0 or use learning_rate='auto'."
            )
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError(
                "alpha must be > 0 with learning_rate='optimal' (the step is "
                "1 / (alpha * t)). Set alpha > 0 or choose another learning_rate."
            )

    # ---------------------------------------------------------- the schedule
    def _resolve_schedule(self, X, Y, train, sample_weight, loss_code, l2):
        """Turn ``learning_rate`` (possibly ``"auto"``) into a concrete rule.

        Only the rows ``train`` count; the others get weight zero rather than
        being sliced out, so that ``X`` is never copied.
        """
        # "optimal" ignores eta0, as in scikit-learn, unless "auto" chose it
        # and set eta0 to its longest step.
        name, eta0 = self.learning_rate, (0.0 if self.learning_rate == "optimal" else self.eta0)
        if name == "auto":
            weight = np.zeros_like(sample_weight)
            weight[train] = sample_weight[train]
            name, eta0 = self._auto_schedule(X, Y, train, weight, loss_code, l2)
        if name == "barzilai-borwein":
            schedule = BarzilaiBorweinSchedule(float(eta0))
        else:
            schedule = EpochSchedule(name, float(eta0), float(self.decay_rate))
        schedule.source = self._schedule_source()
        return schedule

    def _schedule_source(self):
        """The parameters a resolved schedule depends on."""
        names = ("learning_rate", "eta0", "decay_rate", "solver", "batch_size",
                 "optimizer", "momentum", "alpha", "penalty", "l1_ratio", "loss")
        return tuple(getattr(self, name) for name in names)

    def _auto_schedule(self, X, Y, train, sample_weight, loss_code, l2):
        """The ``learning_rate="auto"`` table (documented in the estimators)."""
        if self.optimizer in ADAPTIVE_AUTO_ETA:
            base = ADAPTIVE_AUTO_ETA[self.optimizer][self.solver]
            # Non-zeros, not columns, so that dense and CSR copies of the same
            # data get the same step.
            per_row = (X.count_nonzero() if sp.issparse(X) else np.count_nonzero(X)) / X.shape[0]
            scale = self._target_scale(Y, sample_weight) / np.sqrt(max(per_row, 1.0))
            return "adaptive", base * scale
        # Momentum methods take steps 1 / (1 - momentum) times longer in the
        # long run, so their base step is shortened by that factor, except on
        # the deterministic batch gradient where 1/L is stable with momentum.
        damping = 1.0 - self.momentum if self.optimizer != "sgd" else 1.0
        curvature = CURVATURE[loss_code]
        if self.solver == "batch":
            L = curvature * _lipschitz_constant(X, sample_weight, self.fit_intercept) + l2
            # Barzilai-Borwein steps assume a gradient that changes smoothly;
            # on kinked losses (and under momentum) the step stays 1 / L.
            smooth = loss_code not in NONSMOOTH_LOSSES
            name = "barzilai-borwein" if smooth and self.optimizer == "sgd" else "constant"
            return name, 1.0 / max(L, 1e-12)
        if self.solver == "minibatch":
            L_max = curvature * _max_row_sq_norm(X, self.fit_intercept, train)
            # Expected smoothness of a mean over batch_size rows drawn without
            # replacement (Gower et al., 2019): between L (all rows) and
            # L_max (one row).
            n, size = train.size, min(self.batch_size, train.size)
            L = curvature * _lipschitz_constant(X, sample_weight, self.fit_intercept)
            if n > 1:
                L = (n * (size - 1) * L + (n - size) * L_max) / (size * (n - 1))
            else:
                L = L_max
            return "adaptive", damping / max(L + l2, 1e-12)
        # Capped single-sample steps: on unscaled data SGDRegressor's
        # eta0 = 0.01 diverges, and so does SGDClassifier's "optimal" first
        # step with the squared losses on standardised data; capped, neither
        # does. invscaling's eta0 is capped at 2 / L_max: a step on a sample
        # with the largest curvature then lands at most as far past that
        # sample's optimum as it started before it (the bound of relaxed
        # Kaczmarz steps), and no further. The tighter 1 / L_max, which never
        # passes the optimum, halved the step on the benchmark's sparse rows
        # (squared norms 100 on average, 183 at most) and with it the test R²
        # after 5 epochs (0.35 against 0.50). For "optimal" the cap is
        # 1 / L_max, the longest step, held in eta0, and only for losses whose
        # gradient is unbounded: with the others the long first steps are
        # safe, and SGDClassifier's schedule is kept.
        name, eta0 = self._auto_stochastic_schedule()
        if name == "optimal" and loss_code not in UNBOUNDED_GRADIENT_LOSSES:
            return name, 0.0  # uncapped: no need for L_max, a pass over X
        L_max = curvature * _max_row_sq_norm(X, self.fit_intercept, train)
        longest = 1.0 / max(L_max + l2, 1e-12)
        if name == "invscaling":
            eta0 = min(eta0, 2.0 * longest)
        else:
            eta0 = longest
        return name, eta0 * damping

    # ------------------------------------------------------------- the data
    def _validate_fit_data(self, X, y, reset):
        with _naming_non_numeric("X", X, "y"):
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse="csr",
                dtype=[np.float64, np.float32],
                order="C",
                multi_output=self._multi_output_y,
                y_numeric=not self._is_classifier,
                reset=reset,
            )
        if sp.issparse(X) and not X.has_canonical_format:
            # Duplicate entries would count twice in row norms and non-zero
            # counts (the steps of "auto"); sum them, on a copy.
            X = X.copy()
            X.sum_duplicates()
        wide_index = sp.issparse(X) and (X.indices.dtype, X.indptr.dtype) != (np.int32, np.int32)
        if wide_index and max(X.nnz, X.shape[1]) < 2**31:
            # 64-bit indices that fit in 32 bits: the kernels compiled for
            # scipy's default int32 serve both, and read half the bytes.
            X = type(X)(
                (X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)), shape=X.shape
            )
        return X, y

    def _validation_split(self, y, rng):
        """Indices of the training and validation rows."""
        n_samples = y.shape[0]
        indices = np.arange(n_samples)
        if not self.early_stopping:
            return indices, indices[:0]
        stratify = self._split_stratify(y)
        try:
            train, val = train_test_split(
                indices,
                test_size=self.validation_fraction,
                random_state=rng,
                stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(
                f"early_stopping could not split {n_samples} samples with "
                f"validation_fraction={self.validation_fraction}: {exc} "
                "Use more samples, a larger validation_fraction or "
                "early_stopping=False."
            ) from exc
        if val.size == 0 or train.size == 0:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves an empty "
                f"training or validation set for {n_samples} samples; use "
                "more samples or another validation_fraction."
            )
        return np.sort(train), np.sort(val)

    # ----------------------------------------------------------- the driver
    def _fit(self, X, y, **kwargs):
        """Fit, or leave the estimator exactly as it was if the fit fails.

        Validation sets ``n_features_in_`` and ``classes_`` before a fit can
        diverge; a failed fit must not pair them with the old coefficients.
        """
        fitted = {k: v for k, v in vars(self).items() if _is_fit_state(k)}
        try:
            return self._fit_or_fail(X, y, **kwargs)
        except BaseException:
            for name in [k for k in vars(self) if _is_fit_state(k)]:
                delattr(self, name)
            for name, value in fitted.items():
                setattr(self, name, value)
            raise

    def _fit_or_fail(self, X, y, *, sample_weight, coef_init, intercept_init, partial, classes=None):
        first_call = not hasattr(self, "_state")
        fresh = first_call or not (partial or self.warm_start)
        X, y = self._validate_fit_data(X, y, reset=fresh)
        if fresh and self.fit_intercept:
            _warn_if_badly_scaled(X)
        Y = self._prepare_targets(y, classes=classes, partial=partial, first_call=first_call)
        with _naming_non_numeric("sample_weight", sample_weight):
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
            )
        sample_weight *= self._class_weights(y)
        if sample_weight.max() <= 0:
            raise ValueError(
                "The sample weights (times the class weights) sum to zero; at "
                "least one sample needs a positive weight."
            )
        # Only relative weights matter: scale them so that sums cannot
        # overflow (weights near 1e308) or underflow (near 1e-320).
        sample_weight /= sample_weight.max()
        rng = check_random_state(self.random_state)
        loss_code = self._loss_code()
        l2, l1 = split_penalty(self.penalty, self.alpha, self.l1_ratio)
        train, val = (
            self._validation_split(y, rng)
            if not partial
            else (np.arange(X.shape[0]), np.arange(0))
        )
        # Normalise the training weights to mean 1, so that every solver
        # minimises the weighted mean loss and repeated rows equal weights.
        if sample_weight[train].sum() <= 0:
            raise ValueError(
                "sample_weight is zero on every training row left after the "
                f"early-stopping split (validation_fraction={self.validation_fraction}); "
                "give some training rows a positive weight or set early_stopping=False."
            )
        train_weight = sample_weight.copy()
        train_weight *= train.size / sample_weight[train].sum()
        problem = _Problem(X, Y, train_weight, train, loss_code, l2, l1)

        if fresh:
            schedule = self._resolve_schedule(X, Y, train, sample_weight, loss_code, l2)
            state = self._new_state(X, Y, train_weight, train, coef_init, intercept_init, schedule)
        else:
            state = self._state.copy()
            state.match_parameters(OPTIMIZERS[self.optimizer], self._average_start())
            # partial_fit keeps the resolved schedule (its step count goes
            # on) unless a parameter it was resolved from has changed.
            if not partial or state.schedule.source != self._schedule_source():
                state.schedule = self._resolve_schedule(
                    X, Y, train, sample_weight, loss_code, l2
                )
        if self.early_stopping and not partial:
            validation = (X[val], y[val], sample_weight[val])
        else:
            validation = None
        n_epochs = 1 if partial else self.max_iter
        callbacks = self._init_callback_context(max_subtasks=n_epochs)
        callbacks.call_on_fit_task_begin(estimator=self, X=X, y=y)
        history = self._run_epochs(problem, state, n_epochs, partial, rng, validation, callbacks, y)
        self._check_final_objective(problem, state, history)
        self._store(state, history, extend=partial and not first_call)
        callbacks.call_on_fit_task_end(estimator=self, X=X, y=y, reconstruction_attributes={})
        return self

    def _new_state(self, X, Y, weight, train, coef_init, intercept_init, schedule):
        n_outputs, n_features = Y.shape[1], X.shape[1]
        W = np.zeros((n_outputs, n_features), dtype=X.dtype)
        b = np.zeros(n_outputs, dtype=X.dtype)
        if coef_init is not None:
            coef_init = np.asarray(coef_init, dtype=X.dtype)
            if coef_init.size != W.size:
                raise ValueError(
                    f"coef_init has shape {coef_init.shape}; expected "
                    f"{W.shape if n_outputs > 1 else (n_features,)}."
                )
            W[:] = coef_init.reshape(W.shape)
        if intercept_init is not None:
            intercept_init = np.asarray(intercept_init, dtype=X.dtype)
            if intercept_init.size != n_outputs:
                raise ValueError(
                    f"intercept_init has shape {intercept_init.shape}; expected "
                    f"({n_outputs},)."
                )
            b[:] = intercept_init.reshape(-1)
        elif self.fit_intercept:
            b[:] = self._initial_intercept(Y[train], weight[train])
        return GDState(W, b, OPTIMIZERS[self.optimizer], self._average_start(), schedule)

    def _initial_intercept(self, Y, weight):
        """Starting intercept; zero unless a subclass knows better."""
        return 0.0

    def _target_scale(self, Y, weight):
        """Typical size of the coefficients' effect, for the adaptive optimizers' steps."""
        return 1.0

    def _kernel_call(self, problem, order, state, eta_base):
        batch_size = {"stochastic": 1, "minibatch": self.batch_size, "batch": order.size}[
            self.solver
        ]
        batch_size = int(min(batch_size, order.size))  # a numpy integer would compile anew
        hyper = np.array(
            [self.momentum, self.rho, self.beta_1, self.beta_2, self.adaptive_eps]
        )
        schedule = state.schedule
        t0 = 0.0
        if schedule.name == "optimal":
            # First step 1 / (alpha t0): Bottou's heuristic, no longer than eta0.
            t0 = optimal_init(problem.loss_code, self.alpha, self.epsilon)
            if schedule.eta0 > 0:
                t0 = max(t0, 1.0 / (self.alpha * schedule.eta0))
        args = (  # in the order the kernels unpack it
            _read_only(problem.Y), _read_only(problem.weight), _read_only(order),
            batch_size, state.W, state.b,
            self.fit_intercept, problem.loss_code, float(self.epsilon),
            problem.l2, problem.l1, schedule.code, eta_base, float(self.power_t),
            float(self.alpha), t0, OPTIMIZERS[self.optimizer], hyper, state.S1,
            state.S2, self._average_start(), state.W_avg, state.b_avg, state.t,
        )
        X = problem.X
        sparse = sp.issparse(X)
        kernel = epoch_kernel(OPTIMIZERS[self.optimizer], batch_size, order.size, sparse)
        if sparse:
            return kernel(
                _read_only(X.data), _read_only(X.indices), _read_only(X.indptr), args
            )
        return kernel(_read_only(X), args)

    def _run_epochs(self, problem, state, n_epochs, partial, rng, validation, callbacks, y):
        """Run up to ``n_epochs`` epochs on ``state``; return the history dict.

        ``validation`` is ``(X, y, sample_weight)`` of the held-out rows with
        early stopping, else None. Each epoch is a sub-task of the
        ``callbacks`` context; a callback may ask to stop after any epoch.
        """
        train = problem.train
        baseline = mean_loss(
            problem.loss_code, np.tile(state.b.astype(np.float64), (train.size, 1)),
            problem.Y[train], problem.weight[train], float(self.epsilon),
        )
        history = {"loss": [], "val": [], "converged": partial, "baseline": baseline}
        best = np.inf
        stalled = 0
        start_time = time.perf_counter()
        for _ in range(n_epochs):
            epoch_callbacks = callbacks.subcontext(task_name="epoch")
            epoch_callbacks.call_on_fit_task_begin(estimator=self, X=problem.X, y=y)
            # One batch of all rows: its order changes nothing but rounding.
            shuffle = self.shuffle and self.solver != "batch"
            order = rng.permutation(train) if shuffle else train
            eta_base = state.schedule.base_for_epoch(state.epochs)
            penalty_before = penalty_value(state.W, problem.l2, problem.l1)
            observing = hasattr(state.schedule, "observe")
            before = state.flat_weights() if observing else None
            loss_sum, state.t = self._kernel_call(problem, order, state, eta_base)
            state.epochs += 1
            objective = loss_sum / order.size + penalty_before
            restart = None
            if observing:
                restart = state.schedule.observe(before, state.flat_weights(), eta_base, objective)
            if restart is None:
                self._check_divergence(state, objective, baseline)
            else:  # the schedule took back a step that went astray
                state.set_flat_weights(restart)
            history["loss"].append(objective)
            if self.verbose:
                print(
                    f"Epoch {state.epochs}: objective={objective:.6g}, "
                    f"eta={eta_base:.4g}, t={state.t - 1}, "
                    f"elapsed={time.perf_counter() - start_time:.3f}s"
                )
            if validation is not None:
                score = self._validation_score(*validation, state)
                history["val"].append(score)
                if self.verbose:
                    print(f"  validation score: {score:.6g}")
            stop_requested = epoch_callbacks.call_on_fit_task_end(
                estimator=self, X=problem.X, y=y,
                reconstruction_attributes=lambda: self._fitted_attributes(state),
            )
            if stop_requested:
                history["converged"] = True
                break
            if partial or self.tol is None:
                continue
            criterion = -score if validation is not None else objective
            if validation is None and isinstance(state.schedule, BarzilaiBorweinSchedule):
                stall = state.schedule.stalled(self.tol)
            elif validation is None and self.solver == "batch" and state.schedule.name == "constant":
                stall = _batch_epoch_stalled(history["loss"], self.tol)
            else:
                stall = criterion > best - self.tol
            best = min(best, criterion)
            stalled = stalled + 1 if stall else 0
            if stalled >= self.n_iter_no_change:
                stalled = 0
                if state.schedule.on_stall():
                    history["converged"] = True
                    break
        if self.verbose and not partial:
            print(f"Stopped after {len(history['loss'])} epochs, "
                  f"{time.perf_counter() - start_time:.2f} s.")
        if not history["converged"] and self.tol is not None:
            warnings.warn(
                f"Maximum number of iterations ({self.max_iter}) reached before "
                "convergence. Consider increasing max_iter, or a larger eta0, "
                "or scaling the features.",
                ConvergenceWarning,
            )
        return history

    def _check_final_objective(self, problem, state, history):
        """Raise if the call ended far worse than the intercept-only model.

        Far worse: above it and either 10 times the first epoch's objective
        or, with a step that does not decay, 100 times its own. Barzilai-Borwein
        steps whose last one went astray end at the best point they met
        instead.

        The per-epoch check sees the losses met during an epoch, not the
        weights the epoch ends with: one step far too long, the last of a
        call, would go unseen (it is the only step of a ``partial_fit`` with
        the batch solver). So the objective at the final weights is computed
        once per call (one pass over the data), unless the last epoch's
        running objective already beat the intercept-only model.
        """
        first, baseline = history["loss"][0], history["baseline"]
        if self.solver != "batch" and history["loss"][-1] <= baseline:
            # The running objective of the last epoch, met at the weights of
            # its steps, beat the intercept-only model: no pass needed. (The
            # batch solver's running objective is one step behind.)
            return
        final = self._objective(problem, state)
        best = getattr(state.schedule, "best", (np.inf, None))
        if not final <= best[0]:
            # Barzilai-Borwein's last step went astray: end at its best point.
            state.set_flat_weights(best[1])
            final = best[0]
        # Decaying schedules ("optimal" above all, SGDClassifier's default)
        # may start with steps long enough to leave the model far off for
        # many epochs, and still converge: only a constant step that ends
        # 100 times worse than the intercept-only model has diverged.
        decaying = state.schedule.name in ("optimal", "invscaling", "exponential")
        # A loss that is zero where the call started (a perceptron at w = 0)
        # leaves nothing to compare with.
        worse = final > baseline and (
            (first > 0 and final > 10 * first)
            or (not decaying and baseline > 0 and final > 100 * baseline)
        )
        if np.isfinite(final) and not worse:
            return
        raise _divergence_error(
            state,
            f"its objective ended at {final:.3g}, worse than the intercept-only "
            f"model's ({baseline:.3g}) and than the {first:.3g} of the call's "
            "first epoch",
        )

    def _objective(self, problem, state):
        """The training objective at the current weights (one pass over the data)."""
        train = problem.train
        scores = self._decision(problem.X, state.W, state.b)  # all rows: no copy of X
        scores = np.ascontiguousarray(scores[train], dtype=np.float64)
        loss = mean_loss(problem.loss_code, scores, problem.Y[train], problem.weight[train],
                         float(self.epsilon))
        return loss + penalty_value(state.W, problem.l2, problem.l1)

    def _check_divergence(self, state, objective, baseline):
        """Raise if the weights or the objective are non-finite or exploding.

        ``baseline`` is the objective of the intercept-only model; derivative
        clipping can keep a diverging fit finite, so growth far past it
        counts as divergence too.
        """
        finite = (
            np.isfinite(objective)
            and np.isfinite(state.b).all()
            and np.isfinite(state.W).all()
        )
        if finite and not (baseline > 0 and objective > DIVERGENCE_FACTOR * baseline):
            return
        raise _divergence_error(
            state,
            "the objective became non-finite" if not finite
            else f"the objective grew to {objective:.3g}",
        )

    def _store(self, state, history, extend):
        """Publish the state as fitted attributes."""
        self._state = state
        for name, value in self._fitted_attributes(state).items():
            setattr(self, name, value)
        self.t_ = state.t
        self.learning_rate_ = state.schedule.name
        self.eta0_ = state.schedule.eta0
        self.optimizer_state_ = (state.S1, state.S2)
        n_new = len(history["loss"])
        if extend:
            self.n_iter_ += n_new
            self.loss_curve_ = self.loss_curve_ + history["loss"]
        else:
            self.n_iter_ = n_new
            self.loss_curve_ = list(history["loss"])
            if self.early_stopping and history["val"]:
                self.validation_scores_ = list(history["val"])
                self.best_validation_score_ = max(history["val"])
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fitted_attributes(self, state):
        """``coef_`` and ``intercept_`` of ``state`` (the averages once averaging runs)."""
        W, b = self._current_weights(state)
        return self._coef_attributes(W.copy(), b.copy())

    def _coef_attributes(self, W, b):
        return {"coef_": W, "intercept_": b}

    def _average_start(self):
        return 0 if not self.average else (1 if self.average is True else int(self.average))

    # ------------------------------------------------------------ predicting
    def _decision(self, X, W, b):
        """Scores ``X W' + b`` of shape (n_samples, n_outputs)."""
        return np.asarray(safe_sparse_dot(X, W.T, dense_output=True)) + b

    def _current_weights(self, state):
        use_average = state.W_avg.size > 0 and state.t > self._average_start()
        return (state.W_avg, state.b_avg) if use_average else (state.W, state.b)

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        with _naming_non_numeric("X", X):
            return validate_data(
                self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
