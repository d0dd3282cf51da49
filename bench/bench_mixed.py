"""A province with mixed travel over terrain (issue 15): ``geoaccess run`` wall time, stages and peak memory.

The SYNTHETIC region (default Qinghai ``63``: 108 M grid cells of ~100 m, 656 k populated cells, 3,358 facilities)
is built once with ``geoaccess demo --region ... --build-only`` under ``--root`` (its land cover, DEM and rivers
are generated with it), then its study runs with ``[travel] mode = "mixed"`` (land cover, rivers as barriers,
knight's moves) in fresh processes:

- ``cold``: an empty cache folder (reads and snaps the inputs, builds the friction surface, stores both);
- ``warm`` (``--warm`` times): the same study again, inputs and surface from the cache, as a rerun sees it.

Each row prints the wall time of the whole command, its peak resident memory and the stages the study logs
(``load``, ``terrain``, ``paths``: the tier searches, ``measures``, ``scoring``, ``areas``, ``outputs``), then
each tier's search. The target (issue 15): under 60 s on 2 cores.

Usage: ``python bench/bench_mixed.py [--region 63] [--root bench/results/mixed] [--cell-m M] [--warm 2]``.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# runs the CLI in a child process and reports its peak resident memory (KiB) on stderr
_CHILD = (
    "import resource, sys\n"
    "from geoaccess.cli import main\n"
    "code = main(['-v', 'run', sys.argv[1]])\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def study_file(region: str, root: Path, cell_m: float | None) -> Path:
    """The region's study with a ``[travel]`` mixed section, building the region under ``root`` if needed."""
    regions = root / "data" / "regions" / region
    if not (regions / "landcover.tif").exists():
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "geoaccess", "demo", "--region", region, "--build-only", "--root", str(root)]
        subprocess.run(cmd, check=True)
        print(f"built region {region} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    base = (root / "data" / "studies" / f"region-{region}.toml").read_text(encoding="utf-8")
    name = f"region-{region}-mixed" + (f"-{cell_m:g}m" if cell_m else "")
    base = re.sub(r'(?m)^output = ".*"$', f'output = "{(root / "maps" / name).as_posix()}"', base)
    travel = (
        "\n# bench/bench_mixed.py: off-road travel over the region's SYNTHETIC terrain\n[travel]\n"
        f'mode = "mixed"\nlandcover = "../regions/{region}/landcover.tif"\n'
        f'barriers = ["../regions/{region}/rivers.geojson"]\n' + (f"cell_m = {cell_m:g}\n" if cell_m else "")
    )
    head, sep, tiers = base.partition("[[tiers]]")
    out = root / "data" / "studies" / f"{name}.toml"
    out.write_text(head + travel + "\n" + sep + tiers, encoding="utf-8")
    return out


def run(study: Path, cache: Path) -> dict:
    env = dict(os.environ, GEOACCESS_CACHE=str(cache))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _CHILD, str(study)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"geoaccess run {study} failed ({p.returncode})")
    err = p.stderr
    stages = ast.literal_eval(re.search(r"timings: (\{.*\})", err).group(1))
    tiers = re.findall(r"tier (\w+) \((mixed|walk_only)\): ([\d.]+) s, ([\d.]+) s CPU", err)
    grid = re.search(r"terrain grid: (\d+) x (\d+) cells of ([\d.]+) m", err)
    peak = int(re.search(r"PEAK_KB (\d+)", err).group(1)) / 2**20
    return {"wall": wall, "peak_gb": peak, "stages": stages, "tiers": tiers, "grid": grid.groups() if grid else None}


def _compile() -> None:
    """Compile the terrain kernels once (numba caches them) so that no run below times a compilation."""
    import numpy as np

    from geoaccess import terrain

    friction = np.full((60, 60), 0.012, dtype=np.float32)
    terrain.search(
        friction, [(1, 1), (50, 40)], knight=True, cut_corners=False, source_minutes=[0.0, 3.0], labels=[0, 1],
        targets=np.arange(3600), cell_size=(100.0, 100.0),
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="63")
    ap.add_argument("--root", type=Path, default=ROOT / "bench" / "results" / "mixed")
    ap.add_argument("--cell-m", type=float, default=None, help="the friction grid's cell (default: the population's)")
    ap.add_argument("--warm", type=int, default=2, help="warm runs after the cold one")
    a = ap.parse_args()
    study = study_file(a.region, a.root.resolve(), a.cell_m)
    _compile()
    print(f"# mixed travel, SYNTHETIC region {a.region}: {study} on {os.cpu_count()} cores\n")
    keys = ("load", "terrain", "paths", "measures", "scoring", "areas", "outputs")
    print("| run | wall s | peak GB | " + " | ".join(keys) + " | tier searches (wall / CPU s) |")
    print("|---" * (len(keys) + 4) + "|")
    with tempfile.TemporaryDirectory(prefix="bench-mixed-cache-") as cache:
        for i in range(1 + a.warm):
            r = run(study, Path(cache))
            st = " | ".join(f"{r['stages'].get(k, float('nan')):.1f}" for k in keys)
            tiers = ", ".join(f"{t} {w} / {c}" for t, _, w, c in r["tiers"])
            print(f"| {'cold' if i == 0 else 'warm'} | {r['wall']:.1f} | {r['peak_gb']:.2f} | {st} | {tiers} |")
            if i == 0 and r["grid"]:
                rows, cols, m = r["grid"]
                grid_note = f"grid {rows} x {cols} cells of {m} m ({int(rows) * int(cols) / 1e6:.0f} M cells)"
    print(f"\n{grid_note}; target: under 60 s on 2 cores")


if __name__ == "__main__":
    main()
