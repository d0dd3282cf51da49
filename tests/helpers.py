"""Small builders shared by several test modules."""

from __future__ import annotations

import shutil

import rasterio
from rasterio.transform import from_origin


def write_raster(path, arr, west, north, res=0.01, crs="EPSG:4326", **kw):
    """A one-band float32 GeoTIFF with north-up square cells of ``res`` and nodata -1."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=arr.shape[0],
        width=arr.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(west, north, res, res),
        nodata=-1,
        **kw,
    ) as d:
        d.write(arr.astype("float32"), 1)


# -- headless Chromium, offline -----------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def headless_chromium(profile_dir, *, loopback: bool = False, page_timeout: float = 30):
    """A headless Chromium (selenium) that cannot reach the internet: no host name resolves (``loopback``: except
    127.0.0.1, for a local server); ``alert()`` is recorded in ``window.__alerts`` instead of shown. Skips the test
    with the reason when Chromium or its driver is missing."""
    import pytest

    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip(
            "headless browser tests need Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    rules = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" if loopback else "MAP * ~NOTFOUND"
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--host-resolver-rules={rules}",
        f"--user-data-dir={profile_dir}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(page_timeout)
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "window.__alerts=[];window.alert=function(m){window.__alerts.push(String(m));};"},
    )
    return driver
