"""``geoaccess fetch``: download roads and health POIs for a place or polygon through osmnx, and cache them.

Buffer, then trim (as osmnx's ``graph_from_polygon`` does): the area is widened by the distance a car
covers in the largest threshold at the top speed, so people near the border reach facilities beyond
it. Downloads land in ``<cache>/<key>/`` where the key hashes the buffered polygon and the settings, so
a second fetch of the same area reads the cache and needs no network.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely

from geoaccess.errors import InputError
from geoaccess.load.roads import utm_crs

log = logging.getLogger(__name__)

HEALTH_TAGS = {"amenity": ["hospital", "clinic", "doctors"], "healthcare": True}
POI_COLUMNS = ["osm_id", "name", "amenity", "healthcare", "beds", "geometry"]


@dataclass
class Fetched:
    """Where a fetch put its files."""

    folder: Path
    roads: Path
    facilities: Path
    area: Path
    cached: bool


def buffer_m(threshold_min: float, top_kmh: float) -> float:
    """Metres a car covers in ``threshold_min`` minutes at ``top_kmh``."""
    return float(threshold_min) / 60.0 * float(top_kmh) * 1000.0


def buffered(polygon, metres: float):
    """Buffer a lon/lat polygon by ``metres`` in its UTM zone; returns a lon/lat polygon."""
    c = polygon.centroid
    g = gpd.GeoSeries([polygon], crs="EPSG:4326").to_crs(utm_crs(c.x, c.y))
    return g.buffer(metres).to_crs("EPSG:4326").iloc[0]


def cache_folder(cache_dir: str | Path, polygon, network_type: str) -> Path:
    """The cache folder of a (buffered) polygon and network type: a short hash of both."""
    h = hashlib.sha256(shapely.to_wkb(shapely.normalize(shapely.set_precision(polygon, 1e-7))))
    h.update(network_type.encode())
    return Path(cache_dir) / h.hexdigest()[:16]


def area_polygon(place: str | None = None, polygon: str | Path | None = None):
    """The study area as one lon/lat polygon: geocoded by osmnx, or the union of a polygon file."""
    if (place is None) == (polygon is None):
        raise InputError("give either a place name or a polygon file")
    if polygon is not None:
        gdf = gpd.read_file(polygon)
        if gdf.crs is None:
            raise InputError("the polygon file has no CRS; add one (e.g. EPSG:4326)", path=polygon)
        return gdf.to_crs("EPSG:4326").union_all()
    import osmnx as ox

    return ox.geocode_to_gdf(place).to_crs("EPSG:4326").union_all()


def fetch(
    place: str | None = None,
    polygon=None,
    *,
    threshold_min: float = 120.0,
    top_kmh: float = 100.0,
    cache_dir: str | Path = "cache/osm",
    network_type: str = "drive",
    refresh: bool = False,
) -> Fetched:
    """Download (or reuse) roads as GraphML and health POIs as a GeoPackage for an area.

    Parameters
    ----------
    place
        A name osmnx can geocode, e.g. ``"太原市, 山西省, 中国"``.
    polygon
        A polygon file path, or a shapely polygon in lon/lat, instead of ``place``.
    threshold_min, top_kmh
        The buffer is ``threshold_min / 60 * top_kmh`` km (the largest tier threshold at the top speed).
    """
    import osmnx as ox

    area = polygon if isinstance(polygon, shapely.Geometry) else area_polygon(place, polygon)
    big = buffered(area, buffer_m(threshold_min, top_kmh))
    folder = cache_folder(cache_dir, big, network_type)
    roads, pois, area_file = folder / "roads.graphml", folder / "facilities.gpkg", folder / "area.geojson"
    if not refresh and roads.exists() and pois.exists():
        log.info("fetch: using the cache in %s", folder)
        return Fetched(folder, roads, pois, area_file, cached=True)
    folder.mkdir(parents=True, exist_ok=True)
    log.info(
        "fetch: downloading roads for %.0f km² (buffer %.0f km)", _km2(big), buffer_m(threshold_min, top_kmh) / 1e3
    )
    graph = ox.graph_from_polygon(big, network_type=network_type)
    tmp = roads.with_suffix(".tmp.graphml")
    ox.save_graphml(graph, tmp)
    tmp.replace(roads)
    log.info("fetch: downloading health POIs")
    feats = ox.features_from_polygon(big, tags=HEALTH_TAGS)
    write_pois(feats, pois)
    gpd.GeoDataFrame(
        {"buffer_m": [buffer_m(threshold_min, top_kmh)], "place": [place or ""]}, geometry=[area], crs="EPSG:4326"
    ).to_file(area_file, driver="GeoJSON")
    (folder / "fetch.json").write_text(
        json.dumps(
            {"place": place, "threshold_min": threshold_min, "top_kmh": top_kmh, "network_type": network_type},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    return Fetched(folder, roads, pois, area_file, cached=False)


def write_pois(features: gpd.GeoDataFrame, path: Path) -> Path:
    """Health POIs from ``ox.features_from_polygon`` as points (area centroids) with their tags."""
    f = features.reset_index()
    f["osm_id"] = f.get("element", f.get("element_type", "")).astype(str) + "/" + f["id"].astype(str)
    for col in POI_COLUMNS:
        if col not in f.columns:
            f[col] = None
    f = gpd.GeoDataFrame(f[POI_COLUMNS], geometry="geometry", crs=features.crs or "EPSG:4326")
    c = f.to_crs(utm_crs(*f.union_all().centroid.coords[0])).geometry.representative_point()
    f["geometry"] = c.to_crs(f.crs).values
    for col in POI_COLUMNS[:-1]:
        f[col] = f[col].astype(object).where(f[col].notna(), None).astype(str).replace("None", "")
    tmp = path.with_suffix(".tmp.gpkg")
    f.to_file(tmp, driver="GPKG")
    tmp.replace(path)
    return path


def _km2(polygon) -> float:
    c = polygon.centroid
    return float(gpd.GeoSeries([polygon], crs="EPSG:4326").to_crs(utm_crs(c.x, c.y)).area.iloc[0]) / 1e6
