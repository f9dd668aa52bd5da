"""Helpers shared by the examples: command line, data, timing, tables and figures.

Every example accepts ``--quick`` (or the environment variable
``SKGD_EXAMPLES_QUICK=1``) to run on small data in a few seconds, and
``--output-dir DIR`` (or ``SKGD_EXAMPLES_OUTPUT=DIR``) to choose where its
figure goes; by default the figure is saved next to the script.
"""

import argparse
import os
import time
from pathlib import Path

from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler

QUICK_ENV = "SKGD_EXAMPLES_QUICK"
OUTPUT_ENV = "SKGD_EXAMPLES_OUTPUT"
EXAMPLES_DIR = Path(__file__).resolve().parent


def parse_args(doc):
    """Parse ``--quick`` and ``--output-dir``; the script's docstring is the help.

    Parameters
    ----------
    doc : str
        The example's module docstring.

    Returns
    -------
    args : argparse.Namespace
        With ``quick`` (bool) and ``output_dir`` (Path).
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get(QUICK_ENV, "0") not in ("", "0"),
        help=f"small data, for tests (or set {QUICK_ENV}=1)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(os.environ.get(OUTPUT_ENV) or EXAMPLES_DIR),
        help=f"where to save the figure (or set {OUTPUT_ENV}); default: next to the script",
    )
    return parser.parse_args()


def regression_data(quick, random_state=0):
    """Standardised synthetic regression data with correlated features.

    ``effective_rank`` makes the features strongly correlated, so the
    problem is ill-conditioned, as real data often is.
    """
    n_samples, n_features = (2_000, 20) if quick else (20_000, 50)
    X, y = make_regression(
        n_samples=n_samples, n_features=n_features, n_informative=n_features // 2,
        effective_rank=n_features // 5, noise=1.0, random_state=random_state,
    )
    return StandardScaler().fit_transform(X), y


def classification_data(quick, random_state=0):
    """Standardised synthetic binary classification data with label noise."""
    n_samples, n_features = (2_000, 20) if quick else (20_000, 50)
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=n_features // 5,
        flip_y=0.05, random_state=random_state,
    )
    return StandardScaler().fit_transform(X), y


def timed_fit(model, X, y, repeats=3, **fit_params):
    """Fit ``repeats`` times and return the best wall-clock time in seconds.

    The best of several runs is the least disturbed by other work on a
    shared machine. The model is left fitted.
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(X, y, **fit_params)
        best = min(best, time.perf_counter() - start)
    return best


def print_table(title, header, rows):
    """Print ``rows`` (sequences of str/int/float) under ``header`` as aligned columns."""
    cells = [[f"{value:.4g}" if isinstance(value, float) else str(value) for value in row]
             for row in rows]
    widths = [max(len(str(text)) for text in column) for column in zip(header, *cells)]
    print(f"\n{title}")
    print("  ".join(f"{name:>{width}}" for name, width in zip(header, widths)))
    for row in cells:
        print("  ".join(f"{text:>{width}}" for text, width in zip(row, widths)))


def save_figure(fig, args, name):
    """Save ``fig`` as ``<output_dir>/<name>.png``, print and return the path."""
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"\nSaved {path}")
    return path
