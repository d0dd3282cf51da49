"""Road line layers (GeoPackage, Shapefile, GeoJSON, ...) -> :class:`~geoaccess.load.roads.Ways`.

Topology is built from the geometry alone: every vertex shared by two or more lines (identical
coordinates) and every line end becomes a node. With ``snap_m > 0`` a line end that stops short of
another road (a near-miss) is joined to it: to the nearest vertex of another line within ``snap_m``
metres, else onto the nearest segment, where a vertex is inserted.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geoaccess import coords as _coords
from geoaccess._arrays import unique
from geoaccess.errors import InputError
from geoaccess.load.roads import RoadReport, Ways, utm_crs
from geoaccess.load.speeds import class_kmh, oneway_code, oneway_value, parse_hstore, parse_maxspeed, profile_table

log = logging.getLogger(__name__)

CLASS_FIELDS = (
    "highway",
    "fclass",
    "road_class",
    "roadclass",
    "rclass",
    "class",
    "kind",
    "type",
    "等级",
    "道路等级",
    "公路等级",
    "道路类型",
    "类型",
    "grade",
    "level",
)
SPEED_FIELDS = ("speed_kmh", "speed_kph", "speed", "kmh", "maxspeed", "max_speed", "速度", "设计速度", "限速")
ONEWAY_FIELDS = ("oneway", "one_way", "单行", "方向", "direction")


def _find_field(columns, candidates) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def open_vector(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file (``.gz`` through GDAL's /vsigzip/) with a clear error when GDAL cannot."""
    if not path.exists():
        raise InputError("file not found; check the path in the study file", path=path)
    src = str(path)
    if path.name.lower().endswith(".gz"):
        src = "/vsigzip/" + src
    elif path.name.lower().endswith(".zip"):
        src = "/vsizip/" + src
    try:
        return gpd.read_file(src, layer=layer) if layer else gpd.read_file(src)
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError / ValueError subclasses
        raise InputError(f"cannot read as a vector layer ({exc})", path=path) from exc


def layer_crs(gdf: gpd.GeoDataFrame, source_crs, path: Path, what: str) -> pyproj.CRS:
    """The layer's CRS, or the one the study names; an error when neither says."""
    if source_crs is not None:
        crs = pyproj.CRS.from_user_input(source_crs)
        if gdf.crs is not None and pyproj.CRS.from_user_input(gdf.crs) != crs:
            log.warning("%s: the study's crs %s overrides the file's %s", path, crs, gdf.crs)
        return crs
    if gdf.crs is None:
        raise InputError(
            f"the {what} layer has no coordinate reference system; name it in the study "
            f'(e.g. {what} = {{ path = "{path.name}", crs = "EPSG:4326" }}) or add a .prj',
            path=path,
        )
    return pyproj.CRS.from_user_input(gdf.crs)


def to_lonlat(x: np.ndarray, y: np.ndarray, crs: pyproj.CRS, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``crs`` (and the Chinese ``system`` they are expressed in) -> WGS84 lon/lat."""
    if not crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        x, y = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return _coords.to_wgs84(x, y, system)


def read_line_ways(
    path: str | Path,
    profile: str | dict = "drive",
    class_field: str | None = None,
    speed_field: str | None = None,
    oneway_field: str | None = None,
    source_crs=None,
    coords: str = "wgs84",
    snap_m: float = 0.0,
    speeds: dict | None = None,
    layer: str | None = None,
) -> tuple[Ways, RoadReport]:
    """Read a road line layer into ways, with speeds from a class or speed field (see ``read_roads``)."""
    path = Path(path)
    gdf = open_vector(path, layer)
    crs = layer_crs(gdf, source_crs, path, "roads")
    system = _coords.normalise_system(coords)
    report = RoadReport(source=str(path), kind="line layer", source_crs=crs.to_string())
    if system != "wgs84":
        report.source_crs += f" ({system.upper()}, converted to WGS84)"
    table = profile_table(profile, speeds)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    fields = {"class": class_field, "speed": speed_field, "oneway": oneway_field}
    for key, given in fields.items():
        if given is not None and given not in cols:
            raise InputError(
                f"{key} field {given!r} not found; the layer's fields are {cols}. Set {key}_field in the "
                "study's roads entry",
                path=path,
            )
    if class_field is None:
        class_field = _find_field(cols, CLASS_FIELDS)
    if speed_field is None:
        speed_field = _find_field(cols, SPEED_FIELDS)
    if oneway_field is None:
        oneway_field = _find_field(cols, ONEWAY_FIELDS)
    hstore = "other_tags" if "other_tags" in cols else None
    if class_field is None and speed_field is None:
        raise InputError(
            f"no road class or speed field found among {cols}; set class_field (e.g. OSM highway values or "
            "高速公路/国道/省道/县道/乡道/村道) or speed_field (km/h) in the study's roads entry",
            path=path,
        )
    report.fields = {"class": class_field, "speed": speed_field, "oneway": oneway_field}

    geoms = gdf.geometry.values
    n_feat = len(gdf)
    report.ways_read = n_feat
    # speed: the numeric field wins where valid, then maxspeed in other_tags, then the class
    kmh = np.full(n_feat, np.nan)
    if speed_field is not None:
        kmh = np.array([parse_maxspeed(None if v is None else str(v)) for v in gdf[speed_field]])
        given = gdf[speed_field].map(lambda v: v is not None and str(v).strip() not in ("", "nan", "None")).to_numpy()
        bad = np.flatnonzero(given & ~np.isfinite(kmh))
        if bad.size:
            # a 0 or negative speed is a data error, not a closed road: say so rather than replace it silently
            shown = sorted({str(v) for v in gdf[speed_field].iloc[bad[:200]]})[:5]
            report.warnings.append(
                f"{bad.size:,} features have a {speed_field} value that is not a usable speed (0, negative, "
                f"non-numeric or outside 5..150 km/h, e.g. {shown}); "
                + ("their road class speed was used" if class_field is not None else "they were left out")
            )
    tags = [parse_hstore(t) for t in gdf[hstore]] if hstore else [{}] * n_feat
    # OSM exports: maxspeed inside other_tags applies to features of a known road class only (railways
    # carry maxspeed too)
    ms = np.array([parse_maxspeed(t.get("maxspeed")) for t in tags]) if hstore else np.full(n_feat, np.nan)
    cls = np.full(n_feat, "", dtype=object)
    ignored: Counter = Counter()
    if class_field is not None:
        raw = gdf[class_field].to_numpy()
        cache: dict = {}
        for i, v in enumerate(raw):
            key = None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
            if key not in cache:
                cache[key] = class_kmh(key, table)
            k, name = cache[key]
            if name is None:
                if not np.isfinite(kmh[i]):
                    ignored[key if key else "(empty)"] += 1
                cls[i] = key or ""
                continue
            cls[i] = name
            if not np.isfinite(kmh[i]):
                kmh[i] = ms[i] if np.isfinite(ms[i]) else k
    elif speed_field is not None:
        cls[:] = "speed"
    no_speed = ~np.isfinite(kmh)
    if speed_field is not None and class_field is None and no_speed.any():
        ignored["(no valid speed)"] += int(no_speed.sum())
    # one-way
    ow_raw = gdf[oneway_field].to_numpy() if oneway_field else [None] * n_feat
    oneway = np.zeros(n_feat, dtype=np.int8)
    for i in range(n_feat):
        val = oneway_value(ow_raw[i])
        if val is None and hstore:
            val = tags[i].get("oneway")
        oneway[i] = oneway_code(str(cls[i]), val, tags[i].get("junction") if hstore else None)
    if hstore:
        # OSM exports: respect access=no/private and areas as the PBF reader does
        for i, t in enumerate(tags):
            if t.get("area") == "yes" or t.get("access") in ("no", "private"):
                if np.isfinite(kmh[i]):
                    ignored[f"{cls[i]} (area or no access)"] += 1
                kmh[i] = np.nan
    report.ignored = dict(ignored)

    # geometry: LineStrings only (MultiLineStrings exploded), usable speed only
    use = np.isfinite(kmh) & (kmh > 0)
    gtype = shapely.get_type_id(geoms)
    is_line = (gtype == 1) | (gtype == 5)
    n_other = int((~is_line & use).sum())
    if n_other:
        report.warnings.append(f"{n_other:,} features are not lines (e.g. points or polygons) and were skipped")
    use &= is_line & ~shapely.is_empty(geoms)
    parts, part_of = shapely.get_parts(geoms[use], return_index=True)
    feat = np.flatnonzero(use)[part_of]
    xy, line_idx = shapely.get_coordinates(parts, return_index=True)
    if xy.shape[0] == 0:
        raise InputError(
            f"no usable road lines: {n_feat:,} features, none a line with a known class or speed "
            f"(class field {class_field!r}, speed field {speed_field!r}; classes seen: "
            f"{dict(Counter({k: v for k, v in ignored.items()}).most_common(8))}). Check class_field / "
            "speed_field, or add the classes to [network] speeds",
            path=path,
        )
    lon, lat = to_lonlat(xy[:, 0], xy[:, 1], crs, system)
    counts = np.bincount(line_idx, minlength=parts.size)
    way_start = np.zeros(parts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=way_start[1:])
    # vertex identity: identical coordinates (before any snapping) are one vertex
    refs = _vertex_ids(lon, lat)
    if snap_m > 0:
        lon, lat, refs, way_start, n_snap = _snap_ends(lon, lat, refs, way_start, oneway[feat], snap_m)
        report.snapped = n_snap
    ways = _drop_repeats(
        Ways(refs=refs, lon=lon, lat=lat, way_start=way_start, kmh=kmh[feat], oneway=oneway[feat], road_class=cls[feat])
    )
    report.ways_used = ways.n_ways
    return ways, report


def _vertex_ids(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    key = np.empty(lon.size, dtype=[("x", "f8"), ("y", "f8")])
    key["x"] = lon
    key["y"] = lat
    _, inv = np.unique(key, return_inverse=True)
    return inv.astype(np.int64).ravel()


def _drop_repeats(w: Ways) -> Ways:
    """Drop consecutive repeated refs inside a way, and ways left with fewer than two positions."""
    n = w.refs.size
    way_of = np.repeat(np.arange(w.n_ways), np.diff(w.way_start))
    keep = np.ones(n, dtype=bool)
    keep[1:] = ~((w.refs[1:] == w.refs[:-1]) & (way_of[1:] == way_of[:-1]))
    counts = np.bincount(way_of[keep], minlength=w.n_ways)
    ok_way = counts >= 2
    keep &= ok_way[way_of]
    counts = counts[ok_way]
    start = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return Ways(
        refs=w.refs[keep],
        lon=w.lon[keep],
        lat=w.lat[keep],
        way_start=start,
        kmh=w.kmh[ok_way],
        oneway=w.oneway[ok_way],
        road_class=w.road_class[ok_way],
    )


def _snap_ends(lon, lat, refs, way_start, oneway, snap_m):
    """Join dangling line ends to a vertex of another line within ``snap_m``, else onto its nearest segment.

    A line end dangles when no other line touches it, or when travel cannot go on from it: every one-way
    line there points in (or every one points out), as where a dual carriageway's two halves stop short
    of each other. Both are gaps in the data, never real roads.
    """
    from scipy.spatial import cKDTree

    crs = utm_crs(float(np.mean(lon)), float(np.mean(lat)))
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    n_ways = way_start.size - 1
    way_of = np.repeat(np.arange(n_ways), np.diff(way_start))
    uses = np.bincount(refs)
    first, last = way_start[:-1], way_start[1:] - 1
    has_in = np.ones(refs.size, dtype=bool)
    has_out = np.ones(refs.size, dtype=bool)
    has_in[first] = oneway <= 0  # a way's first node is entered only if it runs backwards or both ways
    has_out[last] = oneway <= 0
    has_out[first] = oneway >= 0
    has_in[last] = oneway >= 0
    ref_in = np.zeros(uses.size, dtype=bool)
    ref_out = np.zeros(uses.size, dtype=bool)
    ref_in[refs[has_in]] = True
    ref_out[refs[has_out]] = True
    ends = unique(np.concatenate([first, last]))
    dead = (uses[refs[ends]] == 1) | ~ref_in[refs[ends]] | ~ref_out[refs[ends]]
    dangling = ends[dead]
    # dead ends shared by two lines appear twice: keep one position per node
    _, one = np.unique(refs[dangling], return_index=True)
    dangling = dangling[one]
    if dangling.size == 0:
        return lon, lat, refs, way_start, 0
    # the lines touching each dangling node: candidates on them would only short-cut the line itself
    orig = refs
    dref = refs[dangling]
    on = np.isin(refs, dref)
    touching: dict[int, set] = {}
    for r, w in zip(refs[on].tolist(), way_of[on].tolist(), strict=False):
        touching.setdefault(r, set()).add(w)
    # 1) nearest vertex of another line
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_ball_point(np.column_stack([x[dangling], y[dangling]]), r=snap_m)
    a, b = [], []
    snapped_seg = np.zeros(dangling.size, dtype=bool)
    for i, cand in enumerate(pairs):
        p = dangling[i]
        mine = touching[int(refs[p])]
        cand = [c for c in cand if way_of[c] not in mine]
        if cand:
            c = min(cand, key=lambda c: (x[c] - x[p]) ** 2 + (y[c] - y[p]) ** 2)
            a.append(refs[p])
            b.append(refs[c])
            snapped_seg[i] = True
    n_snap = len(a)
    if a:
        nref = int(refs.max()) + 1
        g = coo_matrix((np.ones(len(a)), (a, b)), shape=(nref, nref))
        _, lab = connected_components(g, directed=False)
        refs = lab[refs].astype(np.int64)
    # 2) nearest segment of another line: insert the end's own point into it
    rest = dangling[~snapped_seg]
    if rest.size:
        seg_a = np.flatnonzero(way_of[:-1] == way_of[1:])
        segs = shapely.linestrings(
            np.column_stack([x[seg_a], x[seg_a + 1]]).ravel(),
            np.column_stack([y[seg_a], y[seg_a + 1]]).ravel(),
            indices=np.repeat(np.arange(seg_a.size), 2),
        )
        stree = shapely.STRtree(segs)
        pts = shapely.points(x[rest], y[rest])
        pi, si = stree.query(pts, predicate="dwithin", distance=snap_m)
        own = np.array(
            [int(w) in touching[int(r)] for w, r in zip(way_of[seg_a[si]], orig[rest[pi]], strict=False)], dtype=bool
        )
        pi, si = pi[~own], si[~own]
        if pi.size:
            d = shapely.distance(pts[pi], segs[si])
            order = np.lexsort((d, pi))
            pi, si = pi[order], si[order]
            first = np.ones(pi.size, dtype=bool)
            first[1:] = pi[1:] != pi[:-1]
            pi, si = pi[first], si[first]
            t = shapely.line_locate_point(segs[si], pts[pi], normalized=True)
            at = seg_a[si] + 1
            order = np.lexsort((t, at))
            src = rest[pi][order]
            at = at[order]
            lon = np.insert(lon, at, lon[src])
            lat = np.insert(lat, at, lat[src])
            refs = np.insert(refs, at, refs[src])
            new_way = way_of[at - 1]
            way_start = way_start + np.concatenate([[0], np.cumsum(np.bincount(new_way, minlength=n_ways))])
            n_snap += int(src.size)
    return lon, lat, refs, way_start, n_snap
