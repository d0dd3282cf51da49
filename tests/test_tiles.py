"""Map images sampled from the cells (geoaccess/outputs/tiles.py), checked against rasterio's reprojection.

The oracle is what the bundle did before issue 11: reproject the full minutes grid with nearest
neighbour onto the image's Web-Mercator grid, then colour it. Pixels whose centre falls within a hair of
a cell edge may go either way (GDAL's warper approximates the transform to an eighth of a pixel), so a
few may differ; the demo's three images match pixel for pixel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

from geoaccess.outputs import tiles
from geoaccess.outputs._gcj02 import wgs84_to_gcj02
from geoaccess.outputs.maps import BAND_COLORS, band_edges
from geoaccess.outputs.rasters import Surface
from tests.test_rasters import full_grid, sparse_cells

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # PNGs


def read_index(path) -> np.ndarray:
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as src:
        return src.read(1)


def oracle_classes(grid, transform, crs, dst_transform, shape, threshold) -> np.ndarray:
    """Reproject the full grid (nearest) onto a Web-Mercator grid, then class it: 0 = nobody."""
    out = np.full(shape, np.nan, dtype=np.float32)
    reproject(
        grid,
        out,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dst_transform,
        dst_crs="EPSG:3857",
        resampling=Resampling.nearest,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    cls = np.digitize(np.where(np.isnan(out), 0, out), band_edges(threshold), right=True) + 1
    return np.where(np.isnan(out), 0, cls)


@pytest.fixture(scope="module")
def city():
    """A city-sized SYNTHETIC surface in lon/lat: 400 x 500 cells of about 100 m, in villages."""
    rng = np.random.default_rng(7)
    row, col, m = sparse_cells(rng, 400, 500, n_villages=60, size=90)
    t = from_origin(112.2, 38.0, 0.00125, 0.001)
    return Surface.from_cells((400, 500), row, col, m, t, "EPSG:4326"), full_grid((400, 500), row, col, m)


def test_one_image_equals_the_reprojected_grid(tmp_path, city):
    s, grid = city
    bounds = tiles.write_image(tmp_path / "x.png", s, s.classes(band_edges(30.0)), BAND_COLORS)
    mt, dw, dh = tiles.image_grid(s)
    got = read_index(tmp_path / "x.png")
    want = oracle_classes(grid, s.transform, s.crs, mt, (dh, dw), 30.0)
    assert got.shape == want.shape
    assert np.mean(got != want) < 0.001
    assert (got > 0).sum() == pytest.approx((want > 0).sum(), rel=0.002)
    (s_, w_), (n_, e_) = bounds
    assert w_ == pytest.approx(112.2, abs=1e-5) and n_ == pytest.approx(38.0, abs=1e-5)


def test_one_image_of_a_projected_raster_equals_the_reprojected_grid(tmp_path):
    rng = np.random.default_rng(8)
    row, col, m = sparse_cells(rng, 300, 300, n_villages=40, size=80)
    t = from_origin(600_000.0, 4_210_000.0, 100.0, 100.0)  # UTM 49N
    s = Surface.from_cells((300, 300), row, col, m, t, "EPSG:32649")
    tiles.write_image(tmp_path / "x.png", s, s.classes(band_edges(30.0)), BAND_COLORS)
    mt, dw, dh = tiles.image_grid(s)
    want = oracle_classes(full_grid((300, 300), row, col, m), t, s.crs, mt, (dh, dw), 30.0)
    assert np.mean(read_index(tmp_path / "x.png") != want) < 0.005


def test_capped_image_fits(tmp_path, city):
    s, _ = city
    tiles.write_image(tmp_path / "x.png", s, s.classes(band_edges(30.0)), BAND_COLORS, max_px=128)
    assert max(read_index(tmp_path / "x.png").shape) == 128


def tile_transform(z, x, y):
    size = 2 * tiles.HALF_WORLD / 2**z / tiles.TILE
    return rasterio.Affine(size, 0, -tiles.HALF_WORLD + x * 256 * size, 0, -size, tiles.HALF_WORLD - y * 256 * size)


def test_tiles_equal_the_grid_reprojected_onto_each_tile(tmp_path, city):
    s, grid = city
    zmin, zmax = tiles.zoom_range(s)
    # pixels no larger than a cell at the top zoom, and about two tiles across at the bottom
    cell_m = 0.001 * 111_320
    assert (
        156_543.0 * math.cos(math.radians(37.8)) / 2**zmax
        <= cell_m
        < 2 * 156_543.0 * math.cos(math.radians(37.8)) / 2**zmax
    )
    mt, dw, dh = tiles.image_grid(s)
    tile_m = 2 * tiles.HALF_WORLD / 2**zmin
    assert max(dw * mt.a, dh * -mt.e) <= 2 * tile_m < 4 * max(dw * mt.a, dh * -mt.e)
    layer = tiles.write_tiles(tmp_path / "t", s, s.classes(band_edges(30.0)), BAND_COLORS)
    assert (layer["minZoom"], layer["maxZoom"]) == (zmin, zmax)
    files = sorted(p.relative_to(tmp_path / "t").with_suffix("").as_posix() for p in (tmp_path / "t").rglob("*.png"))
    assert files == sorted(layer["have"]), "the page's list is exactly the files written"
    assert {int(h.split("/")[0]) for h in layer["have"]} == set(range(zmin, zmax + 1))
    differ = total = 0
    for name in layer["have"]:
        z, x, y = map(int, name.split("/"))
        got = read_index(tmp_path / "t" / f"{name}.png")
        want = oracle_classes(grid, s.transform, s.crs, tile_transform(z, x, y), (256, 256), 30.0)
        assert got.any(), f"tile {name} holds people"
        differ += int((got != want).sum())
        total += got.size
    assert differ / total < 0.001


def test_every_populated_cell_shows_on_the_top_zoom(tmp_path, city):
    s, _ = city
    cls = s.classes(band_edges(30.0))
    zmin, zmax = tiles.zoom_range(s)
    tiles.write_tiles(tmp_path / "t", s, cls, BAND_COLORS, zooms=(zmax, zmax))
    lon, lat = s.transform * (s.col + 0.5, s.row + 0.5)
    assert _classes_under(tmp_path / "t", zmax, lon, lat).tolist() == cls.tolist()


def _classes_under(folder, z, lon, lat) -> np.ndarray:
    """The tile pixel under each point (0 where no tile was written)."""
    mx, my = tiles._lonlat_to_merc(lon, lat)
    px = ((mx + tiles.HALF_WORLD) / (2 * tiles.HALF_WORLD) * 2**z * 256).astype(int)
    py = ((tiles.HALF_WORLD - my) / (2 * tiles.HALF_WORLD) * 2**z * 256).astype(int)
    out = np.zeros(px.size, dtype=np.uint8)
    cache = {}
    for i, (x, y) in enumerate(zip(px, py, strict=True)):
        p = folder / str(z) / str(x // 256) / f"{y // 256}.png"
        if p not in cache:
            cache[p] = read_index(p) if p.exists() else None
        if cache[p] is not None:
            out[i] = cache[p][y % 256, x % 256]
    return out


def test_gcj02_tiles_draw_each_cell_at_its_shifted_place(tmp_path, city):
    s, _ = city
    cls = s.classes(band_edges(30.0))
    zmax = tiles.zoom_range(s)[1]
    tiles.write_tiles(tmp_path / "t", s, cls, BAND_COLORS, shift=True, zooms=(zmax, zmax))
    lon, lat = s.transform * (s.col + 0.5, s.row + 0.5)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.mean(_classes_under(tmp_path / "t", zmax, glon, glat) == cls) > 0.99
    assert np.mean(_classes_under(tmp_path / "t", zmax, lon, lat) == cls) < 0.5, "unshifted places miss"


def test_tiles_replace_an_earlier_set(tmp_path, city):
    s, _ = city
    (tmp_path / "t" / "3").mkdir(parents=True)
    (tmp_path / "t" / "3" / "stale.png").write_bytes(b"old")
    zmax = tiles.zoom_range(s)[1]
    tiles.write_tiles(tmp_path / "t", s, s.classes(band_edges(30.0)), BAND_COLORS, zooms=(zmax, zmax))
    assert not (tmp_path / "t" / "3").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["t"], "no temporary folder left behind"
