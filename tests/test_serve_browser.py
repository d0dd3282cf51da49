"""``geoaccess serve`` in a real headless Chromium driven by selenium: click the map, add a facility, see the county
table change; undo; close and move from a popup; drag a hospital to move it; change a road's speed and draw a road;
text from the planner stays text; no console errors; nothing leaves 127.0.0.1.

Needs Debian's ``chromium`` and ``chromium-driver`` (as tests/test_browser.py); without them these tests skip and
say why.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pyproj
import pytest
import shapely

pytest.importorskip("starlette", reason="geoaccess serve needs the [serve] extra (pip install -e '.[serve]')")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from geoaccess import Study  # noqa: E402
from geoaccess.serve.app import create_app  # noqa: E402
from geoaccess.serve.page import build_page  # noqa: E402
from geoaccess.serve.session import Session  # noqa: E402
from tests.helpers import headless_chromium  # noqa: E402
from tests.test_serve import Running  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>新院"


def chromium(profile_dir):
    """Headless Chromium that reaches 127.0.0.1 only (the served page) and records alerts."""
    return headless_chromium(profile_dir, loopback=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(demo_study_file, tmp_path_factory):
    study = Study.from_file(demo_study_file, output_root=tmp_path_factory.mktemp("serve-browser"))
    session = Session(study)
    running = Running(create_app(session, build_page(session)))
    # where a county hospital gains most: the populated cell farthest from one
    minutes = session.baseline.tiers["county"].minutes
    far = int(np.argmax(np.where(np.isfinite(minutes), minutes, -1)))
    pop = session.baseline.inputs.population
    code = str(session.baseline.counties["county_code"].iat[pop.county[far]])
    running.site = (float(pop.lon[far]), float(pop.lat[far]), code)
    running.session = session
    yield running
    running.stop()


def wait_for(driver, script: str, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = driver.execute_script(script)
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {script}")


def open_page(driver, url: str) -> None:
    driver.get(url + "/")
    wait_for(driver, "return document.body.getAttribute('data-ga-ready') === '1'")


def click_map_at(driver, lon: float, lat: float) -> None:
    """A real mouse click on the map where ``lon``, ``lat`` is drawn."""
    x, y = driver.execute_script(
        "var c = JSON.parse(document.getElementById('ga-config').textContent);"
        "var p = window[c.map].latLngToContainerPoint([arguments[1], arguments[0]]); return [p.x, p.y];",
        lon,
        lat,
    )
    el = driver.find_element(By.CSS_SELECTOR, ".folium-map")
    w, h = el.size["width"], el.size["height"]
    ActionChains(driver).move_to_element_with_offset(el, int(x - w / 2), int(y - h / 2)).click().perform()


def add_facility_by_clicking(driver, lon, lat, *, tier="county", beds=300, name=EVIL) -> None:
    click_map_at(driver, lon, lat)
    wait_for(driver, "return !document.getElementById('ga-add').hidden")
    Select(driver.find_element(By.ID, "ga-add-tier")).select_by_value(tier)
    beds_box = driver.find_element(By.ID, "ga-add-beds")
    beds_box.clear()
    beds_box.send_keys(str(beds))
    driver.find_element(By.ID, "ga-add-name").send_keys(name)
    driver.find_element(By.ID, "ga-add-ok").click()


def table_text(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#ga-table tbody").text


def test_click_to_add_a_facility_changes_the_table(browser, served):
    open_page(browser, served.url)
    browser.get_log("performance")
    before = table_text(browser)
    lon, lat, code = served.site
    add_facility_by_clicking(browser, lon, lat)
    wait_for(browser, "return document.body.getAttribute('data-ga-updates') === '1'")
    after = table_text(browser)
    assert after != before
    row = browser.find_element(By.CSS_SELECTOR, f"#ga-table tr[data-county='{code}']")
    assert "+" in row.text  # its county-hospital share went up
    # the edit is listed in words, the planner's text as text
    edits = browser.find_element(By.ID, "ga-edits").text
    assert EVIL in edits
    assert not browser.find_elements(By.CSS_SELECTOR, "#ga-panel img")
    assert browser.execute_script("return window.__alerts") == []
    ms = browser.execute_script("return window.geoaccessServe.lastEditMs")
    assert ms is not None and ms > 0
    # save (the scenario file only), undo back to the baseline's table, load the saved scenario again
    browser.find_element(By.ID, "ga-save-bundle").click()  # off: no compare pages
    browser.find_element(By.ID, "ga-save-ok").click()
    wait_for(browser, "return document.getElementById('ga-load-name').options.length === 1")
    assert "scenarios/web" in browser.find_element(By.ID, "ga-status").text
    browser.find_element(By.ID, "ga-undo-last").click()
    wait_for(browser, "return document.body.getAttribute('data-ga-updates') === '2'")
    assert table_text(browser) == before
    browser.find_element(By.ID, "ga-load-ok").click()
    wait_for(browser, "return document.body.getAttribute('data-ga-updates') === '3'")
    assert table_text(browser) == after and EVIL in browser.find_element(By.ID, "ga-edits").text
    # nothing left the machine, nothing went wrong on the page
    urls = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert urls and all(u.startswith(served.url) or u.startswith(("data:", "blob:")) for u in urls), urls
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_close_a_facility_from_its_popup(browser, served):
    open_page(browser, served.url)
    before = table_text(browser)
    # the regional hospital F0001: open its popup with a click on its marker, then close it
    fac = browser.execute_script(
        "return fetch('/api/baseline').then(function(r){return r.json();})"
        ".then(function(b){return b.facilities.filter(function(f){return f.id==='F0020';})[0];})"
    )
    click_map_at(browser, fac["lon"], fac["lat"])
    wait_for(browser, "return document.querySelector('.ga-popup') !== null")
    popup_button(browser, "关闭").click()  # close
    wait_for(browser, "return document.body.getAttribute('data-ga-updates') === '1'")
    assert table_text(browser) != before
    assert "F0020" in browser.find_element(By.ID, "ga-edits").text
    # move it instead: the close is replaced, the county hospital now stands at the county's worst-served cell
    click_map_at(browser, fac["lon"], fac["lat"])
    wait_for(browser, "return document.querySelector('.ga-popup') !== null")
    popup_button(browser, "迁址").click()
    lon, lat, _ = served.site
    click_map_at(browser, lon, lat)
    wait_for(browser, "return document.body.getAttribute('data-ga-updates') === '2'")
    edits = browser.find_elements(By.CSS_SELECTOR, "#ga-edits li")
    assert len(edits) == 1 and "迁至" in edits[0].text
    status = browser.find_element(By.ID, "ga-status").get_attribute("class")
    assert status != "ga-error", browser.find_element(By.ID, "ga-status").text


def popup_button(driver, text: str):
    (found,) = [b for b in driver.find_elements(By.CSS_SELECTOR, ".ga-popup button") if text in b.text]
    return found


def assert_clean(driver, url: str) -> None:
    """No request left 127.0.0.1, nothing went wrong on the page, no script of anyone's ran."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert all(u.startswith(url) or u.startswith(("data:", "blob:")) for u in urls), urls
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    assert driver.execute_script("return window.__alerts") == []


def fresh_page(driver, url: str) -> None:
    open_page(driver, url)
    driver.get_log("performance")
    driver.get_log("browser")


def show_map(driver, k: int) -> None:
    """Pick the k-th map (0 the overview, then the tiers) in the layer control, as a planner does."""
    driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-base label")[k].click()
    wait_for(driver, f"return window.geoaccessServe.state().page === {k}")


def screen_xy(driver, lon: float, lat: float) -> tuple[float, float]:
    return driver.execute_script(
        "var p = window.geoaccessMap.latLngToContainerPoint([arguments[1], arguments[0]]); return [p.x, p.y];", lon, lat
    )


def set_mode(driver, mode: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"input[name=ga-mode][value={mode}]").click()


def updates(driver, n: int, timeout: float = 60) -> None:
    wait_for(driver, f"return document.body.getAttribute('data-ga-updates') === '{n}'", timeout)


def test_drag_a_hospital_to_move_it(browser, served):
    fresh_page(browser, served.url)
    show_map(browser, 2)  # the county tier's map: travel time to a county hospital, its hospitals as squares
    assert browser.execute_script("return document.querySelectorAll('img.ga-surface').length") >= 1
    before = table_text(browser)
    base = served.session.baseline
    fac = base.inputs.facilities
    lon, lat, _ = served.site
    county = fac[fac["tier"] == "county"]
    # the county hospital nearest to the worst-served cell, dragged 60 px towards it
    d = np.hypot(county.geometry.x - lon, county.geometry.y - lat)
    f = county.iloc[int(np.argmin(d.to_numpy()))]
    x, y = screen_xy(browser, f.geometry.x, f.geometry.y)
    tx, ty = screen_xy(browser, lon, lat)
    step = np.array([tx - x, ty - y])
    step = 60 * step / np.hypot(*step)
    box = browser.find_element(By.CSS_SELECTOR, ".folium-map")
    w, h = box.size["width"], box.size["height"]
    (
        ActionChains(browser)
        .move_to_element_with_offset(box, int(x - w / 2), int(y - h / 2))
        .click_and_hold()
        .move_by_offset(int(step[0] / 2), int(step[1] / 2))
        .move_by_offset(int(step[0] / 2), int(step[1] / 2))
        .release()
        .perform()
    )
    updates(browser, 1)
    (edit,) = browser.find_elements(By.CSS_SELECTOR, "#ga-edits li")
    assert str(f["name"]) in edit.text and "迁至" in edit.text  # in words, in the study's language
    assert table_text(browser) != before
    state = browser.execute_script("return window.geoaccessServe.state()")
    assert state["change"]["county"] == {"shown": True, "images": 1}  # gains green, losses red, for this tier
    # the old site hollow, the new one filled, a dashed line between: three shapes in the edit layer
    assert browser.execute_script("return document.querySelectorAll('.leaflet-gaEdits-pane path').length") >= 3
    assert_clean(browser, served.url)


def test_change_a_road_speed_and_draw_a_road(browser, served):
    fresh_page(browser, served.url)
    net = served.session.baseline.inputs.network
    k = int(np.argmax(shapely.length(net.geometry)))
    mid = shapely.line_interpolate_point(net.geometry[k], 0.5, normalized=True)
    to_ll = pyproj.Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
    set_mode(browser, "speed")
    click_map_at(browser, *to_ll.transform(mid.x, mid.y))
    wait_for(browser, "return document.querySelector('.ga-speed-kmh') !== null")
    kmh = browser.find_element(By.CSS_SELECTOR, ".ga-speed-kmh")
    kmh.clear()
    kmh.send_keys("110")
    popup_button(browser, "应用").click()
    updates(browser, 1)
    assert "110 公里/小时" in browser.find_element(By.ID, "ga-edits").text
    # a new road: two clicks, each snapped to the nearest junction, then "finish"
    set_mode(browser, "road")
    lon, lat, _ = served.site
    w, s, e, n = served.session.bounds
    click_map_at(browser, lon, lat)
    wait_for(browser, "return document.getElementById('ga-road-points').textContent !== ''")
    click_map_at(browser, (w + e) / 2, (s + n) / 2)
    wait_for(browser, "return !document.getElementById('ga-road-ok').disabled")
    browser.find_element(By.ID, "ga-road-ok").click()
    updates(browser, 2)
    edits = browser.find_elements(By.CSS_SELECTOR, "#ga-edits li")
    assert len(edits) == 2 and "新建道路" in edits[1].text
    status = browser.find_element(By.ID, "ga-status")
    assert status.get_attribute("class") != "ga-error", status.text
    assert_clean(browser, served.url)
