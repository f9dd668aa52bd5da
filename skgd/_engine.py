"""The Python side of the compiled kernels: a fit's prepared data and each call.

numba does not check array bounds, so a kernel given arrays of mismatched
shapes reads or writes outside them. Everything a kernel receives is checked
here first: the data once per ``fit`` or ``partial_fit`` call
(:func:`check_problem`, O(n_samples + nnz)) and the shapes and the rows to
visit at every call (:func:`_check_shapes`). A failed check is a bug in skgd, not in the
caller's input, so it raises ``RuntimeError``.
"""

import contextlib
import functools
import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from . import _jit
from ._jit import read_only_view as _read_only
from ._kernels import (
    EVALUATE, GRADIENT, INTERCEPT_ONLY, STEP, TRAIN, ZERO_GRADIENT, evaluate_csr,
    evaluate_dense, general_epoch_csr, general_epoch_dense, minibatch_epoch_csr,
    minibatch_epoch_dense,
    plain_evaluate_csr, plain_evaluate_dense, plain_minibatch_csr, plain_minibatch_dense,
    plain_stochastic_csr, plain_stochastic_dense, stochastic_epoch_csr, stochastic_epoch_dense,
)
from ._lazy import lazy_epoch_csr, lazy_one_output_csr
from ._losses import MAX_DLOSS, MULTINOMIAL
from ._optimizers import N_STATE_ARRAYS, SGD
from ._schedules import PA1, PA2


class Problem(NamedTuple):
    """The prepared training data of one ``fit`` or ``partial_fit`` call.

    The model is ``z = W x~ + b`` in the coordinates of ``preconditioner``
    (:mod:`skgd._precondition`); ``l2`` and ``l1`` are the penalty's
    strengths per bucket of columns in those coordinates.
    """

    X: object  # validated dense array or CSR matrix (read-only views)
    Y: np.ndarray  # float64 regression targets (n_samples, n_outputs), or (0, 0)
    labels: np.ndarray  # int32 class codes (n_samples,), or (0,) for regression
    pos_weight: np.ndarray  # per-output weight of the rows labelled with the output
    neg_weight: np.ndarray  # per-output weight of the other rows
    sample_weight: np.ndarray  # float64 (n_samples,), as given (times class weights)
    train: np.ndarray  # int64 indices of the training rows, sorted
    n_outputs: int
    loss_code: int
    epsilon: float
    fit_intercept: bool
    preconditioner: object
    l2: np.ndarray  # float64 (n_buckets,)
    l1: np.ndarray  # float64 (n_buckets,)
    # float64 (n_features,): each column's largest absolute value, where the
    # column statistics gave it (None: lipschitz_constant computes it).
    peaks: object = None
    # The bound on each row's loss derivative in a step: scikit-learn's clip
    # (MAX_DLOSS), or none (inf) under learning_rate="auto" (BaseGD._make_problem).
    max_dloss: float = MAX_DLOSS
    # CSR rows whose centred columns are stored in every row, centred
    # (_precondition.explicitly_centred), for the optimizers' lazy loop, which
    # takes no centre; None where it takes the rows as they are.
    lazy_rows: object = None

    # Whether the rows are chunks of a dask array (skgd._distributed.ChunkedProblem).
    chunked = False

    @property
    def n_train(self):
        """The number of training rows."""
        return self.train.size

    @property
    def step_problem(self):
        """A problem the kernels' STEP mode can take a step on (it reads no row)."""
        return self

    def for_outputs(self, outputs):
        """The problem of ``outputs`` alone, independent outputs (one-vs-rest, or
        the targets of a multi-output regression) in that order.

        One-vs-rest class codes become positions in ``outputs`` (-1: the
        rest), as the kernels read them: output ``k``'s target is +1 where
        the code is ``k``.
        """
        outputs = np.asarray(outputs, dtype=np.intp)
        if self.labels.size:
            codes = np.full(self.n_outputs + 1, -1, dtype=np.int32)  # (the last: code -1)
            codes[outputs] = np.arange(outputs.size, dtype=np.int32)
            labels, Y = codes[self.labels], self.Y
        else:
            labels, Y = self.labels, np.ascontiguousarray(self.Y[:, outputs])
        return self._replace(labels=labels, Y=Y, pos_weight=self.pos_weight[outputs],
                             neg_weight=self.neg_weight[outputs], n_outputs=outputs.size)


def read_only(problem):
    """``problem`` with read-only views of its arrays (once per call, not per kernel call)."""
    p = problem.preconditioner
    return problem._replace(**{name: _read_only(getattr(problem, name)) for name in (
        "Y", "labels", "pos_weight", "neg_weight", "sample_weight", "train", "l2", "l1")},
        X=problem.X if sp.issparse(problem.X) else _read_only(problem.X),
        preconditioner=type(p)(_read_only(p.center), _read_only(p.bucket),
                               _read_only(p.bucket_scale)))


@functools.lru_cache(maxsize=None)
def _empty(ndim, dtype):
    """A read-only empty array: the arguments of the storage format not in use."""
    return _read_only(np.empty((0,) * ndim, dtype))


def _fail(what):
    raise RuntimeError(f"skgd internal error: {what}; please report it.")


def check_problem(problem):
    """Check once per call that the kernels cannot index outside ``problem``'s arrays."""
    X = problem.X
    n, d = X.shape
    k = problem.n_outputs
    for rows in (X, problem.lazy_rows):
        if sp.issparse(rows):
            _check_csr(rows, n, d)
    if problem.labels.size:
        if problem.labels.shape != (n,) or problem.Y.size:
            _fail("labels of the wrong shape")
        low = 0 if problem.loss_code == MULTINOMIAL else -1
        if problem.labels.min() < low or problem.labels.max() >= k:
            _fail(f"class codes outside [{low}, {k})")
    elif problem.Y.shape != (n, k):
        _fail(f"targets of shape {problem.Y.shape} for {n} rows and {k} outputs")
    if problem.pos_weight.shape != (k,) or problem.neg_weight.shape != (k,):
        _fail("class weights of the wrong shape")
    if problem.sample_weight.shape != (n,):
        _fail("sample weights of the wrong shape")
    train = problem.train
    if train.ndim != 1 or _out_of_range(train, n):
        _fail("training rows out of range")
    p = problem.preconditioner
    n_buckets = p.bucket_scale.shape[0]
    if p.bucket.shape != (d,) or (d and p.bucket.max() >= n_buckets) or n_buckets < 1:
        _fail("preconditioner buckets out of range")
    if p.center.shape not in ((0,), (d,)):
        _fail("preconditioner centre of the wrong shape")
    if problem.l2.shape != (n_buckets,) or problem.l1.shape != (n_buckets,):
        _fail("penalty strengths of the wrong shape")
    columns, starts = p.bucket_columns()
    if (columns.shape != (d,) or _out_of_range(columns, d)
            or starts.shape != (n_buckets + 1,) or starts[0] != 0 or starts[-1] != d
            or np.any(np.diff(starts) < 0)):
        _fail("bucket columns out of range")


def _check_csr(X, n, d):
    """Check that CSR ``X`` holds ``n`` rows whose entries are in ``d`` columns."""
    if X.shape != (n, d) or X.indptr.shape != (n + 1,) or X.indptr[0] != 0 or (
            X.indptr[-1] != X.data.size):
        _fail("CSR row pointers do not match the data")
    if np.any(np.diff(X.indptr) < 0):
        _fail("CSR row pointers decrease")
    if X.indices.size != X.data.size or _out_of_range(X.indices, d):
        _fail("CSR column indices out of range")


def _out_of_range(values, n):
    """Whether some of the signed integers ``values`` is outside ``[0, n)``.

    In one pass (a negative one is a huge unsigned integer of its size): a
    small fit's epoch checks its row order at every kernel call (two passes
    took 2 us of about 15), and a CSR call its column indices (2.2 -> 1.0
    ms on 10 million).
    """
    unsigned = values.view(f"u{values.dtype.itemsize}")
    return values.size > 0 and unsigned.max() >= n


def _check_shapes(problem, args):
    """Checks of one kernel call's arguments that :func:`check_problem` has not made.

    The problem's data were checked once per call; here, in O(1) (and the
    row order's range), whatever may change from call to call: the weights
    against the problem's outputs and columns, the rows, the coordinates,
    the optimizer state.
    """
    (Y, labels, pos_weight, neg_weight, sample_weight, order, batch_size, W, b,
     fit_intercept, loss_code, epsilon, max_dloss, center, bucket, bucket_scale, columns,
     starts, proximal_l2, l2, l1,
     schedule_code, eta_base, power_t, alpha, t0, optimizer_code, hyper, S1, S2,
     average_start, average_power, W_avg, b_avg, t, l1_received, l1_accrued, loss_out,
     G_out, G_b_out, mode) = args
    n, d = problem.X.shape
    k = problem.n_outputs
    if W.shape != (k, d) or b.shape != (k,) or loss_out.shape != (k,):
        _fail(f"weights of shape {W.shape} for {k} outputs and {d} features")
    if order.ndim != 1 or order.size > n or not 1 <= batch_size <= max(order.size, 1):
        _fail("row order or batch size out of range")
    # O(len(order)), a fraction of a millisecond per epoch of 200,000 rows.
    if _out_of_range(order, n):
        _fail("row order out of range")
    # (The coordinates are replaced after the check of a dask chunk's problem.)
    if bucket.shape != (d,) or center.shape not in ((0,), (d,)):
        _fail("preconditioner of the wrong shape")
    n_buckets = bucket_scale.shape[0]
    if columns.shape != (d,) or starts.shape != (n_buckets + 1,):
        _fail("bucket columns of the wrong shape")
    if l2.shape != (n_buckets,) or l1.shape != (n_buckets,) or l1_accrued.shape != (n_buckets,):
        _fail("penalty strengths of the wrong shape")
    state_shape = (k, d + 1)
    for index, state in enumerate((S1, S2)):
        expected = state_shape if index < N_STATE_ARRAYS[optimizer_code] else (0, 0)
        if state.shape != expected:
            _fail(f"optimizer state of shape {state.shape}, expected {expected}")
    if average_start > 0 and (W_avg.shape != (k, d) or b_avg.shape != (k,)):
        _fail("averages of the wrong shape")
    if not 0 <= average_power <= 8:
        _fail(f"averaging power {average_power}")
    if l1_received.shape not in ((0, 0), (k, d)):
        _fail("l1 books of the wrong shape")
    if (mode in (GRADIENT, STEP, ZERO_GRADIENT) or G_out.size) and (G_out.shape != (k, d)
                                                    or G_b_out.shape != (k,)):
        _fail("gradient outputs of the wrong shape")


def lazy_steps(optimizer_code, batch_size, n_rows, mode):
    """Whether training steps of this optimizer and batch size on CSR rows are
    the optimizers' lazy ones (:mod:`skgd._lazy`), uncentred (:func:`epoch_kernel`)."""
    return mode == TRAIN and optimizer_code != SGD and batch_size < n_rows


def epoch_kernel(optimizer_code, batch_size, n_rows, sparse, mode=TRAIN, plain=False,
                 n_outputs=1, centred=False):
    """The entry point that runs an epoch of ``n_rows`` rows in batches of ``batch_size``.

    Separate loops rather than one with branches inside: the stochastic one
    is the hot path, and kept small it leaves the CPU room to work on the
    next rows while it waits for memory. The other optimizers on CSR rows
    take the lazy loop (:mod:`skgd._lazy`), O(nnz) a step, unless one step
    covers every row (the batch solver, whose step is O(n_features) anyway)
    or the rows have a centre that the loop is not given in the rows
    themselves (``Problem.lazy_rows``; narrow rows, ``BaseGD._centres_csr``).
    Evaluations (``mode`` EVALUATE, GRADIENT, INTERCEPT_ONLY, ZERO_GRADIENT) have
    a loop of their own. ``plain``: no cumulative l1 penalty, passive-aggressive
    step or multinomial loss, which the stochastic, mini-batch and
    evaluation loops then leave out (they compile faster). The lazy loop
    has a version for ``n_outputs`` of one.
    """
    if mode in (EVALUATE, GRADIENT, INTERCEPT_ONLY, ZERO_GRADIENT):
        if plain:
            return plain_evaluate_csr if sparse else plain_evaluate_dense
        return evaluate_csr if sparse else evaluate_dense
    several_steps = batch_size < n_rows
    if mode == TRAIN and optimizer_code == SGD and batch_size == 1 < n_rows:
        if plain:
            return plain_stochastic_csr if sparse else plain_stochastic_dense
        return stochastic_epoch_csr if sparse else stochastic_epoch_dense
    if mode == TRAIN and optimizer_code == SGD and several_steps:
        if plain:
            return plain_minibatch_csr if sparse else plain_minibatch_dense
        return minibatch_epoch_csr if sparse else minibatch_epoch_dense
    if sparse and lazy_steps(optimizer_code, batch_size, n_rows, mode) and not centred:
        return lazy_one_output_csr if n_outputs == 1 else lazy_epoch_csr
    return general_epoch_csr if sparse else general_epoch_dense


def call_kernel(problem, order, batch_size, W, b, schedule, state_args, mode=TRAIN,
                gradient_out=None):
    """Run one kernel call over the rows ``order``; return ``(t, losses)``.

    ``schedule`` is ``(code, eta_base, power_t, alpha, t0)``; ``state_args``
    is ``(optimizer_code, hyper, S1, S2, average_start, W_avg, b_avg, t,
    l1_received, l1_accrued)``. ``losses`` is the weighted sum of the losses
    met, per output. On chunks of a dask array, an epoch of local models
    averaged (:meth:`~skgd._distributed.ChunkedProblem.local_epochs`;
    ``order`` is not used).
    """
    if problem.chunked:
        return problem.local_epochs(batch_size, W, b, schedule, state_args)
    _jit.load()
    X, p = problem.X, problem.preconditioner
    sparse = sp.issparse(X)
    batch_size = int(min(batch_size, max(order.size, 1)))  # a numpy integer would compile anew
    plain = (problem.loss_code != MULTINOMIAL and schedule[0] not in (PA1, PA2)
             and state_args[9].shape[0] == 0)  # (no l1 books: no cumulative l1)
    # The optimizers' lazy loop takes no centre: it takes the rows centred
    # explicitly where the problem has them, else the general loop runs.
    if problem.lazy_rows is not None and lazy_steps(state_args[0], batch_size, order.size, mode):
        X, p = problem.lazy_rows, p.uncentred()
    kernel = epoch_kernel(state_args[0], batch_size, order.size, sparse, mode, plain, W.shape[0],
                          p.center.size > 0)
    loss_out = np.zeros(W.shape[0])
    G_out, G_b_out = gradient_out if gradient_out is not None else (EMPTY_2D, EMPTY_1D)
    args = (  # in the order the kernels unpack it
        _read_only(problem.Y), _read_only(problem.labels), _read_only(problem.pos_weight),
        _read_only(problem.neg_weight), _read_only(problem.sample_weight), _read_only(order),
        batch_size, W, b, problem.fit_intercept, problem.loss_code, problem.epsilon,
        problem.max_dloss,
        *p.kernel_arguments(),
        _read_only(problem.l2), _read_only(problem.l1), *schedule, *state_args,
        loss_out, G_out, G_b_out, mode,
    )
    _check_shapes(problem, args)
    if sparse:
        t = kernel(_empty(2, X.dtype), _read_only(X.data), _read_only(X.indices),
                   _read_only(X.indptr), args)
    else:
        t = kernel(_read_only(X), _empty(1, X.dtype), NO_INDEX, NO_INDEX, args)
    return t, loss_out


# A call on some of the outputs (call_kernel_on_outputs, or an evaluation of
# Problem.for_outputs) costs about 20 us more than a call on all: 35 against
# 22 us on wine's 133 x 13 rows, 3 classes, where a fit of 72 epochs took
# 7.0 ms instead of 5.3. Below this many stored values times outputs left
# out, it saves less than that (about 2.6 ns a value and output).
LEAVE_OUT_VALUES = 16_384


def leaving_out_pays(problem, rows, n_left_out):
    """Whether a pass over ``rows`` gains by leaving ``n_left_out`` outputs out."""
    return (not problem.chunked
            and _stored_values(problem.X, rows) * n_left_out >= LEAVE_OUT_VALUES)


def call_kernel_on_outputs(problem, outputs, order, batch_size, W, b, schedule, state_args):
    """:func:`call_kernel` on the independent ``outputs`` alone (an index array).

    The other outputs' weights and optimizer state stay as they are, and
    their losses are 0. The kernels treat each independent output on its
    own, so ``outputs`` end as :func:`call_kernel` on all would leave them.
    (The one-vs-rest problems of the stochastic solver that have stopped
    are not trained on: 10 classes of TF-IDF text stop over epochs 7 to 10.
    Outside the kernels, the stopped problems' weights feed the log loss's
    step cap: BaseGD keeps them as they were when they stopped either way.)
    """
    (code, hyper, S1, S2, start, power, W_avg, b_avg, t, received, accrued) = state_args
    arrays = (W, b, S1, S2, W_avg, b_avg, received)
    k = W.shape[0]
    # (Arrays that a setting leaves out have no row per output.)
    parts = [array[outputs] if array.shape[0] == k else array for array in arrays]
    W_part, b_part, S1_part, S2_part, W_avg_part, b_avg_part, received_part = parts
    t, part_losses = call_kernel(
        problem.for_outputs(outputs), order, batch_size, W_part, b_part, schedule,
        (code, hyper, S1_part, S2_part, start, power, W_avg_part, b_avg_part, t,
         received_part, accrued))
    for array, part in zip(arrays, parts):
        if array.shape[0] == k:
            array[outputs] = part
    losses = np.zeros(k)
    losses[outputs] = part_losses
    return t, losses


# Stored values times outputs that a thread of its own is worth in a training
# epoch (call_kernel_in_threads): about 0.7 ms of kernel work, against some
# 50 us for the thread and the copies of its outputs' state.
VALUES_PER_THREAD = 262_144


def output_threads(problem, rows, n_jobs, n_outputs):
    """How many threads an epoch over ``rows`` on ``n_outputs`` independent
    outputs is worth, at most ``n_jobs`` (joblib's conventions, as resolved)."""
    if problem.chunked or n_outputs < 2 or n_jobs < 2:
        return 1
    return max(1, min(n_jobs, n_outputs,
                      _stored_values(problem.X, rows) * n_outputs // VALUES_PER_THREAD))


def call_kernel_in_threads(problem, outputs, order, batch_size, W, b, schedule, state_args,
                           n_threads):
    """:func:`call_kernel_on_outputs` with the independent ``outputs`` cut into
    ``n_threads`` blocks, each trained in a thread (the kernels release the GIL).

    Each output ends with the same bits as in one call on all (the kernels
    treat each independent output on its own): a given fit gives the same
    model for every ``n_jobs``. The l1 penalty's books per bucket, the same
    for every output, are kept by each block and taken from the first.
    """
    if n_threads <= 1:
        return call_kernel_on_outputs(problem, outputs, order, batch_size, W, b, schedule,
                                      state_args)
    accrued = state_args[10]
    blocks = np.array_split(outputs, n_threads)
    books = [accrued.copy() for _ in blocks]

    def train(block, block_books):
        return call_kernel_on_outputs(problem, block, order, batch_size, W, b, schedule,
                                      (*state_args[:10], block_books))

    results = map_in_threads(train, blocks, books)
    accrued[:] = books[0]
    return results[0][0], sum(losses for _, losses in results)


_local = threading.local()  # .pool, .size: the calling thread's pool of threads


def _forget_pools():
    """In a forked child: the forking thread's pool is copied without its
    threads (a task submitted to it would wait for ever), and the BLAS limit's
    count without the fits that held it (:func:`blas_on_one_thread`)."""
    global _local, _blas_lock, _blas_fits, _blas_limit
    _local = threading.local()
    _blas_lock, _blas_fits, _blas_limit = threading.Lock(), 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def thread_pool(n_threads):
    """The calling thread's pool of at least ``n_threads`` threads, for passes over row blocks.

    Kept rather than started at every pass: starting two threads took 1.5 ms
    of a 9.3 ms gradient pass over 200,000 x 100 rows, once per epoch of the
    batch solver. One per calling thread, so that fits running at once in
    several threads (joblib's threading backend, a user's threads) do not
    queue behind each other's blocks, and grown to the largest ``n_threads``
    asked for (a pass over fewer blocks uses fewer of its threads). The
    threads of a thread's pool end with the pool, when the thread ends. A
    forked child starts its own (:func:`_forget_pools`). (The process keeps
    these threads between fits: Python 3.12 warns at a later ``os.fork``.)
    """
    if getattr(_local, "size", 0) < n_threads:
        if getattr(_local, "pool", None) is not None:
            _local.pool.shutdown(wait=False)
        _local.pool = ThreadPoolExecutor(n_threads, thread_name_prefix="skgd")
        _local.size = n_threads
    return _local.pool


_blas_controller = None  # threadpoolctl's, made at the first fit (2 ms)
# The fits running under the limit, and the limit they share: the first to
# enter sets it, the last to leave restores what was there before. (Each fit
# restoring what it found left BLAS on one thread after two fits in threads
# that overlapped: the later one found the earlier one's limit.)
_blas_lock = threading.Lock()
_blas_fits = 0
_blas_limit = None
# Data of fewer stored values keeps BLAS as it is: the limit cost 50-110 us
# of 2-6 ms fits (100 x 10 rows, diabetes) and 2-3% of 4,000 x 50 ones on
# a quiet machine, and gained nothing there on a busy one.
ONE_BLAS_THREAD_VALUES = 2**20


@contextlib.contextmanager
def blas_on_one_thread(X):
    """Run the block (a fit on ``X``) with numpy's and scipy's BLAS on one thread.

    A fit's BLAS calls are products of one pass (the target's moments,
    blocks of scores), each over in about a millisecond on one thread. On
    several, a call waits for threads that a busy machine has not
    scheduled: with the second core busy, a dot product of 160,000 values
    once took 8 ms instead of 0.03, and default fits on 160,000 x 100 dense
    rows took 1.3-1.9 times as long (the batch solver 228 against 123 ms,
    in turns). A fit's own threads are ``n_jobs``'s. As scikit-learn's
    KMeans does; the limit is the process's while a fit runs, so BLAS calls
    in other threads then run on one thread too; fits that overlap share
    it, and the last to end restores the threads there were before the first.
    """
    # (A dask DataFrame's size is a lazy scalar, and a list has none: limited.)
    size = X.nnz if sp.issparse(X) else getattr(X, "size", None)
    if isinstance(size, numbers.Integral) and size < ONE_BLAS_THREAD_VALUES:
        yield
        return
    global _blas_controller, _blas_fits, _blas_limit
    with _blas_lock:
        if _blas_fits == 0:
            if _blas_controller is None:
                from threadpoolctl import ThreadpoolController

                _blas_controller = ThreadpoolController()
            _blas_limit = _blas_controller.limit(limits=1, user_api="blas")
        _blas_fits += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_fits -= 1
            if _blas_fits == 0:
                _blas_limit.restore_original_limits()
                _blas_limit = None


def map_in_threads(function, *arguments):
    """``[function(*a) for a in zip(*arguments)]``, the first on the calling thread and
    each other in a thread of :func:`thread_pool`.

    The calling thread would otherwise wait idle: with two blocks, waking a
    second worker delayed the first block by 0.07-0.2 ms of a 6 ms gradient
    pass over 200,000 x 100 dense rows. Every call has ended when this
    returns or raises (the blocks read and write the caller's arrays).
    """
    calls = list(zip(*arguments))
    if len(calls) < 2:
        return [function(*call) for call in calls]
    pool = thread_pool(len(calls) - 1)
    others = []
    try:
        others.extend(pool.submit(function, *call) for call in calls[1:])
        first = function(*calls[0])
    finally:
        wait(others)
    return [first] + [future.result() for future in others]


def _evaluate_in_threads(problem, W, b, rows, gradient, n_threads):
    blocks = np.array_split(rows, n_threads)
    parts = map_in_threads(lambda block: evaluate(problem, W, b, block, gradient), blocks)
    if not gradient:
        return sum(parts[1:], parts[0].copy())
    losses, G, G_b = parts[0][0].copy(), np.zeros(W.shape), np.zeros(W.shape[0])
    for block, (block_losses, block_G, block_G_b) in zip(blocks, parts):
        if block is not blocks[0]:
            losses += block_losses
        share = block.size / rows.size  # each block's gradient is a mean over its rows
        G += share * block_G
        G_b += share * block_G_b
    return losses, G, G_b


# Dense stored values of the rows from which the batch solver's one-thread
# epoch takes its gradient from an evaluation in the columns' own scale
# (batch_epoch): the pass gains about 0.6 ns a value there, and the second
# kernel call costs about 13 us. (Not on CSR rows, where the gain is 0.2 to
# 0.3 ns a value and the passes over the k x d weights cost more on wide
# rows: 375 -> 614 us an epoch on 1,000 x 100,000 rows of 70 values.)
SPLIT_STEP_VALUES = 65_536


def _stored_values(X, rows):
    """About how many values ``rows`` of ``X`` store (CSR: the average row's, times the rows)."""
    if sp.issparse(X):
        return X.nnz * rows.size // max(X.shape[0], 1)
    return rows.size * X.shape[1]


def batch_epoch(problem, rows, W, b, schedule, state_args, gradient_out, n_threads):
    """One step of the batch solver: ``(t, losses)``, as :func:`call_kernel` returns.

    With one thread, the kernel's own epoch, unless the rows are dense,
    hold at least :data:`SPLIT_STEP_VALUES` values and are evaluated in the
    columns' own scale (:func:`_unit_scale_applies`), or are CSR rows of
    several outputs (:func:`_weights_order`). Otherwise (and with
    threads) the gradient comes from :func:`evaluate`, over row blocks in
    threads where there are several, and the kernel takes the step from it
    (its STEP mode). On chunks of a dask array, the gradient is summed over
    the chunks on the workers, and the step taken here.
    """
    one_thread = n_threads <= 1 or rows.size < 2 * n_threads
    split = (not sp.issparse(problem.X) and _unit_scale_applies(problem, W, rows)
             and _stored_values(problem.X, rows) >= SPLIT_STEP_VALUES)
    if not problem.chunked and one_thread and not split and _weights_order(problem) == "C":
        return call_kernel(problem, rows, rows.size, W, b, schedule, state_args,
                           gradient_out=gradient_out)
    losses, G, G_b = evaluate(problem, W, b, rows, gradient=True, n_threads=n_threads)
    gradient_out[0][:] = G
    gradient_out[1][:] = G_b
    step_problem = problem.step_problem
    t, _ = call_kernel(step_problem, step_problem.train[:1], 1, W, b, schedule, state_args,
                       mode=STEP, gradient_out=gradient_out)
    return t, losses


EMPTY_1D = np.empty(0)
EMPTY_2D = np.empty((0, 0))
NO_INDEX = _empty(1, np.dtype(np.int32))  # the CSR arguments of a dense call
_NO_STATE = (0, np.zeros(5), EMPTY_2D, EMPTY_2D, 0, 0, EMPTY_2D, EMPTY_1D, 1, EMPTY_2D)


def evaluate(problem, W, b, rows, gradient=False, n_threads=1):
    """Weighted loss sums per output at ``W, b`` over ``rows`` (and the mean gradient).

    With ``gradient``, also returns ``(G, G_b)``: the gradient of the mean
    loss over ``rows`` (without the penalty) in the kernels' coordinates.
    With ``n_threads`` > 1, the rows are cut into that many blocks, each
    evaluated in a thread (the kernels release the GIL), and the blocks'
    sums added in block order: the same bits for the same ``n_threads``.
    On chunks of a dask array, the sums over all rows (``rows`` and
    ``n_threads`` are not used), added in a fixed order of the chunks.
    """
    if problem.chunked:
        return problem.evaluate(W, b, gradient)
    scale = None
    if _unit_scale_applies(problem, W, rows):
        problem, W, scale = _in_unit_scale(problem, W)
    if n_threads > 1 and rows.size >= 2 * n_threads:
        result = _evaluate_in_threads(problem, W, b, rows, gradient, n_threads)
    else:
        order = _weights_order(problem)
        out = (np.zeros(W.shape, order=order), np.zeros(W.shape[0])) if gradient else None
        # (At W = 0, the gradient without reading the rows' scores: the zero
        # model's pass, 3.8 -> 1.9 ms on 16,000 TF-IDF rows of 74 values.)
        mode = (ZERO_GRADIENT if not W.any() else GRADIENT) if gradient else EVALUATE
        losses = _evaluation(problem, W.copy(order=order), b.copy(), rows, mode, out)
        result = (losses, *out) if gradient else losses
    if gradient and scale is not None:
        result[1][...] *= scale  # (back to the kernels' coordinates: G_kj s_j)
    return result


_UNIT_PENALTY = np.zeros(1)
_UNIT_PENALTY.flags.writeable = False
# Bucket scales within which an evaluation may take them into the weights:
# beyond, its sums on the columns as they are overflow (values of 1e306) or
# turn subnormal (1e-306), where the kernels' sums of scaled terms do not.
UNIT_SCALE_RANGE = 2.0 ** 400
# Stored values below which an evaluation keeps the buckets: taking the
# scales into the weights costs about 4 us (100 x 5 rows: 11 -> 16 us).
UNIT_SCALE_VALUES = 16_384


def _unit_scale_applies(problem, W, rows):
    """Whether an evaluation of ``rows`` at ``W`` runs in the columns' own scale
    (:func:`_in_unit_scale`): several buckets of moderate scales, enough values,
    and float64 weights (float32 ones would compile the evaluation loops again)."""
    scales = problem.preconditioner.bucket_scale
    return (scales.shape[0] > 1 and W.dtype == np.float64
            and _stored_values(problem.X, rows) >= UNIT_SCALE_VALUES
            and 1.0 / UNIT_SCALE_RANGE <= scales.min() and scales.max() <= UNIT_SCALE_RANGE)


def _in_unit_scale(problem, W):
    """``(problem, W s, s)``: the weights times their columns' scales ``s``, on the
    columns as they are (:meth:`~skgd._precondition.Preconditioner.unit_scale`),
    and ``s`` to bring a gradient back.

    The kernels' one-bucket loops read no bucket per value, and LLVM
    vectorises their dense loop (DESIGN.md, "Threads and loading"). They
    multiply the same ``W_kj s_j`` by the values: the same bits on CSR rows,
    summed in another order on dense rows; a gradient is summed before it is
    scaled: equal to rounding.
    """
    p = problem.preconditioner
    scale = p.column_scale()
    unit = problem._replace(preconditioner=p.unit_scale(), l2=_UNIT_PENALTY, l1=_UNIT_PENALTY)
    return unit, W * scale, scale


def _weights_order(problem):
    """The memory order of the weights (and gradient) an evaluation of ``problem`` takes.

    Column by column ("F") on CSR rows of several outputs: each stored value
    meets the weights of every output in its column, which then share a
    cache line or two instead of taking one each. On 20,000 TF-IDF-like rows
    of 74 values and 2^15 columns, 10 outputs, a gradient pass took 38.6 ms
    instead of 57.5 and an evaluation 19.6 instead of 28.4. Else row by row
    ("C"), as the training loops take them. (The evaluation loop compiles
    once per order: only fits of several outputs on CSR data compile "F";
    a first such fit in a fresh environment took 11.6 s against 10.7 before,
    within the machine's noise. Arrays of one output are typed "C" whatever
    their order.)
    """
    return "F" if sp.issparse(problem.X) and problem.n_outputs > 1 else "C"


def _evaluation(problem, W, b, rows, mode, gradient_out=None):
    """One call of the evaluation loop: the weighted loss sums per output.

    ``W`` (and ``gradient_out``'s ``G``) in :func:`_weights_order`'s order.
    """
    order = _weights_order(problem)
    if gradient_out is None and order == "F":
        # Unread, but in that order: an empty array is typed "C", and the
        # loop would compile once more (3.4 s of a first fit).
        gradient_out = (np.zeros(W.shape, order="F"), np.zeros(W.shape[0]))
    if not (W.flags[f"{order}_CONTIGUOUS"] and (
            gradient_out is None or gradient_out[0].flags[f"{order}_CONTIGUOUS"])):
        _fail(f"evaluation weights not in {order} order")
    schedule = (0, 0.0, 0.0, 0.0, 0.0)
    state_args = (*_NO_STATE, np.zeros(problem.l2.shape[0]))
    _, losses = call_kernel(problem, rows, max(rows.size, 1), W, b, schedule, state_args,
                            mode=mode, gradient_out=gradient_out)
    return losses


def intercept_only_losses(problem, b, rows):
    """Weighted loss sums per output of the model that predicts ``b`` everywhere."""
    if problem.chunked:
        return problem.intercept_only_losses(b)
    W = np.zeros((problem.n_outputs, problem.X.shape[1]),  # not read
                 order=_weights_order(problem))
    return _evaluation(problem, W, np.array(b, dtype=np.float64), rows, INTERCEPT_ONLY)
