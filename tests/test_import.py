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


def test_a_stochastic_fit_compiles_only_its_loop_and_the_evaluation_loop():
    # A first fit's time is mostly compilation (issue 14, cold start): the
    # stochastic solver's evaluations (the objective, the final gradient)
    # run in the small evaluation loop, not the general loop, whose compile
    # took 4.7 s of a first stochastic fit; a default fit (no cumulative l1,
    # passive-aggressive step or multinomial loss) takes the plain loops,
    # without the l1 books' helpers (about 1.5 s of compile) or the softmax.
    # The classifier's "optimal" schedule reads the loss's slope once, from
    # the Python function: the compiled one would compile on its own.
    compiled = _run(
        "import numpy as np, skgd\n"
        "X = np.random.RandomState(0).randn(50, 3)\n"
        "skgd.GDRegressor(max_iter=3).fit(X, X[:, 0])\n"
        "skgd.GDClassifier(max_iter=3).fit(X, X[:, 0] > 0)\n"
        "import skgd._kernels as k\n"
        "for name in ('plain_stochastic_dense', 'plain_evaluate_dense', 'evaluate_dense',\n"
        "             'stochastic_epoch_dense', 'general_epoch_dense', '_pay_all_l1',\n"
        "             '_accrue_l1', 'multinomial_loss_and_gradient', 'loss_and_derivative'):\n"
        "    print(len(getattr(k, name).signatures))\n"
    )
    assert compiled == ["1", "1", "0", "0", "0", "0", "0", "0", "0"]


def test_several_outputs_on_csr_add_one_compile_of_the_evaluation_loop():
    # Evaluations of CSR rows for several outputs take the weights (and the
    # gradient) in Fortran order (_engine._weights_order): every one of them,
    # the evaluations without a gradient too, so that the loop compiles once
    # for that order (a placeholder gradient of the other order compiled it
    # once more, 3.4 s of a first fit). One output's arrays are typed "C"
    # whatever their order: those evaluations (a binary fit's, or a stopped
    # one-vs-rest problem's check) share the other compile.
    compiled = _run(
        "import numpy as np, scipy.sparse as sp, skgd\n"
        "X = sp.random(200, 20, density=0.2, format='csr', random_state=0)\n"
        "y = np.arange(200) % 3\n"
        "for solver in ('stochastic', 'batch'):\n"
        "    skgd.GDClassifier(loss='log_loss', solver=solver).fit(X, y)\n"
        "    skgd.GDClassifier(loss='log_loss', solver=solver).fit(X, y == 0)\n"
        "import skgd._kernels as k\n"
        "print(sorted(sig[4].types[7].layout + sig[4].types[38].layout\n"
        "             for sig in k.plain_evaluate_csr.signatures))\n"
    )
    assert compiled == ["['CC',", "'FF']"]
