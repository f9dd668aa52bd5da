"""BaseGD: parameters, data preparation and the epoch loop shared by both estimators.

A ``fit`` or ``partial_fit`` call validates the data, builds the kernels'
:class:`~skgd._engine.Problem` (targets, weights, the early-stopping split,
the coordinates), resolves the step (:mod:`skgd._steps`), then calls the
compiled epoch kernel once per epoch and applies the stopping rules
(:mod:`skgd._stopping`) in Python. Estimator-specific work lives in the
subclasses through a few hooks: ``_prepare_targets``, ``_class_weights``,
``_loss_code``, ``_auto_stochastic_schedule``, ``_initial_intercept``,
``_output_groups``, ``_validation_scores`` and ``_split_stratify``.

The objective is scikit-learn's SGD objective: the sum over the training
rows of sample weight times class weight times loss, divided by the number
of training rows, plus ``alpha * R(w)``. Sample weights are used as given,
so that across ``partial_fit`` calls a row of weight 100 pulls 100 times as
hard as a row of weight 1.
"""

import contextlib
import copy
import math
import time
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._distributed import chunked_problem, is_dask
from ._engine import (
    Problem,
    batch_epoch,
    blas_on_one_thread,
    call_kernel,
    call_kernel_in_threads,
    check_problem,
    evaluate,
    intercept_only_losses,
    leaving_out_pays,
    output_threads,
    read_only,
)
from ._optimizers import ADAPTIVE_OPTIMIZERS, OPTIMIZERS
from ._penalties import PENALTIES, penalty_values, split_penalty
from ._polish import applies as polish_applies
from ._polish import polish
from ._precondition import (
    FAR_COLUMNS, ColumnStats, Preconditioner, explicitly_centred, move_state,
)
from ._schedules import (
    ADAPTIVE_DIVISOR, MIN_ADAPTIVE_ETA, PASSIVE_AGGRESSIVE, SCHEDULES, step_size,
)
from ._state import GDState
from ._steps import (
    largest_sq_row_norm,
    resolve_schedule,
    row_weight_bound,
    uniform_row_weight,
    weight_draws,
)
from ._losses import EPSILON_INSENSITIVE, HINGE, MAX_DLOSS, NONSMOOTH_LOSSES, optimal_init
from ._stopping import (
    DECAYING_SCHEDULES,
    FAR_FROM_STATIONARY,
    LEAST_STALL_STEPS,
    RELATIVE_FLOOR,
    STALL_STEPS,
    DivergenceError,
    Reference,
    RelativeToleranceStopping,
    ToleranceStopping,
    average_worse_than_intercept_only,
    certifies,
    check_divergence,
    check_final_objective,
    divergence_error,
    estimated_excess,
    judged_rows,
    shrinking_is_done,
    smooth_gradient,
    stall_epochs,
    stationarity,
    still_descending,
    stopping_rule,
)

SOLVERS = ("stochastic", "minibatch", "batch")

# The averaging of learning_rate="auto": update t weighs t (t + 1) (t + 2).
# Over 10 splits of the bundled data sets, power 1 lagged behind the
# iterate on problems that converge fast (train R2 0.989 against 0.998 for
# the last iterate) and power 3 lags little (0.995) while keeping the test
# scores at or above SGD*'s (see _averaging).
AUTO_AVERAGE_POWER = 3

# Batches an epoch from which the mini-batch solver under "auto" averages
# too (see _averaging). On diabetes (331 rows, 11 batches an epoch) its
# average's objective stalled after 70 to 110 steps, 4e-3 above the optimum,
# and 8 of the corpus's 513 mini-batch fits fell out of 0.01 of the exact
# optimum's test score; with 30 or 100 batches none did.
AVERAGED_BATCHES = 100

# Relative differences of objectives that rounding can explain.
ROUNDING = 1e-12
# The optimizers' CSR rows that store at least 1 / NARROW_CSR of their columns
# take the general loop, which centres them (_centres_csr).
NARROW_CSR = 2

# Rows below which a pass over the data is not cut into blocks for threads.
ROWS_PER_THREAD = 2048

# Schedules that take their base step from eta0.
NEEDS_ETA0 = ("constant", "invscaling", "adaptive", "exponential", *PASSIVE_AGGRESSIVE)

# Rows whose squared norm is this many times larger (or smaller) than the
# intercept's column of ones make the intercept's curvature negligible (or
# dominant): gradient steps cannot serve both.
BAD_SCALE = 1e12

# Scores per block of rows in a prediction or a validation score (4 MiB of
# float64), so that memory stays O(block), whatever the number of outputs.
SCORES_PER_BLOCK = 2**19


def row_blocks(n_rows, n_outputs):
    """Slices of rows whose (rows x n_outputs) scores fit in a block."""
    size = max(256, SCORES_PER_BLOCK // max(n_outputs, 1))
    return [slice(start, start + size) for start in range(0, n_rows, size)]


def row_shuffler(random_state):
    """The random generator of a fit's row orders, from ``random_state``.

    An int seeds numpy's ``Generator`` (PCG64): 7 us, where seeding a
    ``RandomState`` (MT19937), as ``check_random_state`` does, takes 90, a
    sixth of a one-epoch fit on diabetes. None (numpy's global
    ``RandomState``) and a ``RandomState`` are used as scikit-learn uses
    them. (SGD*'s row orders come from a generator of its own, so neither
    choice could take its exact orders.)
    """
    if isinstance(random_state, Integral):
        return np.random.default_rng(random_state)
    return check_random_state(random_state)


def _warn_if_badly_scaled(largest, est):
    """Warn when the features' scale is so far from 1 that the intercept cannot be fitted.

    ``largest`` is the largest squared row norm. Only without a
    preconditioner, which scales the features itself: the advice names the
    setting of ``est`` that turns one on.
    """
    if largest > BAD_SCALE or 0 < largest < 1 / BAD_SCALE:
        if est.precondition is not None:  # ("auto", under an explicit schedule)
            remedy = ("learning_rate='auto', which scales them itself (or "
                      "precondition='diagonal', which does under this schedule too)")
        elif est.learning_rate == "auto":
            remedy = "precondition='auto' (now None), which scales them itself"
        else:
            remedy = "precondition='diagonal' (now None), which scales them itself"
        warnings.warn(
            f"The largest squared row norm of X is {largest:.3g}, far from the "
            "intercept's 1: gradient steps small enough for the features barely "
            "move the intercept (or the reverse), so the fit may stop far from "
            f"the optimum: scale the features, e.g. with StandardScaler, or use {remedy}.",
            ConvergenceWarning,
        )


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


class Targets(NamedTuple):
    """What the kernels fit: float targets (regression) or label codes (classification)."""

    Y: np.ndarray  # (n_samples, n_outputs) float64, or (0, 0)
    labels: np.ndarray  # (n_samples,) int32, or (0,)
    n_outputs: int


def _group_sums(values, groups):
    """The sum of the per-output ``values`` over each group of :meth:`BaseGD._output_groups`.

    The groups are either one per output or one of all of them.
    """
    return values.copy() if len(groups) == len(values) else np.array([values.sum()])


def _outputs_of(groups, chosen):
    """The outputs of the groups (:meth:`BaseGD._output_groups`) that ``chosen`` marks, sorted."""
    return np.concatenate([groups[g] for g in np.flatnonzero(chosen)])


def _from_parts(parts, W, b):
    """The objective and gradient norm at ``W, b`` from ``parts``, each checked on
    some of the outputs (``(outputs, W, b, objective, norm)``, no output in two), or None.

    Where the parts cover every output at the weights of ``W, b``, their
    objectives add up and their norms add in squares.
    """
    covered = sum(part[0].size for part in parts) == W.shape[0]
    if not covered or not all(np.array_equal(part_W, W[outputs]) and
                              np.array_equal(part_b, b[outputs])
                              for outputs, part_W, part_b, _, _ in parts):
        return None
    return (sum(part[3] for part in parts), math.hypot(*(part[4] for part in parts)))


def _relative(norm, start):
    """A gradient norm relative to the start's (0 where the start was already stationary)."""
    return norm / start if start > 0 else 0.0


class _ScoresOverflow(ArithmeticError):
    """Some score is not finite (:meth:`BaseGD._finite_decision`)."""


def _is_fit_state(name):
    """Whether attribute ``name`` is part of what a fit leaves on the estimator."""
    return (name.endswith("_") and not name.startswith("__")) or name in ("_state", "_target_ndim")


def _dense(array):
    return array.toarray() if sp.issparse(array) else np.asarray(array)


def _epochs(n):
    """``n`` epochs, in words."""
    return "1 epoch" if n == 1 else f"{n} epochs"


# How far below float64's largest value the zero model's summed losses must
# stay (BaseGD._baselines): the steps' losses may exceed them.
OVERFLOW_HEADROOM = 1024.0


class BaseGD(CallbackSupportMixin, BaseEstimator):
    """Shared parameters and fit driver of :class:`GDRegressor` and :class:`GDClassifier`."""

    _parameter_constraints: dict = {
        "penalty": [StrOptions(set(PENALTIES)), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
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
        "n_jobs": [Integral, None],
        "precondition": [StrOptions({"auto", "diagonal"}), None],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------ parameters
    @classmethod
    def _get_param_names(cls):
        """The parameter names of ``cls.__init__``, read once per class.

        scikit-learn reads them from ``inspect.signature`` at every
        ``get_params``: 50 us a call, which every fit (its parameter
        validation) and every ``clone`` paid, a twentieth of a small fit.
        """
        names = cls.__dict__.get("_param_names")
        if names is None:
            names = tuple(super()._get_param_names())
            cls._param_names = names
        return list(names)

    def _more_validate_params(self, for_partial_fit=False):
        """Cross-parameter rules that ``_parameter_constraints`` cannot express."""
        if for_partial_fit and self.early_stopping:
            raise ValueError(
                "early_stopping should be False with partial_fit: partial_fit runs "
                "one epoch on the data it is given and holds nothing out. Set "
                "early_stopping=False, or call fit."
            )
        if self.learning_rate in NEEDS_ETA0 and self.eta0 <= 0.0:
            raise ValueError(
                f"eta0 must be > 0 with learning_rate={self.learning_rate!r}; "
                f"got eta0={self.eta0}. Set eta0 or use learning_rate='auto'."
            )
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError(
                "alpha must be > 0 with learning_rate='optimal' (the step is "
                "1 / (alpha * t)). Set alpha > 0 or choose another learning_rate."
            )
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError(
                "l1_ratio must be set when penalty is 'elasticnet': it is the "
                "share of l1 in the penalty (0 is l2, 1 is l1)."
            )
        if self.learning_rate in PASSIVE_AGGRESSIVE:
            loss = "hinge" if self._is_classifier else "epsilon_insensitive"
            if self.loss != loss:
                raise ValueError(
                    f"Learning rate {self.learning_rate!r} only works with loss "
                    f"{loss!r} (got loss={self.loss!r}), as in scikit-learn."
                )
            if self.solver != "stochastic" or self.optimizer != "sgd":
                raise ValueError(
                    f"learning_rate={self.learning_rate!r} takes one passive-aggressive "
                    "step per sample: it needs solver='stochastic' and optimizer='sgd' "
                    f"(got solver={self.solver!r}, optimizer={self.optimizer!r})."
                )
        if self.n_jobs == 0:
            raise ValueError(
                "n_jobs == 0 has no meaning; use n_jobs=None or 1 for one thread, "
                "-1 for all cores."
            )

    def _threads(self, n_rows):
        """Threads for the passes over all rows (joblib's ``n_jobs`` conventions).

        Only blocks of at least :data:`ROWS_PER_THREAD` rows are worth a
        thread of their own.
        """
        if n_rows < 2 * ROWS_PER_THREAD:
            return 1  # (without asking joblib: 10 us, a part of every epoch of a small fit)
        return max(1, min(effective_n_jobs(self.n_jobs), n_rows // ROWS_PER_THREAD))

    def _averaging(self, problem, partial=False):
        """``(start, power)``: the update from which the published weights are averaged (0: never).

        ``average`` when set: the mean of the iterates, as in scikit-learn.
        Otherwise, for a ``fit`` of the stochastic solver under
        ``learning_rate="auto"``, the average from the first update in which
        update ``t`` weighs about ``t ** 3`` (polynomial-decay averaging,
        Shamir and Zhang, 2013): far less noisy than the last iterate, and
        it forgets the first iterates, far from the optimum, where a plain
        mean lags behind them (test accuracy over 10 splits of each bundled
        classification data set: +0.2 to +1.6 points over the last iterate).
        The mini-batch solver's too, on a smooth loss without an l1 part
        and with at least :data:`AVERAGED_BATCHES` batches an epoch: its
        constant step's last iterate sits on a noise floor that only a
        shrink lowers, and a shrink waits for five stalled epochs, where
        the average of the iterates at that step reaches the optimum's
        test score in two to five (time_to_target.py's table and text; its
        fits there ran 29 and 27 epochs, and now 7 and 8). Under an l1
        penalty the coefficients that are exactly zero at the last iterate
        stay zero (see :meth:`~skgd._state.GDState.current_weights`).
        ``partial_fit`` does not average unless asked to, so that a
        stream's model follows the stream; it keeps the averaging of the
        ``fit`` it continues. (Not with early stopping, nor on dask chunks:
        :meth:`_averages_batches`.)
        """
        if self.average:
            return (1 if self.average is True else int(self.average)), 0
        auto = not partial and self.learning_rate == "auto" and (
            self.solver == "stochastic" or self._averages_batches(problem))
        return int(auto), AUTO_AVERAGE_POWER

    def _averages_batches(self, problem):
        """Whether a mini-batch ``fit`` under "auto" averages its iterates (:meth:`_averaging`)."""
        # Not with early stopping, whose validation score would judge the
        # average and shrink its step; not on dask chunks, whose local
        # models each run a share of the rows (fewer batches an epoch).
        return (self.solver == "minibatch" and problem.loss_code not in NONSMOOTH_LOSSES
                and not float(problem.l1.max()) > 0 and not self.early_stopping
                and not problem.chunked
                and problem.n_train >= AVERAGED_BATCHES * self.batch_size)

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

    def _sample_weights(self, X, y, sample_weight, labels, allow_all_zero=None):
        """Sample weights as given, checked; the class weights are the subclass's.

        ``allow_all_zero`` (default: ``early_stopping``) lets every weight
        be zero, as on one chunk of a dask array, whose total is checked
        over all chunks.
        """
        with _naming_non_numeric("sample_weight", sample_weight):
            # All-zero weights are left to the early-stopping split, whose
            # message says more, as in scikit-learn.
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True,
                allow_all_zero_weights=(self.early_stopping if allow_all_zero is None
                                        else allow_all_zero),
            )
        pos_weight, neg_weight, row_factor = self._class_weights(y, labels)
        sample_weight *= row_factor
        with np.errstate(over="ignore"):
            self._check_weight_total(float(sample_weight.sum()))
        return sample_weight, pos_weight, neg_weight

    def _check_weight_total(self, total):
        """Raise if the sample weights (times the class weights) sum to infinity."""
        if not np.isfinite(total):
            raise ValueError(
                f"sample_weight sums to {total} in float64. Divide sample_weight by a "
                "constant (and alpha by the same constant, for the same model)."
            )

    def _validation_split(self, y, weight):
        """Sorted indices of the training and validation rows (scikit-learn's split)."""
        n_samples = y.shape[0]
        indices = np.arange(n_samples)
        if not self.early_stopping:
            return indices, indices[:0]
        splitter = StratifiedShuffleSplit if self._is_classifier else ShuffleSplit
        # random_state as scikit-learn's SGD passes it: an int seeds the
        # splitter; a RandomState (the one the row orders then come from,
        # row_shuffler) or None is drawn from before the first epoch.
        cv = splitter(test_size=self.validation_fraction, random_state=self.random_state)
        try:
            train, val = next(cv.split(np.zeros((n_samples, 1)), y))
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
        if not weight[val].sum() > 0:
            raise ValueError(
                "The sample weights for validation set are all zero, consider using a "
                f"different random state: the {val.size} rows that early_stopping holds "
                "out all have weight zero, so no validation score can be computed. Use "
                "another random_state or validation_fraction, or early_stopping=False."
            )
        return np.sort(train), np.sort(val)

    def _preconditioned(self):
        """Whether the kernels work in preconditioned coordinates (``precondition``)."""
        if self.precondition == "auto":
            return self.learning_rate == "auto"
        return self.precondition == "diagonal"

    def _previous_stats(self, fresh, sparse):
        """A copy of the column statistics this call merges its own into, or None.

        A ``partial_fit`` sequence merges each call's statistics into those
        of the calls before (a copy: a failed call changes nothing).
        Statistics of another storage start anew (a CSR call's hold the
        non-zero entries' too); ``move_state`` maps the weights exactly.
        """
        previous = self._state.stats if not fresh and self._preconditioned() else None
        if previous is not None and previous.sparse == sparse:
            return copy.deepcopy(previous)
        return None

    def _build_problem(self, X, y, sample_weight, classes, partial, first_call, stats=None):
        """Targets, weights, training rows and coordinates of this call.

        The coordinates come from the column statistics of this call's
        training rows, merged into ``stats`` (those of the earlier calls of
        a ``partial_fit`` sequence) when given; without preconditioning,
        and no ``stats``, they are the identity.
        """
        targets = self._prepare_targets(y, classes=classes, partial=partial, first_call=first_call)
        weight, pos_weight, neg_weight = self._sample_weights(X, y, sample_weight, targets.labels)
        train, val = (
            self._validation_split(y, weight) if not partial
            else (np.arange(X.shape[0]), np.arange(0))
        )
        problem = self._make_problem(X, targets, weight, pos_weight, neg_weight, train)
        self._check_training_weights(weight[train].max(initial=0.0),
                                     row_weight_bound(problem)[train].max())
        if stats is not None or self._preconditioned():
            stats = self._stats_for_call(stats, X, sp.issparse(X))
            stats.update(X, self._stats_weights(problem))
            problem = self._in_coordinates(problem, stats)._replace(peaks=stats.call_peak)
        problem = read_only(problem)
        check_problem(problem)  # (of the arrays and the bucket columns the kernels will see)
        return problem, val, stats

    def _make_problem(self, X, targets, weight, pos_weight, neg_weight, train):
        """The :class:`Problem` of these rows, in the original coordinates."""
        l2, l1 = split_penalty(self.penalty, self.alpha, self.l1_ratio)
        return Problem(
            X=X, Y=targets.Y, labels=targets.labels, pos_weight=pos_weight,
            neg_weight=neg_weight, sample_weight=weight, train=train.astype(np.int64),
            n_outputs=targets.n_outputs, loss_code=self._loss_code(targets.n_outputs),
            epsilon=float(self.epsilon), fit_intercept=bool(self.fit_intercept),
            preconditioner=Preconditioner.identity(X.shape[1]), l2=np.array([l2]),
            l1=np.array([l1]),
            # scikit-learn clips each derivative at 1e12 so that its fixed steps
            # cannot throw the weights far on a wild row. "auto"'s steps are sized
            # from the data, and the clip only broke its fits on large targets:
            # on y of spread 1e15 every step was 1,000 times too short, and the
            # fit ended at R2 0.2 after 1,000 epochs (1e40: R2 0).
            max_dloss=np.inf if self.learning_rate == "auto" else MAX_DLOSS,
        )

    def _check_training_weights(self, largest, largest_row):
        """Raise unless some training row weighs something: ``largest`` is the
        largest sample weight, ``largest_row`` the largest times its class weight."""
        if not largest >= np.finfo(np.float64).tiny:
            if largest > 0:
                raise ValueError(
                    f"sample_weight is at most {largest:.3g} on the training "
                    "rows: subnormal floats, which have lost their precision. Multiply "
                    "sample_weight by a constant (and alpha by the same constant, for the "
                    "same model)."
                )
            where = (
                f"every training row left after the early-stopping split "
                f"(validation_fraction={self.validation_fraction})"
                if self.early_stopping else "every row"
            )
            raise ValueError(
                f"The sample weights (times the class weights) are zero on {where}; "
                "at least one training row needs a positive weight."
            )
        if not largest_row > 0:
            raise ValueError(
                "The class weights times the sample weights are zero on every training "
                f"row (class_weight={self.class_weight!r}); give some class a positive "
                "weight."
            )

    def _stats_weights(self, problem):
        """Each row's weight in the column statistics (zero outside the training rows).

        The rows' weights in the objective (sample times class weight),
        which one set of coordinates can follow where there is one problem.
        The problems of one-vs-rest weigh a row by its class's weight in one
        problem and by 1 in the others: their coordinates follow the sample
        weights, which all share (scikit-learn's
        check_class_weight_classifiers, weights 1000 and 1e-4: 0.98 of the
        predictions in class 0 instead of 0.86).
        """
        one_vs_rest = problem.labels.size and self._independent_outputs(problem)
        shared = problem.sample_weight if one_vs_rest else row_weight_bound(problem)
        weight = np.zeros_like(shared)
        weight[problem.train] = shared[problem.train]
        return weight

    def _centres_csr(self, X):
        """Which columns of CSR ``X`` are centred (``ColumnStats.preconditioner``'s
        ``center``), with an intercept: all by the batch solver and by the
        other optimizers on narrow rows, those far from zero
        (:data:`FAR_COLUMNS`) by the stochastic and mini-batch solvers
        otherwise (a step stays O(nnz) then).

        The optimizers' lazy loop (``_lazy``), O(nnz) a step, takes no centre:
        it takes a copy of the rows in which those columns are centred
        (``Problem.lazy_rows``). The general loop, O(n_features) a step,
        centres every column and takes its place on rows that store at least
        1 / :data:`NARROW_CSR` of their columns, where it costs about as
        much. Uncentred, a column far from zero is near collinear with the
        intercept: on 1,000 CSR rows of 5 columns of ``-300 + N(0, 1)`` Adam
        ended at 1.15-1.17 times Ridge's objective, silently, and momentum at
        50 times (a fuzzing helper's case); at ``2 + N(0, 1)`` stochastic
        momentum at 1.3 times, silently. Beside 60 one-hot columns, three
        such columns kept every optimizer at 42 times, silently, in memory
        and on dask chunks alike (whose rows, not known here, take the lazy
        loop with their far columns centred).
        """
        if not self.fit_intercept:
            return False
        if self.solver == "batch":
            return True
        if self.optimizer == "sgd":
            return FAR_COLUMNS
        nnz = getattr(X, "nnz", None)  # (none on a dask array)
        if nnz is not None and X.shape[1] <= NARROW_CSR * nnz / max(X.shape[0], 1):
            return True
        return FAR_COLUMNS

    def _stats_for_call(self, previous, X, sparse):
        """The statistics this call's rows are merged into: ``previous`` (those
        of a ``partial_fit`` sequence's earlier calls, a copy) or new ones.

        A CSR sequence begun by another solver has no all-rows moments: a
        batch call starts gathering them (``ColumnStats.gather_all_rows``).
        Without them its columns went uncentred, and a column of
        ``1000 + N(0, 1)`` kept 200 batch calls at R2 0.28.
        """
        centred = sparse and self._centres_csr(X)
        if previous is None:
            return ColumnStats(X.shape[1], sparse, centred)
        if centred and not previous.all_rows:
            previous.gather_all_rows()
        return previous

    def _in_coordinates(self, problem, stats):
        """``problem`` in the coordinates that the column statistics ``stats`` give."""
        centred = self._centres_csr(problem.X) if stats.sparse else bool(self.fit_intercept)
        preconditioner = stats.preconditioner(centred)
        l2, l1 = preconditioner.penalty(problem.l2[0], problem.l1[0])
        problem = problem._replace(preconditioner=preconditioner, l2=l2, l1=l1)
        # (Dask chunks make their copies at each epoch: skgd._distributed._local_epoch.)
        if (centred is FAR_COLUMNS and self.optimizer != "sgd" and preconditioner.center.size
                and not problem.chunked):
            problem = problem._replace(
                lazy_rows=explicitly_centred(problem.X, preconditioner.center))
        return problem

    # --------------------------------------------------------- the weights
    def _checked_init(self, value, shape, name, warm):
        """``value`` reshaped to ``shape``, if it is one of the shapes that mean it."""
        value = np.asarray(value, dtype=np.float64)
        single = shape[0] == 1
        accepted = {shape}
        if single:  # one output: a flat vector, or a scalar intercept, as in scikit-learn
            accepted |= {shape[1:]} if len(shape) == 2 else {()}
        if value.shape in accepted:
            return value.reshape(shape)
        expected = " or ".join(str(s) for s in sorted(accepted, key=len))
        if warm:
            raise ValueError(
                f"warm_start=True starts this fit from the previous "
                f"{name.replace('_init', '_')} of shape {value.shape}, but this data "
                f"needs shape {expected} ({shape[0]} output(s), "
                f"{self.n_features_in_} feature(s)). Set warm_start=False to fit from "
                "scratch, or pass coef_init and intercept_init of the new shape."
            )
        raise ValueError(
            f"Provided {name} does not match dataset: it has shape {value.shape}, "
            f"expected {expected} for {shape[0]} output(s)"
            + (f" and {shape[1]} feature(s)." if len(shape) == 2 else ".")
        )

    def _initial_intercept(self, problem):
        """Starting intercept: zero (scikit-learn's), unless a subclass knows better."""
        return 0.0

    def _baseline_intercept(self, problem):
        """The intercept of the model that divergence is judged against."""
        return np.zeros(problem.n_outputs)

    # ----------------------------------------------------------- the driver
    def _fit(self, X, y, **kwargs):
        """Fit, or leave the estimator exactly as it was if the fit fails.

        Validation sets ``n_features_in_`` and ``classes_`` before a fit can
        diverge; a failed fit must not pair them with the old coefficients.
        """
        fitted = {k: v for k, v in vars(self).items() if _is_fit_state(k)}
        try:
            # Underflow is never an error here (a user's np.seterr(all="raise")
            # would turn the scale of a column of size 1e300 into one).
            with np.errstate(under="ignore"), blas_on_one_thread(X):
                return self._fit_or_fail(X, y, **kwargs)
        except BaseException:
            for name in [k for k in vars(self) if _is_fit_state(k)]:
                delattr(self, name)
            for name, value in fitted.items():
                setattr(self, name, value)
            raise

    def _fit_or_fail(self, X, y, *, sample_weight, coef_init, intercept_init, partial, classes=None):
        self._more_validate_params(for_partial_fit=partial)
        first_call = not hasattr(self, "_state")
        warm = not partial and self.warm_start and not first_call
        if warm:
            # scikit-learn's warm start: the previous coefficients as
            # coef_init and intercept_init (unless given), and everything
            # else (step count, schedule, optimizer state, averages) anew.
            coef_init = self.coef_ if coef_init is None else coef_init
            intercept_init = self.intercept_ if intercept_init is None else intercept_init
            warm = (coef_init is self.coef_, intercept_init is self.intercept_)
        fresh = first_call or not partial
        rng = row_shuffler(self.random_state)
        warn_scale = fresh and self.fit_intercept and not self._preconditioned()
        if is_dask(X) or is_dask(y) or is_dask(sample_weight):
            problem, stats = chunked_problem(self, X, y, sample_weight, classes, partial,
                                             first_call, rng)
            X, val = problem.X, None
            if warn_scale:
                _warn_if_badly_scaled(problem.largest_sq_row_norm, self)
        else:
            X, y = self._validate_fit_data(X, y, reset=fresh)
            if warn_scale:
                _warn_if_badly_scaled(largest_sq_row_norm(X), self)
            problem, val, stats = self._build_problem(
                X, y, sample_weight, classes, partial, first_call,
                self._previous_stats(fresh, sp.issparse(X)))

        if fresh:
            state = self._fresh_state(problem, coef_init, intercept_init, warm, partial)
        else:
            state = self._state.copy()
            state.match_parameters(OPTIMIZERS[self.optimizer], self.average,
                                   self._averaging(problem, partial))
            if problem.preconditioner is not state.preconditioner:
                move_state(state, state.preconditioner, problem.preconditioner)
        state.stats = stats
        draws = weight_draws(self, problem)
        # (The steps are those of the drawn rows' weights.)
        schedule = resolve_schedule(self, draws.problem if draws else problem,
                                    state.first_schedule, partial, weighing=problem)
        recording = state.first_schedule is None
        validation = None
        if self.early_stopping and not partial:
            # Scored in float64, as the kernels compute: float32 columns of
            # size 1e25 times float32 weights overflow.
            validation = (X[val].astype(np.float64), y[val], problem.sample_weight[val])
        n_epochs = 1 if partial else self.max_iter
        # Under "auto", a partial_fit call of the batch solver's adaptive step
        # is one step, which nothing after it takes back: where it ends above
        # the objective it started from (or raises DivergenceError), the call
        # starts again from its state with the step shrunk, as a stall
        # shrinks it in a fit. (AdaGrad's and RMSProp's first steps move
        # every coefficient by about eta, sized for a start from zero: from
        # the weights of a mini-batch call, 14 of 20 sequences raised, a
        # fuzzing helper's case, and others fell from R2 0.98 to -0.06.)
        # Not under averaging: the call's final objective is then the
        # average's, which one step barely moves (a review helper's case:
        # every call shrank the step to its floor).
        backtracking = (partial and self.learning_rate == "auto" and self.solver == "batch"
                        and schedule.name == "adaptive" and not state.average_start)
        start = state.copy() if backtracking else None
        # (A retried call's epochs are subtasks too: their number is not known.)
        callbacks = self._init_callback_context(max_subtasks=None if backtracking else n_epochs)
        callbacks.call_on_fit_task_begin(estimator=self, X=X, y=y)
        while True:
            try:
                history = self._run_epochs(problem, state, schedule, n_epochs, partial, rng,
                                           validation, callbacks, y, draws)
            except DivergenceError:
                if not (backtracking and schedule.can_shrink(relative=True)):
                    raise
            else:
                if not (backtracking and history["final"] > history["loss"][0]
                        and schedule.can_shrink(relative=True)):
                    break
            state = start.copy()
            schedule.shrink()
            if self.optimizer == "adam":
                # (And without its momentum, which may point uphill: a
                # function-value restart, as after a stall in a fit.)
                state.S1[...] = 0.0
        if recording:
            # (After the call: "optimal"'s cap is re-read during a fit, and
            # L-BFGS may read its step at its first epoch.)
            state.first_schedule = (schedule.name, schedule.kept_step)
        self._store(state, schedule, history, extend=partial and not first_call)
        callbacks.call_on_fit_task_end(estimator=self, X=X, y=y, reconstruction_attributes={})
        if not partial and self.power_t < 0:
            warnings.warn(
                "Negative values for `power_t` are deprecated in version 1.8 "
                "and will raise an error in 1.10 (as for scikit-learn's SGD "
                "estimators). Use values in the range [0.0, inf) instead.",
                FutureWarning,
            )
        return self

    def _fresh_state(self, problem, coef_init, intercept_init, warm, partial):
        """The state of a ``fit`` (or first ``partial_fit``); ``warm`` says which init came from it."""
        coef_warm, intercept_warm = warm if warm else (False, False)
        X = problem.X
        k, d = problem.n_outputs, X.shape[1]
        W = np.zeros((k, d))
        b = np.zeros(k)
        if coef_init is not None:
            W[:] = self._checked_init(_dense(coef_init), (k, d), "coef_init", coef_warm)
        if intercept_init is not None:
            b[:] = self._checked_init(_dense(intercept_init), (k,), "intercept_init", intercept_warm)
        elif self.fit_intercept:
            b[:] = self._initial_intercept(problem)
        W, b = problem.preconditioner.from_original(W, b)
        state = GDState(W.astype(X.dtype), b.astype(X.dtype), problem.preconditioner,
                        OPTIMIZERS[self.optimizer], self.average,
                        self._averaging(problem, partial))
        # The averaging of "auto" (not the user's): keep the l1 zeros.
        state.keep_zeros = not self.average and state.average_start > 0 and float(problem.l1.max()) > 0
        return state

    # ------------------------------------------------------------ the epochs
    def _run_epochs(self, problem, state, schedule, n_epochs, partial, rng, validation,
                    callbacks, y, draws=None):
        """Run up to ``n_epochs`` epochs on ``state``; return the history dict.

        ``validation`` is ``(X, y, sample_weight)`` of the held-out rows with
        early stopping, else None; ``draws`` the :class:`~skgd._steps.WeightDraws`
        of the epochs' rows, or None. Each epoch is a sub-task of the
        ``callbacks`` context; a callback may ask to stop after any epoch.
        Groups of outputs that stop before the others (one-vs-rest problems)
        keep the weights they had then. A call ends with a check of its final
        objective and, for a ``fit``, the certificate (:meth:`_check_final`).
        """
        train = problem.train
        n_train = problem.n_train
        bucket = problem.preconditioner.bucket
        groups = self._output_groups(problem)
        validating = validation is not None
        certified = certifies(self, problem.loss_code, schedule, validating)
        # Under "auto" the batch solver's plain steps on the hinge and
        # epsilon-insensitive losses may end at the lowest point they met
        # (EpochSchedule.remember), not the last. Not under averaging, whose
        # published weights are another point; not for the perceptron, whose
        # objective is lowest at w = 0; not with an optimizer, whose state
        # would stay the last point's, nor early stopping, which picks its
        # own epoch; and an explicit schedule keeps SGD*'s last point.
        remembering = (self.solver == "batch" and self.learning_rate == "auto"
                       and self.optimizer == "sgd" and not validating
                       and not partial and not self.average
                       and problem.loss_code in (HINGE, EPSILON_INSENSITIVE)
                       and not hasattr(schedule, "observe"))
        # Under "auto"'s averaging the tolerance rule judges the weights a
        # prediction uses, the average, at the cost of one more pass per
        # epoch (over judged_rows): the losses met along the way are the noisy iterates',
        # which went on falling by more than tol for 60 epochs on TF-IDF
        # text where the average's objective was flat after 12.
        # Smooth losses only: the stall then waits for the gradient at the
        # average (below), which a kinked loss (hinge) does not give. Not
        # under an l1 penalty either, where the published weights keep the
        # last iterate's zeros: stopping at a stall of their objective left
        # an informative coefficient at zero (test_lazy_l1_keeps_exact_zeros).
        # The mean that `average` asks for is judged this way too with the
        # batch solver (its iterate's objective stalled in 15 epochs on
        # diabetes, and the mean published then was 0.024 of the starting
        # gradient away from stationary); the stochastic and mini-batch
        # solvers keep scikit-learn's rule on the iterates' losses.
        judge_average = (not partial and not validating and self.tol is not None
                         and (not self.average or self.solver == "batch")
                         and state.average_start > 0
                         and not state.keep_zeros
                         and problem.loss_code not in NONSMOOTH_LOSSES)
        # The zero model's gradient norm is the certificate's unit, and its
        # losses the baselines' (one pass gives both).
        start_norm, zero_losses, start_norms = (None, None, None) if partial else \
            self._start_norm(problem, state, per_output=len(groups) > 1)
        reference = self._baselines(problem, state, zero_losses)
        judged = judged_rows(problem) if judge_average else None
        # The mini-batch solver's average (_averages_batches) is of iterates
        # at a constant step, which never shrinks: the average's stall near
        # stationarity stops the fit (with the shrinks kept, judged on the
        # average, time_to_target.py's standardised table took 22 epochs
        # instead of 7 for the same test R2).
        steady_average = judge_average and self.solver == "minibatch"
        if judge_average:
            # The average's objective falls smoothly, by more than an
            # absolute tol for hundreds of epochs where the objective is
            # large: on diabetes' raw target (an objective near 700) fits ran
            # 818 to 1,000 epochs where 11 to 32 gave the same test R2. So
            # tol counts in units of the intercept-only model's objective
            # per group, about 0.69 for a binary log loss, where it is
            # scikit-learn's absolute tol.
            # (A mini-batch fit on long epochs stalls in fewer of them, as
            # its iterates' rule does: stall_epochs.)
            rule = ToleranceStopping(len(groups), reference.tolerance(self.tol) / len(groups),
                                     stall_epochs(self, schedule, n_train, validating))
        else:
            rule = stopping_rule(self, problem.loss_code, schedule, len(groups), validating,
                                 n_train, reference)
        # Under "auto", where a stall stops the fit (not under "adaptive",
        # where it shrinks the step and shrinking_is_done judges what is
        # left), the stochastic solver also waits for the objective's fall to
        # level off (still_descending); on a smooth loss only: a kinked one's
        # objective falls like 1 / t under the decaying "optimal" step, epoch
        # after epoch (1,000 epochs on 3 noisy blobs with extreme class
        # weights, check_class_weight_classifiers).
        descent_check = (self.learning_rate == "auto" and self.solver == "stochastic"
                         and schedule.name != "adaptive" and not validating and not partial
                         and problem.loss_code not in NONSMOOTH_LOSSES)
        criteria = []  # the stopping rule's criterion per epoch, summed over the groups
        stopped_at = {}  # group -> its criterion in the epoch it stopped
        history = {"loss": [], "val": [], "converged": partial, "stop": None,
                   "start_norm": start_norm, "start_norms": start_norms,
                   "stall_epochs": rule.n_iter_no_change}
        frozen = {}  # group -> (its state when it stopped, its objective then)
        active = np.ones(len(groups), dtype=bool)  # the groups not in frozen
        stalled_at = []  # the objective at each stall that shrank the adaptive step
        cumulative_l1 = (float(problem.l1.max()) > 0 and OPTIMIZERS[self.optimizer] == 0
                         and self.solver != "batch")
        l1_received = np.zeros(state.W.shape if cumulative_l1 else (0, 0))
        l1_accrued = np.zeros(problem.l2.shape[0])
        batch_size = self._batch_rows(n_train)
        # The batch solver's epoch leaves its full gradient, for the certificate.
        gradient = (np.zeros(state.W.shape), np.zeros(problem.n_outputs)) \
            if self.solver == "batch" else None
        hyper = np.array([self.momentum, self.rho, self.beta_1, self.beta_2, self.adaptive_eps])
        # The problem the kernels take their steps on.
        stepping = draws.problem if draws else problem
        # Independent outputs (one-vs-rest, a multi-output regression's
        # targets) train in blocks of outputs in threads, with n_jobs.
        n_threads = 1 if (self.solver == "batch" or not self._independent_outputs(problem)) \
            else output_threads(stepping, train, effective_n_jobs(self.n_jobs), problem.n_outputs)
        t0 = self._optimal_t0(schedule, stepping, state)
        if schedule.norm_scale != 1.0 and state.scaled_until is None:
            state.scaled_until = schedule.scaled_until(self._unit_weight_alpha(state), t0,
                                                       state.t, n_train)
        longest_step = 0.0  # of the batch solver's epochs so far (this one's included)
        # Without callbacks, no epoch sub-tasks: nothing would see them, and
        # they cost 10 us an epoch (a small fit's epochs take about 50).
        epoch_tasks = bool(getattr(self, "_skl_callbacks", None)) \
            or hasattr(self, "_parent_callback_ctx")
        start_time = time.perf_counter()
        for _ in range(n_epochs):
            if epoch_tasks:
                epoch_callbacks = callbacks.subcontext(task_name="epoch")
                epoch_callbacks.call_on_fit_task_begin(estimator=self, X=problem.X, y=y)
            # The log loss's step (mini-batch) or cap ("optimal"), re-read
            # from the curvature at the weights; the mini-batch step until
            # its first shrink, and not with tol=None nor averaged (no shrink
            # would take back a step grown too long for the noise; "optimal"
            # decays).
            if (schedule.curvature is not None and schedule.curvature.due(state.epochs)
                    and schedule.shrinks == 0 and not partial and not steady_average
                    and (self.tol is not None or schedule.name == "optimal")):
                step = schedule.curvature.step(state.W, state.b)
                if schedule.name == "adaptive":
                    schedule.eta = step
                else:  # "optimal" takes its cap through t0; a later partial_fit keeps it
                    schedule.eta0 = step
                    t0 = self._optimal_t0(schedule, stepping, state)
            # One batch of all rows: its order changes nothing but rounding.
            shuffle = self.shuffle and self.solver != "batch"
            if draws:
                order = draws.order(rng)
            else:
                order = rng.permutation(train) if shuffle else train
            eta_base = schedule.base_for_epoch(state.epochs)
            penalty_before = penalty_values(state.W, bucket, problem.l2, problem.l1)
            W_before = state.W.copy() if gradient is not None else None
            b_before = state.b.copy() if gradient is not None else None
            observing = hasattr(schedule, "observe")
            before = state.flat_weights() if observing or remembering else None
            state_args = (
                state.optimizer_code, hyper, state.S1, state.S2, state.average_start,
                state.average_power, state.W_avg, state.b_avg, state.t, l1_received, l1_accrued,
            )
            # The "optimal" step 1 / (alpha (t0 + t)) is damped through its alpha.
            timing = (schedule.code, eta_base, float(self.power_t),
                      *schedule.optimal_terms(float(self.alpha), t0, state.t,
                                              state.scaled_until))
            if self.solver == "batch":
                state.t, losses = batch_epoch(problem, order, state.W, state.b, timing,
                                              state_args, gradient, self._threads(n_train))
            elif n_threads > 1 or (frozen and leaving_out_pays(stepping, order, len(frozen))):
                # Blocks of outputs in threads, and without the groups that
                # have stopped (their state stays as it was then).
                training = _outputs_of(groups, active) if frozen else np.arange(problem.n_outputs)
                state.t, losses = call_kernel_in_threads(
                    stepping, training, order, batch_size, state.W, state.b, timing,
                    state_args, min(n_threads, training.size))
            else:
                state.t, losses = call_kernel(stepping, order, batch_size, state.W, state.b,
                                              timing, state_args)
                # The stopped groups keep the state they stopped with, whether
                # or not they were left out: the curvature's cap reads their
                # weights, and a later call their optimizer state.
                for g, (kept, _) in frozen.items():
                    self._restore_group_state(state, groups[g], kept)
            state.epochs += 1
            per_output = losses / n_train + penalty_before
            per_group = _group_sums(per_output, groups)
            for g, (_, value) in frozen.items():
                per_group[g] = value
            objective = float(per_group.sum())
            certificate = excess = None
            if gradient is not None:
                norm = stationarity(*gradient, W_before, problem)
                if history["start_norm"] is None:
                    history["start_norm"] = norm  # the first epoch starts at the start
                certificate = _relative(norm, history["start_norm"])
            if remembering:
                schedule.remember(objective, before)
            accepted, move_to = True, None  # (a line search: whether it took `before`, and
            if observing:                   # where the next epoch starts if not from the step)
                full_gradient = (smooth_gradient(*gradient, W_before, problem)
                                 if schedule.needs_gradient else None)
                accepted, move_to = schedule.observe(before, state.flat_weights(), eta_base,
                                                     objective, full_gradient)
            if accepted:
                finite = bool(np.isfinite(state.W).all() and np.isfinite(state.b).all())
                check_divergence(self, schedule, state.epochs, objective, finite, reference)
                if gradient is not None:
                    # (L-BFGS: the gradient step of its curvature model.)
                    step = getattr(schedule, "step_along_gradient", eta_base)
                    longest_step = max(longest_step, step)
                    first = history["loss"][0] if history["loss"] else objective
                    # AdaGrad's, RMSProp's and Adam's steps are per-coordinate
                    # moves, not lengths along the gradient: no curvature to
                    # read from them, and the certificate is the gradient alone.
                    excess = 0.0 if self.optimizer in ADAPTIVE_OPTIMIZERS else estimated_excess(
                        norm, longest_step, objective, (self.tol or 0.0) * first)
            else:  # the line search took back a step
                certificate = None
            if move_to is not None:
                state.set_flat_weights(move_to)
            history["loss"].append(objective)
            if self.verbose:
                self._print_epoch(state, schedule, objective, eta_base, timing, certificate,
                                  start_time)
            scores = None
            if validating:
                W, b = self._published(state, frozen, groups)
                try:
                    overall, scores = self._validation_scores(*validation, W, b)
                except _ScoresOverflow:
                    raise divergence_error(
                        self, schedule, state.epochs,
                        "the predictions on the validation rows (early_stopping) "
                        f"overflow {problem.X.dtype}", non_finite=True) from None
                history["val"].append(overall)
                if self.verbose:
                    print(f"  validation score: {overall:.6g}")
            stop_requested = epoch_tasks and epoch_callbacks.call_on_fit_task_end(
                estimator=self, X=problem.X, y=y,
                reconstruction_attributes=lambda: self._fitted_attributes(state),
            )
            if stop_requested:
                history["converged"], history["stop"] = True, "a callback asked to stop"
                break
            if partial or self.tol is None:
                continue
            if certified:
                criterion = np.array([np.inf if certificate is None else max(certificate, excess)])
                if schedule.name == "adaptive" and rule.stalled(objective):
                    if not schedule.can_shrink(relative=True):
                        history["stop"] = (f"the step fell to {schedule.eta:.3g}, "
                                           f"{MIN_ADAPTIVE_ETA:g} of its start, without "
                                           "the gradient falling to tol / 10")
                        break
                    schedule.shrink()
                    if self.optimizer == "adam":
                        # Restart its momentum, which carried it uphill (a
                        # function-value restart): on one standardised
                        # column, 200 epochs to the certificate instead of 596.
                        state.S1[...] = 0.0
            elif scores is not None:
                # Per-output scores where each output is a group of its own.
                scores = scores if len(groups) == len(scores) else np.array([history["val"][-1]])
                criterion = -scores
            elif judge_average and state.averaged:
                W, b = state.current_weights()
                if frozen and leaving_out_pays(problem, judged, len(frozen)):
                    # (Only the groups still running: the others' criteria
                    # are not read, and count as stalls.)
                    outputs = _outputs_of(groups, active)
                    published = np.full(problem.n_outputs, np.inf)
                    published[outputs] = self._objectives(
                        problem.for_outputs(outputs), W[outputs], b[outputs], rows=judged)
                else:
                    published = self._objectives(problem, W, b, rows=judged)
                criterion = _group_sums(published, groups)
            else:
                criterion = per_group
            # (A group that has stopped stays done: only the others can stop
            # now, or ask for the gradient pass below.)
            done = rule.update(criterion, history["loss"]) & active
            # (A group that has stopped counts with its criterion then.)
            if descent_check:
                criteria.append(sum(stopped_at.get(g, float(c)) for g, c in enumerate(criterion)))
            if descent_check and done.any() and still_descending(
                    criteria, reference.tolerance(self.tol)):
                # Stalled epochs keep counting (no reset), so that a larger
                # n_iter_no_change never stops sooner. (Checked first: it
                # costs nothing, the gradient pass below a pass over the data.)
                done[:] = False
            if judge_average and done.any() and self._far_from_stationary(
                    problem, state, history, _outputs_of(groups, done)):
                # The average moves ever more slowly as it accumulates
                # iterates, so its objective can stall far from the optimum.
                done[:] = False
                rule.reset()
            if certified and done.all():
                # The certificate is of the epoch's start, and that is the
                # point to publish: from a stationary point, momentum's step
                # still moves (R2 0.19 against Ridge's 0.99 on one
                # standardised column, where the first step lands on the
                # optimum and the second leaves it).
                state.W[...], state.b[...] = W_before, b_before
            if not done.any():
                continue
            if schedule.can_shrink() and not certified and not steady_average:
                # One step for all outputs: it shrinks once every group still
                # running has stalled, and groups stop only at the last step.
                if not done[active].all():
                    continue
                if not (self.learning_rate == "auto"
                        and shrinking_is_done(stalled_at, objective,
                                              reference.tolerance(self.tol))
                        and not self._far_from_stationary(problem, state, history)):
                    stalled_at.append(objective)
                    schedule.shrink()
                    rule.after_shrink()
                    continue
            for g in np.flatnonzero(done):
                frozen[g] = (self._group_state(state, groups[g]), per_group[g])
                active[g] = False
                if descent_check:
                    stopped_at[g] = float(criterion[g])
            if len(frozen) == len(groups):
                history["converged"] = True
                history["stop"] = self._stop_reason(certified, scores is not None, rule)
                if isinstance(rule, RelativeToleranceStopping):
                    # (Where its objective still falls, it stopped on the rule's floor.)
                    fall = rule.steady_fall(history["loss"], self.n_iter_no_change)
                    if fall is not None:
                        span = (f"over its window of {_epochs(rule.n_iter_no_change)}"
                                if rule.whole_window else "in each epoch")
                        history["steady_fall"] = (fall, RELATIVE_FLOOR * rule.unit, span)
                break
        for g, (kept, _) in frozen.items():
            self._restore_group_state(state, groups[g], kept)
        if polish_applies(self, problem, partial, validating):
            history["searched_from"] = _relative(self._polish(problem, state),
                                                 history["start_norm"])
        self._check_final(problem, state, schedule, history, reference, partial)
        if self.verbose and not partial:
            reason = history["stop"] or f"max_iter={self.max_iter} epochs ran"
            print(f"Stopped after {len(history['loss'])} epochs "
                  f"({time.perf_counter() - start_time:.2f} s): {reason}"
                  + (f"; stationarity {history['stationarity']:.3g}."
                     if history.get("stationarity") is not None else "."))
        if not partial:
            self._warn_if_unconverged(problem, schedule, history, certified)
        return history

    def _polish(self, problem, state):
        """Publish the best point of each output's plane through the published
        weights (:mod:`skgd._polish`); return the gradient norm before."""
        new_W, new_b, before, after, norm = polish(problem, *state.current_weights())
        target = (state.W_avg, state.b_avg) if state.averaged else (state.W, state.b)
        target[0][...], target[1][...] = new_W, new_b
        if self.verbose:
            print(f"Searched the plane of the gradient and the weights: objective "
                  f"{before.sum():.6g} -> {after.sum():.6g}.")
        return norm

    def _start_norm(self, problem, state, per_output=False):
        """The certificate's unit: the gradient norm of the zero model.

        Not at the weights a warm start begins from, which may be near the
        optimum already. The batch solver's first epoch computes it anyway
        when it starts at zero (None: take it from there); otherwise it
        costs one pass over the data, which also gives the zero model's
        loss sums per output (or None): ``(norm, losses, norms)``, with
        ``norms`` each output's norm where ``per_output``, else None.
        """
        if self.solver == "batch" and not state.W.any() and not state.b.any():
            return None, None, None
        W, b = np.zeros_like(state.W), np.zeros_like(state.b)
        losses, G, G_b = evaluate(problem, W, b, problem.train, gradient=True,
                                  n_threads=self._threads(problem.n_train))
        norms = np.array([stationarity(G[k:k + 1], G_b[k:k + 1], W[k:k + 1], problem)
                          for k in range(W.shape[0])]) if per_output else None
        return stationarity(G, G_b, W, problem), losses, norms

    def _far_from_stationary(self, problem, state, history, outputs=None):
        """Whether the (smooth) loss's gradient at the published weights is still far from 0.

        Far: above :data:`FAR_FROM_STATIONARY` of its size at the start, where
        the end of a fit warns (one pass over the data). With ``outputs``,
        some of the independent outputs (those whose groups have stalled),
        the gradient of theirs against their own at the start: the others'
        is not computed (a pass over rows of 10 one-vs-rest outputs took 45
        ms, where 10 classes of TF-IDF text stopped in four stalls).
        """
        if not history["start_norm"]:
            return False
        # Under l1, an explicit `average` too (the batch solver judges it) is
        # judged on the iterate's support, as the averaging of "auto"
        # publishes it: the mean keeps small values where the iterate's l1
        # steps found zeros, each adding l1 to the subgradient's norm, which
        # then never fell below 0.1 (raw breast cancer, alpha=0.01: 0.25,
        # and every epoch ran; on the support, 0.014).
        W, b = state.current_weights(keep_zeros=float(problem.l1.max()) > 0)
        if outputs is None or outputs.size == W.shape[0] or problem.chunked:
            outputs = np.arange(W.shape[0])
            objective, norm = self._objective_at(problem, W, b, gradient=True)
            start = history["start_norm"]
        else:
            objective, norm = self._objective_at(
                problem.for_outputs(outputs), W[outputs], b[outputs], gradient=True)
            start = math.hypot(*history["start_norms"][outputs])
        # (Where these outputs stop here, the final check is at these weights;
        # an earlier check of any of them is out of date.)
        history["judged"] = [part for part in history.get("judged", [])
                             if not np.isin(part[0], outputs).any()]
        history["judged"].append((outputs, W[outputs], b[outputs], objective, norm))
        return _relative(norm, start) > FAR_FROM_STATIONARY

    def _stop_reason(self, certified, validating, rule):
        if certified:
            return (f"the gradient fell to tol / 10 = {self.tol / 10:g} of its size at the "
                    "start (stationarity_)")
        what = "the validation score" if validating else "the objective"
        epochs = _epochs(rule.n_iter_no_change)
        if isinstance(rule, RelativeToleranceStopping):
            grown = ""
            if rule.n_iter_no_change > self.n_iter_no_change:
                grown = (f" (the window grows {ADAPTIVE_DIVISOR:g}-fold with each division "
                         "of the step)")
            each = "" if rule.whole_window else "each of "
            return (f"{what} fell by less than tol={self.tol:g} times its value (and at "
                    f"least {RELATIVE_FLOOR * rule.unit:.3g}) in {each}{epochs}{grown}")
        return f"{what} improved by less than tol={self.tol:g} in {epochs}"

    def _print_epoch(self, state, schedule, objective, eta_base, timing, certificate,
                     start_time):
        """verbose=1: one line per epoch, with the step the last update took.

        Under L-BFGS, the line search's fraction of its direction (1: the
        whole direction; halved at each rejected trial).
        """
        step = (schedule.t if schedule.name == "l-bfgs"
                else step_size(schedule.code, eta_base, state.t - 1, *timing[2:]))
        line = (f"Epoch {state.epochs}: objective={objective:.6g}, step={step:.4g}, "
                f"t={state.t - 1}")
        if certificate is not None:
            line += f", stationarity={certificate:.3g}"
        print(f"{line}, elapsed={time.perf_counter() - start_time:.3f}s")

    def _warn_if_unconverged(self, problem, schedule, history, certified):
        """The ConvergenceWarning of a ``fit`` that ran out of epochs or stopped far off.

        Far off: a smooth loss whose gradient at the published weights is
        still above :data:`FAR_FROM_STATIONARY` of its size at the start (and,
        after the search at the end of a fit, at the weights it searched from);
        or a kinked loss that the relative rule's floor stopped while its
        objective still fell (:meth:`RelativeToleranceStopping.steady_fall`).
        """
        ratio = history.get("stationarity")
        figure = "" if ratio is None else (
            f" The gradient of the objective is {ratio:.2g} of its size at the start "
            "(stationarity_; 0 at the optimum).")
        # On the full batch, the L-BFGS or Barzilai-Borwein steps of plain
        # gradient descent certify in fewer epochs than the adaptive optimizers.
        alternative = (" optimizer='sgd' (L-BFGS or Barzilai-Borwein steps on the full batch) usually "
                       "needs fewer epochs." if self.solver == "batch"
                       and self.optimizer in ADAPTIVE_OPTIMIZERS else "")
        if not history["converged"] and self.tol is not None and history["stop"]:
            warnings.warn(
                f"The fit stopped before its certificate: {history['stop']}.{figure} "
                f"A larger tol (now {self.tol:g}) accepts a point this far off." + alternative,
                ConvergenceWarning,
            )
            return
        if not history["converged"] and self.tol is not None:
            warnings.warn(
                "Maximum number of iteration reached before convergence. Consider "
                f"increasing max_iter to improve the fit (all {self.max_iter} epochs ran "
                f"with tol={self.tol:g})." + figure + alternative,
                ConvergenceWarning,
            )
            return
        if history.get("steady_fall") is not None:
            fall, floor, span = history["steady_fall"]
            warnings.warn(
                f"The fit stopped far from the optimum of its objective: the objective still "
                f"fell by {fall:.2g} of its value an epoch over the last "
                f"{_epochs(self.n_iter_no_change)}, more than tol={self.tol:g}, when it "
                f"stopped: the rule asks for a fall of at least {RELATIVE_FLOOR:g} x tol "
                f"times the intercept-only model's objective ({floor:.3g}) {span}, more "
                f"than this objective ({min(history['loss']):.3g}) fell by. A smaller tol "
                "lowers that and lets the fit run on (with a larger max_iter if need be). "
                "On rows that a linear model separates the objective heads to 0, and the "
                "predictions may already be those of the optimum.",
                ConvergenceWarning,
            )
            return
        smooth = problem.loss_code not in NONSMOOTH_LOSSES
        # tol=None: the caller chose the number of epochs, and says nothing.
        # A search at the end (skgd._polish) lowers the objective but can
        # leave a larger gradient (orthogonal to its plane): it warns only if
        # the point it started from was far too (a Huber fit within 0.04% of
        # its optimum went from 0.017 to 0.11).
        searched_from = history.get("searched_from", np.inf)
        if (certified or not smooth or self.tol is None or ratio is None
                or min(ratio, searched_from) <= FAR_FROM_STATIONARY):
            return
        # What the batch solver needs to stop on the certificate (certifies), of
        # which these settings lack some (the average lags the iterates it certifies).
        changes = [change for change, lacking in (
            ("solver='batch'", self.solver != "batch"),
            (f"learning_rate='auto' (now {self.learning_rate!r})",
             self.learning_rate not in ("auto", "constant", "adaptive")),
            ("average=False", bool(self.average)),
            ("early_stopping=False", self.early_stopping),
        ) if lacking]
        advice = (f"; with {', '.join(changes)} the batch solver stops on this "
                  "certificate itself" if changes else "")
        window = history["stall_epochs"]
        bound = (f"at most n_iter_no_change x {STALL_STEPS:,}" if window < self.n_iter_no_change
                 else f"at least n_iter_no_change x {LEAST_STALL_STEPS}")
        counted = "" if window == self.n_iter_no_change else (
            f", here a window of {_epochs(window)}: {bound} batches")
        longer = f"a larger n_iter_no_change (now {self.n_iter_no_change}{counted})"
        longer = (f"A smaller tol (now {self.tol}) or {longer}" if self.tol > 0 else
                  f"With tol=0 already, {longer}")
        warnings.warn(
            f"The fit stopped far from the optimum of its objective.{figure} {longer} lets "
            f"it run longer{advice}.",
            ConvergenceWarning,
        )

    def _optimal_t0(self, schedule, problem, state):
        """Offset of the "optimal" schedule: Bottou's first step, no longer than eta0.

        Under "auto", where every row weighs the same ``c`` (sample weight
        times class weight), the first step of the objective divided by ``c``
        (``state.weight_scale``, set here for the fit, or for the first call
        of a ``partial_fit`` sequence to take these steps:
        :func:`uniform_row_weight`): that objective has the same minimiser,
        with weights of 1 and ``alpha / c``, and scikit-learn's heuristic
        assumes weights of 1. The later steps, ``1 / (alpha t)``, are the same
        either way. Uniform weights of 1e4 took first hinge steps 1e4 times
        too long: an objective of 2.3e7 against the optimum's 41, without a
        warning. (Not for ``c`` below 1, whose steps are shorter: Bottou's
        heuristic for ``alpha / c`` above about 1e20 takes a first step that
        overflows.) Sample weights that differ are uniform here, where the
        stochastic solver draws its rows by them (``problem`` is then the
        drawn rows' :class:`~skgd._steps.WeightDraws` problem). Class weights
        that differ keep scikit-learn's ``t0``: a median or a mean for their
        scale shortened the heavy class's steps of
        ``check_class_weight_classifiers`` (weights 1000 and 1e-4) or
        class_weight={0: 100}'s on breast cancer (test accuracy 0.85 -> 0.64).
        """
        if schedule.name != "optimal":
            return 0.0
        alpha = self.alpha
        if self.learning_rate == "auto":
            if state.weight_scale is None:
                state.weight_scale = uniform_row_weight(problem, problem.train) or 1.0
            alpha = self._unit_weight_alpha(state)
        t0 = optimal_init(problem.loss_code, alpha, self.epsilon)
        if schedule.eta0 > 0:
            t0 = max(t0, 1.0 / (self.alpha * schedule.eta0))
        return t0

    def _unit_weight_alpha(self, state):
        """``alpha`` per unit of the rows' uniform weight ``state.weight_scale`` (if above
        1), as "auto"'s "optimal" schedule takes it (:meth:`_optimal_t0`)."""
        return float(self.alpha) / max(state.weight_scale or 1.0, 1.0)

    def _baselines(self, problem, state, zero_losses=None):
        """The :class:`~skgd._stopping.Reference` that divergence is judged against.

        ``baseline`` is the objective of the intercept-only model (its best
        intercept for regression, zero for classification); ``floor`` the
        larger of the zero model's objective, the smallest objective that
        rounding in X's dtype can explain, and (when it differs from both)
        the objective at the weights this call starts from: a model that
        never exceeds those by far has not diverged, even where the
        intercept-only model fits perfectly. ``zero_losses``: the zero
        model's loss sums per output, where the caller has them.
        """
        train = problem.train
        n_train = problem.n_train
        intercept = self._baseline_intercept(problem)
        if zero_losses is None:
            zero_losses = intercept_only_losses(problem, np.zeros(problem.n_outputs), train)
        zero = float(zero_losses.sum())
        peak = problem.target_peak if problem.chunked else (
            float(np.abs(problem.Y[train]).max()) if problem.Y.size else None)
        # (Within OVERFLOW_HEADROOM of float64's largest value, a step's losses
        # overflowed, or, under a constant step, the fit ended with NaN weights.)
        if not abs(zero) * OVERFLOW_HEADROOM < np.finfo(np.float64).max:
            # (Sample weight times class weight, the weight a row's loss takes.)
            heaviest = (problem.summary.largest_row_weight if problem.chunked
                        else float(row_weight_bound(problem)[train].max()))
            raise ValueError(self._overflowing_losses_message(peak, heaviest, n_train))
        baseline = (float(intercept_only_losses(problem, intercept, train).sum()) / n_train
                    if np.any(intercept) else zero / n_train)
        floor = zero / n_train
        if peak is not None:
            eps = float(np.finfo(problem.X.dtype).eps)
            # (A Huber loss's linear part leaves targets beyond 1e154 computable.)
            floor = max(floor, min(eps * peak, math.sqrt(np.finfo(np.float64).max)) ** 2)
        start = None
        if np.any(state.W != 0):
            W, b = state.W.copy(), state.b.copy()
            start = lambda: self._objective_at(problem, W, b)  # noqa: E731
        return Reference(baseline, floor, start)

    def _overflowing_losses_message(self, peak, heaviest, n_rows):
        """The error for losses that overflow float64 at the model that predicts 0:
        of regression targets reaching ``peak`` (None: classification) on
        ``n_rows`` rows of sample weights up to ``heaviest``."""
        limit = np.finfo(np.float64).max
        # Whether y alone, on rows of weight 1, comes that near (a squared
        # error's bound); else the weights are to blame.
        y_alone = peak is not None and (
            math.log(peak) * 2 + math.log(n_rows * OVERFLOW_HEADROOM) > math.log(limit))
        weights = "sample_weight" if peak is not None else "sample_weight times class_weight"
        causes = " and ".join(
            ([] if peak is None else [f"y's values reach {peak:.3g}"])
            + ([] if heaviest <= 1.0 and peak is not None else
               [f"{weights} reaches {heaviest:.3g}"]))
        if y_alone or heaviest <= 1.0:
            in_y_units = self.loss in ("huber", "epsilon_insensitive",
                                       "squared_epsilon_insensitive")
            fix = (f"Divide y by a constant, e.g. {10.0 ** math.floor(math.log10(peak)):.0e}"
                   f"{' (and epsilon by the same)' if in_y_units else ''}, fit, and multiply "
                   "the predictions by it")
        else:
            fix = (f"Divide sample_weight{'' if peak is not None else ' (or class_weight)'} "
                   "by a constant, and alpha by the same (the same model)")
        return (
            f"{causes}: the {self.loss} of the model that predicts 0, summed over the "
            f"training rows, overflows float64 (whose largest value is {limit:.3g}) or "
            f"comes within {OVERFLOW_HEADROOM:g} times of it, so the fit's objective "
            f"cannot be computed. {fix}."
        )

    # A stopped group's rows of the state, kept as they were when it stopped.
    GROUP_STATE = ("W", "b", "S1", "S2", "W_avg", "b_avg")

    def _group_state(self, state, outputs):
        """The state of ``outputs`` when their group stops: the rows of
        :attr:`GROUP_STATE` (those there are) and whether averaging had begun."""
        rows = {name: getattr(state, name)[outputs].copy() for name in self.GROUP_STATE
                if getattr(state, name).shape[0] == state.W.shape[0]}
        return rows, state.averaged

    def _restore_group_state(self, state, outputs, kept):
        """Put back the state of a stopped group (:meth:`_group_state`).

        A group that stopped before averaging began publishes the weights it
        had then: its averages are those weights.
        """
        rows, averaged = kept
        for name, value in rows.items():
            getattr(state, name)[outputs] = value
        if state.averaged and not averaged:
            state.W_avg[outputs], state.b_avg[outputs] = rows["W"], rows["b"]

    def _published(self, state, frozen, groups):
        """The original-coordinate weights a prediction would use now."""
        if frozen:
            state = state.copy()
            for g, (kept, _) in frozen.items():
                self._restore_group_state(state, groups[g], kept)
        return state.preconditioner.to_original(*state.current_weights())

    def _batch_rows(self, n_train):
        """The rows of one update of the solver, on ``n_train`` training rows."""
        return {"stochastic": 1, "minibatch": self.batch_size, "batch": n_train}[self.solver]

    def _check_final(self, problem, state, schedule, history, reference, partial):
        """Raise (or warn) if the call ended far worse than the intercept-only model.

        The per-epoch check sees the losses met during an epoch, not the
        weights the epoch ends with: one step far too long, the last of a
        call, would go unseen (it is the only step of a ``partial_fit`` with
        the batch solver, or of one batch or row). So the objective at the
        final weights is computed once per call (one pass over the data),
        unless the last epoch, of several updates, had a running objective
        that already beat the intercept-only model; a ``fit``
        always takes that pass, which also gives the certificate,
        ``history["stationarity"]``. L-BFGS and Barzilai-Borwein steps end at
        the best point their line search accepted, if the last trial is worse.
        """
        # (An epoch's running objective is the mean of the losses before each
        # of its updates: with one update, it is the loss before it, and the
        # weights that update reached go unseen, as with the batch solver.)
        running_ok = (problem.n_train > self._batch_rows(problem.n_train)
                      and history["loss"][-1] <= reference.baseline)
        if schedule.name in DECAYING_SCHEDULES and self.learning_rate != "auto":
            # Its steps may end far too long without the objective (in
            # float64) showing it: the predictions are checked (a pass).
            self._raise_if_predictions_overflow(problem, state, schedule)
        if partial and running_ok:
            return
        final, norm = self._objective_and_norm(problem, state, certify=not partial,
                                               judged=history.get("judged"))
        best = schedule.best
        # (Within rounding of the best, the last point is as good and, being
        # later, has the smaller gradient.)
        if best[1] is not None and not final <= best[0] + ROUNDING * abs(best[0]):
            state.set_flat_weights(best[1])
            final, norm = self._objective_and_norm(problem, state, certify=not partial)
        history["final"] = final
        if norm is not None and history["start_norm"] is not None:
            history["stationarity"] = _relative(norm, history["start_norm"])
        if not partial and self.average and state.averaged:
            message = average_worse_than_intercept_only(self, final, history["loss"][-1],
                                                        reference)
            if message:
                warnings.warn(message, ConvergenceWarning)
        if running_ok:
            return
        message = check_final_objective(self, schedule, state.epochs, final,
                                        history["loss"][0], reference)
        if message:
            warnings.warn(message, ConvergenceWarning)

    def _raise_if_predictions_overflow(self, problem, state, schedule):
        """Raise if the published weights' predictions on the training rows overflow X's dtype.

        An explicit decaying schedule may end far off and only warn, as
        scikit-learn's would; not with weights that predict only infinities
        (float32 columns of 1e24 under "optimal": weights of 6.6e35).
        """
        if problem.chunked:
            return
        W, b = state.preconditioner.to_original(*state.current_weights())
        try:
            self._finite_decision(problem.X[problem.train], W, b)
        except _ScoresOverflow:
            raise divergence_error(self, schedule, state.epochs, "its predictions on the "
                                   f"training rows overflow {problem.X.dtype}",
                                   non_finite=True) from None

    def _objective_and_norm(self, problem, state, certify, judged=None):
        """The objective at the published weights, and their gradient norm if ``certify``.

        ``judged``: a list of the ``(outputs, W, b, objective, norm)`` of the
        outputs that the stopping rule checked last (:meth:`_far_from_stationary`);
        where those cover the published weights, the pass is not repeated
        (a stochastic fit's final check follows the rule's, or the
        one-vs-rest groups' as each stopped).
        """
        W, b = state.current_weights()
        if certify and judged:
            known = _from_parts(judged, W, b)
            if known is not None:
                return known
        if not certify:
            return self._objective_at(problem, W, b), None
        return self._objective_at(problem, W, b, gradient=True)

    def _objectives(self, problem, W, b, gradient=False, rows=None):
        """Each output's training objective at ``W, b`` (one pass over the data), and
        with ``gradient`` also the mean loss's gradient ``(G, G_b)``.

        ``rows``: the training rows the mean loss is taken over, all by default.
        """
        rows = problem.train if rows is None else rows
        n_rows = problem.n_train if problem.chunked else rows.size  # (chunks: all rows)
        result = evaluate(problem, W, b, rows, gradient=gradient,
                          n_threads=self._threads(n_rows))
        losses = result[0] if gradient else result
        bucket = problem.preconditioner.bucket
        objectives = losses / n_rows + penalty_values(W, bucket, problem.l2, problem.l1)
        return (objectives, *result[1:]) if gradient else objectives

    def _objective_at(self, problem, W, b, gradient=False):
        """The training objective at ``W, b`` (one pass over the data), and with
        ``gradient`` also its gradient norm (:func:`stationarity`)."""
        if not gradient:
            return float(self._objectives(problem, W, b).sum())
        objectives, G, G_b = self._objectives(problem, W, b, gradient=True)
        return float(objectives.sum()), stationarity(G, G_b, W, problem)

    def _output_groups(self, problem):
        """Groups of outputs that stop together.

        With the stochastic solver, independent outputs (one-vs-rest,
        multi-output regression) stop one by one, as SGDClassifier's binary
        problems do; the mini-batch and batch solvers stop on the whole
        objective.
        """
        if self.solver == "stochastic" and self._independent_outputs(problem):
            return [np.array([k]) for k in range(problem.n_outputs)]
        return [np.arange(problem.n_outputs)]

    # ------------------------------------------------------------ publishing
    def _store(self, state, schedule, history, extend):
        """Publish the state as fitted attributes."""
        self._state = state
        for name, value in self._fitted_attributes(state).items():
            setattr(self, name, value)
        self.t_ = state.t
        self.stationarity_ = history.get("stationarity")
        self.learning_rate_ = schedule.name
        self.eta0_ = schedule.eta0
        self.optimizer_state_ = (state.S1, state.S2)
        # The epochs of this call, as scikit-learn's SGD estimators count them (a
        # partial_fit: 1); loss_curve_ keeps every epoch of a partial_fit sequence.
        self.n_iter_ = len(history["loss"])
        if extend:
            self.loss_curve_ = self.loss_curve_ + history["loss"]
        else:
            self.loss_curve_ = list(history["loss"])
            if self.early_stopping and history["val"]:
                self.validation_scores_ = list(history["val"])
                self.best_validation_score_ = max(history["val"])
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fitted_attributes(self, state):
        """``coef_`` and ``intercept_`` of ``state`` (the averages once averaging runs)."""
        W, b = state.preconditioner.to_original(*state.current_weights())
        return self._coef_attributes(W, b)

    def _coef_attributes(self, W, b):
        return {"coef_": W, "intercept_": b}

    def densify(self):
        """Convert a sparse ``coef_`` (see :meth:`sparsify`) back to a numpy array.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
            if self.coef_.shape[0] == 1 and self._coef_is_flat():
                self.coef_ = self.coef_.ravel()
        return self

    def sparsify(self):
        """Store ``coef_`` as a scipy.sparse CSR matrix, as scikit-learn's linear models do.

        Worth it when most coefficients are zero (the l1 penalty). Predictions
        are unchanged; ``partial_fit`` and ``densify`` still work.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        self.coef_ = sp.csr_matrix(np.atleast_2d(_dense(self.coef_)))
        return self

    def _coef_is_flat(self):
        return False

    # ------------------------------------------------------------ predicting
    def _decision(self, X, W, b):
        """Scores ``X W' + b`` of shape (n_samples, n_outputs)."""
        return np.asarray(safe_sparse_dot(X, W.T, dense_output=True)) + b

    def _finite_decision(self, X, W, b):
        """:meth:`_decision`, raising :class:`_ScoresOverflow` where a score is not finite.

        Weights finite but huge (an explicit schedule blowing up) overflow
        there: on the validation rows scikit-learn's r2_score would then raise
        "Input contains NaN", which names neither the cause nor a fix.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self._decision(X, W, b)
        if not np.isfinite(scores).all():
            raise _ScoresOverflow
        return scores

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
