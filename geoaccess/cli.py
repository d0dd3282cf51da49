"""Command line: ``geoaccess run STUDY.toml``, ``demo``, ``info``, ``fetch``, ``whatif``, ``optimize``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from geoaccess.errors import GeoaccessError

log = logging.getLogger("geoaccess")


def _study(study, args):
    """``--no-cache``: read every input afresh and leave the input cache alone."""
    if getattr(args, "no_cache", False):
        study.use_cache = False
    return study


def _run(args) -> int:
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = _study(Study.from_file(args.study), args)
    result = study.run()
    print(f"wrote {result.output / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo(args) -> int:
    from geoaccess.demo import build_demo
    from geoaccess.study import Study

    root = Path(args.root).resolve()
    data = root / "data" / "demo"
    study_file = root / "data" / "studies" / "demo.toml"
    t0 = time.perf_counter()
    if args.rebuild or not (data / "roads.osm.pbf").exists():
        log.info("building the synthetic demo inputs in %s", data)
        build_demo(data)
    study = _study(Study.from_file(study_file, output_root=root), args)
    result = study.run()
    print(f"wrote {result.output / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _info(args) -> int:
    from geoaccess.study import Study

    study = _study(Study.from_file(args.study), args)
    t0 = time.perf_counter()
    inputs = study.load()
    s = study.settings
    print(f"study {s.name}: {s.path}")
    print("tiers: " + "; ".join(f"{t.name} {t.threshold_min:g} min" for t in s.tiers))
    for line in inputs.summary:
        print(line)
    print(f"network CRS {inputs.network.crs}; loaded in {time.perf_counter() - t0:.1f} s")
    if inputs.warnings:
        print(f"warnings ({len(inputs.warnings)}):")
        for w in inputs.warnings:
            print(f"  - {w}")
    else:
        print("warnings: none")
    return 0


def _fetch(args) -> int:
    from geoaccess.load.fetch import fetch

    threshold = args.threshold
    if args.study:
        from geoaccess.config import load_study

        threshold = max(t.threshold_min for t in load_study(args.study).tiers)
    got = fetch(
        place=args.place,
        polygon=args.polygon,
        threshold_min=threshold,
        top_kmh=args.top_kmh,
        cache_dir=args.cache,
        network_type=args.network_type,
        refresh=args.refresh,
    )
    state = "cached" if got.cached else "downloaded"
    print(f"{state}: roads {got.roads}\n{state}: health POIs {got.facilities}")
    print(f'use them in a study: roads = "{got.roads}", facilities = {{ path = "{got.facilities}" }}')


def _whatif(args) -> int:
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = _study(Study.from_file(args.study), args)
    result = study.whatif(args.scenario, write=True)
    print(f"scenario {result.name}: recomputed {result.recompute} in {result.timings['total']:.3f} s")
    print(f"wrote {result.output / 'compare.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _optimize(args) -> int:
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = _study(Study.from_file(args.study), args)
    candidates = args.candidates
    p = study.optimize(
        args.tier,
        args.k,
        args.objective,
        write=True,
        candidates=candidates,
        zones=args.zones or None,
        upgrades=args.upgrades,
        method=args.method,
        spacing_km=args.spacing_km,
    )
    cols = ["rank", "lon", "lat", "county_code", "people_newly_within_marginal", "mean_minutes_after"]
    print(p.sites[[c for c in cols if c in p.sites.columns]].to_string(index=False))
    print(f"{p.people_newly_within:,.0f} people newly within the {args.tier} threshold")
    print(f"wrote {p.output / 'picks.csv'} and {p.output / 'compare.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="geoaccess", description="Access to tiered health care, by county.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a study file and write its map bundle")
    r.add_argument("study", help="study TOML file")
    r.set_defaults(func=_run)
    d = sub.add_parser("demo", help="build the embedded synthetic demo (if needed) and run it")
    d.add_argument("--root", default=".", help="repository root holding data/ and maps/ (default: .)")
    d.add_argument("--rebuild", action="store_true", help="regenerate the demo inputs")
    d.set_defaults(func=_demo)
    i = sub.add_parser("info", help="load a study's inputs and print what was read, dropped and warned")
    i.add_argument("study", help="study TOML file")
    i.set_defaults(func=_info)
    f = sub.add_parser("fetch", help="download roads and health POIs through osmnx (needs internet), cached")
    where = f.add_mutually_exclusive_group(required=True)
    where.add_argument("--place", help="place name osmnx can geocode, e.g. '太原市, 山西省, 中国'")
    where.add_argument("--polygon", help="polygon file (any CRS) of the study area")
    f.add_argument("--threshold", type=float, default=120.0, help="largest tier threshold, minutes (default 120)")
    f.add_argument("--study", help="take the largest threshold from this study file")
    f.add_argument("--top-kmh", type=float, default=100.0, help="top speed for the buffer (default 100)")
    f.add_argument("--cache", default="cache/osm", help="cache folder (default cache/osm)")
    f.add_argument("--network-type", default="drive", help="osmnx network type (default drive)")
    f.add_argument("--refresh", action="store_true", help="download again even if cached")
    f.set_defaults(func=_fetch)
    w = sub.add_parser("whatif", help="apply a scenario file to a study; write compare.csv and compare.html")
    w.add_argument("study", help="study TOML file")
    w.add_argument("scenario", help="scenario TOML file")
    w.set_defaults(func=_whatif)
    o = sub.add_parser("optimize", help="choose k sites for a tier; write the picks, the gain and a map")
    o.add_argument("study", help="study TOML file")
    o.add_argument("--tier", required=True, help="tier to place (a tier name of the study)")
    o.add_argument("--k", type=int, default=3, help="number of sites (default 3)")
    o.add_argument("--objective", choices=["coverage", "median"], default="coverage")
    o.add_argument("--method", choices=["greedy", "exact"], default="greedy")
    o.add_argument("--candidates", default=None, help="'grid' (default), 'nodes', or a CSV with lon,lat")
    o.add_argument("--zones", nargs="*", default=[], help="only counties in these baseline zones, e.g. priority")
    o.add_argument("--upgrades", action="store_true", help="only upgrade existing lower-tier facilities")
    o.add_argument("--spacing-km", type=float, default=None, help="grid spacing for grid candidates")
    o.set_defaults(func=_optimize)
    for cmd in (r, d, i, w, o):
        cmd.add_argument(
            "--no-cache", action="store_true", help="read every input afresh (no user cache of loaded inputs)"
        )
    args = p.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except (GeoaccessError, ValueError) as exc:  # ValueError: e.g. an unknown coordinate system name
        print(f"geoaccess: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
