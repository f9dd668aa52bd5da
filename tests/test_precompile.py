"""The kernels compiled at install time (``skgd._precompile``, run by ``setup.py``)
serve the first fits of a new environment, and a stale cache is never used."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import skgd
from skgd._jit import SOURCES_STAMP, clear_stale_cache

PACKAGE = Path(skgd.__file__).resolve().parent

# The default fits of every solver on other data than the warm-up's, and how
# many of the compiled functions they called were compiled (numba's cache
# misses) and how many were loaded from the cache.
FITS_AND_CACHE_STATS = """
import numpy as np, scipy.sparse as sp, warnings
from numba.core.registry import CPUDispatcher
from sklearn.datasets import load_diabetes, load_iris
import skgd, sys
warnings.simplefilter("ignore")
X, y = load_diabetes(return_X_y=True)
Xi, yi = load_iris(return_X_y=True)
for solver in ("stochastic", "minibatch", "batch"):
    for rows in (X, sp.csr_matrix(X)):
        skgd.GDRegressor(solver=solver).fit(rows, y)
    for rows in (Xi, sp.csr_matrix(Xi)):
        skgd.GDClassifier(solver=solver).fit(rows, yi)
        skgd.GDClassifier(solver=solver).fit(rows, yi == 0)
misses = hits = 0
for module in [m for name, m in sys.modules.items() if name.startswith("skgd")]:
    for value in vars(module).values():
        if isinstance(value, CPUDispatcher):
            misses += sum(value.stats.cache_misses.values())
            hits += sum(value.stats.cache_hits.values())
print(skgd.__file__, misses, hits)
"""


def _python(code_or_module, package_parent, *, module=False):
    """Run Python on the copy of skgd under ``package_parent``, with numba's
    default (in-tree) cache, as an installed package has it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(package_parent)
    command = ["-m", code_or_module] if module else ["-c", code_or_module]
    return subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True,
                          timeout=900, check=True, cwd=package_parent).stdout


def test_the_warm_up_compiles_what_the_default_fits_use_and_the_cache_moves_with_the_package(
        tmp_path):
    # setup.py compiles the kernels in the built package; pip then copies
    # the package (new paths, new file times) into the environment. numba
    # stamps a cached kernel with its source file's hash, so the copy loads
    # them: a first default fit takes about 0.4 s instead of 6-7 s.
    built, installed = tmp_path / "build", tmp_path / "site-packages"
    shutil.copytree(PACKAGE, built / "skgd", ignore=shutil.ignore_patterns("__pycache__"))
    _python("skgd._precompile", built, module=True)
    assert (built / "skgd" / "__pycache__" / SOURCES_STAMP).exists()
    shutil.copytree(built / "skgd", installed / "skgd", copy_function=shutil.copy)
    path, misses, hits = _python(FITS_AND_CACHE_STATS, installed).split()
    assert Path(path).resolve().is_relative_to(installed)
    assert int(misses) == 0
    assert int(hits) >= 8  # (each solver's loop, the evaluations, the column scans, ...)


def _package_with_cache(root, source="x = 1\n"):
    (root / "__pycache__").mkdir(parents=True, exist_ok=True)
    (root / "_module.py").write_text(source)
    for name in ("_module.kernel-10.py311.nbi", "_module.kernel-10.py311.1.nbc"):
        (root / "__pycache__" / name).write_bytes(b"compiled")
    return sorted(p.name for p in (root / "__pycache__").glob("*.nb?"))


def test_a_cache_compiled_from_other_sources_is_cleared(tmp_path):
    # numba checks a kernel against its own file only, not against the
    # modules whose helpers it inlines; the stamp covers all of them.
    cached = _package_with_cache(tmp_path)
    assert clear_stale_cache(tmp_path)  # no stamp yet: whatever is there may be stale
    assert not list((tmp_path / "__pycache__").glob("*.nb?"))
    assert _package_with_cache(tmp_path) == cached
    assert not clear_stale_cache(tmp_path)  # the same sources: kept
    assert sorted(p.name for p in (tmp_path / "__pycache__").glob("*.nb?")) == cached
    _package_with_cache(tmp_path, source="x = 2\n")  # an edit of any module
    assert clear_stale_cache(tmp_path)
    assert not list((tmp_path / "__pycache__").glob("*.nb?"))
