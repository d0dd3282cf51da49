"""Province-scale benchmark: wall time and peak memory per stage for synthetic regions (`make bench-scale`).

Each region (Taiyuan demo, Qinghai ``63``, Shanxi ``14`` by default) is built once with ``geoaccess demo --region
... --build-only`` (reused afterwards), then run in fresh processes so memory figures are clean:

- ``cold``: an empty cache (reads and snaps everything, then stores the loaded inputs);
- ``warm``: the same study again, its inputs from the cache (what a rerun or ``info`` sees); the baseline is then
  stored for later what-ifs and one what-if is timed in the same process;
- ``later what-if``: a new process, as ``geoaccess whatif`` runs: inputs and baseline (results and OD pairs)
  from the cache, then the scenario.

Within a run every stage resets the kernel's peak-RSS mark (``/proc/self/clear_refs``), so the peak printed for
a stage is that stage's own (the process's memory before it included). A one-facility what-if (a county hospital
added in the most populous county's least-served cell) is timed after the baseline. The table ends with how each
stage grows per road node, populated cell, facility and OD pair kept.

Partitioned (issue 13): each region of ``--partitioned`` (default the whole country ``CN`` at 1 km cells,
scale 0.1) runs by ``--partition`` (province) on a ``--workers`` (2) LocalCluster: time per partition and in
total, peak memory of the client and of each worker, the halo radius and the cells each partition's blocks
reach outside its own counties. Its inputs are cached first (one load), so the figures are a warm run's.

Usage: ``python bench/bench_scale.py [--regions 1401 63 14] [--partitioned CN] [--root .]``; ``--one`` /
``--one-partitioned`` run one region in this process and print JSON (used by the parent).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _rss_gb(field: str = "VmHWM") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _stage(name: str, out: dict, fn):
    _reset_peak()
    t0 = time.perf_counter()
    value = fn()
    out[name] = {"s": round(time.perf_counter() - t0, 2), "peak_gb": round(_rss_gb(), 2)}
    print(f"  {name}: {out[name]['s']:.2f} s, peak {out[name]['peak_gb']:.2f} GB", file=sys.stderr, flush=True)
    return value


def _edit(study, result, inp, shift: float = 0.0) -> dict:
    """A county hospital where the county tier serves worst: the populated cell farthest from one."""
    import numpy as np

    tier = study.settings.tiers[min(1, len(study.settings.tiers) - 1)].name
    minutes = result.tiers[tier].minutes
    far = int(np.argmax(np.where(np.isfinite(minutes), minutes, -1)))
    lon, lat = float(inp.population.lon[far]) + shift, float(inp.population.lat[far])
    return {"add": [{"lon": lon, "lat": lat, "tier": tier, "beds": 300}]}


def run_one(study_file: Path, mode: str) -> dict:
    """One fresh run of a study, stage by stage; returns figures as a dict."""
    from geoaccess import Baseline, whatif
    from geoaccess.study import Study

    study = Study.from_file(study_file)
    out: dict = {"stages": {}}
    st = out["stages"]
    t0 = time.perf_counter()
    inp = _stage("load", st, study.load)
    if mode == "later":
        base = _stage("baseline", st, lambda: Baseline.of(study))
        edit = _edit(study, base, inp)
        w = _stage("whatif", st, lambda: whatif(study, **edit))
        st["whatif"]["scenario_s"] = round(w.timings.get("total", float("nan")), 3)
        out["total_s"] = round(time.perf_counter() - t0, 2)
    else:
        result = _stage("compute", st, study.compute)
        for k in ("paths", "measures", "scoring"):
            st[f"  {k}"] = {"s": round(result.timings.get(k, float("nan")), 2)}
        _stage("outputs", st, lambda: study.write(result))
        out["total_s"] = round(time.perf_counter() - t0, 2)
        if mode == "warm":
            from geoaccess import cache as _cache

            _cache.save_baseline(_cache.baseline_key(study.settings), result, study.od_pool().state())
            Baseline.of(study, result)
            whatif(study, **_edit(study, result, inp))  # the first what-if compiles what it needs
            edit = _edit(study, result, inp, shift=0.01)
            w = _stage("whatif", st, lambda: whatif(study, **edit))
            st["whatif"]["scenario_s"] = round(w.timings.get("total", float("nan")), 3)
    out["nodes"] = int(inp.network.n_nodes)
    out["cells"] = len(inp.population)
    out["people"] = float(inp.population.people.sum())
    out["facilities"] = len(inp.facilities)
    out["counties"] = len(inp.counties)
    pool = getattr(study, "_od_pool", None)
    out["pairs"] = int(pool.pairs) if pool is not None else 0
    out["peak_gb"] = round(_rss_gb(), 2)
    return out


def run_partitioned(study_file: Path, level: str, workers: int, worker_gb: float) -> dict:
    """One partitioned run (warm: the inputs are loaded, and cached, before the clock starts); figures as a dict."""
    import logging

    from geoaccess import partition
    from geoaccess.config import ScaleSettings
    from geoaccess.study import Study

    logging.basicConfig(format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("geoaccess").setLevel(logging.INFO)  # a line per partition as it finishes
    study = Study.from_file(study_file)
    out: dict = {"stages": {}}
    inp = _stage("load (client, fills the cache)", out["stages"], study.load)
    out.update(
        nodes=int(inp.network.n_nodes),
        cells=len(inp.population),
        facilities=len(inp.facilities),
        counties=len(inp.counties),
    )
    scale = ScaleSettings(level, None, workers, worker_gb)
    study.settings = dataclasses.replace(study.settings, scale=scale)
    t0 = time.perf_counter()
    with partition.dask_client(scale) as client:
        out["cluster_start_s"] = round(time.perf_counter() - t0, 2)
        result = _stage("partitioned compute", out["stages"], lambda: partition.compute(study, client))
        _stage("outputs", out["stages"], lambda: study.write(result))
        workers_peak = client.run(partition._peak_rss_gb)
    out["total_s"] = round(time.perf_counter() - t0, 2)
    out["timings"] = {k: round(v, 2) for k, v in result.timings.items()}
    out["pairs"] = int(study.od_pool(inp).pairs)
    out["client_peak_gb"] = round(_rss_gb(), 2)
    out["workers_peak_gb"] = {k: round(v, 2) for k, v in workers_peak.items()}
    cols = ["partition", "counties", "facilities", "pairs_kept", "cells_reached", "halo_cells", "halo_min", "halo_km",
            "farthest_pair_km", "load_s", "search_s", "worker", "worker_peak_gb"]  # fmt: skip
    out["partitions"] = result.partitions[cols].to_dict(orient="records")
    return out


def _print_partitioned(name: str, r: dict) -> None:
    print()
    print(f"Partitioned: {name} ({r['counties']:,} counties, {r['nodes']:,} road nodes, {r['cells']:,} populated "
          f"cells, {r['facilities']:,} facilities, {r['pairs'] / 1e6:.1f} M OD pairs kept)")  # fmt: skip
    print(f"  total {r['total_s']:.1f} s (cluster start {r['cluster_start_s']:.1f} s); stages {r['timings']}")
    print(f"  peak memory: client {r['client_peak_gb']:.2f} GB, workers {r['workers_peak_gb']}")
    print("| partition | counties | facilities | pairs | cells reached | halo cells | halo | farthest pair km | "
          "worker load s | search s | worker | worker peak GB |")  # fmt: skip
    print("| --- | " + " | ".join(["---"] * 11) + " |")
    for p in r["partitions"]:
        print(
            f"| {p['partition']} | {p['counties']} | {p['facilities']:,.0f} | {p['pairs_kept']:,.0f} | "
            f"{p['cells_reached']:,.0f} | {p['halo_cells']:,.0f} | {p['halo_min']:g} min = {p['halo_km']:.0f} km | "
            f"{p['farthest_pair_km']:.0f} | {p['load_s']:.1f} | {p['search_s']:.1f} | {p['worker']} | "
            f"{p['worker_peak_gb']:.2f} |"
        )


def build(region: str, root: Path) -> Path:
    """The region's study file, building its inputs first if needed (``geoaccess demo --region --build-only``)."""
    if region == "demo":
        if not (root / "data" / "demo" / "roads.osm.pbf").exists():
            subprocess.run([sys.executable, "-m", "geoaccess.demo", str(root / "data" / "demo")], check=True)
        return root / "data" / "studies" / "demo.toml"
    slug = "-".join(region.split(","))
    study = root / "data" / "studies" / f"region-{slug}.toml"
    if not study.exists():
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "geoaccess", "demo", "--region", region, "--build-only", "--root", str(root)]
        subprocess.run(cmd, check=True)
        print(f"built region {region} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return study


def _fmt_row(name: str, r: dict) -> str:
    s = r["stages"]

    def sec(k):
        return f"{s[k]['s']:.1f}" if k in s else "-"

    cols = [name, f"{r['nodes']:,}", f"{r['cells']:,}", f"{r['facilities']:,}", f"{r['pairs'] / 1e6:.1f} M"]
    cols.append(f"{r['total_s']:.1f}")
    cols += [sec(k) for k in ("load", "baseline", "  paths", "  measures", "  scoring", "outputs")]
    cols.append(f"{r['peak_gb']:.2f}")
    cols.append(f"{s['whatif']['scenario_s']:.2f}" if "whatif" in s else "-")
    return "| " + " | ".join(cols) + " |"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", nargs="*", default=["demo", "63", "14"])
    ap.add_argument("--root", default=str(ROOT))
    ap.add_argument("--partitioned", nargs="*", default=["CN"], help="regions to run partitioned (default CN)")
    ap.add_argument("--partition", choices=["province", "prefecture"], default="province")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-gb", type=float, default=6.0, help="memory limit per worker (default 6)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--one-partitioned", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["cold", "warm", "later"], default="warm", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one_partitioned:
        res = run_partitioned(Path(args.one_partitioned), args.partition, args.workers, args.worker_gb)
        print(json.dumps(res))
        return 0
    if args.one:
        print(json.dumps(run_one(Path(args.one), args.mode)))
        return 0
    root = Path(args.root).resolve()
    rows = []
    for region in args.regions:
        study = build(region, root)
        env = dict(os.environ)
        env["GEOACCESS_CACHE"] = str(root / ".bench-cache" / region.replace(",", "-"))
        shutil.rmtree(env["GEOACCESS_CACHE"], ignore_errors=True)  # cold means cold
        for mode in ("cold", "warm", "later"):
            print(f"== {region} ({mode})", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--one", str(study), "--mode", mode]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
            res = json.loads(p.stdout.strip().splitlines()[-1])
            res["process_s"] = round(time.perf_counter() - t0, 1)
            rows.append((f"{region} {mode}", res))
        shutil.rmtree(env["GEOACCESS_CACHE"], ignore_errors=True)
    print()
    print("| run | road nodes | populated cells | facilities | OD pairs kept | run s | load | baseline | paths | "
          "measures | scoring | outputs | peak GB | what-if s |")  # fmt: skip
    print("| --- | " + " | ".join(["---"] * 13) + " |")
    for name, r in rows:
        print(_fmt_row(name, r))
    print()
    print("How each stage grows: microseconds per unit of what it grows with")
    print("| region | load (cold) per cell | paths per node | measures per pair kept | outputs per cell |")
    print("| --- | --- | --- | --- | --- |")
    by = dict(rows)
    for region in args.regions:
        cold, warm = by[f"{region} cold"], by[f"{region} warm"]
        per = [
            1e6 * cold["stages"]["load"]["s"] / max(cold["cells"], 1),
            1e6 * warm["stages"]["  paths"]["s"] / max(warm["nodes"], 1),
            1e6 * warm["stages"]["  measures"]["s"] / max(warm["pairs"], 1),
            1e6 * warm["stages"]["outputs"]["s"] / max(warm["cells"], 1),
        ]
        print("| " + region + " | " + " | ".join(f"{v:.2f}" for v in per) + " |")
    for region in args.partitioned:
        study = build(region, root)
        env = dict(os.environ)
        env["GEOACCESS_CACHE"] = str(root / ".bench-cache" / (region.replace(",", "-") + "-partitioned"))
        print(f"== {region} partitioned by {args.partition} on {args.workers} workers", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--one-partitioned", str(study), "--partition", args.partition,
               "--workers", str(args.workers), "--worker-gb", str(args.worker_gb)]  # fmt: skip
        p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
        shutil.rmtree(env["GEOACCESS_CACHE"], ignore_errors=True)
        _print_partitioned(region, json.loads(p.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
