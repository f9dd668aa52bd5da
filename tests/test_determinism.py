"""Same inputs, same bits: across runs, processes, threads and pickles.

Everything random in a fit comes from ``random_state`` through numpy, and the
kernels are deterministic, so every comparison here is exact
(``assert_array_equal``), not a tolerance.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skgd import GDClassifier, GDRegressor
from skgd._base import row_shuffler

SOLVERS = ("stochastic", "minibatch", "batch")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _regression(n=80, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=d) + 0.3 * rng.normal(size=n)


def _classification(n=90, d=5, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    scores = X @ rng.normal(size=(d, n_classes)) + 0.5 * rng.normal(size=(n, n_classes))
    return X, np.argmax(scores, axis=1)


def _estimator(kind, **params):
    params.setdefault("random_state", 0)
    params.setdefault("max_iter", 50)
    if kind == "regressor":
        return GDRegressor(**params), *_regression()
    if kind == "multinomial":
        return GDClassifier(loss="log_loss", multi_class="multinomial", **params), *_classification()
    return GDClassifier(loss="log_loss", **params), *_classification()


def _fitted_arrays(est):
    return {
        "coef_": est.coef_,
        "intercept_": est.intercept_,
        "loss_curve_": np.asarray(est.loss_curve_),
        "n_iter_": np.asarray(est.n_iter_),
    }


def _assert_bit_identical(a, b):
    for name, value in _fitted_arrays(a).items():
        assert_array_equal(value, _fitted_arrays(b)[name], err_msg=name)


# ---------------------------------------------------------------------------
# Run to run
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["regressor", "classifier", "multinomial"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_same_random_state_same_bits(kind, solver, optimizer):
    est, X, y = _estimator(kind, solver=solver, optimizer=optimizer)
    first = clone(est).fit(X, y)
    second = clone(est).fit(X, y)
    _assert_bit_identical(first, second)
    assert np.isfinite(first.coef_).all()


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize(
    "params",
    [
        {"early_stopping": True},
        {"average": 10, "solver": "minibatch"},
        {"penalty": "elasticnet", "solver": "stochastic"},
        {"learning_rate": "adaptive", "eta0": 0.01, "solver": "minibatch"},
    ],
    ids=["early_stopping", "average", "elasticnet", "adaptive"],
)
def test_same_random_state_same_bits_with_more_options(kind, params):
    est, X, y = _estimator(kind, **params)
    first = clone(est).fit(X, y)
    second = clone(est).fit(X, y)
    _assert_bit_identical(first, second)
    if params.get("early_stopping"):
        assert_array_equal(first.validation_scores_, second.validation_scores_)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize("solver", ["stochastic", "minibatch"])
def test_the_seed_matters(kind, solver):
    """Guard for the tests above: the seed really drives the shuffling."""
    est, X, y = _estimator(kind, solver=solver, tol=None, max_iter=3)
    a = clone(est).set_params(random_state=0).fit(X, y)
    b = clone(est).set_params(random_state=1).fit(X, y)
    assert not np.array_equal(a.coef_, b.coef_)


def test_an_int_seed_takes_a_generator_and_a_random_state_is_used_as_given():
    # An int seeds numpy's Generator (7 us, where a RandomState takes 90 of
    # a one-epoch fit's 1.1 ms); an instance is scikit-learn's to pass on.
    assert isinstance(row_shuffler(0), np.random.Generator)
    assert isinstance(row_shuffler(np.int64(3)), np.random.Generator)
    instance = np.random.RandomState(0)
    assert row_shuffler(instance) is instance
    assert row_shuffler(None) is np.random.mtrand._rand


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_a_random_state_instance_is_used_as_given(kind):
    """An int seeds a Generator of skgd's own; a RandomState is drawn from, as in scikit-learn.

    Two fresh RandomState(0) give the same fit, and a second fit with the
    same instance continues its stream: other row orders, another model.
    """
    est, X, y = _estimator(kind, tol=None, max_iter=3)
    first = clone(est).set_params(random_state=np.random.RandomState(0)).fit(X, y)
    again = clone(est).set_params(random_state=np.random.RandomState(0)).fit(X, y)
    _assert_bit_identical(first, again)
    shared = np.random.RandomState(0)
    clone(est).set_params(random_state=shared).fit(X, y)
    continued = clone(est).set_params(random_state=shared).fit(X, y)
    assert not np.array_equal(first.coef_, continued.coef_)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_partial_fit_sequences_are_reproducible(kind, solver):
    est, X, y = _estimator(kind, solver=solver, optimizer="adam")
    kwargs = {} if kind == "regressor" else {"classes": np.unique(y)}
    runs = []
    for _ in range(2):
        model = clone(est)
        for start in range(0, len(y), 30):
            model.partial_fit(X[start:start + 30], y[start:start + 30], **kwargs)
        runs.append(model)
    _assert_bit_identical(*runs)


# ---------------------------------------------------------------------------
# Across processes: GridSearchCV with joblib workers
# ---------------------------------------------------------------------------
def _score_and_pid(estimator, X, y):
    return {"score": estimator.score(X, y), "pid": os.getpid()}


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_grid_search_in_worker_processes_matches_sequential(kind):
    est, X, y = _estimator(kind)
    grid = {"solver": list(SOLVERS), "alpha": [1e-4, 1e-2], "optimizer": ["sgd", "adam"]}
    results = {}
    for n_jobs in (1, 2):
        search = GridSearchCV(
            est, grid, cv=3, n_jobs=n_jobs, scoring=_score_and_pid, refit="score"
        ).fit(X, y)
        results[n_jobs] = search
    sequential, parallel = results[1], results[2]
    # The parallel search really ran in other processes.
    pids = {
        int(pid)
        for split in range(3)
        for pid in parallel.cv_results_[f"split{split}_test_pid"]
    }
    assert os.getpid() not in pids and len(pids) >= 1
    for key, value in sequential.cv_results_.items():
        if "test_score" in key and not key.startswith("rank") and "std" not in key:
            assert_array_equal(parallel.cv_results_[key], value, err_msg=key)
    assert_array_equal(parallel.cv_results_["rank_test_score"], sequential.cv_results_["rank_test_score"])
    assert parallel.best_params_ == sequential.best_params_
    assert_array_equal(parallel.best_estimator_.coef_, sequential.best_estimator_.coef_)


# ---------------------------------------------------------------------------
# Across threads
# ---------------------------------------------------------------------------
def test_concurrent_fits_in_threads_match_sequential_fits():
    configs = []
    for kind in ("regressor", "classifier", "multinomial"):
        for solver in SOLVERS:
            for optimizer in ("sgd", "adam"):
                configs.append(_estimator(kind, solver=solver, optimizer=optimizer))
    sequential = [clone(est).fit(X, y) for est, X, y in configs]

    def fit(config):
        est, X, y = config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return clone(est).fit(X, y)

    for _ in range(2):
        with ThreadPoolExecutor(max_workers=4) as pool:
            threaded = list(pool.map(fit, configs))
        for a, b in zip(sequential, threaded):
            _assert_bit_identical(a, b)


def test_one_large_problem_fitted_by_several_threads_at_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = X @ rng.normal(size=20)
    est = GDRegressor(solver="minibatch", optimizer="momentum", random_state=0, max_iter=5, tol=None)
    reference = clone(est).fit(X, y)
    with ThreadPoolExecutor(max_workers=4) as pool:
        models = list(pool.map(lambda _: clone(est).fit(X, y), range(4)))
    for model in models:
        _assert_bit_identical(reference, model)


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------
def _prediction_outputs(est, X):
    outputs = {"predict": est.predict(X)}
    if isinstance(est, GDClassifier):
        outputs["decision_function"] = est.decision_function(X)
        if est.loss in ("log_loss", "modified_huber"):
            outputs["predict_proba"] = est.predict_proba(X)
    return outputs


@pytest.mark.parametrize("kind", ["regressor", "classifier", "multinomial"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_pickle_round_trip_predicts_and_continues_identically(kind, solver):
    est, X, y = _estimator(kind, solver=solver, optimizer="adam")
    est.fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    for name, value in _prediction_outputs(est, X).items():
        assert_array_equal(_prediction_outputs(loaded, X)[name], value, err_msg=name)
    # The optimizer state travels with the model: continuing gives the same bits.
    est.partial_fit(X, y)
    loaded.partial_fit(X, y)
    _assert_bit_identical(est, loaded)


FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, pickle, sys, time
    import numpy as np

    def dispatchers():
        # Every numba dispatcher defined in any skgd module.
        from numba.core.dispatcher import Dispatcher
        found = {}
        for name, module in list(sys.modules.items()):
            if name == "skgd" or name.startswith("skgd."):
                for attr, obj in vars(module).items():
                    if isinstance(obj, Dispatcher):
                        found[f"{name}.{attr}"] = obj
        return found

    def specialisations():
        # A dispatcher lists a signature for every specialisation it holds,
        # whether compiled now or loaded from the on-disk cache.
        return {k: len(d.signatures) for k, d in dispatchers().items()}

    out_dir = sys.argv[1]
    with open(f"{out_dir}/models.pkl", "rb") as f:
        models, X = pickle.load(f)
    # numba itself loads at the first fit, not with skgd or a prediction.
    report = {"numba_after_load": "numba" in sys.modules, "predict_seconds": {}}
    outputs = {}
    for key, model in models.items():
        start = time.perf_counter()
        outputs[f"{key}/predict"] = model.predict(X)
        report["predict_seconds"][key] = time.perf_counter() - start
        if hasattr(model, "decision_function"):
            outputs[f"{key}/decision_function"] = model.decision_function(X)
        if getattr(model, "loss", None) == "log_loss":
            outputs[f"{key}/predict_proba"] = model.predict_proba(X)
    report["numba_after_predict"] = "numba" in sys.modules
    # Cross-process determinism: refit every model from its parameters.
    with open(f"{out_dir}/data.pkl", "rb") as f:
        data = pickle.load(f)
    for key, model in models.items():
        X_fit, y_fit = data[key]
        refit = type(model)(**model.get_params()).fit(X_fit, y_fit)
        outputs[f"{key}/refit_coef"] = refit.coef_
        outputs[f"{key}/refit_intercept"] = refit.intercept_
    # Positive control: fitting does register specialisations.
    report["after_fit"] = specialisations()
    report["n_dispatchers"] = len(dispatchers())
    np.savez(f"{out_dir}/outputs.npz", **outputs)
    with open(f"{out_dir}/report.json", "w") as f:
        json.dump(report, f)
    """
)


def test_fresh_process_predicts_identically_without_numba(tmp_path):
    """A pickled model predicts in a fresh process with the same bits and
    without touching numba.

    Robust check: numba is imported only when the first kernel runs, so
    after unpickling and predicting it is not in ``sys.modules`` at all. A
    timing threshold would be flaky on a shared machine and would miss a
    cache load. The positive control (a fit in the same process leaves
    numba dispatchers with specialisations, compiled or loaded from the
    disk cache) shows the probe works.
    """
    models, data = {}, {}
    for key, kind, params in [
        ("regressor-batch", "regressor", {"solver": "batch"}),
        ("regressor-stochastic-adam", "regressor", {"optimizer": "adam"}),
        ("classifier-minibatch", "classifier", {"solver": "minibatch"}),
        ("multinomial-batch", "multinomial", {"solver": "batch"}),
    ]:
        est, X, y = _estimator(kind, **params)
        models[key] = est.fit(X, y)
        data[key] = (X, y)
    X_test = np.random.default_rng(42).normal(size=(25, 5))
    with open(tmp_path / "models.pkl", "wb") as f:
        pickle.dump((models, X_test), f)
    with open(tmp_path / "data.pkl", "wb") as f:
        pickle.dump(data, f)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env["PYTHONWARNINGS"] = "ignore"
    script = tmp_path / "fresh.py"
    script.write_text(FRESH_PROCESS_SCRIPT)
    subprocess.run(
        [sys.executable, str(script), str(tmp_path)], check=True, env=env, cwd=tmp_path,
        timeout=300,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    outputs = np.load(tmp_path / "outputs.npz")

    assert not report["numba_after_load"] and not report["numba_after_predict"]
    assert report["n_dispatchers"] > 0
    assert sum(report["after_fit"].values()) > 0, "the probe cannot see specialisations"

    for key, model in models.items():
        assert_array_equal(outputs[f"{key}/predict"], model.predict(X_test), err_msg=key)
        if isinstance(model, GDClassifier):
            assert_array_equal(outputs[f"{key}/decision_function"], model.decision_function(X_test))
            if model.loss == "log_loss":
                assert_array_equal(outputs[f"{key}/predict_proba"], model.predict_proba(X_test))
        assert_array_equal(outputs[f"{key}/refit_coef"], model.coef_, err_msg=key)
        assert_array_equal(outputs[f"{key}/refit_intercept"], model.intercept_, err_msg=key)
    print("fresh-process predict seconds:", report["predict_seconds"])
