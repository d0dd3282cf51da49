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


# -- expressways: no entry from the terrain ([travel] no_entry) ------------------------------------------------------

X0, Y0 = 600_000.0, 4_180_000.0  # metres, UTM 49N (near Taiyuan)
EXPRESSWAY = ("motorway", "motorway_link")


def expressway_network():
    """Two local roads 2.5 km apart (A in the west, B in the east) joined by an expressway with a ramp at each end:
    A (secondary) and B (tertiary) run north-south, the expressway west-east through their middles (SYNTHETIC)."""
    xy = [(250, 50), (250, 1050), (250, 1950), (2750, 50), (2750, 1050), (2750, 1950), (550, 1050), (2450, 1050)]
    x = np.array([X0 + p[0] for p in xy])
    y = np.array([Y0 + p[1] for p in xy])
    links = [(0, 1, "secondary", 50), (1, 2, "secondary", 50), (3, 4, "tertiary", 40), (4, 5, "tertiary", 40),
             (1, 6, "motorway_link", 60), (6, 7, "motorway", 100), (7, 4, "motorway_link", 60)]  # fmt: skip
    u, v = np.array([a for a, *_ in links]), np.array([b for _, b, *_ in links])
    minutes = np.hypot(x[u] - x[v], y[u] - y[v]) / (np.array([k for *_, k in links]) * 1000 / 60)
    cls = np.array([c for _, _, c, _ in links], dtype=object)
    return Network(len(x), u, v, minutes, minutes.copy(), x=x, y=y, crs="EPSG:32649", link_class=cls)


@pytest.fixture(scope="module")
def expressway_files(tmp_path_factory):
    return write_expressway_files(tmp_path_factory.mktemp("expressway"))


def write_expressway_files(d):
    """Land cover (random WorldCover classes, on the study's grid) and a river crossing the whole grid north-south
    between the two local roads: only the expressway bridges it (SYNTHETIC)."""
    import geopandas as gpd
    import rasterio
    import shapely

    from geoaccess.load.terrain import Grid

    grid = Grid.covering((X0, Y0, X0 + 3000, Y0 + 2000), "EPSG:32649", 100.0)
    classes = np.random.default_rng(3).choice([10, 20, 30, 40, 50], size=grid.shape).astype(np.uint8)
    profile = dict(driver="GTiff", height=grid.rows, width=grid.cols, count=1, dtype="uint8", crs=grid.crs, nodata=0)
    with rasterio.open(d / "lc.tif", "w", transform=grid.transform, **profile) as f:
        f.write(classes, 1)
    river = shapely.LineString([(X0 + 1550, Y0 - 3000), (X0 + 1550, Y0 + 5000)])
    gpd.GeoDataFrame(geometry=[river], crs="EPSG:32649").to_file(d / "river.gpkg")
    return grid, classes, d / "lc.tif", d / "river.gpkg"


def expressway_case(files, no_entry=EXPRESSWAY):
    """The study's surface as build_surface builds it, with every cell a demand cell; two facilities, one beside
    each local road (the first west of the river, the second east of it)."""
    from geoaccess.config import TravelSettings
    from geoaccess.load.terrain import build_surface

    grid, _, lc, river = files
    net = expressway_network()
    travel = TravelSettings(mode="mixed", landcover=lc, barriers=(river,), present=True, no_entry=tuple(no_entry))
    every = np.arange(grid.rows * grid.cols)
    fxy = (np.array([X0 + 350, X0 + 2650]), np.array([Y0 + 1450, Y0 + 450]))
    surface = build_surface(
        travel, net, (X0, Y0, X0 + 3000, Y0 + 2000), grid.centres(every), fxy, cell_m=100.0, walk_kmh=WALK_KMH
    )
    return net, grid, surface, net.snap(*fxy)


def joined_surface(files, net, grid, built, entries: bool):
    """The oracle's surface, from the land cover, the river and road_samples without no_entry (every link's
    points, as AccessMod joins roads): with ``entries`` every road point is an entry and every road cell walkable;
    without, the expressway's points are dropped here, by their link's class, and its cells keep the land's pace."""
    from geoaccess.load.terrain import WORLDCOVER_KMH, barrier_mask

    _, classes, _, river = files
    kmh = np.array([WORLDCOVER_KMH[int(c)][0] for c in classes.reshape(-1)])
    friction = (60.0 / (1000.0 * kmh)).astype(np.float32).reshape(grid.shape)
    friction[barrier_mask([river], grid)] = np.inf
    cells, snap = road_samples(net, grid, no_entry=())
    if not entries:
        keep = ~np.isin(net.link_class[snap.link], EXPRESSWAY)
        cells, snap = cells[keep], snap[keep]
    friction.reshape(-1)[cells] = np.float32(60.0 / (1000.0 * WALK_KMH))
    return Surface(friction, None, grid.transform, grid.crs, 100.0, cells, snap, built.demand_cell,
                   built.facility_cell, knight=True)  # fmt: skip


def cell_at(grid, dx, dy):
    return int(grid.cells(X0 + dx, Y0 + dy))


@pytest.mark.parametrize("to_facility", [True, False])
def test_expressways_are_no_entry_points_and_equal_networkx_without_them(expressway_files, to_facility):
    """A village right beside the expressway, far from the local roads: by default it walks to a local road (or the
    facility), as the joined cell + road graph without the expressway's entries says; with ``no_entry = []`` it walks
    onto the expressway (AccessMod), as the graph with them says, and is faster."""
    got = {}
    for no_entry, entries in ((EXPRESSWAY, False), ((), True)):
        net, grid, surface, fsnap = expressway_case(expressway_files, no_entry)
        want_surface = joined_surface(expressway_files, net, grid, surface, entries)
        np.testing.assert_array_equal(surface.road_cell, want_surface.road_cell)
        for k in ("link", "t", "offroad_m"):
            np.testing.assert_array_equal(getattr(surface.road_snap, k), getattr(want_surface.road_snap, k))
        np.testing.assert_array_equal(surface.friction, want_surface.friction)
        assert np.isin(net.link_class[surface.road_snap.link], EXPRESSWAY).any() == entries
        trip = Trip(net, WALK_KMH, to_facility, surface=surface, mode="mixed")
        dsnap = net.snap(*grid.centres(surface.demand_cell))
        minutes, lab, _, _ = trip.nearest(fsnap, dsnap, fcells=surface.facility_cell, dcells=surface.demand_cell)
        want = oracle(net, want_surface, fsnap, "mixed", to_facility)
        passable = np.isfinite(surface.friction.reshape(-1))
        assert np.array_equal(np.isinf(minutes[passable]), np.isinf(want[passable]))
        fin = passable & np.isfinite(want)
        np.testing.assert_allclose(minutes[fin], want[fin], rtol=1e-9)
        got[entries] = minutes
    village = cell_at(grid, 1050, 1150)  # 100 m north of the expressway, 800 m from road A
    assert got[True][village] + 5.0 < got[False][village]  # onto the expressway vs. a walk to road A
    assert np.all(got[True] <= got[False] + 1e-9)  # entries only ever help
    assert (got[True] < got[False] - 1e-9).sum() > 50


def test_an_expressway_bridge_is_no_bridge_for_walkers(expressway_files):
    """The river is crossed only by the expressway: on foot it is a barrier by default and a bridge with
    ``no_entry = []``; a mixed trip from the east still crosses it, driving onto the expressway from road B."""
    out = {}
    for no_entry in (EXPRESSWAY, ()):
        net, grid, surface, fsnap = expressway_case(expressway_files, no_entry)
        west = (surface.facility_cell[:1],)  # the facility west of the river only
        dsnap = net.snap(*grid.centres(surface.demand_cell))
        for mode in ("walk_only", "mixed"):
            trip = Trip(net, WALK_KMH, True, surface=surface, mode=mode)
            m, *_ = trip.nearest(fsnap[:1], dsnap, fcells=west[0], dcells=surface.demand_cell)
            out[no_entry, mode] = m
        bridge = cell_at(grid, 1550, 1050)
        assert np.isinf(surface.friction.reshape(-1)[bridge]) == (no_entry == EXPRESSWAY)
    east = cell_at(grid, 2050, 1550)
    assert np.isinf(out[EXPRESSWAY, "walk_only"][east]) and np.isfinite(out[(), "walk_only"][east])
    assert np.isfinite(out[EXPRESSWAY, "mixed"][east])  # by road B, the ramp and the expressway
    assert out[(), "mixed"][east] <= out[EXPRESSWAY, "mixed"][east]


def test_no_entry_names_classes_the_network_has(expressway_files, caplog):
    from geoaccess.errors import InputError
    from geoaccess.load.terrain import no_entry_links

    net = expressway_network()
    with pytest.raises(InputError, match=r"no_entry.*'motorways' is not a road class.*motorway, motorway_link, "
                       r"secondary, tertiary.*no_entry = \[\]"):  # fmt: skip
        expressway_case(expressway_files, ("motorways",))
    assert list(np.flatnonzero(no_entry_links(net, ("tertiary",)))) == [2, 3]
    assert no_entry_links(net, ()) is None
    # the defaults on a network without expressways, or without classes: nothing to leave out, no error
    plain = Network(net.n_nodes, net.link_u[:4], net.link_v[:4], net.link_fwd[:4], net.link_bwd[:4], x=net.x,
                    y=net.y, crs=net.crs, link_class=net.link_class[:4])  # fmt: skip
    assert no_entry_links(plain) is None
    bare = Network(net.n_nodes, net.link_u, net.link_v, net.link_fwd, net.link_bwd, x=net.x, y=net.y, crs=net.crs)
    assert no_entry_links(bare) is None
    with pytest.raises(InputError, match="none, the roads carry no class"):
        no_entry_links(bare, ("trunk",))
    # a Chinese line layer's expressways: the default leaves them to the study, with a warning that names them
    cn = Network(net.n_nodes, net.link_u, net.link_v, net.link_fwd, net.link_bwd, x=net.x, y=net.y, crs=net.crs,
                 link_class=np.where(np.isin(net.link_class, EXPRESSWAY), "高速公路", "县道").astype(object))  # fmt: skip
    with caplog.at_level("WARNING", logger="geoaccess.load.terrain"):
        assert no_entry_links(cn) is None
    assert "expressways of class 高速公路" in caplog.text
    assert list(np.flatnonzero(no_entry_links(cn, ("高速公路",)))) == [4, 5, 6]
