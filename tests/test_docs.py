"""Build the documentation with warnings as errors (skipped without sphinx)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (out / "api.html").read_text(encoding="utf-8")
    for name in ("skgd.GDRegressor", "skgd.GDClassifier", "skgd.plotting.ConvergenceDisplay",
                 "skgd.GDRegressor.partial_fit", "skgd.plotting.ConvergenceDisplay.from_estimator"):
        assert f'id="{name}' in api, name
    guide = (out / "user_guide.html").read_text(encoding="utf-8")
    assert "images/plot_solvers.png" in guide
    assert (out / "_images" / "plot_solvers.png").exists()
