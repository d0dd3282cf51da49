"""Files planners open outside the browser: CSV for Excel/WPS, the workbook, the GeoPackage, the codebook."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import MultiPolygon, Point, box

from geoaccess.config import Tier
from geoaccess.outputs import tables
from geoaccess.outputs._atomic import whole_counts, write_csv

openpyxl = pytest.importorskip("openpyxl")

TIERS = (Tier("primary", 15.0, 0.9), Tier("county", 60.0, 0.9))


def county_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "county_code": ["140105", "140106"],
            "county_name": ["小店区", "=1+1县"],
            "population": [1139798, 20],
            "primary_share_within": [0.9809, 0.5],
            "primary_people_beyond": [21780.0, 10.0],
            "primary_median_min": [3.14514, np.nan],
            "county_unreachable": [0.0, np.nan],
            "beds_per_1000": [0.8001, 7.5],
            "zone": ["enrich", "priority"],
        }
    )


def test_csv_has_a_bom_and_whole_counts_as_integers(tmp_path):
    frame = county_table()
    frame["fractional_people"] = [1.5, 2.0]  # a count with a fraction stays as it is
    p = write_csv(frame, tmp_path / "c.csv", float_format="%.4f")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "21780," in text and "21780.0000" not in text
    assert "1.5000" in text
    assert "'=1+1县" in text  # formula-safe text
    back = pd.read_csv(p, dtype={"county_code": str})
    assert list(back.columns) == list(frame.columns)
    assert back["county_name"][0] == "小店区"
    # values are unchanged, only their format
    assert back["primary_people_beyond"].tolist() == [21780, 10]
    assert back["county_unreachable"].isna().tolist() == [False, True]
    assert back["primary_median_min"][0] == pytest.approx(3.1451)


def test_whole_counts_leaves_fractions_and_non_counts_alone():
    f = pd.DataFrame({"people_beyond": [1.0, 2.5], "beds": [3.0, 4.0], "mean_min": [1.0, 2.0]})
    out = whole_counts(f)
    assert out["people_beyond"].dtype == float
    assert out["beds"].dtype == np.int64
    assert out["mean_min"].dtype == float
    assert f["beds"].dtype == float  # the input frame is not changed


def test_codebook_labels_every_column_in_both_languages():
    book = tables.codebook({"counties": county_table()}, "zh", TIERS)
    assert list(book["key"]) == list(county_table().columns)
    lab = dict(zip(book["key"], book["label"], strict=True))
    assert lab["primary_share_within"] == "基层医疗 标准时间内人口比例"
    assert lab["county_name"] == "区县"
    en = dict(zip(book["key"], book["label_en"], strict=True))
    assert en["primary_people_beyond"] == "primary care people beyond"


def test_xlsx_sheets_headers_formats_and_text(tmp_path):
    fac = pd.DataFrame({"id": ["F1"], "name": ["@SUM(A1)医院"], "beds": [120.0], "lon": [112.5], "lat": [37.8]})
    p = tables.write_xlsx(tmp_path / "t.xlsx", {"counties": county_table(), "facilities": fac}, "zh", TIERS)
    wb = openpyxl.load_workbook(p)
    assert wb.sheetnames == ["区县", "医疗机构", "字段说明"]
    ws = wb["区县"]
    assert ws.freeze_panes == "C3"
    header = [c.value for c in ws[1]]
    keys = [c.value for c in ws[2]]
    assert keys == list(county_table().columns)
    assert header[1] == "区县" and header[3] == "基层医疗 标准时间内人口比例"
    row = {k: c for k, c in zip(keys, ws[4], strict=True)}
    assert row["county_name"].value == "=1+1县" and row["county_name"].data_type == "s"
    assert row["population"].value == 20 and row["population"].number_format == "#,##0"
    assert row["primary_share_within"].number_format == "0.0%"
    assert row["primary_median_min"].value is None  # NaN is an empty cell
    assert ws.column_dimensions["B"].width >= 8
    f = wb["医疗机构"]
    assert f.cell(3, 2).value == "@SUM(A1)医院" and f.cell(3, 2).data_type == "s"
    assert f.cell(3, 3).value == 120 and isinstance(f.cell(3, 3).value, int)


def test_xlsx_leaves_out_tables_too_long_for_a_workbook(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "XLSX_MAX_ROWS", 2)
    fac = pd.DataFrame({"id": ["F1", "F2", "F3"], "beds": [1.0, 2.0, 3.0]})
    p = tables.write_xlsx(tmp_path / "t.xlsx", {"counties": county_table(), "facilities": fac}, "en", TIERS)
    ws = openpyxl.load_workbook(p)["facilities"]
    assert ws.max_row == 1 and "3 rows" in ws.cell(1, 1).value and "facilities.csv" in ws.cell(1, 1).value


def test_gpkg_layers(tmp_path):
    counties = gpd.GeoDataFrame(
        {"county_code": ["140105", "140106"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326"
    )
    fac = pd.DataFrame(
        {"id": ["F1", "F2"], "name": ["甲", "乙"], "beds": [10.0, np.nan], "lon": [0.5, 1.5], "lat": [0.5, 0.5]}
    )
    ref = pd.DataFrame(
        {
            "from_id": ["F1", "F2"],
            "to_id": ["F2", ""],
            "minutes": [12.5, np.nan],
            "from_lon": [0.5, 1.5],
            "from_lat": [0.5, 0.5],
            "to_lon": [1.5, np.nan],  # no facility of the next tier: no line
            "to_lat": [0.5, np.nan],
        }
    )
    areas = pd.DataFrame(
        {"tier": ["primary"], "minutes": [15.0], "threshold_min": [15.0], "people": [12.0], "area_km2": [1.5]}
    ).assign(geometry=[Point(0.5, 0.5).buffer(0.2)])
    two = MultiPolygon([box(0, 0, 0.4, 1), box(0.6, 0, 1, 1)])
    catchments = pd.DataFrame(
        {"tier": "primary", "facility_id": ["F1", "F2"], "facility_name": ["甲", "乙"], "people": [3.0, 4.0]}
    ).assign(geometry=[two, box(1, 0, 2, 1)])
    p = tables.write_gpkg(
        tmp_path / "g.gpkg", counties=counties, table=county_table(), facilities=fac, referrals=ref,
        service_areas=areas, catchments=catchments,
    )  # fmt: skip
    layers = dict(pyogrio.list_layers(p))
    assert layers == {
        "counties": "Polygon",
        "facilities": "Point",
        "referrals": "LineString",
        "service_areas": "MultiPolygon",  # one geometry type a layer
        "catchments": "MultiPolygon",
    }
    for name in ("service_areas", "catchments"):
        assert pyogrio.read_info(p, layer=name)["crs"] == "EPSG:4326"
    c = gpd.read_file(p, layer="counties")
    assert c.crs.to_epsg() == 4326
    assert c["county_name"].tolist() == ["小店区", "=1+1县"]
    assert c.geometry[1].equals(box(1, 0, 2, 1))
    r = gpd.read_file(p, layer="referrals")
    assert list(r.geometry[0].coords) == [(0.5, 0.5), (1.5, 0.5)]
    assert r.geometry[1] is None
    assert gpd.read_file(p, layer="service_areas")["people"].tolist() == [12]
    c = gpd.read_file(p, layer="catchments")
    assert c["facility_name"].tolist() == ["甲", "乙"] and c.geometry[0].equals(two)
