"""geoaccess._arrays: helpers shared by modules, against numpy."""

import numpy as np
import pytest

from geoaccess._arrays import unique


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
