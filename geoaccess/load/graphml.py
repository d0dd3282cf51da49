"""osmnx graphs (in memory or GraphML files) -> :class:`~geoaccess.network.Network`.

Each directed osmnx edge becomes a one-way way from ``u`` to ``v`` along its geometry (osmnx stores both
directions of a two-way street as two edges). Speed: the edge's ``speed_kph`` if osmnx added one, else a
sane ``maxspeed``, else the profile's value for its ``highway`` class.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyproj

from geoaccess import coords as _coords
from geoaccess.errors import InputError
from geoaccess.load.roads import RoadReport, WayCollector, network_from_ways
from geoaccess.load.speeds import parse_maxspeed, profile_table
from geoaccess.network import Network


def _first(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        # GraphML written without osmnx's converters keeps lists as their repr
        inner = [v.strip(" '\"") for v in value[1:-1].split(",")]
        return inner[0] if inner else None
    return value


def graph_ways(graph, profile: str | dict = "drive", speeds: dict | None = None, coords: str = "wgs84", source=""):
    """Ways and a report from an osmnx ``MultiDiGraph``."""
    table = profile_table(profile, speeds)
    crs = pyproj.CRS.from_user_input(graph.graph.get("crs", "EPSG:4326"))
    report = RoadReport(source=str(source), kind="osmnx graph", source_crs=crs.to_string())
    to_ll = None
    if not crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    node_xy = {n: (float(d["x"]), float(d["y"])) for n, d in graph.nodes(data=True)}
    try:
        node_ids = {n: int(n) for n in node_xy}
    except (TypeError, ValueError):
        node_ids = {n: i for i, n in enumerate(node_xy)}
    next_ref = -1  # interior geometry points get negative refs, never shared
    out = WayCollector()
    ignored: Counter = Counter()
    for u, v, data in graph.edges(data=True):
        report.ways_read += 1
        hw = _first(data.get("highway"))
        kmh = np.nan
        for key in ("speed_kph",):
            try:
                kmh = float(data[key])
            except (KeyError, TypeError, ValueError):
                pass
        if not (np.isfinite(kmh) and kmh > 0):
            kmh = parse_maxspeed(_first(data.get("maxspeed")))
        if not np.isfinite(kmh):
            kmh = table.get(str(hw), np.nan) if hw is not None else np.nan
        if not np.isfinite(kmh):
            ignored[str(hw)] += 1
            continue
        geom = data.get("geometry")
        if geom is not None:
            xy = list(geom.coords)
            inner = xy[1:-1]
        else:
            inner = []
        pts = [node_xy[u], *inner, node_xy[v]]
        refs = [node_ids[u]]
        for _ in inner:
            refs.append(next_ref)
            next_ref -= 1
        refs.append(node_ids[v])
        x, y = zip(*pts, strict=False)
        out.add(refs, x, y, kmh, 1, str(hw))
    report.ways_used = len(out)
    report.ignored = dict(ignored)
    if not len(out):
        raise InputError(
            f"no usable road edges ({report.ways_read:,} edges; classes {dict(ignored)}); "
            "was the graph downloaded with network_type='drive'?",
            path=source or None,
        )
    ways = out.ways()
    if to_ll is not None:
        ways.lon, ways.lat = (np.asarray(a) for a in to_ll.transform(ways.lon, ways.lat))
    s = _coords.normalise_system(coords)
    if s != "wgs84":
        ways.lon, ways.lat = _coords.to_wgs84(ways.lon, ways.lat, s)
    return ways, report


def network_from_graph(graph, profile="drive", crs=None, speeds=None, coords="wgs84", source="") -> Network:
    """An osmnx ``MultiDiGraph`` -> Network (largest strongly connected part)."""
    ways, report = graph_ways(graph, profile, speeds, coords, source)
    return network_from_ways(ways, report, crs=crs)


def read_graphml(path: str | Path, profile="drive", crs=None, speeds=None, coords="wgs84") -> Network:
    """Read an osmnx GraphML file (``ox.save_graphml``) into a network."""
    import osmnx as ox

    path = Path(path)
    if not path.exists():
        raise InputError("road file not found; check the roads path in the study file", path=path)
    try:
        graph = ox.load_graphml(path)
    except Exception as exc:  # networkx / lxml raise many types for malformed XML
        raise InputError(f"cannot read as an osmnx GraphML file ({exc})", path=path) from exc
    return network_from_graph(graph, profile, crs, speeds, coords, source=path)
