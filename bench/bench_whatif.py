"""What-if timings on the demo (issue 7): incremental vs full recompute, and a 20-scenario scripted loop.

Run from the repository root after ``make demo`` (needs data/demo):

    .venv/bin/python bench/bench_whatif.py

Times include numba's JIT where it happens: the loop is timed from a fresh process, study load included.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402

from geoaccess import Study  # noqa: E402
from geoaccess.scenarios import whatif  # noqa: E402

STUDY = "data/studies/demo.toml"


def scenarios():
    """20 scripted planner questions: additions, closures, moves, upgrades, campuses, roads."""
    rng = np.random.default_rng(20)
    out = []
    for i in range(20):
        lon, lat = float(rng.uniform(112.3, 112.7)), float(rng.uniform(37.75, 38.05))
        kind = i % 5
        if kind == 0:
            edits = {"add": [{"lon": lon, "lat": lat, "tier": "county", "beds": 300}]}
        elif kind == 1:
            edits = {"remove": [f"F{int(rng.integers(5, 300)):04d}"]}
        elif kind == 2:
            edits = {"upgrade": [{"id": f"F{int(rng.integers(30, 300)):04d}", "tier": "county"}]}
        elif kind == 3:
            edits = {"campus": [{"of": "F0001", "lon": lon, "lat": lat, "beds": 100}]}
        else:
            edits = {"road_speed": [{"route": [[112.55, 37.87], [lon, lat]], "kmh": 80}]}
        out.append((f"s{i:02d}", edits))
    return out


def main():
    study = Study.from_file(STUDY, output_root="/tmp/geoaccess-bench")
    t = time.perf_counter()
    base = study.run(write=False)
    print(f"baseline (load + compute, JIT included): {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    loop = []
    for name, edits in scenarios():
        r = whatif(study, base=base, name=name, **edits)
        c = r.compare(base)
        loop.append((name, r.recompute, r.timings["total"], c.loc[c["tier"] == "county", "people_newly_within"].sum()))
    t_loop = time.perf_counter() - t
    for name, how, secs, gain in loop:
        print(f"  {name}: {secs:.3f} s  {how}  county newly within: {gain:,.0f}")
    print(
        f"20-scenario loop: {t_loop:.2f} s; from process start (imports, load, JIT): {time.perf_counter() - T_START:.2f} s"
    )

    add = {"add": [{"lon": 112.6, "lat": 38.05, "tier": "county", "beds": 300}]}
    inc, full = [], []
    for _ in range(10):
        t = time.perf_counter()
        r = whatif(study, base=base, **add)
        inc.append(time.perf_counter() - t)
        t = time.perf_counter()
        f = whatif(study, base=base, full=True, **add)
        full.append(time.perf_counter() - t)
    same = all(np.array_equal(r.tiers[k].minutes, f.tiers[k].minutes) for k in r.tiers)
    # a true full recompute of the same scenario: no kept OD blocks, every search and measure from scratch
    cold = []
    for _ in range(3):
        study._od_pool = None
        t = time.perf_counter()
        c = whatif(study, base=base, full=True, **add)
        cold.append(time.perf_counter() - t)
    same = same and c.counties.equals(r.counties)
    print(
        f"one added county hospital: incremental {np.median(inc) * 1000:.0f} ms "
        f"(paths {r.timings['paths'] * 1000:.1f} ms); full paths with kept OD blocks {np.median(full) * 1000:.0f} ms "
        f"(paths {f.timings['paths'] * 1000:.1f} ms); full recompute from scratch {np.median(cold) * 1000:.0f} ms; "
        f"identical county tables: {same}"
    )


if __name__ == "__main__":
    main()
