"""Small builders shared by several test modules."""

from __future__ import annotations

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
