"""Study files: defaults, and clear errors for unknown keys and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoaccess import ConfigError
from geoaccess.config import load_study

BASE = """
[study]
name = "t"
[inputs]
roads = "roads.osm.pbf"
facilities = "f.csv"
population = "p.tif"
counties = { adcode = "1401" }
"""


def write(tmp_path, text) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults(tmp_path):
    s = load_study(write(tmp_path, BASE), output_root=tmp_path)
    assert s.tier_names == ["primary", "county", "regional"]
    assert [t.threshold_min for t in s.tiers] == [15, 60, 120]
    assert all(t.target_share == 0.9 for t in s.tiers)
    assert s.roads == (tmp_path / "roads.osm.pbf").resolve()
    assert s.output == tmp_path / "maps" / "t"
    assert s.direction == "to_facility" and s.serve_lower_tiers


def test_unknown_key_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['threshhold'\] in \[network\]"):
        load_study(write(tmp_path, BASE + "[network]\nthreshhold = 3\n"))
    with pytest.raises(ConfigError, match=r"study.toml"):
        load_study(write(tmp_path, BASE + "[bogus]\nx = 1\n"))


def test_unknown_tier_key_and_range(tmp_path):
    with pytest.raises(ConfigError, match="target"):
        load_study(write(tmp_path, BASE + '[[tiers]]\nname="a"\nthreshold_min=10\ntarget=0.9\n'))
    with pytest.raises(ConfigError, match="out of range"):
        load_study(write(tmp_path, BASE + '[[tiers]]\nname="a"\nthreshold_min=10\ntarget_share=1.5\n'))


def test_missing_inputs(tmp_path):
    with pytest.raises(ConfigError, match="roads is required"):
        load_study(write(tmp_path, BASE.replace('roads = "roads.osm.pbf"\n', "")))


def test_input_tables_and_new_keys(tmp_path):
    text = BASE.replace('roads = "roads.osm.pbf"', 'roads = { path = "r.gpkg", class_field = "等级", snap_m = 5 }')
    text = text.replace(
        'facilities = "f.csv"', 'facilities = { path = "f.csv", lon = "经度", lat = "纬度", coords = "bd09" }'
    )
    text += 'census = { path = "c.csv", code_field = "CODE" }\ncoords = "gcj02"\n'
    text += '[network]\nspeeds = { "专用公路" = 40 }\n[facility_tiers]\n"专科医院" = "county"\n'
    s = load_study(write(tmp_path, text))
    assert s.roads == (tmp_path / "r.gpkg").resolve()
    assert s.roads_options == {"class_field": "等级", "snap_m": 5.0, "coords": "gcj02"}  # study-wide coords
    assert s.facilities_options["coords"] == "bd09" and s.facilities_options["lon"] == "经度"
    assert s.census_options == {"code_field": "CODE"} and s.census == (tmp_path / "c.csv").resolve()
    assert s.speeds == {"专用公路": 40.0} and s.facility_tiers == {"专科医院": "county"}


def test_input_table_errors(tmp_path):
    bad = BASE.replace('roads = "roads.osm.pbf"', 'roads = { path = "r.gpkg", clas_field = "x" }')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['clas_field'\] in \[inputs\] roads"):
        load_study(write(tmp_path, bad))
    with pytest.raises(ConfigError, match="coords must be one of"):
        load_study(write(tmp_path, BASE + 'coords = "wgs1984"\n'))
    with pytest.raises(ConfigError, match="not one of the study's tiers"):
        load_study(write(tmp_path, BASE + '[facility_tiers]\n"医院" = "hospital"\n'))


def test_counties_adcode_list_or_several_prefixes(tmp_path):
    s = load_study(write(tmp_path, BASE.replace('"1401" }', '["1401", "1407"] }')), output_root=tmp_path)
    assert s.counties["adcode"] == ["1401", "1407"]
    s = load_study(write(tmp_path, BASE.replace('"1401" }', '"1401,1407" }')), output_root=tmp_path)
    assert s.counties["adcode"] == "1401,1407"
    with pytest.raises(ConfigError, match="adcode must be a string"):
        load_study(write(tmp_path, BASE.replace('"1401" }', "1401 }")), output_root=tmp_path)
