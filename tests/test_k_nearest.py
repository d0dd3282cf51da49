"""k_nearest: the bucket (label-correcting) kernel and its heap fallback against a scipy reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geoaccess import Network, _kernels, paths
from tests.test_paths import oracle_matrix


@st.composite
def float_graphs(draw):
    """Float minutes over a wide range, zero arcs, self-loops, parallel arcs, isolated nodes, repeated sources."""
    n = draw(st.integers(1, 40))
    m = draw(st.integers(0, 5 * n))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    kind = draw(st.sampled_from(["quarters", "wide", "zeros"]))
    if kind == "quarters":
        w = rng.integers(0, 12, m) / 4
    elif kind == "wide":
        w = np.round(rng.random(m) ** 4 * 50, 5)
    else:
        w = np.where(rng.random(m) < 0.4, 0.0, rng.random(m) * 3)
    loops = rng.random(m) < 0.1
    head[loops] = tail[loops]
    if m:  # a parallel arc with another weight
        tail = np.r_[tail, tail[0]]
        head = np.r_[head, head[0]]
        w = np.r_[w, w[0] + 1]
    ns = draw(st.integers(1, min(n, 6)))
    sources = rng.choice(n, ns, replace=draw(st.booleans()))
    offsets = rng.integers(0, 4, ns) / 2 if draw(st.booleans()) else np.zeros(ns)
    return n, tail, head, w, sources, offsets


def _reference(tail, head, w, n, sources, offsets, reverse, k, cutoff):
    """Sorted minutes of every source to every node (offsets added, beyond cutoff dropped): the first k rows."""
    from scipy.sparse.csgraph import dijkstra

    A = oracle_matrix(tail, head, w, n)
    if reverse:
        A = A.T.tocsr()
    full = dijkstra(A, indices=sources) + offsets[:, None]
    full[full > cutoff] = np.inf
    exp = np.sort(full, axis=0)
    out = np.full((k, n), np.inf)
    kk = min(k, sources.size)
    out[:kk] = exp[:kk]
    return full, out


def _check(minutes, pos, full, exp):
    np.testing.assert_allclose(minutes, exp, rtol=1e-9, atol=0)
    ok = pos >= 0
    assert np.array_equal(ok, np.isfinite(minutes))
    cols = np.broadcast_to(np.arange(minutes.shape[1]), pos.shape)
    np.testing.assert_allclose(full[pos[ok], cols[ok]], minutes[ok], rtol=1e-9, atol=0)
    for j in range(minutes.shape[1]):  # distinct sources per node
        p = pos[:, j][pos[:, j] >= 0]
        assert len(set(p.tolist())) == p.size


@settings(max_examples=120, deadline=None)
@given(float_graphs(), st.integers(1, 5), st.booleans(), st.sampled_from([np.inf, 1.5, 6.0]))
def test_k_nearest_float_graphs_equal_scipy(g, k, reverse, cutoff):
    n, tail, head, w, sources, offsets = g
    rng = np.random.default_rng(n)
    net = Network.from_arrays(tail, head, w, x=rng.random(n), y=rng.random(n))
    full, exp = _reference(tail, head, w, n, sources, offsets, reverse, k, cutoff)
    minutes, pos = paths.k_nearest(net, sources, k, cutoff=cutoff, offsets=offsets, reverse=reverse)
    _check(minutes, pos, full, exp)


@settings(max_examples=80, deadline=None)
@given(float_graphs(), st.integers(1, 4), st.sampled_from(["min", 0.7, 4.0, "heap"]))
def test_k_nearest_kernels_at_any_bucket_width(g, k, width):
    """Wide buckets make the kernel follow slots again after they improve; the heap kernel is label-setting."""
    n, tail, head, w, sources, offsets = g
    net = Network.from_arrays(tail, head, w, x=np.zeros(n), y=np.zeros(n))
    full, exp = _reference(tail, head, w, n, sources, offsets, False, k, np.inf)
    indptr, indices, kw = net.kernel_csr(False)
    labels = np.arange(sources.size, dtype=np.int32)
    knodes = net.to_kernel(sources)
    if width == "heap":
        d, lab = _kernels.k_nearest_heap(indptr, indices, kw, knodes, offsets, labels, k, np.inf, np.inf, 1)
    else:
        delta = (net.min_positive_minutes or 1.0) if width == "min" else width
        nb = 1 << int(max(net.max_minutes, np.ptp(offsets)) / delta + 1).bit_length()  # a power of two
        d, lab, scans = _kernels.k_nearest(indptr, indices, kw, knodes, offsets, labels, k, np.inf, delta, nb, 1 << 40)
        assert scans >= 0
    _check(d, lab, full, exp)


def test_k_nearest_falls_back_to_the_heap(monkeypatch):
    rng = np.random.default_rng(3)
    n, m = 300, 1200
    t, h, w = rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m) * 5
    net = Network.from_arrays(t, h, w, x=rng.random(n), y=rng.random(n))
    src = rng.choice(n, 8, replace=False)
    a = paths.k_nearest(net, src, 3)
    calls = []
    heap = _kernels.k_nearest_heap
    monkeypatch.setattr(_kernels, "k_nearest_heap", lambda *args: calls.append(1) or heap(*args))
    monkeypatch.setattr(paths, "_RESCANS", 0)
    b = paths.k_nearest(net, src, 3)
    assert calls
    np.testing.assert_array_equal(a[0], b[0])
    # seed minutes spread too far for buckets go straight to the heap
    calls.clear()
    monkeypatch.setattr(paths, "_RESCANS", 4)
    c = paths.k_nearest(net, src, 3, offsets=np.r_[np.zeros(7), 1e9])
    assert calls
    full, exp = _reference(t, h, w, n, src, np.r_[np.zeros(7), 1e9], False, 3, np.inf)
    _check(c[0], c[1], full, exp)
