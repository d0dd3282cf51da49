"""GCJ-02 / BD-09 conversions against published reference pairs, and round trips."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoaccess import coords

# Reference pairs published with wandergis/coordtransform (test/app.js), input (116.404, 39.915)
REF_IN = (116.404, 39.915)
REF = {
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
    "gcj02_to_wgs84": (116.39775550083061, 39.91359571849836),
}


def metres(lon1, lat1, lon2, lat2):
    """Local flat-earth distance, plenty for sub-metre checks."""
    k = 111_320.0
    return np.hypot((np.asarray(lon1) - lon2) * k * np.cos(np.radians(lat1)), (np.asarray(lat1) - lat2) * k)


@pytest.mark.parametrize("name", ["gcj02_to_bd09", "wgs84_to_gcj02"])
def test_forward_matches_reference_exactly(name):
    lon, lat = getattr(coords, name)(*REF_IN)
    assert float(lon) == pytest.approx(REF[name][0], abs=1e-12)
    assert float(lat) == pytest.approx(REF[name][1], abs=1e-12)


@pytest.mark.parametrize("name", ["bd09_to_gcj02", "gcj02_to_wgs84"])
def test_inverse_matches_reference(name):
    # the reference uses a one-step approximate inverse (error up to ~1 m); ours iterates to ~0.01 mm
    lon, lat = getattr(coords, name)(*REF_IN)
    assert metres(lon, lat, *REF[name]) < 1.0


def test_inverse_is_exact():
    lon, lat = coords.gcj02_to_wgs84(*REF_IN)
    back = coords.wgs84_to_gcj02(lon, lat)
    assert metres(*back, *REF_IN) < 1e-3
    lon, lat = coords.bd09_to_wgs84(*REF_IN)
    back = coords.wgs84_to_bd09(lon, lat)
    assert metres(*back, *REF_IN) < 1e-3


def test_round_trips_across_china():
    rng = np.random.default_rng(0)
    lon = rng.uniform(74, 134, 5000)
    lat = rng.uniform(18, 53, 5000)
    g = coords.wgs84_to_gcj02(lon, lat)
    shift = metres(*g, lon, lat)
    assert shift.min() > 10 and shift.max() < 1000  # GCJ-02 really moves points, by tens to hundreds of m
    assert metres(*coords.gcj02_to_wgs84(*g), lon, lat).max() < 0.5
    b = coords.wgs84_to_bd09(lon, lat)
    assert metres(*coords.bd09_to_wgs84(*b), lon, lat).max() < 0.5
    # arrays in, arrays out, same shape
    assert g[0].shape == lon.shape and b[1].dtype == np.float64


def test_outside_china_unchanged_and_systems():
    lon, lat = coords.gcj02_to_wgs84(np.array([24.94]), np.array([60.17]))  # Helsinki
    assert lon[0] == 24.94 and lat[0] == 60.17
    assert coords.normalise_system("Amap") == "gcj02" and coords.normalise_system("baidu") == "bd09"
    with pytest.raises(ValueError, match="unknown coordinate system"):
        coords.to_wgs84(1, 2, "cgcs2000x")
    x, y = coords.to_wgs84([112.5], [37.8], "wgs84")
    assert x[0] == 112.5 and y[0] == 37.8


def test_map_overlays_use_the_same_maths():
    """The GCJ-02 shift of map overlays is geoaccess.coords' forward formula, not a copy of it."""
    from geoaccess.outputs import _gcj02

    assert _gcj02.wgs84_to_gcj02 is coords.wgs84_to_gcj02
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(110, 115, 100), rng.uniform(35, 40, 100)
    xy = shapely.get_coordinates(_gcj02.shift_geometry(shapely.points(lon, lat)))
    back = coords.gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    assert metres(*back, lon, lat).max() < 1e-3
