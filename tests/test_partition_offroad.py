"""Partitioned runs of studies whose tiers travel off-road (geoaccess.partition, issue 15): equal to one process.

The SYNTHETIC mountain study of test_scenarios_offroad (land cover, a noisy DEM, a river and a moated valley), its
two counties given adcodes of two prefectures (1401 west, 1407 east): primary walks only, county travels mixed,
regional by road, and every tier has a walking-only twin. It runs once in one process (nothing from the cache) and
by prefecture on a 2-worker LocalCluster (workers of 1 GB; the machine is shared), whose tasks read the inputs and
the friction surface from the cache the client filled.
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine

distributed = pytest.importorskip("distributed")

from geoaccess import cache, partition  # noqa: E402
from geoaccess.config import ScaleSettings  # noqa: E402
from geoaccess.study import Study  # noqa: E402
from geoaccess.terrain import Surface  # noqa: E402
from tests.test_scenarios_offroad import LAT0, LON0, TRAVEL, make_study  # noqa: E402

PREFIXES = ["1401", "1407"]
#: land cover faster than every road (grassland at 60 km/h, roads at 3 km/h): only the surface's own speed bounds
#: how far an off-road trip gets
FAST = TRAVEL + "[travel.landcover_speeds]\n30 = 60\n[network]\nspeeds = { secondary = 3, tertiary = 3 }\n"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB", dashboard_address=":0"
    ) as lc:
        yield lc


def write_region(d, travel: str):
    """The mountain study in ``d`` with a road tier and its counties in two prefectures; the study file's path."""
    sf = make_study(d, travel)
    text = sf.read_text(encoding="utf-8").replace("threshold_min = 45\n", 'threshold_min = 45\nmode = "road"\n')
    sf.write_text(text, encoding="utf-8")
    halves = [
        shapely.box(LON0, LAT0, LON0 + 0.02, LAT0 + 0.04),
        shapely.box(LON0 + 0.02, LAT0, LON0 + 0.04, LAT0 + 0.04),
    ]
    gpd.GeoDataFrame({"code": ["140105", "140702"], "name": ["A", "B"]}, geometry=halves, crs="EPSG:4326").to_file(
        d / "counties.gpkg"
    )
    return sf


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    return write_region(tmp_path_factory.mktemp("part_offroad"), TRAVEL)


def _study(sf, out, cache_on=True, scale=True) -> Study:
    s = Study.from_file(sf, output_root=sf.parent / out)
    s.use_cache = cache_on
    if scale:
        import dataclasses

        s.settings = dataclasses.replace(s.settings, scale=ScaleSettings("prefecture"))
    return s


@pytest.fixture(scope="module")
def single(region):
    """The oracle: one process, the surface built from the files (the cache is off)."""
    return _study(region, "single", cache_on=False, scale=False).compute()


@pytest.fixture(scope="module")
def partitioned(region, cluster):
    study = _study(region, "part")
    with distributed.Client(cluster) as client:
        result = partition.compute(study, client)
    result.study = study
    return result


def assert_same(r, want):
    pd.testing.assert_frame_equal(r.counties, want.counties, check_exact=True)
    for name in ("facilities", "referrals", "overall"):
        pd.testing.assert_frame_equal(getattr(r, name), getattr(want, name), check_exact=True, obj=name)
    assert set(r.tiers) == set(want.tiers) and set(r.walk_only) == set(want.walk_only)
    for tier in want.tiers:
        np.testing.assert_array_equal(r.tiers[tier].minutes, want.tiers[tier].minutes, err_msg=tier)
        np.testing.assert_array_equal(r.tiers[tier].facility, want.tiers[tier].facility, err_msg=tier)
        np.testing.assert_array_equal(r.walk_only[tier].minutes, want.walk_only[tier].minutes, err_msg=tier)
        np.testing.assert_array_equal(r.walk_only[tier].facility, want.walk_only[tier].facility, err_msg=tier)


def test_the_fixture_travels_every_way(region, single):
    s = _study(region, "x", scale=False).settings
    assert [s.tier_mode(t) for t in s.tiers] == ["walk_only", "mixed", "road"]
    assert s.travel.compare_walk_only and s.measures.share_method == "huff"
    # walking only is slower somewhere, and the OD-based columns are not empty
    assert (single.walk_only["county"].minutes > single.tiers["county"].minutes + 1.0).any()
    assert (single.facilities["primary_catchment"].fillna(0) > 0).any()
    assert single.facilities["primary_assigned_people"].fillna(0).sum() > 0


def test_partitioned_equals_one_process(single, partitioned):
    assert_same(partitioned, single)


def test_one_task_per_partition_and_way_of_travel(partitioned):
    parts = partitioned.partitions
    # the only regional hospital (the road tier) lies in 1401: 1407 has no road blocks to search
    assert list(zip(parts["partition"], parts["mode"], strict=True)) == [
        ("1401", "road"), ("1401", "mixed"), ("1401", "walk_only"), ("1407", "mixed"), ("1407", "walk_only")
    ]  # fmt: skip
    assert (parts["facilities"] > 0).all() and (parts["pairs_kept"] > 0).all()
    # each worker read the surface the client stored, once (its first off-road task); none built it
    loaded = parts["surface"].dropna()
    assert len(loaded) >= 1 and (loaded == "cache").all()
    assert parts.loc[parts["mode"] == "road", "surface"].isna().all()
    # the blocks reach across the prefecture border, and never beyond the halo
    assert (parts["halo_cells"] > 0).any()
    assert (parts["farthest_pair_km"] <= parts["halo_km"]).all()


def test_bundle_lists_each_way_of_travel(partitioned):
    out = partitioned.study.finish(partitioned, write=True).output
    table = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig", dtype={"partition": str})
    assert list(table["mode"]) == list(partitioned.partitions["mode"])
    assert set(table["surface"].dropna()) == {"cache"}
    index = (out / "index.html").read_text(encoding="utf-8")
    for key in PREFIXES:
        assert f'href="partition_{key}.html"' in index
    assert (out / "travel_time_county_walk_only.tif").exists()


def test_worker_without_the_surface_in_the_cache_builds_it(region, cluster, single, monkeypatch, tmp_path):
    # a copy of the study (new settings: the workers load it afresh); no surface is stored by the client, and none
    # is left from the tests above
    d = tmp_path / "copy"
    shutil.copytree(region.parent, d, ignore=shutil.ignore_patterns("single", "part", "out"))
    for entry in cache.cache_dir().glob("surface-*"):
        shutil.rmtree(entry)
    monkeypatch.setattr(cache, "save_surface", lambda *a, **k: None)
    with distributed.Client(cluster) as client:
        r = partition.compute(_study(d / region.name, "part"), client)
    assert not list(cache.cache_dir().glob("surface-*"))
    loaded = r.partitions["surface"].dropna()
    assert len(loaded) >= 1 and (loaded == "built").all()
    assert_same(r, single)


def test_halo_counts_land_cover_faster_than_every_road(tmp_path_factory, cluster):
    sf = write_region(tmp_path_factory.mktemp("part_fast"), FAST)
    study = _study(sf, "fast")
    with distributed.Client(cluster) as client:
        r = partition.compute(study, client)
    net, surface = study.load().network, study.terrain()
    road = partition.top_speed_kmh(net, study.settings.walk_kmh)
    assert road < 5.0 and partition.surface_speed_kmh(surface) > 60.0  # 60 km/h, faster still downhill (Tobler)
    parts = r.partitions
    assert (parts["farthest_pair_km"] <= parts["halo_km"]).all()
    off = parts[parts["mode"] != "road"]
    margin = partition.cell_margin_km(surface)
    # the bound of the roads and the walking speed alone is broken: the surface's speed is what holds
    naive = [partition.halo_km(m, road, margin) for m in off["halo_min"]]
    assert (off["farthest_pair_km"].to_numpy() > np.array(naive)).any()


def test_surface_speed_is_the_least_friction():
    f = np.full((3, 3), 60 / 4000, dtype=np.float32)  # 4 km/h
    f[1, 1] = np.float32(60 / 30_000)  # 30 km/h
    f[0, 0] = np.inf
    f[2, 2] = np.nan  # nodata: impassable
    sf = Surface(f, None, Affine(100, 0, 0, 0, -100, 300), "EPSG:32649", 100.0, [], None, [], [])
    assert partition.surface_speed_kmh(sf) == pytest.approx(30.0, rel=1e-6)
    sf.dem = np.zeros((3, 3), dtype=np.float32)  # downhill: Tobler's gentle descent is faster than flat
    assert partition.surface_speed_kmh(sf) > 30.0 * 1.19
    sf.friction = np.full((3, 3), np.inf, dtype=np.float32)
    assert partition.surface_speed_kmh(sf) == 0.0
    assert partition.cell_margin_km(sf) == pytest.approx(0.1414, abs=1e-4)
    assert partition.halo_km(30, 60.0, 0.5) == 30.5


# -- [travel.periods] ----------------------------------------------------------------------------------------------

#: a slow peak and a fast night (roads twice as fast: the halo must widen with the period's top speed)
PERIODS = (
    "[travel.periods.peak]\nsecondary = 0.5\ntertiary = 0.6\n[travel.periods.night]\nsecondary = 1.5\ntertiary = 2\n"
)


@pytest.fixture(scope="module")
def period_region(tmp_path_factory):
    return write_region(tmp_path_factory.mktemp("part_periods"), TRAVEL + PERIODS)


@pytest.fixture(scope="module")
def single_periods(period_region):
    """The oracle per period: one process, each period's study made from a study of its own before anything was
    computed (so it reuses no walking pairs or minutes of the study), nothing from the cache."""
    out = {}
    for name in ("peak", "night"):
        owner = _study(period_region, "single", cache_on=False, scale=False)
        owner.terrain()
        out[name] = owner.period_study(name).compute()
    return out


@pytest.fixture(scope="module")
def partitioned_periods(period_region, cluster, caplog_module):
    """``geoaccess run --partition prefecture`` on the cluster: Study.run, the bundle written."""
    import dataclasses

    study = _study(period_region, "part", scale=False)
    study.settings = dataclasses.replace(study.settings, scale=ScaleSettings("prefecture", cluster.scheduler_address))
    return study.run()


@pytest.fixture(scope="module")
def caplog_module():
    """The run's log records (module scope: the run is shared by several tests)."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    root = logging.getLogger("geoaccess")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield records
    root.removeHandler(handler)
    root.setLevel(level)


def test_periods_partitioned_equal_one_process(single, single_periods, partitioned_periods, caplog_module):
    r = partitioned_periods
    assert_same(r, single)  # the study's own speeds: periods change nothing there
    assert list(r.periods) == ["peak", "night"]
    for name, want in single_periods.items():
        assert_same(r.periods[name], want)
    # the periods do change the roads' trips: slower at peak, faster at night, somewhere
    road = [single.tiers["regional"].minutes, *(r.periods[p].tiers["regional"].minutes for p in ("peak", "night"))]
    assert (road[1] > road[0]).any() and (road[2] < road[0]).any()
    assert not any("not computed in partitioned runs" in rec.getMessage() for rec in caplog_module)
    assert any("period night (2 of 2)" in rec.getMessage() for rec in caplog_module)


def test_period_tasks_scale_the_halo_and_reuse_walking(partitioned_periods):
    base = partitioned_periods.partitions
    for name, fast in (("peak", False), ("night", True)):
        parts = partitioned_periods.periods[name].partitions
        # walking pairs do not depend on road speeds: the study's serve every period, no task searches them again
        assert set(parts["mode"]) == {"road", "mixed"}
        assert (parts["pairs_kept"] > 0).all()
        assert (parts["farthest_pair_km"] <= parts["halo_km"]).all()
        # the night's roads are faster than the study's: its halo is wider
        assert (parts["top_speed_kmh"].max() > base["top_speed_kmh"].max()) == fast


def test_period_bundles_of_a_partitioned_run(partitioned_periods, single_periods):
    import json
    import re

    out = partitioned_periods.output
    for name, want in single_periods.items():
        sub = out / "periods" / name
        got = pd.read_csv(out / f"counties_{name}.csv", encoding="utf-8-sig", dtype={"county_code": str})
        assert got["county_code"].tolist() == want.counties["county_code"].astype(str).tolist()
        pd.testing.assert_frame_equal(
            pd.read_csv(sub / "counties.csv", encoding="utf-8-sig", dtype={"county_code": str}), got
        )
        assert (sub / "partitions.csv").exists() and (sub / "partition_1407.html").exists()
        page = (sub / "map_county.html").read_text(encoding="utf-8")
        data = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', page, re.S).group(1))
        assert [p["current"] for p in data["periods"]["links"]] == [False, name == "peak", name == "night"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="periods/peak/index.html"' in index and 'href="partition_1401.html"' in index
