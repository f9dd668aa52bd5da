"""skgd: scikit-learn-compatible linear models trained by gradient descent."""

from ._classifier import GDClassifier
from ._regressor import GDRegressor
from ._stopping import DivergenceError

__version__ = "0.1.0"

__all__ = ["DivergenceError", "GDClassifier", "GDRegressor", "__version__"]
