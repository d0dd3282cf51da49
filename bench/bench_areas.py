"""Service areas and catchments (geoaccess.areas): time and memory of the areas step against the bands it replaces.

Run from the repository root on any study (the demo needs data/demo, i.e. ``make demo`` once):

    .venv/bin/python bench/bench_areas.py data/studies/demo.toml [RUNS]
    .venv/bin/python bench/bench_areas.py /tmp/region-14.toml 1        # Shanxi, SYNTHETIC region 14

The study's inputs are loaded and its nearest searches run once (``Study.compute`` without the areas step);
then, ``RUNS`` times each and in the same process (the machine is shared, so wall times vary between runs):

- ``cells only``: the old catchment bands of every tier, traced from the minutes of populated cells
  (``maps.tier_bands``, in the write phase until now);
- ``areas``: :func:`geoaccess.areas.build` (grid, snapping of its land pixels, minutes, bands and catchments).

Peak RSS is the growth of the resident set over what the process held before the step, sampled every 5 ms.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_outputs import PeakRSS, rss  # noqa: E402

from geoaccess.outputs.maps import tier_bands  # noqa: E402
from geoaccess.outputs.rasters import Surface  # noqa: E402
from geoaccess.study import Study  # noqa: E402


def main(study_file: str, runs: int = 3) -> None:
    logging.basicConfig(level=logging.WARNING)
    study = Study.from_file(study_file, output_root="/tmp")
    s = study.settings
    t0 = time.perf_counter()
    inp = study.load()
    print(f"load: {time.perf_counter() - t0:.1f} s; {inp.network}, {len(inp.population):,} populated cells")
    areas_step = study.areas
    study.areas = lambda inp, results, layout=None: None  # compute without the areas step, to time it alone
    t0 = time.perf_counter()
    result = study.compute()
    study.areas = areas_step
    print(f"compute without areas: {time.perf_counter() - t0:.1f} s; RSS {rss() / 1e9:.2f} GB")
    pop = inp.population
    for run in range(runs):
        with PeakRSS() as old:
            n_old = 0
            for tier in s.tiers:
                r = result.tiers[tier.name]
                surface = Surface.from_cells(pop.shape, pop.row, pop.col, r.minutes, pop.transform, pop.crs)
                n_old += len(tier_bands(surface, tier.threshold_min, s.maps.bands_min))
        with PeakRSS() as new:
            a = study.areas(inp, result.tiers)
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in a.seconds.items())
        n_catch = sum(t.catchment_facility.size for t in a.tiers.values())
        n_bands = sum(len(t.bands) for t in a.tiers.values())
        print(
            f"run {run + 1}: cells only {old.seconds:.2f} s (cpu {old.cpu:.2f} s, +{old.growth / 1e6:.0f} MB, "
            f"{n_old} bands) | areas {new.seconds:.2f} s (cpu {new.cpu:.2f} s, +{new.growth / 1e6:.0f} MB; {parts}; "
            f"{a.grid.shape[0]} x {a.grid.shape[1]} grid, {a.land_pixels:,} land pixels, {n_bands} bands, "
            f"{n_catch:,} catchments)"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
