"""What-if on a study with off-road tiers (issue 15): one added township health centre on demo-mixed (SYNTHETIC
terrain, mixed travel, compare_walk_only), incremental vs full recompute; --kind road_speed for a faster road,
--kind road_add for a new road across the river south of the city (a bridge).

Run from the repository root after ``geoaccess demo`` (needs data/demo):

    .venv/bin/python bench/bench_whatif_offroad.py
    .venv/bin/python bench/bench_whatif_offroad.py --kind remove --runs 3

The baseline is computed here (not read from the user cache; off-road baselines are never cached), then one
warm-up scenario of each kind loads the compiled kernels. Each timed run prints the scenario's own time
(``timings["total"]``: edits, tiers, scoring) for the incremental path and for ``full=True`` (every tier and
walking-only twin searched again from scratch over the same loaded inputs and surface), and a fresh ``Study`` of
the edited facility table (load from the input cache, surface from the cache, compute) for comparison.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from geoaccess import Study
from geoaccess.scenarios import whatif

STUDY = "data/studies/demo-mixed.toml"


def edits(study: Study, kind: str) -> dict:
    fac = study.load().facilities
    if kind == "add":  # a township health centre in the hills west of Taiyuan (synthetic site)
        return {"add": [{"lon": 112.35, "lat": 37.9, "tier": "primary", "beds": 20, "id": "NEW-THC"}]}
    if kind == "add_county":  # a county hospital there: its door is on the road, so mixed trips change widely
        return {"add": [{"lon": 112.35, "lat": 37.9, "tier": "county", "beds": 200, "id": "NEW-CH"}]}
    if kind == "road_speed":  # a faster road through the city (test_scenarios.py's route)
        return {"road_speed": [{"route": [[112.55, 37.85], [112.6, 38.05]], "kmh": 100}]}
    if kind == "road_add":  # a new road across the river south of Taiyuan (synthetic): a bridge
        return {"road_add": [{"from": [112.42, 37.70], "to": [112.52, 37.66], "kmh": 60}]}
    if kind == "remove":
        return {"remove": [str(fac.loc[fac["tier"] == "primary", "id"].iat[3])]}
    if kind == "move":
        return {"move": [{"id": str(fac.loc[fac["tier"] == "primary", "id"].iat[3]), "lon": 112.35, "lat": 37.9}]}
    raise SystemExit(f"unknown kind {kind}")


def fresh_study(path: Path, r) -> float:
    """Seconds of a fresh Study of the scenario's facility table (inputs and surface from the user cache)."""
    with tempfile.TemporaryDirectory() as d:
        r.facility_table().to_csv(Path(d) / "f.csv", index=False)
        text = path.read_text(encoding="utf-8").split("# Time of day")[0]
        text = text.replace('"../demo/', f'"{path.parent.resolve().as_posix()}/../demo/')
        orig = text.split('facilities = "', 1)[1].split('"', 1)[0]
        (Path(d) / "s.toml").write_text(text.replace(orig, f"{d}/f.csv"), encoding="utf-8")
        t0 = time.perf_counter()
        s = Study.from_file(Path(d) / "s.toml", output_root=d)
        s.compute(areas=False)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default=STUDY)
    ap.add_argument("--kind", default="add", choices=["add", "add_county", "remove", "move", "road_speed", "road_add"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh Study of the edited table")
    ap.add_argument("--log", action="store_true", help="log the scenarios' steps (INFO)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    path = Path(a.study)
    text = path.read_text(encoding="utf-8").split("# Time of day")[0]  # the periods are not part of the baseline
    tmp = path.with_name(".bench-whatif-offroad.toml")
    tmp.write_text(text, encoding="utf-8")
    try:
        study = Study.from_file(tmp)
        study.use_cache = True  # inputs and surface from the user cache when there; the baseline is computed
        t0 = time.perf_counter()
        base = study.compute(areas=False)
        print(f"baseline compute: {time.perf_counter() - t0:.2f} s")
        e = edits(study, a.kind)
        whatif(study, base=base, name="warm", **e)
        whatif(study, base=base, name="warm", full=True, **e)
        if a.log:
            logging.getLogger("geoaccess").setLevel(logging.INFO)
        inc, full = [], []
        for _ in range(a.runs):
            r = whatif(study, base=base, name=a.kind, **e)
            inc.append(r.timings["total"])
            f = whatif(study, base=base, name=a.kind, full=True, **e)
            full.append(f.timings["total"])
            for t in r.tiers:
                assert np.array_equal(r.tiers[t].minutes, f.tiers[t].minutes), t
                assert np.array_equal(r.walk_only[t].minutes, f.walk_only[t].minutes), t
        print(f"{a.kind}: recompute {r.recompute}")
        print("  timings incremental", {k: round(v, 2) for k, v in r.timings.items()})
        print("  timings full", {k: round(v, 2) for k, v in f.timings.items()})
        print(f"  incremental  {statistics.median(inc):.2f} s  (paths {r.timings['paths']:.2f} s)  runs {inc}")
        print(f"  full=True    {statistics.median(full):.2f} s  (paths {f.timings['paths']:.2f} s)  runs {full}")
        if a.kind.startswith("road"):
            changed = {t: int((r.tiers[t].minutes != base.tiers[t].minutes).sum()) for t in r.tiers}
            walked = {t: int((r.walk_only[t].minutes != base.walk_only[t].minutes).sum()) for t in r.tiers}
            print(f"  cells changed {changed}, on foot {walked}")
        if not a.no_fresh and not a.kind.startswith("road"):  # a fresh study of edited roads needs another roads file
            print(f"  fresh Study of the edited table (compute, inputs/surface cached): {fresh_study(path, r):.2f} s")
    finally:
        tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
