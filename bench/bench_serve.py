"""``geoaccess serve`` on the demo (issue 16): click-to-table time in headless Chromium and the API's time.

Run from the repository root after ``make demo`` (needs data/demo):

    .venv/bin/python bench/bench_serve.py [--clicks 10] [--requests 100] [--clients 20]

* click to table: a real mouse click on the map, the add form filled, "add" clicked, until the county table
  shows the answer (measured in the page, ``performance.now()``); every click at a new site (no answer reused).
  Target: under 1 s.
* API: POST /api/scenario over HTTP for distinct single-facility scenarios, one at a time; then ``--clients``
  threads sending ``--requests`` mixed scenarios; the server's resident memory before and after.
The server is ``geoaccess serve`` in a process of its own, as a planner starts it.
Without Chromium the click part is skipped with a line saying so.
"""

from __future__ import annotations

import argparse
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
    fac = inp.facilities
    # a click must land on the map, not on a facility's marker: cells about 10 px (zoom 9) from any facility
    d, _ = cKDTree(np.column_stack([fac.geometry.x, fac.geometry.y])).query(np.column_stack([pop.lon, pop.lat]))
    w = np.where(d > 0.03, pop.people, 0.0)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pop.people), size=n, replace=False, p=w / w.sum())
    return [(float(pop.lon[i]), float(pop.lat[i])) for i in idx]


def summary(values_ms: list[float]) -> str:
    v = sorted(values_ms)
    return (
        f"median {statistics.median(v):.0f} ms, p90 {v[int(0.9 * (len(v) - 1))]:.0f} ms, "
        f"max {v[-1]:.0f} ms (n={len(v)})"
    )


def bench_clicks(running: Server, inp, n: int) -> None:
    from tests.test_serve_browser import CHROMEDRIVER, CHROMIUM, add_facility_by_clicking, open_page, wait_for

    if not CHROMIUM or not CHROMEDRIVER:
        print("click to table: skipped (needs Debian's chromium and chromium-driver)")
        return
    from tests.test_serve_browser import chromium

    driver = chromium(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        open_page(driver, running.url)
        page_ms, server_ms = [], []
        for k, (lon, lat) in enumerate(sites(inp, n, seed=16), start=1):
            add_facility_by_clicking(driver, lon, lat, name=f"bench {k}")
            wait_for(driver, f"return document.body.getAttribute('data-ga-updates') === '{2 * k - 1}'", 60)
            ui = driver.execute_script("return window.geoaccessServe")
            page_ms.append(ui["lastEditMs"])
            server_ms.append(ui["lastServerMs"])
            driver.find_element("id", "ga-undo-last").click()  # back to the baseline (answered at once)
            wait_for(driver, f"return document.body.getAttribute('data-ga-updates') === '{2 * k}'", 60)
        print(f"click to table (add a county hospital, headless Chromium): {summary(page_ms)}")
        print(f"  of which the server's request: {summary(server_ms)}")
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
    args = ap.parse_args()
    if not Path("data/demo").exists():
        print("needs data/demo: run `make demo` first", file=sys.stderr)
        return 2
    out = Path(tempfile.mkdtemp(prefix="bench-serve-out-"))
    inp = Study.from_file(STUDY, output_root=out).load()  # where to click
    t0 = time.perf_counter()
    running = Server(Path(STUDY).resolve(), out)
    print(f"geoaccess serve: URL after {time.perf_counter() - t0:.1f} s; resident memory {running.rss_mb():.0f} MB")
    try:
        bench_clicks(running, inp, args.clicks)
        bench_api(running, inp, args.clicks, args.requests, args.clients)
    finally:
        running.stop()
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
