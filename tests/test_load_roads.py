"""Road sources: line layers with Chinese classes, projected CRSs, snapping, GraphML, fetch, OSM XML."""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from geoaccess import InputError, coords, read_roads
from geoaccess.load import fetch as fetch_mod
from geoaccess.load.facilities import read_facilities, read_osm_facilities
from geoaccess.load.roads import read_osm_ways
from geoaccess.load.speeds import class_kmh, profile_table

TIERS = ["primary", "county", "regional"]
LON0, LAT0 = 112.50, 37.80  # Taiyuan
STEP = 0.01  # about 1 km


def _part(t, minutes):
    """Minutes to drive fraction ``t`` of a link; 0 when t is 0, even on a link closed in that direction."""
    with np.errstate(invalid="ignore"):
        return np.where(t == 0, 0.0, t * minutes)


def od_minutes(net, lon, lat):
    """Driving minutes between the road points nearest to each lon/lat (walking legs left out).

    Seeds and end legs are written out here (not ``Network.seeds``) so that a point exactly at a node of
    a one-way link starts from that node.
    """
    import pyproj

    from geoaccess import paths

    x, y = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(lon, lat)
    s = net.snap(np.asarray(x), np.asarray(y))
    u, v = net.link_u[s.link], net.link_v[s.link]
    fwd, bwd = net.link_fwd[s.link], net.link_bwd[s.link]
    out = np.zeros((len(s), len(s)))
    for i in range(len(s)):
        nodes = np.array([v[i], u[i]])
        start = np.array([_part(1 - s.t[i], fwd[i]), _part(s.t[i], bwd[i])])
        ok = np.isfinite(start)
        d, _ = paths.seeded(net, nodes[ok], start[ok], np.zeros(ok.sum(), dtype=np.int32))
        out[i] = np.minimum(d[u] + _part(s.t, fwd), d[v] + _part(1 - s.t, bwd))
    return out


def grid_layer(n=4, classes=("国道", "县道", "G108", "乡道")):
    """An n x n street grid: rows and columns are lines whose vertices sit at every crossing."""
    rows = []
    for i in range(n):
        ys = LAT0 + i * STEP
        rows.append((classes[i % len(classes)], LineString([(LON0 + j * STEP, ys) for j in range(n)])))
        xs = LON0 + i * STEP
        rows.append((classes[(i + 1) % len(classes)], LineString([(xs, LAT0 + j * STEP) for j in range(n)])))
    return gpd.GeoDataFrame({"等级": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs="EPSG:4326")


def test_chinese_classes_and_codes():
    t = profile_table("drive")
    assert [class_kmh(v, t)[0] for v in ["高速公路", "国道", "省道", "县道", "乡道", "村道"]] == [
        100,
        70,
        60,
        45,
        35,
        25,
    ]
    assert [class_kmh(v, t)[0] for v in ["快速路", "主干路", "次干路", "支路"]] == [60, 45, 35, 25]
    assert [class_kmh(v, t)[0] for v in ["G", "S", "X", "Y", "C"]] == [70, 60, 45, 35, 25]
    assert [class_kmh(v, t)[0] for v in ["G5", "G108", "S20", "S218", "X012", "Y003"]] == [100, 70, 100, 60, 45, 35]
    assert class_kmh("Primary", t)[0] == 60 and np.isnan(class_kmh("人行道", t)[0])


def test_line_layer_projected_equals_wgs84(tmp_path):
    g = grid_layer()
    a = tmp_path / "roads_wgs84.gpkg"
    b = tmp_path / "roads_cgcs2000_gk.gpkg"
    g.to_file(a)
    g.to_crs("EPSG:4547").to_file(b)  # CGCS2000 / 3-degree Gauss-Kruger CM 114E, metres
    na, nb = read_roads(a, class_field="等级"), read_roads(b, class_field="等级")
    assert na.report.source_crs == "EPSG:4326" and nb.report.source_crs == "EPSG:4547"
    assert na.n_nodes == nb.n_nodes == 16 and na.n_links == nb.n_links == 24
    lon = LON0 + np.array([0, 3, 1.5, 0.2]) * STEP
    lat = LAT0 + np.array([0, 3, 2, 2.9]) * STEP
    ma, mb = od_minutes(na, lon, lat), od_minutes(nb, lon, lat)
    assert ma[0, 1] > 3
    np.testing.assert_allclose(ma, mb, rtol=1e-6, atol=1e-6)
    # the speeds came from the Chinese classes: a 国道 link of ~0.88 km at 70 km/h
    i = int(np.flatnonzero(na.link_class == "国道")[0])
    km = shapely.length(na.geometry[i]) / 1000
    assert na.link_fwd[i] == pytest.approx(km / 70 * 60)


def test_line_layer_gcj02_converted(tmp_path):
    g = grid_layer()
    x, y = coords.wgs84_to_gcj02(*shapely.get_coordinates(g.geometry.values).T)
    shifted = g.copy()
    shifted.geometry = shapely.set_coordinates(g.geometry.values.copy(), np.column_stack([x, y]))
    a, b = tmp_path / "wgs.geojson", tmp_path / "gcj.geojson"
    g.to_file(a)
    shifted.to_file(b)
    na, nb = read_roads(a), read_roads(b, coords="gcj02")  # class field found on its own (等级)
    assert "GCJ02" in nb.report.source_crs
    np.testing.assert_allclose(np.sort(na.x), np.sort(nb.x), atol=1e-3)  # back in place to a millimetre


def test_speed_field_oneway_and_hstore(tmp_path):
    g = gpd.GeoDataFrame(
        {
            "kmh": [60, 30, None],
            "dir": ["正向", "双向", "双向"],
        },
        geometry=[
            LineString([(LON0, LAT0), (LON0 + STEP, LAT0)]),
            LineString([(LON0 + STEP, LAT0), (LON0 + STEP, LAT0 + STEP), (LON0, LAT0)]),
            LineString([(LON0, LAT0), (LON0 - STEP, LAT0)]),
        ],
        crs="EPSG:4326",
    )
    p = tmp_path / "speeds.shp"
    g.to_file(p, encoding="utf-8")
    net = read_roads(p, speed_field="kmh", oneway_field="dir")
    assert net.report.ignored == {"(no valid speed)": 1}
    assert net.n_links == 2 and net.report.oneway_links == 1
    # OSM lines export: oneway inside other_tags, footways ignored
    h = gpd.GeoDataFrame(
        {
            "highway": ["primary", "primary", "footway"],
            "other_tags": ['"oneway"=>"yes","lanes"=>"2"', None, None],
        },
        geometry=list(g.geometry),
        crs="EPSG:4326",
    )
    q = tmp_path / "osm_lines.geojson"
    h.to_file(q)
    net = read_roads(q)
    assert net.report.fields["class"] == "highway" and net.report.oneway_links == 1
    assert net.report.ignored == {"footway": 1}


def test_snapping_joins_near_misses(tmp_path):
    # a T whose stem stops 3 m short of the bar, and a second bar whose end stops 4 m short of the first
    d = 3 / 111_000
    g = gpd.GeoDataFrame(
        {"class": ["县道", "县道", "县道"]},
        geometry=[
            LineString([(LON0, LAT0), (LON0 + 2 * STEP, LAT0)]),
            LineString([(LON0 + STEP, LAT0 + d), (LON0 + STEP, LAT0 + STEP)]),  # undershoot onto a segment
            LineString([(LON0 + 2 * STEP + 4 / 88_000, LAT0), (LON0 + 3 * STEP, LAT0)]),  # end near an end
        ],
        crs="EPSG:4326",
    )
    p = tmp_path / "gaps.gpkg"
    g.to_file(p)
    loose = read_roads(p)
    assert loose.report.dropped_links == 2  # two pieces cut off
    tight = read_roads(p, snap_m=5)
    assert tight.report.snapped == 3  # the stem's end, and both ends of the gap
    assert tight.report.dropped_links == 0
    assert tight.n_links == 4 and tight.report.kept_km == pytest.approx(2 * 0.88 + 1.11 + 0.88, rel=0.02)


def test_no_usable_lines(tmp_path):
    g = gpd.GeoDataFrame(
        {"highway": ["footway", "steps"]},
        geometry=[LineString([(0, 0), (0.01, 0)]), LineString([(0, 0), (0, 0.01)])],
        crs="EPSG:4326",
    )
    p = tmp_path / "paths.geojson"
    g.to_file(p)
    with pytest.raises(InputError) as exc:
        read_roads(p)
    msg = str(exc.value)
    assert "paths.geojson" in msg and "no usable road lines" in msg and "footway" in msg and "class_field" in msg
    g2 = gpd.GeoDataFrame({"x": [1]}, geometry=[LineString([(0, 0), (1, 1)])])  # no CRS
    q = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():  # writing a layer without CRS is the point here
        warnings.simplefilter("ignore", UserWarning)
        g2.to_file(q)
    with pytest.raises(InputError, match=r"nocrs.gpkg: .*no coordinate reference system.*crs ="):
        read_roads(q)
    with pytest.raises(InputError, match="no road class or speed field"):
        read_roads(q, source_crs="EPSG:4326")


def small_graph():
    g = nx.MultiDiGraph(crs="EPSG:4326")
    pts = {1: (LON0, LAT0), 2: (LON0 + STEP, LAT0), 3: (LON0 + STEP, LAT0 + STEP)}
    for n, (x, y) in pts.items():
        g.add_node(n, x=x, y=y)
    g.add_edge(1, 2, highway="primary", oneway=False, length=880.0)
    g.add_edge(2, 1, highway="primary", oneway=False, length=880.0)
    bend = LineString([pts[2], (LON0 + 1.5 * STEP, LAT0 + 0.5 * STEP), pts[3]])
    g.add_edge(2, 3, highway="residential", oneway=False, length=1200.0, geometry=bend, maxspeed="40")
    g.add_edge(3, 2, highway="residential", oneway=False, length=1200.0, geometry=bend.reverse())
    g.add_edge(3, 1, highway=["tertiary", "residential"], oneway=True, length=1300.0)
    return g


def test_graphml(tmp_path):
    import osmnx as ox

    p = tmp_path / "g.graphml"
    ox.save_graphml(small_graph(), p)
    net = read_roads(p)
    assert net.report.kind == "osmnx graph" and net.n_nodes == 3  # the bend's vertex is geometry, not a node
    assert set(net.node_ids[net.node_ids > 0]) == {1, 2, 3}
    m = od_minutes(net, LON0 + np.array([0, STEP]), LAT0 + np.zeros(2))
    assert m[0, 1] == pytest.approx(0.8785 / 60 * 60, rel=0.01)  # 879 m of primary at 60 km/h


def test_fetch_offline(tmp_path, monkeypatch):
    import osmnx as ox

    calls = []

    def fake_graph(poly, network_type):
        calls.append(("graph", poly))
        return small_graph()

    def fake_features(poly, tags):
        calls.append(("features", tags))
        return gpd.GeoDataFrame(
            {
                "element": ["node", "way"],
                "id": [10, 11],
                "name": ["某县人民医院", "Lääkäri"],
                "amenity": ["hospital", "doctors"],
                "healthcare": [None, "doctor"],
            },
            geometry=[shapely.Point(LON0, LAT0), shapely.box(LON0, LAT0, LON0 + 0.001, LAT0 + 0.001)],
            crs="EPSG:4326",
        ).set_index(["element", "id"])

    monkeypatch.setattr(ox, "graph_from_polygon", fake_graph)
    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    area = shapely.box(LON0, LAT0, LON0 + 0.1, LAT0 + 0.1)
    assert fetch_mod.buffer_m(60, 100) == 100_000
    big = fetch_mod.buffered(area, 1000)
    assert big.contains(area) and big.bounds[0] == pytest.approx(LON0 - 1000 / 88_000, abs=2e-3)
    got = fetch_mod.fetch(polygon=area, threshold_min=6, top_kmh=10, cache_dir=tmp_path / "cache")
    assert not got.cached and got.folder.parent == tmp_path / "cache" and got.roads.exists()
    again = fetch_mod.fetch(polygon=area, threshold_min=6, top_kmh=10, cache_dir=tmp_path / "cache")
    assert again.cached and again.folder == got.folder and len(calls) == 2  # no second download
    other = fetch_mod.cache_folder(tmp_path / "cache", fetch_mod.buffered(area, 2000), "drive")
    assert other != got.folder
    assert read_roads(got.roads).n_nodes == 3
    f = read_facilities(got.facilities, TIERS)
    assert dict(zip(f["name"], f["tier"], strict=True)) == {"某县人民医院": "county", "Lääkäri": "primary"}


def test_osm_xml_equals_pbf(helsinki_pbf, tmp_path):
    import osmium

    xml = tmp_path / "helsinki.osm"
    with osmium.SimpleWriter(str(xml)) as w:
        for o in osmium.FileProcessor(str(helsinki_pbf)):
            w.add(o)
    a, b = read_roads(helsinki_pbf), read_roads(xml)
    assert a.n_nodes == b.n_nodes and a.n_links == b.n_links
    np.testing.assert_array_equal(a.node_ids, b.node_ids)
    np.testing.assert_array_equal(a.link_u, b.link_u)
    np.testing.assert_array_equal(a.link_fwd, b.link_fwd)
    np.testing.assert_array_equal(a.link_bwd, b.link_bwd)
    assert a.report.kept_km == b.report.kept_km


def test_helsinki_health_pois(helsinki_pbf):
    notes: list[str] = []
    f = read_osm_facilities(helsinki_pbf, TIERS, report=notes)
    assert len(f) >= 5
    assert set(f["tier"]) <= set(TIERS) and "primary" in set(f["tier"])
    assert f["id"].is_unique and f.crs.to_epsg() == 4326
    lon, lat = f.geometry.x, f.geometry.y
    assert lon.between(24.8, 25.1).all() and lat.between(60.1, 60.3).all()
    # the generic reader dispatches PBFs here
    assert len(read_facilities(helsinki_pbf, TIERS)) == len(f)


def test_pbf_reader_is_compact(helsinki_pbf):
    ways, report = read_osm_ways(helsinki_pbf)
    assert ways.refs.dtype == np.int64 and ways.way_start[-1] == ways.refs.size
    assert report.ways_used == ways.n_ways and report.ignored  # footways etc. counted, not used


def test_unusable_speed_values_are_reported(tmp_path):
    g = grid_layer()
    g["kmh"] = ["0", "-20", "abc", "", *(["40"] * (len(g) - 4))]
    p = tmp_path / "speeds.gpkg"
    g.to_file(p)
    net = read_roads(p, class_field="等级", speed_field="kmh")
    (w,) = [w for w in net.report.warnings if "not a usable speed" in w]
    assert w.startswith("3 features have a kmh value") and "['-20', '0', 'abc']" in w
    assert "their road class speed was used" in w


def test_roads_that_miss_the_study_area_are_an_error(tmp_path):
    from geoaccess.load.roads import check_covers

    p = tmp_path / "roads.gpkg"
    grid_layer().to_file(p)
    net = read_roads(p, class_field="等级")
    check_covers(net, shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.05, LAT0 + 0.05), p)
    with pytest.raises(InputError, match=r"roads.gpkg: no road of the network lies inside the study area"):
        check_covers(net, shapely.box(LON0 + 1, LAT0 + 1, LON0 + 1.5, LAT0 + 1.5), p)


def naive_osm_ways(path, table):
    """The reference: every way's nodes one pyosmium object at a time, split where a node has no location."""
    import osmium

    from geoaccess.load.speeds import oneway_code, parse_maxspeed

    out = []
    fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    for w in fp.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)):
        hw = w.tags.get("highway")
        if hw not in table or w.tags.get("area") == "yes" or w.tags.get("access") in ("no", "private"):
            continue
        ms = parse_maxspeed(w.tags.get("maxspeed"))
        attrs = (ms if ms == ms else table[hw], oneway_code(hw, w.tags.get("oneway"), w.tags.get("junction")), hw)
        run = []
        for nd in list(w.nodes) + [None]:
            if nd is not None and nd.location.valid():
                run.append((nd.ref, nd.lon, nd.lat))
                continue
            if len(run) >= 2:
                out.append((run, attrs))
            run = []
    return out


@pytest.mark.parametrize("name", ["test_pbf", "helsinki_pbf", "demo_dir"])
def test_bulk_pbf_reader_equals_per_node_reference(name, request):
    # test_pbf and Helsinki are clipped extracts: ways with nodes missing from the file are split into runs
    path = request.getfixturevalue(name)
    path = path / "roads.osm.pbf" if path.is_dir() else path
    ways, report = read_osm_ways(path)
    ref = naive_osm_ways(path, profile_table("drive"))
    assert report.ways_used == ways.n_ways == len(ref)
    np.testing.assert_array_equal(np.diff(ways.way_start), [len(r) for r, _ in ref])
    flat = np.array([p for r, _ in ref for p in r], dtype=object)
    np.testing.assert_array_equal(ways.refs, flat[:, 0].astype(np.int64))
    np.testing.assert_array_equal(ways.lon, flat[:, 1].astype(np.float64))
    np.testing.assert_array_equal(ways.lat, flat[:, 2].astype(np.float64))
    np.testing.assert_array_equal(ways.kmh, [a[0] for _, a in ref])
    np.testing.assert_array_equal(ways.oneway, [a[1] for _, a in ref])
    np.testing.assert_array_equal(ways.road_class, [a[2] for _, a in ref])
