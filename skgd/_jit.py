"""The one set of numba options every compiled function of skgd uses, and their lazy loading.

* ``cache=True``: compiled code is stored next to the sources, so a new
  process loads it instead of compiling (check_estimator and grid searches
  fit hundreds of models).
* ``nogil=True``: kernels release the GIL, so threads can fit in parallel.
* ``error_model="numpy"``: a float division by zero gives inf or NaN as IEEE
  says instead of raising; without it numba guards every division, which
  keeps LLVM from vectorising the update loops (AdaGrad, RMSProp and Adam
  ran 2 to 7 times slower).
* ``fastmath={"reassoc", "contract"}``: lets dot products and axpys
  vectorise and fuse multiply-adds. Not the full ``fastmath=True``, which
  assumes no NaN or inf: divergence detection depends on seeing them.

numba itself is imported only when the first kernel runs (:func:`load`), not
with ``import skgd``: importing it costs about 0.2 s, which a user who only
builds an estimator, clones it or reads its parameters should not pay.
Until then :func:`jit` leaves each function as plain Python and records it;
:func:`load` compiles them all (lazily, per signature, from numba's disk
cache when it can) and puts the compiled dispatchers in place of the Python
functions in every module that holds them, so that compiled code calls
compiled code.
"""

import hashlib
import sys
import threading
from pathlib import Path

FASTMATH = {"reassoc", "contract"}
OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": FASTMATH}

_registered = []  # (python function, numba options), in definition order
_intrinsics = []  # (python placeholder, factory that builds the numba intrinsic)
_loaded = False
_lock = threading.Lock()


def read_only_view(array):
    """A read-only view of ``array`` (``array`` itself if it is read-only already).

    numba compiles a kernel once per argument type, and whether an array is
    writeable is part of its type. The kernels only read these arrays, so
    passing them read-only always means one compile per dtype rather than one
    for each mix of writeable and read-only inputs (a first compile takes
    3 to 5 s for each loop).
    """
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def jit(**options):
    """``numba.njit`` with skgd's options (overridable), applied at :func:`load`."""
    def record(function):
        if _loaded:  # defined after the others were loaded: compiled at once
            from numba import njit
            return njit(**{**OPTIONS, **options})(function)
        _registered.append((function, {**OPTIONS, **options}))
        return function
    return record


def intrinsic(factory):
    """Record a numba intrinsic: ``factory()`` builds it at :func:`load`.

    The decorated name is a placeholder (a no-op) until then.
    """
    def placeholder(*args):
        return None
    placeholder.__name__ = factory.__name__
    _intrinsics.append((placeholder, factory))
    return placeholder


def load():
    """Import numba and put the compiled functions in place (once per process).

    Thread-safe: fits started in several threads at once load once.
    """
    if _loaded:
        return
    with _lock:
        if not _loaded:
            _load()


def _load():
    global _loaded
    from numba import njit

    clear_stale_cache()
    replacement = {id(p): factory() for p, factory in _intrinsics}
    for function, options in _registered:
        replacement[id(function)] = njit(**options)(function)
    originals = {id(p) for p, _ in _intrinsics} | {id(f) for f, _ in _registered}
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not namespace or not getattr(module, "__name__", "").startswith(("skgd", "tests")):
            continue
        for name, value in list(namespace.items()):
            if id(value) in originals:
                namespace[name] = replacement[id(value)]
    _loaded = True


PACKAGE = Path(__file__).resolve().parent
SOURCES_STAMP = "skgd-kernel-sources.sha256"


def sources_digest(package=PACKAGE):
    """The hash of all of ``package``'s modules whose code the kernels may hold."""
    digest = hashlib.sha256()
    for source in sorted(package.glob("_*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def clear_stale_cache(package=PACKAGE):
    """Delete numba's cached kernels in ``package/__pycache__`` if they were
    compiled from other sources than the package's own; return whether it did.

    numba checks a cached function against the hash of its own source file
    only, not of the modules whose helpers it inlines (``_losses.py``,
    ``_optimizers.py``, ...): after an edit of one of those it would keep
    running the old code. So the cache holds a stamp, the hash of every
    module (:func:`sources_digest`), and is cleared when that changes. (The
    kernels compiled at install time come with the stamp of the sources
    installed beside them: ``skgd._precompile``.) A cache that cannot be
    written is left as it is; numba does not use it either.
    """
    cache = package / "__pycache__"
    stamp = cache / SOURCES_STAMP
    digest = sources_digest(package)
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for cached in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            cached.unlink()
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        return False
    return True
