"""A partitioned run of a study with off-road tiers against one process (issue 15): wall seconds, same results.

In one process, with the cache in ``$GEOACCESS_CACHE`` (set it to an empty folder for a clean start):

1. ``single, cold``: ``Study.compute()`` reading the inputs and building the friction surface (both stored);
2. ``single, warm``: the same on a new Study, inputs and surface from the cache;
3. ``partitioned``: ``partition.compute`` on a new Study (cache warm) on a LocalCluster of ``--workers`` processes
   started first (its start is timed apart); the workers read the inputs and the surface from the cache.

``[travel.periods]`` are left out of both (``compute`` never runs them; bench_partition_periods.py times them). The county
table, every tier's minutes and facility and the walking-only twins of run 3 are checked equal to run 2, to the bit.
Prints one line per run and the partitions table (tasks per partition and way of travel, their halo, seconds and
where each worker's surface came from).

Usage: ``python bench/bench_partition_offroad.py STUDY.toml [--partition prefecture] [--workers 2] [--worker-gb 3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import resource
import time

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study")
    ap.add_argument("--partition", default="prefecture", choices=["province", "prefecture"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-gb", type=float, default=3.0)
    ap.add_argument("--skip-cold", action="store_true", help="the cache is already warm: leave out run 1")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import distributed

    from geoaccess import partition
    from geoaccess.config import ScaleSettings
    from geoaccess.study import Study

    def fresh() -> Study:
        return Study.from_file(args.study, output_root=os.devnull)

    print(f"cache: {os.environ.get('GEOACCESS_CACHE', '~/.cache/geoaccess')}; load average {os.getloadavg()}")
    if not args.skip_cold:
        t0 = time.perf_counter()
        fresh().compute()
        print(f"single, cold: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    single = fresh().compute()
    print(f"single, warm: {time.perf_counter() - t0:.1f} s  {_stages(single.timings)}")
    t0 = time.perf_counter()
    with distributed.LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=f"{args.worker_gb}GiB",
        dashboard_address=":0", silence_logs=logging.ERROR,
    ) as lc, distributed.Client(lc) as client:  # fmt: skip
        t_start = time.perf_counter() - t0
        study = fresh()
        study.settings = dataclasses.replace(study.settings, scale=ScaleSettings(args.partition))
        t1 = time.perf_counter()
        part = partition.compute(study, client)
        t_part = time.perf_counter() - t1
    print(f"partitioned ({args.partition}, {args.workers} workers): {t_part:.1f} s (cluster start {t_start:.1f} s)  "
          f"{_stages(part.timings)}")  # fmt: skip
    pd.testing.assert_frame_equal(part.counties, single.counties, check_exact=True)
    for tier, r in single.tiers.items():
        assert np.array_equal(r.minutes, part.tiers[tier].minutes, equal_nan=True), tier
        assert np.array_equal(r.facility, part.tiers[tier].facility), tier
    for tier, r in (single.walk_only or {}).items():
        assert np.array_equal(r.minutes, part.walk_only[tier].minutes, equal_nan=True), tier
    print("county table, tier minutes and walking-only twins: equal to the single run, to the bit")
    cols = ["partition", "mode", "facilities", "pairs_kept", "cells_reached", "halo_cells", "halo_min", "halo_km",
            "farthest_pair_km", "load_s", "search_s", "task_s", "done_s", "surface", "surface_s", "worker_peak_gb"]  # fmt: skip
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(part.partitions[[c for c in cols if c in part.partitions.columns]].to_string(index=False))
    print(f"client peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


def _stages(timings: dict) -> str:
    keep = ("terrain", "paths", "measures", "scoring", "areas")
    return ", ".join(f"{k} {timings[k]:.1f}" for k in keep if k in timings)


if __name__ == "__main__":
    main()
