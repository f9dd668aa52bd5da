"""The one set of numba options every compiled function of skgd uses.

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
"""

import functools

from numba import njit

FASTMATH = {"reassoc", "contract"}

jit = functools.partial(njit, cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
