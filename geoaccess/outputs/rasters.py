"""GeoTIFF travel-time surfaces on the population grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from geoaccess.outputs._atomic import atomic_path


def minutes_grid(shape, row, col, minutes) -> np.ndarray:
    """A float32 grid holding ``minutes`` at populated cells and NaN elsewhere (and where unreachable)."""
    grid = np.full(shape, np.nan, dtype=np.float32)
    m = np.asarray(minutes, dtype=np.float32)
    grid[row, col] = np.where(np.isfinite(m), m, np.nan)
    return grid


def write_surface(path: str | Path, grid: np.ndarray, transform, crs, tags: dict | None = None) -> Path:
    """Write a single-band float32 GeoTIFF (NaN = no people or unreachable), atomically."""
    profile = dict(
        driver="GTiff",
        height=grid.shape[0],
        width=grid.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=np.nan,
        compress="deflate",
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(grid, 1)
            dst.update_tags(**{k: str(v) for k, v in (tags or {}).items()})
            dst.set_band_description(1, "travel minutes to the nearest facility")
    return Path(path)
