"""Synthetic regions: real polygons and census totals, generated people, roads and facilities."""

from __future__ import annotations

import csv
import hashlib
import tomllib
from pathlib import Path

import numpy as np
import pytest

from geoaccess.cli import main
from geoaccess.errors import InputError
from geoaccess.load import builtin_counties
from geoaccess.load.population import read_population
from geoaccess.load.roads import read_roads
from geoaccess.regions import build_region, census_2020, check_memory, plan_region, study_text
from geoaccess.study import Study

COUNTY = "140123"  # 娄烦县: one small rural county (91,208 people in 2020)
CELL_M = 500.0


def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A repository-like root with the county built by the CLI (--build-only)."""
    root = tmp_path_factory.mktemp("regions")
    assert main(["-q", "demo", "--root", str(root), "--region", COUNTY, "--cell-m", str(CELL_M), "--build-only"]) == 0
    return root


@pytest.fixture(scope="module")
def data(root) -> Path:
    return root / "data" / "regions" / COUNTY


@pytest.fixture(scope="module")
def facilities(data) -> list[dict]:
    with open(data / "facilities.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_census_package_file():
    df = census_2020()
    assert len(df) == 2990
    assert df["adcode"].str.fullmatch(r"\d{6}").all() and df["adcode"].is_unique
    assert df.loc[df["adcode"] == "350527", "people"].isna().all()  # the one empty POPU upstream
    shanxi = df[df["adcode"].str.startswith("14")]
    assert int(shanxi["people"].sum()) == 34_915_616
    assert int(df.loc[df["adcode"] == COUNTY, "people"].iloc[0]) == 91_208


def test_files_and_study(root, data):
    for name in ("roads.osm.pbf", "facilities.csv", "population.tif", "census.csv", "README.txt"):
        assert (data / name).stat().st_size > 0
    study = tomllib.loads((root / "data" / "studies" / f"region-{COUNTY}.toml").read_text(encoding="utf-8"))
    assert study["study"]["name"] == f"region-{COUNTY}" and study["study"]["synthetic"] is True
    # the note is shown on every page, in the study's language (Chinese for adcodes)
    assert "合成区域" in study["study"]["note"] and "普查" in study["study"]["note"]
    assert "合成数据区域" in study["study"]["title"]
    assert study["inputs"]["counties"] == {"adcode": [COUNTY]}
    assert "SYNTHETIC" in (data / "README.txt").read_text(encoding="utf-8")


def test_census_totals_exact_through_the_study(root, data):
    counties = builtin_counties(COUNTY)
    # the raster itself, without any census rescaling, sums to the census by the cell-centre rule
    pop = read_population(data / "population.tif", counties)
    cen = census_2020().set_index("adcode")["people"]
    assert pop.county_sums(len(counties)).tolist() == [float(cen[c]) for c in counties["county_code"]]
    assert np.all(pop.people == np.round(pop.people)) and pop.outside_people == 0
    inputs = Study.from_file(root / "data" / "studies" / f"region-{COUNTY}.toml", output_root=root).load()
    assert inputs.population.county_sums(len(counties)).tolist() == [91_208.0]
    assert inputs.population.census.matched == 1


def test_census_units_without_polygon_are_reported(tmp_path):
    plan = plan_region("1401", cell_m=2000)
    assert [c for c, _, _ in plan.unmatched] == ["140171"]
    got = build_region("1401", tmp_path, cell_m=2000, plan=plan)
    assert any("140171" in p for p in got["problems"])
    assert "140171 山西转型综合改革示范区" in (tmp_path / "README.txt").read_text(encoding="utf-8")
    assert "普查单位 140171 山西转型综合改革示范区无区县边界" in study_text(plan, 2020, got["problems"])
    # every county with polygon still gets exactly its census total at a coarse grid
    pop = read_population(tmp_path / "population.tif", plan.counties)
    cen = census_2020().set_index("adcode")["people"]
    assert pop.county_sums(len(plan.counties)).tolist() == [float(cen[c]) for c in plan.counties["county_code"]]


def test_same_seed_same_bytes(tmp_path, data):
    build_region(COUNTY, tmp_path / "a", cell_m=CELL_M, seed=2020)
    assert _sha(tmp_path / "a") == _sha(data)
    build_region(COUNTY, tmp_path / "b", cell_m=CELL_M, seed=7)
    other = _sha(tmp_path / "b")
    assert other["roads.osm.pbf"] != _sha(data)["roads.osm.pbf"]
    assert other["population.tif"] != _sha(data)["population.tif"]


@pytest.mark.parametrize(
    ("region", "words"),
    [
        ("1499", ["'1499'", "1401 太原市", "1411 吕梁市"]),
        ("99", ["'99'", "14 山西省", "63 青海省"]),
        ("140199", ["'140199'", "140123 娄烦县"]),
        ("14x", ["'14x'", "not a 2-6 digit"]),
        ("1234567", ["'1234567'", "not a 2-6 digit"]),
        ("1401,1499,98", ["'1499'", "'98'"]),
    ],
)
def test_bad_prefixes(region, words):
    with pytest.raises(InputError) as exc:
        plan_region(region)
    for w in words:
        assert w in str(exc.value)


def test_bad_prefix_on_the_command_line(tmp_path, capsys):
    assert main(["demo", "--root", str(tmp_path), "--region", "1499", "--build-only"]) == 2
    assert "1401 太原市" in capsys.readouterr().err
    assert main(["demo", "--root", str(tmp_path), "--seed", "3"]) == 2
    assert "--region" in capsys.readouterr().err


def test_prefix_lists_and_country():
    plan = plan_region(["1407", "1401"], cell_m=1000)
    assert plan.slug == "1401-1407" and len(plan.counties) == 21
    assert plan_region("1401,1407", cell_m=1000).slug == "1401-1407"
    country = plan_region("CN")
    assert country.slug == "CN" and country.cell_m == 1000 and len(country.counties) == 2891
    with pytest.raises(InputError, match=r"one province at a time \(the largest, --region \d\d"):
        check_memory(country, run=True, available=2 << 30)


def test_too_large_is_refused_before_generating():
    plan = plan_region("14")
    with pytest.raises(InputError, match=r"--cell-m 1000"):
        check_memory(plan, run=True, available=2 << 30)
    check_memory(plan_region(COUNTY, cell_m=CELL_M), run=True, available=2 << 30)


def test_facility_counts_follow_densities(facilities):
    types: dict[str, int] = {}
    for r in facilities:
        types[r["type"]] = types.get(r["type"], 0) + 1
        assert r["name"].endswith("（示例）") and r["county_code"] == COUNTY
    assert types["county hospital"] == 1
    assert types["county TCM hospital"] == 1
    assert types["maternal and child health hospital"] == 1
    assert types["tertiary general hospital"] == 1  # a prefecture-level share for one county: at least one
    cen = census_2020().set_index("adcode")
    people, urban = cen.loc[COUNTY, "people"], cen.loc[COUNTY, "urban_share"]
    rural = people * (1 - urban) + people * urban * 0.4  # villages and township towns (not the seat)
    assert rural / 35_000 - 1 <= types["township health centre"] <= rural / 25_000 + 1
    assert rural / 1200 * 0.8 <= types["village clinic"] <= rural / 800 + 1
    assert len({r["id"] for r in facilities}) == len(facilities)


def test_roads_load_and_stay_connected(data):
    net = read_roads(data / "roads.osm.pbf", crs="EPSG:32649")
    assert net.report.kept_share > 0.97
    assert net.report.nodes > 300 and net.report.dropped_links <= 0.02 * net.report.links


def test_runs_end_to_end(root, data):
    assert main(["-q", "demo", "--root", str(root), "--region", COUNTY, "--cell-m", str(CELL_M)]) == 0
    out = root / "maps" / f"region-{COUNTY}"
    assert (out / "index.html").exists()
    with open(out / "counties.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["county_code"] for r in rows] == [COUNTY]
    # the inputs were reused, not rebuilt
    assert _sha(data)["roads.osm.pbf"] == hashlib.sha256((data / "roads.osm.pbf").read_bytes()).hexdigest()


def test_synthetic_terrain_files(data):
    """DEM, land cover and rivers on the population lattice, labelled synthetic (issue 15); same seed, same bytes is
    checked with the other files in test_same_seed_same_bytes."""
    import geopandas as gpd
    import rasterio

    with rasterio.open(data / "dem.tif") as d, rasterio.open(data / "population.tif") as p:
        assert d.tags()["SYNTHETIC"] == "yes" and d.nodata == -32768 and d.dtypes[0] == "int16"
        assert d.transform == p.transform and d.shape == p.shape
        dem = d.read(1)
        people = p.read(1)
    assert 100 < dem.min() and dem.max() < 7000
    with rasterio.open(data / "landcover.tif") as lc:
        assert lc.tags()["SYNTHETIC"] == "yes" and lc.nodata == 0 and lc.dtypes[0] == "uint8"
        cover = lc.read(1)
    assert set(np.unique(cover)) <= {10, 20, 30, 40, 50, 60, 80} and 80 in cover
    # settled land is lower and mostly farmed
    assert np.median(dem[people > 50]) < np.median(dem[people == 0])
    assert np.isin(cover[people > 50], [40, 50, 80]).mean() > 0.5
    rivers = gpd.read_file(data / "rivers.geojson")
    assert len(rivers) >= 1 and (rivers["synthetic"] == "yes").all()
