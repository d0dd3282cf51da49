"""Command line: ``geoaccess run STUDY.toml``, ``demo``, ``info``, ``fetch``, ``whatif``, ``optimize``, ``calibrate``, ``serve``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from geoaccess.errors import GeoaccessError

log = logging.getLogger("geoaccess")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# optional packages -> the extra that installs them
EXTRAS = {
    "pulp": "exact",
    "highspy": "exact",
    "spopt": "exact",
    "osmnx": "fetch",
    "distributed": "dask",
    "dask": "dask",
    "starlette": "serve",
    "uvicorn": "serve",
}


def _study(study, args):
    """``--no-cache``: read every input afresh and leave the input cache alone."""
    if getattr(args, "no_cache", False):
        study.use_cache = False
    return study


def _run(args) -> int:
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = _study(Study.from_file(args.study), args)
    if args.partition or args.scheduler:  # the command line wins over the study's [scale]
        import dataclasses

        from geoaccess.config import scale_settings

        sc = study.settings.scale
        scale = scale_settings(
            args.partition or sc.partition, args.scheduler or sc.scheduler, sc.workers, sc.worker_memory_gb
        )
        if scale.partition is None:
            raise GeoaccessError("--scheduler needs --partition province|prefecture (or [scale] partition)")
        study.settings = dataclasses.replace(study.settings, scale=scale)
    result = study.run()
    print(f"wrote {result.output / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo(args) -> int:
    if args.region is not None:
        return _demo_region(args)
    extra = [f for f in ("cell_m", "seed", "scale") if getattr(args, f) is not None] + (
        ["build_only"] if args.build_only else []
    )
    if extra:
        flags = ", ".join("--" + f.replace("_", "-") for f in extra)
        raise GeoaccessError(f"{flags} apply to synthetic regions only: add --region (e.g. --region 1401)")
    root = Path(args.root).resolve()
    data = root / "data" / "demo"
    study_file = root / "data" / "studies" / "demo.toml"
    t0 = time.perf_counter()
    if args.rebuild or not all((data / f).exists() for f in ("roads.osm.pbf", "dem.tif", "landcover.tif")):
        from geoaccess.demo import build_demo

        log.info("building the synthetic demo inputs in %s", data)
        build_demo(data)
    # the same demo with travel as people really travel ([travel]: terrain, rivers, walking-only beside motorised,
    # time of day) into maps/demo-mixed; maps/demo stays the road-only demo. The two studies share nothing but
    # their inputs (built above), so with two cores or more the mixed one runs in a process of its own beside the
    # road one: separate processes, so the Python parts of each (tables, polygons, pages) do not wait on one lock
    mixed_file = root / "data" / "studies" / "demo-mixed.toml"
    mixed = not args.no_mixed and mixed_file.exists()
    mixed_args = (str(mixed_file), str(root), bool(getattr(args, "no_cache", False)), bool(args.periods))
    child = None
    if mixed and (os.cpu_count() or 1) > 1:
        child, conn = _start_mixed_child(mixed_args)
    try:
        from geoaccess.study import Study

        study = _study(Study.from_file(study_file, output_root=root), args)
        result = study.run() if child is None else _yielding(study.run)
        print(f"wrote {result.output / 'index.html'} in {time.perf_counter() - t0:.1f} s")
        if child is not None:
            try:
                got = conn.recv()
            except EOFError:
                got = ("error", f"the mixed-travel study ({mixed_file}) stopped without a result (exit code "
                                f"{child.exitcode}); run it alone: geoaccess run {mixed_file}")  # fmt: skip
            child.join()
            if got[0] == "error":
                raise GeoaccessError(got[1])
            out, seconds, skipped = got[1:]
        elif mixed:
            out, seconds, skipped = _mixed_demo(*mixed_args)
        else:
            return 0
    finally:
        if child is not None and child.is_alive():  # the road study failed (or Ctrl-C): its bundle is left whole
            child.terminate()
            child.join()
    print(f"wrote {out} (mixed travel) in {seconds:.1f} s")
    if skipped:
        print(f"  periods {', '.join(skipped)}: geoaccess demo --periods, or geoaccess run {mixed_file}")
    return 0


#: niceness the road study takes while the mixed one runs beside it (see _yielding)
YIELD_NICE = 5


def _yielding(fn):
    """``fn()`` on a thread of its own that yields the cores to the mixed study's process where both want them.

    The mixed study is the longer of the two (its terrain OD pairs), so the demo ends when it ends: measured with
    bench/bench_demo.py (five runs each, quiet), the two side by side took 1.63-1.65x the road-only demo this way
    against 1.78-2.02x at equal priority. On Linux niceness belongs to a thread, and the threads it starts inherit
    it, so only the road study's threads are lowered, not the caller's; elsewhere ``fn`` runs as it is.
    """
    if sys.platform != "linux" or not hasattr(os, "setpriority"):
        return fn()
    import threading

    box = {}

    def run():
        try:
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + YIELD_NICE))
        except OSError:  # not allowed: at equal priority then
            pass
        try:
            box["out"] = fn()
        except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
            box["err"] = exc

    t = threading.Thread(target=run, name="geoaccess demo (road)", daemon=True)  # Ctrl-C still ends the command
    t.start()
    t.join()
    if "err" in box:
        raise box["err"]
    return box["out"]


def _start_mixed_child(mixed_args):
    """Start :func:`_mixed_demo_child` in a process of its own; returns ``(process, the end its result comes from)``.

    Forked where that is safe (Linux, this process on one Python thread, before any kernel ran): the child then
    starts with the study code this process imported with the package (``geoaccess/__init__`` imports
    :class:`~geoaccess.study.Study`) and does not import it again (1.5-1.9 s of CPU on the bench machine, a tenth
    of the mixed study's). Else spawned (a fresh interpreter that imports it again)."""
    import multiprocessing
    import threading

    fork = sys.platform == "linux" and threading.active_count() == 1
    fork = fork and "fork" in multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    conn, child_conn = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_mixed_demo_child, args=(child_conn, logging.getLogger().level, *mixed_args),
                        name="geoaccess demo-mixed")  # fmt: skip
    child.start()
    child_conn.close()
    return child, conn


def _mixed_demo(study_file: str, root: str, no_cache: bool, periods: bool):
    """The demo's mixed-travel study (``data/studies/demo-mixed.toml``); returns the index page written, the seconds
    it took and the periods left out."""
    import dataclasses

    from geoaccess.study import Study

    t1 = time.perf_counter()
    mixed = Study.from_file(study_file, output_root=root)
    mixed.use_cache = not no_cache
    skipped = [] if periods else list(mixed.settings.periods)
    if skipped:
        # each period is a whole second run and bundle: `make demo` leaves them out, and `geoaccess run` on the
        # study file (or --periods) gives them
        mixed.settings = dataclasses.replace(mixed.settings, periods={})
    result = mixed.run()
    return str(result.output / "index.html"), time.perf_counter() - t1, skipped


def _mixed_demo_child(conn, log_level: int, *mixed_args) -> None:
    """:func:`_mixed_demo` in a process of its own (see :func:`_demo`): its result, or its error as one message,
    goes back through ``conn``."""
    logging.basicConfig(level=log_level, format=LOG_FORMAT, datefmt="%H:%M:%S")
    try:
        conn.send(("ok", *_mixed_demo(*mixed_args)))
    except (GeoaccessError, ValueError) as exc:  # as main() reports them: one message, no traceback
        conn.send(("error", str(exc)))
    except BaseException as exc:
        conn.send(("error", f"the mixed-travel study failed: {type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


def _demo_region(args) -> int:
    """``geoaccess demo --region PREFIXES``: build a synthetic region once (reused), write its study, run it."""
    from geoaccess._synth import write_text
    from geoaccess.regions import build_region, check_memory, plan_region, study_text

    root = Path(args.root).resolve()
    t0 = time.perf_counter()
    seed = 2020 if args.seed is None else args.seed
    plan = plan_region(args.region, cell_m=args.cell_m, scale=args.scale)
    data = root / "data" / "regions" / plan.slug
    study_file = root / "data" / "studies" / f"region-{plan.slug}.toml"
    settings = f"seed {seed}, scale {plan.scale}, {plan.cell_m:g} m cells"
    readme = data / "README.txt"
    names = ("roads.osm.pbf", "facilities.csv", "population.tif", "census.csv", "dem.tif", "README.txt")
    built = all((data / n).exists() for n in names) and settings in readme.read_text(encoding="utf-8")
    check_memory(plan, run=not args.build_only)
    if args.rebuild or not built:
        log.info("building synthetic region %s (%s) in %s", plan.slug, settings, data)
        problems = build_region(plan.prefixes, data, seed=seed, plan=plan, check=False)["problems"]
    else:
        log.info("reusing synthetic region %s in %s (--rebuild to regenerate)", plan.slug, data)
        text = readme.read_text(encoding="utf-8")
        problems = [ln[4:] for ln in text.split("Reported:\n", 1)[-1].splitlines() if ln.startswith("  - ")]
        problems = problems if "Reported:" in text else []
    study_file.parent.mkdir(parents=True, exist_ok=True)
    write_text(study_file, study_text(plan, seed, problems))
    if args.build_only:
        print(f"wrote {data} and {study_file} in {time.perf_counter() - t0:.1f} s")
        return 0
    from geoaccess.study import Study

    result = Study.from_file(study_file, output_root=root).run()
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
    from geoaccess.scenarios import whatif
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = _study(Study.from_file(args.study), args)
    result = whatif(study, args.scenario, write=True)
    print(f"scenario {result.name}: recomputed {result.recompute} in {result.timings['total']:.3f} s")
    print(f"wrote {result.output / 'compare.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _optimize(args) -> int:
    from geoaccess.placement import place
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = _study(Study.from_file(args.study), args)
    candidates = args.candidates
    upgrades = args.upgrades
    if args.upgrade_types:  # implies --upgrades
        upgrades = [w for w in args.upgrade_types.split(",") if w.strip()] or args.upgrade_types
    p = place(
        study,
        args.tier,
        args.k,
        args.objective,
        write=True,
        candidates=candidates,
        zones=args.zones or None,
        upgrades=upgrades,
        method=args.method,
        spacing_km=args.spacing_km,
    )
    cols = ["rank", "lon", "lat", "county_code", "people_newly_within_marginal", "mean_minutes_after"]
    print(p.sites[[c for c in cols if c in p.sites.columns]].to_string(index=False))
    print(f"{p.people_newly_within:,.0f} people newly within the {args.tier} threshold")
    print(f"wrote {p.output / 'picks.csv'} and {p.output / 'compare.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _calibrate(args) -> int:
    from geoaccess.calibrate import calibrate_study, format_errors

    t0 = time.perf_counter()
    fits, table, out, notes = calibrate_study(args.study, args.trips, crs=args.crs, out=args.out, holdout=args.holdout)
    for fit in fits:
        label = f"period {fit.period}" if fit.period else "trips without a period"
        factors = ", ".join(f"{k} {v:.3f} ± {fit.standard_errors[k]:.3f}" for k, v in sorted(fit.factors.items()))
        print(f"{label}: {fit.observed.size} trips, {fit.passes} routing passes; speed factors: {factors}")
    print(format_errors(table))
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s; use it with a line at the top of the study file:")
    rel = Path(os.path.relpath(out.resolve(), Path(args.study).resolve().parent)).as_posix()
    print(f'include = ["{rel}"]')
    return 0


def _serve(args) -> int:
    from geoaccess.serve import serve
    from geoaccess.study import Study

    study = _study(Study.from_file(args.study), args)
    return serve(study, args.host, args.port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="geoaccess", description="Access to tiered health care, by county.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a study file and write its map bundle")
    r.add_argument("study", help="study TOML file")
    r.add_argument(
        "--partition",
        choices=["province", "prefecture"],
        default=None,
        help="run on Dask distributed, one task per province or prefecture (needs geoaccess[dask])",
    )
    r.add_argument(
        "--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)"
    )
    r.set_defaults(func=_run)
    d = sub.add_parser("demo", help="build the embedded synthetic demo (if needed) and run it")
    d.add_argument("--root", default=".", help="repository root holding data/ and maps/ (default: .)")
    d.add_argument("--rebuild", action="store_true", help="regenerate the demo inputs")
    d.add_argument(
        "--region",
        default=None,
        help="synthetic region instead of Taiyuan: adcode prefixes, comma-separated (14 Shanxi, 1401,1407, CN)",
    )
    d.add_argument("--cell-m", type=float, default=None, help="population grid, metres (100; 1000 for CN)")
    d.add_argument("--seed", type=int, default=None, help="random seed of the synthetic region (2020)")
    d.add_argument("--scale", type=float, default=None, help="road density of the synthetic region (1; 0.1 for CN)")
    d.add_argument("--build-only", action="store_true", help="generate the region and its study file; do not run")
    d.add_argument(
        "--no-mixed",
        action="store_true",
        help="Taiyuan demo: skip the mixed-travel study (data/studies/demo-mixed.toml, into maps/demo-mixed)",
    )
    d.add_argument(
        "--periods",
        action="store_true",
        help="Taiyuan demo: also run the mixed-travel study's [travel.periods] (peak, night; about 3x its time)",
    )
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
    o.add_argument(
        "--upgrade-types",
        default=None,
        help="only upgrade facilities whose type contains one of these words, comma-separated, e.g. township,community",
    )
    o.add_argument("--spacing-km", type=float, default=None, help="grid spacing for grid candidates")
    o.set_defaults(func=_optimize)
    c = sub.add_parser("calibrate", help="fit road-class speeds to observed trip times; write them as TOML")
    c.add_argument("study", help="study TOML file")
    c.add_argument(
        "--trips",
        required=True,
        help="CSV: origin_lon, origin_lat, destination_lon, destination_lat, minutes[, period, crs]",
    )
    c.add_argument("--crs", default=None, help="coordinate system of the trips: wgs84 (default), gcj02 or bd09")
    c.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="share of trips kept out of the fit to check it (e.g. 0.2; default 0)",
    )
    c.add_argument("--out", default=None, help="TOML to write (default: <study name>.fitted.toml beside the study)")
    c.set_defaults(func=_calibrate)
    v = sub.add_parser("serve", help="what-if in the browser: a local web app on the study's baseline")
    v.add_argument("study", help="study TOML file")
    v.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs the token)"
    )
    v.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    v.set_defaults(func=_serve)
    for cmd in (r, d, i, w, o, c, v):
        cmd.add_argument(
            "--no-cache", action="store_true", help="read every input afresh (no user cache of loaded inputs)"
        )
    args = p.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except (GeoaccessError, ValueError) as exc:  # ValueError: e.g. an unknown coordinate system name
        print(f"geoaccess: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # optional features: one line naming what to install, not a traceback
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        fix = f"pip install 'geoaccess[{extra}]'" if extra else f"pip install {exc.name}"
        print(f"geoaccess: error: this needs the optional package {exc.name!r}; install it with {fix}", file=sys.stderr)
        return 2
    except OSError as exc:  # no network (fetch), disk full, permission denied: outputs already written are kept
        print(f"geoaccess: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("geoaccess: interrupted; the previous bundle (if any) is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
