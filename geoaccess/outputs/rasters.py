"""Travel-time surfaces held as their populated cells: GeoTIFFs written in windows, cell look-ups for images.

A province raster is mostly empty (Shanxi at 100 m: 35 M pixels, a few million with people), so a
:class:`Surface` keeps only the populated cells, keyed ``row * width + col`` and sorted. Everything the
bundle draws from it goes through here: the GeoTIFF is written one 256 x 256 block at a time (only the
blocks that hold cells; GDAL fills the others with nodata), map images look up the cell under each
pixel (:meth:`Surface.lookup`, used by :mod:`geoaccess.outputs.tiles`), and catchment bands use a grid
coarsened to a capped size (:meth:`Surface.coarsened`). Memory grows with populated cells (plus one
integer per raster row), never with the raster's width x height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from affine import Affine
from numba import njit
from rasterio.windows import Window

from geoaccess.outputs._atomic import atomic_path

BLOCK = 256  # GeoTIFF tile size, and the window the writer fills


@dataclass
class Surface:
    """Minutes at the populated cells of a raster grid (NaN = unreachable); empty cells are not stored.

    Build it with :meth:`from_cells`.
    """

    key: np.ndarray  # int64 row * width + col, sorted, unique
    minutes: np.ndarray  # float32, one per key
    shape: tuple[int, int]
    transform: Affine
    crs: object
    _row_start: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_cells(cls, shape, row, col, minutes, transform, crs) -> Surface:
        """A surface from per-cell raster rows, columns and minutes (infinite minutes become NaN).

        Should a cell come twice, the last one wins, as in a plain ``grid[row, col] = minutes``.
        """
        h, w = int(shape[0]), int(shape[1])
        key = np.asarray(row, dtype=np.int64) * w + np.asarray(col, dtype=np.int64)
        m = np.asarray(minutes, dtype=np.float32)
        m = np.where(np.isfinite(m), m, np.float32(np.nan))
        order = np.argsort(key, kind="stable")
        key, m = key[order], m[order]
        last = np.ones(key.size, dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        if not last.all():
            key, m = key[last], m[last]
        return cls(key, m, (h, w), Affine(*tuple(transform)[:6]), crs)

    def __len__(self) -> int:
        return int(self.key.size)

    @property
    def row(self) -> np.ndarray:
        return self.key // self.shape[1]

    @property
    def col(self) -> np.ndarray:
        return self.key % self.shape[1]

    @property
    def geographic(self) -> bool:
        """Whether the raster is north-up in a lon/lat CRS (a pixel row is then one latitude band)."""
        t = self.transform
        return t.b == 0 and t.d == 0 and pyproj.CRS.from_user_input(self.crs).is_geographic

    @property
    def row_start(self) -> np.ndarray:
        """Where each raster row's cells begin in :attr:`key` (one entry per row, plus the end)."""
        if self._row_start is None:
            h, w = self.shape
            self._row_start = np.searchsorted(self.key, np.arange(h + 1, dtype=np.int64) * w)
        return self._row_start

    def classes(self, edges) -> np.ndarray:
        """Per cell: 1 + the number of ``edges`` below its minutes (as ``np.digitize(right=True)``), 0 if NaN."""
        cls = np.digitize(np.where(np.isnan(self.minutes), 0, self.minutes), edges, right=True) + 1
        return np.where(np.isnan(self.minutes), 0, cls).astype(np.uint8)

    def blocks(self, size: int = BLOCK):
        """Yield ``(window, array)`` for each ``size`` x ``size`` block of the raster that holds cells.

        The arrays are float32 with NaN where nobody lives; blocks at the right and bottom edges are cut
        to the raster.
        """
        h, w = self.shape
        row, col = self.row, self.col
        nbx = -(-w // size)
        block = (row // size) * nbx + col // size
        order = np.argsort(block, kind="stable")
        block = block[order]
        starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
        ends = np.r_[starts[1:], block.size]
        for a, b in zip(starts, ends, strict=True):
            by, bx = divmod(int(block[a]), nbx)
            r0, c0 = by * size, bx * size
            win = Window(c0, r0, min(size, w - c0), min(size, h - r0))
            arr = np.full((win.height, win.width), np.nan, dtype=np.float32)
            sel = order[a:b]
            arr[row[sel] - r0, col[sel] - c0] = self.minutes[sel]
            yield win, arr

    def lookup(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Index of the cell at each (row, col) raster position, -1 where no cell is (or off the raster).

        ``rows`` and ``cols`` are integer arrays of one shape; positions are fastest looked up in row order.
        """
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        cols = np.ascontiguousarray(cols, dtype=np.int64)
        out = np.empty(rows.size, dtype=np.int64)
        index = np.arange(len(self), dtype=np.int64)
        _lookup_points(self.key, self.row_start, self.shape[1], rows.ravel(), cols.ravel(), index, -1, out)
        return out.reshape(rows.shape)

    def lookup_grid(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray | None = None, fill=-1):
        """:meth:`lookup` on the outer product: ``out[i, j]`` is the cell at ``(rows[i], cols[j])``.

        For images of a north-up raster in a geographic CRS, where a pixel row maps to one raster row.
        With ``values`` (one per cell), returns those values instead of indices, ``fill`` where no cell is.
        """
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        cols = np.ascontiguousarray(cols, dtype=np.int64)
        if values is None:
            values = np.arange(len(self), dtype=np.int64)
        out = np.empty((rows.size, cols.size), dtype=values.dtype)
        _lookup_grid(self.key, self.row_start, self.shape[1], rows, cols, values, values.dtype.type(fill), out)
        return out

    def coarsened(self, max_pixels: int) -> tuple[np.ndarray, Affine]:
        """The surface on a grid of at most about ``max_pixels`` pixels, and that grid's transform.

        Each coarse pixel holds the least minutes of its cells (so "within b minutes" still holds
        wherever someone is within b); pixels without cells are NaN. With room enough it is the full
        grid, unchanged.
        """
        h, w = self.shape
        k = max(1, math.ceil(math.sqrt(h * w / max_pixels)))
        hc, wc = -(-h // k), -(-w // k)
        grid = np.full((hc, wc), np.nan, dtype=np.float32)
        if k == 1:
            grid.ravel()[self.key] = self.minutes
            return grid, self.transform
        ckey = (self.row // k) * wc + self.col // k
        order = np.argsort(ckey, kind="stable")
        ckey = ckey[order]
        starts = np.flatnonzero(np.r_[True, ckey[1:] != ckey[:-1]])
        grid.ravel()[ckey[starts]] = np.fmin.reduceat(self.minutes[order], starts)
        return grid, self.transform * Affine.scale(k)


def write_surface(path: str | Path, surface: Surface, tags: dict | None = None) -> Path:
    """Write a single-band float32 GeoTIFF (NaN = no people or unreachable), atomically.

    Deflate-compressed, tiled 256 x 256; filled block by block from the populated cells.
    """
    h, w = surface.shape
    profile = dict(
        driver="GTiff",
        height=h,
        width=w,
        count=1,
        dtype="float32",
        crs=surface.crs,
        transform=surface.transform,
        nodata=np.nan,
        compress="deflate",
        tiled=True,
        blockxsize=BLOCK,
        blockysize=BLOCK,
        num_threads="ALL_CPUS",  # deflate blocks in parallel; the file holds the same blocks either way
    )
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for win, arr in surface.blocks(BLOCK):
                dst.write(arr, 1, window=win)
            dst.update_tags(**{k: str(v) for k, v in (tags or {}).items()})
            dst.set_band_description(1, "travel minutes to the nearest facility")
    return Path(path)


# -- kernels -------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _find(key, lo, hi, target):
    # leftmost position in key[lo:hi] holding a value >= target. Image pixels run left to right, so the
    # caller passes the last hit as lo and the answer is usually a step or two on: try those first
    for _ in range(4):
        if lo >= hi or key[lo] >= target:
            return lo
        lo += 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if key[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _lookup_points(key, row_start, w, rows, cols, values, fill, out):
    # search only the cells of the position's raster row, from the last hit when moving right along it
    h = row_start.size - 1
    prev_r = -1
    prev_c = -1
    prev_pos = 0
    for i in range(rows.size):
        r = rows[i]
        c = cols[i]
        if r < 0 or r >= h or c < 0 or c >= w:
            out[i] = fill
            continue
        lo = row_start[r]
        hi = row_start[r + 1]
        if r == prev_r and c >= prev_c:
            lo = prev_pos
        target = r * w + c
        pos = _find(key, lo, hi, target)
        out[i] = values[pos] if pos < hi and key[pos] == target else fill
        prev_r, prev_c, prev_pos = r, c, pos


@njit(cache=True, nogil=True)  # tiles are drawn on threads
def _lookup_grid(key, row_start, w, rows, cols, values, fill, out):
    h = row_start.size - 1
    for i in range(rows.size):
        r = rows[i]
        if r < 0 or r >= h or row_start[r] == row_start[r + 1]:
            out[i, :] = fill
            continue
        hi = row_start[r + 1]
        pos = row_start[r]
        prev_c = -1
        for j in range(cols.size):
            c = cols[j]
            if c < 0 or c >= w:
                out[i, j] = fill
                continue
            lo = pos if c >= prev_c else row_start[r]
            target = r * w + c
            pos = _find(key, lo, hi, target)
            out[i, j] = values[pos] if pos < hi and key[pos] == target else fill
            prev_c = c
