"""Network service areas and catchments: minutes over all reachable land, not only where people live.

The county table measures minutes at populated cells. A service area ("within 120 minutes") traced from those
cells alone has holes wherever nobody lives, although the road runs through. So the areas are computed on a grid
of the study area instead: a lon/lat grid aligned to the population raster and coarsened k x k to at most
:data:`MAX_PIXELS` pixels (the map's band grid). The centre of every pixel inside a county is snapped onto the road
network and given the door-to-door minutes of a trip from there, with the same :class:`~geoaccess.trip.Trip` the
tables use (the walk to its link, the part of the link, the tier's nearest search at the nodes, the same-link
shortcut), so a pixel centre gets exactly the minutes a population cell at that place would. Each pixel also takes
the least minutes of the populated cells in it, so a band holds every person the tables count within it.

From the grid, per tier:

- **service areas**: per band minutes, one dissolved polygon of the pixels within them (ArcGIS' "network service
  areas"), simplified, then widened by the simplification tolerance so it still contains every one of them;
- **catchments**: per facility serving the tier, the pixels whose nearest facility it is (a network Voronoi
  diagram; AccessMod's catchments), simplified as one coverage so neighbours keep their shared edges.

A tier travelling off-road (``[travel]`` mixed or walk_only) gets its pixel centres' minutes and nearest facility
from its own terrain search instead (:meth:`Trip.terrain_minutes <geoaccess.trip.Trip.terrain_minutes>` with a
sample), read at the land pixels' cells right after the search, so only those values are kept, never the search's
grids (a province's are 100 M cells). That search stops once every populated cell is final; for the areas it also
sweeps on to the tier's largest band minutes (and only then may end goal-directed towards its last populated
cells), so a pixel centre's minutes and nearest facility are exact within every band, with or without people.
Beyond the largest band a centre is left out (the search may not have settled it): it is in no band, and in no
catchment unless people live in its pixel, which then takes the nearest facility of its quickest populated cell.
So an off-road catchment is the land within the tier's largest band whose nearest facility it is, plus the pixels
of the people beyond the band for whom it is the nearest: every person counted, no guesses over empty land past
the bands. (Road tiers' catchments reach every pixel the network reaches: a road search has no such horizon.)

All polygons are in WGS84. Memory grows with the capped grid (a few arrays over its land pixels) and the road nodes
(the tier searches are the study's own, already done), never with facilities x nodes: the nearest search labels
each node with one facility.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyproj
import rasterio.features
import shapely
from affine import Affine
from numba import njit
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform
from scipy import ndimage
from tqdm.auto import tqdm

from geoaccess.network import Snap
from geoaccess.trip import Trip

log = logging.getLogger(__name__)

__all__ = ["Areas", "Grid", "Layout", "TierAreas", "band_minutes", "build", "grid_points", "tier_grid"]

#: pixels of the grid the areas are traced on, at most (the map's band grid: ``maps.BANDS_MAX_PIXELS``); the demo
#: uses 1.27 M (its own cells), Shanxi 1.63 M (5 x 5 cells a pixel)
MAX_PIXELS = 2_500_000
#: outlines are simplified to this many degrees (about 150 m) or two pixels, whichever is more
SIMPLIFY_DEG = 0.0015
KM_PER_DEG = 111.32  # along a meridian; along a parallel times cos(latitude)
# rasterio's polygon tracing briefly silences a warning of its own (``warnings.catch_warnings``, which is not
# thread-safe): tiers traced at once on threads would restore each other's filters and let the warning out
_TRACE_LOCK = threading.Lock()
# margin added to a band's widening so rounding to 1e-5 degrees (the map's precision) cannot move it inside a pixel
_MARGIN_DEG = 2e-5


def band_minutes(threshold: float, bands_min: Sequence[float]) -> list[float]:
    """A tier's band minutes: the study's band minutes between a quarter and twice the threshold, and it
    (the rule of the map's bands, ``maps.tier_bands``)."""
    return sorted({float(m) for m in bands_min if threshold / 4 <= m <= 2 * threshold} | {float(threshold)})


# -- the grid ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """A north-up lon/lat grid (``transform`` maps column, row to lon, lat) of ``shape`` pixels."""

    transform: Affine
    shape: tuple[int, int]

    @classmethod
    def for_study(cls, bounds, pop_transform, pop_crs, pop_shape, max_pixels: int = MAX_PIXELS) -> Grid:
        """The grid over ``bounds`` (west, south, east, north in WGS84) with the population raster's resolution,
        coarsened k x k to at most about ``max_pixels`` pixels.

        A raster in lon/lat keeps its own pixel edges (each grid pixel is k x k whole cells); a projected one
        takes the resolution its lon/lat version would have.
        """
        t = Affine(*tuple(pop_transform)[:6])
        crs = pyproj.CRS.from_user_input(pop_crs)
        if crs.is_geographic and t.b == 0 and t.d == 0:
            rx, ry, ox, oy = abs(t.a), abs(t.e), t.c, t.f
        else:
            h, w = int(pop_shape[0]), int(pop_shape[1])
            left, bottom, right, top = array_bounds(h, w, t)
            gt, _, _ = calculate_default_transform(crs, "EPSG:4326", w, h, left, bottom, right, top)
            rx, ry, ox, oy = abs(gt.a), abs(gt.e), bounds[0], bounds[3]
        west, south, east, north = (float(v) for v in bounds)
        c0, c1 = math.floor((west - ox) / rx), math.ceil((east - ox) / rx)
        r0, r1 = math.floor((oy - north) / ry), math.ceil((oy - south) / ry)
        n_cols, n_rows = max(c1 - c0, 1), max(r1 - r0, 1)
        k = max(1, math.ceil(math.sqrt(n_cols * n_rows / max_pixels)))
        transform = Affine(rx * k, 0.0, ox + c0 * rx, 0.0, -ry * k, oy - r0 * ry)
        return cls(transform, (-(-n_rows // k), -(-n_cols // k)))

    @property
    def size(self) -> int:
        return int(self.shape[0] * self.shape[1])

    @property
    def cell_deg(self) -> float:
        return abs(self.transform.a)

    def pixel_of(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Flat index of the pixel holding each point (-1 outside the grid)."""
        col, row = ~self.transform * (np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        col, row = np.floor(col), np.floor(row)
        h, w = self.shape
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        return np.where(ok, np.where(ok, row, 0).astype(np.int64) * w + np.where(ok, col, 0).astype(np.int64), -1)

    def centres(self, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lon, lat of the centres of pixels given by flat index."""
        row, col = np.divmod(np.asarray(pixel, dtype=np.int64), self.shape[1])
        return self.transform * (col + 0.5, row + 0.5)

    def row_km2(self) -> np.ndarray:
        """Area of one pixel of each row, km²."""
        t = self.transform
        lat = t.f + t.e * (np.arange(self.shape[0]) + 0.5)
        return abs(t.a * t.e) * KM_PER_DEG**2 * np.cos(np.radians(lat))

    def land(self, geometries) -> np.ndarray:
        """Boolean grid: pixels touched by any of ``geometries`` (WGS84 polygons, e.g. the counties)."""
        geoms = [g for g in geometries if g is not None and not g.is_empty]
        if not geoms:
            return np.zeros(self.shape, dtype=bool)
        return rasterio.features.rasterize(
            ((g, 1) for g in geoms), out_shape=self.shape, transform=self.transform, all_touched=True, dtype=np.uint8
        ).astype(bool)


@dataclass
class GridPoints:
    """The grid's land pixels (ascending flat index) with their centres snapped onto the network."""

    grid: Grid
    pixel: np.ndarray  # flat pixel index per point
    snap: Snap


def grid_points(grid: Grid, land: np.ndarray, net) -> GridPoints:
    """Snap the centre of every ``land`` pixel onto ``net`` (whose ``crs`` must be set)."""
    return _snap_pixels(grid, np.flatnonzero(land.ravel()), net)


def _snap_pixels(grid: Grid, pixel: np.ndarray, net) -> GridPoints:
    lon, lat = grid.centres(pixel)
    to_net = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    x, y = to_net.transform(lon, lat)
    return GridPoints(grid, pixel, net.snap(np.asarray(x), np.asarray(y)))


@dataclass
class Layout:
    """The grid the areas are traced on, its land pixels and the pixel of every populated cell.

    Built once per study, before the tier searches (:meth:`for_study`): an off-road tier reads its terrain search at
    the land pixels' centres (:meth:`surface_cells`) right after the search, so only those minutes are kept, never
    the search's grids. Road tiers snap the same centres onto the network (:meth:`points`, on first use).
    """

    grid: Grid
    pixel: np.ndarray  # flat index of every land pixel, ascending
    cell_pixel: np.ndarray  # per populated cell: its pixel (-1 off the grid)
    _points: GridPoints | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_study(cls, counties, population, max_pixels: int = MAX_PIXELS) -> Layout:
        """A :class:`Grid` over the ``counties`` (any CRS) at the ``population`` raster's resolution, capped at
        ``max_pixels``; its land is every pixel a county touches and every populated cell's pixel (on a county's
        edge or not)."""
        geo = counties.to_crs("EPSG:4326")
        grid = Grid.for_study(geo.total_bounds, population.transform, population.crs, population.shape, max_pixels)
        cell_pixel = grid.pixel_of(population.lon, population.lat)
        land = grid.land(geo.geometry)
        land.ravel()[cell_pixel[cell_pixel >= 0]] = True
        return cls(grid, np.flatnonzero(land.ravel()), cell_pixel)

    def points(self, net) -> GridPoints:
        """The land pixels' centres snapped onto ``net`` (once)."""
        with self._lock:
            if self._points is None:
                self._points = _snap_pixels(self.grid, self.pixel, net)
        return self._points

    def surface_cells(self, surface) -> np.ndarray:
        """Flat cell of a :class:`geoaccess.terrain.Surface` under each land pixel's centre (-1: off its grid)."""
        lon, lat = self.grid.centres(self.pixel)
        x, y = pyproj.Transformer.from_crs("EPSG:4326", surface.crs, always_xy=True).transform(lon, lat)
        col, row = ~Affine(*tuple(surface.transform)[:6]) * (np.asarray(x), np.asarray(y))
        col, row = np.floor(col), np.floor(row)
        h, w = surface.shape
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        return np.where(ok, np.where(ok, row, 0) * w + np.where(ok, col, 0), -1).astype(np.int64)


def tier_grid(
    trip: Trip, facility_snap: Snap, serving: np.ndarray, node_minutes: np.ndarray, node_facility: np.ndarray, snap
):
    """Door-to-door minutes and nearest facility (row position, -1 = none) of snapped points, from a tier's
    nearest search (``node_minutes``, ``node_facility`` of :class:`~geoaccess.measures.TierResult`).

    The legs are :meth:`Trip.point_minutes` and :meth:`Trip.same_link`, as :meth:`Trip.nearest` adds them for
    population cells: a point gets the minutes a cell at its place would.
    """
    pos = np.flatnonzero(serving)
    if pos.size == 0:
        return np.full(len(snap), np.inf), np.full(len(snap), -1, dtype=np.int64)
    # the node labels as positions among the serving facilities, which same_link numbers its shortcuts by
    node_lab = np.where(node_facility >= 0, np.searchsorted(pos, np.maximum(node_facility, 0)), -1)
    minutes, lab = trip.point_minutes(node_minutes, snap, node_label=node_lab)
    minutes, lab = trip.same_link(facility_snap[pos], snap, minutes, lab)
    return minutes, np.where(lab >= 0, pos[np.maximum(lab, 0)], -1).astype(np.int64)


# -- the areas -----------------------------------------------------------------------------------------------
@dataclass
class TierAreas:
    """One tier's grid minutes, service areas and catchments."""

    tier: str
    threshold_min: float
    minutes: np.ndarray  # float32 grid: least minutes of the pixel centre and its populated cells; NaN = none
    facility: np.ndarray  # int32 grid: nearest facility of the pixel centre (row position), -1 = none / no land
    bands: list[tuple[float, object]] = field(default_factory=list)  # (minutes, polygon): what the map draws
    band_people: list[float] = field(default_factory=list)  # people within each band's minutes (the tables')
    band_km2: list[float] = field(default_factory=list)  # area of its pixels
    catchment_facility: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    catchment_geometry: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    catchment_people: np.ndarray = field(default_factory=lambda: np.zeros(0))  # people it is nearest for
    catchment_km2: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class Areas:
    """Service areas and catchments of every tier on one grid (see the module's notes)."""

    grid: Grid
    land_pixels: int
    tiers: dict[str, TierAreas]
    seconds: dict[str, float] = field(default_factory=dict)

    def service_areas(self) -> pd.DataFrame:
        """One row per tier and band: ``tier, minutes, threshold_min, people, area_km2, geometry`` (WGS84)."""
        rows = [
            {
                "tier": a.tier,
                "minutes": m,
                "threshold_min": a.threshold_min,
                "people": p,
                "area_km2": km2,
                "geometry": g,
            }
            for a in self.tiers.values()
            for (m, g), p, km2 in zip(a.bands, a.band_people, a.band_km2, strict=True)
        ]
        cols = ["tier", "minutes", "threshold_min", "people", "area_km2", "geometry"]
        return pd.DataFrame(rows, columns=cols)

    def catchments(self, facilities: pd.DataFrame) -> pd.DataFrame:
        """One row per tier and serving facility with land nearest to it: ``tier, facility_id, facility_name,
        facility_tier, people, area_km2, geometry`` (WGS84); ``facilities`` is the study's facility table."""
        parts = []
        for a in self.tiers.values():
            f = facilities.iloc[a.catchment_facility]
            parts.append(
                pd.DataFrame(
                    {
                        "tier": a.tier,
                        "facility_id": f["id"].to_numpy(),
                        "facility_name": f["name"].to_numpy(),
                        "facility_tier": f["tier"].astype(str).to_numpy(),
                        "people": a.catchment_people,
                        "area_km2": a.catchment_km2,
                        "geometry": a.catchment_geometry,
                    }
                )
            )
        cols = ["tier", "facility_id", "facility_name", "facility_tier", "people", "area_km2", "geometry"]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def build(
    trip: Trip,
    counties,
    population,
    facility_snap: Snap,
    tiers: Sequence[tuple[str, float, np.ndarray]],
    results: dict,
    bands_min: Sequence[float] = (15.0, 30.0, 60.0, 120.0),
    max_pixels: int = MAX_PIXELS,
    layout: Layout | None = None,
) -> Areas:
    """Service areas and catchments of each tier.

    Parameters
    ----------
    trip
        The study's trip (network, walking speed, direction).
    counties
        The study's county polygons (any CRS): the land the grid covers.
    population
        The populated cells (:class:`~geoaccess.load.population.Population`): the grid's resolution and, per
        cell, the minutes each pixel also takes.
    facility_snap
        Where every facility meets the network.
    tiers
        Per tier ``(name, threshold_min, serving)`` or ``(name, threshold_min, serving, road)``, ``serving`` a
        boolean mask over the facilities, ``road`` False for a tier travelling off-road.
    results
        The tiers' :class:`~geoaccess.measures.TierResult` by name (their node and cell minutes are reused; an
        off-road tier's ``area_minutes`` and ``area_facility``, read at ``layout``'s land pixels).
    bands_min
        The study's band minutes (see :func:`band_minutes`).
    max_pixels
        The grid's size, at most about.
    layout
        The grid and its land (:meth:`Layout.for_study`), when built before the tier searches; else built here.
    """
    t0 = time.perf_counter()
    lay = layout if layout is not None else Layout.for_study(counties, population, max_pixels)
    grid = lay.grid
    # only road tiers need the pixel centres on the network
    points = lay.points(trip.net) if any(len(spec) < 4 or spec[3] for spec in tiers) else None
    seconds = {"grid": time.perf_counter() - t0}
    log.info(
        "areas: %d x %d grid of %.4f° (%s land pixels)%s in %.1f s",
        grid.shape[0],
        grid.shape[1],
        grid.cell_deg,
        f"{lay.pixel.size:,}",
        "" if points is None else " snapped",
        seconds["grid"],
    )
    ctx = _TierContext(trip, facility_snap, grid, lay.pixel, points, lay.cell_pixel,
                       np.asarray(population.people, dtype=np.float64), grid.row_km2(),
                       max(2 * SIMPLIFY_DEG, 2 * grid.cell_deg), tuple(bands_min))  # fmt: skip

    def one(spec):
        t1 = time.perf_counter()
        a = _tier_areas(ctx, *spec[:3], results[spec[0]], *spec[3:])
        seconds[a.tier] = time.perf_counter() - t1
        log.info("areas %s: %d bands, %d catchments in %.1f s", a.tier, len(a.bands), a.catchment_facility.size,
                 seconds[a.tier])  # fmt: skip
        return a

    # one tier a thread: tracing and simplifying (GEOS) release the GIL
    with ThreadPoolExecutor(max_workers=max(1, min(len(tiers), os.cpu_count() or 1))) as ex:
        done = list(tqdm(ex.map(one, tiers), total=len(tiers), desc="areas", unit="tier", disable=None))
    return Areas(grid, int(lay.pixel.size), {a.tier: a for a in done}, seconds)


@dataclass(frozen=True)
class _TierContext:
    """What every tier's areas share: the trip, the grid and its points, the populated cells."""

    trip: Trip
    facility_snap: Snap
    grid: Grid
    pixel: np.ndarray  # the land pixels (flat, ascending)
    points: GridPoints | None  # their centres on the network (None: no road tier)
    cell_pixel: np.ndarray  # per populated cell: its pixel (-1 off the grid)
    people: np.ndarray  # per populated cell
    row_km2: np.ndarray  # pixel area per grid row
    tol: float  # simplification tolerance, degrees
    bands_min: tuple[float, ...]


def _tier_areas(ctx: _TierContext, name: str, threshold: float, serving: np.ndarray, r, road: bool = True) -> TierAreas:
    """One tier's grids, service areas and catchments from its nearest search ``r`` (a ``TierResult``).

    A tier that travels off-road (``road=False``: ``[travel]`` mixed or walk_only) takes its pixel centres' minutes
    and facility from its own terrain search (``r.area_minutes``, ``r.area_facility``; see :func:`build`), never
    from road trips, so the map never shows minutes the tables do not use.
    """
    grid = ctx.grid
    cell_minutes = np.asarray(r.minutes, dtype=np.float64)
    least = np.full(grid.size, np.inf)
    fac_grid = np.full(grid.size, -1, dtype=np.int32)
    if road:
        minutes, facility = tier_grid(
            ctx.trip, ctx.facility_snap, serving, r.node_minutes, r.node_facility, ctx.points.snap
        )
        _least_into(ctx.pixel, minutes, least)
        fac_grid[ctx.pixel] = facility
    else:
        _offroad_pixels(ctx, name, r, least, fac_grid)
    _least_into(ctx.cell_pixel, cell_minutes, least)
    least = least.reshape(grid.shape)
    fac_grid = fac_grid.reshape(grid.shape)
    a = TierAreas(name, float(threshold), np.where(np.isfinite(least), least, np.nan).astype(np.float32), fac_grid)
    for b in band_minutes(threshold, ctx.bands_min):
        mask = least <= b
        if not mask.any():
            continue
        a.bands.append((b, band_polygon(mask, grid.transform, ctx.tol)))
        a.band_people.append(float(ctx.people[cell_minutes <= b].sum()))
        a.band_km2.append(float((mask.sum(axis=1) * ctx.row_km2).sum()))
    n_fac = len(ctx.facility_snap)
    has = r.facility >= 0
    nearest_people = np.bincount(r.facility[has], weights=ctx.people[has], minlength=n_fac)
    fac, geoms = catchment_polygons(fac_grid, grid.transform, ctx.tol)
    ok = fac_grid >= 0
    km2 = np.bincount(fac_grid[ok], weights=np.broadcast_to(ctx.row_km2[:, None], grid.shape)[ok], minlength=n_fac)
    a.catchment_facility, a.catchment_geometry = fac, geoms
    a.catchment_people, a.catchment_km2 = nearest_people[fac], km2[fac]
    return a


def _offroad_pixels(ctx: _TierContext, name: str, r, least: np.ndarray, fac_grid: np.ndarray) -> None:
    """An off-road tier's pixel centres (``r.area_minutes``, ``r.area_facility``) into ``least`` and ``fac_grid``;
    a pixel whose centre is beyond the largest band (inf, -1) takes the facility of its quickest populated cell.
    Without the centres (a result computed without areas) only the populated cells are drawn, patchily."""
    if r.area_minutes is None:
        log.warning("areas %s: no minutes at the pixels (the tier was searched without them): traced from "
                    "populated cells only", name)  # fmt: skip
    else:
        if len(r.area_minutes) != ctx.pixel.size:
            raise ValueError(f"tier {name}: minutes at {len(r.area_minutes)} pixels, the grid has {ctx.pixel.size}")
        _least_into(ctx.pixel, np.asarray(r.area_minutes, dtype=np.float64), least)
        fac_grid[ctx.pixel] = r.area_facility
    cp = ctx.cell_pixel
    on = np.flatnonzero((cp >= 0) & (r.facility >= 0))
    on = on[fac_grid[cp[on]] < 0]
    on = on[np.lexsort((np.asarray(r.minutes)[on], cp[on]))]
    on = on[np.r_[True, cp[on][1:] != cp[on][:-1]]] if on.size else on  # per pixel, its quickest cell
    fac_grid[cp[on]] = r.facility[on]


# -- polygons --------------------------------------------------------------------------------------------------
def _window(mask: np.ndarray):
    """The smallest row and column slices holding every True of ``mask``."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def band_polygon(mask: np.ndarray, transform: Affine, tol: float):
    """The pixels of ``mask`` as one dissolved polygon (WGS84), simplified and still containing every pixel.

    The mask is first widened by ``d`` pixels (a square: every point of a pixel is then at least ``d`` pixels from
    the widened outline), which closes gaps and holes narrower than that, then traced and simplified by a hair
    under ``d`` pixels: Douglas-Peucker moves an outline by at most its tolerance, so every pixel of the mask stays
    inside. ``d`` is half of ``tol`` rounded up to whole pixels; the outline lies within about ``tol`` of the
    pixels' edges. Widening on the grid rather than buffering the simplified polygon leaves far fewer rings to
    trace and simplify: Shanxi's nine bands took 7.5 s of CPU that way, 2.0 s this way.
    """
    cell = abs(transform.a)
    d = max(1, math.ceil(tol / 2 / cell - 1e-9))
    rs, cs = _window(mask)
    # the window grown by d pixels each way, past the grid's edge too, so the widening is never cut off
    sub = np.pad(np.ascontiguousarray(mask[rs, cs]).view(np.uint8), d)
    sub = ndimage.maximum_filter(sub, size=2 * d + 1, mode="constant")
    t = transform * Affine.translation(cs.start - d, rs.start - d)
    with _TRACE_LOCK:
        polys = _polygons(rasterio.features.shapes(sub, mask=sub.astype(bool), transform=t))
    # the regions of a mask meet at corners at most, so together they already are a valid multipolygon
    geom = shapely.MultiPolygon(list(polys)).simplify(d * cell - _MARGIN_DEG, preserve_topology=True)
    return shapely.set_precision(geom, 1e-5)


def catchment_polygons(labels: np.ndarray, transform: Affine, tol: float):
    """Per label (>= 0) of the grid, the dissolved polygon of its pixels, simplified as one coverage.

    Returns ``(label, geometry)`` arrays, labels ascending.
    """
    ok = labels >= 0
    if not ok.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    rs, cs = _window(ok)
    sub = np.ascontiguousarray(labels[rs, cs])
    t = transform * Affine.translation(cs.start, rs.start)
    with _TRACE_LOCK:
        polys, value = _polygons(rasterio.features.shapes(sub, mask=sub >= 0, transform=t), with_values=True)
    order = np.argsort(value, kind="stable")
    value, polys = value[order].astype(np.int64), polys[order]
    label, index = np.unique(value, return_inverse=True)
    geoms = shapely.multipolygons(polys, indices=index)
    # simplified together, neighbours keep one shared edge: no slivers or overlaps between catchments
    geoms = shapely.coverage_simplify(geoms, tol)
    return label, geoms


def _polygons(pieces, with_values: bool = False):
    """Shapely polygons of rasterio's ``(GeoJSON polygon, value)`` pieces, built in bulk (one ring at a time
    through ``shape`` costs seconds for the million rings of a province's masks)."""
    xy, ring_length, ring_polygon, values = [], [], [], []
    for k, (g, v) in enumerate(pieces):
        values.append(v)
        for ring in g["coordinates"]:
            xy.extend(ring)
            ring_length.append(len(ring))
            ring_polygon.append(k)
    if not values:
        polys = np.zeros(0, dtype=object)
    else:
        rings = shapely.linearrings(
            np.asarray(xy, dtype=np.float64), indices=np.repeat(np.arange(len(ring_length)), ring_length)
        )
        # the first ring of each polygon is its shell, the others its holes
        polys = shapely.polygons(rings, indices=np.asarray(ring_polygon))
    return (polys, np.asarray(values)) if with_values else polys


# -- kernels ---------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _least_into(pixel, minutes, out):
    """``out[pixel[i]] = min(out[pixel[i]], minutes[i])`` for every ``pixel[i] >= 0`` (NaN minutes never win)."""
    for i in range(pixel.shape[0]):
        p = pixel[i]
        if p >= 0 and minutes[i] < out[p]:
            out[p] = minutes[i]
