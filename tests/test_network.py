"""Snapping onto links and point minutes, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

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


# -- grid snapping against shapely's STRtree (the reference) --------------------------------------------------------
def assert_same_snap(net, px, py):
    """Grid and STRtree snaps agree: distance bit for bit everywhere, ``t`` wherever the link is the same; where the
    links differ the point is exactly as far from both, the grid's is the smallest such link, and its ``t`` is what
    shapely computes on it."""
    import shapely

    from geoaccess.network import SnapIndex

    index = SnapIndex.from_network(net)
    index.BRUTE_FORCE_WORK = 0
    grid = index.snap(px, py)
    assert index.lv_cell is not None  # the grid answered
    brute = SnapIndex.from_network(net)
    brute.BRUTE_FORCE_WORK = 10**18
    some = slice(0, 1000)  # every segment looked at: the same answer (on a sample: it is O(points x segments))
    for k in ("link", "t", "offroad_m"):
        np.testing.assert_array_equal(getattr(brute.snap(px[some], py[some]), k), getattr(grid, k)[some])
    assert brute.lv_cell is None
    ref = net.snap(px, py, method="shapely")
    np.testing.assert_array_equal(grid.offroad_m, ref.offroad_m)
    same = grid.link == ref.link
    np.testing.assert_array_equal(grid.t[same], ref.t[same])
    diff = np.flatnonzero(~same)
    if diff.size:
        pts = shapely.points(px[diff], py[diff])
        geoms = net.geometry
        np.testing.assert_array_equal(shapely.distance(geoms[grid.link[diff]], pts), ref.offroad_m[diff])
        assert (grid.link[diff] < ref.link[diff]).all()
        t = np.nan_to_num(np.clip(shapely.line_locate_point(geoms[grid.link[diff]], pts, normalized=True), 0, 1))
        np.testing.assert_array_equal(grid.t[diff], t)
        tree = shapely.STRtree(geoms)
        idx = tree.query_nearest(pts, all_matches=True)
        smallest = np.full(diff.size, np.iinfo(np.int64).max)
        np.minimum.at(smallest, idx[0], idx[1])
        np.testing.assert_array_equal(grid.link[diff], smallest)
    return grid, int(diff.size)


def random_curvy_net(rng, n_links=400, extent=5000.0):
    """Links with 2-7 vertices, some repeated vertices, a zero-length link and links sharing ends (junction ties)."""
    import shapely

    n_nodes = n_links // 2
    x = rng.uniform(0, extent, n_nodes)
    y = rng.uniform(0, extent, n_nodes)
    u = rng.integers(0, n_nodes, n_links)
    v = rng.integers(0, n_nodes, n_links)
    geoms = []
    for a, b in zip(u, v, strict=True):
        k = rng.integers(0, 6)
        f = np.sort(rng.uniform(0, 1, k))
        mx = x[a] + (x[b] - x[a]) * f + rng.normal(0, 80, k)
        my = y[a] + (y[b] - y[a]) * f + rng.normal(0, 80, k)
        cx = np.concatenate([[x[a]], mx, [x[b]]])
        cy = np.concatenate([[y[a]], my, [y[b]]])
        if k and rng.random() < 0.1:  # a repeated vertex: a zero-length segment inside a link
            cx, cy = np.insert(cx, 1, cx[1]), np.insert(cy, 1, cy[1])
        geoms.append(shapely.linestrings(np.column_stack([cx, cy])))
    u[0] = v[0]  # a zero-length link (a loop on one node)
    geoms[0] = shapely.linestrings([[x[u[0]], y[u[0]]], [x[u[0]], y[u[0]]]])
    fwd = np.full(n_links, 1.0)
    return Network(n_nodes, u, v, fwd, fwd, x=x, y=y, geometry=np.array(geoms, dtype=object))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_snap_equals_strtree_on_random_links(seed):
    rng = np.random.default_rng(seed)
    net = random_curvy_net(rng)
    xy = shapely.get_coordinates(net.geometry)
    px = np.concatenate(
        [
            rng.uniform(-3000, 8000, 3000),  # inside and far outside the network's extent
            xy[:, 0],  # exactly on vertices (ties between links sharing an end)
            np.round(rng.uniform(0, 5000, 1000), -2),  # a coarse lattice: exact ties are likelier
        ]
    )
    py = np.concatenate([rng.uniform(-3000, 8000, 3000), xy[:, 1], np.round(rng.uniform(0, 5000, 1000), -2)])
    grid, ties = assert_same_snap(net, px, py)
    assert ties > 0  # the tie rule was exercised
    assert ((grid.t >= 0) & (grid.t <= 1)).all()


def test_grid_snap_straight_links_and_far_points():
    rng = np.random.default_rng(5)
    tail, head = rng.integers(0, 300, 900), rng.integers(0, 300, 900)
    x, y = rng.uniform(0, 20_000, 300), rng.uniform(0, 20_000, 300)
    net = Network.from_arrays(tail, head, np.ones(900), x=x, y=y)  # no geometry: straight lines between link ends
    px = np.concatenate([rng.uniform(-200_000, 200_000, 500), rng.uniform(0, 20_000, 2000)])
    py = np.concatenate([rng.uniform(-200_000, 200_000, 500), rng.uniform(0, 20_000, 2000)])
    assert_same_snap(net, px, py)


def test_grid_snap_equals_strtree_on_the_demo_network(demo_dir):
    from geoaccess.load.roads import read_osm

    net = read_osm(demo_dir / "roads.osm.pbf")
    rng = np.random.default_rng(3)
    n = 20_000
    px = rng.uniform(net.x.min() - 2000, net.x.max() + 2000, n)
    py = rng.uniform(net.y.min() - 2000, net.y.max() + 2000, n)
    assert_same_snap(net, px, py)


def test_grid_snap_equals_strtree_on_real_taiyuan_roads(shared_dir):
    p = shared_dir / "realdata" / "smart_taiyuan_osm_roads_central_taiyuan.geojson.gz"
    if not p.exists():
        pytest.skip(f"{p} is absent")
    from geoaccess.load.roads import read_roads

    net = read_roads(p)
    rng = np.random.default_rng(4)
    n = 20_000
    px = rng.uniform(net.x.min() - 500, net.x.max() + 500, n)
    py = rng.uniform(net.y.min() - 500, net.y.max() + 500, n)
    assert_same_snap(net, px, py)


def test_snap_method_is_checked(line_net):
    with pytest.raises(ValueError, match="snap method"):
        line_net.snap(np.array([0.0]), np.array([0.0]), method="kdtree")
