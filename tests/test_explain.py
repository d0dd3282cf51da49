"""Explanations come from the zone rules in force, in the study's language, the deciding condition first."""

from __future__ import annotations

import pytest

from geoaccess.config import DEFAULT_TIERS, Measures, parse_study
from geoaccess.outputs import explain
from geoaccess.scoring import classify_zones
from tests.test_scoring import _table

TIERS = DEFAULT_TIERS
BASE = {"inputs": {"roads": "r.pbf", "facilities": "f.csv", "population": "p.tif", "counties": {"adcode": "1401"}}}


def test_every_county_is_explained_by_the_rule_that_classified_it():
    t = _table()
    zones, _ = classify_zones(t, TIERS, ms=Measures())
    for (_, row), zone in zip(t.iterrows(), zones, strict=True):
        assert explain.explain_county(row, TIERS, Measures(), "zh")["zone"] == zone


def test_enrich_for_beds_alone_says_so_first():
    """The old texts said "enrich = exactly one tier fails"; a district passing every tier is enrich for its beds."""
    row = _table().iloc[4]  # 戊区: every tier passes, 3.0 beds per 1000
    ex = explain.explain_county(row, TIERS, Measures(), "zh")
    assert ex["zone"] == "enrich" and ex["rest"]
    assert ex["decisive"] == ["每千人床位 3.0（需不低于7.4）"]
    assert "资源重点配置区" in ex["rule"] and "资源调整完善区" in ex["rule"]
    en = explain.explain_county(row, TIERS, Measures(), "en")
    assert en["decisive"] == ["beds per 1000 3.0 (needs at least 7.4)"]


def test_priority_lists_the_conditions_that_held_with_values():
    row = _table().iloc[3]  # 丁县: primary 50 %, county 50 %
    ex = explain.explain_county(row, TIERS, Measures(), "zh")
    assert ex["zone"] == "priority"
    assert ex["decisive"][0] == "县级医院60分钟内人口比例 50%（目标 90%）"
    assert ex["decisive"][1] == "2个层级未达标（基层医疗、县级医院）"


def test_default_legend_names_every_condition_including_beds():
    legend = explain.zone_legend(TIERS, Measures(), "zh")
    assert legend["adjust"] == "同时满足：各层级均达标；每千人床位不低于7.4"
    assert "县级医院60分钟内人口比例低于目标90%" in legend["priority"]
    assert "县域内就诊比例低于目标90%" in legend["priority"]


def test_custom_rules_are_the_ones_shown():
    s = parse_study(
        {
            **BASE,
            "zones": {
                "rules": [
                    {"zone": "priority", "any": ["primary_p90_min > 30"]},
                    {"zone": "adjust", "all": ["beds_per_1000 >= 5"]},
                    {"zone": "enrich"},
                ]
            },
        }
    )
    legend = explain.zone_legend(s.tiers, s.measures, "zh")
    assert legend["priority"] == "基层医疗 90%人口时间（分钟）高于30.0"
    assert legend["adjust"] == "每千人床位不低于5.0"
    row = _table(primary_p90_min=[10.0, 45.0, 10.0, 10.0, 10.0], beds_per_1000=[8.0, 8.0, 2.0, 8.0, 3.0]).iloc[1]
    ex = explain.explain_county(row, s.tiers, s.measures, "en")
    assert ex["zone"] == "priority"
    assert ex["decisive"] == ["primary care p90 min 45.0 (above 30.0)"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_settings_print_no_local_paths_and_translate_values(lang, tmp_path):
    s = parse_study(BASE, path=tmp_path / "study.toml")
    rows = dict(explain.settings_rows(s, lang))
    assert rows["roads"] == "r.pbf"  # file names only, never the absolute path
    assert not any(str(tmp_path) in str(v) for v in rows.values())
    if lang == "zh":
        assert rows["profile"] == "驾车" and rows["serve_lower_tiers"] == "是"
        assert "资源重点配置区" in rows["zone_rules"]
