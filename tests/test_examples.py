"""Run every example in quick mode: it must exit 0, print its numbers and save its figure."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(path.stem for path in EXAMPLES_DIR.glob("*.py") if not path.stem.startswith("_"))


def run_example(name, *args, env_vars=None):
    """Run ``examples/<name>.py`` in a subprocess that imports this tree's skgd."""
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **(env_vars or {}),
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / f"{name}.py"), *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
    )


def test_every_example_is_tested():
    assert set(EXAMPLES) >= {
        "compare_sklearn", "grid_search", "out_of_core", "plot_optimizers",
        "plot_schedules", "plot_solvers",
    }


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Run every example in quick mode, two at a time (the machine has two cores)."""
    output_dir = tmp_path_factory.mktemp("examples")
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {name: pool.submit(run_example, name, "--quick", "--output-dir", str(output_dir))
                for name in EXAMPLES}
    return output_dir, {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_quickly_and_saves_its_figure(name, quick_runs):
    output_dir, results = quick_runs
    result = results[name]
    assert result.returncode == 0, result.stdout + result.stderr
    figure = output_dir / f"{name}.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Saved {figure}" in result.stdout
    # Every example prints a table of its numbers before the figure's path.
    assert any(char.isdigit() for char in result.stdout.split("Saved")[0])
    if name == "out_of_core":
        dask_installed = _importable("dask_ml") and _importable("dask.array")
        assert ("dask-ml Incremental" in result.stdout) == dask_installed
        if dask_installed:
            assert "between the two loss curves: 0" in result.stdout


def test_quick_mode_and_output_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES_DIR))
    common = pytest.importorskip("_common")
    monkeypatch.setattr(sys, "argv", ["example.py"])
    monkeypatch.delenv("SKGD_EXAMPLES_QUICK", raising=False)
    monkeypatch.delenv("SKGD_EXAMPLES_OUTPUT", raising=False)
    args = common.parse_args("doc")
    assert not args.quick and args.output_dir == EXAMPLES_DIR

    monkeypatch.setenv("SKGD_EXAMPLES_QUICK", "1")
    monkeypatch.setenv("SKGD_EXAMPLES_OUTPUT", str(tmp_path))
    args = common.parse_args("doc")
    assert args.quick and args.output_dir == tmp_path


def test_dask_ml_incremental_calls_partial_fit_per_chunk():
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from sklearn.metrics import r2_score

    from skgd import GDRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=600)
    X_dask, y_dask = da.from_array(X, chunks=(200, 4)), da.from_array(y, chunks=200)
    incremental = wrappers.Incremental(GDRegressor(random_state=0), shuffle_blocks=False)
    incremental.fit(X_dask, y_dask)
    assert len(incremental.estimator_.loss_curve_) == 3  # one partial_fit epoch per chunk
    assert incremental.estimator_.n_iter_ == 1  # (the last call's, as in scikit-learn)
    assert r2_score(y, incremental.predict(X_dask).compute()) > 0.95


def _importable(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True
