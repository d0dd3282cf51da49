"""Page load times of map bundles in headless Chromium, offline (issue 11).

    .venv/bin/python bench/bench_pages.py BUNDLE [BUNDLE ...]
    PAGES="map_county map_regional" .venv/bin/python bench/bench_pages.py BUNDLE   # some pages only

For every page of each bundle: the time from navigation to the page's load event (scripts run, the
surface image or the first screen of tiles fetched), then to the first painted frame after it, as the
median of 3 cold-cache loads; and how many files the page fetched. Needs Debian's chromium and
chromium-driver (as tests/test_browser.py).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import headless_chromium  # noqa: E402

PAGES = os.environ.get("PAGES", "index overview map_primary map_county map_regional").split()


def driver():
    """The tests' offline headless Chromium, with long timeouts (a province page) and no HTTP cache (cold loads)."""
    d = headless_chromium(tempfile.mkdtemp(prefix="ga-bench-chromium-"), page_timeout=180)
    d.set_script_timeout(180)
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return d


PAINTED = """
var done = arguments[arguments.length - 1];
requestAnimationFrame(function () { requestAnimationFrame(function () {
  var t = performance.getEntriesByType("navigation")[0];
  done([t.loadEventEnd, performance.now()]);
}); });
"""


def load(d, page: Path) -> tuple[float, float, int, list[str]]:
    d.get_log("performance")
    d.get_log("browser")
    d.get("about:blank")
    d.get(page.as_uri())
    load_ms, painted_ms = d.execute_async_script(PAINTED)
    n = 0
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent" and msg["params"]["request"]["url"].startswith("file:"):
            n += 1
    errors = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
    return load_ms, painted_ms, n, errors


def main():
    d = driver()
    try:
        for bundle in (Path(a).resolve() for a in sys.argv[1:]):
            size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
            print(f"{bundle} ({size / 1e6:.1f} MB)")
            for name in PAGES:
                page = bundle / f"{name}.html"
                if not page.exists():
                    continue
                runs = [load(d, page) for _ in range(3)]
                errors = sorted({e for r in runs for e in r[3]})
                print(
                    f"  {name:13s} load {statistics.median(r[0] for r in runs):7.0f} ms, painted "
                    f"{statistics.median(r[1] for r in runs):7.0f} ms, {runs[-1][2]:4d} files"
                    + (f"  ERRORS: {errors[:3]}" if errors else "")
                )
    finally:
        d.quit()


if __name__ == "__main__":
    main()
