"""Tests of skgd.plotting.ConvergenceDisplay, drawn with the Agg backend."""

import doctest
import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skgd.plotting
from skgd import GDClassifier, GDRegressor
from skgd.plotting import ConvergenceDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def regression_data():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def classification_data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def fitted_regressor(X, y, **params):
    return GDRegressor(max_iter=12, tol=None, random_state=0, **params).fit(X, y)


def test_single_estimator_draws_its_loss_curve(regression_data):
    reg = fitted_regressor(*regression_data, solver="batch")
    display = ConvergenceDisplay.from_estimator(reg)

    assert len(display.lines_) == 1
    assert display.line_ is display.lines_[0]
    x, y = display.line_.get_data()
    np.testing.assert_array_equal(x, np.arange(1, 13))
    np.testing.assert_allclose(y, reg.loss_curve_)
    assert display.ax_.get_xlabel() == "epoch"
    assert display.ax_.get_ylabel() == "training objective"
    assert display.figure_ is display.ax_.figure
    assert display.ax_validation_ is None
    assert display.validation_lines_ == [None]
    assert display.ax_.get_legend() is None
    assert len(display.ax_.get_lines()) == 1


def test_draws_on_given_axes_with_line_kwargs(regression_data):
    reg = fitted_regressor(*regression_data)
    _, ax = plt.subplots()
    display = ConvergenceDisplay.from_estimator(reg, ax=ax, label="sgd", linewidth=3)
    assert display.ax_ is ax
    assert display.line_.get_linewidth() == 3
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["sgd"]


def test_several_estimators_on_one_axes(regression_data):
    solvers = ("stochastic", "minibatch", "batch")
    models = [fitted_regressor(*regression_data, solver=solver) for solver in solvers]
    display = ConvergenceDisplay.from_estimator(models)

    assert isinstance(display.line_, list) and display.line_ == display.lines_
    assert len(display.ax_.get_lines()) == 3
    for line, model in zip(display.lines_, models):
        np.testing.assert_allclose(line.get_ydata(), model.loss_curve_)
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == [f"GDRegressor(solver={solver!r})" for solver in solvers]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_default_labels_show_what_differs_within_each_class(regression_data):
    X, y = regression_data
    models = [
        fitted_regressor(X, y, solver="batch"),
        fitted_regressor(X, y, solver="batch", optimizer="adam"),
        MLPRegressor(hidden_layer_sizes=(3,), max_iter=4, random_state=0).fit(X, y),
    ]
    display = ConvergenceDisplay.from_estimator(models)
    assert [line.get_label() for line in display.lines_] == [
        "GDRegressor(optimizer='sgd')", "GDRegressor(optimizer='adam')", "MLPRegressor",
    ]
    np.testing.assert_allclose(display.lines_[2].get_ydata(), models[2].loss_curve_)


def test_dict_keys_are_labels_and_curves_may_differ_in_length(regression_data):
    short = fitted_regressor(*regression_data, solver="batch")
    long = GDRegressor(max_iter=30, tol=None, random_state=0).fit(*regression_data)
    display = ConvergenceDisplay.from_estimator({"short": short, "long": long})
    assert [line.get_label() for line in display.lines_] == ["short", "long"]
    assert [len(line.get_xdata()) for line in display.lines_] == [12, 30]


def test_validation_curve_with_early_stopping(classification_data):
    clf = GDClassifier(loss="log_loss", early_stopping=True, random_state=0)
    clf.fit(*classification_data)
    display = ConvergenceDisplay.from_estimator(clf, label="log loss")

    assert display.ax_validation_ is not None
    assert display.ax_validation_.get_ylabel() == "validation accuracy"
    (validation_line,) = display.validation_lines_
    np.testing.assert_allclose(validation_line.get_ydata(), clf.validation_scores_)
    np.testing.assert_allclose(display.line_.get_ydata(), clf.loss_curve_)
    assert validation_line.get_color() == display.line_.get_color()
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["log loss", "log loss (validation accuracy)"]


def test_validation_only_where_recorded(regression_data):
    with_val = GDRegressor(early_stopping=True, random_state=0).fit(*regression_data)
    without = fitted_regressor(*regression_data)
    display = ConvergenceDisplay.from_estimator([with_val, without])
    assert display.ax_validation_.get_ylabel() == "validation R²"
    assert display.validation_lines_[1] is None
    np.testing.assert_allclose(
        display.validation_lines_[0].get_ydata(), with_val.validation_scores_
    )


def test_pipeline_uses_its_last_step(regression_data):
    X, y = regression_data
    pipe = make_pipeline(StandardScaler(), GDRegressor(max_iter=7, tol=None)).fit(X, y)
    display = ConvergenceDisplay.from_estimator(pipe)
    np.testing.assert_allclose(display.line_.get_ydata(), pipe[-1].loss_curve_)


@pytest.mark.parametrize(
    "estimator",
    [GDRegressor(), [GDClassifier()], make_pipeline(StandardScaler(), GDRegressor())],
)
def test_refuses_unfitted_estimator(estimator):
    with pytest.raises(NotFittedError):
        ConvergenceDisplay.from_estimator(estimator)


def test_refuses_estimator_without_loss_curve(regression_data):
    sgd = SGDRegressor().fit(*regression_data)
    with pytest.raises(ValueError, match="no loss_curve_"):
        ConvergenceDisplay.from_estimator(sgd)


def test_label_must_match_estimators(regression_data):
    reg = fitted_regressor(*regression_data)
    with pytest.raises(ValueError, match="list of 2 strings"):
        ConvergenceDisplay.from_estimator([reg, reg], label=["only one"])
    with pytest.raises(ValueError, match="dict's keys are the labels"):
        ConvergenceDisplay.from_estimator({"a": reg}, label="b")
    with pytest.raises(ValueError, match="empty list"):
        ConvergenceDisplay.from_estimator([])


@pytest.mark.parametrize(
    "curves, log_scale, expected",
    [
        ([[1000.0, 10.0, 1.0]], "auto", "log"),  # three decades
        ([[50.0, 10.0, 1.0]], "auto", "linear"),  # under two decades
        ([[1000.0, 10.0], [5.0, 1.0]], "auto", "log"),  # the span is over all curves
        ([[1000.0, 1.0, 0.0]], "auto", "linear"),  # not positive
        ([[50.0, 10.0, 1.0]], True, "log"),
        ([[1000.0, 10.0, 1.0]], False, "linear"),
    ],
)
def test_log_scale(curves, log_scale, expected):
    display = ConvergenceDisplay(loss_curves=curves).plot(log_scale=log_scale)
    assert display.ax_.get_yscale() == expected


def test_invalid_log_scale():
    with pytest.raises(ValueError, match="log_scale"):
        ConvergenceDisplay(loss_curves=[[1.0, 0.5]]).plot(log_scale="yes")


def test_mismatched_constructor_lengths():
    with pytest.raises(ValueError, match="as many"):
        ConvergenceDisplay(loss_curves=[[1.0], [2.0]], labels=["one"]).plot()


def test_missing_matplotlib_names_the_extra(regression_data, monkeypatch):
    reg = fitted_regressor(*regression_data)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skgd\[plot\]"'):
        ConvergenceDisplay.from_estimator(reg)


def test_docstring_examples():
    result = doctest.testmod(skgd.plotting, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
