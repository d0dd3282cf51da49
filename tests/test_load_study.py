"""A study on real-world-shaped inputs end to end through ``Study.load`` and ``geoaccess info``."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString

from geoaccess import coords
from geoaccess.cli import main

LON0, LAT0, STEP = 112.50, 37.80, 0.01


def make_study(tmp_path):
    n = 5
    lines, cls = [], []
    for i in range(n):
        lines.append(LineString([(LON0 + j * STEP, LAT0 + i * STEP) for j in range(n)]))
        lines.append(LineString([(LON0 + i * STEP, LAT0 + j * STEP) for j in range(n)]))
        cls += ["县道", "乡道"]
    roads = gpd.GeoDataFrame({"等级": cls}, geometry=lines, crs="EPSG:4326").to_crs("EPSG:4547")
    roads.to_file(tmp_path / "roads.gpkg")
    box = shapely.box(LON0, LAT0, LON0 + (n - 1) * STEP, LAT0 + (n - 1) * STEP)
    halves = [
        shapely.box(LON0, LAT0, LON0 + 2 * STEP, LAT0 + 4 * STEP),
        shapely.box(LON0 + 2 * STEP, LAT0, *box.bounds[2:]),
    ]
    gpd.GeoDataFrame(
        {"code": ["140106", "140105"], "name": ["迎泽区", "小店区"]}, geometry=halves, crs="EPSG:4326"
    ).to_file(tmp_path / "counties.gpkg")
    glon, glat = coords.wgs84_to_gcj02(np.array([LON0 + 0.01, LON0 + 0.03]), np.array([LAT0 + 0.01, LAT0 + 0.02]))
    (tmp_path / "f.csv").write_text(
        "编号,机构名称,医院等级,床位,经度,纬度\n"
        f"H1,某区人民医院,二级甲等,300,{glon[0]:.8f},{glat[0]:.8f}\n"
        f"H2,某街道社区卫生服务中心,,20,{glon[1]:.8f},{glat[1]:.8f}\n",
        encoding="utf-8",
    )
    arr = np.full((40, 40), 10.0, dtype="float32")
    with rasterio.open(
        tmp_path / "pop.tif",
        "w",
        driver="GTiff",
        height=40,
        width=40,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(LON0, LAT0 + 0.04, 0.001, 0.001),
    ) as d:
        d.write(arr, 1)
    (tmp_path / "census.csv").write_text(
        "\ufeffCODE,NAME,POPU\n140106,迎泽区,1000\n140171,示范区,5\n", encoding="utf-8"
    )
    study = tmp_path / "study.toml"
    study.write_text(
        """
[study]
name = "t"
[inputs]
coords = "gcj02"
roads = { path = "roads.gpkg", class_field = "等级", coords = "wgs84" }
facilities = "f.csv"
population = "pop.tif"
census = "census.csv"
counties = { path = "counties.gpkg", code_field = "code", name_field = "name" }
""",
        encoding="utf-8",
    )
    return study


def test_study_load(tmp_path):
    from geoaccess import Study

    st = Study.from_file(make_study(tmp_path), output_root=tmp_path)
    inp = st.load()
    assert list(inp.facilities["tier"]) == ["county", "primary"]
    np.testing.assert_allclose(inp.facilities.geometry.x, [LON0 + 0.01, LON0 + 0.03], atol=1e-7)
    sums = inp.population.county_sums(len(inp.counties))
    code = list(inp.counties["county_code"])
    assert sums[code.index("140106")] == 1000
    assert inp.network.n_nodes == 25 and inp.network.report.source_crs == "EPSG:4547"
    assert any("140171" in w for w in inp.warnings)
    assert any("140105" in w and "no census row" in w for w in inp.warnings)


def test_info_command(tmp_path, capsys):
    assert main(["-q", "info", str(make_study(tmp_path))]) == 0
    out = capsys.readouterr().out
    for text in [
        "counties: 2",
        "facilities: 2",
        "county 1",
        "primary 1",
        "population:",
        "census:",
        "140171",
        "roads:",
        "EPSG:4547",
        "25 nodes",
        "dropped outside",
        "warnings (",
        "extent lon",
    ]:
        assert text in out, text


def test_info_bad_input_exit_code(tmp_path, capsys):
    study = make_study(tmp_path)
    (tmp_path / "f.csv").write_text("id,name,tier,beds,lon,lat\nA,a,county,1,37.8,112.5\n", encoding="utf-8")
    assert main(["-q", "info", str(study)]) == 2
    err = capsys.readouterr().err
    assert "f.csv" in err and "look swapped" in err
