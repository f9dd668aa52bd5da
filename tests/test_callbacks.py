"""scikit-learn's callback API (sklearn.callback): one sub-task per epoch."""

import warnings

import numpy as np
import pytest
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


class StopAfterEpoch:
    """Asks the fit to stop at the end of epoch number ``epoch`` (from 0)."""

    def __init__(self, epoch):
        self.epoch = epoch
        self.seen = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.task_name != "epoch":
            return False
        self.seen.append(context.task_id)
        return context.task_id == self.epoch


@pytest.mark.parametrize("solver", ["stochastic", "minibatch", "batch"])
def test_scoring_monitor_records_every_epoch(diabetes, solver):
    X, y = diabetes
    monitor = ScoringMonitor(scoring="r2")
    est = GDRegressor(solver=solver, max_iter=6, tol=None, random_state=0)
    est.set_callbacks(monitor).fit(X, y)
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in epochs] == list(range(est.n_iter_))
    assert epochs[-1]["r2"] == pytest.approx(est.score(X, y), rel=1e-12)


def test_scores_are_those_of_the_model_after_each_epoch(diabetes):
    # The batch solver is deterministic: a fit of k epochs is the model the
    # monitor scored after epoch k.
    X, y = diabetes
    monitor = ScoringMonitor(scoring="r2")
    GDRegressor(solver="batch", max_iter=4, tol=None).set_callbacks(monitor).fit(X, y)
    epochs = [row["r2"] for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    expected = [GDRegressor(solver="batch", max_iter=k, tol=None).fit(X, y).score(X, y) for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(epochs, expected, rtol=1e-12)


@pytest.mark.parametrize("estimator", [GDRegressor(solver="batch"), GDClassifier(solver="minibatch")])
def test_a_callback_can_stop_the_fit(estimator):
    X, y = load_iris(return_X_y=True)
    stopper = StopAfterEpoch(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no failure
        estimator.set_callbacks(stopper).fit(X, y)
    assert estimator.n_iter_ == 3
    assert stopper.seen == [0, 1, 2]


def test_progress_bar_runs(diabetes, capsys):
    pytest.importorskip("rich")
    X, y = diabetes
    est = GDRegressor(solver="minibatch", max_iter=3, tol=None).set_callbacks(ProgressBar())
    est.fit(X, y)
    est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 4


def test_partial_fit_is_one_task_with_one_epoch(diabetes):
    X, y = diabetes
    monitor = ScoringMonitor(scoring="r2")
    est = GDRegressor().set_callbacks(monitor)
    est.partial_fit(X, y)
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(epochs) == 1


def test_no_callbacks_no_output(diabetes, capsys):
    X, y = diabetes
    GDRegressor(max_iter=3, tol=None).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_retried_partial_fit_call_reports_each_epoch_it_ran():
    # Under "auto", a batch partial_fit call of AdaGrad's step that climbs
    # is run again with the step shrunk: each run's epoch is a sub-task of
    # the call (whose number is then not known in advance), where a call
    # that allowed one raised at its second (a review helper's case).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = 10 * X[:, 2] + X[:, 0] + rng.standard_normal(200)
    recorder = StopAfterEpoch(epoch=-1)
    est = GDRegressor(solver="minibatch", random_state=0).partial_fit(X[:60], y[:60])
    est.set_params(solver="batch", optimizer="adagrad").set_callbacks(recorder)
    est.partial_fit(X[60:], y[60:])
    assert est.t_ == 2 + int(np.ceil(60 / est.batch_size))
    assert len(recorder.seen) >= 2 and recorder.seen == list(range(len(recorder.seen)))
