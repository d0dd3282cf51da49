"""Facilities with column mappings and Chinese grades, coordinates, windowed county grids, census rescaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from geoaccess import InputError, coords
from geoaccess.load import builtin_counties, county_grid
from geoaccess.load.facilities import match_tier, read_facilities, tier_rules
from geoaccess.load.population import largest_remainder, read_population, rescale_to_census
from tests.helpers import write_raster

TIERS = ["primary", "county", "regional"]


@pytest.mark.parametrize(
    ("values", "tier"),
    [
        (["三级甲等", "综合医院", "山西医科大学第一医院"], "regional"),
        (["三甲", "", ""], "regional"),
        (["二级甲等", "", "清徐县人民医院"], "county"),
        (["", "", "娄烦县人民医院"], "county"),
        (["", "中医院", "阳曲县中医院"], "county"),
        (["", "妇幼保健院", "古交市妇幼保健计划生育服务中心"], "county"),
        (["一级", "", ""], "primary"),
        (["", "乡镇卫生院", "西铭乡卫生院"], "primary"),
        (["未定级", "社区卫生服务中心", "府东街社区卫生服务中心"], "primary"),
        (["", "村卫生室", "王家庄村卫生室"], "primary"),
        (["", "", "Hospital"], "county"),
        (["", "", "某某有限公司"], None),
    ],
)
def test_tier_table(values, tier):
    assert match_tier(values, tier_rules()) == tier


def test_study_rules_win():
    assert match_tier(["", "专科医院", ""], tier_rules({"专科医院": "regional"})) == "regional"


def write(tmp_path, text, name="facilities.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_chinese_csv_with_mapping_and_gcj02(tmp_path):
    wlon, wlat = 112.55, 37.86
    glon, glat = coords.wgs84_to_gcj02(wlon, wlat)
    blon, blat = coords.wgs84_to_bd09(wlon, wlat)
    text = (
        "机构名称,医院等级,机构类型,床位数,经度,纬度\n"
        f"省人民医院,三级甲等,综合医院,2000,{glon:.8f},{glat:.8f}\n"
        f"小店区卫生院,,乡镇卫生院,30,{glon:.8f},{glat:.8f}\n"
    )
    p = write(tmp_path, text, encoding="gb18030")  # Excel exports in GBK are read too
    notes: list[str] = []
    f = read_facilities(p, TIERS, coords="gcj02", report=notes)
    assert list(f["tier"]) == ["regional", "primary"] and list(f["tier_rank"]) == [2, 0]
    assert list(f["id"]) == ["F00001", "F00002"] and any("numbered" in n for n in notes)
    assert abs(f.geometry.x.iloc[0] - wlon) < 1e-7 and abs(f.geometry.y.iloc[0] - wlat) < 1e-7
    # BD-09 with an explicit mapping of English names
    q = write(tmp_path, f"code,title,kind,b,x_bd,y_bd\nA,甲,二级,10,{blon:.8f},{blat:.8f}\n", "bd.csv")
    g = read_facilities(
        q,
        TIERS,
        coords="bd09",
        columns={"id": "code", "name": "title", "grade": "kind", "beds": "b", "lon": "x_bd", "lat": "y_bd"},
    )
    assert g["tier"].iloc[0] == "county" and abs(g.geometry.x.iloc[0] - wlon) < 1e-7


def test_projected_csv_and_vector(tmp_path):
    import geopandas as gpd

    pts = gpd.GeoDataFrame(
        {"id": ["a", "b"], "name": ["x县人民医院", "y村卫生室"], "beds": [300, 0]},
        geometry=gpd.points_from_xy([112.5, 112.6], [37.8, 37.9]),
        crs="EPSG:4326",
    ).to_crs("EPSG:4547")
    v = tmp_path / "f.gpkg"
    pts.to_file(v)
    f = read_facilities(v, TIERS)
    assert list(f["tier"]) == ["county", "primary"]
    np.testing.assert_allclose(f.geometry.x, [112.5, 112.6], atol=1e-8)
    text = "id,name,tier,beds,x,y\n" + "".join(
        f"{i},{n},county,1,{p.x:.3f},{p.y:.3f}\n" for i, n, p in zip(pts["id"], pts["name"], pts.geometry, strict=True)
    )
    c = write(tmp_path, text, "xy.csv")
    g = read_facilities(c, TIERS, source_crs="EPSG:4547")
    np.testing.assert_allclose(g.geometry.y, [37.8, 37.9], atol=1e-7)


def test_swapped_lat_lon_one_message(tmp_path):
    # China: lon > 90, so swapped values are plainly invalid
    p = write(tmp_path, "id,name,tier,beds,lon,lat\nA,a,county,1,37.8,112.5\nB,b,county,1,37.9,112.6\n")
    with pytest.raises(InputError) as exc:
        read_facilities(p, TIERS)
    msg = str(exc.value)
    assert "facilities.csv" in msg and "look swapped" in msg and 'lon = "lat", lat = "lon"' in msg
    assert not exc.value.problems  # one message, not one per row
    # Helsinki swapped is still a valid coordinate (in the Arabian Sea): caught against the study area
    import shapely

    q = write(tmp_path, "id,name,tier,beds,lon,lat\nA,a,county,1,60.17,24.94\n", "hki.csv")
    with pytest.raises(InputError, match="look swapped"):
        read_facilities(q, TIERS, area=shapely.box(24.8, 60.1, 25.1, 60.3))


def test_unknown_grade_reported(tmp_path):
    p = write(tmp_path, "id,name,grade,beds,lon,lat\nA,某公司,未定级,1,112.5,37.8\n")
    with pytest.raises(InputError, match=r"line 2 \(id 'A'\): unknown no tier.*某公司"):
        read_facilities(p, TIERS)


_raster = write_raster


def test_county_grid_windows_equal_whole():
    c = builtin_counties("1401")
    b = c.total_bounds
    tf = from_origin(b[0], b[3], 0.01, 0.01)
    shape = (int((b[3] - b[1]) / 0.01) + 1, int((b[2] - b[0]) / 0.01) + 1)
    whole = county_grid(c, tf, shape, "EPSG:4326")
    parts = [
        county_grid(c, tf, shape, "EPSG:4326", window=Window(0, r, shape[1], min(17, shape[0] - r)))
        for r in range(0, shape[0], 17)
    ]
    np.testing.assert_array_equal(np.vstack(parts), whole)
    assert set(np.unique(whole)) == set(range(-1, 10))


def test_population_projected_raster_and_census(tmp_path):
    c = builtin_counties("1401")
    utm = c.estimate_utm_crs()
    b = c.to_crs(utm).total_bounds
    rng = np.random.default_rng(3)
    res = 1000.0
    arr = rng.gamma(0.6, 40, (int((b[3] - b[1]) / res) + 3, int((b[2] - b[0]) / res) + 3))
    p = tmp_path / "pop_utm.tif"
    _raster(p, arr, b[0] - res, b[3] + res, res, crs=utm, tiled=True, blockxsize=64, blockysize=64)
    census = pd.DataFrame(
        {
            "county_code": [*c["county_code"][:-1], "140171", "999999"],
            "county_name": [*c["county_name"][:-1], "山西转型综合改革示范区", "elsewhere"],
            "population": [*(np.arange(9) * 1000 + 100_003.0), 258_826.0, 5.0],
            "line": np.arange(11) + 2,
        }
    )
    pop = read_population(p, c, block_rows=10, census=census)
    sums = pop.county_sums(len(c))
    np.testing.assert_array_equal(sums[:9], np.arange(9) * 1000 + 100_003.0)  # to the person
    matched = pop.county < 9
    assert np.all(pop.people[matched] == np.round(pop.people[matched]))  # whole people
    rep = pop.census
    assert rep.unmatched_census == [("140171", "山西转型综合改革示范区", 258_826.0)]  # 999999 is out of scope
    assert rep.counties_without_census == [(c["county_code"].iloc[-1], c["county_name"].iloc[-1])]
    assert any("140171" in w for w in pop.warnings) and rep.outside_scope == 1


def test_largest_remainder_exact():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.random(rng.integers(1, 200)) ** 3
        total = int(rng.integers(0, 10**6))
        out = largest_remainder(w, total)
        assert out.sum() == total and np.all(out >= 0)
        assert np.all(np.abs(out - w * total / w.sum()) < 1)


def test_population_raster_not_overlapping_names_file_and_fix(tmp_path):
    c = builtin_counties("140106")
    p = tmp_path / "elsewhere.tif"
    _raster(p, np.ones((5, 5)), 10.0, 50.0, 0.01)
    with pytest.raises(InputError) as exc:
        read_population(p, c)
    msg = str(exc.value)
    assert "elsewhere.tif" in msg and "does not overlap" in msg and "covers the study area" in msg
    q = tmp_path / "nocrs.tif"
    with rasterio.open(
        q,
        "w",
        driver="GTiff",
        height=2,
        width=2,
        count=1,
        dtype="float32",
        transform=from_origin(112.5, 37.9, 0.01, 0.01),
    ) as d:
        d.write(np.ones((1, 2, 2), dtype="float32"))
    with pytest.raises(InputError, match="no coordinate reference system"):
        read_population(q, c)


def test_census_rescale_direct():
    c = builtin_counties("140106")

    class P:
        people = np.array([1.5, 2.5, 3.0])
        county = np.array([0, 0, 0], dtype=np.int32)
        warnings: list = []

    census = pd.DataFrame({"county_code": ["140106"], "county_name": ["迎泽区"], "population": [10.0], "line": [2]})
    rep = rescale_to_census(P, c, census)
    assert P.people.sum() == 10 and rep.matched == 1


# -- bad input (issue 12) ----------------------------------------------------------------------------
AREA = (112.5, 37.8, 112.8, 37.95)  # lon/lat box around 迎泽区


def _area():
    import shapely

    return shapely.box(*AREA)


@pytest.mark.parametrize("tier", ["hospitalX", "regionl", "x/../../../pwned_regional", "<img src=x>"])
def test_an_explicit_unknown_tier_is_an_error_not_a_guess(tmp_path, tier):
    p = write(
        tmp_path,
        "id,name,tier,beds,lon,lat\n"
        "A,某某医院,county,10,112.55,37.85\n"
        f"B,某某医院,{tier},10,112.56,37.85\n"
        f"C,太原市中心医院,{tier},10,112.57,37.85\n",
    )
    with pytest.raises(InputError) as err:
        read_facilities(p, TIERS)
    msg = str(err.value)
    assert "facilities.csv" in msg and "2 problem(s)" in msg
    assert f"line 3 (id 'B'): unknown tier {tier!r}" in msg and "line 4 (id 'C')" in msg
    assert "['primary', 'county', 'regional']" in msg and "leave the cell empty" in msg


def test_tier_from_the_table_only_when_the_tier_cell_is_empty(tmp_path):
    p = write(
        tmp_path,
        "id,name,tier,beds,lon,lat\nA,某某医院,,10,112.55,37.85\nB,某某卫生院,三级甲等,10,112.56,37.85\n"
        "C,诊所,regional,0,112.57,37.85\n",
    )
    assert list(read_facilities(p, TIERS)["tier"]) == ["county", "regional", "regional"]


def test_empty_and_header_only_facilities_files_name_the_file(tmp_path):
    header = write(tmp_path, "id,name,tier,beds,lon,lat\n", "header_only.csv")
    with pytest.raises(InputError, match=r"header_only.csv: the facilities file has a header but no rows"):
        read_facilities(header, TIERS)
    empty = write(tmp_path, "", "empty.csv")
    with pytest.raises(InputError, match=r"empty.csv: the facilities file is empty; it needs a header line"):
        read_facilities(empty, TIERS)


def test_facilities_far_from_the_area_are_errors(tmp_path):
    paris = write(
        tmp_path, "id,name,tier,beds,lon,lat\nA,a,county,1,112.55,37.85\nP,Paris,county,1,2.35,48.85\n", "paris.csv"
    )
    with pytest.raises(InputError, match=r"paris.csv: 1 facilities lie more than 2 degrees") as err:
        read_facilities(paris, TIERS, area=_area())
    assert "line 3 (id 'P'): (2.35000, 48.85000)" in str(err.value)
    beside = write(tmp_path, "id,name,tier,beds,lon,lat\nA,a,county,1,113.5,37.85\n", "beside.csv")
    with pytest.raises(InputError, match="none of the 1 facilities lies inside the study area"):
        read_facilities(beside, TIERS, area=_area())
    notes = []
    across = write(tmp_path, "id,name,tier,beds,lon,lat\nA,a,county,1,112.55,37.85\nB,b,county,1,113.0,37.85\n")
    assert len(read_facilities(across, TIERS, area=_area(), report=notes)) == 2
    assert any("1 facilities lie outside the counties (kept" in n for n in notes)


def test_an_empty_population_is_an_error(tmp_path):
    c = builtin_counties("140106")
    for name, arr in (("zeros.tif", np.zeros((20, 30))), ("nodata.tif", np.full((20, 30), -1.0))):
        p = tmp_path / name
        _raster(p, arr, 112.5, 37.95, 0.01)
        with pytest.raises(InputError, match=rf"{name}: no people: every raster cell inside the counties is nodata"):
            read_population(p, c)


def test_negative_cells_are_counted_in_a_warning(tmp_path):
    c = builtin_counties("140106")
    arr = np.full((20, 30), 5.0)
    arr[:, ::2] = -7.0  # half the cells: negative, not the nodata value (-1)
    p = tmp_path / "neg.tif"
    _raster(p, arr, 112.5, 37.95, 0.01)
    pop = read_population(p, c)
    assert (pop.people == 5.0).all()
    (w,) = [w for w in pop.warnings if "cells hold negative" in w]
    assert "neg.tif: 300 cells hold negative values (sum -2,100) and were counted as 0 people" in w


def test_counties_without_people_are_reported(tmp_path):
    c = builtin_counties("1401")
    p = tmp_path / "small.tif"
    _raster(p, np.ones((10, 10)), 112.55, 37.88, 0.005)  # a corner of 迎泽区 only
    pop = read_population(p, c)
    (w,) = [w for w in pop.warnings if "have no populated cells" in w]
    assert f"of {len(c)} counties have no populated cells" in w and "small.tif" in w


def test_point_counties_are_an_error(tmp_path):
    import geopandas as gpd
    import shapely

    from geoaccess.load import read_counties

    p = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(
        {"code": ["140105", "140106"], "name": ["小店区", "迎泽区"]},
        geometry=[shapely.Point(112.56, 37.74), shapely.box(112.5, 37.8, 112.6, 37.9)],
        crs=4326,
    ).to_file(p)
    with pytest.raises(InputError, match=r"points.gpkg: 1 counties are not polygons(.|\n)*140105 \(Point\)"):
        read_counties(p)


def test_a_tier_no_facility_serves_is_reported(tmp_path):
    notes = []
    p = write(tmp_path, "id,name,tier,beds,lon,lat\nA,a,primary,0,112.55,37.85\n")
    read_facilities(p, TIERS, report=notes)
    assert [n.split(": ", 1)[1] for n in notes if "or above" in n] == [
        "no facility of tier 'county' or above: everyone is beyond that tier's reach",
        "no facility of tier 'regional' or above: everyone is beyond that tier's reach",
    ]
