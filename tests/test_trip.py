"""The door-to-door trip (geoaccess.trip): OD pairs from the parallel kernel against a naive reference."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from geoaccess.measures import nearest_facility
from geoaccess.network import Network
from geoaccess.trip import Trip


def _random_net(seed: int, n: int = 14):
    rng = np.random.default_rng(seed)
    ids = np.arange(n * n).reshape(n, n)
    tail = np.concatenate([ids[:, :-1].ravel(), ids[:, 1:].ravel(), ids[:-1].ravel(), ids[1:].ravel()])
    head = np.concatenate([ids[:, 1:].ravel(), ids[:, :-1].ravel(), ids[1:].ravel(), ids[:-1].ravel()])
    keep = rng.random(tail.size) > 0.15  # one-way streets
    x, y = (ids % n).ravel() * 400.0, (ids // n).ravel() * 400.0
    minutes = rng.uniform(0.2, 3, tail.size)[keep]
    return Network.from_arrays(tail[keep], head[keep], minutes, x=x, y=y), rng, (n - 1) * 400.0


def _dijkstra(net, seeds, cutoff, reverse):
    """Plain heapq Dijkstra from (node, start minutes) seeds; adds arc minutes in path order, as the kernels do."""
    tail, head = (net.arc_head, net.arc_tail) if reverse else (net.arc_tail, net.arc_head)
    adj = [[] for _ in range(net.n_nodes)]
    for a, b, w in zip(tail, head, net.arc_minutes, strict=True):
        adj[a].append((b, w))
    dist = np.full(net.n_nodes, np.inf)
    heap = []
    for v, d in seeds:
        if d <= cutoff and d < dist[v]:
            dist[v] = d
            heapq.heappush(heap, (d, v))
    while heap:
        d, v = heapq.heappop(heap)
        if d > dist[v]:
            continue
        for b, w in adj[v]:
            nd = d + w
            if nd < dist[b] and nd <= cutoff:
                dist[b] = nd
                heapq.heappush(heap, (nd, b))
    return dist


def _naive_pairs(net, fsnap, dsnap, cutoffs, to_facility, walk_kmh=4.5):
    """Every (facility, point, minutes) within the facility's cutoff, one facility and one point at a time."""
    mpm = walk_kmh * 1000 / 60

    def drive(frac, m):
        return frac * m if frac > 0 else 0.0

    rows = []
    for j in range(len(fsnap)):
        lk, t, w = fsnap.link[j], fsnap.t[j], fsnap.offroad_m[j] / mpm
        u, v, fwd, bwd = net.link_u[lk], net.link_v[lk], net.link_fwd[lk], net.link_bwd[lk]
        if to_facility:  # reach the facility from u along u->v, from v along v->u
            seeds = [(u, w + drive(t, fwd)), (v, w + drive(1 - t, bwd))]
        else:
            seeds = [(v, w + drive(1 - t, fwd)), (u, w + drive(t, bwd))]
        seeds = [(a, b) for a, b in seeds if np.isfinite(b)]
        dist = _dijkstra(net, seeds, cutoffs[j], reverse=to_facility)
        for i in range(len(dsnap)):
            li, ti = dsnap.link[i], dsnap.t[i]
            pu, pv = net.link_u[li], net.link_v[li]
            f, b = net.link_fwd[li], net.link_bwd[li]
            if to_facility:
                via_u, via_v = drive(ti, b) + dist[pu], drive(1 - ti, f) + dist[pv]
            else:
                via_u, via_v = drive(ti, f) + dist[pu], drive(1 - ti, b) + dist[pv]
            m = min(via_u, via_v) + dsnap.offroad_m[i] / mpm
            if li == lk:  # straight along the shared link
                td, tf = (ti, t) if to_facility else (t, ti)
                d = (tf - td) * f if tf >= td else (td - tf) * b
                direct = dsnap.offroad_m[i] / mpm + d + fsnap.offroad_m[j] / mpm
                if direct < m:
                    m = direct
            if m <= cutoffs[j]:
                rows.append((j, i, m))
    rows.sort(key=lambda r: (r[0], r[2], r[1]))
    return rows


@pytest.mark.parametrize("to_facility", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairs_equal_a_naive_reference(seed, to_facility):
    net, rng, size = _random_net(seed)
    fx, fy = rng.uniform(0, size, 12), rng.uniform(0, size, 12)
    fsnap = net.snap(fx, fy)
    # random points, and points beside the facilities (mostly on their own links: the same-link shortcut)
    dx = np.r_[rng.uniform(-200, size + 200, 400), fx + rng.uniform(-60, 60, 12)]
    dy = np.r_[rng.uniform(-200, size + 200, 400), fy + rng.uniform(-60, 60, 12)]
    dsnap = net.snap(dx, dy)
    assert np.isin(fsnap.link, dsnap.link[400:]).sum() >= 6
    cutoffs = rng.uniform(2, 15, 12)
    cutoffs[3] = -1.0  # no pairs
    trip = Trip(net, 4.5, to_facility)
    got = trip.pairs(fsnap, trip.point_index(dsnap), cutoffs)
    expect = _naive_pairs(net, fsnap, dsnap, np.where(cutoffs < 0, -np.inf, cutoffs), to_facility)
    rows = [
        (j, int(p), float(m))
        for j in range(len(fsnap))
        for p, m in zip(
            got.point[got.start[j] : got.start[j] + got.count[j]],
            got.minutes[got.start[j] : got.start[j] + got.count[j]],
            strict=True,
        )
    ]
    assert rows == expect
    assert got.count[3] == 0


def test_pairs_small_buffer_gives_the_same_pairs():
    net, rng, size = _random_net(5)
    fsnap = net.snap(rng.uniform(0, size, 30), rng.uniform(0, size, 30))
    dsnap = net.snap(rng.uniform(0, size, 2000), rng.uniform(0, size, 2000))
    trip = Trip(net)
    index = trip.point_index(dsnap)
    big = trip.pairs(fsnap, index, np.full(30, 20.0))
    small = trip.pairs(fsnap, index, np.full(30, 20.0), buffer_mb=0.001)  # rounds of a few facilities each
    np.testing.assert_array_equal(big.count, small.count)
    np.testing.assert_array_equal(big.point, small.point)
    np.testing.assert_array_equal(big.minutes, small.minutes)


@pytest.mark.parametrize("to_facility", [True, False])
def test_nearest_is_the_smallest_pair(to_facility):
    net, rng, size = _random_net(7)
    fsnap = net.snap(rng.uniform(0, size, 8), rng.uniform(0, size, 8))
    dsnap = net.snap(rng.uniform(0, size, 500), rng.uniform(0, size, 500))
    trip = Trip(net, 4.5, to_facility)
    pairs = trip.pairs(fsnap, trip.point_index(dsnap), np.full(8, np.inf))
    best = np.full(len(dsnap), np.inf)
    np.minimum.at(best, pairs.point, pairs.minutes)
    r = nearest_facility(net, fsnap, dsnap, np.ones(8, dtype=bool), to_facility=to_facility)
    np.testing.assert_array_equal(best, r.minutes)


def test_sort_pairs_against_lexsort():
    from geoaccess._kernels import sort_pairs

    rng = np.random.default_rng(0)
    for minutes in (
        rng.uniform(0, 30, 5000),
        np.round(rng.uniform(0, 3, 5000), 1),  # many ties: crowded buckets
        np.zeros(300),  # all equal
        np.r_[np.zeros(100), rng.exponential(5, 100), [1e6]],  # skewed
        np.zeros(0),
    ):
        point = rng.permutation(minutes.size).astype(np.int32)
        np.testing.assert_array_equal(sort_pairs(point, minutes), np.lexsort((point, minutes)))
