"""Snapping onto links and point minutes, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from geoaccess.measures import nearest_facility
from geoaccess.network import Network


@pytest.fixture
def line_net():
    # nodes 0 (x=0) - 1 (x=1000) - 2 (x=2000); 1 minute per link both ways, except 1->2 one-way
    t = np.array([0, 1, 1])
    h = np.array([1, 0, 2])
    return Network.from_arrays(t, h, np.array([1.0, 1.0, 1.0]), x=np.array([0.0, 1000, 2000]), y=np.zeros(3))


def test_snap_to_edge_not_node(line_net):
    s = line_net.snap(np.array([250.0]), np.array([75.0]))
    assert line_net.link_u[s.link[0]] == 0 and line_net.link_v[s.link[0]] == 1
    assert s.t[0] == pytest.approx(0.25)
    assert s.offroad_m[0] == pytest.approx(75.0)


def test_point_minutes_with_partial_edge_and_walk(line_net):
    fac = line_net.snap(np.array([0.0]), np.array([0.0]))  # at node 0
    dem = line_net.snap(np.array([250.0, 1500.0]), np.array([75.0, 0.0]))
    r = nearest_facility(line_net, fac, dem, np.array([True]), to_facility=True, walk_kmh=4.5)
    # 75 m walk at 75 m/min = 1 min, then a quarter of the 1-minute link back to node 0
    assert r.minutes[0] == pytest.approx(1.0 + 0.25)
    # the point at 1500 is on the one-way link 1->2: it must drive on to node 2 and cannot come back
    assert np.isinf(r.minutes[1])
    assert r.facility[0] == 0 and r.facility[1] == -1
    # travelling from the facility, it is reachable: 1 min to node 1 then half the one-way link
    r2 = nearest_facility(line_net, fac, dem, np.array([True]), to_facility=False, walk_kmh=4.5)
    assert r2.minutes[1] == pytest.approx(1.5)


def test_same_link_direct_trip(line_net):
    fac = line_net.snap(np.array([600.0]), np.array([0.0]))
    dem = line_net.snap(np.array([400.0]), np.array([0.0]))
    r = nearest_facility(line_net, fac, dem, np.array([True]), to_facility=True)
    assert r.minutes[0] == pytest.approx(0.2)


def test_node_snap_mode_sits_on_the_nearest_node(line_net):
    s = line_net.snap(np.array([250.0, 1900.0]), np.array([75.0, 0.0]), mode="node")
    ends = np.where(s.t == 0, line_net.link_u[s.link], line_net.link_v[s.link])
    assert list(ends) == [0, 2]
    assert s.offroad_m[0] == pytest.approx(np.hypot(250, 75))
    fac = line_net.snap(np.array([0.0]), np.array([0.0]))
    edge = nearest_facility(line_net, fac, line_net.snap(np.array([250.0]), np.array([75.0])), np.array([True]))
    node = nearest_facility(line_net, fac, s, np.array([True]))
    # node snapping walks the whole way to node 0 instead of driving the quarter link
    assert node.minutes[0] == pytest.approx(np.hypot(250, 75) / 75)
    assert node.minutes[0] > edge.minutes[0]
    with pytest.raises(ValueError, match="snap mode"):
        line_net.snap(np.array([0.0]), np.array([0.0]), mode="vertex")


def test_hilbert_renumbering_is_invisible():
    rng = np.random.default_rng(1)
    n = 200
    t, h = rng.integers(0, n, 800), rng.integers(0, n, 800)
    w = rng.random(800)
    plain = Network.from_arrays(t, h, w)
    spatial = Network.from_arrays(t, h, w, x=rng.random(n), y=rng.random(n))
    assert spatial._perm is not None and not np.array_equal(spatial._perm, np.arange(n))
    a, la = plain.nearest(np.array([3, 77]))
    b, lb = spatial.nearest(np.array([3, 77]))
    np.testing.assert_array_equal(a, b)
    for rev in (False, True):
        for pa, sa in zip(plain.csr(rev), spatial.csr(rev), strict=True):
            np.testing.assert_array_equal(pa, sa)
