"""New roads (``road_add``) on a study whose tiers travel off-road (issue 15), on the SYNTHETIC mountain study of
tests/test_scenarios_offroad.py: every result must equal a fresh study of the edited road network, whose terrain is
built from scratch (its road points, and the cells its roads make walkable: a road over a river is a bridge)."""

from __future__ import annotations

import json
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import LineString

from geoaccess import Study
from geoaccess.load import terrain as load_terrain
from geoaccess.scenarios import whatif
from geoaccess.terrain import Surface
from tests.test_scenarios_offroad import ADD_HILL, EDITS, LON0, MOAT, TRAVEL, computed_study, make_study, same

LAT0 = 37.80
ROADS = {
    # along the counties' northern edge, over grass: no barrier on its way
    "open": [{"from": [LON0, LAT0 + 0.04], "to": [LON0 + 0.02, LAT0 + 0.04], "kmh": 40}],
    # through the roadless hills and across the moat (two bridges): the village inside is reached at last
    "bridge": [{"from": [LON0 + 0.02, LAT0 + 0.04], "to": [LON0 + 0.04, LAT0 + 0.02], "kmh": 40}],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return computed_study(tmp_path_factory.mktemp("offroad_roads"), TRAVEL)


def fresh(sf, r, tmp_path):
    """The oracle: a new Study of the scenario's active facilities whose network is the scenario's (links and nodes
    in the same order), everything snapped onto it and its terrain built from scratch; it shares nothing else."""
    fac = r.facilities[r.facilities["active"]]
    pd.DataFrame(
        {"id": fac["id"], "name": fac["name"], "tier": fac["tier"], "beds": fac["beds"], "lon": fac.geometry.x,
         "lat": fac.geometry.y}
    ).to_csv(tmp_path / "edited.csv", index=False)  # fmt: skip
    text = sf.read_text(encoding="utf-8").replace(
        'facilities = "f.csv"', f'facilities = "{tmp_path.as_posix()}/edited.csv"'
    )
    path = sf.parent / f"edited_{tmp_path.name}.toml"
    path.write_text(text, encoding="utf-8")
    s = Study.from_file(path, output_root=tmp_path / "out")
    s.use_cache = False
    inp = s.load()
    net = r.network
    to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    g = inp.facilities.geometry
    s._inputs = replace(
        inp, network=net, facility_snap=net.snap(*to_m.transform(g.x.to_numpy(), g.y.to_numpy())),
        demand_snap=net.snap(*to_m.transform(inp.population.lon, inp.population.lat)),
    )  # fmt: skip
    return s.compute(areas=False)


def same_table(r, want):
    # as tests/test_scenarios_offroad.py compares them: the 2SFCA family's sums equal to rounding, the rest to the bit
    acc = [c for c in want.counties.columns if c.startswith("accessible_beds")]
    assert acc and list(r.counties.columns) == list(want.counties.columns)
    pd.testing.assert_frame_equal(want.counties.drop(columns=acc), r.counties.drop(columns=acc), check_exact=True)
    for c in acc:
        np.testing.assert_allclose(r.counties[c], want.counties[c], rtol=1e-9, atol=0, err_msg=c)


def village(pop):
    w, s, e, n = MOAT
    return (pop.lon > w + 0.0015) & (pop.lon < e - 0.0015) & (pop.lat > s + 0.0015) & (pop.lat < n - 0.0015)


@pytest.mark.parametrize("kind", list(ROADS))
def test_a_new_road_equals_a_fresh_study_of_the_edited_network(study, tmp_path, kind, caplog):
    s, base, sf = study
    with caplog.at_level("INFO", logger="geoaccess.load.terrain"):
        r = whatif(s, base=base, name=kind, road_add=ROADS[kind])
    assert r.network.n_links == s.load().network.n_links + 1
    note = [m.getMessage() for m in caplog.records if m.getMessage().startswith("added roads:")]
    assert len(note) == 1 and ("(0 of them bridges)" in note[0]) == (kind == "open"), note
    want = fresh(sf, r, tmp_path)
    same(r, want, s.settings.tier_names)
    same_table(r, want)
    for t in s.settings.tier_names:  # the node minutes too (nearest_facility's), for every tier and twin
        np.testing.assert_array_equal(r.tiers[t].node_minutes, want.tiers[t].node_minutes, err_msg=t)
        np.testing.assert_array_equal(r.walk_only[t].node_minutes, want.walk_only[t].node_minutes, err_msg=t)
    # the road changes minutes; on foot too (its cells are walked at [network] walk_kmh, faster than the grass)
    m, b = r.tiers["county"].minutes, base.tiers["county"].minutes
    assert np.all(m <= b) and (m < b).sum() >= 5
    assert (r.walk_only["county"].minutes < base.walk_only["county"].minutes).any()
    inside = village(s.load().population)
    assert inside.sum() >= 20 and np.isinf(base.tiers["primary"].minutes[inside]).all()
    if kind == "bridge":  # the moated village: over the bridges on foot, and by road for the mixed tiers
        assert np.isfinite(r.tiers["primary"].minutes[inside]).all()
        assert np.isfinite(r.tiers["county"].minutes[inside]).all()
        c = r.compare(base)
        assert c.loc[c["tier"] == "county", "people_newly_within"].sum() > 0
    else:
        assert np.isinf(r.tiers["primary"].minutes[inside]).all()
    # the full recompute of the scenario agrees
    full = whatif(s, base=base, full=True, name=kind, road_add=ROADS[kind])
    same(full, want, s.settings.tier_names)
    same_table(full, want)


def test_two_new_roads_with_a_faster_road_and_facility_edits(study, tmp_path):
    s, base, sf = study
    edits = {
        "road_add": ROADS["bridge"] + ROADS["open"],
        "road_speed": [{"route": [[LON0, LAT0 + 0.01], [LON0 + 0.04, LAT0 + 0.01]], "kmh": 120}],
        **EDITS["mixed_bag"],
    }
    r = whatif(s, base=base, name="combo", **edits)
    assert r.network.n_links == s.load().network.n_links + 2
    want = fresh(sf, r, tmp_path)
    same(r, want, s.settings.tier_names)
    same_table(r, want)


@pytest.mark.parametrize("kind", list(ROADS))
def test_the_edited_surface_is_the_surface_built_for_the_edited_network(study, tmp_path, kind):
    """with_added_roads: the road points (in order), the friction and everything else as build_surface makes them
    for the edited network; the friction grid is the baseline's own array when no cell changes."""
    s, base, sf = study
    r = whatif(s, base=base, name=kind, road_add=ROADS[kind])
    inp = s.load()
    area = inp.counties.to_crs(r.network.crs).geometry.to_numpy()
    no_entry, walk = s.settings.travel.no_entry, s.settings.walk_kmh
    got = load_terrain.with_added_roads(
        s.terrain(), r.network, inp.network, walk_kmh=walk, no_entry=no_entry, area=area
    )
    f = Study.from_file(sf, output_root=tmp_path / "out")
    f.use_cache = False
    f._inputs = replace(f.load(), network=r.network)
    want = f.terrain()
    np.testing.assert_array_equal(got.road_cell, want.road_cell)
    for k in ("link", "t", "offroad_m"):
        np.testing.assert_array_equal(getattr(got.road_snap, k), getattr(want.road_snap, k), err_msg=k)
    np.testing.assert_array_equal(got.friction, want.friction)
    np.testing.assert_array_equal(got.dem, want.dem)
    np.testing.assert_array_equal(got.demand_cell, want.demand_cell)
    assert len(got.road_cell) > len(s.terrain().road_cell)
    changed = got.friction != s.terrain().friction
    assert changed.any() and got.friction is not s.terrain().friction
    if kind == "bridge":  # cells of the moat made passable
        assert np.isinf(s.terrain().friction[changed]).sum() >= 2
    else:
        assert np.isfinite(s.terrain().friction[changed]).all()


def test_a_new_road_equals_a_study_whose_roads_file_has_it(study):
    """The oracle from the roads file: the loader sums the new link's minutes its own way (equal to rounding)."""
    s, base, sf = study
    d = sf.parent
    e = ROADS["bridge"][0]
    roads = gpd.read_file(d / "roads.gpkg").assign(speed=np.nan)
    new = gpd.GeoDataFrame({"class": ["secondary"], "speed": [40.0]}, geometry=[LineString([e["from"], e["to"]])],
                           crs="EPSG:4326")  # fmt: skip
    pd.concat([roads, new], ignore_index=True).to_file(d / "roads_new.gpkg")
    text = sf.read_text(encoding="utf-8").replace(
        '"roads.gpkg", class_field = "class"', '"roads_new.gpkg", class_field = "class", speed_field = "speed"'
    )
    (d / "new_road.toml").write_text(text, encoding="utf-8")
    f = Study.from_file(d / "new_road.toml", output_root=d / "out_new")
    f.use_cache = False
    want = f.compute(areas=False)
    r = whatif(s, base=base, name="bridge", road_add=ROADS["bridge"])
    for t in s.settings.tier_names:
        np.testing.assert_allclose(r.tiers[t].minutes, want.tiers[t].minutes, rtol=1e-12, atol=0, err_msg=t)
        np.testing.assert_array_equal(r.tiers[t].facility, want.tiers[t].facility, err_msg=t)
        np.testing.assert_array_equal(r.walk_only[t].minutes, want.walk_only[t].minutes, err_msg=t)
    shares = [c for c in want.counties.columns if c.endswith("_share_within") or c.endswith("_status")]
    pd.testing.assert_frame_equal(r.counties[shares], want.counties[shares])


@pytest.mark.parametrize("careless", ["no_bridge", "no_samples"])
def test_the_bridge_and_the_road_points_are_needed(study, tmp_path, monkeypatch, careless):
    """A surface without the new road's cells made walkable, or without its road points, breaks the oracle."""
    s, base, sf = study
    real = load_terrain.with_added_roads

    def bad(surface, net, old, **kw):
        got = real(surface, net, old, **kw)
        if careless == "no_bridge":
            friction, road_cell, road_snap = surface.friction, got.road_cell, got.road_snap
        else:
            friction, road_cell, road_snap = got.friction, surface.road_cell, surface.road_snap
        return Surface(friction, got.dem, got.transform, got.crs, got.cell_m, road_cell, road_snap, got.demand_cell,
                       got.facility_cell, knight=got.knight, cut_corners=got.cut_corners)  # fmt: skip

    monkeypatch.setattr(load_terrain, "with_added_roads", bad)
    r = whatif(s, base=base, name="bridge", road_add=ROADS["bridge"])
    monkeypatch.undo()
    want = fresh(sf, r, tmp_path)
    with pytest.raises(AssertionError):
        same(r, want, s.settings.tier_names)


@pytest.mark.parametrize("kind", list(ROADS))
def test_new_roads_on_trips_from_facilities_and_on_ground_walked_at_road_speed(tmp_path, kind, caplog):
    """Outreach trips (``direction = "from_facility"``), with a new site too; grass walked at [network] walk_kmh, so
    the open road makes no cell faster on foot: the walking-only results and the walk_only OD pool are carried over
    (their road node minutes follow the new road), the bridge changes them."""
    travel = TRAVEL + '[travel.landcover_speeds]\n"30" = 4.5\n"10" = 4.5\n[network]\ndirection = "from_facility"\n'
    sf = make_study(tmp_path, travel)
    s = Study.from_file(sf, output_root=tmp_path / "out")
    s.use_cache = False
    base = s.compute(areas=False)
    with caplog.at_level("INFO"):
        r = whatif(s, base=base, name=kind, road_add=ROADS[kind], add=[ADD_HILL])
    kept = [m.getMessage() for m in caplog.records if "OD blocks kept (walk_only)" in m.getMessage()]
    if kind == "open":
        assert "points, 0 cells made walkable" in caplog.text
        assert r.recompute["primary"] == "incremental"  # walk_only: the new site alone, over the same ground
        assert len(kept) == 1
    else:
        assert r.recompute["primary"] == "full" and len(kept) == 1
        n_kept, n_all = int(kept[0].split()[2]), int(kept[0].split()[4])
        assert n_kept < n_all  # the blocks the bridge may change are searched again
    want = fresh(sf, r, tmp_path)
    same(r, want, s.settings.tier_names)
    same_table(r, want)
    for t in s.settings.tier_names:
        np.testing.assert_array_equal(r.tiers[t].node_minutes, want.tiers[t].node_minutes, err_msg=t)


def test_the_serve_page_draws_a_new_road_on_an_offroad_study(study):
    """``geoaccess serve``: the road tool's junctions (GET /api/road) as a road_add, posted over real HTTP, answer
    what the CLI's what-if answers (it used to come back as the off-road refusal)."""
    pytest.importorskip("starlette", reason="geoaccess serve needs the [serve] extra")
    pytest.importorskip("uvicorn", reason="geoaccess serve needs the [serve] extra")
    from geoaccess.serve.app import create_app
    from geoaccess.serve.page import build_page
    from geoaccess.serve.session import Session, dumps, records
    from tests.test_serve import Running, call

    s, base, _ = study
    session = Session(s, warm=False)
    running = Running(create_app(session, build_page(session)))
    try:
        ends = []
        for lon, lat in ((LON0 + 0.0104, LAT0 + 0.0197), (LON0 + 0.0196, LAT0 + 0.0003)):  # clicks by junctions
            status, got, _ = call(running.url, f"/api/road?lon={lon}&lat={lat}")
            assert status == 200
            ends.append(got["junction"])
        body = {"road_add": [{"from": ends[0], "to": ends[1], "kmh": 40}]}
        status, answer, _ = call(running.url, "/api/scenario", body)
        assert status == 200, answer
        r = whatif(s, base=base, road_add=body["road_add"])
        assert answer["counties"] == json.loads(dumps(records(r.counties)))
        assert answer["changes"] == json.loads(dumps(records(r.compare(base))))
        assert answer["cells_changed"]["county"] > 0 and answer["change"]["county"] is not None
    finally:
        running.stop()


@pytest.mark.parametrize("mode", ["walk_only", "mixed"])
@pytest.mark.parametrize("kind", list(ROADS))
def test_od_blocks_out_of_the_changed_grounds_reach_are_carried_over_exactly(study, kind, mode):
    """ODPool.edited on an off-road pool over ground a new road changed: a kept block holds the very pairs a fresh
    pool over the edited surface searches, and the blocks near the road are searched again."""
    from geoaccess.scenarios import Baseline, make_scenario
    from geoaccess.scenarios.apply import apply_roads, edited_pool

    s, base, _ = study
    inp = s.load()
    b = Baseline.of(s, base)
    net = apply_roads(inp, make_scenario(kind, road_add=ROADS[kind]))
    area = inp.counties.to_crs(net.crs).geometry.to_numpy()
    surface = load_terrain.with_added_roads(
        s.terrain(), net, inp.network, walk_kmh=s.settings.walk_kmh, no_entry=s.settings.travel.no_entry, area=area
    )
    cells = s.terrain().facility_cell
    c = 30.0 if mode == "walk_only" else 3.0  # a car goes far in a mixed trip's 30 min
    cut = np.full(len(inp.facilities), c)
    s.od_pool(mode=mode).blocks(inp.facility_snap, cut, cells)  # the baseline's blocks at this cutoff
    pool = edited_pool(b, net, inp.demand_snap, surface=surface)[mode]
    kept = [k for k in pool._index if k[3] == c]
    assert 0 < len(kept) < len(inp.facilities)
    got = pool.blocks(inp.facility_snap, cut, cells)
    want = s.od_pool(replace(inp, network=net), mode, surface=surface).blocks(inp.facility_snap, cut, cells)
    for j in range(len(inp.facilities)):
        a, n = got.start[j], got.length[j]
        c, m = want.start[j], want.length[j]
        np.testing.assert_array_equal(got.origin[a : a + n], want.origin[c : c + m])
        np.testing.assert_array_equal(got.minutes[a : a + n], want.minutes[c : c + m])
    if kind != "bridge" or mode != "walk_only":  # (mixed at 3 min: no block reaches the bridge)
        return
    # and a bound too short to see the bridge breaks it: the blocks beside the road differ from a fresh pool's
    pool = s.od_pool(mode=mode)
    careless = pool.edited(net, inp.demand_snap, np.full(net.n_nodes, np.inf), np.zeros(0, dtype=np.int64),
                           surface=surface, ground=dict.fromkeys(pool._index, np.inf))  # fmt: skip
    bad = careless.blocks(inp.facility_snap, cut, cells)
    assert any(
        not np.array_equal(bad.minutes[bad.start[j] : bad.start[j] + bad.length[j]],
                           want.minutes[want.start[j] : want.start[j] + want.length[j]])
        for j in range(len(inp.facilities))
    )  # fmt: skip


def test_a_new_expressway_adds_no_entry_points(study, tmp_path, caplog):
    """[travel] no_entry (default: motorway, motorway_link): a road_add of class "motorway" across the moat is
    driven but neither entered nor walked on, so the moated village stays out of reach, on foot and by road; the
    result equals a fresh study of the edited network (whose build leaves the expressway's points out itself)."""
    s, base, sf = study
    road = [{**ROADS["bridge"][0], "class": "motorway"}]
    with caplog.at_level("INFO", logger="geoaccess.load.terrain"):
        r = whatif(s, base=base, name="expressway", road_add=road)
    net, inp = r.network, s.load()
    assert net.n_links == inp.network.n_links + 1 and len(net.link_class) == net.n_links
    assert net.link_class[-1] == "motorway" and set(net.link_class[:-1]) == {"secondary", "tertiary"}
    note = [m.getMessage() for m in caplog.records if m.getMessage().startswith("added roads:")]
    assert note == ["added roads: 0 points, 0 cells made walkable (0 of them bridges)"]
    want = fresh(sf, r, tmp_path)
    same(r, want, s.settings.tier_names)
    same_table(r, want)
    inside = village(inp.population)
    for t in s.settings.tier_names:
        np.testing.assert_array_equal(r.tiers[t].node_minutes, want.tiers[t].node_minutes, err_msg=t)
        assert np.isinf(r.tiers[t].minutes[inside]).all() and np.isinf(r.walk_only[t].minutes[inside]).all()
    # AccessMod's way (no_entry = []): the same road brings road points and bridges over the moat
    area = inp.counties.to_crs(net.crs).geometry.to_numpy()
    kw = {"walk_kmh": s.settings.walk_kmh, "area": area}
    base_sf = s.terrain()
    none = load_terrain.with_added_roads(base_sf, net, inp.network, no_entry=s.settings.travel.no_entry, **kw)
    assert none.friction is base_sf.friction and np.array_equal(none.road_cell, base_sf.road_cell)
    every = load_terrain.with_added_roads(base_sf, net, inp.network, no_entry=(), **kw)
    assert (
        len(every.road_cell) > len(base_sf.road_cell)
        and np.isinf(base_sf.friction[every.friction != base_sf.friction]).any()
    )


def test_road_add_class_must_be_a_string():
    from geoaccess.errors import ConfigError
    from geoaccess.scenarios import make_scenario

    assert make_scenario("x", road_add=[{**ROADS["open"][0], "class": "motorway"}]).edits["road_add"][0]["class"] == (
        "motorway"
    )
    with pytest.raises(ConfigError, match="class must be a string"):
        make_scenario("x", road_add=[{**ROADS["open"][0], "class": 3}])
