"""What-if timings (issues 7 and 16): incremental vs full recompute, a 20-scenario scripted loop, and the median
time of each kind of facility edit (add, remove, move, upgrade, downgrade) against the kept baseline.

Run from the repository root after ``make demo`` (needs data/demo):

    .venv/bin/python bench/bench_whatif.py                      # the demo: loop, incremental vs full, edits
    .venv/bin/python bench/bench_whatif.py --edits-only --runs 9  # the demo: per-edit medians only
    .venv/bin/python bench/bench_whatif.py --study /tmp/region-14.toml --edits-only --runs 1 --edits add,remove

Times include numba's JIT where it happens: the loop is timed from a fresh process, study load included. The
per-edit section first computes the what-if baseline (:class:`geoaccess.Baseline`, not read from the user cache:
its time is part of what it reports), runs one warm-up scenario, then each edit ``--runs`` times, and prints the
median of the scenario's own time (``timings["total"]``) and of its scoring step (measures and county table).
The edits are picked from the study's facility list, so any study works.
"""

from __future__ import annotations

import argparse
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402

import geoaccess  # noqa: E402
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


def facility_edits(study: Study) -> dict[str, dict]:
    """One edit of each kind, picked from the study's facilities: a county-level hospital closed, moved, downgraded;
    a primary facility upgraded; a county hospital added at a primary facility's site (inside the study area)."""
    fac = study.load().facilities
    names = study.settings.tier_names
    mid = "county" if "county" in names else names[len(names) // 2]
    low = names[0]
    hospital = fac[(fac["tier"] == mid) & (fac["beds"] > 0)].iloc[0]
    lows = fac[fac["tier"] == low]
    site = lows.iloc[len(lows) // 2]
    lon, lat = float(site.geometry.x), float(site.geometry.y)
    return {
        "add": {"add": [{"lon": lon, "lat": lat, "tier": mid, "beds": 300}]},
        "remove": {"remove": [hospital["id"]]},
        "move": {"move": [{"id": hospital["id"], "lon": lon, "lat": lat}]},
        "upgrade": {"upgrade": [{"id": site["id"], "tier": mid, "beds": 150}]},
        "downgrade": {"downgrade": [{"id": hospital["id"], "tier": low}]},
    }


def edit_medians(path: str, runs: int, kinds: list[str]) -> None:
    """Baseline time, then the median time of each kind of facility edit against it (one process)."""
    study = Study.from_file(path, output_root="/tmp/geoaccess-bench")
    t = time.perf_counter()
    study.load()
    t_load = time.perf_counter() - t
    study.use_cache = False  # inputs may come from the cache; the baseline is computed, as a first run computes it
    t = time.perf_counter()
    base = geoaccess.Baseline.of(study)
    t_base = time.perf_counter() - t
    parts = ", ".join(f"{k} {v:.2f}" for k, v in base.timings.items())
    print(f"{study.settings.name}: load {t_load:.2f} s; what-if baseline {t_base:.2f} s ({parts})")
    edits = facility_edits(study)
    for kind in ("add", "remove"):  # numba's cached kernels of both incremental paths load on first use
        whatif(study, name="warm-up", **edits[kind])
    for kind in kinds:
        total, scoring = [], []
        for _ in range(runs):
            r = whatif(study, name=kind, **edits[kind])
            total.append(r.timings["total"])
            scoring.append(r.timings["scoring"])
        print(
            f"  {kind:<9} {np.median(total) * 1000:7.0f} ms (scoring {np.median(scoring) * 1000:.0f} ms; "
            f"min {min(total) * 1000:.0f}, max {max(total) * 1000:.0f}; {runs} runs)  {edits[kind]}"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default=STUDY)
    ap.add_argument("--runs", type=int, default=7, help="runs of each edit (the median is printed)")
    ap.add_argument("--edits", default="add,remove,move,upgrade,downgrade", help="kinds of edit, comma-separated")
    ap.add_argument("--edits-only", action="store_true", help="only the per-edit medians")
    args = ap.parse_args()
    if not args.edits_only:
        loop_and_full(args.study)
    edit_medians(args.study, args.runs, args.edits.split(","))


def loop_and_full(path: str) -> None:
    study = Study.from_file(path, output_root="/tmp/geoaccess-bench")
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
