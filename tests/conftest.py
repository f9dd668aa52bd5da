"""Test-session set-up: never run stale compiled kernels.

numba's disk cache of the epoch kernels is checked against
``_kernels.py`` only, not against the modules whose functions it inlines
(``_losses.py``, ``_optimizers.py``, ...). An edit to one of those would
keep running the old compiled code. So the cache is cleared whenever the
sources of the compiled modules change.
"""

import hashlib
from pathlib import Path

import skgd

PACKAGE = Path(skgd.__file__).resolve().parent
CACHE = PACKAGE / "__pycache__"


def pytest_configure(config):
    digest = hashlib.sha256()
    for source in sorted(PACKAGE.glob("_*.py")):
        digest.update(source.read_bytes())
    stamp = CACHE / "skgd-kernel-sources.sha256"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    for cached in list(CACHE.glob("*.nbi")) + list(CACHE.glob("*.nbc")):
        cached.unlink()
    CACHE.mkdir(exist_ok=True)
    stamp.write_text(digest.hexdigest())
