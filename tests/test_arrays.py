"""geoaccess._arrays: helpers shared by modules, against numpy."""

import numpy as np
import pytest

from geoaccess._arrays import bincount, lookup, unique


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool])
def test_unique_matches_numpy(dtype):
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 17, 5000):
        a = rng.integers(0, 2 if dtype is bool else 40, n).astype(dtype)
        got = unique(a)
        want = np.unique(a)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_unique_flattens_and_passes_other_dtypes_to_numpy():
    a = np.array([[3, 1], [3, 2]])
    np.testing.assert_array_equal(unique(a), [1, 2, 3])
    f = np.array([2.0, np.nan, 1.0, np.nan])
    np.testing.assert_array_equal(unique(f), np.unique(f))


def test_lookup_equals_fancy_indexing_across_chunks():
    rng = np.random.default_rng(2)
    table = rng.random(256).astype(np.float32)
    codes = rng.integers(0, 256, (37, 41)).astype(np.uint8)
    out = np.empty(codes.shape, np.float32)
    assert lookup(table, codes, out, chunk=100) is out
    np.testing.assert_array_equal(out, table[codes])
    with pytest.raises(ValueError):
        lookup(table, codes, np.empty(5, np.float32))


def test_bincount_equals_numpy_across_chunks():
    rng = np.random.default_rng(3)
    for n in (0, 5, 1000):
        codes = rng.integers(0, 9, n).astype(np.uint8)
        for minlength in (0, 4, 12):
            np.testing.assert_array_equal(bincount(codes, minlength, chunk=64), np.bincount(codes, minlength=minlength))
