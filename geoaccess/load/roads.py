"""Road inputs -> :class:`~geoaccess.network.Network`.

Every road source becomes :class:`Ways` (flat arrays of node refs and lon/lat per way, plus per-way
speed, one-way code and class) and then one network through :func:`network_from_ways`: ways are split
at junctions (refs shared by several ways) and at their ends, each piece becomes a link with its
geometry in a metric CRS, and the largest strongly connected component is kept.

Sources: OSM PBF and XML (streamed with pyosmium: only drivable ways and their node locations are held,
in compact typed arrays), osmnx GraphML (:mod:`geoaccess.load.graphml`) and line layers such as
GeoPackage, Shapefile or GeoJSON with a class or speed field (:mod:`geoaccess.load.lines`).
"""

from __future__ import annotations

import logging
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from geoaccess import coords as _coords
from geoaccess._arrays import unique
from geoaccess.errors import InputError
from geoaccess.load.speeds import oneway_code, parse_maxspeed, profile_table
from geoaccess.network import Network

log = logging.getLogger(__name__)

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".osm.bz2", ".osm.gz")
GRAPHML_SUFFIXES = (".graphml", ".graphml.gz")
LINE_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".geojson.gz", ".json.gz", ".fgb", ".shp.zip", ".gml")


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The UTM zone CRS (WGS84) containing a point: the metric CRS used for snapping and lengths."""
    zone = int((lon + 180) // 6) + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass
class RoadReport:
    """What the loader kept and dropped, for ``geoaccess info`` and the run log."""

    source: str
    kind: str = ""
    source_crs: str = "EPSG:4326"
    ways_read: int = 0
    ways_used: int = 0
    nodes: int = 0
    links: int = 0
    dropped_links: int = 0
    dropped_km: float = 0.0
    kept_km: float = 0.0
    extent: tuple[float, float, float, float] | None = None  # lon/lat west, south, east, north
    ignored: dict[str, int] = field(default_factory=dict)  # class value -> ways not used
    oneway_links: int = 0
    snapped: int = 0
    fields: dict[str, str | None] = field(default_factory=dict)  # line layers: class / speed / oneway fields
    warnings: list[str] = field(default_factory=list)

    @property
    def kept_share(self) -> float:
        total = self.kept_km + self.dropped_km
        return self.kept_km / total if total else 0.0

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"roads: {self.source} ({self.kind}, CRS {self.source_crs})",
            f"  ways read {self.ways_read:,}, used {self.ways_used:,}; network {self.nodes:,} nodes, "
            f"{self.links:,} links ({self.oneway_links:,} one-way), {self.kept_km:,.1f} km kept",
            f"  dropped outside the largest strongly connected component: {self.dropped_links:,} links, "
            f"{self.dropped_km:,.1f} km ({1 - self.kept_share:.1%} of length)",
        ]
        if self.extent:
            w, s, e, n = self.extent
            out.append(f"  extent lon {w:.4f}..{e:.4f}, lat {s:.4f}..{n:.4f}")
        if self.fields:
            out.append("  fields: " + ", ".join(f"{k} = {v!r}" for k, v in self.fields.items()))
        if self.snapped:
            out.append(f"  snapped {self.snapped:,} line ends onto nearby roads")
        if self.ignored:
            top = ", ".join(f"{k} {v:,}" for k, v in sorted(self.ignored.items(), key=lambda kv: -kv[1])[:12])
            out.append(f"  ignored (class not in the profile): {sum(self.ignored.values()):,} ways: {top}")
        return out


@dataclass
class Ways:
    """Road ways as flat arrays: the node refs and lon/lat of every position, and per-way attributes."""

    refs: np.ndarray  # int64, all positions of all ways
    lon: np.ndarray
    lat: np.ndarray
    way_start: np.ndarray  # int64, n_ways + 1 offsets into refs
    kmh: np.ndarray  # per way
    oneway: np.ndarray  # per way: 1, -1, 0
    road_class: np.ndarray  # per way, object

    @property
    def n_ways(self) -> int:
        return int(self.way_start.size - 1)


class WayCollector:
    """Append ways one at a time into compact typed arrays (about 26 bytes per node position).

    Python lists of per-way numpy arrays cost ~100 bytes of overhead per way; ``array.array`` grows in
    place, so a province extract with tens of millions of positions stays within a few hundred MB.
    """

    def __init__(self):
        self.refs = array("q")
        self.lon = array("d")
        self.lat = array("d")
        self.lengths = array("q")
        self.kmh = array("d")
        self.oneway = array("b")
        self.cls = array("i")
        self._cls_ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.lengths)

    def add(self, refs, lon, lat, kmh: float, oneway: int, road_class: str) -> None:
        n = len(refs)
        if n < 2:
            return
        self.refs.extend(refs)
        self.lon.extend(lon)
        self.lat.extend(lat)
        self.lengths.append(n)
        self.kmh.append(float(kmh))
        self.oneway.append(int(oneway))
        c = self._cls_ids.setdefault(road_class, len(self._cls_ids))
        self.cls.append(c)

    def add_way(self, n: int, kmh: float, oneway: int, road_class: str) -> None:
        """A way's attributes and position count only (its refs and locations are filled in later, in bulk)."""
        self.lengths.append(n)
        self.kmh.append(float(kmh))
        self.oneway.append(int(oneway))
        self.cls.append(self._cls_ids.setdefault(road_class, len(self._cls_ids)))

    def ways(self) -> Ways:
        lengths = np.frombuffer(self.lengths, dtype=np.int64) if len(self.lengths) else np.zeros(0, np.int64)
        way_start = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=way_start[1:])
        names = np.empty(len(self._cls_ids), dtype=object)
        for k, i in self._cls_ids.items():
            names[i] = k
        cls = np.frombuffer(self.cls, dtype=np.int32) if len(self.cls) else np.zeros(0, np.int32)
        return Ways(
            refs=np.array(self.refs, dtype=np.int64),
            lon=np.array(self.lon, dtype=np.float64),
            lat=np.array(self.lat, dtype=np.float64),
            way_start=way_start,
            kmh=np.array(self.kmh, dtype=np.float64),
            oneway=np.array(self.oneway, dtype=np.int8),
            road_class=names[cls] if cls.size else np.zeros(0, dtype=object),
        )


def read_osm_ways(
    path: str | Path, profile: str | dict = "drive", speeds: dict | None = None, coords: str = "wgs84"
) -> tuple[Ways, RoadReport]:
    """Stream the drivable ways of an OSM PBF or XML file.

    Parameters
    ----------
    path
        ``.osm.pbf`` or ``.osm`` (optionally ``.bz2`` / ``.gz``) file.
    profile, speeds
        Speed profile name (or class -> km/h dict) and per-class overrides.
    coords
        Coordinate system of the file's locations; OSM is WGS84, but some Chinese exports in OSM format
        carry GCJ-02 or BD-09 locations.
    """
    import osmium

    path = Path(path)
    if not path.exists():
        raise InputError("road file not found; check the roads path in the study file", path=path)
    table = profile_table(profile, speeds)
    report = RoadReport(source=str(path), kind="OpenStreetMap")
    ignored: Counter = Counter()
    attrs = WayCollector()  # per-way attributes only; node refs and locations are gathered in bulk below
    located: list[bytes] = []  # per way: its lon, lat doubles
    clipped = 0
    wkb = osmium.geom.WKBFactory()
    every_node = osmium.geom.use_nodes.ALL
    try:
        fp = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        with tempfile.TemporaryDirectory(prefix="geoaccess-osm-") as tmp:
            refs_file = Path(tmp) / "ways.opl"
            # pyosmium hands out node refs one Python object at a time (5.7M lookups: 5.5 s of a 7.8 s read on the
            # 1M-node demo); its OPL writer and WKB factory copy a whole way's refs and locations in C++ instead
            with (
                osmium.SimpleWriter(osmium.io.File(str(refs_file), "opl,add_metadata=false")) as refs_out,
                tqdm(desc="reading roads", unit=" ways", unit_scale=True, disable=None) as bar,
            ):
                for w in fp:
                    report.ways_read += 1
                    if report.ways_read % 10_000 == 0:
                        bar.update(10_000)
                    tags = w.tags
                    hw = tags.get("highway")
                    base = table.get(hw)
                    if base is None:
                        ignored[hw] += 1
                        continue
                    if tags.get("area") == "yes" or tags.get("access") in ("no", "private"):
                        ignored[f"{hw} (area or no access)"] += 1
                        continue
                    nodes = w.nodes
                    n = len(nodes)
                    if n < 2:
                        continue
                    try:
                        located.append(bytes.fromhex(wkb.create_linestring(w, every_node))[_WKB_HEADER:])
                    except osmium.InvalidLocationError:
                        # extracts clip ways at their border: NaN marks the nodes the file does not hold
                        clipped += 1
                        located.append(
                            np.array(
                                [(nd.lon, nd.lat) if nd.location.valid() else (np.nan, np.nan) for nd in nodes],
                                dtype="<f8",
                            ).tobytes()
                        )
                    ms = parse_maxspeed(tags.get("maxspeed"))
                    code = oneway_code(hw, tags.get("oneway"), tags.get("junction"))
                    attrs.add_way(n, ms if ms == ms else base, code, hw)
                    refs_out.add_way(w)
                bar.update(report.ways_read % 10_000)
            refs = _opl_way_refs(refs_file)
    except RuntimeError as exc:  # osmium raises RuntimeError for unreadable files
        raise InputError(
            f"cannot read as OpenStreetMap data ({exc}); is it a .osm.pbf or .osm file?", path=path
        ) from exc
    report.ignored = dict(ignored)
    if not len(attrs):
        raise InputError(
            f"no drivable road ways found ({report.ways_read:,} ways with a highway tag read); "
            f"the profile knows these classes: {sorted(table)}. Check that the file covers the study area "
            "and holds roads, or pass another profile / [network] speeds",
            path=path,
        )
    ways = attrs.ways()
    lonlat = np.frombuffer(b"".join(located), dtype="<f8").reshape(-1, 2)
    del located
    if not (refs.size == lonlat.shape[0] == ways.way_start[-1]):
        raise InputError(
            f"internal: {refs.size:,} node refs, {lonlat.shape[0]:,} locations and {int(ways.way_start[-1]):,} way "
            "positions disagree; please report this file",
            path=path,
        )
    ways.refs, ways.lon, ways.lat = refs, lonlat[:, 0].copy(), lonlat[:, 1].copy()
    if clipped:
        ways = _keep_located_runs(ways)
        report.warnings.append(
            f"{clipped:,} ways reference nodes missing from the file (clipped extract); kept the parts present"
        )
    report.ways_used = ways.n_ways
    if not ways.n_ways:
        raise InputError("no drivable road way has two located nodes; is the extract complete?", path=path)
    log.info(
        "%s: %s ways read, %s used (%s node positions)",
        path,
        f"{report.ways_read:,}",
        f"{report.ways_used:,}",
        f"{ways.refs.size:,}",
    )
    _convert_coords(ways, coords, report)
    return ways, report


# a WKB LineString: byte order (1), geometry type (4), point count (4), then x, y doubles
_WKB_HEADER = 9


def _opl_way_refs(path: Path) -> np.ndarray:
    """Node refs of every way in an OPL file, in order (``w1 T... Nn1,n2,n3`` per line: refs are the last field)."""
    raw = path.read_bytes()
    if not raw:
        return np.zeros(0, dtype=np.int64)
    fields = b",".join(line.rpartition(b" N")[2] for line in raw.splitlines() if line)
    return np.fromstring(fields.replace(b"n", b""), dtype=np.int64, sep=",")


def _keep_located_runs(ways: Ways) -> Ways:
    """Split ways at nodes without a location (NaN) into runs of located nodes; runs of fewer than 2 are dropped."""
    ok = np.isfinite(ways.lon) & np.isfinite(ways.lat)
    n = ways.refs.size
    way_of = np.repeat(np.arange(ways.n_ways), np.diff(ways.way_start))
    start = np.ones(n, dtype=bool)
    start[1:] = (way_of[1:] != way_of[:-1]) | (ok[1:] != ok[:-1])
    run = np.cumsum(start) - 1
    run_len = np.bincount(run)
    run_first = np.flatnonzero(start)
    keep_run = ok[run_first] & (run_len >= 2)
    keep = keep_run[run]
    lengths = run_len[keep_run]
    way_start = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=way_start[1:])
    src = way_of[run_first[keep_run]]
    return Ways(
        refs=ways.refs[keep],
        lon=ways.lon[keep],
        lat=ways.lat[keep],
        way_start=way_start,
        kmh=ways.kmh[src],
        oneway=ways.oneway[src],
        road_class=ways.road_class[src],
    )


def _convert_coords(ways: Ways, system: str, report: RoadReport) -> None:
    s = _coords.normalise_system(system)
    if s != "wgs84":
        ways.lon, ways.lat = _coords.to_wgs84(ways.lon, ways.lat, s)
        report.source_crs += f" ({s.upper()}, converted to WGS84)"


def network_from_ways(ways: Ways, report: RoadReport, crs=None, keep_largest: bool = True) -> Network:
    """Split ways at junctions into links and build the network in a metric CRS."""
    if ways.refs.size == 0:
        raise InputError("no usable road lines", path=report.source)
    report.extent = (float(ways.lon.min()), float(ways.lat.min()), float(ways.lon.max()), float(ways.lat.max()))
    if crs is None:
        crs = utm_crs(float(np.mean(ways.lon)), float(np.mean(ways.lat)))
    crs = pyproj.CRS.from_user_input(crs)
    log.info("building the network from %s ways (%s node positions)", f"{ways.n_ways:,}", f"{ways.refs.size:,}")
    bar = tqdm(total=4, desc="building network", unit="step", disable=None)
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tf.transform(ways.lon, ways.lat)
    bar.update()
    x = np.asarray(x)
    y = np.asarray(y)
    n_pos = ways.refs.size
    n_ways = ways.way_start.size - 1
    way_of = np.repeat(np.arange(n_ways), np.diff(ways.way_start))

    # a position is a junction when its ref occurs more than once (one stable sort: 3x faster than np.unique with
    # inverse and counts at 5.7M refs)
    order = np.argsort(ways.refs, kind="stable")
    ref_sorted = ways.refs[order]
    dup = ref_sorted[1:] == ref_sorted[:-1]
    shared = np.zeros(n_pos, dtype=bool)
    shared[1:] |= dup
    shared[:-1] |= dup
    is_break = np.empty(n_pos, dtype=bool)
    is_break[order] = shared
    del order, ref_sorted, dup, shared
    is_break[ways.way_start[:-1]] = True
    is_break[ways.way_start[1:] - 1] = True
    brk = np.flatnonzero(is_break)
    same = way_of[brk[:-1]] == way_of[brk[1:]]
    a = brk[:-1][same]
    b = brk[1:][same]

    seg = np.zeros(n_pos)
    seg[1:] = np.hypot(np.diff(x), np.diff(y))
    cum = np.cumsum(seg)
    length = cum[b] - cum[a]

    node_refs = unique(ways.refs[brk])
    u = np.searchsorted(node_refs, ways.refs[a])
    v = np.searchsorted(node_refs, ways.refs[b])
    w_of = way_of[a]
    mpm = ways.kmh[w_of] * 1000.0 / 60.0
    minutes = length / mpm
    ow = ways.oneway[w_of]
    fwd = np.where(ow >= 0, minutes, np.inf)
    bwd = np.where(ow <= 0, minutes, np.inf)

    npts = b - a + 1
    link_of_pt = np.repeat(np.arange(a.size), npts)
    starts = np.repeat(a - np.concatenate([[0], np.cumsum(npts)[:-1]]), npts)
    pidx = np.arange(npts.sum()) + starts

    first_pos = np.zeros(node_refs.size, dtype=np.int64)
    first_pos[np.searchsorted(node_refs, ways.refs[brk])] = brk
    nx, ny = x[first_pos], y[first_pos]
    road_class = ways.road_class[w_of]

    bar.update()
    if keep_largest and node_refs.size:
        keep_node = _largest_scc(node_refs.size, u, v, fwd, bwd)
        keep_link = keep_node[u] & keep_node[v]
        report.dropped_links = int((~keep_link).sum())
        report.dropped_km = float(length[~keep_link].sum() / 1000.0)
        if report.dropped_links:
            report.warnings.append(
                f"dropped {report.dropped_links:,} links ({report.dropped_km:,.1f} km) outside the largest "
                "strongly connected road component"
            )
        new_id = np.cumsum(keep_node) - 1
        u, v = new_id[u[keep_link]], new_id[v[keep_link]]
        fwd, bwd, length = fwd[keep_link], bwd[keep_link], length[keep_link]
        road_class = road_class[keep_link]
        keep_pt = keep_link[link_of_pt]
        pidx, link_of_pt = pidx[keep_pt], new_link_id(keep_link)[link_of_pt[keep_pt]]
        node_refs, nx, ny = node_refs[keep_node], nx[keep_node], ny[keep_node]
    bar.update()
    report.nodes = int(node_refs.size)
    report.links = int(u.size)
    report.oneway_links = int((~np.isfinite(fwd) | ~np.isfinite(bwd)).sum())
    report.kept_km = float(length.sum() / 1000.0)
    log.info(
        "%s: %s nodes, %s links, %.0f km of road",
        report.source,
        f"{report.nodes:,}",
        f"{report.links:,}",
        report.kept_km,
    )
    net = Network(
        node_refs.size,
        u,
        v,
        fwd,
        bwd,
        x=nx,
        y=ny,
        link_coords=(np.column_stack([x[pidx], y[pidx]]), link_of_pt),
        crs=crs,
        node_ids=node_refs,
        link_class=road_class,
    )
    net.report = report
    bar.update()
    bar.close()
    return net


def new_link_id(keep: np.ndarray) -> np.ndarray:
    """Old link index -> index among the kept links."""
    return np.cumsum(keep) - 1


def _largest_scc(n, u, v, fwd, bwd) -> np.ndarray:
    f = np.isfinite(fwd)
    r = np.isfinite(bwd)
    tail = np.concatenate([u[f], v[r]])
    head = np.concatenate([v[f], u[r]])
    g = coo_matrix((np.ones(tail.size), (tail, head)), shape=(n, n)).tocsr()
    _, lab = connected_components(g, directed=True, connection="strong")
    return lab == np.bincount(lab).argmax()


def read_osm(path: str | Path, profile: str | dict = "drive", crs=None, speeds=None, coords="wgs84") -> Network:
    """Read an OSM ``.osm.pbf`` or ``.osm`` XML file into a network (largest strongly connected part)."""
    ways, report = read_osm_ways(path, profile, speeds=speeds, coords=coords)
    return network_from_ways(ways, report, crs=crs)


def road_kind(path: str | Path) -> str:
    """``"osm"``, ``"graphml"`` or ``"lines"`` from the file name, or ``""`` if unsupported."""
    name = Path(path).name.lower()
    if name.endswith(OSM_SUFFIXES):
        return "osm"
    if name.endswith(GRAPHML_SUFFIXES):
        return "graphml"
    if name.endswith(LINE_SUFFIXES) or Path(path).is_dir():  # a folder may be a Shapefile / FileGDB set
        return "lines"
    return ""


def read_roads(
    path: str | Path,
    profile: str | dict = "drive",
    crs=None,
    class_field: str | None = None,
    speed_field: str | None = None,
    *,
    oneway_field: str | None = None,
    source_crs=None,
    coords: str = "wgs84",
    snap_m: float = 0.0,
    speeds: dict | None = None,
    layer: str | None = None,
) -> Network:
    """Any supported road source -> Network (the largest strongly connected part, in a metric CRS).

    Parameters
    ----------
    path
        OSM ``.osm.pbf`` / ``.osm``; osmnx ``.graphml``; or a line layer (``.gpkg``, ``.shp``,
        ``.geojson``, ``.geojson.gz``, ...).
    profile
        ``"drive"`` or ``"walk"``, or a class -> km/h dict.
    crs
        The network's metric CRS (default: the UTM zone of the roads' centre). The *source* CRS is read
        from the file; ``source_crs`` names it for files that carry none.
    class_field, speed_field
        Line layers: the road class column (OSM ``highway`` values, 高速公路/国道/.../村道, G/S/X/Y/C route
        codes, 快速路/主干路/次干路/支路) and / or a numeric km/h column, which wins where valid.
        Found automatically when not given (``highway``, ``fclass``, ``class``, ``等级``, ... /
        ``speed``, ``maxspeed``, ...).
    oneway_field
        Line layers: one-way column (yes/no/-1, true/false, 双向/正向/反向); OSM exports' ``other_tags``
        hstore is read automatically.
    coords
        ``"wgs84"``, ``"gcj02"`` (Amap, Tencent) or ``"bd09"`` (Baidu): lon/lat are converted to WGS84.
    snap_m
        Line layers: join line ends that stop within this many metres of another road (near-misses).
    speeds
        Per-class km/h overrides or additions to the profile.
    layer
        Line layers: the layer to read from a multi-layer file.
    """
    p = Path(path)
    kind = road_kind(p)
    if kind == "osm":
        return read_osm(p, profile=profile, crs=crs, speeds=speeds, coords=coords)
    if kind == "graphml":
        from geoaccess.load.graphml import read_graphml

        return read_graphml(p, profile=profile, crs=crs, speeds=speeds, coords=coords)
    if kind == "lines":
        from geoaccess.load.lines import read_line_ways

        ways, report = read_line_ways(
            p,
            profile=profile,
            class_field=class_field,
            speed_field=speed_field,
            oneway_field=oneway_field,
            source_crs=source_crs,
            coords=coords,
            snap_m=snap_m,
            speeds=speeds,
            layer=layer,
        )
        return network_from_ways(ways, report, crs=crs)
    raise InputError(
        "unsupported road file type; use OpenStreetMap (.osm.pbf, .osm), osmnx GraphML (.graphml) or a "
        "line layer (.gpkg, .shp, .geojson)",
        path=p,
    )


def check_covers(network: Network, area, path) -> None:
    """An error naming the roads file when no junction of the network lies inside the study area.

    ``area`` is the counties' union in lon/lat. Roads elsewhere would snap every person and facility
    kilometres away and give confident but meaningless minutes.
    """
    if network.x is None or network.crs is None or network.n_nodes == 0:
        return
    import geopandas as gpd
    import shapely

    a = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(network.crs).iloc[0]
    shapely.prepare(a)
    if not shapely.contains_xy(a, network.x, network.y).any():
        w, s, e, n = shapely.bounds(area)
        raise InputError(
            f"no road of the network lies inside the study area (counties lon {w:.3f}..{e:.3f}, lat {s:.3f}..{n:.3f}); "
            "check that the roads file covers the counties, and its CRS / coords",
            path=path,
        )
