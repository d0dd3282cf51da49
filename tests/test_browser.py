"""Every page of the demo bundle in headless Chromium with the network cut off.

Asserts that no request leaves the machine, the console stays free of errors, the expected layers and
markers are in the page, and saves a screenshot of each page (set ``GEOACCESS_SCREENSHOTS=<folder>`` to
keep copies; ``make screenshots`` writes them to ``maps/demo/screenshots/``).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); without them these tests
skip and say why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from geoaccess import Study, place, whatif

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from tests.helpers import headless_chromium  # noqa: E402

PAGES = ["index", "overview", "report", "map_primary", "map_county", "map_regional"]
# chrome:// is the browser's own start page (its resources show up in the log before the first page)
LOCAL = ("file://", "data:", "blob:", "about:", "chrome-error:", "chrome://")
MAX_BUNDLE_BYTES = 25 * 1024 * 1024


@pytest.fixture(scope="module")
def demo_bundle(demo_study_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser")
    study = Study.from_file(demo_study_file, output_root=out)
    study.run()
    return study.settings.output


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _open(driver, path: Path):
    driver.get_log("performance")  # drop what came before
    driver.get_log("browser")
    driver.get(path.as_uri())
    deadline = time.time() + 15
    while time.time() < deadline:
        if driver.execute_script("return document.readyState") == "complete":
            break
        time.sleep(0.05)
    time.sleep(0.4)  # let Leaflet draw and the overlay image decode


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _check_clean(driver, name: str) -> list[str]:
    urls = _requests(driver)
    outside = [u for u in urls if not u.startswith(LOCAL)]
    assert not outside, f"{name}: requests left the machine: {outside}"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"{name}: console errors: {errors}"
    assert driver.execute_script("return window.__alerts") == [], f"{name}: a script called alert()"
    return urls


def _shot(driver, shots: Path, name: str) -> Path:
    p = shots / f"{name}.png"
    driver.save_screenshot(str(p))
    assert p.stat().st_size > 10_000
    keep = os.environ.get("GEOACCESS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, Path(keep) / p.name)
    return p


def test_bundle_is_light_and_self_contained(demo_bundle):
    size = sum(f.stat().st_size for f in demo_bundle.rglob("*") if f.is_file())
    print(f"demo bundle: {size / 1e6:.2f} MB")
    assert size < MAX_BUNDLE_BYTES
    for name in PAGES:
        page = (demo_bundle / f"{name}.html").read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), name
        for ref in re.findall(r"""(?:src|href)="([^"#]+)\"""", page):
            assert (demo_bundle / ref).exists(), f"{name} refers to missing {ref}"


def test_index(browser, demo_bundle, shots):
    _open(browser, demo_bundle / "index.html")
    _check_clean(browser, "index")
    rows = browser.find_elements(By.CSS_SELECTOR, "#counties tbody tr")
    assert len(rows) == 10
    links = {a.get_attribute("href").rsplit("/", 1)[-1] for a in browser.find_elements(By.CSS_SELECTOR, "ul.maps a")}
    assert links == {"overview.html", "report.html", "map_primary.html", "map_county.html", "map_regional.html"}
    assert len(browser.find_elements(By.CSS_SELECTOR, ".curves svg")) == 3
    assert "synthetic" in browser.find_element(By.CSS_SELECTOR, ".banner").text.lower()
    _shot(browser, shots, "index")
    # sorting: population descending puts the largest county first
    header = browser.find_elements(By.CSS_SELECTOR, "#counties thead th")[2]
    header.click()
    header.click()
    first = browser.find_element(By.CSS_SELECTOR, "#counties tbody tr td:nth-child(2)").text
    assert first == "小店区"


# facilities on the map, and how many of them are hospital symbols (markers); the rest are canvas circles
@pytest.mark.parametrize("tier,n_facilities,n_symbols", [("primary", 363, 20), ("county", 20, 20), ("regional", 8, 8)])
def test_tier_map(browser, demo_bundle, shots, tier, n_facilities, n_symbols):
    _open(browser, demo_bundle / f"map_{tier}.html")
    urls = _check_clean(browser, tier)
    assert any(u.endswith(f"img/travel_time_{tier}.png") for u in urls)
    assert any(u.endswith("data/facilities.js") for u in urls)
    img = browser.find_element(By.CSS_SELECTOR, "img.ga-surface")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
    assert browser.execute_script("return window.geoaccessMap.gaFacilityCount") == n_facilities
    assert len(browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon.ga-fac")) == n_symbols
    assert bool(browser.find_elements(By.CSS_SELECTOR, ".leaflet-gaPoints-pane canvas")) == (n_facilities > n_symbols)
    assert len(browser.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) >= 10  # counties and bands
    layers = browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label")
    assert len(layers) == 6  # surface, counties, county names, bands, facilities, catchments
    assert not _overlay(browser, "各机构服务范围").is_selected()  # off until asked for
    for css in (".ga-legend", ".leaflet-control-scale", ".ga-search input", ".ga-fullscreen", ".ga-synthetic"):
        assert browser.find_elements(By.CSS_SELECTOR, css), f"{tier}: {css} missing"
    _shot(browser, shots, f"map_{tier}")


def test_facility_search_opens_its_popup(browser, demo_bundle, shots):
    _open(browser, demo_bundle / "map_county.html")
    box = browser.find_element(By.CSS_SELECTOR, ".ga-search input")
    box.send_keys("人民医院")
    hits = browser.find_elements(By.CSS_SELECTOR, ".ga-search-results li")
    assert hits and "人民医院" in hits[0].text
    name = hits[0].text
    hits[0].click()
    time.sleep(0.4)
    popup = browser.find_element(By.CSS_SELECTOR, ".leaflet-popup-content")
    assert name in popup.text and "床位" in popup.text
    # at most the tooltip of the county now under the mouse: none is left open from before the jump
    tips = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip") if t.is_displayed()]
    assert sum("状态" in t for t in tips) <= 1, tips
    _check_clean(browser, "search")
    _shot(browser, shots, "map_county_search")


def test_overview_click_shows_why(browser, demo_bundle, shots):
    _open(browser, demo_bundle / "overview.html")
    _check_clean(browser, "overview")
    assert len(browser.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) == 10
    assert len(browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon.ga-fac")) == 20
    _shot(browser, shots, "overview")
    # click the county that fails a target (阳曲县 in the demo)
    browser.execute_script(
        "var m=window.geoaccessMap;m.eachLayer(function(l){if(l.feature&&l.feature.properties.code==='140122')"
        "{l.fire('click',{latlng:l.getBounds().getCenter()});}});"
    )
    time.sleep(0.4)
    popup = browser.find_element(By.CSS_SELECTOR, ".ga-why .leaflet-popup-content")
    assert "阳曲县" in popup.text and "资源充实提升区" in popup.text and "✗" in popup.text
    _shot(browser, shots, "overview_why")


def test_injected_names_stay_text(browser, tmp_path, shots):
    from tests.test_outputs import EVIL, EVIL_COUNTY, tiny_bundle

    out = tiny_bundle(tmp_path / "evil")
    for name in ("index", "overview", "map_primary"):
        _open(browser, out / f"{name}.html")
        urls = _check_clean(browser, f"evil {name}")
        assert not any(u.endswith("/x") for u in urls), "the injected <img src=x> must not load"
        assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
        try:
            _ = browser.switch_to.alert
            pytest.fail("an alert opened")
        except NoAlertPresentException:
            pass
    # the name is shown as text in search results and in the popup
    browser.find_element(By.CSS_SELECTOR, ".ga-search input").send_keys("onerror")
    hit = browser.find_element(By.CSS_SELECTOR, ".ga-search-results li")
    assert hit.text == EVIL
    hit.click()
    time.sleep(0.3)
    assert EVIL in browser.find_element(By.CSS_SELECTOR, ".leaflet-popup-content").text
    assert browser.execute_script("return window.__alerts") == []
    _shot(browser, shots, "injection_popup")
    _open(browser, out / "index.html")
    assert EVIL_COUNTY in browser.find_element(By.CSS_SELECTOR, "#counties").text


def test_injected_names_stay_text_on_compare_pages(browser, tmp_path, shots):
    """What-if and placement maps use the same plugin and the same rule: a name is shown as text."""
    from types import SimpleNamespace

    import geopandas as gpd
    import numpy as np
    from rasterio.transform import from_origin
    from shapely.geometry import Point, box

    from geoaccess.config import Tier
    from geoaccess.outputs.compare import _map
    from tests.test_outputs import EVIL, EVIL_COUNTY

    counties = gpd.GeoDataFrame(
        {"county_code": ["140101"], "county_name": [EVIL_COUNTY]}, geometry=[box(112.0, 37.0, 112.1, 37.1)], crs=4326
    )
    pop = SimpleNamespace(
        shape=(2, 2), row=np.array([0, 1]), col=np.array([0, 1]), transform=from_origin(112.0, 37.1, 0.05, 0.05),
        crs="EPSG:4326",
    )  # fmt: skip
    tier = Tier("county", 60.0)
    facilities = gpd.GeoDataFrame(
        {"id": [EVIL], "name": [EVIL], "tier": ["county"], "beds": [0.0], "change": ["added"]},
        geometry=[Point(112.05, 37.05)],
        crs=4326,
    )
    after = SimpleNamespace(
        tier_settings=(tier,),
        tiers={"county": SimpleNamespace(minutes=np.array([10.0, 30.0]))},
        facilities=facilities,
        scenario=SimpleNamespace(title=EVIL, edits={}),
    )
    before = SimpleNamespace(tiers={"county": SimpleNamespace(minutes=np.array([20.0, 30.0]))})
    roads = [{"coords": [[37.01, 112.01], [37.09, 112.09]], "label": EVIL}]
    page = _map(tmp_path / "compare_map.html", EVIL, after, before, counties, pop, "合成 " + EVIL, "zh", roads)[0]
    _open(browser, page)
    urls = _check_clean(browser, "evil compare")
    assert not any(u.endswith("/x") for u in urls) and not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    assert EVIL in browser.find_element(By.CSS_SELECTOR, ".ga-legend").text
    assert EVIL in browser.find_element(By.CSS_SELECTOR, ".ga-synthetic").text
    browser.find_element(By.CSS_SELECTOR, ".ga-search input").send_keys("onerror")
    hit = browser.find_element(By.CSS_SELECTOR, ".ga-search-results li")
    assert hit.text == EVIL
    hit.click()
    time.sleep(0.3)
    assert EVIL in browser.find_element(By.CSS_SELECTOR, ".leaflet-popup-content").text
    assert browser.execute_script("return window.__alerts") == []
    _shot(browser, shots, "injection_compare")


def test_province_zoom_names_do_not_overlap(browser, tmp_path, shots):
    """With 100+ counties, names show by zoom and collision: none overlap, more come in closer."""
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Point, box

    from geoaccess.config import Tier
    from geoaccess.outputs.maps import MapContext, overview_map, write_facilities
    from geoaccess.scoring import score_counties

    tiers = (Tier("primary", 15.0, 0.9), Tier("county", 60.0, 0.9))
    n = 11  # 121 counties, a province's worth
    cells = [(i, j) for i in range(n) for j in range(n)]
    counties = gpd.GeoDataFrame(
        {"county_code": [f"14{k:04d}" for k in range(n * n)], "county_name": [f"第{k}号示范县" for k in range(n * n)]},
        geometry=[box(110 + 0.25 * j, 35 + 0.2 * i, 110.25 + 0.25 * j, 35.2 + 0.2 * i) for i, j in cells],
        crs=4326,
    )
    facilities = gpd.GeoDataFrame(
        {"id": ["F1"], "name": ["县医院"], "tier": ["county"], "tier_rank": [1], "beds": [100.0]},
        geometry=[Point(110.1, 35.1)],
        crs=4326,
    )
    minutes = {"primary": np.full(n * n, 10.0), "county": np.full(n * n, 30.0)}
    table = score_counties(counties, np.ones(n * n), np.arange(n * n), minutes, tiers)
    ctx = MapContext(lang="zh", title="省级", note="SYNTHETIC test data")
    out = tmp_path / "province"
    out.mkdir()
    write_facilities(out, tiers=tiers, facilities=facilities, referral_minutes=None, ctx=ctx)
    overview_map(
        out / "overview.html", tiers=tiers, counties=counties, table=table, facilities=facilities, ctx=ctx, tier_maps={}
    )
    _open(browser, out / "overview.html")
    _check_clean(browser, "province")
    visible = (
        "var r=[];document.querySelectorAll('.ga-label').forEach(function(l){if(l.style.visibility!=='hidden'){"
        "var b=l.firstChild.getBoundingClientRect();r.push([b.left,b.top,b.right,b.bottom]);}});return r;"
    )
    boxes = browser.execute_script(visible)
    assert 0 < len(boxes) < n * n, "at province zoom some names give way"
    for k, a in enumerate(boxes):
        for b in boxes[k + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "two names overlap"
    _shot(browser, shots, "province_names")
    browser.execute_script("window.geoaccessMap.setZoom(window.geoaccessMap.getZoom() + 2, {animate: false})")
    time.sleep(0.4)
    assert len(browser.execute_script(visible)) > len(boxes) or len(boxes) == n * n


def test_tiled_surface_and_canvas_clinics(browser, tmp_path, shots, monkeypatch):
    """A surface too large for one image comes as local tiles; clinics are canvas circles that still click."""
    from selenium.webdriver.common.action_chains import ActionChains

    from geoaccess.outputs import tiles
    from tests.test_outputs import EVIL_COUNTY, tiny_bundle

    monkeypatch.setattr(tiles, "MAX_IMAGE_PX", 8)
    out = tiny_bundle(tmp_path / "tiled", facility_name="甲村卫生室")
    _open(browser, out / "map_primary.html")
    urls = _check_clean(browser, "tiled")  # no console error: no missing tile was asked for
    assert any(re.search(r"img/primary/\d+/\d+/\d+\.png$", u) for u in urls)
    assert not any(u.endswith("travel_time_primary.png") for u in urls)
    loaded = browser.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('.ga-surface img'),"
        "function(i){return i.complete && i.naturalWidth === 256;}).length"
    )
    assert loaded >= 1
    _shot(browser, shots, "tiled_primary")
    box = browser.find_element(By.CSS_SELECTOR, ".folium-map")

    def move_to(lat, lon):
        x, y = browser.execute_script(
            "var p=window.geoaccessMap.latLngToContainerPoint([arguments[0],arguments[1]]);return [p.x,p.y];", lat, lon
        )
        size = box.size
        return ActionChains(browser).move_to_element_with_offset(
            box, int(x - size["width"] / 2), int(y - size["height"] / 2)
        )

    # the canvas lets the mouse through to the county underneath ...
    move_to(37.09, 112.09).perform()
    time.sleep(0.3)
    tip = browser.find_element(By.CSS_SELECTOR, ".leaflet-tooltip").get_attribute("textContent")
    assert EVIL_COUNTY in tip and "乙县" not in tip  # the west county's tooltip
    # ... and a click on a clinic opens its popup
    move_to(37.05, 112.03).click().perform()
    time.sleep(0.3)
    popup = browser.find_element(By.CSS_SELECTOR, ".leaflet-popup-content").text
    assert "甲村卫生室" in popup and "床位" in popup
    _check_clean(browser, "tiled click")


# -- Chinese text, tooltips that fit, every page type (issue 14) ----------------------------------------
GLYPHS_DIFFER = """
var c=document.createElement('canvas');c.width=40;c.height=40;var x=c.getContext('2d');
var font=getComputedStyle(document.body).fontFamily;
function img(ch){x.clearRect(0,0,40,40);x.font='28px '+font;x.fillStyle='#000';x.fillText(ch,4,32);
  return Array.prototype.join.call(x.getImageData(0,0,40,40).data,'');}
var a=img(arguments[0]),b=img(arguments[1]),tofu=img('\\uE000');
return [a!==b, a!==tofu, x.measureText(arguments[0]).width];
"""


def test_chinese_text_renders_not_as_boxes(browser, demo_bundle, shots):
    """Two different characters draw differently (tofu boxes would be identical): a CJK font is installed."""
    _open(browser, demo_bundle / "overview.html")
    differ, not_tofu, width = browser.execute_script(GLYPHS_DIFFER, "资", "源")
    assert differ and not_tofu, (
        "Chinese characters render as boxes: install a CJK font (apt-get install fonts-noto-cjk)"
    )
    assert width > 20  # a full-width glyph at 28 px
    _shot(browser, shots, "overview_cjk")


@pytest.mark.parametrize("page", ["map_primary", "map_county"])
def test_county_tooltips_fit_inside_the_map(browser, demo_bundle, page):
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, demo_bundle / f"{page}.html")
    box = browser.find_element(By.CSS_SELECTOR, ".folium-map")
    size = box.size
    centres = browser.execute_script(
        "var out=[],m=window.geoaccessMap;m.eachLayer(function(l){if(l.feature&&l.feature.properties.code){"
        "var p=m.latLngToContainerPoint(l.getBounds().getCenter());out.push([l.feature.properties.name,p.x,p.y]);}});"
        "return out;"
    )
    assert len(centres) == 10
    for name, x, y in centres:
        ActionChains(browser).move_to_element_with_offset(
            box, int(x - size["width"] / 2), int(y - size["height"] / 2)
        ).perform()
        time.sleep(0.15)
        tips = browser.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip")
        if not tips:
            continue  # the centre lies on a facility symbol, whose own tooltip shows
        inside = browser.execute_script(
            "var t=arguments[0].getBoundingClientRect(),m=arguments[1].getBoundingClientRect();"
            "return t.top>=m.top-1&&t.bottom<=m.bottom+1&&t.height<m.height/2;",
            tips[-1],
            box,
        )
        assert inside, f"{page}: the tooltip of {name} does not fit in the map"
        ActionChains(browser).move_by_offset(0, 0).perform()


@pytest.fixture(scope="module")
def compare_pages(demo_bundle, demo_study_file):
    study = Study.from_file(demo_study_file, output_root=demo_bundle.parent)
    base = study.run(write=False)
    r = whatif(
        study,
        base=base,
        write=True,
        name="browser",
        add=[{"lon": 112.6, "lat": 38.05, "tier": "county", "beds": 300, "name": "新县医院"}],
        remove=["F0020"],
        road_speed=[{"route": [[112.55, 37.87], [112.67, 38.06]], "kmh": 80}],
    )
    p = place(study, "county", 1, "coverage", write=True)
    return [r.output, p.output]


def test_compare_pages_load_offline_in_chinese(browser, compare_pages, shots):
    from selenium.webdriver.common.action_chains import ActionChains

    for k, folder in enumerate(compare_pages):
        _open(browser, folder / "compare.html")
        _check_clean(browser, f"compare {k}")
        assert "改动" in browser.find_element(By.TAG_NAME, "body").text
        _shot(browser, shots, f"compare_{k}")
        _open(browser, folder / "compare_map.html")
        _check_clean(browser, f"compare map {k}")
        assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-image-layer")
        scale = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-scale").text
        assert "km" in scale or " m" in scale
        assert "mi" not in scale and "ft" not in scale  # metric only
        # a changed facility is inspectable: its tooltip shows on hover, above the county layer
        marker = browser.find_elements(By.CSS_SELECTOR, ".leaflet-changed-pane path.leaflet-interactive")
        assert marker
        ActionChains(browser).move_to_element(marker[0]).perform()
        time.sleep(0.3)
        tips = browser.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip")
        assert tips, "no tooltip on a changed facility"
        # short enough to fit inside the map
        inside = browser.execute_script(
            "var t=arguments[0].getBoundingClientRect(),m=window.geoaccessMap.getContainer().getBoundingClientRect();"
            "return t.top>=m.top-1&&t.bottom<=m.bottom+1&&t.height<m.height/2;",
            tips[-1],
        )
        assert inside, f"compare map {k}: the facility tooltip does not fit in the map"
        # the same plugin as every page: legend, search over the changed facilities, synthetic label, Chinese
        for css in (".ga-legend", ".ga-search input", ".ga-synthetic", ".ga-label"):
            assert browser.find_elements(By.CSS_SELECTOR, css), f"compare map {k}: {css} missing"
        differ, not_tofu, _ = browser.execute_script(GLYPHS_DIFFER, "县", "区")
        assert differ and not_tofu
        assert "变快" in browser.find_element(By.CSS_SELECTOR, ".ga-legend").text
        _shot(browser, shots, f"compare_map_{k}")
    # the what-if's road edit is drawn, with its label on hover
    _open(browser, compare_pages[0] / "compare_map.html")
    roads = browser.execute_script(
        "var n=0;window.geoaccessMap.eachLayer(function(l){if(l instanceof L.Polyline&&!(l instanceof L.Polygon)"
        "&&l.options.color==='#6a3d9a')n++;});return n;"
    )
    assert roads >= 1
    browser.find_element(By.CSS_SELECTOR, ".ga-search input").send_keys("新县医院")
    hit = browser.find_element(By.CSS_SELECTOR, ".ga-search-results li")
    assert hit.text == "新县医院"
    hit.click()
    time.sleep(0.3)
    assert "新县医院" in browser.find_element(By.CSS_SELECTOR, ".leaflet-popup-content").text
    _check_clean(browser, "compare search")
    _open(browser, compare_pages[0] / "compare.html")
    assert browser.find_elements(By.CSS_SELECTOR, ".warn"), "closing 娄烦县's hospital must be flagged"


def test_overview_colours_by_zone_or_by_tiers_failed(browser, demo_bundle, shots):
    _open(browser, demo_bundle / "overview.html")

    def state():
        boxes = browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays input")
        fills = browser.execute_script(
            "var c=[];window.geoaccessMap.eachLayer(function(l){if(l.feature)c.push(l.options.fillColor)});return c"
        )
        return boxes, fills

    boxes, fills = state()
    assert len(fills) == 10 and "#1a9850" in fills  # by zone: the two adjust counties are green
    boxes[1].click()  # by tiers failed
    time.sleep(0.4)
    boxes, fills = state()
    assert len(fills) == 10 and set(fills) <= {"#e0e0e0", "#f4a582", "#D55E00"}
    assert fills.count("#f4a582") == 1  # 阳曲县 fails one tier
    assert [b.is_selected() for b in boxes[:2]] == [False, True]
    _shot(browser, shots, "overview_tiers_failed")
    _check_clean(browser, "overview tiers failed")


def _pdf_pages(driver, path: Path) -> int:
    import base64

    _open(driver, path)
    pdf = driver.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})
    return len(re.findall(rb"/Type\s*/Page[^s]", base64.b64decode(pdf["data"])))


def test_print_layouts(browser, demo_bundle, shots):
    """A4 landscape: the report in three pages, every map on one page, controls hidden, the map fitted."""
    assert _pdf_pages(browser, demo_bundle / "report.html") <= 3
    for name in ("overview", "map_county"):
        assert _pdf_pages(browser, demo_bundle / f"{name}.html") == 1, name
    _open(browser, demo_bundle / "overview.html")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        time.sleep(0.3)
        for css in (".leaflet-control-layers", ".ga-search", ".leaflet-control-zoom", ".ga-nav"):
            assert not browser.find_element(By.CSS_SELECTOR, css).is_displayed(), css
        # every county is inside the printed map box
        inside = browser.execute_script(
            "var m=window.geoaccessMap,b=m.getContainer().getBoundingClientRect(),ok=true;"
            "m.eachLayer(function(l){if(l.feature&&l.getBounds){var s=l.getBounds();"
            "[s.getSouthWest(),s.getNorthEast()].forEach(function(c){var p=m.latLngToContainerPoint(c);"
            "if(p.x<-2||p.y<-2||p.x>b.width+2||p.y>b.height+2)ok=false;});}});return ok;"
        )
        assert inside
        _shot(browser, shots, "overview_print")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


# -- catchments, surfaces side by side, time-of-day periods (issues 14 and 15) ------------------------------
def _overlay(driver, text: str):
    """The layer control's checkbox whose label holds ``text``."""
    for label in driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label"):
        if text in label.text:
            return label.find_element(By.TAG_NAME, "input")
    raise AssertionError(f"no layer {text!r}")


def _click_at(driver, lat: float, lon: float):
    from selenium.webdriver.common.action_chains import ActionChains

    box = driver.find_element(By.CSS_SELECTOR, ".folium-map")
    x, y = driver.execute_script(
        "var p=window.geoaccessMap.latLngToContainerPoint([arguments[0],arguments[1]]);return [p.x,p.y];", lat, lon
    )
    size = box.size
    ActionChains(driver).move_to_element_with_offset(
        box, int(x - size["width"] / 2), int(y - size["height"] / 2)
    ).click().perform()
    time.sleep(0.3)


def test_catchments_load_when_switched_on_and_click_to_their_facility(browser, tmp_path, shots):
    from tests.test_outputs import tiny_bundle

    out = tiny_bundle(tmp_path / "catch", facility_name="甲村卫生室", catchments=True)
    _open(browser, out / "map_primary.html")
    urls = _check_clean(browser, "catchments")
    assert not any(u.endswith("catchments_primary.js") for u in urls), "they load when their layer is switched on"
    box = _overlay(browser, "各机构服务范围")
    assert not box.is_selected()
    box.click()
    time.sleep(0.5)
    urls = _check_clean(browser, "catchments on")
    assert any(u.endswith("data/catchments_primary.js") for u in urls)
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-gaCatchments-pane canvas")
    assert browser.execute_script("return window.geoaccessMap.gaCatchments.getLayers().length") == 3
    # a click inside the west catchment (not on a clinic) names its facility, its people and its area, in Chinese
    _click_at(browser, 37.09, 112.01)
    text = browser.find_element(By.CSS_SELECTOR, ".ga-catchment .leaflet-popup-content").text
    assert "甲村卫生室" in text and "服务范围" in text and "以其为最近机构的人口" in text and "平方公里" in text
    people = browser.execute_script(
        "var C=window.geoaccessCatchments.primary;return C.people[C.facility.indexOf(0)]+'|'+C.area[C.facility.indexOf(0)]"
    )
    assert all(v in text for v in people.split("|")), (people, text)
    _shot(browser, shots, "catchments")
    _check_clean(browser, "catchment click")


def test_two_surfaces_switch_one_at_a_time(browser, tmp_path, shots):
    """Walking only beside motorised: a tier page with two surfaces shows one at a time, the first by default."""
    from tests.test_outputs import tiny_bundle

    out = tiny_bundle(tmp_path / "two", walking=True)
    _open(browser, out / "map_primary.html")
    _check_clean(browser, "two surfaces")

    def shown():
        return browser.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll('img.ga-surface'),"
            "function(i){return i.getAttribute('src');})"
        )

    assert shown() == ["img/travel_time_primary.png"]
    main, walk = _overlay(browser, "机动车出行"), _overlay(browser, "步行")
    assert main.is_selected() and not walk.is_selected()
    walk.click()
    time.sleep(0.3)
    assert shown() == ["img/travel_time_primary__2.png"]
    # the layer control redraws its boxes when layers come and go
    assert [_overlay(browser, "机动车出行").is_selected(), _overlay(browser, "步行").is_selected()] == [False, True]
    _shot(browser, shots, "two_surfaces")
    _check_clean(browser, "two surfaces switched")


def test_period_switch_links_the_same_page_in_each_period(browser, tmp_path, shots):
    """A period's bundle inside the study's: its pages use the study's lib/ and switch to the same page."""
    from tests.test_outputs import tiny_bundle

    out = tmp_path / "periods"
    tiny_bundle(out, periods=[("基准车速", "", True), ("高峰", "periods/peak/", False)])
    peak = tiny_bundle(
        out / "periods" / "peak", lib="../../lib", periods=[("基准车速", "../../", False), ("高峰", "", True)]
    )
    assert not (peak / "lib").exists()
    for page in ("index", "overview", "map_primary"):
        _open(browser, peak / f"{page}.html")
        _check_clean(browser, f"peak {page}")
        switch = browser.find_element(By.CSS_SELECTOR, ".ga-periods")
        assert "时段" in switch.text and "高峰" in switch.text
        assert switch.find_element(By.CSS_SELECTOR, "[aria-current=page]").text == "高峰"
    _shot(browser, shots, "period_switch")
    # the switch keeps the view: zoom in on the peak page, go to the study's speeds
    browser.execute_script("window.geoaccessMap.setView([37.05, 112.05], 14, {animate: false})")
    browser.find_element(By.LINK_TEXT, "基准车速").click()
    time.sleep(0.6)
    assert browser.current_url.split("#")[0] == (out / "map_primary.html").as_uri()
    assert browser.execute_script("return window.geoaccessMap.getZoom()") == 14
    assert browser.find_element(By.CSS_SELECTOR, ".ga-periods [aria-current=page]").text == "基准车速"
    _check_clean(browser, "base map_primary")
    browser.find_element(By.LINK_TEXT, "高峰").click()
    time.sleep(0.6)
    assert browser.current_url.split("#")[0] == (peak / "map_primary.html").as_uri()


PRINT_FITS = """
var m=window.geoaccessMap,b=m.getContainer().getBoundingClientRect(),g=document.querySelector('.ga-legend');
var left=g?g.getBoundingClientRect().right-b.left:0,ok=true,clear=true;
m.eachLayer(function(l){if(l.feature&&l.feature.properties.code&&l.getBounds){var s=l.getBounds();
  [s.getSouthWest(),s.getNorthEast()].forEach(function(c){var p=m.latLngToContainerPoint(c);
  if(p.x<-2||p.y<-2||p.x>b.width+2||p.y>b.height+2)ok=false;});
  if(m.latLngToContainerPoint(s.getSouthWest()).x<left-2)clear=false;}});
return [ok,clear,!!g&&getComputedStyle(g).display!=='none'];
"""


def test_every_map_page_prints_on_one_a4_landscape_page(browser, demo_bundle, compare_pages, shots):
    """Overview, tier maps, what-if and placement maps: one A4 landscape page each (WebDriver's print, which
    is Chromium's DevTools printToPDF), controls hidden, every county inside the map and clear of the legend."""
    import base64

    from selenium.webdriver.common.print_page_options import PrintOptions

    pages = [demo_bundle / f"{p}.html" for p in PAGES if p.startswith(("overview", "map_"))]
    pages += [folder / "compare_map.html" for folder in compare_pages]
    opts = PrintOptions()
    opts.orientation, opts.page_width, opts.page_height, opts.background = "landscape", 29.7, 21.0, True
    for page in pages:
        _open(browser, page)
        pdf = base64.b64decode(browser.print_page(opts))
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1, f"{page.name} prints on more than one page"
        box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]+)\]", pdf).group(1).split()]
        assert box[2] == pytest.approx(841.9, abs=1) and box[3] == pytest.approx(595.9, abs=1)  # A4 landscape, pt
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        try:
            time.sleep(0.3)
            for css in (".leaflet-control-layers", ".leaflet-control-zoom", ".ga-nav", ".ga-fullscreen-box"):
                assert not browser.find_element(By.CSS_SELECTOR, css).is_displayed(), (page.name, css)
            inside, clear, legend = browser.execute_script(PRINT_FITS)
            assert inside and clear and legend, (page, inside, clear, legend)
        finally:
            browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        _check_clean(browser, f"print {page.name}")
