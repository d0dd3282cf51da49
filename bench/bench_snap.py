"""Snapping speed: the grid kernels against shapely's STRtree on the ~1M-node demo network and ~4M points.

Run: .venv/bin/python bench/bench_snap.py [--split 5] [--no-shapely] [--scale 38]

The points are the demo's populated raster cells (synthetic), each split into ``split x split`` sub-cells (5: about
4.2M points, like a raster 5x finer). Prints both times, the grid index build time, how many points tie (equally far
from several links, where the two may pick different links), and checks that distances are equal bit for bit and
``t`` is equal wherever the link is. Peak RSS is the process's. Nothing is asserted in tests from these numbers.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pyproj
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.graphs import DEMO_SCALE, cache_dir  # noqa: E402


def demo_inputs(scale: float):
    """The cached demo inputs at ``scale`` (built once, like bench.graphs)."""
    from geoaccess.demo import build_demo

    out = cache_dir() / f"demo-s{scale:g}"
    if not (out / "roads.osm.pbf").exists():
        build_demo(out, seed=2020, scale=float(scale))
    return out


def split_cells(tif, split: int):
    """Centres of ``split x split`` sub-cells of every populated cell (lon, lat)."""
    with rasterio.open(tif) as src:
        a = src.read(1)
        tr = src.transform
    rows, cols = np.nonzero(a > 0)
    f = (np.arange(split) + 0.5) / split
    dr, dc = np.meshgrid(f, f, indexing="ij")
    r = (rows[:, None] + dr.ravel()[None, :]).ravel()
    c = (cols[:, None] + dc.ravel()[None, :]).ravel()
    lon = tr.c + c * tr.a + r * tr.b
    lat = tr.f + c * tr.d + r * tr.e
    return lon, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=DEMO_SCALE)
    ap.add_argument("--split", type=int, default=5)
    ap.add_argument("--no-shapely", action="store_true", help="skip the STRtree reference (about 90 s at 4M points)")
    args = ap.parse_args()

    from geoaccess.load.roads import read_osm
    from geoaccess.network import SnapIndex

    d = demo_inputs(args.scale)
    t0 = time.perf_counter()
    net = read_osm(d / "roads.osm.pbf")
    print(f"network: {net.n_nodes:,} nodes, {net.n_links:,} links, read in {time.perf_counter() - t0:.1f} s")
    lon, lat = split_cells(d / "population.tif", args.split)
    px, py = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(lon, lat)
    px, py = np.asarray(px), np.asarray(py)
    print(f"points: {px.size:,} (populated cells of the synthetic demo raster split {args.split} x {args.split})")

    SnapIndex.from_network(net).snap(px[:100], py[:100])  # compile outside the timings
    # wall and CPU seconds: on a shared machine CPU time is the steadier figure (the grid runs on every thread)
    t0, c0 = time.perf_counter(), time.process_time()
    net._snap_index = SnapIndex.from_network(net)
    net._snap_index._build_grid()
    t_index, c_index = time.perf_counter() - t0, time.process_time() - c0
    ix = net._snap_index
    t0, c0 = time.perf_counter(), time.process_time()
    grid = net.snap(px, py)
    t_grid, c_grid = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"grid: index {t_index:.2f} s (CPU {c_index:.2f} s; {ix.n_segments:,} segments, {ix.lv_cell.size} levels, "
        f"finest cell {ix.lv_cell[0]:.0f} m), snap {t_grid:.2f} s (CPU {c_grid:.2f} s, {px.size / t_grid:,.0f} "
        f"points/s, {numba.get_num_threads()} threads)"
    )
    if not args.no_shapely:
        t0, c0 = time.perf_counter(), time.process_time()
        ref = net.snap(px, py, method="shapely")
        t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
        same = grid.link == ref.link
        exact = np.array_equal(grid.offroad_m, ref.offroad_m) and np.array_equal(grid.t[same], ref.t[same])
        print(
            f"shapely STRtree: {t_ref:.2f} s (CPU {c_ref:.2f} s, tree built inside); {t_ref / (t_index + t_grid):.1f}x "
            f"the grid's index + snap wall, {c_ref / (c_index + c_grid):.1f}x its CPU; distances and t "
            f"bit-identical: {exact}; tied points on another link: {(~same).sum():,}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
