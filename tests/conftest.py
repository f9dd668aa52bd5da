"""Test-session set-up.

* The compiled functions are put in place before the test modules import
  them (``skgd._jit.load``, which also clears a stale kernel cache:
  ``skgd._jit.clear_stale_cache``).
* scikit-learn's SGD test suite (``tests/test_upstream_sgd.py``): remove the
  tests it lists as not about the estimators, mark its expected failures,
  and print the reason for each deselection at the end of the run.
"""

import pytest

import skgd
import skgd._jit

UPSTREAM = "test_upstream_sgd.py"


def pytest_configure(config):
    config.addinivalue_line("markers", "no_check_spmatrix: scikit-learn's marker (unused here)")
    # The tests import compiled functions by name: compiled from the start
    # (``import skgd`` alone leaves them plain Python until the first fit).
    skgd._jit.load()


def _deselection_reason(item, module):
    name = item.originalname or item.name
    if name in module.DESELECTED:
        return module.DESELECTED[name]
    params = getattr(item, "callspec", None)
    for value in (params.params.values() if params else ()):
        try:
            if value in module.DESELECTED_PARAMETERS:
                return module.DESELECTED_PARAMETERS[value]
        except TypeError:  # unhashable parameter values
            continue
    return None


def pytest_collection_modifyitems(config, items):
    kept, deselected, reasons = [], [], []
    for item in items:
        if item.fspath.basename != UPSTREAM:
            kept.append(item)
            continue
        module = item.module
        reason = _deselection_reason(item, module)
        if reason is not None:
            deselected.append(item)
            reasons.append(f"{item.name}: {reason}")
            continue
        name = item.originalname or item.name
        for (failing, case), why in module.EXPECTED_FAILURES.items():
            if failing == name and case in item.name:
                item.add_marker(pytest.mark.xfail(reason=why, strict=True))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    config._upstream_deselected = reasons


def pytest_terminal_summary(terminalreporter, config):
    reasons = getattr(config, "_upstream_deselected", [])
    if reasons:
        terminalreporter.section(f"scikit-learn's SGD tests not run here ({len(reasons)})")
        for line in reasons:
            terminalreporter.write_line(line)


@pytest.fixture
def general_loop_on_csr(monkeypatch):
    """Make CSR fits run the general loop (every coefficient moved at every
    step) where they would run the lazy one (skgd._lazy): the reference
    path for the optimizers other than sgd.
    """
    import skgd._engine
    from skgd._kernels import general_epoch_csr
    from skgd._lazy import lazy_epoch_csr, lazy_one_output_csr

    chosen = skgd._engine.epoch_kernel

    def general(*args, **kwargs):
        kernel = chosen(*args, **kwargs)
        return general_epoch_csr if kernel in (lazy_epoch_csr, lazy_one_output_csr) else kernel

    monkeypatch.setattr(skgd._engine, "epoch_kernel", general)
