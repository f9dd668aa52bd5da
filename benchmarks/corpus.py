"""Is skgd tuning-free on raw data? Every default configuration on a corpus of tasks.

For each task of the corpus (a dataset, a task type and a scaling), every
combination of ``solver`` (stochastic, minibatch, batch) and ``optimizer``
(sgd, momentum, adam) of ``GDRegressor`` / ``GDClassifier`` is fitted with
its defaults (``learning_rate="auto"``, ``alpha=1e-4``, ``penalty="l2"``,
``random_state=0``; classifiers with ``loss="log_loss"``), next to
scikit-learn's ``SGDRegressor()`` / ``SGDClassifier(loss="log_loss")``, and
its test score is compared with that of the exact optimum of the same
objective. ``--loss hinge`` fits the classifiers with the hinge loss instead
(``GDClassifier()``'s and ``SGDClassifier()``'s default), against the hinge
objective's optimum.

The objective and the references
--------------------------------
skgd minimises scikit-learn's SGD objective, ``(1/n) sum_i loss_i + alpha
|w|^2 / 2`` with an unpenalised intercept. Its exact optimum is:

* regression (squared error): the ridge solution, ``Ridge(alpha=n_train * alpha)``;
* classification (log loss): ``LogisticRegression(C=1 / (n_train * alpha))``
  for two classes and, since skgd's default ``multi_class="ovr"`` solves one
  binary problem per class, ``OneVsRestClassifier`` of it for more.

scikit-learn's solvers lose their accuracy when the columns' scales differ by
many orders of magnitude (on a 1e9 column Newton-Cholesky warns
``LinAlgWarning``, falls back to lbfgs and stops far from the optimum). So on
every task narrow enough to densify (dense, or CSR of at most
``DENSE_REFERENCE_COLUMNS`` columns) the reference is solved here, in
standardised coordinates (:func:`exact_optimum`): with ``z = (x - m) / s``
and ``v = s w`` the objective becomes a ridge with the weight ``alpha /
s_j^2`` on column j, the same optimum but a well-conditioned problem, solved
by one linear system (squared error) or by Newton's method to rounding level
(log loss, one problem per class). The hinge loss (``--loss hinge``) has no
closed form and no Newton step: its optimum is that of a smoothed hinge,
``(1 - z)^2 / (2 mu)`` within ``mu`` of the kink, by L-BFGS with the width
``mu`` divided by 10 from 1 to 1e-5, each stage warm-started from the last
(:func:`_smoothed_hinge`); the smoothed objective is within ``mu / 2`` of the
hinge's, so the result is within about 1e-5 of the optimum. That is the
reference on every task, the wide CSR ones too (scaled, not centred), and its
check is ``LinearSVC(loss="hinge")``, which also penalises the intercept.
Otherwise the wide TF-IDF tasks, whose rows have unit norm, use
``Ridge(solver="sparse_cg")`` and ``LogisticRegression(solver="lbfgs")`` with
tight tolerances. On every task scikit-learn's solution
(:func:`sklearn_optimum`) is fitted too, as a check: the corpus table shows
its score and objective next to the reference's; they agree to rounding
except where scikit-learn warned. Every fit's training objective is also
compared with the reference's (the "objective excess", relative): a fit
below the reference would mean that the reference is not the optimum.

The corpus
----------
Each task is named ``family/type/scaling``: type ``reg`` (test R²) or ``clf``
(test accuracy), scaling ``raw`` (the columns as they come) or ``std``
(``StandardScaler`` fitted on the training split; ``with_mean=False`` on
CSR). Every split is 75/25 with a fixed seed (stratified for
classification), every generator has a fixed seed.

* bundled scikit-learn data: ``diabetes`` (regression; raw is
  ``load_diabetes(scaled=False)``, the original units), ``breast_cancer``,
  ``wine``, ``iris``, ``digits`` (classification). They keep their sizes,
  which for diabetes, wine and iris are below 500 rows.
* synthetic tables: a linear score of the columns, plus Gaussian noise for
  regression (so that the reference's test R² is clearly positive), or
  labels drawn from a logistic model of the same score (balanced unless
  stated):

  - ``offset418``: one column N(-418, 18), ``y = 0.19 (x + 418) - 4.6 + 0.35 noise``;
  - ``offsets1e3-1e5``: three columns whose means are 1e3, 1e4 and 1e5 times
    their standard deviations;
  - ``year``: integer years 63..92, ``y = 2 x - 100 + 5 noise``;
  - ``size3e4``: one column 30000 + 350 N(0, 1); 10% positives;
  - ``lognormal1e9``: one lognormal(20, 1) column, ``y = 1e-7 x + 50 noise``;
  - ``scales1e4-1e-3``: three columns of standard deviations 1e4, 1 and 1e-3;
  - ``scales1e-3-1e9``: ten uncentred columns of scales from 1e-3 to 1e9;
  - ``onehot-dense``: three numeric columns of scales 1e2 to 1e5 beside
    four one-hot encoded categorical columns (35 levels), dense;
  - ``onehot-csr``: the same layout with 198 levels, as CSR (what a
    ``ColumnTransformer`` with a sparse ``OneHotEncoder`` outputs);
  - ``heavy-tails``: Student-t (2 degrees of freedom), Cauchy and lognormal
    columns;
  - ``near-duplicates``: four columns each next to a copy plus 1e-6 noise,
    and two other columns;
  - ``tfidf`` (regression and binary) and ``tfidf-5class``: CSR like
    ``TfidfVectorizer`` output, 4,000 rows x 10,000 columns, about 50
    Zipf-distributed terms a row, tf-idf weighted and L2-normalised rows
    (raw only: that already is the usual preprocessed form).

Output
------
The corpus table: each task's size, format, classes, its reference
(``exact`` or ``sklearn``) with its test score and any warning, the best
objective excess of the configurations (and seeds), and scikit-learn's check.

The summary, one row per configuration: ``fits``, the tasks times the seeds
(``--seeds K``: every fit with random_state 0 to K - 1); ``within 0.01``,
the fraction of fits whose test score is at least the reference's minus
0.01 (better than the reference counts as within; also split into raw and
standardised tasks); ``raised``, fits that raised (skgd's
``DivergenceError`` is a ``ValueError``; other exception types are listed
after the table); ``warned``, fits that emitted any warning
(``ConvergenceWarning`` or other); ``far & silent``, fits more than 0.01
behind the reference with neither a warning nor an exception, the worst
outcome; ``median time / SGD``, the median over fits of the fit time over
that of the scikit-learn peer on the same task and seed (fits where either
raised are left out). ``--details`` adds a row per task, configuration and
seed (with ``n_iter_`` and the objective excess).

Fit times are of one fit, timed with ``time.perf_counter``; before the
first fit of each configuration on each kind of data (regression, binary or
multiclass; dense or CSR), an untimed warm-up fit on a few rows compiles
skgd's numba kernels (or loads them from the on-disk cache).

Usage::

    python benchmarks/corpus.py                         # 57 tasks, about a minute
    python benchmarks/corpus.py --quick                 # 10 small tasks, under a minute
    python benchmarks/corpus.py --details --only-tasks /raw --only-configs gd/batch
    python benchmarks/corpus.py --seeds 3               # each fit with random_state 0, 1, 2
    python benchmarks/corpus.py --loss hinge --only-tasks /clf/   # about 3 minutes
"""

import argparse
import os
import platform
import re
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numba
import numpy as np
import scipy
import scipy.linalg
import scipy.sparse as sp
import sklearn
from scipy.optimize import brentq, minimize
from scipy.special import expit
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

# Benchmark the checkout this script lives in, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import skgd  # noqa: E402
from skgd import GDClassifier, GDRegressor  # noqa: E402

ALPHA = 1e-4  # the default alpha of skgd and of scikit-learn's SGD estimators
TOLERANCE = 0.01  # "within": reference score - score <= TOLERANCE
SOLVERS = ("stochastic", "minibatch", "batch")
OPTIMIZERS = ("sgd", "momentum", "adam")
CLASSIFICATION_LOSSES = ("log_loss", "hinge")  # --loss
TEST_SIZE = 0.25
SPLIT_SEED = 0
# CSR tasks with at most this many columns are densified for the reference.
DENSE_REFERENCE_COLUMNS = 1_000
# Rows of the warm-up fits (enough to run every code path of a fit).
WARMUP_ROWS = 300
# Labels: P(y = 1) = expit(SHARPNESS * z + b) for the standardised score z
# (about 80% accuracy for the Bayes classifier on balanced Gaussian scores).
SHARPNESS = 3.0
# Regression noise, as a multiple of the score's spread, unless a family sets it
# (a reference R² of about 0.8).
NOISE_RATIO = 0.5
# --quick: these tasks only, synthetic rows divided by QUICK_DIVISOR.
QUICK_TASKS = (
    "diabetes/reg/raw", "diabetes/reg/std", "breast_cancer/clf/raw", "iris/clf/raw",
    "offset418/reg/raw", "year/clf/raw", "scales1e-3-1e9/reg/raw",
    "heavy-tails/reg/std", "onehot-csr/clf/raw", "tfidf-5class/clf/raw",
)
QUICK_DIVISOR = 4


# ------------------------------------------------------------- configurations
@dataclass(frozen=True)
class Configuration:
    """A labelled estimator factory: ``make(task)``, for the task's kind and loss."""

    label: str
    make: Callable[[object], object]  # a Task -> an unfitted estimator


def _gd(solver, optimizer):
    def make(task):
        if task.kind == "regression":
            return GDRegressor(solver=solver, optimizer=optimizer, random_state=0)
        return GDClassifier(solver=solver, optimizer=optimizer, loss=task.loss, random_state=0)
    return Configuration(f"gd/{solver}/{optimizer}", make)


def _sgd(task):
    if task.kind == "regression":
        return SGDRegressor(random_state=0)
    return SGDClassifier(loss=task.loss, random_state=0)


PEER = Configuration("sklearn/SGD", _sgd)
CONFIGURATIONS = tuple(_gd(s, o) for s in SOLVERS for o in OPTIMIZERS) + (PEER,)


# ------------------------------------------------------------------ datasets
@dataclass(frozen=True)
class Signal:
    """Synthetic columns and their linear score, from which the targets are drawn.

    ``score`` is ``(n,)``, or ``(n, k)`` for k classes; ``noise`` is the
    standard deviation of the regression noise (default ``NOISE_RATIO``
    times the score's spread); ``positives`` the fraction of positive labels
    (default: about half).
    """

    X: object
    score: np.ndarray
    noise: float = None
    positives: float = None


def _spread(values):
    """A robust standard deviation (1.4826 MAD), sane for heavy-tailed scores too."""
    return 1.4826 * np.median(np.abs(values - np.median(values, axis=0)), axis=0)


def _standardised(score):
    return (score - np.median(score, axis=0)) / _spread(score)


def _targets(signal, kind, rng):
    """Regression targets (score plus noise) or labels from a logistic model of the score."""
    score = signal.score
    if kind == "regression":
        noise = NOISE_RATIO * _spread(score) if signal.noise is None else signal.noise
        return score + noise * rng.standard_normal(len(score))
    z = SHARPNESS * _standardised(score)
    if score.ndim == 2:  # a multinomial logit model, sampled with the Gumbel-max trick
        return np.argmax(z + rng.gumbel(size=z.shape), axis=1)
    offset = 0.0
    if signal.positives is not None:
        offset = brentq(lambda b: expit(z + b).mean() - signal.positives, -50, 50)
    return (rng.random(len(z)) < expit(z + offset)).astype(np.int64)


def _standard_columns(X, means, scales):
    """``(X - means) / scales``: the columns in units of their spread."""
    return (X - means) / scales


def offset418(rng, n_rows):
    X = rng.normal(-418, 18, (n_rows, 1))
    return Signal(X, 0.19 * (X[:, 0] + 418) - 4.6, noise=0.35)


def offsets_1e3_1e5(rng, n_rows):
    scales = np.array([2.0, 0.05, 30.0])
    means = scales * np.array([1e3, 1e4, 1e5])
    X = rng.normal(means, scales, (n_rows, 3))
    return Signal(X, _standard_columns(X, means, scales) @ np.array([1.0, -0.7, 0.5]))


def year(rng, n_rows):
    X = rng.integers(63, 93, (n_rows, 1)).astype(np.float64)
    return Signal(X, 2 * X[:, 0] - 100, noise=5.0)


def size_3e4(rng, n_rows):
    X = 30000 + 350 * rng.standard_normal((n_rows, 1))
    return Signal(X, X[:, 0] - 30000, positives=0.1)


def lognormal_1e9(rng, n_rows):
    X = rng.lognormal(20, 1, (n_rows, 1))
    return Signal(X, 1e-7 * X[:, 0], noise=50.0)


def scales_1e4_1e_3(rng, n_rows):
    scales = np.array([1e4, 1.0, 1e-3])
    X = rng.standard_normal((n_rows, 3)) * scales
    return Signal(X, (X / scales) @ np.array([1.0, 0.8, -0.6]))


def scales_1e_3_1e9(rng, n_rows):
    scales = np.logspace(-3, 9, 10)
    means = scales * rng.uniform(0.0, 3.0, 10)
    X = rng.normal(means, scales, (n_rows, 10))
    return Signal(X, _standard_columns(X, means, scales) @ rng.normal(0, 0.5, 10))


NUMERIC_MEANS = np.array([300.0, 5_000.0, 80_000.0])
NUMERIC_SCALES = np.array([80.0, 1_500.0, 20_000.0])


def _onehot(rng, n_rows, cardinalities, sparse):
    """Numeric columns of scales 1e2..1e5 beside one-hot encoded categorical columns."""
    numeric = rng.normal(NUMERIC_MEANS, NUMERIC_SCALES, (n_rows, 3))
    score = _standard_columns(numeric, NUMERIC_MEANS, NUMERIC_SCALES) @ np.array([0.6, -0.4, 0.3])
    blocks = []
    for levels in cardinalities:
        codes = rng.integers(0, levels, n_rows)
        score = score + rng.normal(0, 0.7, levels)[codes]
        blocks.append(sp.csr_matrix((np.ones(n_rows), codes, np.arange(n_rows + 1)),
                                    shape=(n_rows, levels)))
    X = sp.hstack([sp.csr_matrix(numeric), *blocks], format="csr")
    return Signal(X if sparse else X.toarray(), score)


def onehot_dense(rng, n_rows):
    return _onehot(rng, n_rows, (4, 6, 10, 15), sparse=False)


def onehot_csr(rng, n_rows):
    return _onehot(rng, n_rows, (8, 20, 50, 120), sparse=True)


def heavy_tails(rng, n_rows):
    X = np.column_stack([
        10 + 3 * rng.standard_t(2, n_rows),
        rng.standard_cauchy(n_rows),
        rng.lognormal(3, 1.2, n_rows),
    ])
    return Signal(X, X @ np.array([0.3, 0.05, 0.02]))


def near_duplicates(rng, n_rows):
    base = rng.normal([5.0, -3.0, 12.0, 0.5], [2.0, 1.0, 4.0, 0.3], (n_rows, 4))
    copies = base + 1e-6 * rng.standard_normal(base.shape)
    others = rng.normal([1.0, 50.0], [1.0, 10.0], (n_rows, 2))
    X = np.hstack([base, copies, others])
    return Signal(X, X @ np.array([0.4, -0.8, 0.2, 2.0, 0.3, 0.2, -0.1, 1.0, 0.5, 0.05]))


def _tfidf_matrix(rng, n_rows, n_columns, draws_per_row=75):
    """CSR like TfidfVectorizer's: Zipf term ids, tf-idf weights, rows of unit norm.

    75 Zipf draws a row make about 50 distinct terms (non-zeros) a row.
    """
    frequencies = 1.0 / np.arange(1, n_columns + 1) ** 1.1
    terms = rng.choice(n_columns, size=n_rows * draws_per_row, p=frequencies / frequencies.sum())
    indptr = np.arange(0, n_rows * draws_per_row + 1, draws_per_row)
    X = sp.csr_matrix((np.ones(len(terms)), terms, indptr), shape=(n_rows, n_columns))
    X.sum_duplicates()  # term counts
    document_frequency = np.bincount(X.indices, minlength=n_columns)
    X = X @ sp.diags(np.log((1 + n_rows) / (1 + document_frequency)) + 1)
    X = sp.diags(1 / np.sqrt(X.multiply(X).sum(axis=1).A1)) @ X
    return sp.csr_matrix(X)


def _tfidf(rng, n_rows, n_classes):
    # 2.5 columns a row: 4,000 x 10,000 in a full run. The score depends on
    # the 300 most frequent terms, so that a few thousand rows can learn it.
    X = _tfidf_matrix(rng, n_rows, int(2.5 * n_rows))
    weights = np.zeros((X.shape[1], n_classes))
    weights[:300] = rng.standard_normal((300, n_classes))
    score = X @ weights
    return Signal(X, score[:, 0] if n_classes == 1 else score)


def tfidf(rng, n_rows):
    return _tfidf(rng, n_rows, 1)


def tfidf_5class(rng, n_rows):
    return _tfidf(rng, n_rows, 5)


# name: (generator, rows, seed, types, scalings). Regression and classification
# tasks of a family share their columns (the same seed), not their targets.
BOTH = ("regression", "classification")
RAW_AND_STD = ("raw", "std")
FAMILIES = {
    "offset418": (offset418, 5_000, 1, BOTH, RAW_AND_STD),
    "offsets1e3-1e5": (offsets_1e3_1e5, 4_000, 2, BOTH, RAW_AND_STD),
    "year": (year, 1_380, 3, BOTH, RAW_AND_STD),
    "size3e4": (size_3e4, 1_500, 4, BOTH, RAW_AND_STD),
    "lognormal1e9": (lognormal_1e9, 2_000, 5, BOTH, RAW_AND_STD),
    "scales1e4-1e-3": (scales_1e4_1e_3, 3_000, 6, BOTH, RAW_AND_STD),
    "scales1e-3-1e9": (scales_1e_3_1e9, 4_000, 7, BOTH, RAW_AND_STD),
    "onehot-dense": (onehot_dense, 5_000, 8, BOTH, RAW_AND_STD),
    "onehot-csr": (onehot_csr, 8_000, 9, BOTH, RAW_AND_STD),
    "heavy-tails": (heavy_tails, 4_000, 10, BOTH, RAW_AND_STD),
    "near-duplicates": (near_duplicates, 3_000, 11, BOTH, RAW_AND_STD),
    "tfidf": (tfidf, 4_000, 12, BOTH, ("raw",)),
    "tfidf-5class": (tfidf_5class, 4_000, 12, ("classification",), ("raw",)),
}

# name: (loader returning X, y, type)
BUNDLED = {
    "diabetes": (lambda: load_diabetes(return_X_y=True, scaled=False), "regression"),
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), "classification"),
    "wine": (lambda: load_wine(return_X_y=True), "classification"),
    "iris": (lambda: load_iris(return_X_y=True), "classification"),
    "digits": (lambda: load_digits(return_X_y=True), "classification"),
}


# --------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TaskSpec:
    """A task before its data is made: ``load()`` returns the full ``X, y``."""

    name: str
    kind: str  # "regression" or "classification"
    scaling: str  # "raw" or "std"
    load: Callable[[], tuple]


@dataclass(frozen=True)
class Task:
    """A task's training and test splits (scaled as its name says)."""

    name: str
    kind: str
    scaling: str
    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    loss: str = "squared_error"  # the classifiers' loss: "log_loss" or "hinge"

    @property
    def n_classes(self):
        return 0 if self.kind == "regression" else len(np.unique(self.y_train))

    @property
    def data_kind(self):
        """What selects the compiled kernels: the target type and the input format."""
        target = "regression" if self.kind == "regression" else (
            "binary" if self.n_classes == 2 else "multiclass")
        return target, "csr" if sp.issparse(self.X_train) else "dense"


def _short(kind):
    return "reg" if kind == "regression" else "clf"


def _synthetic_loader(generator, n_rows, kind, seed):
    def load():
        rng = np.random.default_rng(seed)
        signal = generator(rng, n_rows)
        return signal.X, _targets(signal, kind, rng)
    return load


def task_specs(quick):
    """Every task of the corpus (or of the ``--quick`` subset), data not yet made."""
    specs = []
    for name, (loader, kind) in BUNDLED.items():
        for scaling in RAW_AND_STD:
            specs.append(TaskSpec(f"{name}/{_short(kind)}/{scaling}", kind, scaling, loader))
    for name, (generator, n_rows, seed, kinds, scalings) in FAMILIES.items():
        rows = n_rows // QUICK_DIVISOR if quick else n_rows
        for kind in kinds:
            load = _synthetic_loader(generator, rows, kind, seed)
            for scaling in scalings:
                specs.append(TaskSpec(f"{name}/{_short(kind)}/{scaling}", kind, scaling, load))
    if quick:
        specs = [spec for spec in specs if spec.name in QUICK_TASKS]
    return specs


def build(spec, loss="log_loss"):
    """Split (75/25, fixed seed, stratified for classification) and scale the task's data;
    ``loss``: the classifiers' loss (regression tasks keep the squared error)."""
    X, y = spec.load()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED,
        stratify=y if spec.kind == "classification" else None,
    )
    if spec.scaling == "std":
        scaler = StandardScaler(with_mean=not sp.issparse(X)).fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return Task(spec.name, spec.kind, spec.scaling, X_train, y_train, X_test, y_test,
                "squared_error" if spec.kind == "regression" else loss)


# ------------------------------------------------------------ the objective
def _coefficients(model):
    """Coefficients as ``(n_outputs, n_features)``, a one-vs-rest wrapper's stacked."""
    if hasattr(model, "estimators_"):
        return np.vstack([np.atleast_2d(e.coef_) for e in model.estimators_])
    return np.atleast_2d(model.coef_)


def objective(model, X, y, kind, loss="log_loss"):
    """The SGD objective of a fitted linear model on ``(X, y)``.

    Squared error ``mean((y - p)^2) / 2``, or the classification ``loss``
    (log loss or hinge) summed over the one-vs-rest problems, plus
    ``ALPHA |W|^2 / 2``.
    """
    penalty = 0.5 * ALPHA * np.sum(_coefficients(model) ** 2)
    if kind == "regression":
        return 0.5 * np.mean((y - model.predict(X)) ** 2) + penalty
    values = model.decision_function(X)
    classes = model.classes_
    if values.ndim == 1:
        signs = np.where(y == classes[1], 1.0, -1.0)
    else:
        signs = np.where(y[:, None] == classes[None, :], 1.0, -1.0)
    if loss == "hinge":
        return np.maximum(0.0, 1.0 - signs * values).mean(axis=0).sum() + penalty
    return np.logaddexp(0.0, -signs * values).mean(axis=0).sum() + penalty


# ---------------------------------------------------------------- reference
def _dense(X):
    return X.toarray() if sp.issparse(X) else X


class LinearModel:
    """A linear model given by its coefficients, with the methods the benchmark calls."""

    def __init__(self, kind, coef, intercept, classes=None):
        self.kind = kind
        self.coef_ = coef  # (n_outputs, n_features)
        self.intercept_ = intercept  # (n_outputs,)
        self.classes_ = classes

    def decision_function(self, X):
        values = np.asarray(X @ self.coef_.T) + self.intercept_
        return values[:, 0] if values.shape[1] == 1 else values

    def predict(self, X):
        values = self.decision_function(X)
        if self.kind == "regression":
            return values
        if values.ndim == 1:
            return self.classes_[(values > 0).astype(np.int64)]
        return self.classes_[np.argmax(values, axis=1)]

    def score(self, X, y):
        if self.kind == "regression":
            return r2_score(y, self.predict(X))
        return accuracy_score(y, self.predict(X))


def _newton_logistic(Z, signs, penalty, max_iter=200):
    """Minimise ``mean(log(1 + exp(-signs (Z v + b)))) + sum(penalty v^2) / 2`` by Newton.

    Newton steps with a backtracking line search on ``(v, b)`` (``b``
    unpenalised), until the Newton decrement is at rounding level. Returns
    ``v, b``; warns (ConvergenceWarning) if ``max_iter`` steps were not enough.
    """
    n_rows = Z.shape[0]
    A = np.hstack([Z, np.ones((n_rows, 1))])
    ridge = np.append(penalty, 0.0)
    theta = np.zeros(A.shape[1])

    def value(theta):
        return np.logaddexp(0.0, -signs * (A @ theta)).mean() + 0.5 * ridge @ theta**2

    current = value(theta)
    for _ in range(max_iter):
        wrong = expit(-signs * (A @ theta))  # probability of the other label
        gradient = A.T @ (-signs * wrong) / n_rows + ridge * theta
        hessian = (A.T * (wrong * (1 - wrong))) @ A / n_rows + np.diag(ridge)
        step = scipy.linalg.solve(hessian, gradient, assume_a="pos")
        decrement = gradient @ step
        if decrement <= 1e-16 * max(1.0, current):  # the gap is about decrement / 2
            return theta[:-1], theta[-1]
        length = 1.0
        while (candidate := value(theta - length * step)) > current - 0.25 * length * decrement:
            length /= 2
            if length < 1e-12:  # no progress left at float64 precision
                return theta[:-1], theta[-1]
        theta, current = theta - length * step, candidate
    warnings.warn(f"Newton reference: {max_iter} steps, decrement {decrement:.1e}",
                  ConvergenceWarning)
    return theta[:-1], theta[-1]


def _smoothed_hinge(Z, signs, penalty, widths=10.0 ** -np.arange(6)):
    """Minimise ``mean(hinge(signs (Z v + b))) + sum(penalty v^2) / 2`` (``b`` unpenalised).

    L-BFGS on the hinge smoothed within ``mu`` of its kink (quadratic there,
    so the objective is differentiable) for each width ``mu`` of ``widths``
    in turn, warm-started; each stage runs to a gradient 1e-6 of the zero
    model's. The smoothed loss is within ``mu / 2`` of the hinge, and so is
    its optimum's objective of the hinge's optimum (1e-5 / 2 with the last
    width, against objectives of 0.01 and more here). Returns ``v, b``.
    """
    n_rows = Z.shape[0]

    def value_and_gradient(theta, mu):
        v, b = theta[:-1], theta[-1]
        slack = 1.0 - signs * (Z @ v + b)
        smooth = slack < mu
        loss = np.where(slack <= 0.0, 0.0, np.where(smooth, slack**2 / (2 * mu), slack - mu / 2))
        dloss = -signs * np.clip(slack / mu, 0.0, 1.0)
        gradient = np.append(Z.T @ dloss / n_rows + penalty * v, dloss.mean())
        return loss.mean() + 0.5 * penalty @ v**2, gradient

    theta = np.zeros(Z.shape[1] + 1)
    unit = np.linalg.norm(value_and_gradient(theta, widths[0])[1])
    for mu in widths:
        result = minimize(value_and_gradient, theta, args=(mu,), jac=True, method="L-BFGS-B",
                          options=dict(gtol=1e-6 * unit, ftol=0.0, maxiter=100_000, maxcor=20))
        theta = result.x
    return theta[:-1], theta[-1]


def _signs(task):
    """The classes and the +/-1 targets of each binary problem, ``(n, 1)`` or ``(n, k)``."""
    classes = np.unique(task.y_train)
    if len(classes) == 2:
        return classes, np.where(task.y_train == classes[1], 1.0, -1.0)[:, None]
    return classes, np.where(task.y_train[:, None] == classes[None, :], 1.0, -1.0)


def exact_optimum(task):
    """The optimum of the task's SGD objective, solved in standardised coordinates.

    With ``Z = (X - m) / s`` (column means and standard deviations of the
    training split) and ``v = s w``, the objective is the same loss of
    ``Z v + b'`` plus ``sum((alpha / s^2) v^2) / 2``: a ridge with one weight
    per column, whose system is well conditioned whatever the columns'
    scales. Squared error: one linear solve; log loss: Newton for each
    one-vs-rest problem; hinge: :func:`_smoothed_hinge` for each (on wide CSR
    rows, ``Z = X / s`` with ``s`` the root mean square: not centred, which
    the intercept absorbs, so that ``Z`` stays sparse). Returns a
    :class:`LinearModel` on the original columns.
    """
    X = task.X_train
    n_rows = X.shape[0]
    if sp.issparse(X) and X.shape[1] > DENSE_REFERENCE_COLUMNS:  # (the hinge's references)
        means = np.zeros(X.shape[1])
        scales = np.sqrt(np.asarray(X.multiply(X).mean(axis=0)).ravel())
        scales[scales == 0] = 1.0
        Z = sp.csr_matrix(X @ sp.diags(1.0 / scales))
    else:
        X = np.asarray(_dense(X), dtype=np.float64)
        means = X.mean(axis=0)
        scales = X.std(axis=0)
        scales[scales == 0] = 1.0
        Z = (X - means) / scales
    penalty = ALPHA / scales**2
    if task.kind == "regression":
        y = task.y_train
        v = scipy.linalg.solve(Z.T @ Z / n_rows + np.diag(penalty), Z.T @ (y - y.mean()) / n_rows,
                               assume_a="pos")
        V, b, classes = v[None, :], np.array([y.mean()]), None
    else:
        classes, signs = _signs(task)
        solve = _smoothed_hinge if task.loss == "hinge" else _newton_logistic
        solutions = [solve(Z, column, penalty) for column in signs.T]
        V = np.array([v for v, _ in solutions])
        b = np.array([b for _, b in solutions])
    coef = V / scales
    return LinearModel(task.kind, coef, b - coef @ means, classes)


def sklearn_optimum(task):
    """scikit-learn's solver of the same objective: Ridge or (one-vs-rest) LogisticRegression,
    or, for the hinge loss, LinearSVC (which also penalises the intercept, as a weight on a
    column of ones).

    Fitted on the training columns centred (densified if CSR and at most
    ``DENSE_REFERENCE_COLUMNS`` wide) with Cholesky / Newton-Cholesky, else
    on the CSR data with ``sparse_cg`` / ``lbfgs``. Returns the model and the
    training means (``None`` if not centred), for :func:`_centred`.
    """
    n_train = task.X_train.shape[0]
    dense = not sp.issparse(task.X_train) or task.X_train.shape[1] <= DENSE_REFERENCE_COLUMNS
    if task.kind == "regression":
        model = (Ridge(alpha=n_train * ALPHA, solver="cholesky") if dense else
                 Ridge(alpha=n_train * ALPHA, solver="sparse_cg", tol=1e-12, max_iter=100_000))
    elif task.loss == "hinge":
        # (liblinear's dual coordinate descent on raw columns crawls: a check
        # of 10,000 passes, not more, which warns where it did not converge.)
        model = LinearSVC(loss="hinge", C=1 / (n_train * ALPHA), tol=1e-6, max_iter=10_000)
    else:
        model = LogisticRegression(
            C=1 / (n_train * ALPHA), solver="newton-cholesky" if dense else "lbfgs",
            tol=1e-12 if dense else 1e-10, max_iter=10_000,
        )
        if task.n_classes > 2:
            model = OneVsRestClassifier(model)
    means = np.asarray(_dense(task.X_train)).mean(axis=0) if dense else None
    model.fit(_centred(task.X_train, means), task.y_train)
    return model, means


def _centred(X, means):
    """``X`` densified and centred on ``means``, or ``X`` itself if ``means`` is None."""
    return X if means is None else np.asarray(_dense(X)) - means


@dataclass(frozen=True)
class Reference:
    """The exact optimum's test score and training objective, and scikit-learn's check."""

    solver: str  # "exact" (exact_optimum) or "sklearn" (sklearn_optimum)
    score: float
    objective: float
    seconds: float
    warned: tuple  # names of the warnings emitted while solving
    sklearn_score: float  # the test score of sklearn_optimum
    sklearn_excess: float  # its relative objective excess over the reference
    sklearn_warned: tuple


def _solve(function):
    """``function()``, the seconds it took and the names of the warnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - start
    return result, seconds, tuple(sorted({w.category.__name__ for w in caught}))


def fit_reference(task):
    """Solve the task's objective exactly (see the module docstring) and cross-check it.

    Tasks narrow enough to densify use :func:`exact_optimum`; the wider CSR
    ones (TF-IDF, whose rows have unit norm, so the iterative solvers are
    accurate) use :func:`sklearn_optimum`, except with the hinge loss, whose
    reference is always :func:`exact_optimum` (LinearSVC penalises the
    intercept). scikit-learn's solution is always fitted too, as a check of
    the exact one.
    """
    X, y = task.X_train, task.y_train
    (check, means), check_seconds, check_warned = _solve(lambda: sklearn_optimum(task))
    check_objective = objective(check, _centred(X, means), y, task.kind, task.loss)
    check_score = check.score(_centred(task.X_test, means), task.y_test)
    if (sp.issparse(X) and X.shape[1] > DENSE_REFERENCE_COLUMNS
            and task.loss != "hinge"):
        return Reference("sklearn", check_score, check_objective, check_seconds, check_warned,
                         check_score, 0.0, check_warned)
    model, seconds, warned = _solve(lambda: exact_optimum(task))
    value = objective(model, X, y, task.kind, task.loss)
    return Reference("exact", model.score(task.X_test, task.y_test), value, seconds, warned,
                     check_score, (check_objective - value) / abs(value), check_warned)


# --------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Outcome:
    """One configuration fitted on one task with one random_state (``seed``)."""

    task: str
    scaling: str
    config: str
    seed: int
    reference: float
    score: float  # nan if the fit raised
    seconds: float
    warned: tuple  # names of the warning classes emitted during fit
    raised: str  # the exception's class name, or ""
    unexpected: bool  # raised something other than a ValueError
    n_iter: object
    excess: float  # (objective - reference objective) / |reference objective|

    @property
    def within(self):
        return bool(self.reference - self.score <= TOLERANCE)  # False for nan

    @property
    def far_and_silent(self):
        return not (self.within or self.warned or self.raised)


def warm_up(config, task):
    """An untimed fit on a few training rows: compiles (or loads) skgd's kernels."""
    rows = slice(0, min(WARMUP_ROWS, task.X_train.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            config.make(task).fit(task.X_train[rows], task.y_train[rows])
        except Exception:  # noqa: BLE001 (a diverging warm-up compiled the kernels all the same)
            pass


def evaluate(config, task, reference, random_state=0):
    """Fit ``config`` with ``random_state`` on the task's training split; score it on the
    test split."""
    estimator = config.make(task).set_params(random_state=random_state)
    raised, unexpected = "", False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            estimator.fit(task.X_train, task.y_train)
        except ValueError as error:  # skgd's DivergenceError, scikit-learn's overflow
            raised = type(error).__name__
        except Exception as error:  # noqa: BLE001 (reported as unexpected)
            raised, unexpected = type(error).__name__, True
        seconds = time.perf_counter() - start
    warned = tuple(sorted({w.category.__name__ for w in caught}))
    score = excess = np.nan
    n_iter = ""
    if not raised:
        n_iter = getattr(estimator, "n_iter_", "")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                score = estimator.score(task.X_test, task.y_test)
                value = objective(estimator, task.X_train, task.y_train, task.kind, task.loss)
                excess = (value - reference.objective) / abs(reference.objective)
            except ValueError:  # non-finite predictions: a failed fit, scored nan
                pass
    return Outcome(task.name, task.scaling, config.label, random_state, reference.score, score,
                   seconds, warned, raised, unexpected, n_iter, excess)


# ------------------------------------------------------------------- output
NUMBER = re.compile(r"^[+-]?[\d,]*\.?\d+(e[+-]\d+)?x?( \(\d+/\d+\))?$|^n/a$|^$")


def print_table(title, headers, rows, notes=()):
    """A markdown table: numeric columns right-aligned, text left-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [all(NUMBER.match(row[i]) for row in cells) and any(row[i] for row in cells)
               for i in range(len(headers))]

    def line(values):
        return "| " + " | ".join(
            v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)
        ) + " |"

    print(f"\n### {title}\n")
    print(line(headers))
    print(line(["-" * (w - 1) + ":" if right else ":" + "-" * (w - 1)
                for w, right in zip(widths, numeric)]))
    for row in cells:
        print(line(row))
    for note in notes:
        print(f"\n{note}")


def show_score(score):
    """A test score to 4 decimals (R² far below zero in 3 significant digits)."""
    if np.isnan(score):
        return "n/a"
    return f"{score:.4f}" if abs(score) < 1e4 else f"{score:.3g}"


def fraction(outcomes):
    if not outcomes:
        return "n/a"
    within = sum(o.within for o in outcomes)
    return f"{within / len(outcomes):.2f} ({within}/{len(outcomes)})"


def median_time_ratio(outcomes, peer_outcomes):
    peers = {(o.task, o.seed): o for o in peer_outcomes}
    ratios = [o.seconds / p.seconds for o in outcomes for p in [peers[o.task, o.seed]]
              if not o.raised and not p.raised and p.seconds > 0]
    return f"{statistics.median(ratios):.2f}x" if ratios else "n/a"


def print_summary(outcomes):
    by_config = {c.label: [o for o in outcomes if o.config == c.label] for c in CONFIGURATIONS}
    peer = by_config[PEER.label]
    rows = []
    for label, mine in by_config.items():
        if not mine:
            continue
        rows.append((
            label, len(mine), fraction(mine),
            fraction([o for o in mine if o.scaling == "raw"]),
            fraction([o for o in mine if o.scaling == "std"]),
            sum(bool(o.raised) for o in mine), sum(bool(o.warned) for o in mine),
            sum(o.far_and_silent for o in mine), median_time_ratio(mine, peer),
        ))
    print_table(
        "Summary: each configuration against the exact optimum",
        ("config", "fits", f"within {TOLERANCE}", "within (raw)", "within (std)",
         "raised", "warned", "far & silent", "median time / SGD"),
        rows,
        notes=[f"fits: tasks x seeds. within: test score >= reference score - {TOLERANCE} "
               "(R² for regression, accuracy for classification). far & silent: not within, "
               "no warning, no exception. median time / SGD: fit time over sklearn/SGD's on "
               "the same task and seed, median over the fits where neither raised."],
    )
    unexpected = [o for o in outcomes if o.unexpected]
    if unexpected:
        print("\n**Unexpected exceptions** (not ValueError): " + ", ".join(
            f"{o.config} on {o.task} (seed {o.seed}): {o.raised}" for o in unexpected))


def print_corpus(tasks, references, outcomes):
    rows = []
    for task in tasks:
        reference = references[task.name]
        excesses = [o.excess for o in outcomes if o.task == task.name and np.isfinite(o.excess)]
        rows.append((
            task.name, f"{task.X_train.shape[0]:,}", f"{task.X_test.shape[0]:,}",
            f"{task.X_train.shape[1]:,}", "CSR" if sp.issparse(task.X_train) else "dense",
            task.n_classes or "", reference.solver, show_score(reference.score),
            ", ".join(reference.warned), f"{min(excesses):+.1e}" if excesses else "n/a",
            show_score(reference.sklearn_score), f"{reference.sklearn_excess:+.1e}",
            ", ".join(reference.sklearn_warned),
        ))
    print_table(
        "Corpus and exact references",
        ("task", "train", "test", "columns", "format", "classes", "reference", "score",
         "warned", "best excess", "sklearn score", "sklearn excess", "sklearn warned"),
        rows,
        notes=["reference: 'exact' (Newton / a linear solve in standardised coordinates) or "
               "'sklearn' (the wide CSR tasks). score: its test score. best excess: the "
               "smallest (objective - reference objective) / |reference objective| over the "
               "configurations and seeds (below about -1e-6 the reference would not be the "
               "optimum; -1e-5 for the hinge loss's smoothed reference). "
               "sklearn score, excess, warned: Ridge / LogisticRegression (LinearSVC for "
               "the hinge loss, whose intercept it penalises) on the same objective, the "
               "cross-check."],
    )


def print_details(outcomes):
    rows = [(
        o.task, o.config, o.seed, show_score(o.reference), show_score(o.score),
        "yes" if o.within else "NO", ", ".join(o.warned), o.raised, o.n_iter,
        f"{1000 * o.seconds:,.1f}", "n/a" if np.isnan(o.excess) else f"{o.excess:+.1e}",
    ) for o in outcomes]
    print_table(
        "Details",
        ("task", "config", "seed", "reference", "score", "within", "warned", "raised", "n_iter",
         "fit ms", "objective excess"),
        rows,
    )


def print_environment():
    print("# skgd corpus benchmark: default configurations against the exact optimum\n")
    print(f"- command: `{shlex.join(sys.orig_argv)}`")
    print(
        f"- skgd {skgd.__version__} ({Path(skgd.__file__).parent}), scikit-learn "
        f"{sklearn.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"numba {numba.__version__}, python {platform.python_version()}"
    )
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at start")


# --------------------------------------------------------------------- main
def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seeds")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {len(QUICK_TASKS)} tasks, synthetic rows / {QUICK_DIVISOR}")
    parser.add_argument("--details", action="store_true",
                        help="also print a row per task and configuration")
    parser.add_argument("--only-tasks", metavar="SUBSTRING", default="",
                        help="only the tasks whose name (family/reg|clf/raw|std) contains it")
    parser.add_argument("--only-configs", metavar="SUBSTRING", default="",
                        help="only the configurations whose label (gd/SOLVER/OPTIMIZER or "
                        "sklearn/SGD) contains it; the peer always runs, for the time ratios")
    parser.add_argument("--loss", choices=CLASSIFICATION_LOSSES, default="log_loss",
                        help="the classifiers' loss (default log_loss; hinge is GDClassifier's "
                        "and SGDClassifier's default); regression tasks keep the squared error")
    parser.add_argument("--seeds", type=_positive, default=1, metavar="K",
                        help="fit every configuration on every task with random_state 0, ..., "
                        "K - 1 (default 1) and count all the fits: the row orders, on which a "
                        "fit's epochs and a borderline task's outcome depend")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    print_environment()
    specs = [s for s in task_specs(args.quick) if args.only_tasks in s.name]
    configs = [c for c in CONFIGURATIONS if args.only_configs in c.label]
    if PEER not in configs:
        configs.append(PEER)
    print(f"- {len(specs)} tasks x {len(configs)} configurations x {args.seeds} seed(s), "
          f"tolerance {TOLERANCE}; classification loss {args.loss}")
    if not specs:
        print("\nNo task matches --only-tasks.")
        return
    start = time.perf_counter()
    warmed = set()
    tasks, references, outcomes = [], {}, []
    for number, spec in enumerate(specs, 1):
        task_start = time.perf_counter()
        task = build(spec, args.loss)
        tasks.append(task)
        references[task.name] = reference = fit_reference(task)
        for config in configs:
            if (config.label, task.data_kind) not in warmed:
                warm_up(config, task)
                warmed.add((config.label, task.data_kind))
            outcomes += [evaluate(config, task, reference, seed) for seed in range(args.seeds)]
        print(f"[{number}/{len(specs)}] {task.name}: {time.perf_counter() - task_start:.1f} s",
              file=sys.stderr, flush=True)
    print_corpus(tasks, references, outcomes)
    if args.details:
        print_details(outcomes)
    print_summary(outcomes)
    print(f"\nTotal: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
