"""Travel-time images for the map pages: Web-Mercator pixels sampled from a surface's populated cells.

Each image pixel's centre goes Web Mercator -> lon/lat -> raster row/col and takes the class of the cell
there (nearest neighbour, as the reprojection it replaces), or stays transparent where nobody lives. The
look-up is :meth:`geoaccess.outputs.rasters.Surface.lookup`; memory is the cells plus one image strip or
tile. Two framings of the same sampler:

- one image, on the grid ``rasterio``'s reprojection would choose, when that grid is at most
  :data:`MAX_IMAGE_PX` a side (a city: the Taiyuan demo is 1,330 x 1,240);
- otherwise local XYZ tiles, ``img/<tier>/{z}/{x}/{y}.png``, written only where people live, from the
  zoom at which the area spans about two tiles down to the zoom whose pixels are no larger than a cell.

Pages list the tiles that exist, so the browser never asks for a missing file (from ``file://`` that would
be a console error). Images are 8-bit palette PNGs: six colours (transparent, then the five classes).
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyproj
from affine import Affine
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform
from tqdm import tqdm

from geoaccess._arrays import unique
from geoaccess.outputs._atomic import atomic_path
from geoaccess.outputs._gcj02 import wgs84_to_gcj02
from geoaccess.outputs.rasters import Surface

MAX_IMAGE_PX = 4096  # one image up to this many pixels a side; larger surfaces are tiled
TILE = 256
ALPHA = 235  # opacity of a coloured pixel (the page draws the layer at 0.8 on top)
R_EARTH = 6378137.0
HALF_WORLD = math.pi * R_EARTH  # Web-Mercator x (and y) run from -HALF_WORLD to HALF_WORLD


# -- PNG -----------------------------------------------------------------------------------------------
def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_indexed(index: np.ndarray, colors: list[str], alpha: list[int], level: int = 6) -> bytes:
    """An 8-bit palette PNG of ``index`` (uint8, one palette entry per value) with per-entry alpha."""
    h, w = index.shape
    raw = np.zeros((h, w + 1), dtype=np.uint8)  # a leading 0 per row: no filter
    raw[:, 1:] = index
    plte = b"".join(bytes(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colors)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
        + _chunk(b"PLTE", plte)
        + _chunk(b"tRNS", bytes(alpha))
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def palette(band_colors) -> tuple[list[str], list[int]]:
    """Palette of a class image: entry 0 transparent, entry k the colour of class k."""
    return ["#000000", *band_colors], [0] + [ALPHA] * len(band_colors)


# -- sampling ------------------------------------------------------------------------------------------
def _merc_to_lonlat(x, y):
    lon = np.degrees(np.asarray(x, float) / R_EARTH)
    lat = np.degrees(np.arctan(np.sinh(np.asarray(y, float) / R_EARTH)))
    return lon, lat


def _lonlat_to_merc(lon, lat):
    lat = np.clip(np.asarray(lat, float), -85.0511, 85.0511)
    return R_EARTH * np.radians(lon), R_EARTH * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


class Sampler:
    """Cells under Web-Mercator pixel centres of one surface (with an optional GCJ-02 frame)."""

    def __init__(self, surface: Surface, shift: bool = False):
        self.surface = surface
        self.shift = shift
        self.separable = surface.geographic
        self.inv = ~surface.transform
        if not self.separable:
            self.to_raster = pyproj.Transformer.from_crs("EPSG:4326", surface.crs, always_xy=True)

    def cells(self, xs: np.ndarray, ys: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Cell index (or -1) at every pixel centre ``(xs[j], ys[i])`` (Web-Mercator metres).

        With ``values`` (one per cell), those values instead, 0 where nobody lives.
        """
        lon, lat = _merc_to_lonlat(xs, ys)
        if self.shift:
            # the image is drawn in GCJ-02: undo the shift, taken as constant across the tile (it changes
            # by a few metres over 20 km, well under a pixel)
            lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
            glon, glat = wgs84_to_gcj02(lon0, lat0)
            lon, lat = lon - (float(glon) - lon0), lat - (float(glat) - lat0)
        s = self.surface
        if self.separable:
            cols = np.floor(self.inv.a * lon + self.inv.c).astype(np.int64)
            rows = np.floor(self.inv.e * lat + self.inv.f).astype(np.int64)
            return s.lookup_grid(rows, cols) if values is None else s.lookup_grid(rows, cols, values, 0)
        lon2, lat2 = np.meshgrid(lon, lat)
        x, y = self.to_raster.transform(lon2, lat2)
        cols, rows = self.inv * (x, y)
        ok = np.isfinite(cols) & np.isfinite(rows)
        cols = np.where(ok, np.floor(np.where(ok, cols, -1)), -1).astype(np.int64)
        rows = np.where(ok, np.floor(np.where(ok, rows, -1)), -1).astype(np.int64)
        idx = s.lookup(rows, cols)
        if values is None:
            return idx
        return np.where(idx >= 0, values[np.maximum(idx, 0)], 0).astype(values.dtype)


# -- one image -----------------------------------------------------------------------------------------
def image_grid(surface: Surface):
    """The Web-Mercator grid ``rasterio`` would reproject the surface onto: (transform, width, height)."""
    h, w = surface.shape
    left, bottom, right, top = array_bounds(h, w, surface.transform)
    return calculate_default_transform(surface.crs, "EPSG:3857", w, h, left, bottom, right, top)


def write_image(
    path: str | Path, surface: Surface, classes: np.ndarray, colors, shift: bool = False, max_px: int | None = None
) -> list:
    """Write the surface as one PNG in Web Mercator; returns its ``[[south, west], [north, east]]``.

    ``classes`` holds one palette index per cell (0 = transparent). With ``max_px``, a larger image is
    sampled on a coarser grid to fit (``bench/bench_pages.py`` weighs that against tiles). The GCJ-02
    shift moves the image's corners, as the whole image is small.
    """
    mt, dw, dh = image_grid(surface)
    if max_px and max(dw, dh) > max_px:
        f = max(dw, dh) / max_px
        mt, dw, dh = mt * Affine.scale(f), math.ceil(dw / f), math.ceil(dh / f)
    sampler = Sampler(surface)
    xs = mt.c + mt.a * (np.arange(dw) + 0.5)
    index = np.empty((dh, dw), dtype=np.uint8)
    for r0 in range(0, dh, TILE):  # in strips, so look-up scratch stays small
        r1 = min(dh, r0 + TILE)
        index[r0:r1] = sampler.cells(xs, mt.f + mt.e * (np.arange(r0, r1) + 0.5), classes)
    cols, alpha = palette(colors)
    with atomic_path(path) as tmp:
        # zlib level 6: on the demo's 1321 x 989 class images 20 ms and 33 KB against level 9's 200-250 ms and 30 KB
        Path(tmp).write_bytes(png_indexed(index, cols, alpha, level=6))
    (w, east), (s, n) = _merc_to_lonlat([mt.c, mt.c + mt.a * dw], [mt.f + mt.e * dh, mt.f])
    if shift:
        (w, east), (s, n) = wgs84_to_gcj02([w, east], [s, n])
    return [[round(float(s), 6), round(float(w), 6)], [round(float(n), 6), round(float(east), 6)]]


# -- XYZ tiles -----------------------------------------------------------------------------------------
def zoom_range(surface: Surface) -> tuple[int, int]:
    """Zooms to tile: from the area spanning about two tiles to pixels no larger than a cell."""
    mt, dw, dh = image_grid(surface)
    res = min(abs(mt.a), abs(mt.e))  # Mercator metres per cell, as reprojection sees it
    zmax = math.ceil(math.log2(2 * HALF_WORLD / (TILE * res)) - 1e-9)
    extent = max(abs(mt.a) * dw, abs(mt.e) * dh)
    zmin = math.floor(math.log2(2 * 2 * HALF_WORLD / extent))
    zmax = min(max(zmax, 0), 22)
    return min(max(zmin, 0), zmax), zmax


def tile_keys(surface: Surface, z: int, shift: bool = False) -> np.ndarray:
    """Sorted ``x * 2**z + y`` of the zoom-``z`` tiles that a cell's footprint reaches."""
    s = surface
    rows, cols = s.row, s.col
    # the corners of every cell's footprint, so a cell over a tile edge marks both tiles
    keys = []
    for dr, dc in ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)):
        x, y = s.transform * (cols + dc, rows + dr)
        if not s.geographic:
            x, y = pyproj.Transformer.from_crs(s.crs, "EPSG:4326", always_xy=True).transform(x, y)
        if shift:
            x, y = wgs84_to_gcj02(x, y)
        mx, my = _lonlat_to_merc(x, y)
        n = 2**z
        tx = np.clip(((mx + HALF_WORLD) / (2 * HALF_WORLD) * n).astype(np.int64), 0, n - 1)
        ty = np.clip(((HALF_WORLD - my) / (2 * HALF_WORLD) * n).astype(np.int64), 0, n - 1)
        keys.append(unique(tx * n + ty))
    return unique(np.concatenate(keys))


def write_tiles(
    folder: str | Path, surface: Surface, classes: np.ndarray, colors, shift: bool = False, zooms=None
) -> dict:
    """Write XYZ tiles of the surface under ``folder`` (``{z}/{x}/{y}.png``), only where people live.

    Returns ``{"minZoom", "maxZoom", "have": ["z/x/y", ...]}`` for the page. The folder is built beside
    its final place and swapped in at the end, so a page never sees half of an old and half of a new set.
    """
    folder = Path(folder)
    zmin, zmax = zooms or zoom_range(surface)
    sampler = Sampler(surface, shift)
    cols, alpha = palette(colors)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    have = []

    def draw(z: int, k: int) -> str | None:
        n = 2**z
        tx, ty = divmod(int(k), n)
        size = 2 * HALF_WORLD / n / TILE  # metres per pixel
        off = (np.arange(TILE) + 0.5) * size
        index = sampler.cells(-HALF_WORLD + tx * TILE * size + off, HALF_WORLD - ty * TILE * size - off, classes)
        if not index.any():
            return None
        d = tmp / str(z) / str(tx)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{ty}.png").write_bytes(png_indexed(index, cols, alpha, level=3))
        return f"{z}/{tx}/{ty}"

    try:
        top = tile_keys(surface, zmax, shift)
        jobs = [(z, k) for z in range(zmax, zmin - 1, -1) for k in unique(_parent(top, zmax, z))]
        # look-up (numba) and deflate (zlib) release the GIL, so threads draw tiles side by side
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for name in tqdm(pool.map(lambda job: draw(*job), jobs), total=len(jobs), desc="tiles", disable=None):
                if name:
                    have.append(name)
        os.chmod(tmp, 0o777 & ~_umask())
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return {"minZoom": zmin, "maxZoom": zmax, "have": sorted(have)}


def _parent(keys: np.ndarray, z_from: int, z_to: int) -> np.ndarray:
    n_from = 2**z_from
    tx, ty = keys // n_from, keys % n_from
    f = 2 ** (z_from - z_to)
    return (tx // f) * 2**z_to + ty // f


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
