"""Speed and accuracy of skgd against scikit-learn's SGD estimators, in one run.

Prints markdown tables (ready to paste into an issue) for four sections:

* ``regression``: dense 200,000 x 100 regression, time per epoch of
  ``GDRegressor`` with each solver against ``SGDRegressor``, and the batch
  solver's step against two numpy matrix-vector products;
* ``sparse``: the same on CSR data, 100,000 x 50,000, ~100 non-zeros a row;
* ``classification``: k epochs of one-vs-rest hinge ``GDClassifier`` against
  ``SGDClassifier`` on 10 classes, and the binary case;
* ``optimizers``: time per epoch of every optimizer with the stochastic and
  mini-batch solvers, on the dense and the sparse data.

Each section ends with goal lines; a summary of all goals closes the run.
See ``benchmarks/README.md`` for the method and the meaning of every column.

Usage::

    python benchmarks/bench.py                  # everything, a few minutes
    python benchmarks/bench.py --quick          # sizes / 10, under a minute
    python benchmarks/bench.py --only sparse    # one section (repeatable)
"""

import argparse
import contextlib
import gc
import os
import platform
import re
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numba
import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
import threadpoolctl
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.preprocessing import StandardScaler

# Benchmark the checkout this script lives in, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import skgd  # noqa: E402
from skgd import GDClassifier, GDRegressor  # noqa: E402

SECTIONS = ("regression", "sparse", "classification", "optimizers")
SOLVERS = ("stochastic", "minibatch", "batch")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
# Rows of the warm-up fit: enough to run every code path (and so compile every
# numba kernel the timed fits use) at a negligible cost.
WARMUP_ROWS = 2_000
# partial_fit calls timed after each k-epoch fit (one more epoch each).
PARTIAL_FIT_CALLS = 2
# Repeats of each matrix-vector product timed for the batch solver's goal.
MATVEC_REPEATS = 20


# --------------------------------------------------------------------- setup
@dataclass(frozen=True)
class Config:
    """Sizes and repeat counts of one run (``--quick`` divides sizes by 10)."""

    quick: bool
    repeats: int  # timed fits per model in the regression/classification sections
    optimizer_repeats: int  # timed fits per model in the optimizers section
    epochs: int  # k: every timed fit runs max_iter=k epochs with tol=None
    optimizer_epochs: int  # k in the optimizers section
    dense_rows: int
    dense_features: int
    sparse_rows: int
    sparse_features: int
    sparse_nnz_per_row: int
    class_rows: int
    class_features: int
    n_classes: int
    test_fraction: float = 0.2  # held-out rows, on top of the training rows

    @classmethod
    def from_args(cls, args):
        scale = 10 if args.quick else 1
        return cls(
            quick=args.quick,
            repeats=args.repeats or (2 if args.quick else 5),
            optimizer_repeats=args.repeats or (2 if args.quick else 3),
            epochs=args.epochs or 5,
            optimizer_epochs=args.epochs or 3,
            dense_rows=200_000 // scale,
            dense_features=100,
            sparse_rows=100_000 // scale,
            sparse_features=50_000 // scale,
            sparse_nnz_per_row=100,
            class_rows=200_000 // scale,
            class_features=100,
            n_classes=10,
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true",
        help="divide the data sizes by 10 (a smoke test of under a minute)",
    )
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, metavar="SECTION",
        help=f"run only this section (repeatable); one of {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed fits per model (default 5 for the first three sections, "
        "3 for optimizers; 2 everywhere with --quick)",
    )
    parser.add_argument(
        "--blas-threads", type=int, default=None, metavar="N",
        help="limit BLAS to N threads for the whole run (default: leave the "
        "libraries' own setting; the matvec table shows 1 thread either way)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None,
        help="epochs k of each timed fit (max_iter=k, tol=None); default 5, "
        "and 3 in the optimizers section",
    )
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.blas_threads is not None and args.blas_threads < 1:
        parser.error("--blas-threads must be at least 1")
    return args


def blas_threads():
    """Threads of the BLAS libraries loaded now (the largest, if they differ)."""
    infos = threadpoolctl.threadpool_info()
    return max((i["num_threads"] for i in infos if i["user_api"] == "blas"), default=1)


def load_average():
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def print_environment(cfg):
    """Command line, versions, BLAS threading and the run's settings."""
    print("# skgd benchmark\n")
    print(f"- command: `{shlex.join(sys.orig_argv)}`")
    print(
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"numba {numba.__version__}, skgd {skgd.__version__} "
        f"({Path(skgd.__file__).parent})"
    )
    print(
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_average()} at start"
    )
    print(f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(
        f"- settings: epochs k={cfg.epochs} (optimizers: {cfg.optimizer_epochs}), "
        f"repeats={cfg.repeats} (optimizers: {cfg.optimizer_repeats}), quick={cfg.quick}, "
        f"BLAS threads {blas_threads()}; times are medians over the repeats"
    )
    rows = [
        (
            info.get("user_api", ""), info.get("internal_api", ""),
            info.get("version") or "", info.get("num_threads", ""),
            info.get("threading_layer", ""), info.get("architecture", ""),
            Path(info.get("filepath", "")).name,
        )
        for info in threadpoolctl.threadpool_info()
    ]
    print_table(
        "threadpoolctl",
        ("api", "library", "version", "threads", "threading", "arch", "file"),
        rows,
    )


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class Dataset:
    """A training/test split and a one-line description for table titles."""

    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    description: str


def _split(X, y, n_train, description):
    return Dataset(X[:n_train], y[:n_train], X[n_train:], y[n_train:], description)


@cache
def dense_regression(n_rows, n_features, test_fraction, seed=0):
    """Linear model plus noise on features of assorted scales, standardised."""
    rng = np.random.default_rng(seed)
    n_total = n_rows + int(n_rows * test_fraction)
    X = rng.standard_normal((n_total, n_features))
    X *= rng.uniform(0.5, 5.0, n_features)
    X += rng.normal(0.0, 3.0, n_features)
    X = StandardScaler().fit(X[:n_rows]).transform(X)
    coef = rng.standard_normal(n_features)
    y = X @ coef + 3.0 + 3.0 * rng.standard_normal(n_total)
    return _split(X, y, n_rows, f"dense {n_rows:,} x {n_features}")


@cache
def sparse_regression(n_rows, n_features, nnz_per_row, test_fraction, seed=1):
    """CSR data with ``nnz_per_row`` random columns a row, linear model plus noise."""
    rng = np.random.default_rng(seed)
    n_total = n_rows + int(n_rows * test_fraction)
    columns = rng.integers(0, n_features, size=n_total * nnz_per_row, dtype=np.int32)
    values = rng.standard_normal(n_total * nnz_per_row)
    indptr = np.arange(0, n_total * nnz_per_row + 1, nnz_per_row, dtype=np.int64)
    X = sp.csr_matrix((values, columns, indptr), shape=(n_total, n_features))
    X.sum_duplicates()  # sorts each row's columns and merges repeated ones
    coef = rng.standard_normal(n_features)
    y = X @ coef + 3.0 + 3.0 * rng.standard_normal(n_total)
    nnz = X[:n_rows].nnz / n_rows
    return _split(
        X, y, n_rows,
        f"CSR {n_rows:,} x {n_features:,}, {nnz:.1f} non-zeros a row",
    )


@cache
def classification(n_rows, n_features, n_classes, test_fraction, seed=2):
    """``make_classification`` data, standardised."""
    n_total = n_rows + int(n_rows * test_fraction)
    X, y = make_classification(
        n_samples=n_total, n_features=n_features, n_informative=30,
        n_redundant=10, n_classes=n_classes, n_clusters_per_class=1,
        random_state=seed,
    )
    X = StandardScaler().fit(X[:n_rows]).transform(X)
    return _split(X, y, n_rows, f"dense {n_rows:,} x {n_features}, {n_classes} classes")


# -------------------------------------------------------------------- timing
@dataclass(frozen=True)
class Timing:
    """Medians of the timed fits of one model.

    ``fit`` is the fit time with ``max_iter=k`` and ``epoch = fit / k`` the
    headline time per epoch. ``step`` is the time of one ``partial_fit`` call
    on the fitted model: one more epoch without the once-per-fit setup.
    ``setup = fit - k * step`` estimates that setup (validation, step-size
    resolution, first intercept).
    """

    fit: float
    epochs: int
    step: float = float("nan")

    @property
    def epoch(self):
        return self.fit / self.epochs

    @property
    def setup(self):
        return self.fit - self.epochs * self.step


@dataclass(frozen=True)
class Result:
    """One timed model: its label, timing and score on the held-out rows."""

    label: str
    timing: Timing
    score: float


def _timed(function):
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def time_models(models, data, epochs, repeats, incremental=True):
    """Time fits of each ``(label, estimator)`` with ``max_iter=epochs, tol=None``.

    Every model first gets a warm-up fit on the first rows, so that numba
    compilation (or loading the compiled kernels from the on-disk cache) is
    excluded. The timed fits are interleaved: each of the ``repeats`` rounds
    fits every model once, so that a change in the machine's load affects
    all models alike. With ``incremental``, each fit is followed by
    :data:`PARTIAL_FIT_CALLS` timed ``partial_fit`` calls on the fitted model
    (under scikit-learn's ``assume_finite=True``, so that the scan of ``X``
    for NaN/inf is not timed, for both libraries). Returns one
    :class:`Result` per model, scored (``model.score``) on the test rows
    right after its last ``epochs``-epoch fit.
    """
    X, y = data.X_train, data.y_train
    warm = min(WARMUP_ROWS, X.shape[0])
    for _, estimator in models:
        clone(estimator).set_params(max_iter=1, tol=None).fit(X[:warm], y[:warm])
    fits = {label: [] for label, _ in models}
    steps = {label: [] for label, _ in models}
    scores = {}
    for repeat in range(repeats):
        for label, estimator in models:
            model = clone(estimator).set_params(max_iter=epochs, tol=None)
            fits[label].append(_timed(lambda: model.fit(X, y)))
            if repeat == repeats - 1:
                scores[label] = model.score(data.X_test, data.y_test)
            if incremental:
                with sklearn.config_context(assume_finite=True):
                    steps[label] += [_timed(lambda: model.partial_fit(X, y))
                                     for _ in range(PARTIAL_FIT_CALLS)]
    return [
        Result(label, Timing(
            statistics.median(fits[label]), epochs,
            statistics.median(steps[label]) if steps[label] else float("nan"),
        ), scores[label])
        for label, _ in models
    ]


def time_call(function, repeats):
    """Median wall time of ``function()`` over ``repeats`` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_marginal_epoch(estimator, data, epochs, repeats):
    """Median of ``(fit(2 k epochs) - fit(k epochs)) / k``: the cost of one more epoch.

    Unlike ``fit / k`` it leaves out the once-per-fit work (validation, the
    step-size estimate, the final objective), and unlike a ``partial_fit``
    call it leaves out the per-call work too: it is the time of one step of
    a long batch fit. The two fits alternate, so load changes hit both.
    """
    X, y = data.X_train, data.y_train
    short = clone(estimator).set_params(max_iter=epochs, tol=None)
    long = clone(estimator).set_params(max_iter=2 * epochs, tol=None)
    short.fit(X, y)  # warm-up
    differences = []
    for _ in range(repeats):
        differences.append((_timed(lambda: long.fit(X, y)) - _timed(lambda: short.fit(X, y))) / epochs)
    return statistics.median(differences)


def time_matvecs(X):
    """Median times of ``X @ w`` and ``X.T @ r``, with the default BLAS threads and one.

    Returns ``{n_threads: (t_Xw, t_XTr)}``, the run's setting first. scipy's sparse products do
    not use BLAS threads, so for CSR input both entries measure the same code.
    """
    rng = np.random.default_rng(3)
    w = rng.standard_normal(X.shape[1])
    r = rng.standard_normal(X.shape[0])
    Xt = X.T

    def both():
        return time_call(lambda: X @ w, MATVEC_REPEATS), time_call(lambda: Xt @ r, MATVEC_REPEATS)

    out = {blas_threads(): both()}
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        out[1] = both()
    return out


# ------------------------------------------------------------------- output
NUMBER = re.compile(r"^[<=+\- ]*[\d,]*\.?\d+[x%]?$|^n/a$|^$")


def print_table(title, headers, rows, notes=()):
    """Print a markdown table: numeric columns right-aligned, text left-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [all(NUMBER.match(row[i]) for row in cells) for i in range(len(headers))]

    def line(values):
        padded = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if right else ":" + "-" * (w - 1)
            for w, right in zip(widths, numeric)]
    print(f"\n### {title}\n")
    print(line(headers))
    print(line(rule))
    for row in cells:
        print(line(row))
    for note in notes:
        print(f"\n{note}")


def ms(seconds):
    return "n/a" if np.isnan(seconds) else f"{1000 * seconds:,.1f}"


def ratio(a, b):
    return "n/a" if np.isnan(a) or np.isnan(b) or b <= 0 else f"{a / b:.2f}x"


TIMING_HEADERS = ("ms/epoch", "ratio", "partial_fit ms", "ratio (partial_fit)", "setup ms")


def timing_cells(timing, reference):
    """Cells of :data:`TIMING_HEADERS`: times and their ratios to ``reference``."""
    return (
        ms(timing.epoch), ratio(timing.epoch, reference.epoch),
        ms(timing.step), ratio(timing.step, reference.step),
        ms(timing.setup),
    )


@dataclass
class Goals:
    """Goal checks: printed where they are measured and summarised at the end."""

    rows: list = field(default_factory=list)

    def check(self, name, value, limit, step=None, unit="x"):
        """Record ``value <= limit`` (and the same for the partial_fit-based value)."""
        def show(v):
            return "n/a" if v is None or np.isnan(v) else f"{v:.2f}{unit}"

        def status(v):
            if v is None or np.isnan(v):
                return "n/a"
            return "met" if v <= limit else "MISSED"

        row = (name, f"<= {limit:.2f}{unit}", show(value), status(value),
               show(step), status(step))
        self.rows.append(row)
        text = f"- **goal** {name} {row[1]}: {row[2]} -> {row[3]}"
        if step is not None:
            text += f" (partial_fit: {row[4]} -> {row[5]})"
        print(text)

    def summary(self):
        if self.rows:
            print_table(
                "Goals",
                ("goal", "limit", "measured", "status", "partial_fit", "status (partial_fit)"),
                self.rows,
                notes=["'measured' uses ms/epoch = fit time / k (for the batch step, the "
                       "marginal epoch (fit(2k) - fit(k)) / k); 'partial_fit' uses the "
                       "time of one partial_fit call (one epoch without the per-fit setup)."],
            )


# ----------------------------------------------------------------- sections
def _regression_models(random_state=0):
    """GDRegressor with each solver, then SGDRegressor (the reference, last)."""
    models = [
        (f"GDRegressor(solver={s!r})", GDRegressor(solver=s, random_state=random_state))
        for s in SOLVERS
    ]
    return models + [("SGDRegressor()", SGDRegressor(random_state=random_state))]


BATCH = "GDRegressor(solver='batch')"


def regression_table(data, cfg):
    """Time every regression model on ``data``; print the table; return results by label."""
    results = time_models(_regression_models(), data, cfg.epochs, cfg.repeats)
    reference = results[-1].timing
    print_table(
        f"Regression, {data.description}: time per epoch (k={cfg.epochs})",
        ("model", *TIMING_HEADERS, "test R²"),
        [(r.label, *timing_cells(r.timing, reference), f"{r.score:.4f}") for r in results],
        notes=["ratio = skgd / SGDRegressor in this run."],
    )
    return {r.label: r for r in results}


def matvec_table(data, batch_timing, batch_marginal):
    """Print the two-matvec reference; return its fastest total in seconds.

    The fastest of the two thread settings is the reference of the batch
    solver's goal: on a busy machine a threaded product can be far slower
    than a single-threaded one, which would make the goal too easy.
    """
    times = time_matvecs(data.X_train)
    rows = []
    for threads, (t_xw, t_xtr) in times.items():
        total = t_xw + t_xtr
        rows.append((f"{threads} BLAS thread(s)", ms(t_xw), ms(t_xtr), ms(total),
                     ratio(batch_timing.epoch, total), ratio(batch_timing.step, total),
                     ratio(batch_marginal, total)))
    print_table(
        f"Two matrix-vector products with numpy, {data.description}",
        ("", "X @ w ms", "X.T @ r ms", "sum ms", "batch epoch / sum",
         "batch partial_fit / sum", "batch marginal epoch / sum"),
        rows,
        notes=["The batch solver's epoch is one step: a gradient X.T @ (X @ w - y) "
               "plus an update, about the work of two matvecs. 'epoch' is fit / k, "
               "which spreads the per-fit setup (the step-size estimate by power "
               "iteration, the final objective) over k epochs; 'partial_fit' adds "
               f"the final objective to each call; 'marginal epoch' "
               f"({ms(batch_marginal)} ms) is (fit(2k) - fit(k)) / k, the cost of "
               "one more step in a long fit. The goal uses the marginal epoch and "
               "the faster of the two rows."],
    )
    return min(sum(pair) for pair in times.values())


def _regression_section(data, cfg, goals, name, stochastic_limit):
    """Regression table, matvec table and goal lines for one data set."""
    results = regression_table(data, cfg)
    marginal = time_marginal_epoch(
        dict(_regression_models())[BATCH], data, cfg.epochs, cfg.repeats)
    matvecs = matvec_table(data, results[BATCH].timing, marginal)
    stochastic = results["GDRegressor(solver='stochastic')"].timing
    reference = results["SGDRegressor()"].timing
    print()
    goals.check(f"{name}: stochastic epoch / SGDRegressor epoch",
                stochastic.epoch / reference.epoch, stochastic_limit,
                stochastic.step / reference.step)
    goals.check(f"{name}: batch step (marginal epoch) / (X @ w + X.T @ r)",
                marginal / matvecs, 1.3, results[BATCH].timing.step / matvecs)


def section_regression(cfg, goals):
    data = dense_regression(cfg.dense_rows, cfg.dense_features, cfg.test_fraction)
    _regression_section(data, cfg, goals, "dense", 0.7)


def section_sparse(cfg, goals):
    data = sparse_regression(
        cfg.sparse_rows, cfg.sparse_features, cfg.sparse_nnz_per_row, cfg.test_fraction
    )
    _regression_section(data, cfg, goals, "sparse", 1.0)


def classification_table(data, cfg, n_jobs_values):
    """Time GDClassifier (OvR, hinge, stochastic) and SGDClassifier; return results."""
    models = [("GDClassifier(solver='stochastic')",
               GDClassifier(solver="stochastic", random_state=0))]
    models += [(f"SGDClassifier(n_jobs={n})", SGDClassifier(n_jobs=n, random_state=0))
               for n in n_jobs_values]
    results = time_models(models, data, cfg.epochs, cfg.repeats, incremental=False)
    reference = results[1]
    print_table(
        f"Classification, {data.description}: {cfg.epochs} epochs, hinge loss",
        ("model", "fit ms", "ratio", "test accuracy", "accuracy - reference"),
        [(r.label, ms(r.timing.fit), ratio(r.timing.fit, reference.timing.fit),
          f"{r.score:.4f}", f"{r.score - reference.score:+.4f}") for r in results],
        notes=[f"ratio and accuracy difference are against {reference.label}."],
    )
    return results


def section_classification(cfg, goals):
    cases = (
        (cfg.n_classes, (1, 2), 0.3),
        (2, (1,), 0.7),
    )
    for n_classes, n_jobs_values, limit in cases:
        data = classification(cfg.class_rows, cfg.class_features, n_classes, cfg.test_fraction)
        gd, reference = classification_table(data, cfg, n_jobs_values)[:2]
        print()
        goals.check(f"{n_classes} classes: GDClassifier fit / SGDClassifier(n_jobs=1) fit",
                    gd.timing.fit / reference.timing.fit, limit)
        goals.check(f"{n_classes} classes: accuracy drop vs SGDClassifier(n_jobs=1)",
                    reference.score - gd.score, 0.02, unit="")


def _optimizer_groups(cfg):
    """(data name, solver, Dataset) for each block of the optimizers table."""
    dense = dense_regression(cfg.dense_rows, cfg.dense_features, cfg.test_fraction)
    sparse = sparse_regression(
        cfg.sparse_rows, cfg.sparse_features, cfg.sparse_nnz_per_row, cfg.test_fraction
    )
    return (
        ("dense", "stochastic", dense),
        ("dense", "minibatch", dense),
        ("sparse", "stochastic", sparse),
        ("sparse", "minibatch", sparse),
    )


def section_optimizers(cfg, goals):
    rows = []
    for kind, solver, data in _optimizer_groups(cfg):
        models = [(opt, GDRegressor(solver=solver, optimizer=opt, random_state=0))
                  for opt in OPTIMIZERS]
        models.append(("SGDRegressor()", SGDRegressor(random_state=0)))
        *results, reference = time_models(
            models, data, cfg.optimizer_epochs, cfg.optimizer_repeats
        )
        reference = reference.timing
        sgd = results[0].timing
        for r in results:
            t = r.timing
            rows.append((
                f"{kind} {solver}", f"{data.X_train.shape[0]:,}", r.label,
                ms(t.epoch), ratio(t.epoch, sgd.epoch), ratio(t.epoch, reference.epoch),
                ms(t.step), ratio(t.step, sgd.step),
                ratio(t.step, reference.step), ms(t.setup), f"{r.score:.4f}",
            ))
        rows.append((f"{kind} {solver}", f"{data.X_train.shape[0]:,}", "SGDRegressor()",
                     ms(reference.epoch), "", "1.00x", ms(reference.step), "",
                     "1.00x", ms(reference.setup), ""))
        if kind == "dense":
            adam = results[OPTIMIZERS.index("adam")].timing
            goals.check(f"dense {solver}: adam epoch / sgd epoch",
                        adam.epoch / sgd.epoch, 1.5, adam.step / sgd.step)
        else:  # each optimizer O(nnz) a step on CSR, like plain sgd
            slowest = max(results[1:], key=lambda r: r.timing.epoch)
            goals.check(f"sparse {solver}: slowest optimizer ({slowest.label}) epoch / sgd epoch",
                        slowest.timing.epoch / sgd.epoch, 2.0,
                        slowest.timing.step / sgd.step)
    print_table(
        f"Optimizers: GDRegressor time per epoch (k={cfg.optimizer_epochs}, "
        f"{cfg.optimizer_repeats} repeats), learning_rate='auto'",
        ("data, solver", "train rows", "optimizer", "ms/epoch", "x sgd", "x SGDRegressor",
         "partial_fit ms", "x sgd (partial_fit)", "x SGDRegressor (partial_fit)",
         "setup ms", "test R²"),
        rows,
        notes=[
            f"Sparse data: CSR {cfg.sparse_rows:,} x {cfg.sparse_features:,}. "
            "On CSR input every optimizer moves only the columns of the step's "
            "rows and catches the others up when next met (skgd._lazy).",
            "Test R² is on the full held-out rows after k epochs with the "
            "auto learning rate: a sanity check, not a tuned result.",
        ],
    )


SECTION_FUNCTIONS = {
    "regression": section_regression,
    "sparse": section_sparse,
    "classification": section_classification,
    "optimizers": section_optimizers,
}


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.from_args(args)
    sys.stdout.reconfigure(line_buffering=True)
    warnings.simplefilter("ignore", ConvergenceWarning)
    limit = (
        threadpoolctl.threadpool_limits(limits=args.blas_threads, user_api="blas")
        if args.blas_threads else contextlib.nullcontext()
    )
    with limit:
        print_environment(cfg)
        goals = Goals()
        start = time.perf_counter()
        for name in SECTIONS:
            if args.only and name not in args.only:
                continue
            print(f"\n## {name}")
            section_start = time.perf_counter()
            SECTION_FUNCTIONS[name](cfg, goals)
            print(f"\n_{name}: {time.perf_counter() - section_start:.1f} s_")
        goals.summary()
    print(f"\nTotal: {time.perf_counter() - start:.1f} s; "
          f"load average {load_average()} at the end")


if __name__ == "__main__":
    main()
