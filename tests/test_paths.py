"""The path kernels against scipy.sparse.csgraph (the oracle) on random graphs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geoaccess import InputError, Network


def oracle_matrix(tail, head, w, n):
    df = pd.DataFrame({"t": tail, "h": head, "w": w}).groupby(["t", "h"], as_index=False)["w"].min()
    return csr_matrix((df["w"].to_numpy(), (df["t"].to_numpy(), df["h"].to_numpy())), shape=(n, n))


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 60))
    m = draw(st.integers(0, 4 * n))
    tail = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    head = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    # integers and zeros make ties and zero-weight arcs common
    w = np.array(draw(st.lists(st.integers(0, 20), min_size=m, max_size=m)), dtype=np.float64) / 4
    k = draw(st.integers(1, min(n, 5)))
    sources = np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True)))
    return n, tail, head, w, sources


@settings(max_examples=150, deadline=None)
@given(graphs(), st.booleans())
def test_nearest_equals_scipy(g, reverse):
    n, tail, head, w, sources = g
    net = Network.from_arrays(tail, head, w, x=np.zeros(n), y=np.zeros(n))
    minutes, nearest = net.nearest(sources, reverse=reverse)
    A = oracle_matrix(tail, head, w, n)
    if reverse:
        A = A.T.tocsr()
    full = dijkstra(A, indices=sources)  # (k, n)
    expect = full.min(axis=0)
    np.testing.assert_allclose(minutes, expect, rtol=1e-9, atol=0)
    assert np.all(np.isinf(minutes) == (nearest == -1))
    reach = np.isfinite(minutes)
    # the reported source really is at the minimum distance
    np.testing.assert_allclose(full[nearest[reach], np.flatnonzero(reach)], minutes[reach], rtol=1e-9)


def test_disconnected_nodes_are_inf_not_zero():
    net = Network.from_arrays(np.array([0, 1]), np.array([1, 0]), np.array([1.0, 1.0]), x=np.zeros(4), y=np.zeros(4))
    minutes, nearest = net.nearest(np.array([0]))
    assert minutes[0] == 0 and minutes[1] == 1
    assert np.isinf(minutes[2]) and np.isinf(minutes[3])
    assert list(nearest) == [0, 0, -1, -1]


def test_offsets_and_cutoff():
    # chain 0-1-2-3, unit minutes both ways
    t = np.array([0, 1, 2, 1, 2, 3])
    h = np.array([1, 2, 3, 0, 1, 2])
    net = Network.from_arrays(t, h, np.ones(6))
    minutes, nearest = net.nearest(np.array([0, 3]), offsets=np.array([0.0, 2.5]))
    np.testing.assert_allclose(minutes, [0, 1, 2, 2.5])
    assert list(nearest) == [0, 0, 0, 1]
    minutes, _ = net.nearest(np.array([0]), cutoff=1.5)
    assert np.isinf(minutes[2:]).all()


def test_oneway_direction():
    # 0 -> 1 only: from 0 you reach 1, but travelling *to* 0 from 1 is impossible
    net = Network.from_arrays(np.array([0]), np.array([1]), np.array([2.0]))
    fwd, _ = net.nearest(np.array([0]))
    rev, _ = net.nearest(np.array([0]), reverse=True)
    assert fwd[1] == 2.0 and np.isinf(rev[1])


def test_within_matches_scipy_limit():
    rng = np.random.default_rng(7)
    n, m = 300, 1200
    t, h, w = rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m) * 5
    net = Network.from_arrays(t, h, w, x=np.zeros(n), y=np.zeros(n))
    src = np.array([3, 50, 299])
    od = net.within(src, cutoff=6.0)
    D = dijkstra(oracle_matrix(t, h, w, n), indices=src, limit=6.0)
    for k in range(3):
        got = od[od["source"] == k].set_index("node")["minutes"].sort_index()
        exp = np.flatnonzero(np.isfinite(D[k]))
        assert list(got.index) == list(exp)
        np.testing.assert_allclose(got.to_numpy(), D[k, exp], rtol=1e-9)


@pytest.mark.parametrize(
    "tail,head,minutes,match",
    [
        ([0], [1], [-1.0], "negative"),
        ([0], [1], [np.nan], "NaN"),
        ([0], [5], [1.0], "outside"),
    ],
)
def test_bad_arcs_raise_before_kernel(tail, head, minutes, match):
    with pytest.raises(InputError, match=match):
        Network.from_arrays(np.array(tail), np.array(head), np.array(minutes), x=np.zeros(2), y=np.zeros(2))


def test_bad_sources():
    net = Network.from_arrays(np.array([0]), np.array([1]), np.array([1.0]))
    with pytest.raises(InputError, match="non-empty"):
        net.nearest(np.array([], dtype=int))
    with pytest.raises(InputError, match="0..1"):
        net.nearest(np.array([7]))
