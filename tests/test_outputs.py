"""The bundle writers on a tiny made-up study: safety, offline pages, language, GCJ-02 shift, helpers."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from geoaccess.config import Tier, parse_study
from geoaccess.errors import ConfigError
from geoaccess.outputs import i18n
from geoaccess.outputs._gcj02 import wgs84_to_gcj02
from geoaccess.outputs.index import coverage_curves, write_index
from geoaccess.outputs.maps import (
    FACILITIES_JS,
    MapContext,
    catchment_bands,
    fmt_value,
    overview_map,
    tier_folium,
    tier_map,
    write_facilities,
)
from geoaccess.outputs.rasters import Surface
from geoaccess.outputs.tiles import png_indexed
from geoaccess.scoring import score_counties

EVIL = "<img src=x onerror=alert(1)>"
EVIL_COUNTY = "<script>alert(2)</script>县"
PAGES = ["index.html", "overview.html", "map_primary.html", "map_county.html"]


def tiny_catchments(facilities, rank: int, lon, lat, people, transform, shape):
    """Catchments of the facilities of ``rank`` and up on the cell grid (nearest by straight line), as
    :class:`geoaccess.areas.TierAreas` has them."""
    from types import SimpleNamespace

    from geoaccess.areas import catchment_polygons

    pos = np.flatnonzero(facilities["tier_rank"].to_numpy() >= rank)
    fx, fy = facilities.geometry.x.to_numpy()[pos], facilities.geometry.y.to_numpy()[pos]
    nearest = pos[np.argmin(np.hypot(lon[:, None] - fx, lat[:, None] - fy), axis=1)]
    fac, geoms = catchment_polygons(nearest.reshape(shape).astype(np.int32), transform, 0.001)
    cell_km2 = abs(transform.a * transform.e) * 111.32**2 * np.cos(np.radians(37.05))
    return SimpleNamespace(
        catchment_facility=fac,
        catchment_geometry=geoms,
        catchment_people=np.bincount(nearest, weights=people, minlength=len(facilities))[fac],
        catchment_km2=np.bincount(nearest, minlength=len(facilities))[fac] * cell_km2,
    )


def tiny_bundle(
    out: Path,
    *,
    facility_name: str = EVIL,
    county_name: str = EVIL_COUNTY,
    catchments: bool = False,
    walking: bool = False,
    **ctx_kw,
) -> Path:
    """Write a two-county, three-facility bundle with the same writers ``Study.write`` uses.

    ``catchments``: the tier maps get their facilities' catchments; ``walking``: a second surface (three times the
    minutes, "walking only") beside each tier's own.
    """
    tiers = (Tier("primary", 15.0, 0.9), Tier("county", 60.0, 0.9))
    counties = gpd.GeoDataFrame(
        {"county_code": ["140101", "140102"], "county_name": [county_name, "乙县"]},
        geometry=[box(112.0, 37.0, 112.1, 37.1), box(112.1, 37.0, 112.2, 37.1)],
        crs=4326,
    )
    facilities = gpd.GeoDataFrame(
        {
            "id": ["F1", "F2", "F3"],
            "name": [facility_name, "乙卫生院", "县人民医院"],
            "tier": ["primary", "primary", "county"],
            "tier_rank": [0, 0, 1],
            "beds": [10.0, 20.0, 300.0],
        },
        geometry=[Point(112.03, 37.05), Point(112.15, 37.05), Point(112.05, 37.03)],
        crs=4326,
    )
    n = 40
    transform = from_origin(112.0, 37.1, 0.2 / n, 0.1 / (n // 2))
    rows, cols = np.mgrid[0 : n // 2, 0:n]
    lon = 112.0 + (cols.ravel() + 0.5) * 0.2 / n
    lat = 37.1 - (rows.ravel() + 0.5) * 0.1 / (n // 2)
    people = np.full(lon.size, 10.0)
    county = (lon > 112.1).astype(np.int64)
    minutes = {}
    for i, _t in enumerate(tiers):
        f = facilities[facilities["tier_rank"] >= i]
        d = np.min(np.hypot(lon[:, None] - f.geometry.x.to_numpy(), lat[:, None] - f.geometry.y.to_numpy()), axis=1)
        minutes[tiers[i].name] = d * 600.0  # about 1 min per 185 m
    table = score_counties(counties, people, county, minutes, tiers)
    ctx = MapContext(
        lang=ctx_kw.pop("lang", "zh"),
        title="测试 <b>study</b>",
        note="SYNTHETIC test data",
        nav=[("index", "index.html"), ("overview", "overview.html")] + [(t.name, f"map_{t.name}.html") for t in tiers],
        **ctx_kw,
    )
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "counties.csv", index=False)
    write_facilities(
        out, tiers=tiers, facilities=facilities, referral_minutes=np.array([12.5, np.inf, np.nan]), ctx=ctx
    )
    for i, t in enumerate(tiers):
        surface = Surface.from_cells((n // 2, n), rows.ravel(), cols.ravel(), minutes[t.name], transform, "EPSG:4326")
        extra = {}
        if catchments:
            extra["catchments"] = tiny_catchments(facilities, i, lon, lat, people, transform, (n // 2, n))
        if walking:
            walk = Surface.from_cells(
                (n // 2, n), rows.ravel(), cols.ravel(), 3 * minutes[t.name], transform, "EPSG:4326"
            )
            extra["more_surfaces"] = [("步行" if ctx.lang == "zh" else "walking only", walk)]
        tier_map(
            out / f"map_{t.name}.html",
            tier_index=i,
            tiers=tiers,
            counties=counties,
            table=table,
            facilities=facilities,
            serving=facilities["tier_rank"].to_numpy() >= i,
            nearest_people=np.array([100.0, 200.0, 300.0]),
            reach_people=np.array([90.0, 150.0, 300.0]),
            surface=surface,
            ctx=ctx,
            **extra,
        )
    overview_map(
        out / "overview.html",
        tiers=tiers,
        counties=counties,
        table=table,
        facilities=facilities,
        ctx=ctx,
        tier_maps={t.name: f"map_{t.name}.html" for t in tiers},
    )
    curves = {t.name: coverage_curves(minutes[t.name], people, county, 2, 2 * t.threshold_min) for t in tiers}
    write_index(
        out / "index.html",
        ctx=ctx,
        table=table,
        tiers=tiers,
        maps=[("overview", "overview.html", "")] + [(t.name, f"map_{t.name}.html", "") for t in tiers],
        files=[("csv", "counties.csv")],
        settings={"study": "tiny <i>"},
        sources=[("facilities", "facilities.csv")],
        curves=curves,
    )
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("tiny"))


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="geoaccess-data">(.*?)</script>', page, re.S)
    assert m, "map pages carry their data in one JSON block"
    assert "<" not in m.group(1), "no raw '<' inside the data block, so no value can close the script"
    return json.loads(m.group(1))


def test_input_text_is_escaped_on_every_page(bundle):
    """HTML Python writes is escaped; map data is plain text in JSON with < and > as \\u003c / \\u003e."""
    for name in PAGES:
        page = (bundle / name).read_text(encoding="utf-8")
        assert EVIL not in page and "<script>alert(2)" not in page, name
        if name == "index.html":
            assert "&lt;script&gt;alert(2)&lt;/script&gt;县" in page, name
        else:
            assert "\\u003cscript\\u003ealert(2)\\u003c/script\\u003e县" in page, name
            assert _data(page)["counties"]["geojson"]["features"][0]["properties"]["name"] == EVIL_COUNTY
    shared = (bundle / FACILITIES_JS).read_text(encoding="utf-8")
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in shared and EVIL not in shared


def test_pages_load_nothing_from_the_internet(bundle):
    for name in PAGES:
        page = (bundle / name).read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), name
        for ref in re.findall(r"""(?:src|href)="([^"#]+)\"""", page):
            assert (bundle / ref).exists(), f"{name} refers to missing {ref}"
    assert (bundle / "lib" / "leaflet" / "leaflet.js").exists()
    assert (bundle / "lib" / "geoaccess" / "map.js").exists()
    js = (bundle / "lib" / "geoaccess" / "map.js").read_text(encoding="utf-8")
    assert "http" not in js.replace("http://www.w3.org/2000/svg", "")
    for name in PAGES[1:]:  # folium pages: Leaflet and the plugin from lib/, nothing else
        page = (bundle / name).read_text(encoding="utf-8")
        scripts = re.findall(r'<script src="([^"]+)"', page) + re.findall(
            r'<link rel="stylesheet" href="([^"]+)"', page
        )
        assert "lib/leaflet/leaflet.js" in scripts and "lib/geoaccess/map.js" in scripts, name
        assert not any(re.match(r"(https?:)?//", u) for u in scripts), name
        assert not re.search(r"https?://", page), name


def test_vendored_assets_are_pinned(bundle):
    """static/SOURCE.txt pins every vendored file by hash (and travels into the bundle's lib/)."""
    import hashlib

    from geoaccess.outputs.plugin import STATIC

    text = (STATIC / "SOURCE.txt").read_text(encoding="utf-8")
    assert "Leaflet 1.9.4, BSD-2-Clause" in text
    pins = dict((p, h) for h, p in re.findall(r"^\s+([0-9a-f]{64})\s+(\S+)$", text, re.M))
    shipped = {
        p.relative_to(STATIC).as_posix() for p in (STATIC / "leaflet").rglob("*") if p.suffix in (".js", ".css", ".png")
    }
    assert set(pins) == shipped
    for rel, digest in pins.items():
        assert hashlib.sha256((STATIC / rel).read_bytes()).hexdigest() == digest, rel
    assert (bundle / "lib" / "SOURCE.txt").read_text(encoding="utf-8") == text


def test_tier_map_data(bundle):
    d = _data((bundle / "map_primary.html").read_text(encoding="utf-8"))
    assert d["lang"] == "zh" and d["basemap"] is None
    fac = _facilities(bundle)
    assert d["facilities"]["ranks"] == [0, 1] and len(d["facilities"]["nearest"]) == 3
    assert len(d["counties"]["geojson"]["features"]) == 2
    assert d["bands"]["geojson"]["features"], "catchment bands are drawn"
    assert (bundle / d["surface"]["url"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = d["facilities"]["rows"]
    assert (rows["beds"], fac["beds"][0]) == ("床位", "10")
    assert (rows["referral"][0], fac["referral"][0]) == ("转诊至县级医院（分钟）", "12.5")
    assert rows["referral"][1] == "" and fac["referral"][2] == "", "the top tier refers nowhere"
    assert d["facilities"]["nearest"][:2] == ["100", "200"]
    county_map = _data((bundle / "map_county.html").read_text(encoding="utf-8"))
    assert county_map["facilities"]["ranks"] == [1], "only facilities serving the tier"
    assert county_map["facilities"]["nearest"] == ["300"]


def _facilities(bundle: Path) -> dict:
    text = (bundle / FACILITIES_JS).read_text(encoding="utf-8")
    assert text.startswith("window.geoaccessFacilities=") and "<" not in text
    return json.loads(text[len("window.geoaccessFacilities=") :].rstrip().rstrip(";"))


def test_one_facilities_file_for_all_pages(bundle):
    fac = _facilities(bundle)
    assert fac["name"][0] == EVIL  # plain text: map.js inserts it as text
    assert fac["rank"] == [0, 0, 1] and fac["id"] == ["F1", "F2", "F3"]
    for name in ("overview.html", "map_primary.html", "map_county.html"):
        page = (bundle / name).read_text(encoding="utf-8")
        assert f'<script src="{FACILITIES_JS}"></script>' in page
        assert "乙卫生院" not in page, "facility names live in the shared file only"


def test_overview_says_why(bundle):
    d = _data((bundle / "overview.html").read_text(encoding="utf-8"))
    p = d["counties"]["geojson"]["features"][0]["properties"]
    assert p["zone"] in {v["zh"] for v in i18n.ZONE_LABELS.values()}
    assert [w["href"] for w in p["why"]] == ["map_primary.html", "map_county.html"]


def test_english_labels(tmp_path):
    out = tiny_bundle(tmp_path, lang="en")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "people beyond 15 min" in page and '<html lang="en">' in page
    d = _data((out / "map_primary.html").read_text(encoding="utf-8"))
    assert d["legend"]["title"] == "minutes to primary care"


def test_language_defaults_to_chinese_for_adcodes():
    assert i18n.pick_language("auto", ["140105", "140106"]) == "zh"
    assert i18n.pick_language("auto", ["E09000001"]) == "en"
    assert i18n.pick_language("en", ["140105"]) == "en"


def test_gcj02_basemap_shifts_overlays(tmp_path):
    out = tiny_bundle(tmp_path, basemap="https://webrd01.is.autonavi.com/tile?x={x}&y={y}&z={z}", shift=True)
    d = _data((out / "map_primary.html").read_text(encoding="utf-8"))
    fac = _facilities(out)
    lat, lon = fac["lat"][0], fac["lon"][0]
    glon, glat = wgs84_to_gcj02(112.03, 37.05)
    assert (lon, lat) == pytest.approx((float(glon), float(glat)), abs=1e-6)
    assert 0.001 < abs(lon - 112.03) < 0.01, "GCJ-02 moves points by some hundreds of metres"
    assert d["basemap"]["url"].startswith("https://webrd01")
    page = (out / "map_primary.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)="https?://""", page), "tile URLs are only in the map's data"


def test_gcj02_reference_point():
    # Tiananmen: a published WGS84 -> GCJ-02 pair
    lon, lat = wgs84_to_gcj02(116.391349, 39.907375)
    assert float(lon) == pytest.approx(116.397590, abs=2e-5) and float(lat) == pytest.approx(39.908776, abs=2e-5)
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)  # outside China: unchanged


def test_maps_settings():
    base = {"inputs": {"roads": "r", "facilities": "f", "population": "p", "counties": {"adcode": "1401"}}}
    s = parse_study(base)
    assert s.maps.basemap == "none" and s.maps.language == "auto"
    s = parse_study(dict(base, maps={"basemap": "osm", "language": "en", "bands_min": [60, 15]}))
    assert s.maps.bands_min == (15.0, 60.0)
    for bad in ({"basemap": "google"}, {"language": "fr"}, {"colour": 1}, {"basemap_crs": "bd09"}):
        with pytest.raises(ConfigError):
            parse_study(dict(base, maps=bad))


def test_coverage_curves_match_a_direct_count():
    rng = np.random.default_rng(1)
    m = rng.uniform(0, 40, 500)
    m[::50] = np.inf
    people = rng.uniform(1, 5, 500)
    county = rng.integers(0, 3, 500)
    grid, share = coverage_curves(m, people, county, 3, 30.0, steps=31)
    for c in range(3):
        sel = county == c
        for k in (0, 7, 15, 30):
            assert share[c, k] == pytest.approx(people[sel & (m <= grid[k])].sum() / people[sel].sum())


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # a plain PNG has no georeference
def test_palette_png_round_trip(tmp_path):
    index = np.random.default_rng(0).integers(0, 4, (7, 5), dtype=np.uint8)
    colors, alpha = ["#000000", "#1a9850", "#fee08b", "#d73027"], [0, 235, 235, 100]
    (tmp_path / "x.png").write_bytes(png_indexed(index, colors, alpha))
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(tmp_path / "x.png") as src:
        assert np.array_equal(src.read(1), index)
        cmap = src.colormap(1)
    for k, (c, a) in enumerate(zip(colors, alpha, strict=True)):
        assert cmap[k] == (*(int(c[i : i + 2], 16) for i in (1, 3, 5)), a)


def test_catchment_bands_cover_the_cells_within_reach():
    grid = np.full((50, 50), np.nan, dtype=np.float32)
    yy, xx = np.mgrid[0:50, 0:50]
    grid[:] = np.hypot(yy - 25, xx - 25)  # minutes = distance in cells from the centre
    t = from_origin(0.0, 1.0, 0.02, 0.02)
    bands = dict(catchment_bands(_surface(grid, t), [10.0, 20.0]))
    assert set(bands) == {10.0, 20.0}
    assert bands[10.0].area == pytest.approx(np.pi * (10 * 0.02) ** 2, rel=0.15)
    assert bands[20.0].contains(bands[10.0].buffer(-0.02))


def test_values_are_formatted_for_people():
    assert fmt_value("primary_share_within", 0.8765) == "87.6%"
    assert fmt_value("primary_median_min", 12.345) == "12.3"
    assert fmt_value("referral_min", float("inf"), "zh") == "不可达"
    assert fmt_value("population", np.int64(1234567)) == "1,234,567"
    assert fmt_value("beds_per_1000", 4.567) == "4.57"
    assert fmt_value("x", float("nan")) == "—"
    assert fmt_value("name", EVIL) == "&lt;img src=x onerror=alert(1)&gt;"


# -- atomic bundles, locks and CSV safety (outputs/_atomic.py) ----------------------------------------
def _digest(folder: Path) -> dict:
    import hashlib

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _old_bundle(tmp_path: Path) -> Path:
    from geoaccess.outputs._atomic import replace_folder

    out = tmp_path / "maps" / "t"
    with replace_folder(out) as tmp:
        (tmp / "index.html").write_text("old index", encoding="utf-8")
        (tmp / "counties.csv").write_text("a\n1\n", encoding="utf-8")
        (tmp / "scenarios" / "s1").mkdir(parents=True)
        (tmp / "scenarios" / "s1" / "compare.html").write_text("scenario", encoding="utf-8")
    return out


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_bundle_write_leaves_the_old_bundle_byte_identical(tmp_path, fault):
    from geoaccess.outputs._atomic import replace_folder

    out = _old_bundle(tmp_path)
    before = _digest(out)
    with pytest.raises(type(fault)):
        with replace_folder(out, keep=("scenarios",)) as tmp:
            (tmp / "index.html").write_text("new index", encoding="utf-8")
            raise fault
    assert _digest(out) == before
    assert _siblings(out) == []  # no temporary folder, no lock left behind


def test_a_bundle_is_replaced_whole_and_keeps_its_sub_bundles(tmp_path):
    from geoaccess.outputs._atomic import BUNDLE_MARK, replace_folder

    out = _old_bundle(tmp_path)
    (out / "map_gone.html").write_text("a tier this run no longer has", encoding="utf-8")
    # another run's temporary folder inside scenarios/ is not carried over
    (out / "scenarios" / ".s2.new-abc").mkdir()
    with replace_folder(out, keep=("scenarios", "optimize")) as tmp:
        (tmp / "index.html").write_text("new index", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [BUNDLE_MARK, "index.html", "scenarios"]
    assert (out / "index.html").read_text(encoding="utf-8") == "new index"
    assert sorted(p.name for p in (out / "scenarios").iterdir()) == ["s1"]
    assert (out / "scenarios" / "s1" / "compare.html").read_text(encoding="utf-8") == "scenario"
    assert _siblings(out) == []


def test_only_new_empty_or_bundle_folders_are_replaced(tmp_path):
    from geoaccess.errors import InputError
    from geoaccess.outputs._atomic import check_output_folder, replace_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(InputError, match="holds files geoaccess did not write"):
        with replace_folder(mine):
            pass
    assert (mine / "thesis.docx").read_text(encoding="utf-8") == "precious"
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_folder(f)
    only_scenarios = tmp_path / "s"
    (only_scenarios / "scenarios" / "x").mkdir(parents=True)
    check_output_folder(only_scenarios)  # what-if bundles written before the first baseline run
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "index.html").write_text("", encoding="utf-8")
    (legacy / "counties.csv").write_text("", encoding="utf-8")
    check_output_folder(legacy)


def test_a_second_run_on_one_folder_is_locked_out(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from geoaccess.errors import InputError
    from geoaccess.outputs._atomic import output_lock, replace_folder

    out = tmp_path / "b"
    lock = tmp_path / ".b.lock"
    lock.write_text(f"{os.getppid()} {socket.gethostname()}\n", encoding="utf-8")  # a live process
    with pytest.raises(InputError, match=f"another geoaccess run \\(process {os.getppid()}\\) is writing"):
        with replace_folder(out):
            pass
    assert not out.exists()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(f"{gone.stdout.strip()} {socket.gethostname()}\n", encoding="utf-8")  # a killed run's lock
    with output_lock(out), replace_folder(out) as tmp:  # re-entrant within one process
        (tmp / "index.html").write_text("x", encoding="utf-8")
    assert (out / "index.html").exists() and not lock.exists()


def test_csv_text_cells_never_run_as_formulas(tmp_path):
    import pandas as pd

    from geoaccess.outputs._atomic import write_csv

    frame = pd.DataFrame(
        {
            "name": ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "普通", "-12.5", "A-1"],
            "minutes": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    write_csv(frame, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", dtype={"name": str})
    assert list(back["name"]) == ['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", "普通", "-12.5", "A-1"]
    assert list(back["minutes"]) == list(frame["minutes"])  # numbers stay numbers
    assert frame["name"].iloc[0].startswith("=")  # the caller's table is not changed


def test_compare_map_layer_names_are_text(tmp_path):
    """Leaflet's layer control inserts layer names as HTML: a tier name must reach it escaped."""
    from types import SimpleNamespace

    from geoaccess.outputs.compare import _map

    evil = "<img src=x onerror=alert('tn1')>"
    counties = gpd.GeoDataFrame(
        {"county_code": ["140101"], "county_name": ["甲县"]}, geometry=[box(112.0, 37.0, 112.1, 37.1)], crs=4326
    )
    pop = SimpleNamespace(
        shape=(2, 2),
        row=np.array([0, 1]),
        col=np.array([0, 1]),
        transform=from_origin(112.0, 37.1, 0.05, 0.05),
        crs="EPSG:4326",
    )
    tier = Tier(evil, 15.0)
    before = SimpleNamespace(tiers={evil: SimpleNamespace(minutes=np.array([20.0, 30.0]))})
    facilities = gpd.GeoDataFrame(
        {"id": ["N1"], "name": ["新"], "tier": [evil], "beds": [0.0], "change": ["added"]},
        geometry=[Point(112.05, 37.05)],
        crs=4326,
    )
    after = SimpleNamespace(
        tier_settings=(tier,),
        tiers={evil: SimpleNamespace(minutes=np.array([10.0, 30.0]))},
        facilities=facilities,
        scenario=SimpleNamespace(title=evil, edits={}),
    )
    page = _map(tmp_path / "compare_map.html", evil, after, before, counties, pop, "")[0].read_text(encoding="utf-8")
    assert evil not in page and "<img" not in page
    # plain text in the page's data (map.js escapes layer names for Leaflet's layer control)
    d = _data(page)
    assert d["kind"] == "compare" and d["images"][0]["name"] == f"{evil}: change in minutes"
    assert d["images"][0]["url"].startswith("data:image/png;base64,")
    assert d["changed"]["points"][0]["name"] == "新" and d["legend"]["title"] == evil
    assert f"<title>{html.escape(evil)}" in page


def test_notebook_maps_are_folium_maps_with_everything_inline(tmp_path):
    """scenario_map / tier_folium return folium maps whose HTML needs no file and no network."""
    import folium

    from geoaccess.outputs.maps import overview_folium

    tiers = (Tier("primary", 15.0, 0.9), Tier("county", 60.0, 0.9))
    counties = gpd.GeoDataFrame(
        {"county_code": ["140101"], "county_name": [EVIL_COUNTY]}, geometry=[box(112.0, 37.0, 112.1, 37.1)], crs=4326
    )
    facilities = gpd.GeoDataFrame(
        {"id": ["F1"], "name": [EVIL], "tier": ["county"], "tier_rank": [1], "beds": [10.0]},
        geometry=[Point(112.03, 37.05)],
        crs=4326,
    )
    table = score_counties(
        counties, np.ones(1), np.zeros(1, np.int64), {"primary": np.ones(1), "county": np.ones(1)}, tiers
    )
    m = overview_folium(tiers=tiers, counties=counties, table=table, facilities=facilities, ctx=MapContext(lang="zh"))
    assert isinstance(m, folium.Map)
    page = m.get_root().render()
    assert "<script src=" not in page and "<link rel" not in page, "assets inline"
    assert "Leaflet 1.9.4" in page and "geoaccess.render" in page and "window.geoaccessFacilities=" in page
    assert EVIL not in page and "<script>alert(2)" not in page
    assert not re.search(r"""<(script|link|img)[^>]*(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "iframe" in m._repr_html_()  # what Jupyter shows
    # a tier map: the travel-time image inline as a data URL
    transform = from_origin(112.0, 37.1, 0.01, 0.01)
    grid = np.arange(100, dtype=float).reshape(10, 10)
    m = tier_folium(
        tier_index=1, tiers=tiers, counties=counties, table=table, facilities=facilities,
        serving=np.array([True]), nearest_people=np.array([5.0]), reach_people=np.array([4.0]),
        surface=_surface(grid, transform), ctx=MapContext(lang="zh"),
    )  # fmt: skip
    page = m.get_root().render()
    d = _data(page)
    assert d["surface"]["url"].startswith("data:image/png;base64,") and d["kind"] == "tier"
    assert "<script src=" not in page and not list(tmp_path.glob("*.png"))


def test_an_unwritable_output_folder_is_refused_up_front(tmp_path, monkeypatch):
    import tempfile

    from geoaccess.errors import InputError
    from geoaccess.outputs._atomic import check_output_folder

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(InputError, match=r"cannot write beside the output folder .*\(Permission denied\)"):
        check_output_folder(tmp_path / "out")


def _surface(grid, transform, crs="EPSG:4326") -> Surface:
    r, c = np.nonzero(~np.isnan(grid))
    return Surface.from_cells(grid.shape, r, c, grid[r, c], transform, crs)


# -- catchments, several surfaces, period switch (issues 14 and 15) -----------------------------------------
def _decode(polys, step):
    """The inverse of :func:`geoaccess.outputs.maps.encode_polygons` (as map.js's decodeRing reads it)."""
    out = []
    for rings in polys:
        parts = []
        for d in rings:
            xy = np.cumsum(np.asarray(d, dtype=np.int64).reshape(-1, 2), axis=0) * step
            parts.append(np.vstack([xy, xy[:1]]))
        out.append(shapely.Polygon(parts[0], parts[1:]))
    return shapely.MultiPolygon(out)


def test_encoded_catchments_round_trip_within_one_step():
    from geoaccess.outputs.maps import encode_polygons

    hole = box(112.02, 37.02, 112.04, 37.04)
    a = shapely.Polygon(box(112.0, 37.0, 112.1, 37.1).exterior, [hole.exterior])
    b = shapely.MultiPolygon([box(112.1, 37.0, 112.2, 37.05), box(112.3, 37.0, 112.31234567, 37.01)])
    step = 1e-4
    enc = encode_polygons([a, b, shapely.Polygon()], step)
    assert enc[2] == [] and len(enc[0]) == 1 and len(enc[0][0]) == 2 and len(enc[1]) == 2
    for geom, polys in zip([a, b], enc[:2], strict=True):
        back = _decode(polys, step)
        assert back.is_valid and back.symmetric_difference(geom).area <= geom.length * step  # half a step each side
        assert shapely.hausdorff_distance(back, geom) <= step
    # whole steps from the previous vertex: small numbers after the first
    assert max(abs(v) for v in enc[0][0][0][2:]) <= 1000


def test_tier_page_links_its_catchments_without_carrying_them(tmp_path):
    out = tiny_bundle(tmp_path / "b", catchments=True)
    d = _data((out / "map_primary.html").read_text(encoding="utf-8"))
    c = d["catchments"]
    assert c["src"] == "data/catchments_primary.js" and c["count"] == 3 and "geometry" not in c
    assert c["name"] == "各机构服务范围（最近机构）" and c["rows"]["area"] == "面积 (平方公里)"
    text = (out / c["src"]).read_text(encoding="utf-8")
    data = json.loads(text.split('["primary"]=', 1)[1].rstrip().rstrip(";"))
    assert data["facility"] == [0, 1, 2] and len(data["geometry"]) == 3 and data["step"] == 1e-4
    # every cell of the two counties is in one catchment: the areas add up to the counties'
    total_km2 = sum(float(a.replace(",", "")) for a in data["area"])
    assert total_km2 == pytest.approx(0.2 * 0.1 * 111.32**2 * np.cos(np.radians(37.05)), rel=1e-3)
    assert (out / "data" / "catchments_county.js").exists()
    assert "catchments" not in _data((out / "overview.html").read_text(encoding="utf-8"))


def test_notebook_tier_map_carries_its_catchments_inline(tmp_path):
    from geoaccess.outputs.maps import catchments_layer

    out = tiny_bundle(tmp_path / "b")
    c = tiny_catchments_of(out)
    entry = catchments_layer(None, "primary", c, None, MapContext(lang="en"))
    assert entry["_inline"].startswith("window.geoaccessCatchments=") and entry["rows"]["area"] == "area (km²)"
    assert not (out / "data" / "catchments_primary.js").exists()


def tiny_catchments_of(out: Path | None):
    from types import SimpleNamespace

    g = [box(112.0, 37.0, 112.1, 37.1)]
    return SimpleNamespace(
        catchment_facility=np.array([0]), catchment_geometry=np.array(g, dtype=object),
        catchment_people=np.array([1234.0]), catchment_km2=np.array([98.76]),
    )  # fmt: skip


def test_a_second_surface_is_listed_beside_the_first(tmp_path):
    out = tiny_bundle(tmp_path / "b", walking=True)
    d = _data((out / "map_county.html").read_text(encoding="utf-8"))
    names = [s["name"] for s in d["surfaces"]]
    assert names == ["到县级医院的出行时间 · 机动车出行", "到县级医院的出行时间 · 步行"]
    assert d["surface"] == d["surfaces"][0]
    assert [s["url"] for s in d["surfaces"]] == ["img/travel_time_county.png", "img/travel_time_county__2.png"]
    one, two = ((out / s["url"]).read_bytes() for s in d["surfaces"])
    assert one[:8] == two[:8] == b"\x89PNG\r\n\x1a\n" and one != two
    assert "surfaces" not in _data((tiny_bundle(tmp_path / "c") / "map_county.html").read_text(encoding="utf-8"))


def test_period_pages_link_each_other_and_the_parent_lib(tmp_path):
    out = tmp_path / "p"
    tiny_bundle(out, periods=[("base", "", True), ("peak", "periods/peak/", False)])
    peak = tiny_bundle(
        out / "periods" / "peak", lib="../../lib", periods=[("base", "../../", False), ("peak", "", True)]
    )
    assert not (peak / "lib").exists()
    page = (peak / "map_primary.html").read_text(encoding="utf-8")
    assert 'src="../../lib/leaflet/leaflet.js"' in page and 'src="../../lib/geoaccess/map.js"' in page
    assert _data(page)["periods"] == {
        "title": "时段",
        "links": [
            {"label": "base", "href": "../../map_primary.html", "current": False},
            {"label": "peak", "href": "map_primary.html", "current": True},
        ],
    }
    index = (peak / "index.html").read_text(encoding="utf-8")
    assert '<a href="../../index.html">base</a>' in index and '<b aria-current="page">peak</b>' in index
    assert "periods" not in _data((tiny_bundle(tmp_path / "q") / "map_primary.html").read_text(encoding="utf-8"))


def test_catchments_shift_to_gcj02_with_the_other_overlays():
    from geoaccess.outputs._gcj02 import shift_geometry
    from geoaccess.outputs.maps import catchments_data

    c = tiny_catchments_of(None)
    plain = catchments_data(c, None, MapContext(lang="zh"))
    shifted = catchments_data(c, None, MapContext(lang="zh", shift=True))
    assert plain["people"] == ["1,234"] and plain["area"] == ["98.8"]
    back = _decode(shifted["geometry"][0], shifted["step"])
    assert shapely.hausdorff_distance(back, shift_geometry(c.catchment_geometry[0])) <= 1e-4
    assert shapely.hausdorff_distance(back, c.catchment_geometry[0]) > 1e-3  # GCJ-02 moves it by hundreds of metres
