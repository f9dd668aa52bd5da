"""Column statistics of the preconditioner (skgd._precondition) against numpy on the dense copy."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from skgd._precondition import _csr_column_extremes


@settings(max_examples=50, deadline=None)
@given(n_rows=st.integers(1, 20), n_features=st.integers(1, 10),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2 ** 16))
def test_csr_column_extremes_count_the_unstored_zeros(n_rows, n_features, density, seed):
    rng = np.random.RandomState(seed)
    X = sp.random(n_rows, n_features, density=density, random_state=rng, format="csr",
                  data_rvs=lambda size: rng.uniform(-3, 5, size))
    low, high = _csr_column_extremes(X)
    np.testing.assert_array_equal(low, X.toarray().min(axis=0))
    np.testing.assert_array_equal(high, X.toarray().max(axis=0))


def test_csr_column_extremes_add_duplicate_entries_up():
    # One row whose column 0 is stored twice (1 + 2) and column 1 once (-5).
    X = sp.csr_matrix((np.array([1.0, 2.0, -5.0]), np.array([0, 0, 1]), np.array([0, 3])),
                      shape=(1, 2))
    low, high = _csr_column_extremes(X)
    np.testing.assert_array_equal(low, [3.0, -5.0])
    np.testing.assert_array_equal(high, [3.0, -5.0])
