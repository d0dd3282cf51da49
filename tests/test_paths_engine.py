"""Round-3 engine details: the kept bucket workspace of incremental adds, worker threads of OD and groups."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geoaccess import Network, paths
from tests.test_paths import graphs, oracle_matrix
from tests.test_paths_more import _full


def _road_like(n=3000, seed=4):
    rng = np.random.default_rng(seed)
    m = 4 * n
    t, h = rng.integers(0, n, m), rng.integers(0, n, m)
    # float minutes with a wide range (bucket width above the smallest arc: rescans), zero arcs, self-loops
    w = np.round(rng.random(m) ** 3 * 30, 6)
    w[rng.random(m) < 0.05] = 0.0
    h[:20] = t[:20]
    return t, h, w, Network.from_arrays(t, h, w, x=rng.random(n), y=rng.random(n))


def test_many_adds_keep_a_clean_workspace_and_stay_exact():
    t, h, w, net = _road_like()
    rng = np.random.default_rng(1)
    base = rng.choice(net.n_nodes, 50, replace=False)
    state = paths.NearestState(net, base, cutoff=40.0)
    added = rng.choice(net.n_nodes, 30, replace=False)
    for v in added:
        state.add_source(int(v), offset=float(rng.integers(0, 3)) / 2)
    link, head = state._work
    assert (link[:, 2] == -1).all() and (head == -1).all()  # reusable without an O(n) reset
    exp, _ = net.nearest(np.array(state.sources), offsets=np.array(state.offsets), cutoff=40.0)
    np.testing.assert_allclose(state.minutes, exp, rtol=1e-9, atol=0)
    # a removal between adds keeps the workspace usable
    state.remove_source(3)
    state.add_source(int(base[3]))
    on = np.array(state.active)
    exp2, _ = net.nearest(np.array(state.sources)[on], offsets=np.array(state.offsets)[on], cutoff=40.0)
    np.testing.assert_allclose(state.minutes, exp2, rtol=1e-9, atol=0)


def test_remove_falls_back_to_the_heap_and_stays_exact(monkeypatch):
    t, h, w, net = _road_like(n=800, seed=5)
    rng = np.random.default_rng(6)
    base = rng.choice(net.n_nodes, 12, replace=False)
    state = paths.NearestState(net, base)
    calls = []
    heap = paths._kernels.heap_search
    monkeypatch.setattr(paths._kernels, "heap_search", lambda *a: calls.append(1) or heap(*a))
    monkeypatch.setattr(paths, "_RESCANS", 0)  # every bucket search of a removal gives up at once
    for p in (0, 5):
        state.remove_source(p)
        state.add_source(int(rng.integers(net.n_nodes)))
    assert calls
    on = np.array(state.active)
    exp, _ = net.nearest(np.array(state.sources)[on])
    np.testing.assert_allclose(state.minutes, exp, rtol=1e-9, atol=0)
    link, head = state._work
    assert (link[:, 2] == -1).all() and (head == -1).all()


def test_od_workers_reuse_their_workspace_exactly():
    from scipy.sparse.csgraph import dijkstra

    t, h, w, net = _road_like(n=1500, seed=8)
    src = np.random.default_rng(2).choice(net.n_nodes, 40, replace=False)
    D = dijkstra(oracle_matrix(t, h, w, net.n_nodes), indices=src, limit=5.0)
    for _ in range(2):  # the same workspace serves every source of a worker
        od = paths.od(net, src, 5.0)
        for k in range(src.size):
            sl = slice(od.indptr[k], od.indptr[k + 1])
            got = np.full(net.n_nodes, np.inf)
            got[od.node[sl]] = od.minutes[sl]
            np.testing.assert_allclose(got, D[k], rtol=1e-9, atol=0)
            assert np.unique(od.node[sl]).size == od.node[sl].size
        # the workspaces kept on the network for the next call are clean
        for _, work in net._od_work:
            for dist, link, head, _ in work:
                assert np.isinf(dist).all() and (link[:, 2] == -1).all() and (head == -1).all()


@settings(max_examples=40, deadline=None)
@given(graphs(), st.booleans())
def test_groups_on_threads_equal_scipy(g, reverse):
    n, tail, head, w, sources = g
    net = Network.from_arrays(tail, head, w, x=np.arange(n, dtype=float), y=np.zeros(n))
    groups = [sources, sources[:1], sources[::-1]]
    d, lab = paths.nearest_groups(net, groups, reverse=reverse)
    full = _full(tail, head, w, n, sources, reverse)
    np.testing.assert_allclose(d[0], full.min(axis=0), rtol=1e-9, atol=0)
    np.testing.assert_allclose(d[1], full[0], rtol=1e-9, atol=0)
    np.testing.assert_allclose(d[2], full.min(axis=0), rtol=1e-9, atol=0)
    assert np.array_equal(lab >= 0, np.isfinite(d))
