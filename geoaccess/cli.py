"""Command line: ``geoaccess run STUDY.toml``, ``geoaccess demo``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from geoaccess.errors import GeoaccessError

log = logging.getLogger("geoaccess")


def _run(args) -> int:
    from geoaccess.study import Study

    t0 = time.perf_counter()
    study = Study.from_file(args.study)
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
    study = Study.from_file(study_file, output_root=root)
    result = study.run()
    print(f"wrote {result.output / 'index.html'} in {time.perf_counter() - t0:.1f} s")
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
    args = p.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except GeoaccessError as exc:
        print(f"geoaccess: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
