"""Plots of how a fit converged.

:class:`ConvergenceDisplay` draws the training objective per epoch
(``loss_curve_``) of one or several fitted estimators and, when they were
fitted with early stopping, their validation score per epoch
(``validation_scores_``) on a second y axis. It follows scikit-learn's
``Display`` convention: build it with :meth:`ConvergenceDisplay.from_estimator`,
redraw it with :meth:`ConvergenceDisplay.plot`.

matplotlib is an optional dependency (``pip install "skgd[plot]"``); it is
imported only when a figure is drawn.
"""

from collections.abc import Mapping

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

# ``log_scale="auto"`` uses a log y axis when the positive curves span more
# than this many decades.
AUTO_LOG_DECADES = 2


def _import_pyplot():
    """Import ``matplotlib.pyplot``, or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "ConvergenceDisplay needs matplotlib, which is an optional "
            'dependency of skgd. Install it with: pip install "skgd[plot]"'
        ) from exc
    return plt


def _curve_holder(estimator):
    """The fitted estimator that holds ``loss_curve_`` (a pipeline's last step)."""
    check_is_fitted(estimator)
    holder = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if not hasattr(holder, "loss_curve_"):
        raise ValueError(
            f"{type(holder).__name__} has no loss_curve_ attribute. "
            "ConvergenceDisplay plots estimators that record their training "
            "objective per epoch, such as GDRegressor and GDClassifier."
        )
    return holder


def _default_labels(holders):
    """Class names, each followed by the parameters that differ from its class peers'."""
    params = [holder.get_params(deep=False) for holder in holders]
    labels = []
    for holder, own in zip(holders, params):
        peers = [p for other, p in zip(holders, params) if type(other) is type(holder)]
        shown = ", ".join(
            f"{name}={value!r}" for name, value in own.items()
            if len({repr(p[name]) for p in peers}) > 1
        )
        labels.append(f"{type(holder).__name__}({shown})" if shown else type(holder).__name__)
    return labels


def _estimators_and_labels(estimator, label):
    """Normalise ``from_estimator``'s input to a list of estimators and of labels.

    A label of None is filled in later from the fitted estimators; a single
    estimator without a label gets none (and no legend).
    """
    if isinstance(estimator, Mapping):
        if label is not None:
            raise ValueError(
                "label must be None when the estimators are given as a dict: "
                "the dict's keys are the labels."
            )
        return list(estimator.values()), [str(key) for key in estimator]
    if isinstance(estimator, (list, tuple)):
        estimators = list(estimator)
        if not estimators:
            raise ValueError("Got an empty list of estimators; pass at least one.")
        if label is None:
            return estimators, None
        if isinstance(label, str) or len(label) != len(estimators):
            raise ValueError(
                f"label must be a list of {len(estimators)} strings, one per "
                f"estimator; got {label!r}."
            )
        return estimators, list(label)
    return [estimator], [label]


def _score_name(estimators):
    """Axis label of the validation scores: accuracy, R² or, if mixed, score."""
    if all(is_classifier(est) for est in estimators):
        return "validation accuracy"
    if all(is_regressor(est) for est in estimators):
        return "validation R²"
    return "validation score"


def _use_log_scale(curves, log_scale):
    """Resolve ``log_scale`` (``"auto"``, True or False) for these curves."""
    if isinstance(log_scale, str) and log_scale == "auto":
        values = np.concatenate(curves)
        values = values[np.isfinite(values)]
        if values.size == 0 or values.min() <= 0:
            return False
        return values.max() / values.min() > 10.0**AUTO_LOG_DECADES
    if isinstance(log_scale, (bool, np.bool_)):
        return bool(log_scale)
    raise ValueError(f'log_scale must be "auto", True or False; got {log_scale!r}.')


class ConvergenceDisplay:
    """Training objective per epoch, and validation score if any, of fitted estimators.

    Build it with :meth:`from_estimator`. The constructor takes the curves
    themselves, so that curves recorded elsewhere can be drawn the same way;
    all parameters are stored as attributes.

    Parameters
    ----------
    loss_curves : list of array-like of float
        One training-objective curve per estimator, one value per epoch
        (an estimator's ``loss_curve_``).
    validation_scores : list of (array-like of float or None), default=None
        One validation-score curve per estimator (its
        ``validation_scores_``), or None for an estimator without one. None:
        no validation curves.
    labels : list of (str or None), default=None
        Legend label of each curve; curves labelled None stay out of the
        legend. None: no legend.
    score_name : str, default="validation score"
        Label of the second y axis, which holds the validation scores.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D or list of matplotlib.lines.Line2D
        The training-objective line, or the list of them when several
        curves are drawn (as in scikit-learn's displays).
    lines_ : list of matplotlib.lines.Line2D
        The training-objective lines, one per curve, always a list.
    validation_lines_ : list of (matplotlib.lines.Line2D or None)
        The validation-score line of each curve, None where it has none.
    ax_ : matplotlib.axes.Axes
        The axes of the training objective.
    ax_validation_ : matplotlib.axes.Axes or None
        The twin axes (sharing x) of the validation scores, or None when no
        curve has validation scores.
    figure_ : matplotlib.figure.Figure
        The figure holding the axes.

    See Also
    --------
    ConvergenceDisplay.from_estimator : Plot the curves of fitted estimators.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skgd import GDRegressor
    >>> from skgd.plotting import ConvergenceDisplay
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> models = {
    ...     solver: GDRegressor(solver=solver, max_iter=20, tol=None,
    ...                         random_state=0).fit(X, y)
    ...     for solver in ("stochastic", "batch")
    ... }
    >>> display = ConvergenceDisplay.from_estimator(models)
    >>> len(display.lines_)
    2
    >>> plt.close(display.figure_)
    """

    def __init__(
        self, *, loss_curves, validation_scores=None, labels=None,
        score_name="validation score",
    ):
        self.loss_curves = loss_curves
        self.validation_scores = validation_scores
        self.labels = labels
        self.score_name = score_name

    def plot(self, ax=None, *, log_scale="auto", **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on. None: a new figure and axes.
        log_scale : "auto" or bool, default="auto"
            Whether the training-objective axis is logarithmic. ``"auto"``:
            when every value is positive and the curves span more than two
            decades.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every
            training-objective line (e.g. ``linewidth``, ``marker``).

        Returns
        -------
        display : ConvergenceDisplay
            The display, with the attributes ``ax_``, ``figure_``, ``line_``
            and ``lines_`` set.
        """
        plt = _import_pyplot()
        curves = [np.asarray(curve, dtype=np.float64) for curve in self.loss_curves]
        n_curves = len(curves)
        scores = [None] * n_curves if self.validation_scores is None else self.validation_scores
        labels = [None] * n_curves if self.labels is None else self.labels
        if not (len(scores) == len(labels) == n_curves):
            raise ValueError(
                f"Got {n_curves} loss curves, {len(scores)} validation curves "
                f"and {len(labels)} labels; they must be as many."
            )
        use_log_scale = _use_log_scale(curves, log_scale)
        if ax is None:
            _, ax = plt.subplots()

        self.lines_, self.validation_lines_, self.ax_validation_ = [], [], None
        for curve, score, label in zip(curves, scores, labels):
            epochs = np.arange(1, curve.size + 1)
            (line,) = ax.plot(epochs, curve, **{"label": label, **kwargs})
            self.lines_.append(line)
            if score is None:
                self.validation_lines_.append(None)
                continue
            if self.ax_validation_ is None:
                self.ax_validation_ = ax.twinx()
                self.ax_validation_.set_ylabel(self.score_name)
            (validation_line,) = self.ax_validation_.plot(
                np.arange(1, len(score) + 1), score, linestyle="--",
                color=line.get_color(),
                label=f"{label} ({self.score_name})" if label else None,
            )
            self.validation_lines_.append(validation_line)

        if use_log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training objective")
        lines = self.lines_ + [line for line in self.validation_lines_ if line is not None]
        handles = [line for line in lines if not line.get_label().startswith("_")]
        if handles:
            ax.legend(handles=handles)

        self.ax_ = ax
        self.figure_ = ax.figure
        self.line_ = self.lines_[0] if n_curves == 1 else self.lines_
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, label=None, log_scale="auto", **kwargs):
        """Plot the training objective per epoch of one or several fitted estimators.

        Parameters
        ----------
        estimator : estimator, list of estimators or dict of str to estimator
            Fitted estimator(s) with a ``loss_curve_`` attribute (a
            :class:`~skgd.GDRegressor`, a :class:`~skgd.GDClassifier`, or a
            :class:`~sklearn.pipeline.Pipeline` ending in one). A list or a
            dict draws them all on one axes; a dict's keys are the labels.
            Each estimator's ``validation_scores_``, when not None (with
            ``early_stopping=True``), is drawn dashed on a second y axis.
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on. None: a new figure and axes.
        label : str or list of str, default=None
            Legend label of the estimator, or one per estimator of a list.
            None: no legend for a single estimator; for a list, each
            estimator's class name followed by the parameters that differ
            between them, e.g. ``GDRegressor(solver='batch')``; for a dict,
            its keys.
        log_scale : "auto" or bool, default="auto"
            Whether the training-objective axis is logarithmic. ``"auto"``:
            when every value is positive and the curves span more than two
            decades.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every
            training-objective line.

        Returns
        -------
        display : ConvergenceDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If an estimator is not fitted.
        ValueError
            If an estimator has no ``loss_curve_``, or ``label`` does not
            match the estimators.
        """
        estimators, labels = _estimators_and_labels(estimator, label)
        holders = [_curve_holder(est) for est in estimators]
        if labels is None:
            labels = _default_labels(holders)
        display = cls(
            loss_curves=[list(holder.loss_curve_) for holder in holders],
            validation_scores=[getattr(holder, "validation_scores_", None) for holder in holders],
            labels=labels,
            score_name=_score_name(holders),
        )
        return display.plot(ax=ax, log_scale=log_scale, **kwargs)
