"""Population: a gridded GeoTIFF (WorldPop / GHSL style), read block by block.

Only cells with people are kept, as points at cell centres with their county.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from rasterio.windows import Window

from geoaccess.errors import InputError
from geoaccess.load.counties import county_grid

log = logging.getLogger(__name__)


@dataclass
class Population:
    """Populated cells: centre lon/lat, people, county index, raster row/col and the grid they came from."""

    lon: np.ndarray
    lat: np.ndarray
    people: np.ndarray  # float64
    county: np.ndarray  # int32 index into the counties table
    row: np.ndarray
    col: np.ndarray
    transform: object
    shape: tuple[int, int]
    crs: object
    outside_people: float = 0.0
    source: str = ""

    def __len__(self) -> int:
        return int(self.people.size)


def read_population(path: str | Path, counties, block_rows: int = 1024) -> Population:
    """Read populated cells of a raster, assigning each to the county containing its centre."""
    path = Path(path)
    if not path.exists():
        raise InputError("population raster not found; check [inputs] population", path=path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open as a raster ({exc})", path=path) from exc
    with src:
        if src.crs is None:
            raise InputError(
                "the raster has no coordinate reference system; set one (e.g. gdal_edit -a_srs)", path=path
            )
        grid = county_grid(counties, src.transform, src.shape, src.crs)
        if (grid >= 0).sum() == 0:
            raise InputError(
                "the raster does not overlap any county; check that it covers the study area and its CRS",
                path=path,
            )
        nodata = src.nodata
        parts = {k: [] for k in ("row", "col", "people", "county")}
        outside = 0.0
        for r0 in range(0, src.height, block_rows):
            h = min(block_rows, src.height - r0)
            a = src.read(1, window=Window(0, r0, src.width, h)).astype(np.float64)
            if nodata is not None:
                a[a == nodata] = 0.0
            a[~np.isfinite(a) | (a < 0)] = 0.0
            rr, cc = np.nonzero(a > 0)
            g = grid[r0 + rr, cc]
            outside += float(a[rr[g < 0], cc[g < 0]].sum())
            keep = g >= 0
            parts["row"].append(rr[keep] + r0)
            parts["col"].append(cc[keep])
            parts["people"].append(a[rr[keep], cc[keep]])
            parts["county"].append(g[keep])
        row, col, people, county = (np.concatenate(parts[k]) for k in ("row", "col", "people", "county"))
        xs, ys = rasterio.transform.xy(src.transform, row, col, offset="center")
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        if pyproj.CRS.from_user_input(src.crs) != pyproj.CRS.from_epsg(4326):
            tf = pyproj.Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
            xs, ys = tf.transform(xs, ys)
        if outside > 0:
            log.warning("%s: %.0f people in cells outside every county were left out", path, outside)
        return Population(
            lon=np.asarray(xs),
            lat=np.asarray(ys),
            people=people,
            county=county.astype(np.int32),
            row=row,
            col=col,
            transform=src.transform,
            shape=src.shape,
            crs=src.crs,
            outside_people=outside,
            source=str(path),
        )
