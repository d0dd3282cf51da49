"""Surfaces held as populated cells (geoaccess/outputs/rasters.py): GeoTIFF, look-ups, coarse grids, bands.

Each is checked against the obvious full-grid version: a dense array filled with ``grid[row, col] =
minutes`` (what the writers did before issue 11).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geoaccess.outputs.maps import catchment_bands
from geoaccess.outputs.rasters import Surface, write_surface


def sparse_cells(rng, h, w, n_villages=40, size=60):
    """Clustered cells (villages) on an ``h`` x ``w`` raster, so that many 256 x 256 blocks stay empty."""
    vr, vc = rng.integers(0, h, n_villages), rng.integers(0, w, n_villages // 2)
    vc = np.r_[vc, rng.integers(0, w // 4, n_villages - vc.size)]  # a crowded west, an empty east
    r = np.clip(np.repeat(vr, size) + rng.integers(-6, 7, n_villages * size), 0, h - 1)
    c = np.clip(np.repeat(vc, size) + rng.integers(-6, 7, n_villages * size), 0, w - 1)
    key = np.unique(r * w + c)
    m = rng.uniform(0, 200, key.size)
    m[::23] = np.inf  # unreachable people
    return key // w, key % w, m


def full_grid(shape, row, col, minutes) -> np.ndarray:
    grid = np.full(shape, np.nan, dtype=np.float32)
    m = np.asarray(minutes, dtype=np.float32)
    grid[row, col] = np.where(np.isfinite(m), m, np.nan)
    return grid


def write_full_grid(path, grid, transform, crs, tags):
    """The writer before issue 11: one full-extent array in one call (the oracle)."""
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
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(grid, 1)
        dst.update_tags(**{k: str(v) for k, v in tags.items()})
        dst.set_band_description(1, "travel minutes to the nearest facility")


def test_geotiff_written_from_cells_equals_the_full_grid_writer(tmp_path):
    rng = np.random.default_rng(3)
    h, w = 700, 1100  # not multiples of 256: edge blocks are cut
    row, col, m = sparse_cells(rng, h, w)
    t = from_origin(111.5, 38.4, 0.00125, 0.001)
    tags = {"tier": "primary", "threshold_min": 15.0, "SYNTHETIC": "yes"}
    surface = Surface.from_cells((h, w), row, col, m, t, "EPSG:4326")
    assert len(list(surface.blocks())) < 15, "the fixture leaves blocks empty"
    write_surface(tmp_path / "new.tif", surface, tags)
    write_full_grid(tmp_path / "old.tif", full_grid((h, w), row, col, m), t, "EPSG:4326", tags)
    with rasterio.open(tmp_path / "old.tif") as a, rasterio.open(tmp_path / "new.tif") as b:
        old, new = a.read(1), b.read(1)
        assert np.array_equal(old.view(np.uint32), new.view(np.uint32)), "the same bits in every pixel, NaN included"
        pa, pb = dict(a.profile), dict(b.profile)
        assert np.isnan(pa.pop("nodata")) and np.isnan(pb.pop("nodata"))
        assert pa == pb
        assert a.tags() == b.tags() and a.descriptions == b.descriptions
        assert b.block_shapes == [(256, 256)] and b.compression.value == "DEFLATE"


def test_last_of_a_repeated_cell_wins_as_in_a_full_grid():
    s = Surface.from_cells((3, 4), [1, 2, 1], [1, 0, 1], [5.0, 6.0, 7.0], from_origin(0, 3, 1, 1), "EPSG:4326")
    grid, _ = s.coarsened(100)
    assert np.array_equal(grid, full_grid((3, 4), [1, 2, 1], [1, 0, 1], [5.0, 6.0, 7.0]), equal_nan=True)


def test_lookup_finds_exactly_the_populated_cells():
    rng = np.random.default_rng(4)
    h, w = 300, 500
    row, col, m = sparse_cells(rng, h, w, n_villages=30, size=80)
    s = Surface.from_cells((h, w), row, col, m, from_origin(0, 1, 0.01, 0.01), "EPSG:4326")
    where = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(s.row, s.col, strict=True))}
    qr = rng.integers(-5, h + 5, 5000)
    qc = rng.integers(-5, w + 5, 5000)
    got = s.lookup(qr, qc)
    assert np.array_equal(got, [where.get((int(r), int(c)), -1) for r, c in zip(qr, qc, strict=True)])
    rows, cols = np.sort(rng.integers(-3, h + 3, 60)), np.sort(rng.integers(-3, w + 3, 90))
    grid = s.lookup_grid(rows, cols)
    assert np.array_equal(grid, s.lookup(*np.meshgrid(rows, cols, indexing="ij")))
    # columns out of order (a tile crossing the antimeridian would do that) still find their cells
    assert np.array_equal(s.lookup_grid(rows, cols[::-1]), grid[:, ::-1])
    values = np.arange(len(s), dtype=np.float64) * 2
    assert np.array_equal(s.lookup_grid(rows, cols, values, -9.0), np.where(grid >= 0, grid * 2.0, -9.0))


def test_coarsened_grid_holds_each_blocks_least_minutes():
    rng = np.random.default_rng(5)
    h, w = 203, 301
    row, col, m = sparse_cells(rng, h, w, n_villages=20)
    t = from_origin(100.0, 40.0, 0.01, 0.01)
    s = Surface.from_cells((h, w), row, col, m, t, "EPSG:4326")
    full = full_grid((h, w), row, col, m)
    same, same_t = s.coarsened(h * w)
    assert np.array_equal(same, full, equal_nan=True) and same_t == t
    grid, gt = s.coarsened(7_000)  # 61,103 cells: 3 x 3 blocks
    assert grid.shape == (68, 101) and gt == t * rasterio.Affine.scale(3)
    padded = np.full((204, 303), np.nan, dtype=np.float32)
    padded[:h, :w] = full
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):  # all-NaN blocks
        want = np.nanmin(padded.reshape(68, 3, 101, 3), axis=(1, 3))
    assert np.array_equal(grid, want, equal_nan=True)


def _cone(h, w, t, crs):
    """Minutes = distance in cells from the centre, on every cell."""
    rows, cols = np.mgrid[0:h, 0:w]
    m = np.hypot(rows - h / 2, cols - w / 2)
    return Surface.from_cells((h, w), rows.ravel(), cols.ravel(), m.ravel(), t, crs)


def test_bands_on_a_capped_grid_keep_their_area():
    t = from_origin(112.0, 38.0, 0.002, 0.002)
    s = _cone(400, 400, t, "EPSG:4326")
    full = dict(catchment_bands(s, [50.0, 150.0]))
    coarse = dict(catchment_bands(s, [50.0, 150.0], max_pixels=400 * 400 // 16))  # 4 x 4 cells a pixel
    for b in (50.0, 150.0):
        assert coarse[b].area == pytest.approx(full[b].area, rel=0.05)
        assert full[b].area == pytest.approx(np.pi * (b * 0.002) ** 2, rel=0.05)


def test_bands_of_a_projected_raster_are_in_lon_lat():
    t = from_origin(600_000.0, 4_210_000.0, 200.0, 200.0)  # UTM 49N, near Taiyuan
    s = _cone(200, 200, t, "EPSG:32649")
    bands = dict(catchment_bands(s, [40.0]))
    x0, y0, x1, y1 = bands[40.0].bounds
    assert 111.0 < x0 < x1 < 113.0 and 37.0 < y0 < y1 < 39.0
    # a 40-cell (8 km) radius disc: about 201 km2, at ~88 x 111 km per degree
    assert bands[40.0].area * 88.0 * 111.0 == pytest.approx(np.pi * 8.0**2, rel=0.1)
