"""Files planners open outside the browser: CSV for Excel / WPS, one workbook, one GeoPackage, a codebook.

- CSV files are UTF-8 **with** a byte-order mark, so Excel and WPS on Chinese Windows read the Chinese
  names; counts of people and beds that are whole numbers are written as integers (``79653``, not
  ``79653.0000``); headers stay the stable English keys, and ``codebook.csv`` gives each key's label in
  the study's language and in English.
- ``counties.xlsx``: one sheet per table (counties, facilities, referrals, whole area, codebook), each with
  a header row in the study's language above the English key row, both frozen, columns sized to their
  contents, shares as percentages and counts with thousands separators. Text is always stored as text,
  so a name starting with ``=`` is never a formula.
- ``geoaccess.gpkg`` for QGIS / ArcGIS: ``counties`` (polygons with the county table), ``facilities``
  (points with their results), ``referrals`` (a line per referral link), ``service_areas`` (per tier and
  band minutes, the land within them over the network and the walking leg) and ``catchments`` (per tier, each
  facility's land: where it is the nearest), all in WGS84 (EPSG:4326); see :mod:`geoaccess.areas`.
"""

from __future__ import annotations

import math
import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from geoaccess.outputs import i18n
from geoaccess.outputs._atomic import atomic_path, is_count_column, whole_counts

XLSX = "counties.xlsx"
#: tables longer than this stay out of the workbook (their CSV and the GeoPackage hold them); a province's
#: facilities (about 20,000) fit
XLSX_MAX_ROWS = 100_000
GPKG = "geoaccess.gpkg"
CODEBOOK = "codebook.csv"

# -- labels ---------------------------------------------------------------------------------------------
_EXTRA_LABELS = {
    "id": ("编号", "id"),
    "name": ("名称", "name"),
    "tier": ("层级", "tier"),
    "type": ("类型", "type"),
    "lon": ("经度", "longitude"),
    "lat": ("纬度", "latitude"),
    "level": ("转诊级别", "referral level"),
    "referral_to": ("转诊至（编号）", "referral to (id)"),
    "referral_minutes": ("转诊时间（分钟）", "referral minutes"),
    "nearest_people": ("以其为最近机构的人口", "people for whom it is nearest"),
    "capacity": ("容量（可服务人口）", "capacity (people it can serve)"),
    "catchment": ("服务人口（按容量分配）", "people served (capacity-limited)"),
    "assigned_people": ("分配人口", "people assigned"),
    "served": ("按容量获得服务的人口", "people served within capacity"),
    "unserved": ("超出容量未获服务的人口", "people beyond capacity"),
    "unserved_share": ("超出容量人口比例", "share beyond capacity"),
    "p10_min": ("10%人口时间（分钟）", "p10 min"),
    "p25_min": ("25%人口时间（分钟）", "p25 min"),
    "p75_min": ("75%人口时间（分钟）", "p75 min"),
    "within_county_status": ("县域内就诊达标情况", "within-county status"),
    "referral_links": ("转诊链路数", "referral links"),
    "referral_links_over": ("超时转诊链路数", "referral links over threshold"),
    "accessible_beds_2sfca_per_1000": ("每千人可及床位（2SFCA）", "accessible beds per 1000 (2SFCA)"),
    "accessible_beds_gaussian_per_1000": ("每千人可及床位（高斯）", "accessible beds per 1000 (Gaussian)"),
    "accessible_beds_gravity_per_1000": ("每千人可及床位（重力）", "accessible beds per 1000 (gravity)"),
    "from_id": ("起点编号", "from id"),
    "from_name": ("起点名称", "from name"),
    "from_level": ("起点级别", "from level"),
    "from_county_code": ("起点区县代码", "from county code"),
    "to_id": ("终点编号", "to id"),
    "to_name": ("终点名称", "to name"),
    "to_level": ("终点级别", "to level"),
    "to_county_code": ("终点区县代码", "to county code"),
    "minutes": ("时间（分钟）", "minutes"),
    "threshold_min": ("标准时间（分钟）", "threshold (min)"),
    "over_threshold": ("是否超时", "over threshold"),
    "from_lon": ("起点经度", "from longitude"),
    "from_lat": ("起点纬度", "from latitude"),
    "to_lon": ("终点经度", "to longitude"),
    "to_lat": ("终点纬度", "to latitude"),
}


def label(col: str, lang: str, tiers=()) -> str:
    """A column key's header in ``lang`` (``primary_share_within`` -> ``基层医疗 标准时间内人口比例``)."""
    names = [t.name for t in tiers]
    # exact keys first: "county_name" is not the county tier's "name"
    if col in _EXTRA_LABELS:
        return _EXTRA_LABELS[col][0 if lang == "zh" else 1]
    if col in i18n.COLUMN_LABELS:
        return i18n.column_label(col, lang, names)
    for t in tiers:
        if col.startswith(t.name + "_"):
            rest = col[len(t.name) + 1 :]
            tl = i18n.tier_label(t.name, lang, t.label)
            if rest.startswith("reached_") and rest.endswith("min"):
                m = rest[len("reached_") : -3]
                return f"{tl} " + (f"{m}分钟内人口" if lang == "zh" else f"people within {m} min")
            return f"{tl} {label(rest, lang)}"
    return col.replace("_", " ")


def codebook(tables: dict[str, pd.DataFrame], lang: str, tiers=()) -> pd.DataFrame:
    """One row per column of each table: file, key, label in the study's language, label in English."""
    rows = []
    for name, frame in tables.items():
        for col in frame.columns:
            rows.append(
                {
                    "table": name,
                    "key": col,
                    "label": label(str(col), lang, tiers),
                    "label_en": label(str(col), "en", tiers),
                }
            )
    return pd.DataFrame(rows, columns=["table", "key", "label", "label_en"])


SHEET_NAMES = {
    "counties": ("区县", "counties"),
    "facilities": ("医疗机构", "facilities"),
    "referrals": ("转诊链路", "referrals"),
    "overall": ("全域", "whole area"),
    "codebook": ("字段说明", "codebook"),
}


# -- the workbook ----------------------------------------------------------------------------------------
def _width(text: str) -> int:
    """Display width: East Asian wide characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _number_format(col: str) -> str | None:
    if "share" in col or "coverage" in col:
        return "0.0%"
    if is_count_column(col):
        return "#,##0"
    if col.endswith("_min") or "minutes" in col:
        return "0.0"
    if "per_1000" in col:
        return "0.00"
    if col.endswith("gini"):
        return "0.000"
    return None


def _cell_value(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    return v


def _widths(frame: pd.DataFrame, labels: list[str], cols: list[str], sample: int = 500) -> list[int]:
    """Column widths (characters) from the headers and the first ``sample`` rows."""
    out = []
    for lab, col in zip(labels, cols, strict=True):
        w = max(_width(lab) // 2 + 2, min(_width(col), 24))
        for v in frame[col].iloc[:sample]:
            v = _cell_value(v)
            if isinstance(v, str):
                w = max(w, min(_width(v) + 2, 60))
            elif v is not None:
                w = max(w, min(len(f"{v:,.1f}" if isinstance(v, float) else f"{v:,}") + 2, 20))
        out.append(max(8, min(w, 60)))
    return out


def write_xlsx(path: str | Path, tables: dict[str, pd.DataFrame], lang: str, tiers=()) -> Path:
    """``tables`` (name -> frame) as one formatted workbook, a sheet per table plus the codebook.

    Row 1 holds the headers in ``lang``, row 2 the English keys (grey); both are frozen, as are the code
    and name columns of the county sheet. Written in openpyxl's streaming mode: 30,000 facilities take
    seconds, not minutes.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    tables = {k: v for k, v in tables.items() if v is not None}
    tables["codebook"] = codebook(tables, lang, tiers)
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    grey = Font(color="808080", size=9)
    fill = PatternFill("solid", fgColor="F2F2F2")
    wrap = Alignment(wrap_text=True, vertical="top")
    for name, frame in tables.items():
        title = SHEET_NAMES.get(name, (name, name))[0 if lang == "zh" else 1][:31]
        ws = wb.create_sheet(title)
        if len(frame) > XLSX_MAX_ROWS:  # a country's 700,000 facilities: minutes to write, unwieldy to open
            csv = f"{name}.csv"
            ws.append([f"{len(frame):,} 行，超过工作簿的 {XLSX_MAX_ROWS:,} 行上限：请打开 {csv} 或 geoaccess.gpkg"
                       if lang == "zh" else f"{len(frame):,} rows, more than a workbook's {XLSX_MAX_ROWS:,}-row "
                       f"limit here: open {csv} or geoaccess.gpkg"])  # fmt: skip
            continue
        frame = whole_counts(frame)
        cols = [str(c) for c in frame.columns]
        labels = [label(c, lang, tiers) if name != "codebook" else c for c in cols]
        for j, w in enumerate(_widths(frame, labels, cols)):
            ws.column_dimensions[get_column_letter(j + 1)].width = w
        ws.freeze_panes = "C3" if name == "counties" and len(cols) > 2 else "A3"
        ws.auto_filter.ref = f"A2:{get_column_letter(len(cols))}{len(frame) + 2}"
        head = []
        for lab in labels:
            c = WriteOnlyCell(ws, lab)
            c.font, c.fill, c.alignment = bold, fill, wrap
            head.append(c)
        ws.append(head)
        keys = []
        for col in cols:
            c = WriteOnlyCell(ws, col)
            c.font = grey
            keys.append(c)
        ws.append(keys)
        formats = [_number_format(c) for c in cols]
        for row in frame.itertuples(index=False, name=None):
            out = []
            for v, fmt in zip(row, formats, strict=True):
                v = _cell_value(v)
                if isinstance(v, str):
                    c = WriteOnlyCell(ws, v)
                    c.data_type = "s"  # text stays text: "=1+1" is a name, not a formula
                elif fmt and v is not None and not isinstance(v, bool):
                    c = WriteOnlyCell(ws, v)
                    c.number_format = fmt
                else:
                    c = v
                out.append(c)
            ws.append(out)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)


# -- the GeoPackage --------------------------------------------------------------------------------------
def _gis_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns with gaps as floats (every GIS reads those), the rest as they are."""
    frame = whole_counts(frame)
    for col in frame.columns:
        if str(frame[col].dtype) == "Int64":
            frame[col] = frame[col].astype(float)
    return frame


def _as_multi(geoms) -> list:
    """Polygons as one-part MultiPolygons, so a layer holds one geometry type."""
    import shapely

    return [shapely.MultiPolygon([g]) if isinstance(g, shapely.Polygon) else g for g in geoms]


def write_gpkg(
    path: str | Path,
    *,
    counties,
    table: pd.DataFrame,
    facilities: pd.DataFrame | None = None,
    referrals: pd.DataFrame | None = None,
    service_areas: pd.DataFrame | None = None,
    catchments: pd.DataFrame | None = None,
) -> Path:
    """Write ``geoaccess.gpkg``: counties with the county table, facilities, referral lines, service areas and
    catchments.

    ``counties`` is the study's county GeoDataFrame (``county_code`` and geometry); ``facilities`` and
    ``referrals`` are the tables of the CSV files (with ``lon``/``lat``, and ``from_``/``to_`` coordinates);
    ``service_areas`` and ``catchments`` are the tables of :meth:`geoaccess.areas.Areas.service_areas` and
    :meth:`~geoaccess.areas.Areas.catchments`, with a ``geometry`` column of shapely polygons in WGS84.
    """
    import geopandas as gpd
    import shapely

    key = table["county_code"].astype(str)
    geo = counties[["county_code", "geometry"]].to_crs("EPSG:4326")
    geom = dict(zip(geo["county_code"].astype(str), geo.geometry, strict=True))
    layers = {
        "counties": gpd.GeoDataFrame(_gis_frame(table), geometry=[geom.get(k) for k in key], crs="EPSG:4326"),
    }
    if facilities is not None and len(facilities):
        f = _gis_frame(facilities)
        layers["facilities"] = gpd.GeoDataFrame(f, geometry=gpd.points_from_xy(f["lon"], f["lat"]), crs="EPSG:4326")
    if referrals is not None and len(referrals):
        r = _gis_frame(referrals)
        coords = np.stack(
            [r[["from_lon", "from_lat"]].to_numpy(float), r[["to_lon", "to_lat"]].to_numpy(float)], axis=1
        )
        ok = np.isfinite(coords).all(axis=(1, 2))  # a link to a tier no facility serves has no far end
        lines = np.full(len(r), None, dtype=object)
        lines[ok] = shapely.linestrings(coords[ok])
        layers["referrals"] = gpd.GeoDataFrame(r, geometry=lines, crs="EPSG:4326")
    for name, frame in (("service_areas", service_areas), ("catchments", catchments)):
        if frame is not None and len(frame):
            # one geometry type per layer: GIS tools draw a layer of mixed Polygon / MultiPolygon poorly
            layers[name] = gpd.GeoDataFrame(
                _gis_frame(frame.drop(columns="geometry")), geometry=_as_multi(frame["geometry"]), crs="EPSG:4326"
            )
    with atomic_path(path) as tmp:
        os.unlink(tmp)  # the GeoPackage driver creates the file itself
        for name, layer in layers.items():
            layer.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return Path(path)
