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
    assert (
        load_study(write(tmp_path, BASE.replace('"1401" }', "1401 }")), output_root=tmp_path).counties["adcode"]
        == "1401"
    )
    with pytest.raises(ConfigError, match="adcode must be a string"):
        load_study(write(tmp_path, BASE.replace('"1401" }', "14.01 }")), output_root=tmp_path)
    with pytest.raises(ConfigError, match="adcode prefixes of 2 to 6 digits"):
        load_study(write(tmp_path, BASE.replace('"1401" }', '["1401", "x7"] }')), output_root=tmp_path)


# -- bad input (issue 12) ----------------------------------------------------------------------------
TIER = "[[tiers]]\nname = {name}\nthreshold_min = {thr}\ntarget_share = {share}\n"


@pytest.mark.parametrize(
    "name",
    [
        "\"<img src=x onerror=alert('tn1')>\"",
        '"x/../../../pwned_regional"',
        '"../up"',
        '"a/b"',
        '"a\\\\b"',
        '"tab\\there"',
        '"new\\nline"',
        '"a b"',
        '"-lead"',
        '""',
        '"x.html"',
        "5",
    ],
)
def test_tier_names_must_be_safe_identifiers(tmp_path, name):
    text = BASE + TIER.format(name=name, thr=15, share=0.9)
    with pytest.raises(ConfigError, match=r"\[\[tiers\]\] entry 1 name") as err:
        load_study(write(tmp_path, text))
    assert "study.toml" in str(err.value)
    if name != "5":
        assert "letters (any script), digits, '_' or '-'" in str(err.value)


def test_chinese_and_dashed_tier_names_stay_valid(tmp_path):
    text = BASE + TIER.format(name='"基层"', thr=15, share=0.9) + TIER.format(name='"county-2"', thr=60, share=0.8)
    assert load_study(write(tmp_path, text)).tier_names == ["基层", "county-2"]


@pytest.mark.parametrize(
    ("thr", "share", "key"),
    [
        ("nan", 0.9, "threshold_min"),
        ("inf", 0.9, "threshold_min"),
        ("-inf", 0.9, "threshold_min"),
        (0, 0.9, "threshold_min"),
        (-5, 0.9, "threshold_min"),
        (15, "nan", "target_share"),
        (15, 0, "target_share"),
        (15, -0.1, "target_share"),
    ],
)
def test_thresholds_and_targets_must_be_finite_and_positive(tmp_path, thr, share, key):
    with pytest.raises(ConfigError, match=f"tier a {key}"):
        load_study(write(tmp_path, BASE + TIER.format(name='"a"', thr=thr, share=share)))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[network]\nwalk_kmh = nan\n", r"\[network\] walk_kmh must be a finite number"),
        ("[network]\nspeeds = { motorway = inf }\n", r"speeds motorway must be a finite number"),
        ("[accessibility]\ncutoff_min = nan\n", r"cutoff_min must be a finite number"),
        ("[service_share]\ntarget = nan\n", r"\[service_share\] target must be a finite number"),
        ('[[zones.rules]]\nzone = "priority"\nany = ["tiers_failed >= nan"]\n', "finite number or 'target'"),
    ],
)
def test_nan_and_inf_are_refused_everywhere(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_study(write(tmp_path, BASE + extra))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "t"', 'name = "t"\nsynthetic = "false"', r"\[study\] synthetic must be true or false"),
        ('name = "t"', 'name = "t"\noutput = 5', r"\[study\] output must be a string, got 5"),
        ('name = "t"', 'name = "t"\ntitle = ["x"]', r"\[study\] title must be a string"),
        ('name = "t"', "name = 7", "study name 7"),
        ('counties = { adcode = "1401" }', "counties = { path = 123 }", r"\[inputs\] counties path must be a string"),
        (
            'counties = { adcode = "1401" }',
            'counties = { adcode = "14a" }',
            "adcode must be adcode prefixes of 2 to 6 digits",
        ),
        ('population = "p.tif"', 'population = { path = "p.tif", crs = "EPSG:99999" }', r"population crs"),
        ('counties = { adcode = "1401" }', 'counties = { path = "c.gpkg", crs = "nonsense" }', r"counties crs"),
    ],
)
def test_wrong_types_name_the_key(tmp_path, old, new, message):
    assert old in BASE
    with pytest.raises(ConfigError, match=message):
        load_study(write(tmp_path, BASE.replace(old, new)))


def test_facility_tier_rule_must_be_a_string(tmp_path):
    with pytest.raises(ConfigError, match=r"\[facility_tiers\] '诊所' must be a tier name string.*'primary'"):
        load_study(write(tmp_path, BASE + '[facility_tiers]\n"诊所" = ["primary"]\n'))


def test_adcode_given_as_a_number_is_read_as_text(tmp_path):
    s = load_study(write(tmp_path, BASE.replace('{ adcode = "1401" }', "{ adcode = 1401 }")), output_root=tmp_path)
    assert s.counties == {"adcode": "1401"}


def test_study_file_encodings_and_folders(tmp_path):
    p = tmp_path / "bom.toml"
    p.write_bytes("\ufeff".encode() + BASE.replace('title = "', 'x = "').encode("utf-8"))
    assert load_study(p, output_root=tmp_path).name == "t"
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes((BASE + 'title = "太原"\n').replace("[inputs]", "[inputs]\n# 中文\n").encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk.toml: the study file is not UTF-8 text .*save it as UTF-8"):
        load_study(gbk)
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(ConfigError, match=r"folder.toml: this is a folder; give the path of the study TOML file"):
        load_study(tmp_path / "folder.toml")


def test_output_must_not_hold_or_be_an_input(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    text = BASE.replace('"f.csv"', '"data/f.csv"')
    for output, what in (
        ("data", "contains the facilities input"),
        ("data/f.csv", "is the facilities input"),
        (".", "contains the study file input"),
        (tmp_path.parent.as_posix(), "contains the study file"),
    ):
        with pytest.raises(ConfigError, match=what):
            load_study(write(tmp_path, text.replace('name = "t"', f'name = "t"\noutput = "{output}"')), tmp_path)
    # a folder of its own beside the inputs is fine (the default maps/<name>)
    s = load_study(write(tmp_path, text), output_root=tmp_path)
    assert s.output == tmp_path / "maps" / "t"


def test_include_merges_fitted_speeds(tmp_path):
    (tmp_path / "fitted.toml").write_text(
        '[network.speeds]\nprimary = 42.5\n"国道" = 61.0\n[travel.periods.peak]\nprimary = 0.7\n', encoding="utf-8"
    )
    s = load_study(write(tmp_path, 'include = ["fitted.toml"]\n' + BASE + "[network]\nwalk_kmh = 4\n"))
    assert s.speeds == {"primary": 42.5, "国道": 61.0}
    assert s.walk_kmh == 4 and s.periods == {"peak": {"primary": 0.7}}
    assert load_study(write(tmp_path, 'include = "fitted.toml"\n' + BASE)).speeds["primary"] == 42.5


def test_include_conflicts_and_bad_files_are_named(tmp_path):
    (tmp_path / "fitted.toml").write_text("[network.speeds]\nprimary = 42.5\n", encoding="utf-8")
    text = 'include = ["fitted.toml"]\n' + BASE + "[network.speeds]\nprimary = 50\n"
    with pytest.raises(ConfigError, match=r"network.speeds.primary is set both in the study file and in .*fitted.toml"):
        load_study(write(tmp_path, text))
    with pytest.raises(ConfigError, match="included file not found"):
        load_study(write(tmp_path, 'include = ["nope.toml"]\n' + BASE))
    (tmp_path / "bad.toml").write_text("[network.speeds]\nprimary = 500\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"speeds primary = 500 is out of range"):
        load_study(write(tmp_path, 'include = ["bad.toml"]\n' + BASE))
    (tmp_path / "nested.toml").write_text('include = ["fitted.toml"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="may not include further files"):
        load_study(write(tmp_path, 'include = ["nested.toml"]\n' + BASE))


def test_periods_are_checked(tmp_path):
    s = load_study(write(tmp_path, BASE + '[travel.periods.peak]\nmotorway = 0.6\n"40" = 0.9\n[travel.periods.night]\n'
                         "motorway = 1.1\n"))  # fmt: skip
    assert s.periods == {"peak": {"motorway": 0.6, "40": 0.9}, "night": {"motorway": 1.1}}
    assert load_study(write(tmp_path, BASE)).periods == {}
    with pytest.raises(ConfigError, match=r"\[travel.periods.peak\] motorway = 0 is out of range"):
        load_study(write(tmp_path, BASE + "[travel.periods.peak]\nmotorway = 0\n"))
    with pytest.raises(ConfigError, match="not a valid name"):
        load_study(write(tmp_path, BASE + '[travel.periods."../x"]\nmotorway = 0.5\n'))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['speed'\] in \[travel\]"):
        load_study(write(tmp_path, BASE + "[travel]\nspeed = 3\n"))
