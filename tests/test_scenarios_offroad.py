"""What-if scenarios and placement on a study whose tiers travel off-road (issue 15): a small SYNTHETIC mountain
study (land cover, a noisy DEM, a river and a moated valley without roads) where every result of an edited facility
table must equal a fresh study of that table, bit for bit."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString

from geoaccess import Study, place
from geoaccess.scenarios import offroad, whatif
from tests.helpers import write_raster

LON0, LAT0, STEP = 112.50, 37.80, 0.01
# the moated valley: a ring of river with no road across it, people inside, nobody reaches them at baseline
MOAT = (LON0 + 0.029, LAT0 + 0.029, LON0 + 0.037, LAT0 + 0.037)
VILLAGE = (LON0 + 0.033, LAT0 + 0.033)

FACILITIES = [  # id, tier, beds, lon, lat: synthetic
    ("R1", "regional", 500, LON0 + 0.0052, LAT0 + 0.0048),
    ("C1", "county", 200, LON0 + 0.0203, LAT0 + 0.0107),
    ("C2", "county", 150, LON0 + 0.0081, LAT0 + 0.0312),
    ("P1", "primary", 20, LON0 + 0.0143, LAT0 + 0.0057),
    ("P2", "primary", 10, LON0 + 0.0296, LAT0 + 0.0118),
    ("P3", "primary", 15, LON0 + 0.0047, LAT0 + 0.0227),
    ("P4", "primary", 12, LON0 + 0.0193, LAT0 + 0.0261),
    ("P5", "primary", 8, LON0 + 0.0352, LAT0 + 0.0047),
]
# added sites: in the hills off the roads, in the moated valley, and across the river
ADD_HILL = {"lon": LON0 + 0.0227, "lat": LAT0 + 0.0193, "tier": "primary", "beds": 10, "id": "NEW1"}
ADD_VALLEY = {"lon": VILLAGE[0] + 0.0004, "lat": VILLAGE[1] - 0.0003, "tier": "primary", "beds": 5, "id": "NEW2"}
EDITS = {
    "add": {"add": [ADD_HILL]},
    "add_valley": {"add": [ADD_VALLEY]},
    "add_county": {"add": [{**ADD_HILL, "tier": "county", "beds": 80}]},
    "remove": {"remove": ["P4"]},
    "remove_county": {"remove": ["C1"]},
    # the only regional hospital moves: nobody is reached once it is gone, so the new site's search has no bound
    "move_regional": {"move": [{"id": "R1", "lon": LON0 + 0.0142, "lat": LAT0 + 0.0231}]},
    "move": {"move": [{"id": "P2", "lon": LON0 + 0.0262, "lat": LAT0 + 0.0284}]},
    "upgrade": {"upgrade": [{"id": "P3", "tier": "county", "beds": 60}]},
    "downgrade": {"downgrade": [{"id": "C2", "tier": "primary"}]},
    "beds": {"upgrade": [{"id": "C1", "beds": 400}]},
    "campus": {"campus": [{"of": "C1", "lon": LON0 + 0.0118, "lat": LAT0 + 0.0166, "beds": 50}]},
    "mixed_bag": {
        "add": [ADD_HILL],
        "remove": ["P1"],
        "move": [{"id": "C2", "lon": LON0 + 0.0158, "lat": LAT0 + 0.035}],
    },
}


def make_study(d, travel: str) -> Path:
    roads = []
    for i in (0, 1, 2):  # a road grid on the low western and southern ground; the north-east is roadless hills
        roads.append(LineString([(LON0 + j * STEP, LAT0 + i * STEP) for j in range(5)]))
    for i in (0, 1, 2):
        roads.append(LineString([(LON0 + i * STEP, LAT0 + j * STEP) for j in range(5)]))
    gpd.GeoDataFrame({"class": ["secondary", "tertiary"] * 3}, geometry=roads, crs="EPSG:4326").to_file(
        d / "roads.gpkg"
    )
    halves = [
        shapely.box(LON0, LAT0, LON0 + 0.02, LAT0 + 0.04),
        shapely.box(LON0 + 0.02, LAT0, LON0 + 0.04, LAT0 + 0.04),
    ]
    gpd.GeoDataFrame({"code": ["140106", "140105"], "name": ["A", "B"]}, geometry=halves, crs="EPSG:4326").to_file(
        d / "counties.gpkg"
    )
    rng = np.random.default_rng(7)
    pop = rng.gamma(0.6, 20.0, size=(40, 40)).astype("float32")
    vr, vc = int((LAT0 + 0.04 - VILLAGE[1]) / 0.001), int((VILLAGE[0] - LON0) / 0.001)
    pop[vr - 2 : vr + 3, vc - 2 : vc + 3] += 50.0  # the village
    with rasterio.open(
        d / "pop.tif", "w", driver="GTiff", height=40, width=40, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(LON0, LAT0 + 0.04, 0.001, 0.001),
    ) as f:  # fmt: skip
        f.write(pop, 1)
    lc = np.full((60, 60), 30, dtype=np.uint8)  # grassland, with forest and shrubs in the hills
    lc[:25, 30:] = 10
    lc[25:40, 35:] = 20
    with rasterio.open(
        d / "lc.tif", "w", driver="GTiff", height=60, width=60, count=1, dtype="uint8", crs="EPSG:4326",
        transform=from_origin(LON0 - 0.01, LAT0 + 0.05, 0.001, 0.001), nodata=0,
    ) as f:  # fmt: skip
        f.write(lc, 1)
    yy, xx = np.mgrid[0:60, 0:60]
    dem = 1000 + 8.0 * np.maximum(xx - 20, 0) + 6.0 * np.maximum(30 - yy, 0) + rng.normal(0, 2.0, (60, 60))
    write_raster(d / "dem.tif", dem, LON0 - 0.01, LAT0 + 0.05, res=0.001)
    w, s, e, n = MOAT
    rivers = [
        LineString([(LON0 + 0.0253, LAT0 - 0.01), (LON0 + 0.0253, LAT0 + 0.026)]),  # crossed by road bridges
        LineString([(w, s), (e, s), (e, n), (w, n), (w, s)]),
    ]
    gpd.GeoDataFrame(geometry=rivers, crs="EPSG:4326").to_file(d / "rivers.gpkg")
    pd.DataFrame(FACILITIES, columns=["id", "tier", "beds", "lon", "lat"]).assign(
        name=lambda t: "site " + t["id"]
    ).to_csv(d / "f.csv", index=False)
    sf = d / "study.toml"
    sf.write_text(
        f"""
[study]
name = "offroad"
synthetic = true
[inputs]
roads = {{ path = "roads.gpkg", class_field = "class" }}
facilities = "f.csv"
population = "pop.tif"
counties = {{ path = "counties.gpkg", code_field = "code", name_field = "name" }}
[[tiers]]
name = "primary"
threshold_min = 15
mode = "walk_only"
[[tiers]]
name = "county"
threshold_min = 30
[[tiers]]
name = "regional"
threshold_min = 45
[service_share]
tier = "primary"
method = "huff"
{travel}
""",
        encoding="utf-8",
    )
    return sf


TRAVEL = (
    '[travel]\nmode = "mixed"\nlandcover = "lc.tif"\ndem = "dem.tif"\nbarriers = ["rivers.gpkg"]\n'
    "anisotropic = true\ncompare_walk_only = true\n"
)


def computed_study(d, travel=TRAVEL):
    """The small mountain study written into ``d``, without the user cache, and its baseline (no areas)."""
    sf = make_study(d, travel)
    s = Study.from_file(sf, output_root=d / "out")
    s.use_cache = False
    return s, s.compute(areas=False), sf


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return computed_study(tmp_path_factory.mktemp("offroad"))


def fresh(sf, r, tmp_path):
    """The oracle: a new Study reading the scenario's active facilities from a file; it shares nothing with it."""
    r.facility_table().to_csv(tmp_path / "edited.csv", index=False)
    text = sf.read_text(encoding="utf-8").replace(
        'facilities = "f.csv"', f'facilities = "{tmp_path.as_posix()}/edited.csv"'
    )
    (sf.parent / "edited.toml").write_text(text, encoding="utf-8")
    s = Study.from_file(sf.parent / "edited.toml", output_root=tmp_path / "out")
    s.use_cache = False
    return s.compute(areas=False)


def same(r, want, tiers):
    for t in tiers:
        np.testing.assert_array_equal(r.tiers[t].minutes, want.tiers[t].minutes, err_msg=t)
        # facility positions: the scenario's table keeps closed rows; the fresh study's has only the active ones
        active = np.flatnonzero(r.facilities["active"].to_numpy())
        remap = np.full(len(r.facilities) + 1, -1)
        remap[active] = np.arange(active.size)
        np.testing.assert_array_equal(remap[r.tiers[t].facility], want.tiers[t].facility, err_msg=t)
        np.testing.assert_array_equal(r.walk_only[t].minutes, want.walk_only[t].minutes, err_msg=f"{t} on foot")
        np.testing.assert_array_equal(remap[r.walk_only[t].facility], want.walk_only[t].facility, err_msg=t)


def test_the_fixture_is_a_mountain_study(study):
    s, base, _ = study
    assert [s.settings.tier_mode(t) for t in s.settings.tiers] == ["walk_only", "mixed", "mixed"]
    inp = s.load()
    np.testing.assert_array_equal(s.facility_cells(inp.facilities), s.terrain().facility_cell)
    # the moated village is beyond everyone's reach at baseline; most people are not
    for t in s.settings.tier_names:
        m = base.tiers[t].minutes
        assert np.isinf(m).sum() >= 25 and np.isfinite(m).mean() > 0.9
    walk, mixed = base.walk_only["county"].minutes, base.tiers["county"].minutes
    assert (walk > mixed + 1.0).any()


@pytest.mark.parametrize("kind", list(EDITS))
def test_offroad_whatif_equals_a_fresh_study_of_the_edited_facilities(study, tmp_path, kind, caplog):
    s, base, sf = study
    with caplog.at_level("INFO", logger="geoaccess.measures.blocks"):
        r = whatif(s, base=base, name=kind, **EDITS[kind])
    # the off-road OD pools search only the sites the scenario adds or moves: unchanged sites' blocks are reused
    searched = [m.getMessage() for m in caplog.records if m.getMessage().startswith("OD: ")]
    sites = sum(len(EDITS[kind].get(k, [])) for k in ("add", "move", "upgrade", "campus"))
    assert all(int(m.split()[1]) <= max(sites, 1) for m in searched), searched
    if kind in ("add", "move"):
        assert searched
    assert "full" not in r.recompute.values()
    if kind != "beds":
        assert "incremental" in r.recompute.values()
    want = fresh(sf, r, tmp_path)
    same(r, want, s.settings.tier_names)
    # the county table: every column to the bit but the 2SFCA family's sums, which subtract a changed facility's share
    # from the baseline's (equal up to rounding), as for road studies
    acc = [c for c in want.counties.columns if c.startswith("accessible_beds")]
    assert acc and list(r.counties.columns) == list(want.counties.columns)
    pd.testing.assert_frame_equal(want.counties.drop(columns=acc), r.counties.drop(columns=acc), check_exact=True)
    for c in acc:
        np.testing.assert_allclose(r.counties[c], want.counties[c], rtol=1e-9, atol=0, err_msg=c)
    # and the full recompute of the scenario agrees with both
    full = whatif(s, base=base, full=True, name=kind, **EDITS[kind])
    assert set(full.recompute.values()) == {"full"}
    same(full, want, s.settings.tier_names)


def test_an_added_site_far_from_everyone_changes_nothing_and_a_valley_site_reaches_the_valley(study):
    s, base, _ = study
    pop = s.load().population
    valley = np.isinf(base.tiers["primary"].minutes)
    # a health post inside the moat: on foot (primary walks only) nobody outside can reach it, so nothing changes
    # for them, to the bit; the village is reached now
    # (people whose cell lies on the river ring step out to either bank: they may gain too)
    w, so, e, n = MOAT
    ring = (pop.lon > w - 0.0015) & (pop.lon < e + 0.0015) & (pop.lat > so - 0.0015) & (pop.lat < n + 0.0015)
    r = whatif(s, base=base, add=[ADD_VALLEY])
    got, was = r.tiers["primary"].minutes, base.tiers["primary"].minutes
    assert (got != was).any() and not (ring & ~valley).all()
    np.testing.assert_array_equal(got[~ring], was[~ring])
    np.testing.assert_array_equal(r.tiers["primary"].facility[~ring], base.tiers["primary"].facility[~ring])
    assert np.isfinite(got[valley]).sum() >= 25
    c = r.compare(base)
    gained = pop.people[valley & (got <= 15)].sum()
    assert gained > 0 and c.loc[c["tier"] == "primary", "people_newly_within"].sum() >= gained
    assert (r.recompute["county"], r.recompute["regional"]) == ("reused", "reused")
    # a county hospital there: its door is on the road outside the moat, so others may gain, and the valley is reached
    # from its own cell; nobody loses
    r = whatif(s, base=base, add=[{**ADD_VALLEY, "tier": "county", "id": "NEW3"}])
    got, was = r.tiers["county"].minutes, base.tiers["county"].minutes
    assert np.all(got <= was) and np.isfinite(got[valley]).sum() >= 25


def test_the_incremental_add_needs_its_strict_comparison(study, monkeypatch):
    """Dropping the bound or the comparison with the baseline breaks the oracle: the test above can fail."""
    s, base, _ = study
    real = offroad.add_sources

    def careless(trip, b, snap, fcells, positions, old):  # takes the new search's minutes wherever it reaches
        r = real(trip, b, snap, fcells, positions, old)
        sf = trip.surface
        have = np.flatnonzero(sf.demand_cell >= 0)
        m, lab = offroad._terrain(trip, fcells[positions], np.zeros(len(positions)), positions, None, have)
        r.minutes[have[np.isfinite(m)]] = m[np.isfinite(m)]
        return r

    monkeypatch.setattr(offroad, "add_sources", careless)
    bad = whatif(s, base=base, name="careless", **EDITS["add"])
    monkeypatch.undo()
    good = whatif(s, base=base, name="careful", **EDITS["add"])
    assert not np.array_equal(bad.tiers["primary"].minutes, good.tiers["primary"].minutes)


def test_road_speeds_on_an_offroad_study(study, caplog):
    """A faster road: mixed tiers recomputed over the same surface, walking never changes, OD blocks the edit cannot
    reach are carried over; equal to recomputing with fresh OD pools, bit for bit."""
    s, base, _ = study
    edit = {"road_speed": [{"route": [[LON0, LAT0 + 0.01], [LON0 + 0.04, LAT0 + 0.01]], "kmh": 120}]}
    with caplog.at_level("INFO", logger="geoaccess.measures.blocks"):
        r = whatif(s, base=base, name="fast-road", **edit)
    kept = [m.getMessage() for m in caplog.records if "OD blocks kept" in m.getMessage()]
    assert any(m.endswith("(walk_only)") and m.split()[2] == m.split()[4] for m in kept), kept  # all walking blocks
    full = whatif(s, base=base, name="fast-road", full=True, **edit)
    for t in s.settings.tier_names:
        np.testing.assert_array_equal(r.tiers[t].minutes, full.tiers[t].minutes, err_msg=t)
        np.testing.assert_array_equal(r.walk_only[t].minutes, base.walk_only[t].minutes, err_msg=t)
    pd.testing.assert_frame_equal(r.counties, full.counties, check_exact=True)
    np.testing.assert_array_equal(r.tiers["primary"].minutes, base.tiers["primary"].minutes)  # primary walks only
    m, b = r.tiers["county"].minutes, base.tiers["county"].minutes
    assert np.all(m <= b) and (m < b - 0.5).any()
    assert list(r.counties.columns) == list(base.counties.columns)
    # the oracle: a fresh study whose roads file gives that road 120 km/h (its link minutes are summed another way:
    # equal to rounding)
    d = s.settings.path.parent
    roads = gpd.read_file(d / "roads.gpkg")
    roads["speed"] = [120.0 if i == 1 else None for i in range(len(roads))]  # the road at LAT0 + 0.01
    roads.to_file(d / "roads_fast.gpkg")
    fast = '"roads_fast.gpkg", class_field = "class", speed_field = "speed"'
    text = s.settings.path.read_text(encoding="utf-8").replace('"roads.gpkg", class_field = "class"', fast)
    (d / "fast.toml").write_text(text, encoding="utf-8")
    f = Study.from_file(d / "fast.toml", output_root=d / "out_fast")
    f.use_cache = False
    want = f.compute(areas=False)
    for t in s.settings.tier_names:
        np.testing.assert_allclose(r.tiers[t].minutes, want.tiers[t].minutes, rtol=1e-12, atol=0, err_msg=t)
        np.testing.assert_allclose(r.walk_only[t].minutes, want.walk_only[t].minutes, rtol=1e-12, atol=0, err_msg=t)
    shares = [c for c in want.counties.columns if c.endswith("_share_within") or c.endswith("_status")]
    pd.testing.assert_frame_equal(r.counties[shares], want.counties[shares])


def test_placement_on_an_offroad_tier_picks_what_brute_force_says(study):
    """Candidates' minutes are terrain trips: the pick equals the best of a full recompute per candidate."""
    s, base, _ = study
    cands = pd.DataFrame(
        {
            "lon": [LON0 + 0.0227, LON0 + 0.0331, LON0 + 0.0102, LON0 + 0.0368, LON0 + 0.0152],
            "lat": [LAT0 + 0.0193, LAT0 + 0.0335, LAT0 + 0.0152, LAT0 + 0.0211, LAT0 + 0.0371],
        }
    )
    people = s.load().population.people
    for tier in ("primary", "county"):
        thr = next(t.threshold_min for t in s.settings.tiers if t.name == tier)
        before = base.tiers[tier].minutes
        gain = []
        for _, c in cands.iterrows():
            r = whatif(s, base=base, full=True, add=[{"lon": c["lon"], "lat": c["lat"], "tier": tier}])
            after = r.tiers[tier].minutes
            gain.append(people[(after <= thr) & ~(before <= thr)].sum())
        gain = np.array(gain)
        assert np.sort(gain)[-1] > np.sort(gain)[-2]  # a clear best
        p = place(s, tier, 1, candidates=cands, base=base)
        assert p.sites["candidate"].iat[0] == int(np.argmax(gain)), (tier, gain)
        assert p.people_newly_within == pytest.approx(gain.max())
        # two sites, the exact model: the best pair of a full recompute per pair
        pairs = [(a, b) for a in range(len(cands)) for b in range(a + 1, len(cands))]
        pair_gain = []
        for a, b in pairs:
            add = [{"lon": cands["lon"][j], "lat": cands["lat"][j], "tier": tier, "id": f"X{j}"} for j in (a, b)]
            after = whatif(s, base=base, full=True, add=add).tiers[tier].minutes
            pair_gain.append(people[(after <= thr) & ~(before <= thr)].sum())
        p2 = place(s, tier, 2, candidates=cands, base=base, method="exact")
        assert p2.people_newly_within == pytest.approx(max(pair_gain))


@pytest.mark.parametrize("kind", ["add_county", "mixed_bag"])
def test_trips_from_facilities_over_the_slope_too(tmp_path, kind):
    """Outreach trips (``direction = "from_facility"``): uphill and downhill swap, the oracle still holds to the bit."""
    sf = make_study(
        tmp_path, TRAVEL.replace("compare_walk_only = true\n", "") + '[network]\ndirection = "from_facility"\n'
    )
    s = Study.from_file(sf, output_root=tmp_path / "out")
    s.use_cache = False
    assert s.settings.direction == "from_facility"
    base = s.compute(areas=False)
    r = whatif(s, base=base, name=kind, **EDITS[kind])
    want = fresh(sf, r, tmp_path)
    for t in s.settings.tier_names:
        np.testing.assert_array_equal(r.tiers[t].minutes, want.tiers[t].minutes, err_msg=t)
    acc = [c for c in want.counties.columns if c.startswith("accessible_beds")]
    pd.testing.assert_frame_equal(want.counties.drop(columns=acc), r.counties.drop(columns=acc), check_exact=True)


def test_median_placement_on_an_offroad_tier_minimises_what_a_full_recompute_sums(study):
    s, base, _ = study
    cands = pd.DataFrame({"lon": [LON0 + 0.0227, LON0 + 0.0331, LON0 + 0.0368], "lat": [LAT0 + 0.0193, LAT0 + 0.0335,
                                                                                        LAT0 + 0.0211]})  # fmt: skip
    people = s.load().population.people
    on_grid = s.terrain().demand_cell >= 0
    total = []
    for _, c in cands.iterrows():
        after = whatif(s, base=base, full=True, add=[{"lon": c["lon"], "lat": c["lat"], "tier": "county"}])
        m = after.tiers["county"].minutes
        total.append((people * np.minimum(m, 1e6))[on_grid].sum())
    assert np.sort(total)[0] < np.sort(total)[1]
    p = place(s, "county", 1, "median", candidates=cands, base=base)
    assert p.sites["candidate"].iat[0] == int(np.argmin(total))
    assert p.model_value == pytest.approx(min(total), rel=1e-9)


def test_mixed_od_blocks_out_of_a_speed_edits_reach_are_carried_over_exactly(study):
    """ODPool.edited on a mixed pool: a kept block holds the very pairs a fresh pool on the edited network searches."""
    from dataclasses import replace

    from geoaccess.scenarios import Baseline, make_scenario
    from geoaccess.scenarios.apply import apply_roads, edited_pool

    s, base, _ = study
    inp = s.load()
    b = Baseline.of(s, base)
    scenario = make_scenario("east", road_speed=[{"route": [[LON0 + 0.02, LAT0 + 0.02], [LON0 + 0.04, LAT0 + 0.02]],
                                                   "kmh": 120}])  # fmt: skip
    net = apply_roads(inp, scenario)
    assert (net.link_fwd != inp.network.link_fwd).any()
    cells = s.terrain().facility_cell
    cut = np.full(len(inp.facilities), 3.0)
    s.od_pool(mode="mixed").blocks(inp.facility_snap, cut, cells)  # the baseline's blocks at this cutoff
    pools = edited_pool(b, net, inp.demand_snap)
    kept = [k for k in pools["mixed"]._index if k[3] == 3.0]
    assert 0 < len(kept) < len(inp.facilities)
    got = pools["mixed"].blocks(inp.facility_snap, cut, cells)
    want = s.od_pool(replace(inp, network=net), "mixed").blocks(inp.facility_snap, cut, cells)
    for j in range(len(inp.facilities)):
        a, n = got.start[j], got.length[j]
        c, m = want.start[j], want.length[j]
        np.testing.assert_array_equal(got.origin[a : a + n], want.origin[c : c + m])
        np.testing.assert_array_equal(got.minutes[a : a + n], want.minutes[c : c + m])
