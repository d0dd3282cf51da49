"""Mixed (terrain -> road -> door) and walk-only trips against a networkx Dijkstra over the joined cell + road graph."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from geoaccess.load.terrain import Grid, road_samples
from geoaccess.network import Network
from geoaccess.terrain import Surface
from geoaccess.trip import Trip
from tests.test_terrain import cell_graph, random_dem

WALK_KMH = 4.5
MPM = WALK_KMH * 1000 / 60  # metres per minute


def part(frac, minutes):
    return frac * minutes if frac > 0 else 0.0


def small_case(seed, dem=True):
    """A 12 x 14 grid of 100 m cells (random walking speeds, barriers, hills) with a small road network on it."""
    rng = np.random.default_rng(seed)
    rows, cols, cell = 12, 14, 100.0
    grid = Grid(0.0, rows * cell, cell, rows, cols, "EPSG:32649")
    friction = (60.0 / (1000.0 * rng.uniform(1.0, 6.0, (rows, cols)))).astype(np.float32)
    friction[rng.random((rows, cols)) < 0.12] = np.inf
    n = 7
    x, y = rng.uniform(50, cols * cell - 50, n), rng.uniform(50, rows * cell - 50, n)
    pairs = [(i, (i + 1) % n) for i in range(n)] + [(0, 3), (2, 5)]
    tail, head, minutes = [], [], []
    for a, b in pairs:
        m = math.hypot(x[a] - x[b], y[a] - y[b]) / (rng.uniform(20, 60) * 1000 / 60)
        tail.append(a)
        head.append(b)
        minutes.append(m)
        if rng.random() < 0.7:  # the rest are one-way
            tail.append(b)
            head.append(a)
            minutes.append(m * rng.uniform(1.0, 1.3))
    net = Network.from_arrays(np.array(tail), np.array(head), np.array(minutes), x=x, y=y, crs="EPSG:32649")
    road_cell, road_snap = road_samples(net, grid)
    friction.reshape(-1)[road_cell] = np.float32(60.0 / (1000.0 * WALK_KMH))  # roads are walkable (bridges)
    z = random_dem(rng, (rows, cols)).astype(np.float32) if dem else None
    if z is not None:
        friction[~np.isfinite(z)] = np.inf
    all_cells = np.arange(rows * cols)
    fx, fy = rng.uniform(0, cols * cell, 3), rng.uniform(0, rows * cell, 3)
    surface = Surface(friction, z, grid.transform, grid.crs, cell, road_cell, road_snap, all_cells, grid.cells(fx, fy))
    return net, grid, surface, net.snap(fx, fy)


def oracle(net, surface, fsnap, mode, to_facility=True):
    """Minutes between every cell and the nearest facility over the joined graph, every edge in the direction
    the patient travels: cell -> ... -> facility -> "F" (``to_facility``), or "F" -> facility -> ... -> cell."""
    rows, cols = surface.shape
    f64 = surface.friction.astype(np.float64)
    dem = None if surface.dem is None else surface.dem.astype(np.float64)
    g = nx.DiGraph()

    def edge(a, b, w):
        if np.isfinite(w) and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
            g.add_edge(a, b, weight=w)

    def leg(near, far, w):
        """A leg between something nearer the cell and something nearer the facility, travelled as the patient."""
        edge(near, far, w) if to_facility else edge(far, near, w)

    cells = cell_graph(f64, (surface.cell_m,) * 2, surface.knight, dem=dem, cut_corners=False)
    for a, b, w in cells.edges(data="weight"):  # each move a -> b costs what walking a -> b costs
        edge(("c", a), ("c", b), w)
    for j, c in enumerate(surface.facility_cell):
        leg(("c", divmod(int(c), cols)), ("f", j), 0.0)
        lk, tf, walk_f = fsnap.link[j], fsnap.t[j], fsnap.offroad_m[j] / MPM
        u, v, fwd, bwd = net.link_u[lk], net.link_v[lk], net.link_fwd[lk], net.link_bwd[lk]
        if to_facility:  # reach the facility from u along u -> v, from v along v -> u
            leg(("n", u), ("f", j), part(tf, fwd) + walk_f)
            leg(("n", v), ("f", j), part(1 - tf, bwd) + walk_f)
        else:  # leave it to v along u -> v, to u along v -> u
            leg(("n", v), ("f", j), part(1 - tf, fwd) + walk_f)
            leg(("n", u), ("f", j), part(tf, bwd) + walk_f)
        leg(("f", j), "F", 0.0)
    if mode == "mixed":
        for a, b, w in zip(net.arc_tail, net.arc_head, net.arc_minutes, strict=True):
            edge(("n", a), ("n", b), w)  # arcs keep their own direction
        snap = surface.road_snap
        for i, c in enumerate(surface.road_cell):
            lk, t = snap.link[i], snap.t[i]
            u, v, fwd, bwd = net.link_u[lk], net.link_v[lk], net.link_fwd[lk], net.link_bwd[lk]
            leg(("c", divmod(int(c), cols)), ("s", i), snap.offroad_m[i] / MPM)
            if to_facility:  # from the point to u along v -> u, to v along u -> v
                leg(("s", i), ("n", u), part(t, bwd))
                leg(("s", i), ("n", v), part(1 - t, fwd))
            else:  # to the point from u along u -> v, from v along v -> u
                leg(("s", i), ("n", u), part(t, fwd))
                leg(("s", i), ("n", v), part(1 - t, bwd))
            for j in np.flatnonzero(fsnap.link == lk):  # along the facility's own link, passing no node
                start, end = (t, fsnap.t[j]) if to_facility else (fsnap.t[j], t)
                with np.errstate(invalid="ignore"):
                    drive = (end - start) * fwd if end >= start else (start - end) * bwd
                if np.isfinite(drive):
                    leg(("s", i), ("f", j), drive + fsnap.offroad_m[j] / MPM)
    graph = g.reverse(copy=False) if to_facility else g
    lengths = nx.single_source_dijkstra_path_length(graph, "F")
    out = np.full(rows * cols, np.inf)
    for k, m in lengths.items():
        if k[0] == "c":
            out[k[1][0] * cols + k[1][1]] = m
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["mixed", "walk_only"])
@pytest.mark.parametrize("to_facility", [True, False])
def test_mixed_and_walk_only_equal_networkx_on_the_joined_graph(seed, mode, to_facility):
    net, grid, surface, fsnap = small_case(seed)
    trip = Trip(net, WALK_KMH, to_facility, surface=surface, mode=mode)
    dsnap = net.snap(*grid.centres(surface.demand_cell))
    minutes, lab, _, _ = trip.nearest(fsnap, dsnap, fcells=surface.facility_cell, dcells=surface.demand_cell)
    want = oracle(net, surface, fsnap, mode, to_facility)
    passable = np.isfinite(surface.friction.reshape(-1))  # people in impassable cells step out: tested below
    got, want = minutes[passable], want[passable]
    assert np.array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-9)
    assert np.all((lab[passable] >= 0) == np.isfinite(got))


def test_mixed_is_never_slower_than_walking_and_uses_the_roads():
    net, grid, surface, fsnap = small_case(5, dem=False)
    kw = {"fcells": surface.facility_cell, "dcells": surface.demand_cell}
    dsnap = net.snap(*grid.centres(surface.demand_cell))
    walk = Trip(net, WALK_KMH, True, surface=surface, mode="walk_only").nearest(fsnap, dsnap, **kw)[0]
    mixed = Trip(net, WALK_KMH, True, surface=surface, mode="mixed").nearest(fsnap, dsnap, **kw)[0]
    fin = np.isfinite(walk)
    assert np.all(mixed[fin] <= walk[fin] + 1e-12)
    assert np.any(mixed[fin] < walk[fin] - 1.0)  # driving saves minutes somewhere


def test_people_in_an_impassable_cell_step_out_to_their_best_neighbour():
    friction = np.full((3, 3), 0.01, dtype=np.float32)
    friction[1, 1] = np.inf
    grid = Grid(0.0, 300.0, 100.0, 3, 3, "EPSG:32649")
    sf = Surface(friction, None, grid.transform, grid.crs, 100.0, [], None, [4, 0], [2])
    dist, label = sf.minutes([2], [0.0], [0])
    minutes, lab = sf.at(dist, label, [4, 0, -1])
    # the centre cell steps out diagonally to the facility's cell (0 minutes) at that cell's pace
    assert minutes[0] == pytest.approx(math.sqrt(2) * 100 * 0.01)
    assert minutes[1] == pytest.approx(2.0) and np.isinf(minutes[2]) and list(lab) == [0, 0, -1]


@pytest.mark.parametrize("mode", ["mixed", "walk_only"])
def test_a_few_demand_cells_get_the_minutes_of_the_whole_grid(mode):
    net, grid, surface, fsnap = small_case(4)
    rng = np.random.default_rng(4)
    trip = Trip(net, WALK_KMH, True, surface=surface, mode=mode)
    dsnap = net.snap(*grid.centres(surface.demand_cell))
    kw = {"fcells": surface.facility_cell}
    whole, wlab, _, _ = trip.nearest(fsnap, dsnap, dcells=surface.demand_cell, **kw)
    some = rng.choice(surface.demand_cell, 12, replace=False)
    some = np.r_[some, np.flatnonzero(~np.isfinite(surface.friction.reshape(-1)))[:3], -1]  # impassable, off-grid
    got, glab, _, _ = trip.nearest(fsnap, dsnap[np.maximum(some, 0)], dcells=some, **kw)
    want = np.where(some >= 0, whole[np.maximum(some, 0)], np.inf)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("knight", [False, True])
def test_unreachable_targets_do_not_keep_a_search_sweeping(knight):
    """A target walled off from every seed is left out of the early stop (exact: it is never reached), so the
    search still stops once the reachable targets are final; every target equals the full search."""
    rng = np.random.default_rng(11)
    friction = (60.0 / (1000.0 * rng.uniform(1.0, 6.0, (80, 80)))).astype(np.float32)
    friction[rng.random((80, 80)) < 0.08] = np.inf
    friction[60:70, 60] = friction[60:70, 69] = friction[60, 60:70] = friction[69, 60:70] = np.inf  # a walled yard
    grid = Grid(0.0, 8000.0, 100.0, 80, 80, "EPSG:32649")
    sf = Surface(friction, None, grid.transform, grid.crs, 100.0, [], None, [], [], knight=knight)
    seeds = np.array([5 * 80 + 5, 10 * 80 + 30])
    inside = np.array([64 * 80 + 64, 65 * 80 + 66])  # in the yard
    full, flab = sf.minutes(seeds, [0.0, 3.0], [0, 1])
    fin = np.flatnonzero(np.isfinite(full.reshape(-1)) & (full.reshape(-1) < 20))
    near = rng.choice(fin, 20, replace=False)
    targets = np.concatenate([near, inside])
    assert set(sf.reachable(targets, seeds)) == set(near)
    got, glab = sf.minutes(seeds, [0.0, 3.0], [0, 1], targets=targets)
    np.testing.assert_array_equal(got.reshape(-1)[targets], full.reshape(-1)[targets])
    np.testing.assert_array_equal(glab.reshape(-1)[targets], flab.reshape(-1)[targets])
    assert np.isinf(got.reshape(-1)[inside]).all()
    assert np.isinf(got).sum() > np.isinf(full).sum() + 100  # stopped early, not waiting for the yard
    # 4-connected pieces: a diagonal gap in a wall lets nobody through without corner cutting
    assert sf.components()[inside[0]] != sf.components()[seeds[0]]
