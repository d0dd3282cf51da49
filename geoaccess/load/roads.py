"""Road inputs -> :class:`~geoaccess.network.Network`.

OSM PBF and XML are streamed with pyosmium (``with_locations``), so only drivable ways and their node
locations are held in memory. Ways are split at junctions (nodes shared by several ways) and at their
ends; each piece becomes a link with its geometry in a metric CRS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geoaccess.errors import InputError
from geoaccess.load.speeds import oneway_code, parse_maxspeed, profile_table
from geoaccess.network import Network

log = logging.getLogger(__name__)


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The UTM zone CRS (WGS84) containing a point: the metric CRS used for snapping and lengths."""
    zone = int((lon + 180) // 6) + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass
class RoadReport:
    """What the loader kept and dropped, for ``geoaccess info`` and the run log."""

    source: str
    ways_read: int = 0
    ways_used: int = 0
    nodes: int = 0
    links: int = 0
    dropped_links: int = 0
    dropped_km: float = 0.0
    kept_km: float = 0.0
    warnings: list[str] = field(default_factory=list)


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


def read_osm_ways(path: str | Path, profile: str | dict = "drive") -> tuple[Ways, RoadReport]:
    """Stream the drivable ways of an OSM PBF or XML file."""
    import osmium

    path = Path(path)
    if not path.exists():
        raise InputError("road file not found; check the roads path in the study file", path=path)
    speeds = profile_table(profile)
    report = RoadReport(source=str(path))
    refs: list[np.ndarray] = []
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    kmh, oneway, cls = [], [], []
    clipped = 0
    try:
        fp = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for w in fp:
            report.ways_read += 1
            tags = w.tags
            hw = tags.get("highway")
            base = speeds.get(hw)
            if base is None or tags.get("area") == "yes" or tags.get("access") in ("no", "private"):
                continue
            ms = parse_maxspeed(tags.get("maxspeed"))
            nodes = w.nodes
            if len(nodes) < 2:
                continue
            r = np.fromiter((n.ref for n in nodes), dtype=np.int64, count=len(nodes))
            xy = np.array([(n.lon, n.lat) if n.location.valid() else (np.nan, np.nan) for n in nodes])
            ok = ~np.isnan(xy[:, 0])
            if ok.all():
                runs = [(0, len(nodes))]
            else:
                # extracts clip ways at their border: keep each run of nodes the file does hold
                clipped += 1
                edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
                runs = [(s, e) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= 2]
            code = oneway_code(hw, tags.get("oneway"), tags.get("junction"))
            for s, e in runs:
                refs.append(r[s:e])
                lons.append(xy[s:e, 0])
                lats.append(xy[s:e, 1])
                kmh.append(ms if np.isfinite(ms) else base)
                oneway.append(code)
                cls.append(hw)
    except RuntimeError as exc:  # osmium raises RuntimeError for unreadable files
        raise InputError(
            f"cannot read as OpenStreetMap data ({exc}); is it a .osm.pbf or .osm file?", path=path
        ) from exc
    report.ways_used = len(refs)
    if clipped:
        report.warnings.append(
            f"{clipped:,} ways reference nodes missing from the file (clipped extract); kept the parts present"
        )
    if not refs:
        raise InputError(
            f"no drivable road ways found ({report.ways_read} ways with a highway tag read); "
            f"the profile knows these classes: {sorted(speeds)}",
            path=path,
        )
    lengths = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
    way_start = np.zeros(len(refs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=way_start[1:])
    ways = Ways(
        refs=np.concatenate(refs),
        lon=np.concatenate(lons),
        lat=np.concatenate(lats),
        way_start=way_start,
        kmh=np.asarray(kmh, dtype=np.float64),
        oneway=np.asarray(oneway, dtype=np.int8),
        road_class=np.asarray(cls, dtype=object),
    )
    return ways, report


def network_from_ways(ways: Ways, report: RoadReport, crs=None, keep_largest: bool = True) -> Network:
    """Split ways at junctions into links and build the network in a metric CRS."""
    if crs is None:
        crs = utm_crs(float(np.mean(ways.lon)), float(np.mean(ways.lat)))
    crs = pyproj.CRS.from_user_input(crs)
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tf.transform(ways.lon, ways.lat)
    x = np.asarray(x)
    y = np.asarray(y)
    n_pos = ways.refs.size
    n_ways = ways.way_start.size - 1
    way_of = np.repeat(np.arange(n_ways), np.diff(ways.way_start))

    uniq, inv, counts = np.unique(ways.refs, return_inverse=True, return_counts=True)
    is_break = counts[inv] >= 2
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

    node_refs = np.unique(ways.refs[brk])
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
    geometry = shapely.linestrings(x[pidx], y[pidx], indices=link_of_pt)

    first_pos = np.zeros(node_refs.size, dtype=np.int64)
    first_pos[np.searchsorted(node_refs, ways.refs[brk])] = brk
    nx, ny = x[first_pos], y[first_pos]
    road_class = ways.road_class[w_of]

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
        geometry, road_class = geometry[keep_link], road_class[keep_link]
        node_refs, nx, ny = node_refs[keep_node], nx[keep_node], ny[keep_node]
    report.nodes = int(node_refs.size)
    report.links = int(u.size)
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
        geometry=geometry,
        crs=crs,
        node_ids=node_refs,
        link_class=road_class,
    )
    net.report = report
    return net


def _largest_scc(n, u, v, fwd, bwd) -> np.ndarray:
    f = np.isfinite(fwd)
    r = np.isfinite(bwd)
    tail = np.concatenate([u[f], v[r]])
    head = np.concatenate([v[f], u[r]])
    g = coo_matrix((np.ones(tail.size), (tail, head)), shape=(n, n)).tocsr()
    _, lab = connected_components(g, directed=True, connection="strong")
    return lab == np.bincount(lab).argmax()


def read_osm(path: str | Path, profile: str | dict = "drive", crs=None) -> Network:
    """Read an OSM ``.osm.pbf`` or ``.osm`` XML file into a network (largest strongly connected part)."""
    ways, report = read_osm_ways(path, profile)
    return network_from_ways(ways, report, crs=crs)


def read_roads(path: str | Path, profile: str | dict = "drive", crs=None) -> Network:
    """Any supported road source -> Network. (OSM PBF / XML now; line layers and GraphML follow.)"""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.xml", ".osm.bz2", ".osm.gz")):
        return read_osm(p, profile=profile, crs=crs)
    raise InputError("unsupported road file type; use an OpenStreetMap .osm.pbf or .osm file", path=p)
