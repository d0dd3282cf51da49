"""`geoaccess demo` with mixed travel against the road-only demo, side by side (issue 15: at most 2x).

Run with ``make bench`` (or ``python bench/bench_demo.py [runs]``). Each run is a whole command in a fresh process,
as a planner types it: ``geoaccess -q demo --no-mixed`` (the road-only demo) and ``geoaccess -q demo`` (the same
plus ``data/studies/demo-mixed.toml``: mixed travel over the SYNTHETIC land cover, DEM and rivers, walking-only
beside it), alternating, after one warm-up of each (the inputs built, numba's cache and the input cache filled).
Prints wall and CPU seconds (children included) per run, their medians and the ratio of the medians; the machine
may be shared, so the load average is printed too.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEOACCESS = [sys.executable, "-m", "geoaccess"]


def timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the command's processes) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(GEOACCESS + args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(runs: int = 5) -> None:
    road, mixed = ["-q", "demo", "--no-mixed"], ["-q", "demo"]
    timed(road)  # warm-up: inputs, caches, numba
    timed(mixed)
    got: dict[str, list[tuple[float, float]]] = {"road only": [], "with mixed": []}
    for i in range(runs):
        for name, args in (("road only", road), ("with mixed", mixed)):
            wall, cpu = timed(args)
            got[name].append((wall, cpu))
            print(f"run {i + 1} {name:10s}: {wall:5.1f} s wall, {cpu:5.1f} s CPU  (load {os.getloadavg()[0]:.1f})",
                  flush=True)  # fmt: skip
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in got.items()}
    for k, (w, c) in med.items():
        print(f"median {k:10s}: {w:5.1f} s wall, {c:5.1f} s CPU")
    ratio = med["with mixed"][0] / med["road only"][0]
    print(f"geoaccess demo with mixed travel / road only: {ratio:.2f}x wall (issue 15's target: at most 2x), "
          f"{med['with mixed'][1] / med['road only'][1]:.2f}x CPU on {os.cpu_count()} cores")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
