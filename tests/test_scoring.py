"""County scoring: zone rules, reasons, settings validation, and the demo's county table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoaccess import Study
from geoaccess.config import DEFAULT_TIERS, Measures, parse_study
from geoaccess.errors import ConfigError
from geoaccess.scoring import classify_zones, score_counties

TIERS = DEFAULT_TIERS


def _table(**cols):
    base = {
        "county_name": ["甲县", "乙县", "丙县", "丁县", "戊区"],
        "primary_share_within": [0.95, 0.71, 0.95, 0.5, 0.99],
        "county_share_within": [0.95, 0.95, 0.6, 0.5, 0.99],
        "regional_share_within": [1.0, 1.0, 1.0, 1.0, 1.0],
        "beds_per_1000": [8.0, 8.0, 8.0, 8.0, 3.0],
        "within_county_share": [0.95, 0.95, 0.95, 0.95, 0.3],
        "within_county_status": ["pass", "pass", "pass", "pass", "not scored (district)"],
    }
    base.update(cols)
    t = pd.DataFrame(base)
    for tier in TIERS:
        t[f"{tier.name}_status"] = np.where(t[f"{tier.name}_share_within"] >= tier.target_share, "pass", "fail")
    t["tiers_failed"] = sum((t[f"{x.name}_status"] == "fail").astype(int) for x in TIERS)
    return t


def test_default_zones_and_reasons():
    zones, reasons = classify_zones(_table(), TIERS, ms=Measures())
    assert zones == ["adjust", "enrich", "priority", "priority", "enrich"]
    assert reasons[0] == "meets every tier's target; 8.0 beds per 1000 (>= 7.4)"
    assert reasons[1] == "primary: 71% within 15 min (target 90%)"
    assert reasons[2] == "county: 60% within 60 min (target 90%)"
    assert reasons[3].startswith("county: 50% within 60 min (target 90%); fails 2 tiers (primary, county)")
    # a district is not held to the within-county target; it is short of beds
    assert reasons[4] == "3.0 beds per 1000 (needs >= 7.4)"


def test_within_county_share_drives_priority():
    t = _table(within_county_share=[0.5, 0.95, 0.95, 0.95, 0.3], within_county_status=["fail"] + ["pass"] * 4)
    zones, reasons = classify_zones(t, TIERS, ms=Measures())
    assert zones[0] == "priority"
    assert reasons[0] == "within-county service share 50% (target 90%)"


def test_custom_rules_from_toml():
    s = parse_study(
        {
            "inputs": {"roads": "r.pbf", "facilities": "f.csv", "population": "p.tif", "counties": {"adcode": "1401"}},
            "zones": {
                "rules": [
                    {"zone": "priority", "any": ["primary_share_within < 0.8"]},
                    {"zone": "adjust", "all": ["beds_per_1000 >= 5"]},
                    {"zone": "enrich"},
                ]
            },
        }
    )
    zones, _ = classify_zones(_table(), s.tiers, s.measures.zone_rules, s.measures)
    assert zones == ["adjust", "priority", "adjust", "priority", "enrich"]


BASE = {"inputs": {"roads": "r.pbf", "facilities": "f.csv", "population": "p.tif", "counties": {"adcode": "1401"}}}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"capacity": {"people_per_beds": {}}}, "unknown key(s) ['people_per_beds'] in [capacity]"),
        ({"capacity": {"people_per_bed": {"primry": 100}}}, "unknown key(s) ['primry']"),
        ({"capacity": {"people_per_bed": {"primary": -1}}}, "out of range"),
        ({"accessibility": {"step_minutes": [10, 5]}}, "must increase"),
        ({"accessibility": {"step_weights": [1, 0.5]}}, "same length"),
        ({"accessibility": {"gaussian_sigma_min": 0}}, "out of range"),
        ({"service_share": {"method": "gravity"}}, "'huff' or 'nearest'"),
        ({"service_share": {"target": 90}}, "out of range"),
        ({"service_share": {"tier": "hospital"}}, "tier must be one of"),
        ({"referral": {"tier_level": {"primary": "hamlet"}}}, "unknown level(s) ['hamlet']"),
        ({"coverage": {"curve_minutes": "5,10"}}, "non-empty list"),
        ({"zones": {"rules": [{"zone": "rich"}]}}, "zone must be one of"),
        ({"zones": {"rules": [{"zone": "enrich", "any": ["beds > 3"]}]}}, "unknown column 'beds'"),
        ({"zones": {"rules": [{"zone": "enrich", "any": ["beds_per_1000 >> 3"]}]}}, "'column op value'"),
        ({"zones": {"rules": [{"zone": "enrich", "any": ["beds_per_1000 < target"]}]}}, "have a target"),
        ({"zones": {"rules": [{"zone": "enrich", "any": ["tiers_failed > 0"]}]}}, "last [[zones.rules]] entry"),
        ({"zones": {"rules": [{"zone": "enrich", "when": []}]}}, "unknown key(s) ['when']"),
    ],
)
def test_bad_settings_fail_clearly(extra, message):
    with pytest.raises(ConfigError) as err:
        parse_study({**BASE, **extra})
    assert message in str(err.value)


def test_score_counties_conserves_people():
    counties = pd.DataFrame({"county_code": ["1", "2"], "county_name": ["a县", "b县"]})
    rng = np.random.default_rng(0)
    people = rng.uniform(0, 500, 200)
    county = rng.integers(0, 2, 200)
    minutes = {t.name: rng.uniform(0, 150, 200) for t in TIERS}
    served = {t.name: people * rng.uniform(0, 1, 200) for t in TIERS}
    t = score_counties(counties, people, county, minutes, TIERS, served_by_tier=served)
    for tier in TIERS:
        assert (t[f"{tier.name}_served"] + t[f"{tier.name}_unserved"] == t["population"]).all()
        reached = t[[f"{tier.name}_reached_{m}min" for m in (5, 10, 15, 20, 30, 45, 60, 90, 120)]].to_numpy()
        assert (np.diff(reached, axis=1) >= 0).all() and (reached[:, -1] <= t["population"]).all()


# -- the demo ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(demo_study_file, tmp_path_factory):
    study = Study.from_file(demo_study_file, output_root=tmp_path_factory.mktemp("out"))
    return study, study.run()


def test_demo_county_table_carries_every_measure(demo):
    study, result = demo
    out = study.settings.output
    t = pd.read_csv(out / "counties.csv", dtype={"county_code": str})
    assert len(t) == 10
    for tier in ("primary", "county", "regional"):
        for col in ("p10_min", "p25_min", "p75_min", "gini", "reached_15min", "served", "unserved"):
            assert f"{tier}_{col}" in t.columns
        # people served + unserved = county population, to the person
        assert (t[f"{tier}_served"] + t[f"{tier}_unserved"] == t["population"]).all()
        assert t[f"{tier}_gini"].between(0, 1).all()
    for col in (
        "beds_per_1000",
        "accessible_beds_per_1000",
        "accessible_beds_2sfca_per_1000",
        "accessible_beds_gaussian_per_1000",
        "accessible_beds_gravity_per_1000",
        "within_county_share",
        "referral_links_over",
    ):
        assert t[col].notna().all(), col
    assert set(t["zone"]) <= {"priority", "enrich", "adjust"}
    assert t["reasons"].str.len().gt(0).all()
    # accessible beds cannot exceed the beds that exist
    acc = (t["accessible_beds_per_1000"] * t["population"] / 1000).sum()
    assert 0 < acc <= t["beds"].sum() + 1


def test_demo_facilities_and_referrals(demo):
    study, result = demo
    out = study.settings.output
    fac = pd.read_csv(out / "facilities.csv", dtype=str)
    assert len(fac) == len(study.load().facilities)
    cat = pd.to_numeric(fac["primary_catchment"])
    cap = pd.to_numeric(fac["primary_capacity"])
    assert (cat <= cap + 1e-6).all()
    assert cat.sum() == pytest.approx(result.counties["primary_served"].sum(), abs=len(result.counties))
    ref = pd.read_csv(out / "referrals.csv")
    assert set(ref["from_level"]) == {"village", "township", "county"}
    assert (ref["minutes"] >= 0).all()
    assert ref["over_threshold"].equals(ref["minutes"] > ref["threshold_min"])
    assert (out / "overall.csv").exists()


def test_quantiles_match_weighted_quantile():
    from geoaccess.scoring import _quantiles, weighted_quantile

    rng = np.random.default_rng(3)
    m = rng.uniform(0, 90, 300)
    m[:10] = np.inf
    w = rng.uniform(0, 100, 300)
    qs = [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    order = np.argsort(m, kind="stable")  # _quantiles takes values already sorted
    assert _quantiles(m[order], w[order], qs) == [weighted_quantile(m, w, q) for q in qs]


def test_scoring_reuses_unchanged_counties_bit_for_bit():
    """A what-if recomputes only the counties whose minutes changed; the table equals scoring every county."""
    from geoaccess.config import Measures, Tier
    from geoaccess.scoring import score_counties

    rng = np.random.default_rng(5)
    n_cells, n = 5000, 12
    county = rng.integers(0, n, n_cells)
    people = rng.uniform(0, 50, n_cells)
    tiers = (Tier("primary", 15.0, 0.9), Tier("county", 60.0, 0.8))
    counties = pd.DataFrame({"county_code": [f"C{i}" for i in range(n)], "county_name": [f"c{i}" for i in range(n)]})
    base_min = {t.name: np.where(rng.random(n_cells) < 0.05, np.inf, rng.exponential(t.threshold_min, n_cells))
                for t in tiers}  # fmt: skip
    ms = Measures()
    base = score_counties(counties, people, county, base_min, tiers, measures=ms)
    after = {k: v.copy() for k, v in base_min.items()}
    hit = np.flatnonzero(np.isin(county, [2, 7]))
    after["county"][hit[:40]] = rng.uniform(0, 10, 40)  # a new hospital near counties 2 and 7
    full = score_counties(counties, people, county, after, tiers, measures=ms)
    reused = score_counties(counties, people, county, after, tiers, measures=ms, reuse=(base_min, base))
    pd.testing.assert_frame_equal(reused, full, check_exact=True)
    assert not full.equals(base)
