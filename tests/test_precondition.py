"""Column statistics of the preconditioner (skgd._precondition) against numpy on the dense copy."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from skgd._penalties import penalty_values
from skgd._precondition import (
    ColumnStats, Preconditioner, _sums_as_they_are, column_nonzeros, csr_column_pass,
    dense_column_pass,
)
from skgd._steps import column_peaks


@settings(max_examples=50, deadline=None)
@given(n_rows=st.integers(1, 20), n_features=st.integers(1, 10),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2 ** 16))
def test_csr_column_extremes_count_the_unstored_zeros(n_rows, n_features, density, seed):
    rng = np.random.RandomState(seed)
    X = sp.random(n_rows, n_features, density=density, random_state=rng, format="csr",
                  data_rvs=lambda size: rng.uniform(-3, 5, size))
    scan = csr_column_pass(X, np.ones(X.shape[0]))
    low, high = scan.low, scan.high
    np.testing.assert_array_equal(low, X.toarray().min(axis=0))
    np.testing.assert_array_equal(high, X.toarray().max(axis=0))


def test_csr_column_extremes_add_duplicate_entries_up():
    # One row whose column 0 is stored twice (1 + 2) and column 1 once (-5).
    X = sp.csr_matrix((np.array([1.0, 2.0, -5.0]), np.array([0, 0, 1]), np.array([0, 3])),
                      shape=(1, 2))
    scan = csr_column_pass(X, np.ones(X.shape[0]))
    low, high = scan.low, scan.high
    np.testing.assert_array_equal(low, [3.0, -5.0])
    np.testing.assert_array_equal(high, [3.0, -5.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_column_nonzeros_leave_stored_zeros_out(dtype):
    # The "auto" step of the adaptive rules counts non-zeros, so that a dense
    # and a CSR copy get the same step: an explicitly stored zero is not one.
    X = sp.random(30, 8, density=0.4, random_state=0, format="csr", dtype=dtype)
    X.data[::3] = 0.0
    assert X.nnz > np.count_nonzero(X.data)
    np.testing.assert_array_equal(column_nonzeros(X), np.count_nonzero(X.toarray(), axis=0))
    # (Another sparse format is read as CSR: the kernel takes indices for columns.)
    np.testing.assert_array_equal(column_nonzeros(X.tocsc()), column_nonzeros(X))


@settings(max_examples=40, deadline=None)
@given(n_rows=st.sampled_from([0, 1, 7, 500]), n_features=st.integers(1, 6),
       zero_weights=st.booleans(), float32=st.booleans(),
       layout=st.sampled_from(["C", "F", "reversed columns", "every other row"]),
       seed=st.integers(0, 2 ** 16))
def test_dense_column_stats_are_numpys(n_rows, n_features, zero_weights, float32, layout, seed):
    # Columns of scales 1e-3 to 1e6 around a shift; some rows weighing 0
    # (the rows held out for early stopping): they count for the peak
    # (the unit) but not for the other statistics. Any memory layout.
    rng = np.random.RandomState(seed)
    X = rng.randn(2 * n_rows, n_features) * np.logspace(-3, 6, n_features) + rng.uniform(-5, 5)
    X = X.astype(np.float32 if float32 else np.float64)
    X = {"C": X[:n_rows], "F": np.asfortranarray(X[:n_rows]),
         "reversed columns": X[:n_rows, ::-1], "every other row": X[::2]}[layout]
    weight = rng.uniform(0.5, 2.0, n_rows)
    if zero_weights:
        weight[::3] = 0.0
    stats = ColumnStats(n_features, sparse=False).update(X, weight)
    X64, kept = X.astype(np.float64), weight > 0
    peak = np.abs(X64).max(axis=0, initial=0.0)
    unit = np.where(peak > 0, peak, 1.0)
    np.testing.assert_array_equal(stats.unit, unit)
    np.testing.assert_array_equal(stats.low, X64[kept].min(axis=0, initial=np.inf))
    np.testing.assert_array_equal(stats.high, X64[kept].max(axis=0, initial=-np.inf))
    total = weight.sum()
    assert stats.weight == total
    if total > 0:
        mean = weight @ (X64 / unit) / total
        np.testing.assert_allclose(stats.mean, mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(stats.square, weight @ ((X64 / unit - mean) ** 2),
                                   rtol=1e-9, atol=1e-12 * total)


@settings(max_examples=40, deadline=None)
@given(n_rows=st.sampled_from([0, 1, 7, 60]), n_features=st.integers(1, 6),
       density=st.sampled_from([0.0, 0.3, 1.0]), zero_weights=st.booleans(),
       float32=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_csr_column_stats_are_numpys(n_rows, n_features, density, zero_weights, float32, seed):
    # The compiled pass over CSR entries against numpy on the dense copy:
    # the peak over all rows (the unit), the extremes over the rows of
    # positive weight with the unstored zeros, the weighted sums of the
    # squared stored values in units of the peak and of their weights.
    rng = np.random.RandomState(seed)
    X = sp.random(n_rows, n_features, density=density, random_state=rng, format="csr",
                  data_rvs=lambda size: rng.uniform(-3, 5, size))
    X = sp.csr_matrix(X.multiply(np.logspace(-3, 6, n_features)))
    X = X.astype(np.float32 if float32 else np.float64)
    weight = rng.uniform(0.5, 2.0, n_rows)
    if zero_weights:
        weight[::3] = 0.0
    stats = ColumnStats(n_features, sparse=True).update(X, weight)
    dense, kept = X.toarray().astype(np.float64), weight > 0
    stored = X.copy()
    stored.data[:] = 1.0
    stored = stored.toarray()
    peak = np.abs(dense).max(axis=0, initial=0.0)
    unit = np.where(peak > 0, peak, 1.0)
    np.testing.assert_array_equal(stats.unit, unit)
    np.testing.assert_array_equal(stats.low, dense[kept].min(axis=0, initial=np.inf))
    np.testing.assert_array_equal(stats.high, dense[kept].max(axis=0, initial=-np.inf))
    np.testing.assert_allclose(stats.weight, weight @ stored, rtol=1e-12)
    np.testing.assert_allclose(stats.square, weight @ ((dense / unit) ** 2), rtol=1e-12,
                               atol=1e-300)
    # Over all rows, unstored zeros included (the batch solver's centre and
    # scale): the dense statistics' mean and squared deviations.
    total = weight.sum()
    assert stats.row_weight == pytest.approx(total, rel=1e-15)
    if total > 0:
        mean = weight @ (dense / unit) / total
        np.testing.assert_allclose(stats.mean, mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(stats.deviations, weight @ ((dense / unit - mean) ** 2),
                                   rtol=1e-9, atol=1e-12 * total)


@pytest.mark.parametrize("column_scale, weight_scale", [
    (1e200, 1.0), (1e-200, 1.0), (1e-60, 1e-200), (1e300, 1e10), (1e90, 1e40), (1.0, 1.0)])
def test_csr_column_sums_at_extreme_scales(column_scale, weight_scale):
    # The scan sums the values and their squares as they are where neither
    # the columns' peaks nor the row weights are extreme, and the statistics
    # otherwise sum them in units of each column's peak (no overflow to inf,
    # no underflow to 0).
    rng = np.random.RandomState(0)
    X = sp.random(40, 3, density=0.5, random_state=rng, format="csr",
                  data_rvs=lambda size: rng.uniform(0.5, 2.0, size))
    X = sp.csr_matrix(X.multiply(np.array([1.0, column_scale, 3.0])))
    weight = rng.uniform(0.5, 2.0, 40) * weight_scale
    stats = ColumnStats(3, sparse=True, all_rows=True).update(X, weight)
    dense = X.toarray()
    unit = np.abs(dense).max(axis=0)
    np.testing.assert_allclose(stats.square, weight @ ((dense / unit) ** 2), rtol=1e-12)
    np.testing.assert_allclose(stats.weight, weight @ (dense != 0), rtol=1e-12)
    mean = weight @ (dense / unit) / weight.sum()
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(stats.deviations, weight @ ((dense / unit - mean) ** 2),
                               rtol=1e-9)


@pytest.mark.parametrize("column_scale, weight_scale", [
    (1e200, 1.0), (1e-200, 1.0), (1e-60, 1e-200), (1e300, 1e10), (1e90, 1e40), (1.0, 1.0)])
def test_dense_column_moments_at_extreme_scales(column_scale, weight_scale):
    # The one-pass moments as the values are where neither the columns'
    # peaks nor the row weights are extreme, and two passes in units of each
    # column's peak otherwise (no overflow to inf, no underflow to 0).
    rng = np.random.RandomState(0)
    X = rng.uniform(0.5, 2.0, (40, 3)) * np.array([1.0, column_scale, 3.0])
    weight = rng.uniform(0.5, 2.0, 40) * weight_scale
    stats = ColumnStats(3, sparse=False).update(X, weight)
    one_pass = (column_scale, weight_scale) in [(1.0, 1.0), (1e90, 1e40)]
    assert _sums_as_they_are(dense_column_pass(X, weight), weight) == one_pass
    unit = np.abs(X).max(axis=0)
    mean = weight @ (X / unit) / weight.sum()
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(stats.square, weight @ ((X / unit - mean) ** 2), rtol=1e-9)


@pytest.mark.parametrize("case", ["sorted timestamps", "1e9 + N(0, 1)", "a heavy last row"])
def test_dense_column_moments_keep_their_digits(case):
    # The one pass loses no more than two passes would: a column far from
    # zero whose values come sorted (each row's deviation from the running
    # mean then carries the offset's rounding), and a row weighing 1e15
    # times all the rows before it (whose own term cancels in a plain
    # Welford update). Against long double arithmetic.
    rng = np.random.RandomState(0)
    weight = rng.uniform(0.5, 2.0, 20_000)
    if case == "sorted timestamps":
        X = np.sort(1.7e9 + rng.uniform(0, 3600, (20_000, 2)), axis=0)
    elif case == "1e9 + N(0, 1)":
        X = 1e9 + rng.randn(20_000, 2)
    else:
        X, weight = rng.randn(20_000, 2) + 1e3, np.ones(20_000)
        weight[-1] = 1e15
    stats = ColumnStats(2, sparse=False).update(X, weight)
    assert _sums_as_they_are(dense_column_pass(X, weight), weight)
    XL, wL = X.astype(np.longdouble), weight.astype(np.longdouble)
    mean = (wL @ XL) / wL.sum()
    square = wL @ (XL - mean) ** 2
    np.testing.assert_allclose(stats.mean * stats.unit, mean.astype(np.float64), rtol=1e-15)
    np.testing.assert_allclose(stats.square * stats.unit**2, square.astype(np.float64),
                               rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_column_sums_with_the_peak_in_a_row_of_weight_zero(sparse):
    # The unit is the peak over all rows, but the sums' terms are those of
    # the rows that weigh: here all of size 1e-170, whose squares underflow
    # (dense: the squared deviations; CSR: the squared stored values).
    values = np.random.RandomState(0).uniform(1, 2, 200) * 1e-170
    values[0] = 1e-100
    weight = np.ones(200)
    weight[0] = 0.0  # (a row held out for early stopping)
    stats = ColumnStats(1, sparse=sparse, all_rows=False).update(
        sp.csr_matrix(values[:, None]) if sparse else values[:, None], weight)
    scaled = values[1:] / 1e-100
    expected = np.sum(scaled ** 2) if sparse else np.sum((scaled - scaled.mean()) ** 2)
    np.testing.assert_allclose(stats.square, [expected], rtol=1e-12)


def test_csr_column_far_from_zero_keeps_its_spread():
    # A column of 1e9 + N(0, 1) stored in every row, with random weights:
    # its CSR variance over all rows is the dense one (the weight of its
    # unstored zeros is 0, not the rounding of two sums times mean ** 2).
    rng = np.random.RandomState(0)
    X = np.column_stack([1e9 + rng.randn(1000), rng.randn(1000)])
    X[::2, 1] = 0.0
    weight = rng.rand(1000)
    csr = ColumnStats(2, sparse=True).update(sp.csr_matrix(X), weight)
    dense = ColumnStats(2, sparse=False).update(X, weight)
    np.testing.assert_allclose(csr.deviations / csr.row_weight, dense.square / dense.weight,
                               rtol=1e-6)
    np.testing.assert_allclose(csr.preconditioner(True).column_scale(),
                               dense.preconditioner(True).column_scale())


@pytest.mark.parametrize("offset, passes", [(3.0, 0), (30.0, 0), (300.0, 1), (1e6, 1)])
def test_csr_deviations_come_from_the_sums_unless_they_cancel(monkeypatch, offset, passes):
    # The squared deviations over all rows are the sums of squares less the
    # mean's share where that leaves at least SUMS_CANCEL of them (a pass
    # over the entries less); a column whose mean is far beyond its spread
    # takes the pass of the deviations. Either way, the two-pass figures.
    import skgd._precondition

    calls = []
    deviations = skgd._precondition._csr_deviations
    monkeypatch.setattr(skgd._precondition, "_csr_deviations",
                        lambda *args: calls.append(1) or deviations(*args))
    rng = np.random.RandomState(0)
    X = np.column_stack([offset + rng.randn(500), rng.randn(500)])
    X[::2, 1] = 0.0
    weight = rng.rand(500)
    stats = ColumnStats(2, sparse=True).update(sp.csr_matrix(X), weight)
    assert len(calls) == passes
    scaled = X / stats.unit
    mean = weight @ scaled / weight.sum()
    np.testing.assert_allclose(stats.deviations, weight @ (scaled - mean) ** 2, rtol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_column_stats_merged_over_parts_are_those_of_all_rows(sparse):
    # partial_fit and dask chunks merge the statistics of their parts: in
    # any split, those of all rows (the later part with larger peaks, so
    # that the merge moves the earlier sums to new units).
    rng = np.random.RandomState(0)
    X = rng.randn(90, 5) * np.logspace(-2, 4, 5) + 1e3
    X[rng.rand(*X.shape) < 0.5] = 0.0
    X[60:] *= 3.0
    weight = rng.uniform(0.5, 2.0, 90)
    data = sp.csr_matrix(X) if sparse else X
    whole = ColumnStats(5, sparse).update(data, weight)
    merged = ColumnStats(5, sparse)
    for part in (slice(0, 25), slice(25, 60), slice(60, 90)):
        merged.update(data[part], weight[part])
    names = ["unit", "mean", "low", "high", "weight", "square"]
    names += ["row_weight", "deviations"] if sparse else []
    for name in names:
        np.testing.assert_allclose(getattr(merged, name), getattr(whole, name), rtol=1e-10,
                                   err_msg=name)
    for center in (False, True):
        np.testing.assert_array_equal(merged.preconditioner(center).column_scale(),
                                      whole.preconditioner(center).column_scale())


@pytest.mark.parametrize("float32", [False, True])
def test_dense_row_norms_are_numpys(float32):
    # The compiled pass over dense rows (the steps of "auto") against numpy,
    # centred or not, on C- and Fortran-ordered copies and a strided view.
    from skgd._precondition import Preconditioner
    from skgd._steps import row_sq_norms

    rng = np.random.RandomState(1)
    X = (rng.randn(50, 7) * np.logspace(-3, 6, 7) + 5.0).astype(np.float32 if float32
                                                                 else np.float64)
    scale = np.array([1.0, 2**0.5, 0.25])
    for center in (np.empty(0), X.astype(np.float64).mean(axis=0)):
        preconditioner = Preconditioner(center, np.arange(7) % 3, scale)
        s = preconditioner.column_scale()
        c = center if center.size else np.zeros(7)
        expected = (((X.astype(np.float64) - c) * s) ** 2).sum(axis=1)
        for table in (X, np.asfortranarray(X), np.hstack([X, X])[:, :7]):
            np.testing.assert_allclose(row_sq_norms(table, preconditioner), expected,
                                       rtol=1e-12)


@pytest.mark.parametrize("float32", [False, True])
def test_csr_row_norms_and_peaks_match_the_dense_copys(float32):
    # The compiled CSR passes (row norms in the kernels' coordinates, for
    # the steps of "auto"; column peaks) against the dense path, with
    # empty rows (the first and the last) and a column without entries.
    from skgd._precondition import Preconditioner
    from skgd._steps import column_peaks, largest_sq_row_norm, row_sq_norms

    rng = np.random.RandomState(0)
    X = sp.random(40, 7, density=0.4, random_state=rng, format="csr",
                  data_rvs=lambda size: rng.uniform(-3, 5, size)).tolil()
    X[0, :], X[-1, :], X[:, 3] = 0.0, 0.0, 0.0
    X = sp.csr_matrix(X, dtype=np.float32 if float32 else np.float64)
    X.eliminate_zeros()
    dense = X.toarray()
    for center in (np.empty(0), dense.mean(axis=0)):  # (the batch solver's CSR centre)
        preconditioner = Preconditioner(center, np.arange(7) % 3, np.array([1.0, 2**0.5, 0.25]))
        np.testing.assert_allclose(row_sq_norms(X, preconditioner),
                                   row_sq_norms(dense, preconditioner), rtol=1e-10)
    np.testing.assert_array_equal(column_peaks(X), column_peaks(dense))
    assert largest_sq_row_norm(X) == pytest.approx(largest_sq_row_norm(dense), rel=1e-12)


def test_the_csr_all_rows_statistics_are_gathered_by_the_fits_that_centre(monkeypatch):
    # The mean and deviations over all rows of CSR data are the centre and
    # scale of the batch solver (every column) and of the stochastic and
    # mini-batch solvers (the columns far from zero, which the optimizers'
    # lazy loop takes centred in a copy of the rows): passes over the
    # entries that a fit without an intercept, which centres nothing, skips.
    # A partial_fit sequence begun there starts gathering them at its first
    # call that centres (without a centre, a column of 1000 + N(0, 1) kept
    # the batch calls at R2 0.28).
    import skgd._precondition
    from skgd import GDRegressor

    rng = np.random.RandomState(0)
    X = sp.random(300, 40, density=0.1, random_state=rng, format="csr").tolil()
    X[:, 0] = 1000 + rng.randn(300, 1)
    X = X.tocsr()
    y = np.asarray(X @ rng.randn(40)).ravel() + 3.0
    passes = []
    deviations = skgd._precondition._csr_deviations
    monkeypatch.setattr(skgd._precondition, "_csr_deviations",
                        lambda *args: passes.append(1) or deviations(*args))
    for settings, expected in ((dict(solver="stochastic", optimizer="adam"), 1),
                               (dict(solver="minibatch", optimizer="momentum"), 1),
                               (dict(solver="stochastic", fit_intercept=False), 0),
                               (dict(solver="minibatch", optimizer="adam", fit_intercept=False), 0),
                               (dict(solver="stochastic"), 1), (dict(solver="minibatch"), 1),
                               (dict(solver="batch"), 1)):
        passes.clear()
        GDRegressor(max_iter=2, tol=None, **settings).fit(X, y)
        assert len(passes) == expected, settings
    est = GDRegressor(solver="stochastic", optimizer="adam", fit_intercept=False)
    est.partial_fit(X, y)
    assert est._state.preconditioner.center.size == 0
    est.set_params(solver="batch", optimizer="sgd", fit_intercept=True)
    for _ in range(50):
        est.partial_fit(X, y)
    assert est._state.preconditioner.center.size == 40
    assert est.score(X, y) > GDRegressor(solver="batch").fit(X, y).score(X, y) - 0.01


@pytest.mark.parametrize("sparse", [False, True])
def test_statistics_pickled_before_the_all_rows_moments_go_on(sparse):
    # An estimator pickled before ColumnStats held the CSR all-rows moments
    # (row_weight, deviations, all_rows) raised AttributeError at its next
    # partial_fit; unpickled now, its statistics go on, and a batch call
    # starts the moments.
    import pickle

    from skgd import GDRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(200, 4) + 5.0
    y = X @ rng.randn(4)
    data = sp.csr_matrix(X) if sparse else X
    est = GDRegressor(solver="stochastic").partial_fit(data, y)
    for name in ("all_rows", "row_weight", "deviations"):
        delattr(est._state.stats, name)
    if sparse:
        est._state.stats.mean[:] = 0.0  # (the old CSR statistics kept no mean)
    old = pickle.loads(pickle.dumps(est))
    old.partial_fit(data, y)
    old.set_params(solver="batch").partial_fit(data, y)
    assert old._state.stats.all_rows
    assert np.isfinite(old.coef_).all()


def test_kernel_arguments_are_read_only_after_a_pickle_round_trip():
    # The kernels are compiled for read-only arrays (another flag compiles
    # them anew); the cached arguments are not pickled, and are remade so.
    p = Preconditioner(np.array([1.0, 2.0]), np.array([0, 1], dtype=np.uint8),
                       np.array([0.5, 2.0]))
    arguments = p.kernel_arguments()
    assert p.kernel_arguments() is arguments
    for restored in (p, pickle.loads(pickle.dumps(p))):
        *arrays, proximal_l2 = restored.kernel_arguments()
        assert proximal_l2 and not any(array.flags.writeable for array in arrays)
        np.testing.assert_array_equal(arrays[0], p.center)
        np.testing.assert_array_equal(arrays[3], p.bucket_columns()[0])
    identity = Preconditioner.identity(3)
    assert identity.kernel_arguments()[-1] is False


def test_column_scale_is_made_once_and_read_only():
    # Made once and shared by every reader: a writeable array would let one
    # reader's in-place product change the scales of all later ones.
    p = Preconditioner(np.empty(0), np.array([1, 0, 1], dtype=np.uint8), np.array([0.5, 4.0]))
    scale = p.column_scale()
    assert p.column_scale() is scale and not scale.flags.writeable
    np.testing.assert_array_equal(scale, [4.0, 0.5, 4.0])
    restored = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(restored.column_scale(), scale)
    assert not restored.column_scale().flags.writeable


@pytest.mark.parametrize("n_buckets", [1, 3])
def test_penalty_in_the_kernels_coordinates_is_the_original_one(n_buckets):
    # The objective's penalty, summed per bucket strength, equals
    # alpha (l1_ratio |w|_1 + (1 - l1_ratio) |w|^2 / 2) on the original weights.
    rng = np.random.RandomState(0)
    bucket = rng.randint(0, n_buckets, 40).astype(np.uint8)
    p = Preconditioner(np.empty(0), bucket, 2.0 ** rng.randint(-6, 6, n_buckets))
    W = rng.randn(2, 40)
    l2, l1 = p.penalty(np.array([0.3]), np.array([0.7]))
    original, _ = p.to_original(W, np.zeros(2))
    expected = 0.7 * np.abs(original).sum(axis=1) + 0.15 * (original**2).sum(axis=1)
    np.testing.assert_allclose(penalty_values(W, p.bucket, l2, l1), expected, rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_each_update_gives_its_own_rows_column_peaks(sparse):
    # The power iteration's units (lipschitz_constant) come from the update
    # instead of a pass of their own: each call's own peaks over all its rows
    # (zero-weight rows too), not the running maximum of a partial_fit
    # sequence, and not pickled with the statistics.
    rng = np.random.RandomState(0)
    stats = ColumnStats(4, sparse=sparse)
    for scale in (1e3, 1.0):
        X = rng.randn(30, 4) * scale * np.array([1.0, 10.0, 0.0, 1e-3])
        X[0, 1] = 500.0 * scale  # the peak, in a row of weight 0
        weight = np.ones(30)
        weight[0] = 0.0
        stats.update(sp.csr_matrix(X) if sparse else X, weight)
        np.testing.assert_array_equal(stats.call_peak, column_peaks(X))
    assert stats.unit[1] == 500e3  # (the sequence's running maximum)
    assert "call_peak" not in vars(pickle.loads(pickle.dumps(stats)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_explicitly_centred_rows_store_every_centred_column(dtype):
    # The optimizers' lazy loop takes the far columns centred in a copy of
    # the rows: each row stores them, at x - c, even where X did not; the
    # other columns as they were. Rows with entries out of column order and
    # duplicates (which add up) give the same copy, in column order.
    from skgd._precondition import explicitly_centred

    rng = np.random.RandomState(0)
    X = sp.random(60, 9, density=0.3, random_state=rng, format="csr", dtype=dtype)
    center = np.zeros(9)
    center[[0, 4, 8]] = [1.5, -2.0, 3.25]
    # Each row's entries in reverse column order, the first one split in two halves.
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        row = X.getrow(i)
        values, columns = list(row.data[::-1]), list(row.indices[::-1])
        if values:
            values[0] /= 2
            values.append(values[0])
            columns.append(columns[0])
        data += values
        indices += columns
        indptr.append(len(data))
    scrambled = sp.csr_matrix((np.array(data, dtype=dtype), indices, indptr), shape=X.shape)
    assert not scrambled.has_canonical_format
    for rows in (X, scrambled):
        got = explicitly_centred(rows, center)
        assert got.dtype == dtype and got.has_sorted_indices
        np.testing.assert_allclose(got.toarray(), X.toarray() - center,
                                   rtol=1e-6 if dtype == np.float32 else 1e-15)
        assert got.nnz == (X.toarray()[:, [1, 2, 3, 5, 6, 7]] != 0).sum() + 3 * X.shape[0]
