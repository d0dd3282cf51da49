"""Real inputs from ../shared/realdata (skipped when absent): Taiyuan OSM road lines, the 2020 census."""

from __future__ import annotations

import numpy as np
import pytest

from geoaccess import read_roads
from geoaccess.load import builtin_counties
from geoaccess.load.population import read_census, read_population
from tests.helpers import write_raster

ROADS = "smart_taiyuan_osm_roads_central_taiyuan.geojson.gz"
CENSUS = "tudigong_population_2020_county.csv.gz"
URBAN = ["小店区", "迎泽区", "杏花岭区", "尖草坪区", "万柏林区", "晋源区"]
# The export holds dual carriageways whose halves stop 10-20 m short of each other where the joining
# piece was not exported; joining dead ends within 20 m restores them (see RoadReport.snapped).
SNAP_M = 20.0


def _file(shared_dir, name):
    p = shared_dir / "realdata" / name
    if not p.exists():
        pytest.skip(f"real data not available: {p}")
    return p


@pytest.fixture(scope="module")
def taiyuan(shared_dir):
    return read_roads(_file(shared_dir, ROADS), snap_m=SNAP_M)


def test_taiyuan_network_keeps_95_percent(taiyuan):
    r = taiyuan.report
    assert r.kind == "line layer" and r.fields["class"] == "highway"
    assert r.kept_share >= 0.95, r.lines()
    assert r.oneway_links > 1000  # oneway=yes from other_tags is honoured
    assert "footway" in r.ignored and r.nodes > 4000


def test_taiyuan_centroid_minutes(taiyuan):
    from tests.test_load_roads import od_minutes

    c = builtin_counties("1401").set_index("county_name").loc[URBAN]
    cen = c.to_crs(taiyuan.crs).geometry.centroid.to_crs("EPSG:4326")
    m = od_minutes(taiyuan, cen.x.to_numpy(), cen.y.to_numpy())
    off = m[~np.eye(len(URBAN), dtype=bool)]
    assert np.all((off >= 3) & (off <= 60)), m.round(1)


def test_census_rescales_to_the_person(shared_dir, tmp_path):
    path = _file(shared_dir, CENSUS)
    census = read_census(path)
    assert len(census) == 2990 and census["population"].isna().sum() == 1
    c = builtin_counties("1401")
    b = c.total_bounds
    res = 0.005
    rng = np.random.default_rng(7)
    arr = rng.gamma(0.5, 60, (int((b[3] - b[1]) / res) + 4, int((b[2] - b[0]) / res) + 4)).astype("float32")
    p = tmp_path / "pop.tif"
    write_raster(p, arr, b[0] - 2 * res, b[3] + 2 * res, res=res)
    pop = read_population(p, c, block_rows=64, census=path)
    want = census.set_index("county_code").loc[c["county_code"], "population"].to_numpy()
    np.testing.assert_array_equal(pop.county_sums(len(c)), want)
    assert [u[0] for u in pop.census.unmatched_census] == ["140171"]
    assert pop.census.counties_without_census == [] and pop.census.matched == 10
