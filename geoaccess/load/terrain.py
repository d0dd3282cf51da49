"""Land cover, DEM and barriers onto one friction grid over the study area (``[travel]``).

The grid has square ``cell_m`` cells in the network's metric CRS, covering the counties' bounds plus a margin, so
its memory grows with the study area's cells and nothing beyond: each raster is read only in the window that
covers the grid, in any CRS, and warped onto it (nearest class for land cover, bilinear for elevation). Land-cover
classes (ESA WorldCover codes) get a walking speed (:data:`WORLDCOVER_KMH`, overridden by
``[travel.landcover_speeds]``); barrier lines and polygons (rivers, canals, lakes) are impassable; every cell a road
runs through is walkable at ``[network] walk_kmh`` whatever lies under it, so a road over a river is a bridge,
except the links of the classes ``[travel] no_entry`` names (expressways and their ramps by default: pedestrians may
not enter them), which are neither walkable nor entry points (:func:`no_entry_links`).
Barrier lines are burnt as 8-connected lines and searches do not cut corners (:func:`geoaccess.terrain.search`), so
no move slips across a one-cell river.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import from_bounds

from geoaccess._arrays import bincount, lookup, unique
from geoaccess.config import NO_ENTRY
from geoaccess.errors import InputError
from geoaccess.network import Network, Snap
from geoaccess.terrain import Surface, grid_array

log = logging.getLogger(__name__)

#: ESA WorldCover class -> (walking km/h on flat ground, source). AccessMod's manual gives example walking
#: speeds per land-cover type (urban 5, low dense vegetation 4, medium 3, dense 2, bare soil 5 km/h); the
#: others are planning assumptions, stated as such. 0 = impassable.
WORLDCOVER_KMH: dict[int, tuple[float, str]] = {
    10: (2.0, "tree cover: AccessMod manual, dense vegetation"),
    20: (3.0, "shrubland: AccessMod manual, medium dense vegetation"),
    30: (4.0, "grassland: AccessMod manual, low dense vegetation"),
    40: (4.0, "cropland: AccessMod manual, low dense vegetation (field paths)"),
    50: (5.0, "built-up: AccessMod manual, urban and built-up area"),
    60: (5.0, "bare / sparse vegetation: AccessMod manual, bare soil"),
    70: (1.5, "snow and ice: planning assumption"),
    80: (0.0, "permanent water: impassable (a barrier) unless a road crosses it"),
    90: (1.5, "herbaceous wetland: planning assumption"),
    95: (1.0, "mangroves: planning assumption"),
    100: (3.0, "moss and lichen: planning assumption"),
}
WORLDCOVER_NAMES = {k: v[1].split(":")[0] for k, v in WORLDCOVER_KMH.items()}
MARGIN_CELLS = 10  # around the counties (their bounds, and their outline), so a walk may leave the area briefly


def minutes_per_m(kmh: float) -> float:
    """Friction of a speed: minutes per metre (inf for 0 km/h)."""
    return math.inf if kmh <= 0 else 60.0 / (1000.0 * kmh)


class Grid:
    """A north-up grid of square ``cell_m`` cells in ``crs`` with its top-left corner at ``(x0, y0)``."""

    def __init__(self, x0: float, y0: float, cell_m: float, rows: int, cols: int, crs):
        self.x0, self.y0, self.cell_m, self.rows, self.cols = float(x0), float(y0), float(cell_m), rows, cols
        self.crs = pyproj.CRS.from_user_input(crs)
        self.transform = from_origin(self.x0, self.y0, self.cell_m, self.cell_m)

    @classmethod
    def covering(cls, bounds, crs, cell_m: float) -> Grid:
        """The grid over ``bounds`` (minx, miny, maxx, maxy in ``crs``) plus a margin, corners on multiples of the
        cell size (so grids of neighbouring studies line up)."""
        minx, miny, maxx, maxy = bounds
        pad = MARGIN_CELLS * cell_m
        x0 = math.floor((minx - pad) / cell_m) * cell_m
        y1 = math.ceil((maxy + pad) / cell_m) * cell_m
        cols = int(math.ceil((maxx + pad - x0) / cell_m))
        rows = int(math.ceil((y1 - (miny - pad)) / cell_m))
        return cls(x0, y1, cell_m, rows, cols, crs)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.x0, self.y0 - self.rows * self.cell_m, self.x0 + self.cols * self.cell_m, self.y0

    def cells(self, x, y) -> np.ndarray:
        """Flat cell of each point (metres in the grid CRS); -1 off the grid."""
        col = np.floor((np.asarray(x, dtype=np.float64) - self.x0) / self.cell_m)
        row = np.floor((self.y0 - np.asarray(y, dtype=np.float64)) / self.cell_m)
        ok = (row >= 0) & (row < self.rows) & (col >= 0) & (col < self.cols)
        return np.where(ok, row * self.cols + col, -1).astype(np.int64)

    def centres(self, cells) -> tuple[np.ndarray, np.ndarray]:
        cells = np.asarray(cells)
        return self.x0 + (cells % self.cols + 0.5) * self.cell_m, self.y0 - (cells // self.cols + 0.5) * self.cell_m


def population_cell_m(pop) -> float:
    """The population grid's cell in metres (the mean side at the grid's centre for a geographic grid)."""
    a = pop.transform
    dx, dy = abs(a.a), abs(a.e)
    crs = pyproj.CRS.from_user_input(pop.crs) if pop.crs is not None else pyproj.CRS.from_epsg(4326)
    if crs.is_geographic:
        lat = float(np.mean(pop.lat)) if len(pop.lat) else 0.0
        dx, dy = dx * 111_320.0 * math.cos(math.radians(lat)), dy * 110_574.0
    return float(max(1.0, round((dx + dy) / 2.0)))


def _open(path: Path, what: str):
    if not Path(path).exists():
        raise InputError(f"{what} file not found; check [travel] {what} in the study file", path=path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read the {what} as a GeoTIFF ({exc})", path=path) from None
    if src.crs is None:
        src.close()
        raise InputError(
            f"the {what} raster has no coordinate reference system; assign the one it is in "
            "(e.g. gdal_edit.py -a_srs EPSG:4326 FILE) and run again",
            path=path,
        )
    return src


def _warp(path: Path, grid: Grid, what: str, resampling, dtype, nodata_out):
    """The raster's values on ``grid``, reading only the window that covers it."""
    with _open(path, what) as src:
        b = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
        sb = src.bounds
        if b[0] >= sb.right or b[2] <= sb.left or b[1] >= sb.top or b[3] <= sb.bottom:
            raise InputError(
                f"the {what} raster (bounds {tuple(round(v, 4) for v in sb)} in {src.crs}) does not overlap the "
                f"study area (bounds {tuple(round(v, 4) for v in b)} there); give a {what} that covers the counties",
                path=path,
            )
        win = from_bounds(*b, transform=src.transform).round_offsets().round_lengths()
        win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
        data = src.read(1, window=win, boundless=False)
        out = grid_array(grid.shape, dtype, nodata_out)
        reproject(
            data, out, src_transform=src.window_transform(win), src_crs=src.crs, src_nodata=src.nodata,
            dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=nodata_out, resampling=resampling,
            num_threads=max(1, min(4, os.cpu_count() or 1)),
        )  # fmt: skip
        return out, src.nodata


def landcover_friction(path: Path, grid: Grid, speeds: dict[int, float] | None = None):
    """Friction (float32 minutes per metre) from a WorldCover-coded land-cover raster; nodata is impassable.

    Returns ``(friction, notes)``. A class on the grid with no speed is an InputError naming the classes.
    """
    classes, _ = _warp(path, grid, "landcover", Resampling.nearest, np.uint8, 0)
    table = {k: v[0] for k, v in WORLDCOVER_KMH.items()} | dict(speeds or {})
    counts = bincount(classes, minlength=256)
    present = [int(c) for c in np.flatnonzero(counts) if c != 0]
    missing = [c for c in present if c not in table]
    if missing:
        raise InputError(
            f"land-cover class(es) {missing} have no speed (the defaults know the ESA WorldCover codes "
            f"{sorted(WORLDCOVER_KMH)}); give each a walking speed in km/h under [travel.landcover_speeds], "
            f'e.g. "{missing[0]}" = 3.0',
            path=path,
        )
    lut = np.full(256, np.inf, dtype=np.float32)
    for code, kmh in table.items():
        lut[code] = minutes_per_m(kmh)
    notes = [f"land cover {Path(path).name}: " + ", ".join(f"{c}: {counts[c]:,} cells" for c in present)]
    if counts[0]:
        notes.append(f"land cover {Path(path).name}: {counts[0]:,} grid cells without a class (nodata) are impassable")
    return lookup(lut, classes, grid_array(grid.shape, np.float32)), notes


def read_dem(path: Path, grid: Grid) -> np.ndarray:
    """Elevation in metres (float32) on the grid, NaN where the DEM has no data."""
    dem, _ = _warp(path, grid, "dem", Resampling.bilinear, np.float32, np.nan)
    if not np.isfinite(dem).any():
        raise InputError("the DEM has no data over the study area; give a DEM that covers the counties", path=path)
    return dem


def barrier_mask(paths, grid: Grid, roads_path: Path | None = None) -> np.ndarray:
    """Cells under barrier lines (8-connected) or polygons (every cell they touch), from vector files or "osm"."""
    from rasterio.features import rasterize

    mask = grid_array(grid.shape, bool)
    for p in paths:
        geoms = _osm_water(roads_path, grid) if p == "osm" else _vector(Path(p), grid)
        if len(geoms) == 0:
            continue
        poly = shapely.get_type_id(geoms) >= 3  # Polygon, MultiPolygon (and collections)
        for sel, touched in ((~poly, False), (poly, True)):
            if sel.any():
                burnt = grid_array(grid.shape, np.uint8)
                rasterize(((g, 1) for g in geoms[sel]), out=burnt, transform=grid.transform, fill=0,
                          all_touched=touched)  # fmt: skip
                mask |= burnt.view(bool)  # 0 and 1
                del burnt
    return mask


def _vector(path: Path, grid: Grid) -> np.ndarray:
    import pyogrio

    if not path.exists():
        raise InputError("barrier file not found; check [travel] barriers in the study file", path=path)
    try:
        info = pyogrio.read_info(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InputError(f"cannot read the barriers as a vector file ({exc})", path=path) from None
    if not info.get("crs"):
        raise InputError(
            "the barrier layer has no coordinate reference system; save it with one (e.g. ogr2ogr -a_srs "
            "EPSG:4326 OUT IN)",
            path=path,
        )
    crs = pyproj.CRS.from_user_input(info["crs"])
    bbox = transform_bounds(grid.crs, crs, *grid.bounds, densify_pts=21)
    df = pyogrio.read_dataframe(path, bbox=bbox, columns=[])
    geoms = df.geometry.to_crs(grid.crs).to_numpy() if len(df) else np.empty(0, dtype=object)
    return geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)] if len(geoms) else geoms


#: OSM waterways that stop a walker: rivers and canals (streams and ditches are waded or stepped over)
OSM_WATERWAYS = ("river", "canal", "riverbank")


def _osm_water(roads_path: Path | None, grid: Grid) -> np.ndarray:
    """Rivers and canals (lines), closed natural=water / waterway=riverbank ways and multipolygon relations with
    those tags (polygons: large lakes and wide rivers drawn in pieces, islands left out) of an OSM file.

    pyosmium assembles the relations (``FileProcessor.with_areas``: a first pass picks the relations, the second
    builds their rings from the member ways' node locations); closed ways are read as ways, so none is taken twice.
    osmium leaves out a relation whose rings do not close (it logs nothing: check the count in the log).
    """
    import osmium

    name = str(roads_path or "")
    if not name.endswith((".osm.pbf", ".pbf", ".osm")):
        raise InputError(
            '[travel] barriers = ["osm"] reads waterways from an OpenStreetMap roads file, but the roads are '
            f"{name or 'not OSM'}; give the rivers and lakes as a vector file instead",
            path=roads_path,
        )
    wkb = osmium.geom.WKBFactory()
    lines, polys, areas, broken = [], [], [], 0
    fp = (
        osmium.FileProcessor(name, osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION)
        .with_locations()
        .with_areas(osmium.filter.TagFilter(("natural", "water"), ("waterway", "riverbank")))
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.AREA))
        .with_filter(osmium.filter.KeyFilter("waterway", "natural"))
    )
    for w in fp:
        ww, nat = w.tags.get("waterway"), w.tags.get("natural")
        if ww not in OSM_WATERWAYS and nat != "water":
            continue
        if w.is_area():
            if w.from_way() or not (nat == "water" or ww == "riverbank"):
                continue  # a closed way: read as a way
            try:
                area = shapely.from_wkb(wkb.create_multipolygon(w))
            except (osmium.InvalidLocationError, RuntimeError):
                area = None
            if area is None or area.is_empty:
                broken += 1
            else:
                areas.append(area)
            continue
        try:
            line = shapely.from_wkb(wkb.create_linestring(w))
        except (osmium.InvalidLocationError, RuntimeError):
            continue
        closed = len(w.nodes) >= 4 and w.nodes[0].ref == w.nodes[-1].ref
        (polys if closed and (nat == "water" or ww == "riverbank") else lines).append(line)
    log.info("osm barriers: %d waterway lines, %d closed water ways, %d water multipolygons%s", len(lines),
             len(polys), len(areas), f" ({broken} without geometry skipped)" if broken else "")  # fmt: skip
    geoms = np.array(lines + [shapely.Polygon(g.coords) for g in polys] + areas, dtype=object)
    if not len(geoms):
        return geoms
    tf = pyproj.Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))


def area_mask(area, grid: Grid, halo_m: float) -> np.ndarray:
    """Cells within ``halo_m`` of the study area's polygons (``area``, shapely geometries in the grid's CRS).

    Every cell a search may enter: people and facilities are inside the counties, and a walk may leave the area by
    at most ``halo_m`` (the margin the grid already has around the counties' bounds), so cells farther out, most
    of a province's bounding box, are never visited. Roads leaving the area stay in the road network; only the
    walking off them out there is cut. The outline is simplified by a quarter cell and the halo widened by as
    much, so no cell within ``halo_m`` is lost.
    """
    from rasterio.features import rasterize

    geoms = np.asarray(area, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
    if not len(geoms):
        return np.ones(grid.shape, dtype=bool)
    tol = grid.cell_m / 4.0
    outline = shapely.union_all(shapely.simplify(geoms, tol)).buffer(halo_m + tol, quad_segs=4)
    out = grid_array(grid.shape, np.uint8)
    rasterize([(outline, 1)], out=out, transform=grid.transform, fill=0, all_touched=True)
    return out.view(bool)  # 0 and 1


#: expressway classes of Chinese road layers (geoaccess.load.speeds): named in a warning when no_entry leaves them out
CN_EXPRESSWAYS = ("高速公路", "高速")


def no_entry_links(net: Network, no_entry=NO_ENTRY) -> np.ndarray | None:
    """Per link, whether its class is one of ``no_entry`` (``[travel] no_entry``): no walk enters or crosses it.

    None when no link is (nothing to leave out). A name that is neither a class of the network nor one of the
    defaults (:data:`geoaccess.config.NO_ENTRY`, which a network without expressways need not have) is an
    InputError naming the classes the network has: a misspelt class must not silently let walkers onto it.
    """
    import pandas as pd

    names = tuple(no_entry)
    if not names:
        return None
    cls = None if net.link_class is None else np.asarray(net.link_class, dtype=object)[: net.n_links]
    # hashed, not sorted as fixed-width strings: a province's millions of links need no copy of their names
    have = sorted(map(str, pd.unique(cls))) if cls is not None else []
    unknown = [c for c in names if c not in NO_ENTRY and c not in have]
    if unknown:
        raise InputError(
            f"[travel] no_entry = {list(names)}: {', '.join(map(repr, unknown))} "
            f"{'is' if len(unknown) == 1 else 'are'} not a road class of the network (its classes: "
            f"{', '.join(have) if have else 'none, the roads carry no class'}); name classes the roads have, e.g. "
            '["motorway", "motorway_link"], or no_entry = [] to let walkers enter every road'
        )
    missed = [c for c in CN_EXPRESSWAYS if c in have and c not in names]
    if missed:  # a Chinese line layer's expressways go by their own class names
        log.warning(
            "the roads have expressways of class %s, which [travel] no_entry (%s) does not name: walkers may enter them; "
            "add them to no_entry",
            ", ".join(missed), ", ".join(names),
        )  # fmt: skip
    if cls is None:
        return None
    barred = np.zeros(net.n_links, dtype=bool)
    for c in names:  # a few classes: one comparison each, no sorting of the links' names
        barred[: len(cls)] |= cls == c
    return barred if barred.any() else None


def road_samples(net: Network, grid: Grid, no_entry=NO_ENTRY) -> tuple[np.ndarray, Snap]:
    """Points along every link, a third of a cell apart, as ``(flat cell, Snap)``: where the roads meet the grid.

    Each point's snap is its place on its link and its distance from its cell's centre (walked on entering the
    road there). Points off the grid are dropped, and so are the links of the classes ``no_entry`` names
    (:func:`no_entry_links`: no walk enters them). The points along the links come first, in link order, then
    each link's far end (:func:`_road_points`).
    """
    cells, snap, _ = _road_points(net, grid, barred=no_entry_links(net, no_entry))
    return cells, snap


def _road_points(net: Network, grid: Grid, first: int = 0, barred=None) -> tuple[np.ndarray, Snap, int]:
    """:func:`road_samples` of the links from ``first`` on (the links a scenario adds), and how many of them are
    points along the links (the far ends follow). ``barred`` (per link of ``net``, or None): links left out."""
    if first:  # the added links only: their own vertices (links are contiguous and in order)
        xy, link = shapely.get_coordinates(np.asarray(net.geometry[first:]), return_index=True)
        xy, link = np.asarray(xy, dtype=np.float64)[:, :2], np.asarray(link, dtype=np.int64) + first
    else:
        xy, link = _link_vertices(net)
    if barred is not None:  # whole links go: the rest stay contiguous and in order
        keep = ~barred[link]
        xy, link = xy[keep], link[keep]
    step = grid.cell_m / 3.0
    same = link[1:] == link[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    seg_link = link[:-1][same]
    seg_len = np.hypot(*(b - a).T)
    # fraction of the link at each segment start: cumulative length within the link over the link's length
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    first_seg = np.searchsorted(seg_link, seg_link, side="left")  # links are contiguous and in order
    start_m = cum[:-1] - cum[first_seg]
    total = np.bincount(seg_link, weights=seg_len, minlength=net.n_links)
    n = np.maximum(1, np.ceil(seg_len / step).astype(np.int64))
    seg = np.repeat(np.arange(len(seg_len)), n)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
    f = k / n[seg]  # along the segment, from its start (its end is the next segment's start, or added below)
    px = a[seg, 0] + f * (b[seg, 0] - a[seg, 0])
    py = a[seg, 1] + f * (b[seg, 1] - a[seg, 1])
    lk = seg_link[seg]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(total[lk] > 0, (start_m[seg] + f * seg_len[seg]) / total[lk], 0.0)
    n_along = len(px)
    # each link's far end
    last = np.flatnonzero(np.r_[link[1:] != link[:-1], True]) if link.size else np.empty(0, dtype=np.int64)
    px, py = np.r_[px, xy[last, 0]], np.r_[py, xy[last, 1]]
    lk, t = np.r_[lk, link[last]], np.r_[t, np.ones(len(last))]
    cells = grid.cells(px, py)
    ok = cells >= 0
    cells, px, py, lk, t = cells[ok], px[ok], py[ok], lk[ok], np.clip(t[ok], 0.0, 1.0)
    cx, cy = grid.centres(cells)
    return cells, Snap(lk.astype(np.int64), t, np.hypot(px - cx, py - cy)), int(ok[:n_along].sum())


def _far_ends_on_grid(net: Network, grid: Grid, barred=None) -> int:
    """How many of the links' far ends :func:`road_samples` keeps (the ones on the grid, of links not ``barred``)."""
    xy, link = _link_vertices(net)
    if barred is not None:
        keep = ~barred[link]
        xy, link = xy[keep], link[keep]
    last = np.flatnonzero(np.r_[link[1:] != link[:-1], True]) if link.size else np.empty(0, dtype=np.int64)
    return int(np.count_nonzero(grid.cells(xy[last, 0], xy[last, 1]) >= 0))


def surface_grid(surface: Surface) -> Grid:
    """The :class:`Grid` a surface lies on."""
    tr = surface.transform
    return Grid(tr.c, tr.f, surface.cell_m, *surface.shape, surface.crs)


def with_added_roads(
    surface: Surface, net: Network, old: Network, *, walk_kmh: float, no_entry, area=None
) -> Surface:  # fmt: skip
    """``surface`` (built for the network ``old``) joined to ``net``, ``old`` with links added after its own (a
    scenario's new roads): what :func:`build_surface` builds for ``net``, without rebuilding the rasters.

    The new links are sampled as :func:`road_samples` samples every link, and their points put where a fresh build
    puts them (the points along the links in link order, then the far ends), so searches seed them in the same order.
    The cells they run through become walkable at ``walk_kmh``, as :func:`build_surface` burns roads in (over a river:
    a bridge), except where it masks them afterwards: no elevation, or outside the area (``area``, the counties'
    polygons in the grid's CRS, as given to :func:`build_surface`; read only when a new road crosses impassable
    ground). Links of the classes ``no_entry`` names (the study's ``[travel] no_entry``, as ``surface`` was built
    with) get neither points nor walkable cells. The friction grid is copied only when some cell changes; otherwise
    it, the DEM and the demand and facility cells are the baseline's own arrays.
    """
    grid = surface_grid(surface)
    barred = no_entry_links(net, no_entry)
    cells, snap, n_along = _road_points(net, grid, first=old.n_links, barred=barred)
    old_along = len(surface.road_cell) - _far_ends_on_grid(old, grid, None if barred is None else barred[: old.n_links])
    rc, rs = surface.road_cell, surface.road_snap
    road_cell = np.concatenate([rc[:old_along], cells[:n_along], rc[old_along:], cells[n_along:]])

    def cat(f):
        a, b = getattr(rs, f), getattr(snap, f)
        return np.concatenate([a[:old_along], b[:n_along], a[old_along:], b[n_along:]])

    road_snap = Snap(cat("link"), cat("t"), cat("offroad_m"))
    walk = np.float32(minutes_per_m(walk_kmh))
    flat = surface.friction.reshape(-1)
    burn = unique(cells)
    burn = burn[flat[burn] != walk]
    if surface.dem is not None:  # build_surface: no elevation, no slope: impassable, whatever the road
        burn = burn[np.isfinite(surface.dem.reshape(-1)[burn])]
    shut = ~(flat[burn] < np.inf)  # impassable at baseline: a river (a bridge now), or outside the area (stays so)
    if shut.any() and area is not None:
        keep = area_mask(area, grid, MARGIN_CELLS * surface.cell_m).reshape(-1)
        keep[surface.facility_cell[surface.facility_cell >= 0]] = True
        burn = burn[~shut | keep[burn]]
        del keep
    bridges = int(np.count_nonzero(~(flat[burn] < np.inf)))
    notes = list(surface.notes) + [
        f"added roads: {len(cells):,} points, {burn.size:,} cells made walkable ({bridges:,} of them bridges)"
    ]
    friction = surface.friction
    if burn.size:
        friction = friction.copy()  # the whole grid: fine for a scenario's few new roads (a copy per scenario)
        friction.reshape(-1)[burn] = walk
    out = Surface(
        friction, surface.dem, surface.transform, surface.crs, surface.cell_m, road_cell, road_snap,
        surface.demand_cell, surface.facility_cell, knight=surface.knight, cut_corners=surface.cut_corners,
        notes=notes,
    )  # fmt: skip
    if friction is surface.friction:
        # the same ground: the same pieces and the same cells to wait for
        out._components, out._pieces = surface._components, surface._pieces
        out._demand_targets = surface._demand_targets
    log.info(notes[-1])
    return out


def _link_vertices(net: Network):
    coords = net.link_coords()
    if coords is not None:
        xy, link = coords
        return np.asarray(xy, dtype=np.float64)[:, :2], np.asarray(link, dtype=np.int64)
    if net.x is None:
        raise InputError("this network has no node coordinates, so it cannot be joined to the terrain grid")
    xy = np.stack(
        [
            np.column_stack([net.x[net.link_u], net.y[net.link_u]]),
            np.column_stack([net.x[net.link_v], net.y[net.link_v]]),
        ],
        axis=1,
    ).reshape(-1, 2)
    return xy, np.repeat(np.arange(net.n_links), 2)


def build_surface(
    travel, net: Network, area_bounds, demand_xy, facility_xy, *, cell_m: float, walk_kmh: float, roads_path=None,
    area=None,
) -> Surface:  # fmt: skip
    """The study's :class:`~geoaccess.terrain.Surface` from its ``[travel]`` settings (``TravelSettings``).

    ``area_bounds`` are the counties' bounds and ``demand_xy`` / ``facility_xy`` the points' coordinates, all
    in the network's CRS (metres). ``area`` (the counties' polygons in that CRS; optional) keeps the searches
    within :data:`MARGIN_CELLS` cells of the counties themselves (:func:`area_mask`), not of their bounds.
    """
    grid = Grid.covering(area_bounds, net.crs, cell_m)
    log.info(
        "terrain grid: %d x %d cells of %g m (%s cells)", grid.rows, grid.cols, cell_m, f"{grid.rows * grid.cols:,}"
    )
    notes: list[str] = []
    t0 = time.perf_counter()
    if travel.landcover is not None:
        friction, more = landcover_friction(travel.landcover, grid, travel.landcover_speeds)
        notes += more
    else:
        friction = grid_array(grid.shape, np.float32, minutes_per_m(walk_kmh))
    # elevation only bends walking speeds (anisotropic); an isotropic study does not warp it at all
    dem = read_dem(travel.dem, grid) if travel.dem is not None and travel.anisotropic else None
    if travel.barriers:
        barrier = barrier_mask(travel.barriers, grid, roads_path)
        friction[barrier] = np.inf
        notes.append(f"barriers: {int(barrier.sum()):,} cells impassable")
    t1 = time.perf_counter()
    barred = no_entry_links(net, travel.no_entry)
    road_cell, road_snap, _ = _road_points(net, grid, barred=barred)
    on_road = grid_array(grid.rows * grid.cols, bool)
    on_road[road_cell] = True
    # a road is walkable whatever lies under it: a road over a river is a bridge (not an expressway: no_entry)
    friction.reshape(-1)[on_road] = np.float32(minutes_per_m(walk_kmh))
    notes.append(f"roads: {int(on_road.sum()):,} cells, joined to the network at {len(road_cell):,} points")
    del on_road
    if barred is not None:
        xy, link = _link_vertices(net)
        seg = (link[1:] == link[:-1]) & barred[link[:-1]]
        km = float(np.hypot(*(xy[1:][seg] - xy[:-1][seg]).T).sum()) / 1000.0
        del xy, link, seg
        notes.append(
            f"no entry from the terrain ([travel] no_entry {', '.join(travel.no_entry)}): {int(barred.sum()):,} links, "
            f"{km:,.1f} km, driven but neither entered nor walked on"
        )
    t2 = time.perf_counter()
    if dem is not None and not travel.anisotropic:
        dem = None  # elevation read but not used for travel: isotropic
    if dem is not None:
        friction[~np.isfinite(dem)] = np.inf  # no elevation, no slope: impassable
    demand_cell, facility_cell = grid.cells(*demand_xy), grid.cells(*facility_xy)
    if area is not None:
        keep = area_mask(area, grid, MARGIN_CELLS * cell_m)
        keep.reshape(-1)[facility_cell[facility_cell >= 0]] = True  # a facility just outside still starts a walk
        out = int(keep.size - np.count_nonzero(keep))
        friction[~keep] = np.inf  # after the roads: a road far outside is driven (the network), never walked
        del keep
        notes.append(
            f"area: {out:,} of {grid.rows * grid.cols:,} grid cells lie more than {MARGIN_CELLS} cells outside the "
            "counties and are left out of the searches"
        )
    log.info("terrain rasters %.1f s, road samples %.1f s, mask %.1f s", t1 - t0, t2 - t1, time.perf_counter() - t2)
    surface = Surface(
        friction, dem, grid.transform, grid.crs, cell_m, road_cell, road_snap, demand_cell, facility_cell,
        knight=travel.knight, cut_corners=False, notes=notes,
    )  # fmt: skip
    for n in notes:
        log.info(n)
    return surface
