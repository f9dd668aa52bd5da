"""Build hook: compile the default fits' kernels into the built package (``skgd._precompile``).

Everything else about the package is in ``pyproject.toml``. Set
``SKGD_PRECOMPILE=0`` to build without the compiled kernels (they then
compile at the first fit, as in an editable install).
"""

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

# numba settings that would put the kernels elsewhere or compile them otherwise.
NUMBA_SETTINGS = ("NUMBA_CACHE_DIR", "NUMBA_BOUNDSCHECK", "NUMBA_DISABLE_JIT", "NUMBA_OPT")


class BuildWithKernels(build_py):
    """``build_py``, then the default fits run on the built package, whose numba
    cache (``skgd/__pycache__``) is then installed with it."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get("SKGD_PRECOMPILE") == "0":
            return
        env = {k: v for k, v in os.environ.items() if k not in NUMBA_SETTINGS}
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.abspath(self.build_lib), *filter(None, [env.get("PYTHONPATH")])])
        try:
            subprocess.run([sys.executable, "-m", "skgd._precompile"], env=env, check=True,
                           cwd=self.build_lib)
        except (OSError, subprocess.CalledProcessError) as error:
            # Not a failed install: the kernels then compile at the first fit.
            print(f"skgd: the kernels were not compiled at install ({error}); "
                  "they will compile at the first fit", file=sys.stderr)


setup(cmdclass={"build_py": BuildWithKernels})
