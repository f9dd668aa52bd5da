"""GDRegressor: linear regression by gradient descent."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _assert_all_finite

from ._base import BaseGD, Targets, _naming_non_numeric
from ._distributed import is_dask, map_row_blocks
from ._losses import REGRESSION_LOSSES
from ._precondition import BITS, on_grid
from ._steps import target_moments, target_scale


class GDRegressor(RegressorMixin, BaseGD):
    """Linear regression fitted by batch, stochastic or mini-batch gradient descent.

    Minimises the objective of :class:`sklearn.linear_model.SGDRegressor`:
    the weighted losses summed over the training rows and divided by their
    number, plus ``alpha * R(w)`` (the intercept is not penalised). With the
    defaults it behaves as a drop-in ``SGDRegressor()``, and under an
    explicit ``learning_rate`` its stochastic solver takes the same steps;
    the ``solver``, ``optimizer`` and ``learning_rate="auto"`` parameters add
    a deterministic batch solver with a tuning-free step, mini-batches and
    adaptive optimizers. One compiled kernel trains every target of a 2-D
    ``y`` in the same pass over the data.

    Parameters
    ----------
    loss : {"squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive"}, default="squared_error"
        The loss, defined as in ``SGDRegressor``: ``0.5 (y - p)^2``; Huber
        (quadratic within ``epsilon``, linear beyond); ``max(0, |y - p| -
        epsilon)``; and its square.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        ``R(w)`` is ``|w|^2 / 2``, ``|w|_1``, or
        ``(1 - l1_ratio) |w|^2 / 2 + l1_ratio |w|_1``. The l1 part gives
        exact zeros: plain stochastic and mini-batch steps apply it as the
        cumulative penalty of Tsuruoka et al. (2009), as ``SGDRegressor``
        does; every other case as a proximal (soft-threshold) step.
    alpha : float, default=0.0001
        Regularisation strength. With ``solver="batch"`` and the l2 penalty
        the fit converges to ``Ridge(alpha=alpha * n_samples)``.
    l1_ratio : float or None, default=0.15
        Mix of l1 in the elastic-net penalty (None is fine for the others).
    fit_intercept : bool, default=True
        Whether to fit an intercept. It starts at the weighted mean of ``y``
        under ``learning_rate="auto"``, at 0 (as in ``SGDRegressor``) under an
        explicit schedule.
    solver : {"stochastic", "minibatch", "batch"}, default="stochastic"
        Samples per update: one, ``batch_size``, or all of them.
    batch_size : int, default=32
        Rows per update of the mini-batch solver.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}, \
            default="sgd"
        Update rule, see :mod:`skgd._optimizers`. Every rule works with
        every solver, schedule and penalty. On CSR input every rule's steps
        of the stochastic and mini-batch solvers cost O(nnz) per update: the
        other columns catch up on the steps they missed when next met (see
        the user guide, "Optimizers").
    learning_rate : {"auto", "constant", "invscaling", "optimal", "adaptive", \
            "exponential", "pa1", "pa2"}, default="auto"
        Step-size schedule. ``"constant"``: ``eta0``; ``"invscaling"``:
        ``eta0 / t^power_t``; ``"optimal"``: ``1 / (alpha (t0 + t))``;
        ``"adaptive"``: ``eta0``, divided by 5 each time the objective stalls
        for ``n_iter_no_change`` epochs; ``"exponential"``:
        ``eta0 * decay_rate^epoch``; ``"pa1"``/``"pa2"``: scikit-learn's
        passive-aggressive steps with aggressiveness ``eta0`` (loss
        ``"epsilon_insensitive"``, stochastic solver, plain steps). The
        explicit schedules take ``SGDRegressor``'s steps. ``"auto"``
        resolves to (see ``learning_rate_`` and ``eta0_`` after fit):

        ============  ===============================================
        stochastic    ``"invscaling"`` with ``eta0`` (SGDRegressor's
                      default), ``eta0`` capped at ``2 / L_max`` so
                      that no single-sample step lands further past
                      that sample's optimum than it started
        minibatch     ``"adaptive"`` from ``1 / L_B``, the expected
                      smoothness of a batch mean: between ``L`` and
                      ``L_max`` (Gower et al., 2019); with at least
                      100 batches an epoch, a smooth loss and no l1
                      part and without ``early_stopping``, the
                      ``fit`` publishes the average of its iterates
                      (see ``average``) and the step stays constant
        batch         ``"l-bfgs"``: limited-memory BFGS directions
                      from the last 10 changes of the weights and of
                      the gradient (the first a gradient step: in a
                      ``fit`` of at most 4 outputs, to the minimum of
                      the quadratic bound along it; else ``1 / L``), with
                      a line search that halves the step until the
                      objective falls (Armijo's condition);
                      ``"barzilai-borwein"`` with an l1 part (which
                      needs a proximal step): steps ``s's / s'y``
                      from the last change ``s`` of the weights and
                      ``y`` of the gradient, from ``1 / L`` up,
                      rounded to powers of ``2^(1/4)`` (so that
                      rounding noise does not change the path), with
                      a non-monotone line search that halves a step
                      whose objective is above the highest of the
                      last 10; ``"constant"`` ``1 / L`` for the
                      kinked losses (``epsilon_insensitive``), other
                      optimizers and ``average`` (whose mean would
                      take in a line search's rejected trials)
        ============  ===============================================

        ``L`` is the Lipschitz constant of the objective's gradient (the
        loss's curvature bound times the largest eigenvalue of the weighted
        ``X' X / n``, by power iteration) and ``L_max`` the largest such
        constant of a single sample's loss. Momentum and Nesterov steps are
        multiplied by ``1 - momentum`` on the stochastic and mini-batch
        solvers, and on the batch solver in ``partial_fit`` (whose calls'
        rows change from call to call). The stochastic solver's ``fit``
        then publishes a weighted average of its iterates (see
        ``average``; the mini-batch solver's too, above). AdaGrad, RMSProp and Adam move each coefficient by about
        the step per update, so they get ``"adaptive"`` from a base step
        times ``std(y) / sqrt(k)``, ``k`` the mean number of non-zero
        features per row:

        ============  ==========  ==========  =====
        optimizer     stochastic  minibatch   batch
        ============  ==========  ==========  =====
        adagrad       0.3         1.0         1.0
        rmsprop       0.01        0.1         0.1
        adam          0.01        0.1         0.1
        ============  ==========  ==========  =====

        The mini-batch base is that of dense data; where a batch's rows
        share few columns (sparse text) it moves geometrically towards the
        stochastic one, by ``sum_j c_j^2 / (n sum_j c_j)`` for ``c_j`` the
        non-zeros of column ``j`` over ``n`` rows (1 on dense data).

    eta0 : float, default=0.01
        Base step of the ``"constant"``, ``"invscaling"``, ``"adaptive"``
        and ``"exponential"`` schedules.
    power_t : float, default=0.25
        Exponent of ``"invscaling"``.
    decay_rate : float, default=0.9
        Factor per epoch of the ``"exponential"`` schedule.
    momentum : float, default=0.9
        Momentum of ``"momentum"`` and ``"nesterov"``.
    rho : float, default=0.99
        Decay of RMSProp's running mean of squared gradients.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decays of the first and second moment estimates.
    adaptive_eps : float, default=1e-8
        Constant added to the denominators of AdaGrad, RMSProp and Adam.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the data).
    tol : float or None, default=1e-3
        Stop when the objective (or, with ``early_stopping``, the validation
        score) has not improved by ``tol`` for ``n_iter_no_change`` epochs
        in a row; with the stochastic solver each target of a 2-D ``y``
        stops on its own. The batch solver on a smooth loss, with L-BFGS,
        Barzilai-Borwein or constant steps and no averaging, stops instead
        at the first epoch where the gradient of the objective is at most
        ``tol / 10`` of the zero model's (see ``stationarity_``) and the
        objective's excess over its optimum, estimated from the gradient
        and the longest step taken, at most ``tol / 10`` of the objective;
        with constant plain steps on a kinked loss it
        counts an epoch as stalled when the decrease still to come,
        extrapolated from the last two decreases ``d0, d1`` as
        ``d1^2 / (d0 - d1)``, is at most ``tol``; with AdaGrad, RMSProp or
        Adam on a kinked loss under "auto" (and the classifier's plain steps
        on the hinge), when the objective fell by less than ``tol`` times
        itself where that is below 1, waiting 5 times longer after each
        division of the step. None: run ``max_iter``
        epochs. With ``average``, the batch solver applies the ``tol`` rule
        to the objective of the mean it publishes.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or, with
        ``"adaptive"``, before dividing the step, but where the mini-batch
        solver averages: see ``learning_rate``). Under "auto", without
        ``early_stopping``, the mini-batch solver counts batches where
        epochs hold more than 1,000 of them or fewer than 20 (but more than
        one): there the window spans as many epochs as hold
        ``n_iter_no_change`` times 1,000 batches (at least one epoch), or
        times 20.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (scikit-learn's split)
        and stop on its R². Not available in ``partial_fit``.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    shuffle : bool, default=True
        Shuffle the rows before each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the validation split.
    warm_start : bool, default=False
        Start ``fit`` from the previous ``coef_`` and ``intercept_`` (unless
        ``coef_init``/``intercept_init`` are given), with the step count,
        schedule, optimizer state and averages anew, as scikit-learn does.
        Data of another shape is an error; use ``partial_fit`` to continue a
        fit.
    average : bool or int, default=False
        Polyak-Ruppert averaging: ``coef_`` is the mean of the iterates,
        from the first update (True) or from update number ``average``, as
        in scikit-learn. False: under ``learning_rate="auto"``, a ``fit`` of
        the stochastic solver (and of the mini-batch solver with at least
        100 batches an epoch, on a smooth loss without an l1 part and
        without ``early_stopping``)
        publishes the average in which update ``t`` weighs
        ``t (t + 1) (t + 2)`` (coefficients that are zero at the last
        iterate stay zero); otherwise the last iterate.
    epsilon : float, default=0.1
        Width of the Huber and epsilon-insensitive losses.
    n_jobs : int or None, default=None
        Threads for the passes over all rows: the batch solver's gradient
        and every solver's final certificate pass, cut into ``n_jobs`` blocks
        of at least 2048 rows whose sums are added in block order (the same
        bits for the same ``n_jobs``; other ``n_jobs`` differ by rounding).
        The stochastic and mini-batch epochs run on one thread, unless the
        outputs are independent (a multi-output regression's targets, a
        one-vs-rest classifier's classes): then blocks of outputs train in
        ``n_jobs`` threads, each output to the same bits as on one. joblib's
        conventions: None is 1 unless in a ``joblib.parallel_backend``
        context, -1 all cores. On dask arrays, the number of local models
        that the stochastic and mini-batch solvers average (None: one per
        thread of the cluster); see the user guide, "Fitting on a dask
        cluster".
    verbose : int, default=0
        Print one line per epoch (objective, the last step taken and, for
        the batch solver, the relative gradient norm).
    precondition : {"auto", "diagonal"} or None, default="auto"
        ``"diagonal"``: the solvers work on rescaled (and, for dense data
        with an intercept, centred) columns, from running statistics of
        ``X``; the objective and the published ``coef_`` and ``intercept_``
        are those of the original columns, so only the path to the optimum
        changes, and raw, badly scaled columns converge as standardised
        ones do. ``"auto"``: ``"diagonal"`` under ``learning_rate="auto"``,
        None (the columns as given, scikit-learn's steps) under an explicit
        schedule.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : ndarray of shape (1,) or (n_targets,)
    n_iter_ : int
        Epochs run by the last call (1 for ``partial_fit``), as in scikit-learn's
        SGD estimators; ``loss_curve_`` holds every epoch of a ``partial_fit``
        sequence.
    t_ : int
        Number of updates plus one.
    loss_curve_ : list of float
        Training objective per epoch (mean loss over the epoch's updates
        plus the penalty at the epoch's start).
    validation_scores_ : list of float or None
        Validation R² per epoch with ``early_stopping``.
    best_validation_score_ : float or None
    learning_rate_ : str
        The schedule ``learning_rate`` resolved to.
    eta0_ : float
        The base step it resolved to (for ``"optimal"``, the longest step
        allowed at the end of the fit: 0 for none).
    optimizer_state_ : tuple of ndarray
        The optimizer's state arrays (empty for plain steps), in the
        preconditioned coordinates.
    stationarity_ : float or None
        After ``fit``: the norm of the objective's (minimal sub-)gradient at
        the published weights relative to its norm at the zero model, in
        the preconditioned coordinates; 0 at the optimum. A fit of a smooth
        loss that stopped on its ``tol`` rule (not on the batch solver's
        certificate) above 0.1 warns. On a kinked loss (hinge,
        epsilon-insensitive, perceptron) it takes the loss's derivative on
        one side of each kink, not the smallest subgradient, and certifies
        nothing: the stochastic hinge fit of standardised breast cancer
        reads 0.007 at 20 times the optimum's objective. None after
        ``partial_fit``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skgd import GDRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> reg = GDRegressor(solver="batch").fit(X, y)
    >>> round(reg.score(X, y), 2)
    0.52
    """

    _multi_output_y = True
    _is_classifier = False

    _parameter_constraints: dict = {
        **BaseGD._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }

    def __init__(
        self,
        loss="squared_error",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        solver="stochastic",
        batch_size=32,
        optimizer="sgd",
        learning_rate="auto",
        eta0=0.01,
        power_t=0.25,
        decay_rate=0.9,
        momentum=0.9,
        rho=0.99,
        beta_1=0.9,
        beta_2=0.999,
        adaptive_eps=1e-8,
        max_iter=1000,
        tol=1e-3,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        warm_start=False,
        average=False,
        epsilon=0.1,
        n_jobs=None,
        precondition="auto",
        verbose=0,
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.decay_rate = decay_rate
        self.momentum = momentum
        self.rho = rho
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.adaptive_eps = adaptive_eps
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.average = average
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.precondition = precondition
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model, running up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        coef_init : array-like of shape (n_features,) or (n_targets, n_features), default=None
            Starting coefficients.
        intercept_init : array-like of shape (1,) or (n_targets,), default=None
            Starting intercept.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows' losses, used as given (as in
            ``SGDRegressor``; see the user guide, "The objective").

        Returns
        -------
        self : GDRegressor
        """
        return self._fit(
            X, y, sample_weight=sample_weight, coef_init=coef_init,
            intercept_init=intercept_init, partial=False,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch over ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : GDRegressor
        """
        return self._fit(
            X, y, sample_weight=sample_weight, coef_init=None,
            intercept_init=None, partial=True,
        )

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            A lazy dask array when X is one.
        """
        if is_dask(X):
            return map_row_blocks(self, self.predict, X)
        X = self._validate_predict_data(X)
        coef = self.coef_ if sp.issparse(self.coef_) else np.atleast_2d(self.coef_)
        scores = self._decision(X, coef, self.intercept_)
        return scores.ravel() if self._target_ndim == 1 else scores

    # ----------------------------------------------------------------- hooks
    def _loss_code(self, n_outputs):
        return REGRESSION_LOSSES[self.loss]

    def _auto_stochastic_schedule(self):
        return "invscaling", self.eta0

    def _prepare_targets(self, y, *, classes, partial, first_call):
        if first_call or not partial:
            self._target_ndim = y.ndim
        elif y.ndim != self._target_ndim or (
            y.ndim == 2 and y.shape[1] != self._state.W.shape[0]
        ):
            raise ValueError(
                f"y has shape {y.shape}, but the model was fitted on "
                f"{self._target_ndim}-D targets with {self._state.W.shape[0]} "
                "output(s)."
            )
        with _naming_non_numeric("y", y):  # y_numeric converts object y only
            Y = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=np.float64)
        # scikit-learn checks an object y for NaN before converting it, so a
        # None only becomes NaN here.
        _assert_all_finite(Y, input_name="y")
        return Targets(Y, np.empty(0, dtype=np.int32), Y.shape[1])

    def _class_weights(self, y, labels):
        n_targets = 1 if y.ndim == 1 else y.shape[1]
        return np.ones(n_targets), np.ones(n_targets), 1.0

    def _independent_outputs(self, problem):
        return problem.n_outputs > 1

    def _split_stratify(self, y):
        return None

    def _weighted_mean_target(self, problem):
        """The weighted mean of y over the training rows, on a grid of std(y) * 2 ** -BITS."""
        if problem.chunked:
            mean, scale = problem.target_mean(), target_scale(problem, problem.train)
        else:
            mean, scale = target_moments(problem, problem.train)
        return on_grid(mean, scale * 2.0**-BITS)

    def _initial_intercept(self, problem):
        # "auto" starts from the best constant model; the explicit schedules
        # from zero, as SGDRegressor does, so that they take its steps.
        if self.learning_rate == "auto":
            return self._weighted_mean_target(problem)
        return 0.0

    def _baseline_intercept(self, problem):
        return self._weighted_mean_target(problem)

    def _coef_attributes(self, W, b):
        return {"coef_": W[0] if self._target_ndim == 1 else W, "intercept_": b}

    def _coef_is_flat(self):
        return self._target_ndim == 1

    def _validation_scores(self, X, y, sample_weight, W, b):
        """R² overall (the mean over targets), and of each target."""
        pred = self._finite_decision(X, W, b)
        Y = y.reshape(y.shape[0], -1)
        per_target = r2_score(Y, pred, sample_weight=sample_weight, multioutput="raw_values")
        return float(np.mean(per_target)), np.atleast_1d(per_target)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
