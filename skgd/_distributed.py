"""Fits on dask arrays: the rows stay where dask keeps them, in chunks.

``fit`` and ``partial_fit`` on a dask array (or dask DataFrame) run the usual
driver of :mod:`skgd._base` on the client. Every operation of that driver
that reads rows goes through a :class:`ChunkedProblem`, which runs the
in-memory code on each chunk's :class:`~skgd._engine.Problem` where dask
persisted it (the workers of the current ``distributed.Client``, or this
process under dask's local scheduler) and combines the chunks' results in a
fixed tree over the chunks' order. So a fit gives the same bits wherever the
chunks are computed, or recomputed after a worker is lost; only weights,
gradients and per-column statistics travel.

- The batch solver's epoch is one round trip: every chunk's losses and
  gradient at the current weights (the kernels' GRADIENT mode), summed; the
  client takes the step (the STEP mode) and applies the stopping rules, as in
  memory. The "auto" step, the column statistics of the preconditioner and
  the certificate come from the same functions, run per chunk and combined.
- The stochastic and mini-batch solvers run local epochs with model
  averaging (parameter mixing): each epoch, the chunks are dealt in a
  random order to a fixed number of local models that all start from the
  current weights; each runs the usual kernel over its chunks in turn, and
  the client averages the local models (weights, optimizer state, averages),
  weighted by their rows.

dask is imported only when a dask collection is passed.
"""

import copy
import sys
from functools import reduce
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs

from ._engine import (
    Problem, call_kernel, check_problem, evaluate, intercept_only_losses, lazy_steps,
)
from ._kernels import TRAIN
from ._precondition import ColumnStats, explicitly_centred
from ._steps import (
    column_nonzeros,
    column_peaks,
    gram_product,
    largest_sq_row_norm,
    max_row_curvature,
    row_norm_sums,
    row_weight_bound,
)

# Chunks' results combined per task of the reduction tree.
TREE_WIDTH = 8


def is_dask(obj):
    """Whether ``obj`` is a dask collection (without importing dask if it is not loaded)."""
    if obj is None or "dask" not in sys.modules:
        return False
    from dask import is_dask_collection

    return is_dask_collection(obj)


def _register_sizeof():
    """Tell dask how large a chunk's Problem is.

    dask sizes a tuple from a sample of 10 of its items: a Problem has 14,
    so its X could go unseen and the scheduler would move chunks between
    workers as if they were small.
    """
    from dask.sizeof import sizeof

    @sizeof.register(Problem)
    def _sizeof_problem(problem):
        arrays = [problem.X.data, problem.X.indices, problem.X.indptr] \
            if sp.issparse(problem.X) else [problem.X]
        arrays += [problem.Y, problem.labels, problem.sample_weight, problem.train]
        return int(sum(a.nbytes for a in arrays)) + 1000


if "dask" in sys.modules:  # on a worker, dask is loaded before skgd is
    _register_sizeof()


# ------------------------------------------------------------------ input
def _as_array(obj, name):
    """A dask array of ``obj`` (a dask array, DataFrame or Series), with known chunk sizes."""
    import dask.array as da

    if hasattr(obj, "to_dask_array"):  # dask DataFrame or Series
        obj = obj.to_dask_array(lengths=True)
    elif not isinstance(obj, da.Array):
        raise TypeError(
            f"{name} is a {type(obj).__name__}: skgd fits dask arrays, DataFrames and "
            "Series (or, in memory, numpy arrays and scipy.sparse matrices)."
        )
    if any(np.isnan(size) for size in obj.chunks[0]):
        obj = obj.compute_chunk_sizes()
    return obj


def _rows_like(obj, X, name):
    """``obj`` (y or sample_weight, dask or in memory) as a dask array in X's row chunks."""
    import dask.array as da

    if obj is None:
        return None
    if not is_dask(obj):
        obj = np.asarray(obj)
        if obj.ndim == 0:  # a scalar sample_weight
            obj = np.full(X.shape[0], float(obj))
        obj = da.from_array(obj, chunks=(X.chunks[0],) + obj.shape[1:])
    obj = _as_array(obj, name)
    if obj.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {obj.shape[0]} rows but X has {X.shape[0]}: they must describe "
            "the same samples."
        )
    if obj.chunks[0] != X.chunks[0]:
        obj = obj.rechunk((X.chunks[0],) + tuple((n,) for n in obj.shape[1:]))
    return obj


def dask_inputs(est, X, y, sample_weight, reset):
    """X, y and sample_weight as row-aligned dask arrays; sets or checks the feature count and names."""
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    if not is_dask(X):
        raise TypeError(
            "y or sample_weight is a dask collection but X is not: pass X as a dask "
            "array too (e.g. dask.array.from_array(X)), or all three in memory."
        )
    # A dask DataFrame's _meta is an empty pandas DataFrame with its columns.
    _check_feature_names(est, X._meta if hasattr(X, "columns") else X, reset=reset)
    X = _as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X, got shape {X.shape}.")
    _check_n_features(est, X, reset=reset)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})  # each chunk holds whole rows
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X, _rows_like(y, X, "y"), _rows_like(sample_weight, X, "sample_weight")


# --------------------------------------------------------- on the workers
def _build_chunk(est, X, y, sample_weight):
    """The in-memory :class:`Problem` of one chunk, checked as a fit checks its data."""
    X, y = est._validate_fit_data(X, y, reset=False)
    targets = est._prepare_targets(y, classes=getattr(est, "classes_", None), partial=True,
                                   first_call=True)
    weight, pos_weight, neg_weight = est._sample_weights(
        X, y, sample_weight, targets.labels, allow_all_zero=True)
    problem = est._make_problem(X, targets, weight, pos_weight, neg_weight,
                                np.arange(X.shape[0]))
    check_problem(problem)
    return problem


class Summary(NamedTuple):
    """What the client needs to know of the rows before the first step."""

    n_rows: int
    weight_total: float
    largest_weight: float
    largest_row_weight: float
    column_nonzeros: np.ndarray  # non-zero entries per column
    largest_sq_row_norm: float
    stats: object  # ColumnStats, or None
    moments: object  # (weight, mean, sum of squared deviations) of the targets, or None
    target_peak: object  # largest |y|, or None


def _summarize(problem, est, with_stats, all_rows):
    X = problem.X
    stats = None
    if with_stats:
        stats = ColumnStats(X.shape[1], sp.issparse(X), all_rows).update(
            X, est._stats_weights(problem))
    moments = peak = None
    if problem.Y.size:
        weight = problem.sample_weight
        total = float(weight.sum())
        with np.errstate(over="ignore", invalid="ignore"):  # (BaseGD._baselines raises)
            mean = (weight @ problem.Y) / total if total > 0 else np.zeros(problem.n_outputs)
            square = weight @ (problem.Y - mean) ** 2
        moments = (total, mean, square)
        peak = float(np.abs(problem.Y).max())
    with np.errstate(over="ignore"):
        total_weight = float(problem.sample_weight.sum())
    return Summary(X.shape[0], total_weight, float(problem.sample_weight.max(initial=0.0)),
                   float(row_weight_bound(problem).max(initial=0.0)), column_nonzeros(X),
                   _scale_check_norm(X, est), stats, moments, peak)


def _scale_check_norm(X, est):
    """The largest squared row norm, where a fit warns on it (no preconditioner, with an
    intercept: ``_warn_if_badly_scaled``); else 0, and no pass over the rows."""
    if est.fit_intercept and not est._preconditioned():
        return largest_sq_row_norm(X)
    return 0.0


def _merge_moments(a, b):
    if a is None or b is None:
        return a if b is None else b
    (wa, ma, sa), (wb, mb, sb) = a, b
    total = wa + wb
    if not total > 0:
        return a
    delta = mb - ma
    return total, ma + delta * wb / total, sa + sb + delta * delta * wa * wb / total


def _merge_summaries(a, b):
    stats = None if a.stats is None else copy.deepcopy(a.stats).merge(b.stats)
    with np.errstate(over="ignore"):
        weight_total = a.weight_total + b.weight_total
    return Summary(
        a.n_rows + b.n_rows, weight_total, max(a.largest_weight, b.largest_weight),
        max(a.largest_row_weight, b.largest_row_weight), a.column_nonzeros + b.column_nonzeros,
        max(a.largest_sq_row_norm, b.largest_sq_row_norm), stats,
        _merge_moments(a.moments, b.moments),
        None if a.target_peak is None else max(a.target_peak, b.target_peak),
    )


def _in(problem, coordinates):
    preconditioner, l2, l1 = coordinates
    return problem._replace(preconditioner=preconditioner, l2=l2, l1=l1)


def _evaluate_chunk(problem, coordinates, weights, gradient):
    W, b = weights
    problem = _in(problem, coordinates)
    result = evaluate(problem, W, b, problem.train, gradient=gradient)
    return (result if gradient else (result,)), problem.n_train


def _merge_evaluations(a, b):
    """Sums of losses and row-weighted means of gradients (each chunk's is a mean over its rows)."""
    (parts_a, n_a), (parts_b, n_b) = a, b
    n = n_a + n_b
    losses = parts_a[0] + parts_b[0]
    if len(parts_a) == 1:
        return (losses,), n
    share = n_b / n if n else 0.0
    G = parts_a[1] + share * (parts_b[1] - parts_a[1])
    G_b = parts_a[2] + share * (parts_b[2] - parts_a[2])
    return (losses, G, G_b), n


def _intercept_chunk(problem, b):
    return intercept_only_losses(problem, b, problem.train)


def _peaks_chunk(problem):
    return column_peaks(problem.X)


def _gram_chunk(problem, coordinates, n_total, v, c):
    problem = _in(problem, coordinates)
    return gram_product(problem, row_weight_bound(problem) / n_total, v, c)


def _curvature_chunk(problem, coordinates):
    problem = _in(problem, coordinates)
    return max_row_curvature(problem, problem.train)


def _norm_sums_chunk(problem, coordinates):
    problem = _in(problem, coordinates)
    return np.array(row_norm_sums(problem, problem.train))


class LocalModel(NamedTuple):
    """A local model's state during an epoch of the stochastic and mini-batch solvers."""

    W: np.ndarray
    b: np.ndarray
    S1: np.ndarray
    S2: np.ndarray
    W_avg: np.ndarray
    b_avg: np.ndarray
    l1_received: np.ndarray
    l1_accrued: np.ndarray
    t: int
    losses: np.ndarray
    rows: int


def _local_epoch(problem, coordinates, model, seed, shuffle, batch_size, schedule, settings):
    """One pass of ``model`` (copied) over the chunk ``problem``'s rows."""
    optimizer_code, hyper, average_start, average_power = settings
    problem = _in(problem, coordinates)
    m = LocalModel(*(np.copy(x) if isinstance(x, np.ndarray) else x for x in model))
    n = problem.n_train
    center = problem.preconditioner.center
    if (sp.issparse(problem.X) and center.any()
            and lazy_steps(optimizer_code, batch_size, n, TRAIN)):
        # The optimizers' lazy loop takes the far columns centred in the
        # rows themselves (BaseGD._in_coordinates does the same in memory):
        # a copy per epoch, a pass over the chunk's entries.
        problem = problem._replace(lazy_rows=explicitly_centred(problem.X, center))
    order = np.random.RandomState(seed).permutation(n) if shuffle else np.arange(n)
    state_args = (optimizer_code, hyper, m.S1, m.S2, average_start, average_power, m.W_avg,
                  m.b_avg, m.t, m.l1_received, m.l1_accrued)
    t, losses = call_kernel(problem, order, batch_size, m.W, m.b, schedule, state_args)
    return m._replace(t=t, losses=m.losses + losses, rows=m.rows + n)


def _average_models(*models):
    """The row-weighted average of the local models (the losses met are summed)."""
    rows = np.array([m.rows for m in models], dtype=np.float64)
    share = rows / rows.sum()

    def mean(field):
        arrays = [getattr(m, field) for m in models]
        if arrays[0].size == 0:
            return arrays[0]
        return sum(s * a.astype(np.float64) for s, a in zip(share, arrays)).astype(arrays[0].dtype)

    fields = {f: mean(f) for f in ("W", "b", "S1", "S2", "W_avg", "b_avg", "l1_received",
                                   "l1_accrued")}
    t = int(round(float(share @ np.array([m.t for m in models], dtype=np.float64))))
    return LocalModel(**fields, t=t, losses=sum(m.losses for m in models), rows=int(rows.sum()))


# ------------------------------------------------------------ the client
def _tree(parts, combine):
    """A reduction of the delayed ``parts`` in a fixed tree over their order."""
    from dask import delayed

    while len(parts) > 1:
        parts = [delayed(reduce)(combine, parts[i:i + TREE_WIDTH])
                 for i in range(0, len(parts), TREE_WIDTH)]
    return parts[0]


def _literal(value):
    """``value`` as one key of the graph, however many tasks read it."""
    from dask import delayed

    return delayed(value, traverse=False)


def _lost_worker_errors():
    try:
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError
    except ImportError:  # dask without distributed: no workers to lose
        return ()
    return (KilledWorker, FutureCancelledError)


def _compute(graph):
    """Compute ``graph`` on the current dask scheduler; a lost worker raises a clear error."""
    import dask

    try:
        (result,) = dask.compute(graph)
    except _lost_worker_errors() as exc:
        worker = getattr(exc, "last_worker", None)
        where = f" (last on worker {worker.address})" if worker is not None else ""
        raise RuntimeError(
            f"A dask worker was lost during the fit and the chunks it held could not be "
            f"recomputed{where}: {exc!r}. No model was stored: the estimator is as it "
            "was before this call. Fit again once the cluster is stable (chunks built "
            "from files or from a dask graph are recomputed; chunks scattered from "
            "this process are not)."
        ) from exc
    return result


def _local_models(est, n_chunks):
    """How many local models the stochastic and mini-batch solvers average.

    ``n_jobs`` when set; otherwise the threads of the current dask cluster
    (or this machine's cores under dask's local scheduler). At most one per
    chunk.
    """
    if est.n_jobs is not None:
        n = effective_n_jobs(est.n_jobs)
    else:
        try:
            from distributed import get_client

            n = sum(get_client().nthreads().values())
        except (ImportError, ValueError):
            n = effective_n_jobs(-1)
    return max(1, min(n, n_chunks))


class ChunkedProblem:
    """A :class:`~skgd._engine.Problem` whose rows are the chunks of a dask array.

    It has the attributes of a Problem that the fit driver reads without
    touching rows, and the operations that do read rows (the functions of
    :mod:`skgd._engine` and :mod:`skgd._steps` call them when ``chunked``).
    """

    chunked = True

    def __init__(self, X, chunks, summary, template, n_local_models, shuffle, seed):
        self.X = X  # the dask array (its shape and dtype)
        self.chunks = chunks  # persisted, one Problem per row chunk
        self.summary = summary
        self.n_train = summary.n_rows
        self.train = np.empty(0, dtype=np.int64)  # (no rows here)
        self.n_outputs = template.n_outputs
        self.loss_code = template.loss_code
        self.epsilon = template.epsilon
        self.fit_intercept = template.fit_intercept
        self.preconditioner = template.preconditioner
        self.l2 = template.l2
        self.l1 = template.l1
        self.largest_sq_row_norm = summary.largest_sq_row_norm
        self.target_peak = summary.target_peak
        self._template = template  # one zero row, for the STEP mode
        self._n_local_models = n_local_models
        self._shuffle = shuffle
        self._rng = np.random.RandomState(seed)

    def _replace(self, preconditioner, l2, l1):
        new = object.__new__(ChunkedProblem)
        new.__dict__.update(self.__dict__)
        new.preconditioner, new.l2, new.l1 = preconditioner, l2, l1
        return new

    @property
    def step_problem(self):
        return self._template._replace(preconditioner=self.preconditioner, l2=self.l2,
                                       l1=self.l1)

    def _coordinates(self):
        return _literal((self.preconditioner, self.l2, self.l1))

    def _over_chunks(self, function, combine, *args):
        """``function(chunk, *args)`` on every chunk, combined in a fixed tree."""
        from dask import delayed

        return _compute(_tree([delayed(function)(chunk, *args) for chunk in self.chunks],
                              combine))

    def evaluate(self, W, b, gradient):
        """As :func:`skgd._engine.evaluate` over all rows."""
        weights = _literal((np.array(W), np.array(b)))
        parts, n = self._over_chunks(_evaluate_chunk, _merge_evaluations, self._coordinates(),
                                     weights, gradient)
        self._check_rows(n)
        return parts if gradient else parts[0]

    def _check_rows(self, n):
        if n != self.n_train:  # never a model from part of the data
            raise RuntimeError(
                f"A pass over the dask chunks met {n} rows, not the {self.n_train} of X. "
                "No model was stored; fit again."
            )

    def intercept_only_losses(self, b):
        return self._over_chunks(_intercept_chunk, np.add, np.asarray(b, dtype=np.float64))

    def column_peaks(self):
        return self._over_chunks(_peaks_chunk, np.maximum)

    def gram_product(self, v, c):
        return self._over_chunks(_gram_chunk, np.add, self._coordinates(), self.n_train, v, c)

    def max_row_curvature(self):
        return float(self._over_chunks(_curvature_chunk, max, self._coordinates()))

    def row_norm_sums(self):
        return tuple(float(v) for v in self._over_chunks(_norm_sums_chunk, np.add,
                                                         self._coordinates()))

    def column_nonzeros(self):
        return self.summary.column_nonzeros

    def target_mean(self):
        return self.summary.moments[1]

    def target_scale(self):
        """As :func:`skgd._steps.target_scale`, from the chunks' moments."""
        if self.summary.moments is None:
            return 1.0
        total, _, square = self.summary.moments
        if not total > 0:
            return 1.0
        std = float(np.sqrt(np.maximum(square / total, 0.0)).mean())
        return std if std > 0 else float(np.finfo(np.float64).tiny)

    def local_epochs(self, batch_size, W, b, schedule, state_args):
        """One epoch of local models averaged; updates the state in place like a kernel call."""
        from dask import delayed

        (optimizer_code, hyper, S1, S2, average_start, average_power, W_avg, b_avg, t,
         l1_received, l1_accrued) = state_args
        n_chunks = len(self.chunks)
        order = self._rng.permutation(n_chunks)
        seeds = self._rng.randint(np.iinfo(np.int32).max, size=n_chunks)
        start = _literal(LocalModel(W, b, S1, S2, W_avg, b_avg, l1_received, l1_accrued, t,
                                    np.zeros(W.shape[0]), 0))
        settings = (optimizer_code, hyper, average_start, average_power)
        coordinates = self._coordinates()
        ends = []
        for group in np.array_split(order, self._n_local_models):
            model = start
            for j in group:
                model = delayed(_local_epoch)(self.chunks[j], coordinates, model, seeds[j],
                                              self._shuffle, batch_size, schedule, settings)
            ends.append(model)
        merged = _compute(delayed(_average_models)(*ends))
        self._check_rows(merged.rows)
        for target, value in ((W, merged.W), (b, merged.b), (S1, merged.S1), (S2, merged.S2),
                              (W_avg, merged.W_avg), (b_avg, merged.b_avg),
                              (l1_received, merged.l1_received), (l1_accrued, merged.l1_accrued)):
            target[...] = value
        return merged.t, merged.losses


def _worker_estimator(est, counts):
    """A copy of ``est`` that builds chunks: fitted attributes the checks need, the class
    weights resolved over all rows."""
    from sklearn.base import clone

    worker = clone(est)
    worker.n_features_in_ = est.n_features_in_
    if est._is_classifier:
        worker.classes_ = est.classes_
        if est.class_weight == "balanced":
            # compute_class_weight's "balanced": n_samples / (n_classes * count).
            worker.class_weight = dict(zip(est.classes_.tolist(),
                                           counts.sum() / (len(counts) * counts)))
    return worker


def _check_targets(est, y, classes, partial, first_call):
    """The checks and label encoding of ``_prepare_targets``, on y's distinct values only.

    Returns the count of each class (None for regression).
    """
    if not est._is_classifier:
        est._prepare_targets(np.zeros((1,) + y.shape[1:]), classes=classes, partial=partial,
                             first_call=first_call)
        return None
    import dask.array as da

    if y.ndim != 1:
        raise ValueError(f"y must be 1-D for GDClassifier; got shape {y.shape}.")
    labels, counts = _compute(da.unique(y, return_counts=True))
    est._prepare_targets(labels, classes=classes, partial=partial, first_call=first_call)
    # Classes of partial_fit's ``classes`` that this y does not hold count 0.
    return np.array([counts[labels == c].sum() for c in est.classes_], dtype=np.float64)


def _draw_seed(rng):
    """A seed drawn from ``rng``: a ``Generator`` or a ``RandomState`` (see ``row_shuffler``)."""
    high = np.iinfo(np.int32).max
    return int(rng.integers(high) if isinstance(rng, np.random.Generator) else rng.randint(high))


def chunked_problem(est, X, y, sample_weight, classes, partial, first_call, rng):
    """The :class:`ChunkedProblem` of a ``fit`` or ``partial_fit`` call on dask data,
    and the column statistics its coordinates come from."""
    import dask
    from dask import delayed

    if est.early_stopping:
        raise ValueError(
            "early_stopping=True is not available for dask arrays (its validation "
            "split would have to gather rows). Set early_stopping=False and score a "
            "held-out dask array yourself, e.g. with est.score(X_test, y_test)."
        )
    _register_sizeof()
    fresh = first_call or not partial
    X, y, sample_weight = dask_inputs(est, X, y, sample_weight, reset=fresh)
    counts = _check_targets(est, y, classes, partial, first_call)
    worker = _worker_estimator(est, counts)
    blocks = X.to_delayed().ravel()
    ys = y.to_delayed().ravel()
    weights = [None] * len(blocks) if sample_weight is None else sample_weight.to_delayed().ravel()
    # (Chunks without rows, as a filtered dask DataFrame has, hold nothing to fit.)
    full = [i for i, n in enumerate(X.chunks[0]) if n > 0]
    if not full:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                         "of 1 is required: X has no rows.")
    chunks = dask.persist(*[delayed(_build_chunk)(worker, blocks[i], ys[i], weights[i])
                            for i in full])
    previous = est._previous_stats(fresh, sp.issparse(X._meta))
    with_stats = previous is not None or est._preconditioned()
    # (The chunks' statistics hold the all-rows moments if those they merge into do.)
    all_rows = est._stats_for_call(previous, X, sp.issparse(X._meta)).all_rows
    summary = _compute(_tree([delayed(_summarize)(c, worker, with_stats, all_rows)
                              for c in chunks], _merge_summaries))
    est._check_weight_total(summary.weight_total)
    est._check_training_weights(summary.largest_weight, summary.largest_row_weight)
    template = _template(est, worker, X, y)
    problem = ChunkedProblem(X, chunks, summary, template, _local_models(est, len(chunks)),
                             est.shuffle, _draw_seed(rng))
    stats = None
    if with_stats:
        stats = summary.stats if previous is None else previous.merge(summary.stats)
        problem = est._in_coordinates(problem, stats)
    return problem, stats


def _template(est, worker, X, y):
    """A one-row in-memory Problem of the same kind (dtype, storage, outputs), weight 0."""
    d = X.shape[1]
    row = sp.csr_matrix((1, d), dtype=X.dtype) if sp.issparse(X._meta) else np.zeros((1, d), X.dtype)
    label = worker.classes_[:1] if est._is_classifier else np.zeros((1,) + y.shape[1:])
    targets = worker._prepare_targets(label, classes=getattr(worker, "classes_", None),
                                      partial=True, first_call=True)
    k = targets.n_outputs
    return est._make_problem(row, targets, np.zeros(1), np.ones(k), np.ones(k), np.arange(1))


# ------------------------------------------------------------ predicting
def _apply(block, method, names):
    if names is not None and not sp.issparse(block):
        import pandas as pd

        block = pd.DataFrame(block, columns=names)
    return method(block)


def map_row_blocks(est, method, X):
    """``method`` (a prediction) over the row chunks of dask ``X``: a lazy dask array."""
    from sklearn.utils.validation import _check_feature_names, check_is_fitted

    check_is_fitted(est)
    _check_feature_names(est, X._meta if hasattr(X, "columns") else X, reset=False)
    X = _as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X, got shape {X.shape}.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    names = getattr(est, "feature_names_in_", None)
    probe = _apply(np.zeros((1, X.shape[1])), method, names)
    meta = np.empty((0,) * probe.ndim, dtype=probe.dtype)
    if probe.ndim == 1:
        return X.map_blocks(_apply, method, names, drop_axis=1, dtype=probe.dtype, meta=meta)
    return X.map_blocks(_apply, method, names, chunks=(X.chunks[0], (probe.shape[1],)),
                        dtype=probe.dtype, meta=meta)
