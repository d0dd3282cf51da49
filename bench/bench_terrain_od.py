"""The OD stage of a study with off-road tiers: pairs by road, mixed and walking-only trips, side by side.

Run with ``python bench/bench_terrain_od.py [STUDY.toml] [threads...]`` (default: data/studies/demo-mixed.toml, built
by ``geoaccess demo``; 1 and 2 threads). The study needs a ``[travel]`` section with land cover (and a DEM). Each
trip builds the OD blocks the study's measures ask for (each facility out to the largest of the 2SFCA catchment,
for facilities with beds, and the thresholds of the tiers it serves), in a fresh pool, after a warm-up call on a
few facilities (numba compile or cache load). Times are one run, wall and CPU (the machine is shared: CPU time is
the fairer one under load); "peak" is the largest rise of this process's resident memory while the blocks were
built (sampled every 2 ms), pairs included, inputs and the surface excluded. "mixed, every cell" turns off the
pruning of cells no demand point within the cutoff can pass (``terrain_pairs._PRUNE``): the same pairs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import Peak  # noqa: E402
from geoaccess import (
    Study,  # noqa: E402
    terrain_pairs,  # noqa: E402
)
from geoaccess import measures as _m  # noqa: E402


def cutoffs(study) -> np.ndarray:
    """Per facility, the cutoff of its OD block as ``Study._measures`` asks for it (the largest over the ways of
    travel its tiers and the 2SFCA family use: one and the same when every tier travels alike)."""
    return np.max(list(study._od_cuts(study.load()).values()), axis=0)


def pool(study, mode: str):
    s, inp = study.settings, study.load()
    weights, fca_cut = study._weights()
    return _m.ODPool(inp.network, inp.demand_snap, inp.population.people, weights, fca_cut,
                     to_facility=s.direction == "to_facility", walk_kmh=s.walk_kmh,
                     surface=None if mode == "road" else study.terrain(), mode=mode)  # fmt: skip


def main() -> None:
    import logging

    logging.basicConfig(format="    %(message)s")  # the OD log line: facilities, pairs, cells scanned
    logging.getLogger("geoaccess.terrain_pairs").setLevel(logging.INFO)
    path = sys.argv[1] if len(sys.argv) > 1 else "data/studies/demo-mixed.toml"
    threads = [int(a) for a in sys.argv[2:]] or [1, 2]
    study = Study.from_file(path)
    inp = study.load()
    sf = study.terrain()
    cut = cutoffs(study)
    fsnap = inp.facility_snap
    print(f"{path}: {len(fsnap):,} facilities, {len(inp.demand_snap):,} demand points, {inp.network.n_nodes:,} nodes, "
          f"grid {sf.shape[0]} x {sf.shape[1]} ({sf.shape[0] * sf.shape[1]:,} cells), {len(sf.road_cell):,} road "
          f"points; cutoffs {np.unique(cut[cut > 0]).tolist()} min")  # fmt: skip
    few = np.flatnonzero(cut > 0)[:4]
    for mode in ("road", "walk_only", "mixed"):
        pool(study, mode).blocks(fsnap[few], cut[few], **({} if mode == "road" else {"cells": sf.facility_cell[few]}))
    base = None
    for nt in threads:
        numba.set_num_threads(nt)
        for mode in ("road", "walk_only", "mixed", "mixed, every cell"):
            terrain_pairs._PRUNE = mode != "mixed, every cell"  # the same pairs: sweep every cell within the cutoff
            mode = mode.split(",")[0] if "every" not in mode else mode
            p = pool(study, mode.split(",")[0])
            p.point_index  # noqa: B018  (built once per study, not per request: kept out of the time)
            with Peak() as peak:
                t, c = time.perf_counter(), time.process_time()
                od = p.blocks(fsnap, cut)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
            base = wall if mode == "road" else base
            print(f"  {mode:17s} {nt} thread(s) {wall:7.2f} s wall {cpu:7.2f} s CPU  peak {peak.mb:6.0f} MB  "
                  f"{len(od):>12,} pairs  ({wall / base:.1f}x road wall)")  # fmt: skip
            del od, p


if __name__ == "__main__":
    main()
