"""GDClassifier: linear classification by gradient descent."""

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from ._base import BaseGD, Targets, row_blocks
from ._distributed import is_dask, map_row_blocks
from ._losses import CLASSIFICATION_LOSSES, MULTINOMIAL


def _has_proba(estimator):
    if estimator.loss not in ("log_loss", "modified_huber"):
        raise AttributeError(
            f"probability estimates are not available for loss={estimator.loss!r}; "
            "use loss='log_loss' or loss='modified_huber'."
        )
    return True


class GDClassifier(ClassifierMixin, BaseGD):
    """Linear classifier fitted by batch, stochastic or mini-batch gradient descent.

    Minimises the objective of :class:`sklearn.linear_model.SGDClassifier`
    (the weighted losses over the number of training rows, plus
    ``alpha * R(w)``); with the defaults it behaves as a drop-in
    ``SGDClassifier()``, and under an explicit ``learning_rate`` its
    stochastic solver takes the same steps. Binary problems train one weight
    vector. With more classes, ``multi_class="ovr"`` trains every
    one-vs-rest problem in a single pass over the data (one row of ``coef_``
    per class), and ``multi_class="multinomial"`` trains the softmax
    cross-entropy jointly (``loss="log_loss"`` only).

    Parameters
    ----------
    loss : {"hinge", "log_loss", "modified_huber", "squared_hinge", \
            "perceptron", "squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive"}, default="hinge"
        The loss on the margin ``y * p`` with ``y in {-1, +1}``, defined as
        in ``SGDClassifier``.
    multi_class : {"ovr", "multinomial"}, default="ovr"
        How more than two classes are trained. For two classes both train
        one weight vector (the multinomial loss then is the logistic loss).
    class_weight : dict, "balanced" or None, default=None
        Weights multiplied into the rows' losses, as in ``SGDClassifier``:
        with two classes each row weighs its class's weight; in the
        one-vs-rest problem of class ``k``, the rows of class ``k`` weigh
        ``class_weight[k]`` and the other rows 1; under
        ``multi_class="multinomial"`` (one joint problem) each row weighs its
        class's weight. ``"balanced"`` is not available in ``partial_fit``.
    eta0 : float, default=0.01
        Base step of the ``"constant"``, ``"invscaling"``, ``"adaptive"`` and
        ``"exponential"`` schedules (the aggressiveness C of ``"pa1"`` and
        ``"pa2"``), as in ``SGDClassifier``. ``"auto"`` resolves to
        ``"optimal"`` for the stochastic solver (SGDClassifier's default; for
        the squared losses and with momentum its first step is capped at
        ``1 / L_max`` so that they do not diverge, for the log loss so that
        the weights do not overshoot the optimum's, and ``eta0_`` holds the
        cap; with momentum its steps are shortened by ``1 - momentum``; the
        hinge's first epochs' (at most 20) are scikit-learn's for rows scaled
        to a mean squared norm of 1, the norm its heuristic assumes, and the
        decay ``1 / (alpha t)`` follows from where they end), and
        to the tuning-free steps of
        :class:`~skgd.GDRegressor` for the mini-batch and batch solvers (on
        the hinge, the mini-batch step four times longer in a ``fit``, and the
        batch solver's plain steps ``"adaptive"`` from that step in a ``fit``
        without ``average``: user guide,
        "Learning-rate schedules"). On
        the log loss a ``fit`` of either re-reads that step (the cap) from the
        rows' curvature at the weights, which falls as the classes separate
        (user guide, "Learning-rate schedules"): ``eta0_`` is the mini-batch
        solver's first step and the stochastic solver's last cap.
    power_t : float, default=0.5
        Exponent of ``"invscaling"``.
    penalty, alpha, l1_ratio, fit_intercept, solver, batch_size, optimizer, \
learning_rate, decay_rate, momentum, rho, beta_1, beta_2, adaptive_eps, \
max_iter, tol, n_iter_no_change, early_stopping, validation_fraction, \
shuffle, random_state, warm_start, average, epsilon, n_jobs, verbose, precondition
        As in :class:`~skgd.GDRegressor` (the ``"auto"`` steps of the
        adaptive optimizers use a target scale of 1; ``"pa1"`` and ``"pa2"``
        need the hinge loss; the intercept starts at 0; with the stochastic
        solver each one-vs-rest problem stops on its own, as in
        ``SGDClassifier``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_, t_, loss_curve_, validation_scores_, best_validation_score_, \
learning_rate_, eta0_, optimizer_state_, stationarity_, n_features_in_, \
feature_names_in_
        As in :class:`~skgd.GDRegressor`; the validation score is accuracy.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skgd import GDClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = GDClassifier(loss="log_loss", multi_class="multinomial",
    ...                    solver="batch").fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    """

    _multi_output_y = False
    _is_classifier = True

    _parameter_constraints: dict = {
        **BaseGD._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "multi_class": [StrOptions({"ovr", "multinomial"})],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        loss="hinge",
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
        power_t=0.5,
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
        class_weight=None,
        multi_class="ovr",
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
        self.class_weight = class_weight
        self.multi_class = multi_class
        self.n_jobs = n_jobs
        self.precondition = precondition
        self.verbose = verbose

    def _more_validate_params(self, for_partial_fit=False):
        super()._more_validate_params(for_partial_fit)
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError(
                f"multi_class='multinomial' needs loss='log_loss'; got "
                f"loss={self.loss!r}. Use multi_class='ovr' for other losses."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model, running up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type.
        coef_init : array-like of shape (1, n_features) or (n_classes, n_features), default=None
        intercept_init : array-like of shape (1,) or (n_classes,), default=None
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : GDClassifier
        """
        return self._fit(
            X, y, sample_weight=sample_weight, coef_init=coef_init,
            intercept_init=intercept_init, partial=False,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch over ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : GDClassifier
        """
        if self.class_weight == "balanced":
            # scikit-learn's words, then why.
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order "
                "to use 'balanced' weights, use compute_class_weight('balanced', "
                "classes=classes, y=y). In place of y you can use a large enough "
                "sample of the full training set target to properly estimate the "
                "class frequency distributions. Pass the resulting weights as the "
                "class_weight parameter. (partial_fit sees one batch at a time, so "
                "the class frequencies of the whole data are unknown to it.)"
            )
        return self._fit(
            X, y, sample_weight=sample_weight, coef_init=None,
            intercept_init=None, partial=True, classes=classes,
        )

    def decision_function(self, X):
        """Signed scores: ``(n_samples,)`` for two classes, else ``(n_samples, n_classes)``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray
            A lazy dask array when X is one.
        """
        if is_dask(X):
            return map_row_blocks(self, self.decision_function, X)
        X = self._validate_predict_data(X)
        scores = self._decision(X, self.coef_, self.intercept_)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels.

        Scores are computed in blocks of rows, so that memory stays small
        with many classes.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            A lazy dask array when X is one.
        """
        if is_dask(X):
            return map_row_blocks(self, self.predict, X)
        X = self._validate_predict_data(X)
        return np.concatenate([
            self._labels(self._decision(X[rows], self.coef_, self.intercept_))
            for rows in row_blocks(X.shape[0], len(self.intercept_))
        ])

    def _labels(self, scores):
        """Class labels of decision scores, 1-D (binary) or one column per class."""
        if scores.ndim == 1 or scores.shape[1] == 1:
            return self.classes_[(scores.ravel() > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (``log_loss`` and ``modified_huber`` only).

        ``log_loss``: the sigmoid of the score for two classes, the softmax
        for ``multi_class="multinomial"`` and the normalised one-vs-rest
        sigmoids otherwise. ``modified_huber``: ``(clip(score, -1, 1) + 1) /
        2``, normalised, as in ``SGDClassifier``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            A lazy dask array when X is one.
        """
        if is_dask(X):
            return map_row_blocks(self, self.predict_proba, X)
        scores = self.decision_function(X)
        if self.loss == "log_loss":
            if scores.ndim == 1:
                p = expit(scores)
                return np.column_stack([1.0 - p, p])
            if self.multi_class == "multinomial":
                # Scores that overflowed to +-inf would give inf - inf = NaN.
                finite = np.finfo(scores.dtype).max
                return softmax(np.clip(scores, -finite, finite), axis=1)
            proba = expit(scores)
        else:
            proba = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
            if scores.ndim == 1:
                return np.column_stack([1.0 - proba, proba])
        total = proba.sum(axis=1, keepdims=True)
        # Rows where every one-vs-rest score says "not me" get uniform probabilities.
        uniform = total[:, 0] == 0.0
        proba[uniform] = 1.0
        total[uniform] = proba.shape[1]
        return proba / total

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            A lazy dask array when X is one.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    # ----------------------------------------------------------------- hooks
    def _loss_code(self, n_outputs):
        if self.multi_class == "multinomial" and n_outputs > 1:
            return MULTINOMIAL
        return CLASSIFICATION_LOSSES[self.loss]

    def _auto_stochastic_schedule(self):
        if self.alpha > 0:
            return "optimal", 0.0
        return "invscaling", self.eta0

    def _prepare_targets(self, y, *, classes, partial, first_call):
        """Label codes: 0 (positive) / -1 for two classes, else the class index."""
        check_classification_targets(y)
        if partial and first_call:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
            self.classes_ = np.unique(classes)
        elif partial:
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(
                    f"classes={classes!r} differs from the classes of the first "
                    f"partial_fit call, {self.classes_!r}."
                )
        else:
            self.classes_ = np.unique(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_) if partial else []
        if len(unseen):  # only partial_fit's classes can miss labels of y
            raise ValueError(
                f"y contains labels {unseen!r} that are not in classes "
                f"{self.classes_!r}."
            )
        if len(self.classes_) < 2:
            raise ValueError(
                f"GDClassifier needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {self.classes_[0]!r}."
            )
        index = np.searchsorted(self.classes_, y).astype(np.int32)
        if len(self.classes_) == 2:
            return Targets(np.empty((0, 0)), np.where(index == 1, 0, -1).astype(np.int32), 1)
        return Targets(np.empty((0, 0)), index, len(self.classes_))

    def _class_weights(self, y, labels):
        """scikit-learn's class weights, as ``(pos_weight, neg_weight, row_factor)``.

        Binary: rows of the positive class weigh ``w[1]``, the others
        ``w[0]``. One-vs-rest: in the problem of class ``k``, its rows weigh
        ``w[k]`` and every other row 1, as in ``SGDClassifier``.
        Multinomial (one joint problem): every row weighs its own class's
        weight.
        """
        n_classes = len(self.classes_)
        if self.class_weight is None:
            weights = np.ones(n_classes)
        else:
            weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            if not (np.isfinite(weights).all() and (weights >= 0).all()):
                raise ValueError(
                    f"class_weight must map every class to a finite, non-negative "
                    f"weight; got {self.class_weight!r}."
                )
        if n_classes == 2:
            return weights[1:], weights[:1], 1.0
        if self.multi_class == "multinomial":
            return np.ones(n_classes), np.ones(n_classes), weights[labels]
        return weights, np.ones(n_classes), 1.0

    def _independent_outputs(self, problem):
        return problem.n_outputs > 1 and problem.loss_code != MULTINOMIAL

    def _split_stratify(self, y):
        return y

    def _validation_scores(self, X, y, sample_weight, W, b):
        """Weighted accuracy overall, and of each one-vs-rest problem's own sign.

        In blocks of rows, so that memory stays O(block x n_classes).
        """
        one_vs_rest = W.shape[0] > 1 and self.multi_class != "multinomial"
        correct, per_class = 0.0, np.zeros(W.shape[0])
        for rows in row_blocks(X.shape[0], W.shape[0]):
            scores = self._finite_decision(X[rows], W, b)
            weight = sample_weight[rows]
            correct += weight @ (self._labels(scores) == y[rows])
            if one_vs_rest:
                per_class += weight @ ((scores > 0) == (y[rows, None] == self.classes_[None, :]))
        total = sample_weight.sum()
        overall = float(correct / total)
        return overall, (per_class / total if one_vs_rest else np.array([overall]))
