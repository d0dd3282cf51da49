"""Off-road tiers' service areas: what reading them off the terrain search costs, tier by tier.

Run from the repository root on a study with a ``[travel]`` section (the demo needs data/demo, i.e. ``make demo``
once; a synthetic region needs ``geoaccess demo --region 14 --build-only`` and a copy of its study file with the
``[travel]`` block of ``data/studies/demo-mixed.toml``):

    .venv/bin/python bench/bench_offroad_areas.py data/studies/demo-mixed.toml [RUNS]

The study's inputs and terrain surface are loaded once; then, ``RUNS`` times and alternating in the same process
(the machine is shared, so compare the two columns of one run, CPU seconds first), each off-road tier's nearest
search:

- ``tables only``: the search stops once every populated cell is final (what the tables need, as before);
- ``with areas``: it also sweeps the tier's largest band and reads minutes and facility at the areas' land pixels
  (:func:`geoaccess.measures.nearest_facility` with ``area_cells`` and ``sweep_to``).

Also printed: the one-off layout (the areas' grid and its pixels' surface cells), the populated cells' 99th
percentile of minutes (from about there a search for them goes goal-directed, so a sweep past it costs extra) and
the areas step itself. Peak RSS is the growth of the resident set
over what the process held before the step, sampled every 5 ms.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_outputs import PeakRSS  # noqa: E402

from geoaccess import areas  # noqa: E402
from geoaccess.measures import nearest_facility, serving_mask  # noqa: E402
from geoaccess.study import Study  # noqa: E402


def main(study_file: str, runs: int = 2) -> None:
    logging.basicConfig(level=logging.WARNING)
    study = Study.from_file(study_file, output_root="/tmp")
    study.use_cache = True
    s = study.settings
    t0 = time.perf_counter()
    inp = study.load()
    sf = study.terrain()
    print(f"load + terrain: {time.perf_counter() - t0:.1f} s; {sf!r}; {len(inp.population):,} populated cells")
    with PeakRSS() as lay_t:
        lay = areas.Layout.for_study(inp.counties, inp.population)
        cells = lay.surface_cells(sf)
    print(
        f"layout: {lay_t.seconds:.2f} s (cpu {lay_t.cpu:.2f} s, +{lay_t.growth / 1e6:.0f} MB): "
        f"{lay.grid.shape[0]} x {lay.grid.shape[1]} grid, {lay.pixel.size:,} land pixels"
    )
    ranks = inp.facilities["tier_rank"].to_numpy()
    results = {}
    for i, tier in enumerate(s.tiers):
        mode = s.tier_mode(tier)
        if mode == "road":
            continue
        serving = serving_mask(ranks, i, s.serve_lower_tiers)
        sweep = max(areas.band_minutes(tier.threshold_min, s.maps.bands_min))
        kw = dict(to_facility=s.direction == "to_facility", walk_kmh=s.walk_kmh, tier=tier.name, mode=mode, surface=sf)
        nearest_facility(inp.network, inp.facility_snap, inp.demand_snap, serving, **kw)  # warm-up (numba, caches)
        for run in range(runs):
            with PeakRSS() as old:
                r0 = nearest_facility(inp.network, inp.facility_snap, inp.demand_snap, serving, **kw)
            with PeakRSS() as new:
                r = nearest_facility(
                    inp.network, inp.facility_snap, inp.demand_snap, serving, area_cells=cells, sweep_to=sweep, **kw
                )
            assert np.array_equal(r0.minutes, r.minutes) and np.array_equal(r0.facility, r.facility)
            reached = r.minutes[np.isfinite(r.minutes)]
            far = float(np.max(reached, initial=0.0))
            p99 = float(np.quantile(reached, 0.99)) if reached.size else 0.0
            kept = int(np.isfinite(r.area_minutes).sum())
            print(
                f"{tier.name} ({mode}) run {run + 1}: tables only {old.seconds:.2f} s (cpu {old.cpu:.2f} s, "
                f"+{old.growth / 1e6:.0f} MB) | with areas {new.seconds:.2f} s (cpu {new.cpu:.2f} s, "
                f"+{new.growth / 1e6:.0f} MB); sweep {sweep:g} min, people's 99th percentile {p99:.0f} min (the search "
                f"goes goal-directed from about there), farthest {far:.0f} min, "
                f"{kept:,} of {cells.size:,} pixels kept"
            )
        results[tier.name] = r
    for name, r in results.items():
        print(f"  {name}: {sum(np.isfinite(r.area_minutes)):,} pixels within its final minutes")
    if len(results) < len(s.tiers):
        return  # road tiers too: bench/bench_areas.py times the whole areas step
    with PeakRSS() as step:
        a = study.areas(inp, results, lay)
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in a.seconds.items())
    print(f"areas step: {step.seconds:.2f} s (cpu {step.cpu:.2f} s, +{step.growth / 1e6:.0f} MB; {parts})")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
