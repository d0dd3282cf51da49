"""k-nearest, OD batches, tier groups, incremental updates and node renumbering against scipy / full recompute."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from geoaccess import InputError, Network, paths
from tests.test_paths import graphs, oracle_matrix


def _net(n, tail, head, w, coords=True, seed=0):
    if not coords:
        return Network.from_arrays(tail, head, w, x=None if n else None)
    rng = np.random.default_rng(seed)
    # random coordinates: the Hilbert renumbering is then far from the identity
    return Network.from_arrays(tail, head, w, x=rng.random(n) * 1000, y=rng.random(n) * 1000)


def _full(tail, head, w, n, sources, reverse, limit=np.inf):
    A = oracle_matrix(tail, head, w, n)
    if reverse:
        A = A.T.tocsr()
    return dijkstra(A, indices=sources, limit=limit)


@settings(max_examples=80, deadline=None)
@given(graphs(), st.booleans(), st.sampled_from([None, 1.0, 3.0]))
def test_renumbered_nearest_and_od_equal_scipy(g, reverse, cutoff):
    n, tail, head, w, sources = g
    net = _net(n, tail, head, w)
    full = _full(tail, head, w, n, sources, reverse, np.inf if cutoff is None else cutoff)
    minutes, nearest = net.nearest(sources, cutoff=cutoff, reverse=reverse)
    np.testing.assert_allclose(minutes, full.min(axis=0), rtol=1e-9, atol=0)
    reach = np.isfinite(minutes)
    np.testing.assert_allclose(full[nearest[reach], np.flatnonzero(reach)], minutes[reach], rtol=1e-9)
    od = paths.od(net, sources, cutoff=np.inf if cutoff is None else cutoff, reverse=reverse)
    for k in range(sources.size):
        sl = slice(od.indptr[k], od.indptr[k + 1])
        order = np.argsort(od.node[sl])
        exp = np.flatnonzero(np.isfinite(full[k]))
        assert list(od.node[sl][order]) == list(exp)
        np.testing.assert_allclose(od.minutes[sl][order], full[k, exp], rtol=1e-9, atol=0)


@settings(max_examples=60, deadline=None)
@given(graphs(), st.integers(1, 4), st.booleans())
def test_k_nearest_equals_sorted_scipy(g, k, reverse):
    n, tail, head, w, sources = g
    net = _net(n, tail, head, w)
    full = _full(tail, head, w, n, sources, reverse)
    minutes, pos = paths.k_nearest(net, sources, k, reverse=reverse)
    exp = np.sort(full, axis=0)
    kk = min(k, sources.size)
    np.testing.assert_allclose(minutes[:kk], exp[:kk], rtol=1e-9, atol=0)
    assert np.isinf(minutes[kk:]).all()
    ok = pos >= 0
    assert np.array_equal(ok, np.isfinite(minutes))
    cols = np.broadcast_to(np.arange(n), pos.shape)
    np.testing.assert_allclose(full[pos[ok], cols[ok]], minutes[ok], rtol=1e-9)
    for j in range(n):  # distinct sources per node
        p = pos[:, j][pos[:, j] >= 0]
        assert len(set(p.tolist())) == p.size


@settings(max_examples=60, deadline=None)
@given(graphs(), st.booleans(), st.data())
def test_incremental_equals_recompute(g, reverse, data):
    n, tail, head, w, sources = g
    net = _net(n, tail, head, w)
    cutoff = data.draw(st.sampled_from([None, 2.0]))
    offsets = np.array(data.draw(st.lists(st.integers(0, 4), min_size=sources.size, max_size=sources.size))) / 2
    state = paths.NearestState(net, sources, offsets, cutoff=cutoff, reverse=reverse)
    cur_src, cur_off, cur_pos = list(sources), list(offsets), list(range(sources.size))
    for _ in range(4):
        if cur_pos and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(cur_pos) - 1))
            state.remove_source(cur_pos[i])
            del cur_src[i], cur_off[i], cur_pos[i]
        else:
            node = data.draw(st.integers(0, n - 1))
            off = data.draw(st.integers(0, 4)) / 2
            cur_pos.append(state.add_source(node, off))
            cur_src.append(node)
            cur_off.append(off)
        if cur_src:
            exp, _ = net.nearest(np.array(cur_src), offsets=np.array(cur_off), cutoff=cutoff, reverse=reverse)
        else:
            exp = np.full(n, np.inf)
        np.testing.assert_allclose(state.minutes, exp, rtol=1e-9, atol=0)
        lab = state.nearest
        assert np.array_equal(lab >= 0, np.isfinite(exp))
        assert set(lab[lab >= 0].tolist()) <= set(cur_pos)


def test_groups_equal_separate_searches():
    rng = np.random.default_rng(3)
    n, m = 400, 1600
    t, h, w = rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m) * 5
    net = _net(n, t, h, w)
    groups = [np.array([1, 2, 3]), np.array([100]), np.array([5, 250, 399, 7])]
    d, lab = paths.nearest_groups(net, groups, cutoff=8.0, reverse=True)
    for i, g in enumerate(groups):
        e, el = net.nearest(g, cutoff=8.0, reverse=True)
        np.testing.assert_array_equal(d[i], e)
        assert np.array_equal(lab[i] >= 0, el >= 0)


def test_zero_arcs_self_loops_parallel_and_float_minutes():
    # zero-minute arcs, a self-loop and parallel arcs with fractional minutes
    t = np.array([0, 0, 0, 1, 2, 2, 3, 3, 4])
    h = np.array([1, 1, 0, 2, 3, 3, 4, 3, 0])
    w = np.array([0.3, 0.1, 0.0, 0.0, 2.7, 1.35, 0.0, 5.0, 1e-7])
    net = _net(5, t, h, w)
    minutes, nearest = net.nearest(np.array([0]))
    np.testing.assert_allclose(minutes, [0, 0.1, 0.1, 0.1 + 1.35, 0.1 + 1.35])
    assert list(nearest) == [0] * 5


def test_wide_offsets_use_heap_and_stay_exact():
    # seed start minutes far apart relative to arc minutes: too many buckets, so the heap runs
    t, h = np.arange(99), np.arange(1, 100)
    net = Network.from_arrays(t, h, np.full(99, 1e-6))
    minutes, nearest = net.nearest(np.array([0, 50]), offsets=np.array([0.0, 1e6]))
    assert nearest[60] == 0 and minutes[60] == pytest.approx(60e-6)


def test_od_grows_its_buffer_and_frame():
    rng = np.random.default_rng(5)
    n, m = 2000, 8000
    t, h, w = rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m)
    net = _net(n, t, h, w)
    src = np.arange(0, 2000, 97)
    small = paths.od(net, src, cutoff=3.0, buffer_mb=0.001)  # forces several rounds
    big = paths.od(net, src, cutoff=3.0)
    np.testing.assert_array_equal(small.indptr, big.indptr)
    a = small.to_frame().sort_values(["source", "node"]).reset_index(drop=True)
    b = big.to_frame().sort_values(["source", "node"]).reset_index(drop=True)
    assert a.equals(b)
    assert list(a.columns) == ["source", "node", "minutes"]


def test_bad_inputs_raise():
    net = Network.from_arrays(np.array([0]), np.array([1]), np.array([1.0]))
    with pytest.raises(InputError, match="non-empty"):
        paths.od(net, np.array([], dtype=int), 5)
    with pytest.raises(InputError, match="cutoff"):
        net.within(np.array([0]), cutoff=-1)
    with pytest.raises(InputError, match="k must"):
        paths.k_nearest(net, np.array([0]), 0)
    with pytest.raises(InputError, match="offsets"):
        net.nearest(np.array([0]), offsets=np.array([np.nan]))
    state = paths.NearestState(net, np.array([0]))
    with pytest.raises(InputError, match="0..1"):
        state.add_source(9)
    state.remove_source(0)
    with pytest.raises(InputError, match="no active source"):
        state.remove_source(0)


def test_od_blocks_stream_the_same_table():
    rng = np.random.default_rng(9)
    n, m = 500, 2000
    t, h, w = rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m)
    net = _net(n, t, h, w)
    src = np.arange(0, 500, 7)
    whole = paths.od(net, src, 2.0)
    parts = list(paths.od_blocks(net, src, 2.0, block=10))
    assert [a for a, _ in parts] == list(range(0, src.size, 10))
    assert np.array_equal(np.concatenate([p.node for _, p in parts]), whole.node)
    assert np.array_equal(np.concatenate([p.minutes for _, p in parts]), whole.minutes)
    # sized by memory: a tiny budget after the first block of 16 gives one source per block
    parts = list(paths.od_blocks(net, src, 2.0, block_mb=1e-9))
    assert [a for a, _ in parts] == [0, *range(16, src.size)]
    assert np.array_equal(np.concatenate([p.node for _, p in parts]), whole.node)
    assert len(list(paths.od_blocks(net, src, 2.0))) == 2  # 512 MB holds the rest at once
    with pytest.raises(InputError, match="block must be"):
        list(paths.od_blocks(net, src, 2.0, block=0))
