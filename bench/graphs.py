"""Benchmark graphs: DIMACS / PACE files from ../shared/bench-data and a 1M-node synthetic road network.

Every loader returns ``(name, tail, head, minutes, x, y, note)`` with 0-based int64 node ids, or ``None`` when its
file is absent. Parallel arcs are left in: :meth:`geoaccess.Network.from_arrays` keeps the minimum, and the scipy
matrix is built from the collapsed arcs so it never sums duplicates.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data"


def _read_lines(path: Path, tag: bytes):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    lines = [ln for ln in raw.split(b"\n") if ln.startswith(tag)]
    return lines


def read_dimacs(path: Path):
    """``p sp n m`` / ``a u v w`` (1-based) -> (n, tail, head, w)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n = None
    for ln in raw[:10000].split(b"\n"):
        if ln.startswith(b"p "):
            n = int(ln.split()[2])
            break
    body = b"\n".join(ln[2:] for ln in raw.split(b"\n") if ln.startswith(b"a "))
    a = np.array(body.split(), dtype=np.int64).reshape(-1, 3)
    return n, a[:, 0] - 1, a[:, 1] - 1, a[:, 2].astype(np.float64)


def read_coords(path: Path, n: int):
    body = b"\n".join(ln[2:] for ln in _read_lines(path, b"v "))
    a = np.array(body.split(), dtype=np.int64).reshape(-1, 3)
    x = np.zeros(n)
    y = np.zeros(n)
    x[a[:, 0] - 1] = a[:, 1] / 1e6
    y[a[:, 0] - 1] = a[:, 2] / 1e6
    return x, y


def read_pace(path: Path, seed: int = 12345):
    """PACE 2016 ``p tw n m`` / ``u v``: undirected, unweighted -> both directions, weights 1..1000."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n = None
    rows = []
    for ln in raw.split(b"\n", 50)[:50]:
        if ln.startswith(b"p "):
            n = int(ln.split()[2])
            break
    rows = b"\n".join(ln for ln in raw.split(b"\n") if ln and ln[:1].isdigit())
    e = np.array(rows.split(), dtype=np.int64).reshape(-1, 2) - 1
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 1001, size=e.shape[0]).astype(np.float64)
    tail = np.concatenate([e[:, 0], e[:, 1]])
    head = np.concatenate([e[:, 1], e[:, 0]])
    return n, tail, head, np.concatenate([w, w])


def ny_t():
    p = DATA / "USA-road-t.NY.gr.gz"
    if not p.exists():
        return None
    n, t, h, w = read_dimacs(p)
    co = DATA / "USA-road-d.NY.co.gz"
    x, y = read_coords(co, n) if co.exists() else (None, None)
    return "NY-t", t, h, w, x, y, "DIMACS USA-road-t.NY (travel times)"


def pace(name: str):
    p = DATA / f"PACE16-{name}.gr.gz"
    if not p.exists():
        return None
    n, t, h, w = read_pace(p)
    return name, t, h, w, None, None, f"PACE16-{name} topology, synthetic weights 1..1000 (rng 12345)"


def grid_roads(side: int = 1000, spacing_m: float = 300.0, seed: int = 2020):
    """A province-like grid road network of ``side**2`` nodes with a road hierarchy and one-way pairs.

    Local roads (25-35 km/h) on every grid line, county roads (45 km/h) every 10th, national roads (70 km/h)
    every 50th, expressways (100 km/h) every 200th; 8 % of local links removed and 5 % made one-way.
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(side * side, dtype=np.int64).reshape(side, side)
    x = np.tile(np.arange(side) * spacing_m, side).astype(np.float64)
    y = np.repeat(np.arange(side) * spacing_m, side).astype(np.float64)
    tails, heads, kmh = [], [], []
    for horiz in (True, False):
        if horiz:
            u, v = ids[:, :-1].ravel(), ids[:, 1:].ravel()
            line = np.repeat(np.arange(side), side - 1)
        else:
            u, v = ids[:-1, :].ravel(), ids[1:, :].ravel()
            line = np.tile(np.arange(side), side - 1)
        speed = rng.uniform(25, 35, u.size)
        speed = np.where(line % 10 == 0, 45.0, speed)
        speed = np.where(line % 50 == 0, 70.0, speed)
        speed = np.where(line % 200 == 0, 100.0, speed)
        local = line % 10 != 0
        keep = ~(local & (rng.random(u.size) < 0.08))
        u, v, speed, local = u[keep], v[keep], speed[keep], local[keep]
        oneway = local & (rng.random(u.size) < 0.05)
        tails += [u, v[~oneway]]
        heads += [v, u[~oneway]]
        kmh += [speed, speed[~oneway]]
    tail, head, speed = np.concatenate(tails), np.concatenate(heads), np.concatenate(kmh)
    minutes = spacing_m / (speed * 1000.0 / 60.0)
    return tail, head, minutes, x, y


#: demo generator scale for the ~1M-node bench network: scale 12 gives 1.07M OSM nodes but 326k after merging
#: degree-2 nodes; scale 38 gives 1,051,444 nodes / 3.70M arcs after merging (build 23.5 s + read 13.7 s, peak
#: RSS 2.25 GB, measured once; later runs read the cached PBF)
DEMO_SCALE = 38


def cache_dir() -> Path:
    """Where generated bench inputs are kept between runs: ``$GEOACCESS_BENCH_CACHE`` or ~/.cache/geoaccess-bench."""
    return Path(os.environ.get("GEOACCESS_BENCH_CACHE", Path.home() / ".cache" / "geoaccess-bench"))


def synthetic_1m():
    """The demo generator's road network at ~1M nodes if ``geoaccess.demo`` is available, else :func:`grid_roads`."""
    try:
        from geoaccess.demo import build_demo  # noqa: F401  (not on every branch yet)
    except ImportError:
        t0 = time.perf_counter()
        t, h, w, x, y = grid_roads()
        note = f"fallback grid road network (geoaccess.demo not importable), built in {time.perf_counter() - t0:.1f} s"
        return "grid-1M", t, h, w, x, y, note
    return _demo_1m()


def _demo_1m(scale: float = DEMO_SCALE):
    from geoaccess.demo import build_demo
    from geoaccess.load.roads import read_osm

    out = cache_dir() / f"demo-s{scale:g}"
    pbf = out / "roads.osm.pbf"
    built = ""
    if not pbf.exists():
        t0 = time.perf_counter()
        build_demo(out, seed=2020, scale=float(scale))
        built = f"built in {time.perf_counter() - t0:.1f} s, "
    t0 = time.perf_counter()
    net = read_osm(pbf)
    note = f"geoaccess.demo scale={scale:g} ({built}read in {time.perf_counter() - t0:.1f} s; cached at {pbf})"
    return "demo-1M", net.arc_tail, net.arc_head, net.arc_minutes, net.x, net.y, note
