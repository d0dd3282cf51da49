"""Service areas and catchments (geoaccess.areas) against the trip, a naive per-facility reference and the cells."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from rasterio.transform import array_bounds, from_origin
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geoaccess import areas
from geoaccess.load.population import Population
from geoaccess.measures import nearest_facility
from geoaccess.network import Network
from geoaccess.outputs import maps
from geoaccess.outputs.rasters import Surface
from geoaccess.trip import Trip

CRS = "EPSG:32649"  # UTM 49N: Taiyuan
X0, Y0 = 640_000.0, 4_190_000.0
TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
TO_M = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
CELL = 0.001  # population cells, degrees (about 90 x 110 m here)


def _net(seed: int, n: int = 12, step: float = 400.0, oneway: float = 0.15, minutes=(0.2, 3.0)) -> Network:
    """A street grid with one-way streets and random minutes, in UTM metres."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n * n).reshape(n, n)
    tail = np.concatenate([ids[:, :-1].ravel(), ids[:, 1:].ravel(), ids[:-1].ravel(), ids[1:].ravel()])
    head = np.concatenate([ids[:, 1:].ravel(), ids[:, :-1].ravel(), ids[1:].ravel(), ids[:-1].ravel()])
    keep = rng.random(tail.size) > oneway
    x, y = X0 + (ids % n).ravel() * step, Y0 + (ids // n).ravel() * step
    w = rng.uniform(*minutes, tail.size)[keep]
    return Network.from_arrays(tail[keep], head[keep], w, x=x, y=y, crs=CRS)


def _study_area(net: Network, inset_m: float = -600.0):
    """The county: the network's box widened by ``-inset_m`` metres, in lon/lat (land beyond the last road)."""
    box = shapely.box(net.x.min() + inset_m, net.y.min() + inset_m, net.x.max() - inset_m, net.y.max() - inset_m)
    return gpd.GeoDataFrame({"county_code": ["140101"]}, geometry=[box], crs=CRS).to_crs(4326)


def _population(counties, rng, share: float = 0.3, where=None) -> Population:
    """Populated cells on a lon/lat raster over the county: a random ``share`` of its cells (or those ``where``)."""
    w, s, e, n = counties.total_bounds
    west, north = np.floor(w / CELL) * CELL - 2 * CELL, np.ceil(n / CELL) * CELL + 2 * CELL
    h, wd = int((north - s) / CELL) + 3, int((e - west) / CELL) + 3
    rows, cols = np.mgrid[0:h, 0:wd]
    lon, lat = west + (cols.ravel() + 0.5) * CELL, north - (rows.ravel() + 0.5) * CELL
    inside = shapely.contains_xy(counties.geometry.iloc[0], lon, lat)
    pick = inside & (rng.random(lon.size) < share if where is None else where(lon, lat))
    k = np.flatnonzero(pick)
    return Population(
        lon[k], lat[k], rng.integers(1, 50, k.size).astype(float), np.zeros(k.size, dtype=np.int32),
        rows.ravel()[k], cols.ravel()[k], from_origin(west, north, CELL, CELL), (h, wd), "EPSG:4326",
    )  # fmt: skip


def _facilities(net: Network, rng, k: int):
    x = rng.uniform(net.x.min() - 300, net.x.max() + 300, k)
    y = rng.uniform(net.y.min() - 300, net.y.max() + 300, k)
    return net.snap(x, y)


def _case(seed: int, to_facility: bool = True, n_fac: int = 6, max_pixels: int = areas.MAX_PIXELS, **kw):
    rng = np.random.default_rng(seed)
    net = _net(seed, **kw)
    counties = _study_area(net)
    pop = _population(counties, rng)
    px, py = TO_M.transform(pop.lon, pop.lat)
    dsnap = net.snap(px, py)
    fsnap = _facilities(net, rng, n_fac)
    serving = rng.random(n_fac) < 0.7
    serving[0] = True
    trip = Trip(net, 4.5, to_facility)
    r = nearest_facility(net, fsnap, dsnap, serving, to_facility=to_facility, walk_kmh=4.5, tier="t")
    threshold = float(np.median(r.minutes[np.isfinite(r.minutes)]))  # a band exactly at some cells' minutes
    a = areas.build(trip, counties, pop, fsnap, [("t", threshold, serving)], {"t": r}, (5.0, 10.0, 20.0), max_pixels)
    return net, trip, counties, pop, fsnap, serving, r, a


# -- the grid ------------------------------------------------------------------------------------------------
def test_grid_is_capped_and_keeps_the_population_cells_edges():
    bounds = (112.0, 37.0, 113.0, 38.0)
    t = from_origin(111.5, 38.5, CELL, CELL)
    g = areas.Grid.for_study(bounds, t, "EPSG:4326", (1500, 1500), max_pixels=250_000)
    assert g.size <= 250_000 * 1.01
    k = g.cell_deg / CELL
    assert k == pytest.approx(round(k)) and round(k) == 2  # 1000 x 1000 cells -> 500 x 500 pixels of 2 x 2
    # pixel edges on cell edges: a cell centre is never on a pixel edge
    col, row = ~g.transform * (111.5 + (np.arange(10) + 0.5) * CELL, 38.0 - (np.arange(10) + 0.5) * CELL)
    assert np.all(np.abs(col - np.round(col)) > 0.2) and np.all(np.abs(row - np.round(row)) > 0.2)
    w, s, e, n = array_bounds(*g.shape, g.transform)
    assert w <= 112.0 and s <= 37.0 and e >= 113.0 and n >= 38.0
    assert areas.MAX_PIXELS == maps.BANDS_MAX_PIXELS  # the map's band grid


def test_band_minutes_follow_the_maps_rule():
    assert areas.band_minutes(15.0, (15, 30, 60, 120)) == [15.0, 30.0]
    assert areas.band_minutes(60.0, (15, 30, 60, 120)) == [15.0, 30.0, 60.0, 120.0]
    assert areas.band_minutes(45.0, (15, 30, 60, 120)) == [15.0, 30.0, 45.0, 60.0]


# -- minutes and nearest facility ------------------------------------------------------------------------------
@pytest.mark.parametrize("to_facility", [True, False])
def test_grid_minutes_equal_the_trip_exactly(to_facility):
    net, trip, counties, pop, fsnap, serving, r, a = _case(3, to_facility)
    ta = a.tiers["t"]
    grid = a.grid
    land = np.flatnonzero(~np.isnan(ta.minutes.ravel()) | (ta.facility.ravel() >= 0))
    lon, lat = grid.centres(land)
    x, y = TO_M.transform(lon, lat)
    psnap = net.snap(x, y)
    pos = np.flatnonzero(serving)
    want, lab, _, _ = trip.nearest(fsnap[pos], psnap)  # the tables' own path for population cells
    got, fac = areas.tier_grid(trip, fsnap, serving, r.node_minutes, r.node_facility, psnap)
    assert np.array_equal(got, want)
    assert np.array_equal(fac, np.where(lab >= 0, pos[np.maximum(lab, 0)], -1))
    # the stored grids: pixels without people hold the centre's minutes, the others the least with their cells
    assert np.array_equal(ta.facility.ravel()[land], fac)
    cell_pixel = grid.pixel_of(pop.lon, pop.lat)
    least = got.copy()
    where = np.searchsorted(land, cell_pixel)
    np.minimum.at(least, where, r.minutes)
    assert np.array_equal(ta.minutes.ravel()[land], np.where(np.isfinite(least), least, np.nan).astype(np.float32))


def _naive_nearest(net: Network, fsnap, psnap, to_facility: bool, walk_kmh: float = 4.5):
    """Door-to-door minutes from each point to each facility, one scipy Dijkstra per facility end, then the least."""
    mpm = walk_kmh * 1000 / 60

    def drive(frac, m):
        return frac * m if frac > 0 else 0.0

    tail, head = (net.arc_head, net.arc_tail) if to_facility else (net.arc_tail, net.arc_head)
    graph = csr_matrix((net.arc_minutes, (tail, head)), shape=(net.n_nodes, net.n_nodes))
    # scipy drops explicit zero weights; the test networks have none
    total = np.full((len(fsnap), len(psnap)), np.inf)
    for j in range(len(fsnap)):
        lk, t, walk = fsnap.link[j], fsnap.t[j], fsnap.offroad_m[j] / mpm
        u, v, fwd, bwd = net.link_u[lk], net.link_v[lk], net.link_fwd[lk], net.link_bwd[lk]
        if to_facility:
            seeds = [(u, walk + drive(t, fwd)), (v, walk + drive(1 - t, bwd))]
        else:
            seeds = [(v, walk + drive(1 - t, fwd)), (u, walk + drive(t, bwd))]
        dist = np.full(net.n_nodes, np.inf)
        for node, start in seeds:
            if np.isfinite(start):
                dist = np.minimum(dist, start + dijkstra(graph, indices=int(node)))
        for i in range(len(psnap)):
            li, ti, wi = psnap.link[i], psnap.t[i], psnap.offroad_m[i] / mpm
            pu, pv, f, b = net.link_u[li], net.link_v[li], net.link_fwd[li], net.link_bwd[li]
            if to_facility:
                m = min(drive(ti, b) + dist[pu], drive(1 - ti, f) + dist[pv]) + wi
            else:
                m = min(drive(ti, f) + dist[pu], drive(1 - ti, b) + dist[pv]) + wi
            if li == lk:  # straight along the shared link
                td, tf = (ti, t) if to_facility else (t, ti)
                m = min(m, wi + ((tf - td) * f if tf >= td else (td - tf) * b) + walk)
            total[j, i] = m
    return total


@pytest.mark.parametrize("seed,to_facility", [(1, True), (2, False), (5, True), (8, False)])
def test_nearest_facility_per_pixel_equals_a_naive_reference(seed, to_facility):
    net, trip, counties, pop, fsnap, serving, r, a = _case(seed, to_facility, n=8, n_fac=5)
    ta = a.tiers["t"]
    land = np.flatnonzero(ta.facility.ravel() >= 0)
    lon, lat = a.grid.centres(land)
    x, y = TO_M.transform(lon, lat)
    psnap = net.snap(x, y)
    pos = np.flatnonzero(serving)
    total = _naive_nearest(net, fsnap[pos], psnap, to_facility)
    best = total.min(axis=0)
    got, fac = areas.tier_grid(trip, fsnap, serving, r.node_minutes, r.node_facility, psnap)
    np.testing.assert_allclose(got, best, rtol=1e-12, atol=1e-9)
    # labels wherever the nearest is clear (the sums differ in their last bits: ties are either's)
    srt = np.sort(total, axis=0)
    clear = (srt[1] - srt[0] > 1e-9) if len(pos) > 1 else np.ones(land.size, bool)
    assert clear.mean() > 0.95
    assert np.array_equal(fac[clear], pos[total.argmin(axis=0)][clear])
    assert np.array_equal(ta.facility.ravel()[land], fac)


# -- service areas -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_pixels", [areas.MAX_PIXELS, 700])  # full resolution, and 3 x 3 cells a pixel
def test_service_areas_hold_every_cell_within_their_minutes(max_pixels):
    net, trip, counties, pop, fsnap, serving, r, a = _case(4, True, max_pixels=max_pixels)
    ta = a.tiers["t"]
    assert [m for m, _ in ta.bands] == areas.band_minutes(ta.threshold_min, (5.0, 10.0, 20.0))
    land = np.flatnonzero(ta.facility.ravel() >= 0)
    lon, lat = a.grid.centres(land)
    x, y = TO_M.transform(lon, lat)
    got, _ = areas.tier_grid(trip, fsnap, serving, r.node_minutes, r.node_facility, net.snap(x, y))
    for (m, geom), people in zip(ta.bands, ta.band_people, strict=True):
        assert geom.is_valid
        within = r.minutes <= m  # inclusive: the threshold band is the median cell's own minutes
        assert shapely.covers(geom, shapely.points(pop.lon[within], pop.lat[within])).all()
        assert shapely.covers(geom, shapely.points(lon[got <= m], lat[got <= m])).all()
        assert people == pytest.approx(pop.people[within].sum())
        # and no more than the pixels within it (theirs or a cell's minutes), widened by about the tolerance
        # (which also closes holes narrower than it)
        tol = max(2 * areas.SIMPLIFY_DEG, 2 * a.grid.cell_deg)
        half = a.grid.cell_deg / 2
        near = ta.minutes.ravel()[land] <= m
        exact = shapely.union_all(shapely.box(lon[near] - half, lat[near] - half, lon[near] + half, lat[near] + half))
        assert exact.buffer(1.5 * tol).covers(geom)
        assert exact.area < geom.area < exact.buffer(1.5 * tol).area
    assert sum(shapely.covers(ta.bands[-1][1], shapely.points(pop.lon, pop.lat))) > 0


def test_service_areas_have_no_holes_over_empty_land():
    """People only along the west and east edges: the band traced from their cells (``maps.catchment_bands``) is
    two strips with empty land between; the service area over all land is one polygon without holes, as every
    road and the walk to it are within its minutes."""
    net = _net(0, n=14, minutes=(0.3, 0.5), oneway=0.0)
    counties = _study_area(net, inset_m=-300.0)  # nobody is more than 300 m from a road
    rng = np.random.default_rng(0)
    w, _, e, _ = counties.total_bounds
    pop = _population(counties, rng, where=lambda lon, lat: (lon < w + 0.004) | (lon > e - 0.004))
    px, py = TO_M.transform(pop.lon, pop.lat)
    fsnap = net.snap(np.array([X0 + 2600.0]), np.array([Y0 + 2600.0]))
    serving = np.array([True])
    r = nearest_facility(net, fsnap, net.snap(px, py), serving, walk_kmh=4.5)
    a = areas.build(Trip(net, 4.5, True), counties, pop, fsnap, [("t", 30.0, serving)], {"t": r}, (30.0,))
    (m, geom), = a.tiers["t"].bands  # fmt: skip
    assert np.nanmax(a.tiers["t"].minutes) <= 30.0  # every pixel is within
    assert geom.geom_type in ("Polygon", "MultiPolygon")
    parts = list(getattr(geom, "geoms", [geom]))
    assert len(parts) == 1 and len(parts[0].interiors) == 0
    assert geom.covers(counties.geometry.iloc[0].buffer(-0.001))
    surface = Surface.from_cells(pop.shape, pop.row, pop.col, r.minutes, pop.transform, pop.crs)
    (_, cells_only), = maps.catchment_bands(surface, [30.0])  # fmt: skip
    assert len(getattr(cells_only, "geoms", [cells_only])) == 2


# -- catchments ----------------------------------------------------------------------------------------------
def test_catchments_tile_the_land_by_nearest_facility():
    net, trip, counties, pop, fsnap, serving, r, a = _case(6, True, n_fac=8)
    ta = a.tiers["t"]
    labels = ta.facility.ravel()
    assert set(ta.catchment_facility) == set(labels[labels >= 0])
    assert set(ta.catchment_facility) <= set(np.flatnonzero(serving))
    geoms = ta.catchment_geometry
    assert all(g.is_valid for g in geoms)
    # a coverage: no overlaps between neighbours, and together the land pixels
    union = shapely.union_all(geoms)
    assert sum(g.area for g in geoms) == pytest.approx(union.area, rel=1e-6)
    land_km2 = (np.bincount(np.flatnonzero(labels >= 0) // a.grid.shape[1], minlength=a.grid.shape[0])).astype(float)
    assert float(ta.catchment_km2.sum()) == pytest.approx(float((land_km2 * a.grid.row_km2()).sum()))
    # each pixel centre in its own facility's catchment (simplification moves outlines by under two pixels)
    land = np.flatnonzero(labels >= 0)
    lon, lat = a.grid.centres(land)
    own = dict(zip(ta.catchment_facility.tolist(), geoms, strict=True))
    inside = np.array([own[int(f)].covers(shapely.Point(x, y)) for f, x, y in zip(labels[land], lon, lat, strict=True)])
    assert inside.mean() > 0.9
    # people: those the tables count as nearest to it
    has = r.facility >= 0
    want = np.bincount(r.facility[has], weights=pop.people[has], minlength=len(fsnap))
    assert np.allclose(ta.catchment_people, want[ta.catchment_facility])


def test_tables_of_the_areas():
    import pandas as pd

    net, trip, counties, pop, fsnap, serving, r, a = _case(7, True)
    sa = a.service_areas()
    assert list(sa.columns) == ["tier", "minutes", "threshold_min", "people", "area_km2", "geometry"]
    assert sa["minutes"].is_monotonic_increasing and sa["area_km2"].is_monotonic_increasing
    fac = pd.DataFrame({"id": [f"F{i}" for i in range(len(fsnap))], "name": "x", "tier": "primary"})
    c = a.catchments(fac)
    assert list(c["facility_id"]) == [f"F{i}" for i in a.tiers["t"].catchment_facility]
    assert c["area_km2"].gt(0).all()


def test_a_tier_without_facilities_has_no_areas():
    rng = np.random.default_rng(9)
    net = _net(9, n=6)
    counties = _study_area(net)
    pop = _population(counties, rng)
    px, py = TO_M.transform(pop.lon, pop.lat)
    fsnap = _facilities(net, rng, 3)
    serving = np.zeros(3, dtype=bool)
    r = nearest_facility(net, fsnap, net.snap(px, py), serving, walk_kmh=4.5)
    a = areas.build(Trip(net, 4.5, True), counties, pop, fsnap, [("t", 15.0, serving)], {"t": r})
    assert a.tiers["t"].bands == [] and a.tiers["t"].catchment_facility.size == 0
    assert np.isnan(a.tiers["t"].minutes).all() and (a.tiers["t"].facility == -1).all()
    assert a.service_areas().empty
    assert a.catchments(gpd.GeoDataFrame({"id": ["a", "b", "c"], "name": "x", "tier": "t"})).empty


def test_grid_of_a_projected_population_raster_covers_the_counties():
    bounds = (112.0, 37.5, 112.6, 38.0)
    t = from_origin(X0 - 5000.0, Y0 + 60_000.0, 100.0, 100.0)  # UTM metres, 100 m cells
    g = areas.Grid.for_study(bounds, t, CRS, (800, 800), max_pixels=10_000)
    assert g.size <= 10_000 * 1.05
    w, s, e, n = array_bounds(*g.shape, g.transform)
    assert w <= 112.0 and s <= 37.5 and e >= 112.6 and n >= 38.0
    assert g.cell_deg > 0.001  # coarsened from about 0.0011° a cell


# -- off-road tiers ------------------------------------------------------------------------------------------
def _terrain_case(seed: int, mode: str, to_facility: bool = True, near_m: float = 200.0):
    """A street grid on a 100 m friction surface (random walking speeds, barriers, roads walkable); 3 facilities
    and people only within ``near_m`` of them, so a search that waits for the people alone stops early."""
    from geoaccess.load.terrain import Grid as CellGrid
    from geoaccess.load.terrain import road_samples
    from geoaccess.terrain import Surface as FrictionSurface

    rng = np.random.default_rng(seed)
    net = _net(seed, n=8, minutes=(0.3, 1.5))
    counties = _study_area(net)
    fx = rng.uniform(net.x.min(), net.x.max(), 3)
    fy = rng.uniform(net.y.min(), net.y.max(), 3)

    def near(lon, lat):
        x, y = TO_M.transform(lon, lat)
        return np.min(np.hypot(x[:, None] - fx, y[:, None] - fy), axis=1) < near_m

    pop = _population(counties, rng, share=1.0, where=near)
    grid = CellGrid.covering(counties.to_crs(CRS).total_bounds, CRS, 100.0)
    friction = (60.0 / (1000.0 * rng.uniform(1.5, 5.0, grid.shape))).astype(np.float32)
    friction[rng.random(grid.shape) < 0.08] = np.inf
    friction[5:9, 5:30] = np.inf  # a lake, roads across it are bridges
    road_cell, road_snap = road_samples(net, grid)
    friction.reshape(-1)[road_cell] = np.float32(60.0 / 4500.0)
    px, py = TO_M.transform(pop.lon, pop.lat)
    surface = FrictionSurface(friction, None, grid.transform, grid.crs, 100.0, road_cell, road_snap,
                              grid.cells(px, py), grid.cells(fx, fy))  # fmt: skip
    lay = areas.Layout.for_study(counties, pop)
    trip = Trip(net, 4.5, to_facility, surface=surface, mode=mode)
    return net, counties, pop, net.snap(px, py), net.snap(fx, fy), surface, lay, trip


def _whole_grid(trip, fsnap, surface, cells):
    """The oracle: a search that stops at nothing (every cell a target), read at ``cells`` (-1: inf, -1)."""
    every = np.arange(surface.friction.size)
    minutes, lab, _, _ = trip.nearest(fsnap, fsnap[np.zeros(every.size, dtype=np.int64)], fcells=surface.facility_cell,
                                      dcells=every)  # fmt: skip
    ok = cells >= 0
    return np.where(ok, minutes[np.maximum(cells, 0)], np.inf), np.where(ok, lab[np.maximum(cells, 0)], -1)


@pytest.mark.parametrize("mode,to_facility", [("mixed", True), ("walk_only", True), ("mixed", False)])
def test_off_road_areas_equal_a_full_terrain_search(mode, to_facility):
    net, counties, pop, dsnap, fsnap, sf, lay, trip = _terrain_case(3, mode, to_facility)
    cells = lay.surface_cells(sf)
    assert (cells >= 0).all()
    want, want_fac = _whole_grid(trip, fsnap, sf, cells)
    threshold = float(np.quantile(want[np.isfinite(want)], 0.7))
    bands = areas.band_minutes(threshold, (threshold / 2,))
    serving = np.ones(3, dtype=bool)
    kw = dict(to_facility=to_facility, walk_kmh=4.5, tier="t", mode=mode, surface=sf, area_cells=cells)
    r = nearest_facility(net, fsnap, dsnap, serving, sweep_to=max(bands), **kw)
    # exact within the sweep, and wherever a value is kept (beyond it: inf, no facility)
    within = want <= max(bands)
    kept = np.isfinite(r.area_minutes)
    assert kept[within].all() and (r.area_facility[kept] >= 0).all() and (r.area_facility[~kept] == -1).all()
    np.testing.assert_array_equal(r.area_minutes[kept], want[kept])
    np.testing.assert_array_equal(r.area_facility[kept], want_fac[kept])
    assert (~kept & np.isfinite(want)).sum() > 10  # the search stopped short of the whole grid
    # the sweep is what makes them exact: waiting for the people alone leaves land within the bands out
    r0 = nearest_facility(net, fsnap, dsnap, serving, **kw)
    assert (~np.isfinite(r0.area_minutes[within])).sum() > 10
    np.testing.assert_array_equal(r0.minutes, r.minutes)  # the tables' minutes are the same
    np.testing.assert_array_equal(r0.facility, r.facility)

    a = areas.build(Trip(net, 4.5, to_facility), counties, pop, fsnap, [("t", threshold, serving, False)],
                    {"t": r}, (threshold / 2,), layout=lay)  # fmt: skip
    ta = a.tiers["t"]
    lon, lat = a.grid.centres(lay.pixel)
    for (m, geom), people in zip(ta.bands, ta.band_people, strict=True):
        assert geom.is_valid
        inside = r.minutes <= m  # every person the tables count within it
        assert shapely.covers(geom, shapely.points(pop.lon[inside], pop.lat[inside])).all()
        assert people == pytest.approx(pop.people[inside].sum())
        # and all land within it, people or not: no holes over empty land
        assert shapely.covers(geom, shapely.points(lon[want <= m], lat[want <= m])).all()
    # catchments: the full search's nearest facility wherever it is final; beyond that only populated pixels
    fac = ta.facility.ravel()[lay.pixel]
    np.testing.assert_array_equal(fac[kept], want_fac[kept])
    populated = np.isin(lay.pixel, lay.cell_pixel)
    assert (fac[~kept & ~populated] == -1).all()
    assert set(ta.catchment_facility) == set(fac[fac >= 0])


def test_off_road_bands_have_no_holes_where_nobody_lives():
    """People only next to the facilities: the bands traced from their cells alone (as before) are small patches;
    from the search they cover every land pixel within their minutes, many times the area."""
    net, counties, pop, dsnap, fsnap, sf, lay, trip = _terrain_case(5, "mixed", near_m=150.0)
    serving = np.ones(3, dtype=bool)
    kw = dict(walk_kmh=4.5, tier="t", mode="mixed", surface=sf)
    r = nearest_facility(net, fsnap, dsnap, serving, area_cells=lay.surface_cells(sf), sweep_to=30.0, **kw)
    cells_only = nearest_facility(net, fsnap, dsnap, serving, **kw)
    spec = [("t", 30.0, serving, False)]
    a = areas.build(Trip(net, 4.5), counties, pop, fsnap, spec, {"t": r}, (30.0,), layout=lay)
    b = areas.build(Trip(net, 4.5), counties, pop, fsnap, spec, {"t": cells_only}, (30.0,), layout=lay)
    (_, geom), = a.tiers["t"].bands  # fmt: skip
    (_, patches), = b.tiers["t"].bands  # fmt: skip
    assert geom.area > 3 * patches.area and geom.covers(patches)
    want, _ = _whole_grid(trip, fsnap, sf, lay.surface_cells(sf))
    lon, lat = a.grid.centres(lay.pixel)
    assert shapely.covers(geom, shapely.points(lon[want <= 30.0], lat[want <= 30.0])).all()
    assert a.tiers["t"].catchment_km2.sum() > 3 * b.tiers["t"].catchment_km2.sum()
