"""The input cache: a hit equals a fresh load, a changed file or setting misses, a corrupt entry is rebuilt."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from geoaccess import Baseline, cache, whatif
from geoaccess.cli import main
from geoaccess.study import Study


@pytest.fixture
def study_copy(demo_dir, demo_study_file, tmp_path, monkeypatch):
    """The demo study on a private copy of its inputs, with its own empty cache folder."""
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    text = demo_study_file.read_text(encoding="utf-8").replace(demo_dir.as_posix() + "/", data.as_posix() + "/")
    study = tmp_path / "demo.toml"
    study.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GEOACCESS_CACHE", str(tmp_path / "cache"))
    return study


def entries():
    root = cache.cache_dir()
    return sorted(p.name for p in root.iterdir() if p.name.startswith("inputs-")) if root.exists() else []


def assert_same_inputs(a, b):
    for name in ("facility_snap", "demand_snap"):
        for k in ("link", "t", "offroad_m"):
            np.testing.assert_array_equal(getattr(getattr(a, name), k), getattr(getattr(b, name), k))
    na, nb = a.network, b.network
    for k in ("link_u", "link_v", "link_fwd", "link_bwd", "x", "y", "node_ids", "link_class", "indptr", "indices"):
        np.testing.assert_array_equal(getattr(na, k), getattr(nb, k))
    assert na.n_nodes == nb.n_nodes and na.crs == nb.crs and str(na.crs) == str(nb.crs)
    assert list(na.geometry) == list(nb.geometry)
    assert dataclasses.asdict(na.report) == dataclasses.asdict(nb.report)
    pa, pb = a.population, b.population
    for k in ("lon", "lat", "people", "county", "row", "col"):
        np.testing.assert_array_equal(getattr(pa, k), getattr(pb, k))
        assert getattr(pa, k).dtype == getattr(pb, k).dtype
    assert pa.transform == pb.transform and pa.shape == pb.shape and str(pa.crs) == str(pb.crs)
    assert pa.crs == pb.crs and pa.outside_people == pb.outside_people and pa.warnings == pb.warnings
    assert (pa.census and dataclasses.asdict(pa.census)) == (pb.census and dataclasses.asdict(pb.census))
    pd.testing.assert_frame_equal(a.facilities, b.facilities, check_exact=True)
    pd.testing.assert_frame_equal(a.counties, b.counties, check_exact=True)
    assert a.facilities.crs == b.facilities.crs and a.counties.crs == b.counties.crs
    assert a.warnings == b.warnings
    assert a.summary[:-1] == b.summary[:-1]


def test_hit_equals_fresh_load(study_copy):
    fresh = Study.from_file(study_copy)
    fresh.use_cache = False
    a = fresh.load()
    assert a.summary[-1] == "cache: off" and entries() == []
    b = Study.from_file(study_copy).load()  # miss: stored
    assert b.summary[-1].startswith("cache: miss, stored in") and len(entries()) == 1
    hit = Study.from_file(study_copy)
    c = hit.load()
    assert c.summary[-1].startswith("cache: hit")
    assert_same_inputs(a, b)
    assert_same_inputs(a, c)
    # and so is every result computed from them
    pd.testing.assert_frame_equal(fresh.compute().counties, hit.compute().counties, check_exact=True)


def test_changed_file_or_setting_misses(study_copy):
    s = Study.from_file(study_copy).settings
    key = cache.inputs_key(s)
    assert cache.inputs_key(Study.from_file(study_copy).settings) == key  # stable
    for change in (
        {"speeds": {"residential": 20.0}},
        {"profile": "walk"},
        {"roads_options": {**s.roads_options, "coords": "gcj02"}},
        {"facilities_options": {**s.facilities_options, "beds": "床位"}},
        {"census_options": {"population_field": "P"}},
        {"population_options": {"crs": "EPSG:4326"}},
        {"counties": {"adcode": "140105"}},
        {"facility_tiers": {"卫生院": "primary"}},
    ):
        assert cache.inputs_key(dataclasses.replace(s, **change)) != key, change
    # a setting that does not change what is loaded keeps the key
    assert cache.inputs_key(dataclasses.replace(s, walk_kmh=5.0)) == key
    Study.from_file(study_copy).load()
    fac = s.facilities
    fac.write_text(fac.read_text(encoding="utf-8").replace("（示例）", "(示例)", 1), encoding="utf-8")
    assert cache.inputs_key(Study.from_file(study_copy).settings) != key
    inp = Study.from_file(study_copy).load()
    assert inp.summary[-1].startswith("cache: miss") and len(entries()) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_corrupt_entry_is_rebuilt(study_copy, damage, caplog):
    good = Study.from_file(study_copy).load()
    (entry,) = [cache.cache_dir() / e for e in entries()]
    arrays = entry / "arrays.npz"
    if damage == "truncate":
        arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])
    elif damage == "flip":  # a flipped byte inside an array member: its CRC-32 no longer matches
        raw = bytearray(arrays.read_bytes())
        raw[len(raw) // 3] ^= 0xFF
        arrays.write_bytes(bytes(raw))
    else:
        (entry / "meta.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="geoaccess.cache"):
        again = Study.from_file(study_copy).load()
    assert "unreadable" in caplog.text and "rebuilding" in caplog.text
    assert again.summary[-1].startswith("cache: miss, stored")
    assert_same_inputs(good, again)
    assert Study.from_file(study_copy).load().summary[-1].startswith("cache: hit")


def test_cache_off_in_study_and_cli(study_copy, capsys):
    text = study_copy.read_text(encoding="utf-8").replace("[study]\n", "[study]\ncache = false\n", 1)
    off = study_copy.with_name("off.toml")
    off.write_text(text, encoding="utf-8")
    assert Study.from_file(off).load().summary[-1] == "cache: off"
    assert main(["info", str(study_copy), "--no-cache"]) == 0
    assert "cache: off" in capsys.readouterr().out and entries() == []
    assert main(["info", str(study_copy)]) == 0
    assert "cache: miss, stored in" in capsys.readouterr().out
    assert main(["info", str(study_copy)]) == 0
    assert "cache: hit" in capsys.readouterr().out
    bad = study_copy.with_name("bad.toml")
    bad.write_text(text.replace("cache = false", 'cache = "no"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[study\] cache must be true or false"):
        Study.from_file(bad)


def test_fingerprint_of_large_files(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "FULL_HASH_BYTES", 1000)
    monkeypatch.setattr(cache, "_EDGE_BYTES", 100)
    f = tmp_path / "big.osm.pbf"
    f.write_bytes(bytes(range(256)) * 20)
    a = cache.file_fingerprint(f)
    assert "sha256_ends" in a[0] and "sha256" not in a[0]
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 1
    f.write_bytes(bytes(raw))
    os.utime(f, ns=(a[0]["mtime_ns"], a[0]["mtime_ns"]))
    assert cache.file_fingerprint(f) != a  # the last MiB changed
    b = cache.file_fingerprint(f)
    os.utime(f, ns=(b[0]["mtime_ns"] + 10**9, b[0]["mtime_ns"] + 10**9))
    assert cache.file_fingerprint(f) != b  # rewritten: mtime changed
    small = tmp_path / "small.csv"
    small.write_text("id\n1\n")
    c = cache.file_fingerprint(small)
    os.utime(small, ns=(0, 0))
    assert cache.file_fingerprint(small) == c  # small files are hashed whole: a touch still hits
    shp = tmp_path / "roads.shp"
    shp.write_bytes(b"shp")
    (tmp_path / "roads.dbf").write_bytes(b"dbf")
    assert [e["name"] for e in cache.file_fingerprint(shp)] == ["roads.dbf", "roads.shp"]


def test_cache_is_never_beside_the_inputs(study_copy, tmp_path, monkeypatch):
    monkeypatch.delenv("GEOACCESS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "geoaccess"
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    Study.from_file(study_copy).load()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == before
    assert len(entries()) == 1


def test_prune_keeps_the_most_recently_used(tmp_path):
    for i in range(4):
        e = tmp_path / f"inputs-{i}"
        e.mkdir()
        (e / "meta.json").write_text("{}")
        os.utime(e / "meta.json", (1000 + i, 1000 + i))
    gone = cache.prune(tmp_path, keep=2)
    assert sorted(p.name for p in gone) == ["inputs-0", "inputs-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs-2", "inputs-3"]


def test_whatif_in_a_later_process_reads_the_baseline_from_the_cache(study_copy):
    """A what-if in a new Study (a later ``geoaccess whatif``) takes the baseline and its OD pool from the cache:
    the scenario's table equals one computed without any cache, and a damaged entry is recomputed."""
    edit = {"add": [{"lon": 112.6, "lat": 38.05, "tier": "county", "beds": 300}], "remove": ["F0100"]}
    first = Study.from_file(study_copy)
    a = whatif(first, **edit).counties
    (entry,) = [p for p in cache.cache_dir().iterdir() if p.name.startswith("baseline-")]
    second = Study.from_file(study_copy)
    b = whatif(second, **edit).counties
    assert second._od_pool.pairs == first._od_pool.pairs
    assert Baseline.of(second).timings.get("cached") == 1.0
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    off = Study.from_file(study_copy)
    off.use_cache = False
    pd.testing.assert_frame_equal(whatif(off, **edit).counties, a, check_exact=True)
    # a damaged entry: recomputed (and stored again), same answer
    data = entry / "arrays.npz"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    third = Study.from_file(study_copy)
    pd.testing.assert_frame_equal(whatif(third, **edit).counties, a, check_exact=True)
    assert "cached" not in Baseline.of(third).timings
