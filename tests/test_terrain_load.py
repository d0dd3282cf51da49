"""Land cover, DEM and barriers onto the friction grid; the [travel] section; a study with mixed travel end to end."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from geoaccess import Study, place, whatif
from geoaccess.config import parse_study
from geoaccess.errors import ConfigError, InputError
from geoaccess.load.terrain import (
    WORLDCOVER_KMH,
    Grid,
    barrier_mask,
    landcover_friction,
    minutes_per_m,
    read_dem,
)
from geoaccess.measures.nearest import serving_mask
from tests.helpers import write_raster
from tests.test_load_study import LAT0, LON0, make_study

UTM = "EPSG:32649"  # Taiyuan (112.5 E) lies in UTM zone 49


def write_classes(path, arr, west, north, res=0.001, crs="EPSG:4326", nodata=0):
    profile = dict(driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype="uint8", crs=crs)
    with rasterio.open(path, "w", transform=from_origin(west, north, res, res), nodata=nodata, **profile) as d:
        d.write(arr.astype("uint8"), 1)


@pytest.fixture
def grid():
    """A 20 x 30 grid of 100 m cells near Taiyuan, in UTM."""
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(LON0, LAT0)
    return Grid(round(x, -2), round(y, -2) + 2000, 100.0, 20, 30, UTM)


def test_every_default_speed_says_where_it_comes_from():
    for code, (kmh, source) in WORLDCOVER_KMH.items():
        assert kmh >= 0 and ("AccessMod" in source or "planning assumption" in source or kmh == 0), code


def test_landcover_in_another_crs_is_warped_onto_the_grid(tmp_path, grid):
    # west half cropland, east half trees, in geographic coordinates
    arr = np.full((60, 80), 40, dtype=np.uint8)
    arr[:, 40:] = 10
    write_classes(tmp_path / "lc.tif", arr, LON0 - 0.01, LAT0 + 0.04)
    friction, notes = landcover_friction(tmp_path / "lc.tif", grid, {40: 3.0})
    assert friction.shape == grid.shape and friction.dtype == np.float32
    values = set(np.unique(friction).tolist())
    assert values <= {np.float32(minutes_per_m(3.0)), np.float32(minutes_per_m(2.0)), np.inf}
    assert friction[10, 0] == np.float32(minutes_per_m(3.0))  # the override, not the default 4 km/h
    assert "lc.tif" in notes[0]


def test_bad_rasters_are_one_clear_error(tmp_path, grid):
    arr = np.full((10, 10), 40, dtype=np.uint8)
    arr[0, 0] = 123
    write_classes(tmp_path / "far.tif", arr, 10.0, 10.0)  # off the coast of Africa
    with pytest.raises(InputError, match="does not overlap"):
        landcover_friction(tmp_path / "far.tif", grid)
    big = np.full((60, 80), 40, dtype=np.uint8)
    big[30, 40] = 123
    write_classes(tmp_path / "odd.tif", big, LON0 - 0.01, LAT0 + 0.04)
    with pytest.raises(InputError, match=r"class\(es\) \[123\].*landcover_speeds"):
        landcover_friction(tmp_path / "odd.tif", grid)
    with rasterio.open(
        tmp_path / "nocrs.tif", "w", driver="GTiff", height=4, width=4, count=1, dtype="uint8",
        transform=from_origin(0, 4, 1, 1),
    ) as d:  # fmt: skip
        d.write(np.full((4, 4), 40, dtype=np.uint8), 1)
    with pytest.raises(InputError, match="no coordinate reference system.*gdal_edit"):
        landcover_friction(tmp_path / "nocrs.tif", grid)
    with pytest.raises(InputError, match="not found"):
        read_dem(tmp_path / "missing.tif", grid)


def test_dem_is_read_bilinear_with_nodata_as_nan(tmp_path, grid):
    yy, xx = np.mgrid[0:60, 0:80]
    z = (1000 + 10.0 * xx).astype(np.float32)
    z[:5, :] = -1  # nodata
    write_raster(tmp_path / "dem.tif", z, LON0 - 0.01, LAT0 + 0.04, res=0.001)
    dem = read_dem(tmp_path / "dem.tif", grid)
    assert dem.dtype == np.float32 and np.isfinite(dem).mean() > 0.5
    fin = np.isfinite(dem)
    assert np.all(np.diff(np.where(fin, dem, np.nan), axis=1)[fin[:, 1:] & fin[:, :-1]] > 0)  # rises eastwards


def test_barriers_lines_and_polygons_in_any_crs(tmp_path, grid):
    x0, y0, x1, y1 = grid.bounds
    river = shapely.LineString([(x0 + 1050, y0 - 100), (x0 + 1050, y1 + 100)])
    lake = shapely.box(x0 + 2000, y0 + 200, x0 + 2500, y0 + 700)
    gdf = gpd.GeoDataFrame(geometry=[river, lake], crs=UTM).to_crs("EPSG:4326")
    gdf.to_file(tmp_path / "water.gpkg")
    mask = barrier_mask([tmp_path / "water.gpkg"], grid)
    assert mask[:, 10].all()  # the river crosses every row
    assert mask[-7:-2, 20:25].all()  # the lake
    gpd.GeoDataFrame(geometry=[river], crs=UTM).to_file(tmp_path / "nocrs.shp")
    (tmp_path / "nocrs.prj").unlink()  # a shapefile without its .prj: no CRS
    with pytest.raises(InputError, match="no coordinate reference system"):
        barrier_mask([tmp_path / "nocrs.shp"], grid)
    with pytest.raises(InputError, match="OpenStreetMap roads file"):
        barrier_mask(["osm"], grid, roads_path=tmp_path / "roads.gpkg")


def write_osm(path, nodes, ways, relations=()):
    """A minimal OSM XML file: ``nodes`` {id: (lon, lat)}, ``ways`` [(id, refs, tags)], ``relations``
    [(id, [(way id, role)], tags)]."""

    def tags(t):
        return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in t.items())

    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="geoaccess tests">']
    out += [f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>' for i, (lon, lat) in nodes.items()]
    for i, refs, t in ways:
        out.append(f'<way id="{i}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs) + tags(t) + "</way>")
    for i, members, t in relations:
        m = "".join(f'<member type="way" ref="{w}" role="{role}"/>' for w, role in members)
        out.append(f'<relation id="{i}" version="1">{m}{tags(t)}</relation>')
    path.write_text("\n".join(out + ["</osm>"]), encoding="utf-8")


def test_osm_barriers_assemble_multipolygon_lakes_with_islands(tmp_path, grid):
    """A lake drawn as a multipolygon relation (its outer ring in two untagged ways, an island as the inner ring)
    is a barrier, its island is not; a closed water way and a river line still are; a relation whose ring does not
    close is left out."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    x0, _, _, y1 = grid.bounds  # top left; rows go south from y1, columns east from x0

    def ring(w, e, n, s):  # metres east of x0 and south of y1 -> lon, lat of the four corners
        return [to_ll.transform(x0 + x, y1 - y) for x, y in ((w, n), (e, n), (e, s), (w, s))]

    pts = ring(550, 2450, 250, 1750) + ring(1250, 1750, 750, 1250) + ring(2650, 2950, 1850, 1950)
    pts += [to_ll.transform(x0 + 50, y1 - y) for y in (50, 1950)]  # a river along the first column
    pts += [to_ll.transform(x0 + x, y1 - 1950) for x in (100, 2900)]  # a road, so the file is a roads file
    nodes = {k + 1: p for k, p in enumerate(pts)}
    ways = [
        (100, [1, 2, 3], {}),  # the lake's outer ring, in two pieces
        (101, [3, 4, 1], {}),
        (102, [5, 6, 7, 8, 5], {}),  # the island
        (103, [9, 10, 11, 12, 9], {"natural": "water"}),  # a pond: a closed way
        (104, [13, 14], {"waterway": "river"}),
        (105, [15, 16], {"highway": "primary"}),
        (106, [9, 10], {}),  # the open ring of a broken relation
    ]
    relations = [
        (200, [(100, "outer"), (101, "outer"), (102, "inner")], {"type": "multipolygon", "natural": "water"}),
        (201, [(106, "outer")], {"type": "multipolygon", "natural": "water"}),
    ]
    write_osm(tmp_path / "roads.osm", nodes, ways, relations)
    mask = barrier_mask(["osm"], grid, roads_path=tmp_path / "roads.osm")
    # rows 2-17 and columns 5-24 are the lake; the island's rows 7-12 and columns 12-17 (their edges touched)
    assert mask[2:18, 5:25][:, [0, -1]].all()
    assert mask[2:7, 5:25].all() and mask[13:18, 5:25].all() and mask[7:13, 5:12].all() and mask[7:13, 18:25].all()
    assert not mask[8:12, 13:17].any()  # the island is dry land
    assert mask[18:20, 26:30].all()  # the pond
    assert mask[:, 0].all()  # the river
    assert not mask[0:2, 1:].any() and not mask[18:20, 1:26].any() and not mask[:18, 25:].any()  # around them


# -- [travel] ---------------------------------------------------------------------------------------------------


def study_with(travel: str, tiers: str = "") -> dict:
    import tomllib

    base = '[inputs]\nroads = "r.pbf"\nfacilities = "f.csv"\npopulation = "p.tif"\ncounties = { adcode = "1401" }\n'
    return tomllib.loads(base + travel + tiers)


def test_travel_section_parses(tmp_path):
    s = parse_study(
        study_with(
            '[travel]\nmode = "mixed"\nlandcover = "lc.tif"\ndem = "dem.tif"\nbarriers = ["osm", "rivers.gpkg"]\n'
            'anisotropic = true\nknight = false\ncell_m = 90\n[travel.landcover_speeds]\n"40" = 3.0\n"80" = 0\n'
            "[travel.periods.peak]\nmotorway = 0.7\n",
            '[[tiers]]\nname = "primary"\nthreshold_min = 15\nmode = "walk_only"\n'
            '[[tiers]]\nname = "county"\nthreshold_min = 60\n',
        ),
        tmp_path / "s.toml",
    )
    t = s.travel
    assert t.mode == "mixed" and t.anisotropic and not t.knight and t.cell_m == 90
    assert t.landcover == (tmp_path / "lc.tif").resolve() and t.barriers[0] == "osm"
    assert t.landcover_speeds == {40: 3.0, 80: 0.0} and s.periods == {"peak": {"motorway": 0.7}}
    assert [s.tier_mode(x) for x in s.tiers] == ["walk_only", "mixed"] and s.uses_terrain
    plain = parse_study(study_with(""), tmp_path / "s.toml")
    assert not plain.uses_terrain and plain.travel.mode == "road" and not plain.travel.present


@pytest.mark.parametrize(
    "travel, words",
    [
        ('[travel]\nmode = "bike"\n', "mode must be one of"),
        ("[travel]\nspeed = 3\n", "unknown key"),
        ("[travel]\nanisotropic = true\n", "needs a \\[travel\\] dem"),
        ('[travel.landcover_speeds]\n"40" = 0\n', "class 40 has speed 0"),
        ('[travel.landcover_speeds]\n"40" = -2\n', "class 40 has speed -2"),
        ("[travel.landcover_speeds]\ncrop = 3\n", "not a land-cover class code"),
        ("[travel]\nbarriers = [3]\n", "barriers must be a list"),
        ("[travel]\nno_entry = [1]\n", "no_entry must be a list of road class names"),
        ('[travel]\nno_entry = ["motorway", ""]\n', "no_entry must be a list of road class names"),
    ],
)
def test_bad_travel_settings_are_one_clear_error(tmp_path, travel, words):
    with pytest.raises(ConfigError, match=words):
        parse_study(study_with(travel), tmp_path / "s.toml")


def test_a_bad_tier_mode_names_the_tier(tmp_path):
    with pytest.raises(ConfigError, match="primary mode must be one of"):
        parse_study(study_with("", '[[tiers]]\nname = "primary"\nthreshold_min = 15\nmode = "car"\n'), None)


# -- a study end to end ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def terrain_study(tmp_path_factory):
    """The tiny study of test_load_study with land cover, a DEM and a river (crossed by the roads: bridges)."""
    d = tmp_path_factory.mktemp("terrain_study")
    sf = make_study(d)
    arr = np.full((60, 60), 30, dtype=np.uint8)
    arr[:, 30:] = 10
    write_classes(d / "lc.tif", arr, LON0 - 0.01, LAT0 + 0.05)
    yy, xx = np.mgrid[0:60, 0:60]
    write_raster(d / "dem.tif", 1000 + 5.0 * xx + 3.0 * yy, LON0 - 0.01, LAT0 + 0.05, res=0.001)
    river = shapely.LineString([(LON0 + 0.0153, LAT0 - 0.01), (LON0 + 0.0153, LAT0 + 0.05)])
    gpd.GeoDataFrame(geometry=[river], crs="EPSG:4326").to_file(d / "rivers.gpkg")
    return d, sf, sf.read_text(encoding="utf-8")


def run_with(d, sf, text, travel):
    sf.write_text(text + travel, encoding="utf-8")
    study = Study.from_file(sf, output_root=d / "out")
    study.use_cache = False
    return study, study.compute()


def test_road_mode_is_todays_trip(terrain_study):
    d, sf, text = terrain_study
    _, plain = run_with(d, sf, text, "")
    _, road = run_with(d, sf, text, '[travel]\nmode = "road"\nlandcover = "lc.tif"\n')
    for tier in plain.tiers:
        np.testing.assert_array_equal(plain.tiers[tier].minutes, road.tiers[tier].minutes)
    assert plain.counties.equals(road.counties)


def test_mixed_and_walk_only_study(terrain_study):
    d, sf, text = terrain_study
    travel = (
        '[travel]\nmode = "mixed"\nlandcover = "lc.tif"\ndem = "dem.tif"\nbarriers = ["rivers.gpkg"]\n'
        "anisotropic = true\n"
    )
    study, mixed = run_with(d, sf, text, travel)
    _, walk = run_with(d, sf, text, travel.replace('"mixed"', '"walk_only"'))
    surface = study.terrain()
    assert np.isinf(surface.friction).sum() > 0 and "barriers" in " ".join(surface.notes)
    m, w = mixed.tiers["county"].minutes, walk.tiers["county"].minutes
    assert np.isfinite(m).all() and np.isfinite(w).all()  # the river is crossed on the road bridges
    assert np.all(m <= w + 1e-9) and (m < w).any()
    assert mixed.counties.shape == walk.counties.shape
    # off-road tiers' service areas come from their own terrain search, read at the areas' pixels (exact up to
    # their largest band or the farthest person), never from road trips
    for result, minutes in ((mixed, m), (walk, w)):
        a, r = result.areas.tiers["county"], result.tiers["county"]
        assert r.area_minutes is not None and r.area_minutes.size == result.areas.land_pixels
        kept = r.area_minutes[np.isfinite(r.area_minutes)]
        assert kept.size > 0 and kept.max() <= max(120.0, minutes.max())
        assert np.nanmax(a.minutes) <= np.float32(max(120.0, minutes.max()))
        pixel = result.areas.grid.pixel_of(study.load().population.lon, study.load().population.lat)
        assert np.all(a.minutes.ravel()[pixel] <= minutes.astype(np.float32))  # a pixel holds its people
    # a result without those minutes (computed without areas) has its off-road tiers searched again
    bare = {k: dataclasses.replace(v, area_minutes=None, area_facility=None) for k, v in mixed.tiers.items()}
    again, want = study.areas(study.load(), bare).service_areas(), mixed.areas.service_areas()
    assert again.drop(columns="geometry").equals(want.drop(columns="geometry"))
    assert all(g.equals(h) for g, h in zip(again.geometry, want.geometry, strict=True))


def test_a_rerun_reads_the_surface_from_the_cache(terrain_study, tmp_path, monkeypatch):
    """The surface is stored once its searches have run and read back whole: same grids, road samples and cells,
    and the same minutes, without labelling the grid's pieces of ground again. A changed land cover or setting
    is another key."""
    from geoaccess import cache

    d, sf, text = terrain_study
    monkeypatch.setenv("GEOACCESS_CACHE", str(tmp_path / "cache"))
    travel = (
        '[travel]\nmode = "mixed"\nlandcover = "lc.tif"\ndem = "dem.tif"\nbarriers = ["rivers.gpkg"]\n'
        "anisotropic = true\n"
    )
    sf.write_text(text + travel, encoding="utf-8")
    a = Study.from_file(sf, output_root=d / "out")
    ra = a.compute(areas=False)
    assert len(list(cache.cache_dir().glob("surface-*"))) == 1
    b = Study.from_file(sf, output_root=d / "out")
    sa, sb = a.terrain(), b.terrain()
    assert sb is not sa and sb._components is None and sb._pieces is not None
    for name in ("friction", "dem", "road_cell", "demand_cell", "facility_cell"):
        np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name))
        assert getattr(sa, name).dtype == getattr(sb, name).dtype
    for k in ("link", "t", "offroad_m"):
        np.testing.assert_array_equal(getattr(sa.road_snap, k), getattr(sb.road_snap, k))
    assert sa.transform == sb.transform and str(sa.crs) == str(sb.crs) and sa.notes == sb.notes
    assert (sa.cell_m, sa.knight, sa.cut_corners) == (sb.cell_m, sb.knight, sb.cut_corners)
    rb = b.compute(areas=False)
    assert sb._components is None  # the cached pieces answered every search
    for tier in ra.tiers:
        np.testing.assert_array_equal(ra.tiers[tier].minutes, rb.tiers[tier].minutes)
        np.testing.assert_array_equal(ra.tiers[tier].facility, rb.tiers[tier].facility)
    key = cache.surface_key(b.settings)
    sf.write_text(text + travel.replace("anisotropic = true", "anisotropic = true\nknight = false"), encoding="utf-8")
    assert cache.surface_key(Study.from_file(sf).settings) != key
    lc = tmp_path / "lc.tif"
    arr = np.full((60, 60), 30, dtype=np.uint8)
    arr[:, 29:] = 10  # one column more of class 10
    write_classes(lc, arr, LON0 - 0.01, LAT0 + 0.05)
    sf.write_text(text + travel.replace('"lc.tif"', f'"{lc.as_posix()}"'), encoding="utf-8")
    assert cache.surface_key(Study.from_file(sf).settings) != key


def test_whatif_and_placement_take_off_road_tiers(terrain_study):
    d, sf, text = terrain_study
    sf.write_text(text + '[travel]\nmode = "walk_only"\n', encoding="utf-8")
    study = Study.from_file(sf, output_root=d / "out")
    study.use_cache = False
    # what-if scenarios and placement take off-road tiers (tests/test_scenarios_offroad.py checks them to the bit),
    # so do partitioned runs (tests/test_partition_offroad.py)
    r = whatif(study, remove=["H1"])
    assert r.recompute["primary"] == "incremental"
    assert np.all(r.tiers["primary"].minutes >= study.baseline.tiers["primary"].minutes)
    assert len(place(study, "primary", 1, candidates=[{"lon": LON0 + 0.02, "lat": LAT0 + 0.02}]).sites) == 1


def test_the_front_page_settings_say_how_each_tier_travels(tmp_path):
    from geoaccess.outputs.explain import setting_label, settings_rows

    s = parse_study(
        study_with(
            '[travel]\nmode = "mixed"\nlandcover = "lc.tif"\nbarriers = ["osm"]\n',
            '[[tiers]]\nname = "primary"\nthreshold_min = 15\nmode = "walk_only"\n',
        ),
        tmp_path / "s.toml",
    )
    rows = dict(settings_rows(s, "en"))
    assert rows["travel"].startswith("primary: walk_only") and "lc.tif" in rows["travel"]
    assert str(tmp_path) not in rows["travel"]  # file names only, never a local path
    assert setting_label("travel", "zh") == "出行模式（地形）"
    assert "travel" not in dict(settings_rows(parse_study(study_with(""), tmp_path / "s.toml"), "en"))


# -- walking-only beside motorised ([travel] compare_walk_only) ----------------------------------------------


@pytest.fixture(scope="module")
def demo_mixed(demo_dir, tmp_path_factory):
    """data/studies/demo-mixed.toml on the session's demo inputs, without its periods (computed once)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "data" / "studies" / "demo-mixed.toml").read_text(encoding="utf-8")
    text = text.replace("../demo/", demo_dir.as_posix() + "/").split("# Time of day")[0]
    assert "compare_walk_only = true" in text
    p = tmp_path_factory.mktemp("demo_mixed") / "demo-mixed.toml"
    p.write_text(text, encoding="utf-8")
    study = Study.from_file(p, output_root=p.parent)
    study.use_cache = False
    return study, study.compute()


def test_walk_only_is_never_faster_than_mixed_on_the_demo(demo_mixed):
    from geoaccess.study import walk_only_surface

    study, r = demo_mixed
    assert set(r.walk_only) == set(r.tiers)
    pop = study.load().population
    for t in study.settings.tiers:
        mixed, walk = r.tiers[t.name].minutes, r.walk_only[t.name].minutes
        assert walk.shape == mixed.shape
        assert np.all(walk >= mixed - 1e-9 * np.maximum(1.0, mixed))  # cell by cell: a road never slows anyone
        assert (walk > mixed + 1.0).any()  # and it matters somewhere
        share = r.counties[f"{t.name}_walk_only_share"]
        assert np.all(share <= r.counties[f"{t.name}_share_within"] + 1e-12)
        cols = list(r.counties.columns)
        assert cols.index(f"{t.name}_walk_only_share") == cols.index(f"{t.name}_share_within") + 1
        # the share by hand: people within the threshold on foot over the county's people
        c = 0
        inside = pop.county == c
        expect = pop.people[inside & (walk <= t.threshold_min)].sum() / pop.people[inside].sum()
        assert share.iloc[c] == pytest.approx(expect, rel=1e-12)
        surf = walk_only_surface(r, t.name, pop)
        assert surf is not None and surf.shape == tuple(pop.shape) and surf.minutes.size > 0


def test_compare_walk_only_is_asked_for_and_whatif_updates_it(terrain_study, tmp_path):
    s = parse_study(study_with("[travel]\ncompare_walk_only = true\n"), tmp_path / "s.toml")
    assert s.travel.compare_walk_only and s.uses_terrain and s.tier_mode(s.tiers[0]) == "road"
    assert not parse_study(study_with('[travel]\nmode = "mixed"\n'), tmp_path / "s.toml").travel.compare_walk_only
    with pytest.raises(ConfigError, match="compare_walk_only must be true or false"):
        parse_study(study_with('[travel]\ncompare_walk_only = "yes"\n'), tmp_path / "s.toml")
    d, sf, text = terrain_study
    study, road = run_with(d, sf, text, "")
    assert road.walk_only is None and not any("walk_only" in c for c in road.counties.columns)
    study, r = run_with(d, sf, text, "[travel]\ncompare_walk_only = true\n")
    assert set(r.walk_only) == set(r.tiers)
    for t in r.tiers:  # road tiers keep today's minutes; the walking-only share is added beside them
        np.testing.assert_array_equal(r.tiers[t].minutes, road.tiers[t].minutes)
        assert f"{t}_walk_only_share" in r.counties.columns
    # each tier map offers the walking-only surface beside its own, one at a time
    import json
    import re

    out = d / "walk_bundle"
    study._write_bundle(r, out)
    for t in r.tiers:
        page = (out / f"map_{t}.html").read_text(encoding="utf-8")
        data = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', page, re.S).group(1))
        assert len(data["surfaces"]) == 2 and data["surfaces"][1]["name"].endswith(("仅步行", "on foot only"))
    # a scenario updates the walking-only minutes too, and the share beside each tier's
    after = whatif(study, base=r, remove=["H1"])
    assert set(after.walk_only) == set(r.tiers) and list(after.counties.columns) == list(r.counties.columns)
    for t in r.tiers:
        assert np.all(after.walk_only[t].minutes >= r.walk_only[t].minutes)


def test_off_road_tiers_measures_read_pairs_of_their_own_trip(demo_mixed):
    """Capacity coverage, 2SFCA and the share of a mixed study take pairs of the mixed trip: each demand point's best
    pair of a tier's facilities within its threshold is the tier's nearest minutes, bit for bit."""
    study, r = demo_mixed
    s, inp = study.settings, study.load()
    assert study._od_pool is None and set(study._terrain_pools) == {"mixed"}  # no road pairs at all
    pool = study._terrain_pools["mixed"]
    ranks = inp.facilities["tier_rank"].to_numpy()
    beds = inp.facilities["beds"].to_numpy(dtype=np.float64)
    cut = np.where(beds > 0, study._weights()[1], 0.0)
    for i, t in enumerate(s.tiers):
        cut = np.where(serving_mask(ranks, i, s.serve_lower_tiers), np.maximum(cut, t.threshold_min), cut)
    held = pool.pairs
    od = pool.blocks(inp.facility_snap, cut)
    assert pool.pairs == held  # the measures' own blocks
    for i, t in enumerate(s.tiers):
        serving = serving_mask(ranks, i, s.serve_lower_tiers)
        frame = od.frame(od.within(np.where(serving, t.threshold_min, -1.0)))
        best = np.full(len(inp.population.people), np.inf)
        np.minimum.at(best, frame["origin"].to_numpy(), frame["minutes"].to_numpy())
        nearest = r.tiers[t.name].minutes
        inside = nearest <= t.threshold_min
        np.testing.assert_array_equal(best[inside], nearest[inside])
        assert np.all(np.isinf(best[~inside]))


def test_referrals_of_an_off_road_study_are_transfers_by_road(demo_mixed):
    """A referral is a transfer between facilities, by road, however a tier's people travel: the referral table
    and the maps' referral minutes equal road trips to the bit, not the terrain's."""
    from geoaccess.measures import facility_levels, referral_table
    from geoaccess.trip import Trip

    study, r = demo_mixed
    s, inp = study.settings, study.load()
    ms = s.measures
    level = facility_levels(inp.facilities, list(ms.referral_levels), ms.type_level, ms.tier_level)
    road = referral_table(
        inp.network,
        inp.facility_snap,
        inp.facilities,
        level,
        list(ms.referral_levels),
        ms.referral_threshold_min,
        walk_kmh=s.walk_kmh,
        higher_levels_count=s.serve_lower_tiers,
    )
    np.testing.assert_array_equal(r.referrals["minutes"].to_numpy(), road["minutes"].to_numpy())  # fmt: skip
    ranks = inp.facilities["tier_rank"].to_numpy()
    ref = study._referral_minutes(r)
    trip = Trip(inp.network, s.walk_kmh, s.direction == "to_facility")
    primary = ranks == 0
    want = np.asarray(trip.point_minutes(r.tiers["county"].node_minutes, inp.facility_snap))
    assert primary.sum() > 50
    np.testing.assert_array_equal(ref[primary], want[primary])


def test_one_off_road_tier_leaves_the_road_tiers_measures_as_they_were(terrain_study):
    """Primary walks only, the rest drive: road tiers' columns and the 2SFCA family (the study's road mode) are the
    road study's to the bit; the primary tier's capacity coverage and its Huff share take walking pairs."""
    d, sf, text = terrain_study
    tiers = (
        '[[tiers]]\nname = "primary"\nthreshold_min = 15\nmode = "walk_only"\n'
        '[[tiers]]\nname = "county"\nthreshold_min = 60\n[[tiers]]\nname = "regional"\nthreshold_min = 120\n'
        '[service_share]\ntier = "primary"\nmethod = "huff"\n'
    )
    _, road = run_with(d, sf, text, tiers.replace('mode = "walk_only"\n', ""))
    study, one = run_with(d, sf, text, '[travel]\nlandcover = "lc.tif"\n' + tiers)
    assert study._od_pool is not None and set(study._terrain_pools) == {"walk_only"}
    same = [c for c in road.counties.columns if c.startswith(("county_", "regional_", "accessible_beds", "referral"))]
    assert any(c.startswith("accessible_beds") for c in same) and "county_served" in same
    for c in same:
        assert road.counties[c].equals(one.counties[c]), c
    assert not road.counties["primary_served"].equals(one.counties["primary_served"])
    assert not np.allclose(road.counties["within_county_share"], one.counties["within_county_share"])
    walked = study._terrain_pools["walk_only"]
    assert walked.pairs > 0 and walked.mode == "walk_only"


# -- [travel] no_entry: expressways are not entered from the terrain ---------------------------------------------------


def test_no_entry_parses_with_the_expressways_by_default(tmp_path):
    from geoaccess import cache

    default = parse_study(study_with('[travel]\nmode = "mixed"\n'), tmp_path / "s.toml")
    assert default.travel.no_entry == ("motorway", "motorway_link")
    assert parse_study(study_with(""), tmp_path / "s.toml").travel.no_entry == ("motorway", "motorway_link")
    none = parse_study(study_with('[travel]\nmode = "mixed"\nno_entry = []\n'), tmp_path / "s.toml")
    trunk = parse_study(study_with('[travel]\nmode = "mixed"\nno_entry = "trunk"\n'), tmp_path / "s.toml")
    same = parse_study(
        study_with('[travel]\nmode = "mixed"\nno_entry = ["motorway", "motorway_link", "motorway"]\n'),
        tmp_path / "s.toml",
    )
    assert none.travel.no_entry == () and trunk.travel.no_entry == ("trunk",)
    assert same.travel.no_entry == default.travel.no_entry
    # the surface cache is keyed by the setting ([travel] but mode and compare_walk_only)
    key = cache.surface_key(default, "inputs")
    assert cache.surface_key(same, "inputs") == key
    assert len({key, cache.surface_key(none, "inputs"), cache.surface_key(trunk, "inputs")}) == 3
    from geoaccess.outputs.explain import settings_rows

    assert "no entry from the terrain: motorway, motorway_link" in dict(settings_rows(default, "en"))["travel"]


def test_a_no_entry_class_the_roads_lack_is_one_clear_error(terrain_study):
    """The study's roads are 县道 / 乡道 (a Chinese line layer): a class they lack is refused, naming them; the
    default (motorway, motorway_link) is fine on roads without expressways."""
    d, sf, text = terrain_study
    with pytest.raises(InputError, match=r"\[travel\] no_entry = \['高速公路'\]: '高速公路' is not a road class of the "
                       r"network \(its classes: 乡道, 县道\)"):  # fmt: skip
        run_with(d, sf, text, '[travel]\nmode = "mixed"\nno_entry = ["高速公路"]\n')
    sf.write_text(text + '[travel]\nmode = "mixed"\n', encoding="utf-8")
    study = Study.from_file(sf, output_root=d / "out")
    study.use_cache = False
    assert len(study.terrain().road_cell) > 0 and "no entry" not in " ".join(study.terrain().notes)
