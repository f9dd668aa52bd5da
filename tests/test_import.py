"""``import skgd`` does not import numba: the kernels load at the first fit."""

import subprocess
import sys


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, check=True).stdout.split()


def test_import_leaves_numba_for_the_first_fit():
    before, after = _run(
        "import sys, numpy as np, skgd\n"
        "print('numba' in sys.modules)\n"
        "skgd.GDRegressor(max_iter=2, tol=None).fit(np.eye(3), np.ones(3))\n"
        "import skgd._kernels as k\n"
        "print(type(k.general_epoch_dense).__name__)\n"
    )
    assert before == "False"
    assert after == "CPUDispatcher"
