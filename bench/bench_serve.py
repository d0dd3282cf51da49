"""``geoaccess serve`` on the demo (issue 16): click-to-table time in headless Chromium and the API's time.

Run from the repository root after ``make demo`` (needs data/demo):

    .venv/bin/python bench/bench_serve.py [--clicks 10] [--requests 100] [--clients 20] [--study STUDY.toml]

* click to table, three facility edits a planner makes with the mouse, each until the county table shows the
  answer (measured in the page, ``performance.now()``, from the click that makes the edit); every edit new (no
  answer reused), each undone before the next:
  - add: a real mouse click on the map, the add form filled, "add" clicked (from the click on "add");
  - close: a click on a county hospital's symbol, "close" in its popup (from the click on "close");
  - move: a county hospital's symbol dragged 40 px (from the release).
  Target: under 1 s on the demo, under 2 s on the Shanxi synthetic region (``--study`` a copy of
  data/studies/region-14.toml with its output under /tmp; ``--api-only`` off, ``--requests 0`` skips the load).
* API: POST /api/scenario over HTTP for distinct single-facility scenarios, one at a time; then ``--clients``
  threads sending ``--requests`` mixed scenarios; the server's resident memory before and after.
The server is ``geoaccess serve`` in a process of its own, as a planner starts it.
Without Chromium the click part is skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geoaccess import Study  # noqa: E402
from tests.test_serve import call  # noqa: E402

STUDY = "data/studies/demo.toml"


class Server:
    """``geoaccess serve STUDY --port 0`` in a process of its own; its URL and resident memory."""

    def __init__(self, study: Path, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "geoaccess", "-q", "serve", str(study), "--port", "0"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self.proc.stdout.readline()
        if " at " not in line:
            raise RuntimeError(f"geoaccess serve did not start: {line!r}")
        self.url = line.split(" at ")[1].strip().rstrip("/")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1024**2

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()


def sites(inp, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` populated cells away from facilities, drawn by population: where a planner would click."""
    from scipy.spatial import cKDTree

    pop = inp.population
    fac = inp.facilities[inp.facilities["tier_rank"] >= 1]  # the hospitals: the symbols the overview draws
    # a click must land on the map, not on a hospital's symbol: cells at least about 10 px (at the zoom that shows
    # the whole area) from any (the demo: 0.03 degrees)
    extent = max(np.ptp(pop.lon), np.ptp(pop.lat))
    d, _ = cKDTree(np.column_stack([fac.geometry.x, fac.geometry.y])).query(np.column_stack([pop.lon, pop.lat]))
    w = np.where(d > 0.02 * extent, pop.people, 0.0)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pop.people), size=n, replace=False, p=w / w.sum())
    return [(float(pop.lon[i]), float(pop.lat[i])) for i in idx]


def summary(values_ms: list[float]) -> str:
    v = sorted(values_ms)
    return (
        f"median {statistics.median(v):.0f} ms, p90 {v[int(0.9 * (len(v) - 1))]:.0f} ms, "
        f"max {v[-1]:.0f} ms (n={len(v)})"
    )


def on_open_map(driver, lon: float, lat: float) -> bool:
    """Whether a click at ``lon``, ``lat`` lands on the map itself (not under a control, the legend or a symbol)."""
    return driver.execute_script(
        "var m = window.geoaccessMap, r = m.getContainer().getBoundingClientRect();"
        "var p = m.latLngToContainerPoint([arguments[1], arguments[0]]);"
        "var at = document.elementFromPoint(r.left + p.x, r.top + p.y);"
        "return !!at && m.getContainer().contains(at) && !at.closest('.leaflet-control, .ga-fac, .leaflet-marker-icon');",
        lon,
        lat,
    )


def isolated_hospitals(driver, n: int) -> list[tuple[str, float, float]]:
    """County hospitals on the overview whose symbol no other symbol comes within 18 px of: a click hits them."""
    got = driver.execute_script(
        "var m = window.geoaccessMap, F = window.geoaccessFacilities, out = [];"
        "var r = m.getContainer().getBoundingClientRect();"
        "m.gaPages[0].facilities.forEach(function (e) { if (!e.marker) return;"
        "  var p = m.latLngToContainerPoint(e.marker.getLatLng());"
        "  var at = document.elementFromPoint(r.left + p.x, r.top + p.y);"  # not under a control or another symbol
        "  if (at && at.closest('.ga-fac') === e.marker.getElement()) out.push([F.id[e.i], F.rank[e.i], p.x, p.y]); });"
        "return out;"
    )
    xy = np.array([[g[2], g[3]] for g in got])
    size = driver.execute_script("var s = window.geoaccessMap.getSize(); return [s.x, s.y];")
    out = []
    for k, (fid, rank, x, y) in enumerate(got):
        d = np.hypot(*(xy - xy[k]).T)
        d[k] = np.inf
        if rank == 1 and d.min() > 18 and 60 < x < size[0] - 60 and 60 < y < size[1] - 60:
            out.append((fid, x, y))
    return out[:n]


def bench_clicks(running: Server, inp, n: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from tests.helpers import CHROMEDRIVER, CHROMIUM
    from tests.test_serve_browser import add_facility_by_clicking, open_page, wait_for

    if not CHROMIUM or not CHROMEDRIVER:
        print("click to table: skipped (needs Debian's chromium and chromium-driver)")
        return
    from tests.test_serve_browser import chromium

    driver = chromium(tempfile.mkdtemp(prefix="bench-serve-"))
    done = 0

    stages: list[dict] = []  # the server's stages per answer, in order

    def answered(times: list, servers: list) -> None:
        nonlocal done
        done += 1
        wait_for(driver, f"return document.body.getAttribute('data-ga-updates') === '{done}'", 120)
        ui = driver.execute_script("return window.geoaccessServe")
        times.append(ui["lastEditMs"])
        servers.append(ui["lastServerMs"])
        stages.append(ui["lastTimings"])
        driver.find_element(By.ID, "ga-undo-last").click()  # back to the baseline (answered at once)
        done += 1
        wait_for(driver, f"return document.body.getAttribute('data-ga-updates') === '{done}'", 120)

    try:
        t0 = time.perf_counter()
        open_page(driver, running.url)
        print(f"page ready in the browser after {time.perf_counter() - t0:.1f} s")
        box = driver.find_element(By.CSS_SELECTOR, ".folium-map")
        w, h = box.size["width"], box.size["height"]
        remove = driver.execute_script(
            "return JSON.parse(document.getElementById('ga-config').textContent).text.remove"
        )
        results = {}
        page_ms, server_ms = [], []
        free = [p for p in sites(inp, 4 * n, seed=16) if on_open_map(driver, *p)][:n]
        for k, (lon, lat) in enumerate(free, start=1):
            add_facility_by_clicking(driver, lon, lat, name=f"bench {k}")
            answered(page_ms, server_ms)
        results["add a county hospital"] = (page_ms, server_ms)
        hospitals = isolated_hospitals(driver, n)
        page_ms, server_ms = [], []
        for _fid, x, y in hospitals:
            ActionChains(driver).move_to_element_with_offset(box, int(x - w / 2), int(y - h / 2)).click().perform()
            wait_for(driver, "return document.querySelector('.ga-popup button') !== null")
            (b,) = [b for b in driver.find_elements(By.CSS_SELECTOR, ".ga-popup button") if b.text == remove]
            b.click()
            answered(page_ms, server_ms)
        results["close a county hospital"] = (page_ms, server_ms)
        page_ms, server_ms = [], []
        rng = np.random.default_rng(5)
        for _fid, x, y in hospitals:
            a = rng.uniform(0, 2 * np.pi)
            dx, dy = 40 * np.cos(a), 40 * np.sin(a)
            (
                ActionChains(driver)
                .move_to_element_with_offset(box, int(x - w / 2), int(y - h / 2))
                .click_and_hold()
                .move_by_offset(int(dx / 2), int(dy / 2))
                .move_by_offset(int(dx / 2), int(dy / 2))
                .release()
                .perform()
            )
            answered(page_ms, server_ms)
        results["move a county hospital (drag)"] = (page_ms, server_ms)
        start = 0
        for what, (page_ms, server_ms) in results.items():
            print(f"click to table, {what} (headless Chromium): {summary(page_ms)}")
            print(f"  of which the server's request: {summary(server_ms)}")
            mine = [t for t in stages[start : start + len(page_ms)] if t]
            start += len(page_ms)
            keys = ("edits", "paths", "scoring", "change_layer")
            med = {key: statistics.median(t.get(key, 0.0) for t in mine) * 1000 for key in keys}
            print("  server stages, median ms: " + ", ".join(f"{key} {v:.0f}" for key, v in med.items()))
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if severe:
            print(f"console errors: {severe}")
    finally:
        driver.quit()


def bench_api(running: Server, inp, n: int, requests: int, clients: int) -> None:
    one = []
    for lon, lat in sites(inp, n, seed=7):
        t0 = time.perf_counter()
        status, answer, _ = call(running.url, "/api/scenario", {"add": [{"lon": lon, "lat": lat, "tier": "county"}]})
        assert status == 200, answer
        one.append(1000 * (time.perf_counter() - t0))
    print(f"API, one request at a time (add a county hospital, HTTP round trip): {summary(one)}")
    fac = inp.facilities
    rng = np.random.default_rng(3)
    bodies = []
    for i, (lon, lat) in enumerate(sites(inp, requests, seed=11)):
        fid = str(fac["id"].iat[int(rng.integers(len(fac)))])
        kind = i % 4
        bodies.append(
            {"add": [{"lon": lon, "lat": lat, "tier": "county", "beds": 200}]}
            if kind == 0
            else {"remove": [fid]}
            if kind == 1
            else {"move": [{"id": fid, "lon": lon, "lat": lat}]}
            if kind == 2
            else {"add": [{"lon": lon, "lat": lat, "tier": "primary"}], "remove": [fid]}
        )
    before = running.rss_mb()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        got = list(pool.map(lambda b: call(running.url, "/api/scenario", b), bodies))
    wall = time.perf_counter() - t0
    errors = sum(1 for status, _, _ in got if status != 200)
    after = running.rss_mb()
    print(
        f"API, {clients} clients x {requests} mixed scenarios: {wall:.1f} s wall, "
        f"{1000 * wall / requests:.0f} ms per scenario, {errors} errors (422: a move or add outside the area); "
        f"memory {before:.0f} -> {after:.0f} MB ({100 * (after - before) / before:+.1f} %)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--study", default=STUDY, help="the study to serve (default: the demo)")
    args = ap.parse_args()
    if args.study == STUDY and not Path("data/demo").exists():
        print("needs data/demo: run `make demo` first", file=sys.stderr)
        return 2
    out = Path(tempfile.mkdtemp(prefix="bench-serve-out-"))
    t0 = time.perf_counter()
    inp = Study.from_file(args.study, output_root=out).load()  # where to click
    # only what the sites need: a province's inputs would otherwise stay beside the server's own copy
    inp = SimpleNamespace(
        population=SimpleNamespace(lon=inp.population.lon, lat=inp.population.lat, people=inp.population.people),
        facilities=inp.facilities[["id", "tier_rank", "geometry"]].copy(),
    )
    gc.collect()
    print(f"inputs loaded in {time.perf_counter() - t0:.1f} s (for the sites to click)")
    t0 = time.perf_counter()
    running = Server(Path(args.study).resolve(), out)
    print(f"geoaccess serve: URL after {time.perf_counter() - t0:.1f} s; resident memory {running.rss_mb():.0f} MB")
    try:
        bench_clicks(running, inp, args.clicks)
        print(f"server resident memory after the clicks: {running.rss_mb():.0f} MB")
        if args.requests:
            bench_api(running, inp, args.clicks, args.requests, args.clients)
    finally:
        running.stop()
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
