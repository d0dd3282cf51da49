"""WGS84 -> GCJ-02 shift for map overlays drawn on Chinese tile providers (Amap/AutoNavi, Tencent).

The maths lives in :mod:`geoaccess.coords` (the one home of coordinate systems); this module only applies it to
shapely geometries and recognises the tile hosts that need it.
"""

from __future__ import annotations

import numpy as np
import shapely

from geoaccess.coords import in_china, wgs84_to_gcj02

__all__ = ["GCJ02_HOSTS", "in_china", "is_gcj02_url", "shift_geometry", "wgs84_to_gcj02"]

GCJ02_HOSTS = ("autonavi.com", "amap.com", "gtimg.com", "qq.com")


def shift_geometry(geom):
    """A shapely geometry moved from WGS84 to GCJ-02."""

    def fn(xy):
        x, y = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def is_gcj02_url(url: str) -> bool:
    return any(h in url for h in GCJ02_HOSTS)
