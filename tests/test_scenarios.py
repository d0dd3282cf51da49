"""What-if scenarios on the synthetic demo: exactness of incremental recompute, bad input, outputs."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geoaccess import Baseline, Study, place
from geoaccess.cli import main
from geoaccess.errors import ConfigError, InputError
from geoaccess.scenarios import load_scenario, whatif

NEW_COUNTY = {"lon": 112.6, "lat": 38.05, "tier": "county", "beds": 300}
EDITS = {
    "add": {"add": [NEW_COUNTY]},
    "remove": {"remove": ["F0010"]},
    "move": {"move": [{"id": "F0010", "lon": 112.6, "lat": 38.05}]},
    "upgrade": {"upgrade": [{"id": "F0050", "tier": "county", "beds": 120}]},
    "downgrade": {"downgrade": [{"id": "F0005", "tier": "primary"}]},
    "campus": {"campus": [{"of": "F0001", "lon": 112.3, "lat": 37.75, "beds": 200}]},
    "roads": {
        "road_speed": [{"route": [[112.55, 37.85], [112.6, 38.05]], "kmh": 100}],
        "road_add": [{"from": [112.3, 37.9], "to": [112.4, 37.95], "kmh": 60}],
    },
}


@pytest.fixture(scope="module")
def study(demo_study_file, tmp_path_factory):
    s = Study.from_file(demo_study_file, output_root=tmp_path_factory.mktemp("out"))
    base = s.run()
    return s, base


@pytest.mark.parametrize("kind", list(EDITS))
def test_incremental_equals_full_recompute(study, kind, caplog):
    s, base = study
    with caplog.at_level("INFO", logger="geoaccess.measures.blocks"):
        fast = whatif(s, base=base, name=kind, **EDITS[kind])
    if kind == "roads":  # OD blocks out of the edits' reach were carried over, not searched again
        kept = [r.getMessage() for r in caplog.records if "OD blocks kept" in r.getMessage()]
        assert kept and int(kept[0].split()[2]) > 0, kept
    full = whatif(s, base=base, full=True, name=kind, **EDITS[kind])
    for t in s.settings.tier_names:
        assert np.array_equal(fast.tiers[t].minutes, full.tiers[t].minutes), t
        assert np.array_equal(fast.tiers[t].node_minutes, full.tiers[t].node_minutes), t
    pd.testing.assert_frame_equal(fast.counties, full.counties)
    assert list(fast.counties.columns) == list(base.counties.columns)
    if kind != "roads":
        assert "incremental" in fast.recompute.values() and "full" not in fast.recompute.values()
        for t in s.settings.tier_names:
            assert np.array_equal(fast.tiers[t].facility, full.tiers[t].facility), t


@pytest.mark.parametrize("kind", ["add", "remove", "move", "upgrade", "campus"])
def test_whatif_equals_a_fresh_study_of_the_edited_facilities(study, demo_study_file, tmp_path, kind):
    """The oracle shares nothing with the scenario: a new Study reads the edited facility list from a file."""
    s, base = study
    r = whatif(s, base=base, name=kind, **EDITS[kind])
    r.facility_table().to_csv(tmp_path / "facilities.csv", index=False)
    text = demo_study_file.read_text(encoding="utf-8")
    orig = text.split('facilities = "', 1)[1].split('"', 1)[0]
    (tmp_path / "edited.toml").write_text(text.replace(orig, (tmp_path / "facilities.csv").as_posix()), "utf-8")
    fresh = Study.from_file(tmp_path / "edited.toml", output_root=tmp_path / "out").compute(areas=False)
    for t in s.settings.tier_names:
        assert np.array_equal(fresh.tiers[t].minutes, r.tiers[t].minutes), t
    # accessible beds (the 2SFCA family) of a scenario that closes, moves or changes a facility subtract its share
    # from the baseline's sum: equal up to rounding; every other column, statuses and zones included, to the bit
    acc = [c for c in fresh.counties.columns if c.startswith("accessible_beds")]
    assert acc
    pd.testing.assert_frame_equal(fresh.counties.drop(columns=acc), r.counties.drop(columns=acc), check_exact=True)
    for c in acc:
        np.testing.assert_allclose(r.counties[c], fresh.counties[c], rtol=1e-9, atol=0, err_msg=c)


def test_added_county_hospital_gains_and_never_loses(study):
    s, base = study
    r = whatif(s, add=[NEW_COUNTY])
    for t in s.settings.tier_names:
        assert np.all(r.tiers[t].minutes <= base.tiers[t].minutes)
    c = r.compare(base)
    county = c[c["tier"] == "county"]
    assert county["people_newly_within"].sum() > 0
    assert county["people_no_longer_within"].sum() == 0
    assert r.recompute["regional"] == "reused"
    # the new site is the nearest county facility for some cells, and its row is appended
    new = len(s.load().facilities)
    assert r.facilities["id"].iat[new] == "scenario-new1" and (r.tiers["county"].facility == new).any()


def test_removal_only_loses(study):
    s, base = study
    r = whatif(s, remove=["F0001"])
    c = r.compare(base)
    assert (c["people_newly_within"] == 0).all()
    assert np.all(r.tiers["regional"].minutes >= base.tiers["regional"].minutes)
    assert not r.facilities.loc[r.facilities["id"] == "F0001", "active"].iat[0]


def test_campus_shares_beds(study):
    s, _ = study
    fac = s.load().facilities
    before = float(fac.loc[fac["id"] == "F0001", "beds"].iat[0])
    r = whatif(s, campus=[{"of": "F0001", "lon": 112.3, "lat": 37.75, "beds": 200}])
    f = r.facilities
    assert float(f.loc[f["id"] == "F0001", "beds"].iat[0]) == before - 200
    campus = f[f["parent_id"] == "F0001"]
    assert len(campus) == 1 and campus["tier"].iat[0] == fac.loc[fac["id"] == "F0001", "tier"].iat[0]
    assert f["beds"].sum() == pytest.approx(fac["beds"].sum())


@pytest.mark.parametrize(
    "edits, message",
    [
        ({"remove": ["F9999"]}, "unknown facility id 'F9999'"),
        ({"upgrade": [{"id": "F0050", "tier": "hospital"}]}, "unknown tier 'hospital'"),
        ({"add": [{"lon": 120.0, "lat": 30.0, "tier": "county"}]}, "outside the study area"),
        ({"move": [{"id": "F0010", "lon": 116.4, "lat": 39.9}]}, "outside the study area"),
        ({"downgrade": [{"id": "F0050", "tier": "regional"}]}, "wrong way"),
        ({"road_add": [{"from": [100.0, 30.0], "to": [112.4, 37.95], "kmh": 60}]}, "outside the study area"),
        ({"upgrade": [{"id": "F0050"}]}, "nothing to change"),
        ({"upgrade": [{"id": "F0001", "tier": "regional"}]}, "already 'regional'"),
    ],
)
def test_bad_edits_fail_clearly(study, edits, message):
    s, _ = study
    with pytest.raises(InputError, match=message):
        whatif(s, **edits)


def test_every_problem_is_reported_at_once(study):
    s, _ = study
    with pytest.raises(InputError) as info:
        whatif(s, remove=["NOPE"], add=[{"lon": 0.0, "lat": 0.0, "tier": "mega"}])
    assert len(info.value.problems) == 3


def test_facility_and_road_problems_are_reported_together(study):
    s, _ = study
    with pytest.raises(InputError) as info:
        whatif(s, remove=["NOPE"], road_add=[{"from": [100.0, 30.0], "to": [112.4, 37.95], "kmh": 60}])
    text = str(info.value)
    assert "NOPE" in text and "outside the study area" in text


def test_oneway_must_be_a_boolean(study):
    s, _ = study
    with pytest.raises(ConfigError, match="oneway must be true or false"):
        whatif(s, road_add=[{"from": [112.3, 37.9], "to": [112.4, 37.95], "kmh": 60, "oneway": "no"}])


def test_closing_every_facility_of_a_tier(study):
    s, base = study
    fac = s.load().facilities
    ids = list(fac.loc[fac["tier"] == "regional", "id"])
    fast = whatif(s, base=base, remove=ids)
    full = whatif(s, base=base, full=True, remove=ids)
    assert np.isinf(fast.tiers["regional"].minutes).all() and (fast.tiers["regional"].facility == -1).all()
    pd.testing.assert_frame_equal(fast.counties, full.counties)


def test_a_new_tier_gives_a_facility_its_level(study):
    """An upgraded township centre refers patients as a county hospital, not by its old type."""
    s, base = study
    r = whatif(s, base=base, upgrade=[{"id": "F0050", "tier": "county", "beds": 150}])
    row = r.facilities[r.facilities["id"] == "F0050"]
    assert row["tier"].iat[0] == "county" and pd.isna(row["type"].iat[0])


def test_scenario_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\n[[ad]]\nlon = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['ad'\]"):
        load_scenario(bad)
    bad.write_text('[[add]]\nlon = "east"\nlat = 37.9\ntier = "county"\ncolour = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(bad)
    text = str(info.value)
    assert "lon must be a number" in text and "unknown key(s) ['colour']" in text


def _digest(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*") if p.is_file()}


def test_cli_whatif_writes_compare_and_keeps_baseline(study, tmp_path, capsys):
    s, _ = study
    out = s.settings.output
    before = _digest(out)
    evil = "<script>alert(1)</script> `x` ${7*7}"  # HTML, and a JavaScript template literal
    sc = tmp_path / "sc.toml"
    sc.write_text(
        f'[scenario]\nname = "yangqu"\ntitle = "{evil}"\n'
        f'[[add]]\nlon = 112.6\nlat = 38.05\ntier = "county"\nname = "{evil}"\n[[remove]]\nid = "F0100"\n',
        encoding="utf-8",
    )
    study_file = s.settings.path
    # the CLI resolves the output folder from the current directory; run it from the test's output root
    root = out.parents[1]
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert main(["-q", "whatif", str(study_file), str(sc)]) == 0
    finally:
        os.chdir(cwd)
    assert _digest(out) == before, "a scenario run must never overwrite the baseline outputs"
    sdir = out / "scenarios" / "yangqu"
    table = pd.read_csv(sdir / "compare.csv", dtype={"county_code": str})
    assert len(table) == 10 * 3
    for col in ("people_newly_within", "share_within_change", "median_min_change", "status_before", "zone_after"):
        assert col in table.columns
    page = (sdir / "compare.html").read_text(encoding="utf-8")
    mp = (sdir / "compare_map.html").read_text(encoding="utf-8")
    assert evil not in page and evil not in mp and "&lt;script&gt;" in page
    scripts = "".join(part.split("</script>")[0] for part in mp.split("<script>")[1:])
    # no input text in the page's scripts: the name is plain text in the JSON data block, which map.js escapes
    assert "${7*7}" not in scripts and "`x`" not in scripts and "\\u003cscript\\u003ealert(1)" in mp
    assert "合成数据" in page  # the demo's counties carry Chinese adcodes: the page is in Chinese
    assert "新增可达" in page
    assert (sdir / "lib" / "leaflet" / "leaflet.js").exists()
    assert "wrote" in capsys.readouterr().out


def test_optimize_coverage_picks_gain_people(study):
    s, base = study
    p = place(s, "county", 2, "coverage")
    assert len(p.sites) == 2
    cum = p.sites["people_newly_within_cumulative"].to_numpy()
    assert cum[-1] == pytest.approx(p.people_newly_within) and cum[-1] > 0
    # the picks, evaluated exactly, are within a few per cent of the model's estimate on aggregated demand
    assert p.people_newly_within == pytest.approx(p.model_value, rel=0.05)


def test_optimize_options(study):
    s, _ = study
    up = place(s, "county", 1, upgrades=True)
    assert up.sites["id"].iat[0] in set(s.load().facilities["id"])
    z = place(s, "primary", 2, zones=["enrich"], candidates="nodes")
    table = Baseline.of(s).counties
    enrich = set(table.loc[table["zone"] == "enrich", "county_code"])
    assert enrich and set(z.sites["county_code"]) <= enrich
    med = place(s, "county", 1, "median")
    assert med.sites["mean_minutes_after"].iat[0] <= np.average(
        whatif(s).tiers["county"].minutes, weights=s.load().population.people
    )
    # each choice that changes the answer has its own folder
    assert {up.folder, z.folder, med.folder} == {
        "county-coverage-k1-upgrades",
        "primary-coverage-k2-nodes-enrich",
        "county-median-k1",
    }
    with pytest.raises(InputError, match="no county is in zone"):
        place(s, "county", 1, zones=["priority"])
    with pytest.raises(InputError, match="unknown tier"):
        place(s, "hospital", 1)
    with pytest.raises(InputError, match="not valid WGS84 points inside"):
        place(s, "county", 1, candidates=[{"lon": 120.0, "lat": 30.0}])


def test_upgrades_limited_to_facility_types(study, capsys, monkeypatch):
    """Issue 14: ``--upgrades`` picked a 5-bed village clinic as a county hospital; types limit the candidates."""
    s, _ = study
    fac = s.load().facilities.set_index("id")
    anyone = place(s, "county", 1, upgrades=True)
    assert fac.loc[anyone.sites["id"].iat[0], "type"] == "village clinic"  # what the issue saw
    typed = place(s, "county", 2, upgrades=["township", "Community"])
    assert set(fac.loc[typed.sites["id"], "type"]) <= {"township health centre", "community health centre"}
    assert set(typed.candidates["id"]) == set(fac.index[fac["type"].str.contains("township|community")])
    assert typed.folder == "county-coverage-k2-upgrades_township_community"
    with pytest.raises(InputError, match=r"no facility below the tier .* type containing \['hospice'\]"):
        place(s, "county", 1, upgrades=["hospice"])
    with pytest.raises(InputError, match="at least one facility type"):
        place(s, "county", 1, upgrades=[" "])
    monkeypatch.chdir(s.settings.output.parents[1])  # the CLI resolves the output folder from the current directory
    args = ["-q", "optimize", str(s.settings.path), "--tier", "county", "--k", "1", "--upgrade-types", "township"]
    assert main(args) == 0
    picks = pd.read_csv(s.settings.output / "optimize" / "county-coverage-k1-upgrades_township" / "picks.csv")
    assert fac.loc[picks["id"].iat[0], "type"] == "township health centre"


def test_public_api_is_pinned():
    import geoaccess

    assert geoaccess.__all__ == [
        "Baseline",
        "ConfigError",
        "GeoaccessError",
        "InputError",
        "Network",
        "Study",
        "builtin_counties",
        "coords",
        "load_scenario",
        "place",
        "read_counties",
        "read_facilities",
        "read_population",
        "read_roads",
        "whatif",
    ]
    assert all(hasattr(geoaccess, n) for n in geoaccess.__all__)
    # the study does not call into scenarios: the dependency is one way
    import geoaccess.study as study_mod

    assert not hasattr(study_mod.Study, "whatif") and "scenarios" not in study_mod.__dict__


def test_people_beside_an_added_road_meet_it(study):
    """A new road past a remote cell: the cell walks to the new road (as a fresh study would snap it) and gains."""
    s, base = study
    inp = s.load()
    net, pop = inp.network, inp.population
    to_ll = pyproj.Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
    to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    cell = int(np.argmax(inp.demand_snap.offroad_m))
    cx, cy = to_m.transform(pop.lon[cell], pop.lat[cell])
    d = np.hypot(net.x - cx, net.y - cy)
    a = int(np.argmin(d))  # the junction nearest the cell, and one as far again beyond the cell
    b = int(np.argmin(np.hypot(net.x - (2 * cx - net.x[a]), net.y - (2 * cy - net.y[a]))))
    ends = [list(to_ll.transform(net.x[k], net.y[k])) for k in (a, b)]
    r = whatif(s, base=base, road_add=[{"from": ends[0], "to": ends[1], "kmh": 40}])
    line = shapely.linestrings([[net.x[a], net.y[a]], [net.x[b], net.y[b]]])
    walk = shapely.distance(line, shapely.points(cx, cy))
    assert walk < inp.demand_snap.offroad_m[cell]
    assert r.network.n_links == net.n_links + 1
    for t in s.settings.tier_names:
        assert r.tiers[t].minutes[cell] < base.tiers[t].minutes[cell], t


# -- bad input (issue 12) ----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["beds", "lon", "lat"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_scenario_numbers_must_be_finite(tmp_path, key, value):
    item = {"lon": "112.6", "lat": "38.05", "beds": "300", key: value}
    sc = tmp_path / "sc.toml"
    sc.write_text(
        '[scenario]\nname = "x"\n[[add]]\ntier = "county"\n' + "".join(f"{k} = {v}\n" for k, v in item.items()),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=rf"sc.toml: .*\n  - \[\[add\]\] entry 1: {key} must be a finite number"):
        load_scenario(sc)


@pytest.mark.parametrize("name", ["../up", "a/b", "<b>x</b>", "", "-x"])
def test_scenario_names_are_safe(name):
    from geoaccess.scenarios import make_scenario

    with pytest.raises(ConfigError, match="scenario name"):
        make_scenario(name, remove=["F0001"])


@pytest.mark.parametrize("spacing", [0, -1.0, float("nan"), float("inf"), True])
def test_optimize_spacing_must_be_a_distance(study, spacing):
    s, _ = study
    with pytest.raises(InputError, match=r"spacing_km \(--spacing-km\) must be a distance in km above 0"):
        place(s, "county", 1, spacing_km=spacing)


def test_optimize_refuses_a_grid_too_fine_before_allocating(study, capsys, monkeypatch):
    s, _ = study

    def no_baseline(*args, **kwargs):
        raise AssertionError("the baseline was computed before the grid was checked")

    monkeypatch.setattr(Baseline, "of", no_baseline)
    with pytest.raises(InputError, match=r"--spacing-km\) 0.001 makes a grid of [\d,]+ points .*limit 1,000,000"):
        place(s, "county", 1, spacing_km=0.001)
    assert main(["-q", "optimize", str(s.settings.path), "--tier", "county", "--spacing-km", "0"]) == 2
    assert "--spacing-km" in capsys.readouterr().err


def test_a_failed_scenario_write_keeps_its_previous_pages(study, monkeypatch):
    import geoaccess.outputs.compare as compare_mod

    s, base = study
    whatif(s, base=base, write=True, name="keepme", add=[NEW_COUNTY])
    out = s.settings.output / "scenarios" / "keepme"
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(compare_mod, "_page", full_disk)
    with pytest.raises(OSError, match="No space left"):
        whatif(s, base=base, write=True, name="keepme", remove=["F0100"])
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_a_scenario_waits_for_no_baseline_run(study):
    """A baseline run swaps the folder scenario bundles live in: a scenario write is refused meanwhile."""
    import os
    import socket

    s, base = study
    out = s.settings.output
    lock = out.parent / f".{out.name}.lock"
    lock.write_text(f"{os.getppid()} {socket.gethostname()}\n", encoding="utf-8")
    try:
        with pytest.raises(InputError, match=rf"another geoaccess run \(process {os.getppid()}\)"):
            whatif(s, base=base, write=True, name="locked", add=[NEW_COUNTY])
    finally:
        lock.unlink()
    assert not (out / "scenarios" / "locked").exists()


def test_the_whatif_baseline_leaves_out_the_maps_areas(study, demo_study_file, tmp_path):
    """The baseline a scenario is applied to skips service areas and catchments; its numbers are the run's."""
    s, base = study
    other = Study.from_file(demo_study_file, output_root=tmp_path)
    b = Baseline.of(other)
    assert b.result.areas is None and "areas" not in b.timings
    assert base.areas is not None  # a run keeps them for its maps
    pd.testing.assert_frame_equal(b.counties, base.counties, check_exact=True)
    a = whatif(other, name="r", **EDITS["move"])
    c = whatif(s, base=base, name="r", **EDITS["move"])
    pd.testing.assert_frame_equal(a.counties, c.counties, check_exact=True)
