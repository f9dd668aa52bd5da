"""Defaults against scikit-learn's: mean test score over random splits.

For each of scikit-learn's bundled classification data sets (iris, wine,
breast cancer, digits) and for diabetes (regression), 10 random train/test
splits (stratified for classification), features standardised on the
training rows; every solver of ``GDClassifier()`` / ``GDRegressor()`` with
its defaults next to ``SGDClassifier()`` / ``SGDRegressor()``, all with
``random_state`` the split's seed. Prints the mean and standard deviation of
the test accuracy (R² for diabetes) as a Markdown table.

    python benchmarks/accuracy.py [--splits 10]
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

DATASETS = {
    "iris": (load_iris, True),
    "wine": (load_wine, True),
    "breast_cancer": (load_breast_cancer, True),
    "digits": (load_digits, True),
    "diabetes": (load_diabetes, False),
}
SOLVERS = ("stochastic", "minibatch", "batch")


def models(classification, seed):
    gd, sgd = (GDClassifier, SGDClassifier) if classification else (GDRegressor, SGDRegressor)
    table = {f"GD {solver}": gd(solver=solver, random_state=seed) for solver in SOLVERS}
    table["SGD"] = sgd(random_state=seed)
    return table


def scores(loader, classification, n_splits):
    X, y = loader(return_X_y=True)
    result = {}
    for seed in range(n_splits):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, random_state=seed, stratify=y if classification else None)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for name, model in models(classification, seed).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train)
            result.setdefault(name, []).append(model.score(X_test, y_test))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args()
    names = [f"GD {solver}" for solver in SOLVERS] + ["SGD"]
    print(f"Mean (std) test score over {args.splits} splits, standardised features, defaults.\n")
    print("| data | score | " + " | ".join(names) + " |")
    print("| :--- | :---- | " + " | ".join("---:" for _ in names) + " |")
    for data, (loader, classification) in DATASETS.items():
        result = scores(loader, classification, args.splits)
        cells = [f"{np.mean(result[n]):.4f} ({np.std(result[n]):.3f})" for n in names]
        print(f"| {data} | {'accuracy' if classification else 'R²'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
