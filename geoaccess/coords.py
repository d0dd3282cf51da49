"""Chinese web-map coordinate systems: GCJ-02 (Amap, Tencent) and BD-09 (Baidu) to and from WGS84.

GCJ-02 is WGS84 shifted by a published, deterministic obfuscation (a few hundred metres); BD-09 adds
Baidu's own offset on top of GCJ-02. The forward transforms (WGS84 -> GCJ-02 -> BD-09) are closed
formulas; the inverses are solved by fixed-point iteration of the forward formula until the residual is
below 1e-10 degrees (about 0.01 mm), so a round trip returns the input to far better than 1 m
(the common one-step inverse is off by up to a few metres).

Outside mainland China (a rough bounding box, as in the reference implementations) GCJ-02 equals WGS84
and the functions return the input unchanged. Every function takes scalars or numpy arrays of longitudes
and latitudes and returns ``(lon, lat)`` arrays of float64.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SYSTEMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

SYSTEMS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOL_DEG = 1e-10
_MAX_ITER = 30


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    lon, lat = np.broadcast_arrays(lon, lat)
    return lon.copy(), lat.copy()


def in_china(lon, lat) -> np.ndarray:
    """Whether points fall in the rough box where GCJ-02 differs from WGS84."""
    lon, lat = _arrays(lon, lat)
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (degrees) at WGS84 points."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 (the closed forward formula)."""
    lon, lat = _arrays(lon, lat)
    m = in_china(lon, lat)
    dlon, dlat = _delta(lon[m], lat[m])
    lon[m] += dlon
    lat[m] += dlat
    return lon, lat


def _invert(forward, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x) == (lon, lat)`` for x by fixed-point iteration (forward is near identity)."""
    x, y = lon.copy(), lat.copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = lon - fx, lat - fy
        x += ex
        y += ey
        if ex.size == 0 or max(np.nanmax(np.abs(ex)), np.nanmax(np.abs(ey))) < _TOL_DEG:
            break
    return x, y


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84, exact inverse of :func:`wgs84_to_gcj02` to about 1e-10 degrees."""
    lon, lat = _arrays(lon, lat)
    m = in_china(lon, lat)
    if m.any():
        lon[m], lat[m] = _invert(wgs84_to_gcj02, lon[m], lat[m])
    return lon, lat


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu's forward formula; applied everywhere, as Baidu does)."""
    lon, lat = _arrays(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02, exact inverse of :func:`gcj02_to_bd09` to about 1e-10 degrees."""
    lon, lat = _arrays(lon, lat)
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon, lat, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert from ``system`` (``"wgs84"``, ``"gcj02"`` or ``"bd09"``) to WGS84."""
    s = normalise_system(system)
    if s == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if s == "bd09":
        return bd09_to_wgs84(lon, lat)
    return _arrays(lon, lat)


_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
}


def normalise_system(system: str) -> str:
    """Canonical name of a coordinate system (``wgs84``, ``gcj02``, ``bd09``); aliases like ``amap`` work."""
    key = str(system).strip().lower()
    if key not in _ALIASES:
        raise ValueError(
            f"unknown coordinate system {system!r}; use one of {list(SYSTEMS)} (gcj02 for Amap/Tencent, bd09 for Baidu)"
        )
    return _ALIASES[key]
