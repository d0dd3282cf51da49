"""A partitioned run with ``[travel.periods]`` against the same run without them: wall seconds, same results.

Builds (once) a SYNTHETIC two-prefecture region in ``FOLDER`` (Taiyuan 1401 + Jinzhong 1407, as
tests/test_partition.py builds it: ``--cell-m`` cells, ``--scale`` road density) with two study files, one without
periods and one with a slow peak and a fast night, then alternates, ``--repeats`` times each:

- ``no periods``: ``partition.run`` (a LocalCluster of ``--workers`` processes started and closed inside, as
  ``geoaccess run STUDY --partition prefecture`` does; the bundle written);
- ``2 periods``: the same on the study with periods (one cluster for the study and both periods; three bundles).

The first pair fills the input cache; the lines after it are the warm runs. With ``--check`` the period results
of the last partitioned run are compared with a one-process run (``Study.run(write=False)``), to the bit.

``--mixed``: the same region with mixed travel over its SYNTHETIC terrain (DEM, land cover, rivers) and walking only
beside it.

Usage: ``python bench/bench_partition_periods.py FOLDER [--mixed] [--workers 2] [--repeats 2] [--check]``
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path

PERIODS = """
[travel.periods.peak]
motorway = 0.7
trunk = 0.6
primary = 0.55
secondary = 0.6
tertiary = 0.7
residential = 0.8

[travel.periods.night]
motorway = 1.0
trunk = 1.15
primary = 1.2
secondary = 1.2
tertiary = 1.15
residential = 1.1
"""


def build(root: Path, cell_m: float, scale: float, mixed: bool) -> tuple[Path, Path]:
    """The two study files (built with the region on first use); ``mixed``: with the region's commented-out
    ``[travel]`` (mixed travel over its SYNTHETIC terrain) switched on, walking only beside it."""
    from geoaccess.regions import build_region, plan_region, study_text

    tag = "-mixed" if mixed else ""
    plain, periods = root / f"study{tag}.toml", root / f"study{tag}-periods.toml"
    if not plain.exists():
        plan = plan_region(["1401", "1407"], cell_m=cell_m, scale=scale)
        if not (root / "r" / "roads.osm.pbf").exists():
            build_region(plan.prefixes, root / "r", plan=plan, check=False)
        text = study_text(plan, 2020, []).replace(f"../regions/{plan.slug}", "r")
        if mixed:
            for key in ("[travel]", "mode", "landcover", "dem", "barriers"):
                text = text.replace(f"# {key}", key, 1)
            text = text.replace(
                'barriers = ["r/rivers.geojson"]\n', 'barriers = ["r/rivers.geojson"]\ncompare_walk_only = true\n'
            )
        text = text.replace('name = "', f'name = "{tag[1:]}-' if mixed else 'name = "', 1)
        plain.write_text(text, encoding="utf-8")
        # [travel.periods.*] may follow [[tiers]]: a region's study has no other [travel] subtable
        periods.write_text(text.replace('name = "', 'name = "periods-', 1) + PERIODS, encoding="utf-8")
    return plain, periods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-gb", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cell-m", type=float, default=2000.0)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--check", action="store_true", help="compare the periods with a one-process run")
    ap.add_argument("--mixed", action="store_true", help="mixed travel over the region's terrain, walking only beside")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import numpy as np
    import pandas as pd

    from geoaccess import partition
    from geoaccess.config import ScaleSettings
    from geoaccess.study import Study

    root = Path(args.folder)
    root.mkdir(parents=True, exist_ok=True)
    plain, periods = build(root, args.cell_m, args.scale, args.mixed)
    scale = ScaleSettings("prefecture", None, args.workers, args.worker_gb)
    print(f"{root}: load average {os.getloadavg()}; cache {os.environ.get('GEOACCESS_CACHE', '~/.cache/geoaccess')}")
    last = None
    for k in range(args.repeats):
        for label, sf in (("no periods", plain), ("2 periods", periods)):
            study = Study.from_file(sf, output_root=root / "maps")
            t0 = time.perf_counter()
            result = partition.run(study, dataclasses.replace(scale))
            wall = time.perf_counter() - t0
            parts = result.partitions
            extra = ""
            if result.periods:
                last = (sf, result)
                extra = "; " + ", ".join(f"{p} {result.timings[f'period_{p}']:.1f} s" for p in result.periods)
            print(
                f"run {k + 1} {label}: {wall:.1f} s wall (compute {result.timings['partitioned_total']:.1f} s, "
                f"outputs {result.timings.get('outputs', 0):.1f} s{extra}); {len(parts)} tasks, "
                f"{int(parts['pairs_kept'].sum()):,} pairs"
            )
    if args.check and last is not None:
        sf, part = last
        t0 = time.perf_counter()
        one = Study.from_file(sf, output_root=root / "single").run(write=False)
        print(f"one process, 2 periods (no bundle): {time.perf_counter() - t0:.1f} s")
        for name, want in one.periods.items():
            got = part.periods[name]
            pd.testing.assert_frame_equal(got.counties, want.counties, check_exact=True)
            for tier, r in want.tiers.items():
                assert np.array_equal(r.minutes, got.tiers[tier].minutes, equal_nan=True), (name, tier)
        print("periods equal to one process: yes")


if __name__ == "__main__":
    main()
