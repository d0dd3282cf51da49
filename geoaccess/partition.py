"""Partitioned runs on Dask distributed: one task per province or prefecture, results equal to one run.

The expensive part of a study is the OD pairs between facilities and population cells (bounded searches, one per
facility). A partitioned run spreads them over a Dask cluster, one task per partition (the counties sharing an
adcode prefix: 2 digits for a province, 4 for a prefecture), and keeps every other step where its results stay
exact without exchanges:

- per-tier nearest minutes are one multi-source search over the whole road graph (0.1-0.5 s on a million
  nodes, arrays that fit one worker), run once on the client;
- each partition's task searches the OD blocks of the facilities in its counties. A block holds the pairs within
  the facility's cutoff ``T`` (its tiers' thresholds, the 2SFCA catchment), so it reaches no cell farther than
  the halo radius ``T * v / 60`` km from the facility, ``v`` the top speed of any link or the walking speed
  (:func:`halo_km`); each task reports the cells its blocks reach outside its own counties (the halo it used);
- the blocks are gathered into the client's OD pool, exactly as a single process would hold them, and the
  measures that chain across partitions (capacity-aware coverage serves facilities in one global order;
  the 2SFCA family needs every facility's demand before step 2), scoring and the bundle run on the client.

A task is a pure function of the study's settings and its facility positions: it loads the study's inputs on
its worker (from the input cache the client filled, once per worker process), so a task lost with its worker
is simply run again (README "The country on a cluster" has the reasoning and measured numbers).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geoaccess.config import PARTITION_DIGITS, ScaleSettings
from geoaccess.errors import GeoaccessError, InputError

log = logging.getLogger(__name__)

#: seconds to wait for a scheduler given by address
CONNECT_TIMEOUT_S = 10
#: partition key of facilities outside every county (their blocks are searched too)
OUTSIDE = "outside"
#: a test hook: when this environment variable (as the worker process started with it) names a file that exists,
#: the first partition task to remove the file kills its worker process mid-task (``os._exit``); the scheduler
#: then runs the task again on a live worker
FAULT_ENV = "GEOACCESS_PARTITION_FAULT"
#: retries of a task that raised (a transient error such as a network file system hiccup); a task lost with its
#: worker is rescheduled by the scheduler without counting (up to distributed's ``allowed-failures``, 3)
RETRIES = 1


def _distributed():
    """The ``distributed`` package, or one line saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise GeoaccessError("partitioned runs need Dask distributed: pip install 'geoaccess[dask]'") from None
    return distributed


def _total_ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 8.0


def local_cluster_size(scale: ScaleSettings) -> tuple[int, float]:
    """Workers and GB per worker of the local cluster: one process per core sharing 90 % of RAM, unless set."""
    n = scale.workers or max(1, os.cpu_count() or 1)
    mem = scale.worker_memory_gb or 0.9 * _total_ram_gb() / n
    return n, mem


@contextlib.contextmanager
def dask_client(scale: ScaleSettings):
    """A ``distributed.Client``: on ``scale.scheduler`` (one clear error within :data:`CONNECT_TIMEOUT_S` when it
    does not answer), else on a new ``LocalCluster`` sized to the machine (:func:`local_cluster_size`), closed on
    exit."""
    distributed = _distributed()
    if scale.scheduler:
        try:
            client = distributed.Client(scale.scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise GeoaccessError(
                f"the Dask scheduler at {scale.scheduler} does not answer within {CONNECT_TIMEOUT_S} s ({exc}); "
                "start it (`dask scheduler` and `dask worker ADDRESS` on each machine) or fix [scale] scheduler / "
                "--scheduler"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n, mem = local_cluster_size(scale)
    log.info("starting a local Dask cluster: %d worker processes of %.1f GB", n, mem)
    cluster = distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        memory_limit=int(mem * 2**30),
        dashboard_address=":0",  # any free port: a second cluster on the machine never clashes on 8787
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


# -- partitions ---------------------------------------------------------------------------------------------


def county_partitions(counties, level: str) -> np.ndarray:
    """Partition key per county: its adcode's first 2 (province) or 4 (prefecture) digits.

    Counties whose codes are not 6-digit adcodes are an error saying which field to map.
    """
    digits = PARTITION_DIGITS[level]
    codes = counties["county_code"].astype(str).str.strip()
    bad = codes[~codes.str.fullmatch(r"[1-8]\d{5}")]
    if len(bad):
        shown = ", ".join(repr(c) for c in bad.iloc[:5])
        raise InputError(
            f"--partition {level} groups counties by their 6-digit adcode (行政区划代码), but {len(bad)} of "
            f"{len(codes)} county codes are not adcodes (e.g. {shown}); map the counties' adcode field with "
            '[inputs] counties = { path = ..., code_field = "<field holding the adcode>" }, or use the built-in '
            'layer (counties = { adcode = "..." })'
        )
    return codes.str[:digits].to_numpy().astype(object)


def facility_partitions(fac_county: np.ndarray, county_part: np.ndarray) -> np.ndarray:
    """Partition key per facility: its county's (facilities outside every county: :data:`OUTSIDE`)."""
    out = np.full(fac_county.size, OUTSIDE, dtype=object)
    ok = fac_county >= 0
    out[ok] = county_part[fac_county[ok]]
    return out


def top_speed_kmh(net, walk_kmh: float) -> float:
    """The fastest anyone moves on ``net``: the top link speed (length along its geometry over its minutes) or
    the walking speed. No trip of ``m`` minutes ends farther than ``m * top / 60`` km from where it starts.

    Without coordinates the bound is unknown: inf (the halo is then the whole graph).
    """
    if net.n_links == 0:
        return float(walk_kmh)
    coords = net.link_coords()
    if coords is not None:
        xy, link = coords
        seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
        same = link[1:] == link[:-1]
        length_m = np.bincount(link[1:][same], weights=seg[same], minlength=net.n_links)
    elif net.x is not None:  # straight links between their ends
        length_m = np.hypot(net.x[net.link_u] - net.x[net.link_v], net.y[net.link_u] - net.y[net.link_v])
    else:
        return float("inf")
    fastest = np.minimum(net.link_fwd, net.link_bwd)
    ok = np.isfinite(fastest) & (fastest > 0)
    kmh = length_m[ok] / 1000.0 / (fastest[ok] / 60.0)
    return float(max(kmh.max() if kmh.size else 0.0, walk_kmh))


def halo_km(minutes: float, speed_kmh: float) -> float:
    """The halo radius: how far a trip of ``minutes`` can end at ``speed_kmh``."""
    return float(minutes) * float(speed_kmh) / 60.0


# -- the task ---------------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What a worker holds for a study's pair searches (loaded once per worker process)."""

    trip: object
    index: object
    facility_snap: object
    cell_xy: tuple[np.ndarray, np.ndarray]
    fac_xy: tuple[np.ndarray, np.ndarray]
    cell_part: np.ndarray  # per population cell: its county's partition key


_CONTEXTS: dict[str, _Context] = {}


def _context(settings, token: str, use_cache: bool) -> _Context:
    if token in _CONTEXTS:
        return _CONTEXTS[token]
    import pyproj

    from geoaccess.study import Study
    from geoaccess.trip import Trip

    _CONTEXTS.clear()  # one study per worker at a time: memory stays one network's
    study = Study(settings)
    study.use_cache = use_cache
    inp = study.load()
    trip = Trip(inp.network, settings.walk_kmh, settings.direction == "to_facility")
    pop, fac = inp.population, inp.facilities
    to_m = pyproj.Transformer.from_crs("EPSG:4326", inp.network.crs, always_xy=True)
    cell_xy = to_m.transform(pop.lon, pop.lat)
    fac_xy = to_m.transform(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    county_part = county_partitions(inp.counties, settings.scale.partition)
    cell_part = np.where(pop.county >= 0, county_part[np.maximum(pop.county, 0)], OUTSIDE)
    ctx = _Context(
        trip,
        trip.point_index(inp.demand_snap),
        inp.facility_snap,
        (np.asarray(cell_xy[0]), np.asarray(cell_xy[1])),
        (np.asarray(fac_xy[0]), np.asarray(fac_xy[1])),
        cell_part,
    )
    _CONTEXTS[token] = ctx
    return ctx


def _fault() -> None:
    """The test hook of :data:`FAULT_ENV`: kill this worker once, mid-task."""
    path = os.environ.get(FAULT_ENV)
    if not path:
        return
    try:
        os.remove(path)  # atomic: one task wins
    except OSError:
        return
    os._exit(1)


def _peak_rss_gb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def partition_pairs(settings, token, use_cache, key, positions, cut) -> dict:
    """One partition's OD blocks: the pairs of the facilities at ``positions`` (a pure function of its arguments).

    Returns the pairs (:class:`geoaccess.paths.Pairs`, blocks in ``positions`` order) and what the partition
    used: seconds, cells reached, cells reached outside its own counties (the halo), the farthest pair in km.
    """
    t0 = time.perf_counter()
    ctx = _context(settings, token, use_cache)
    t_load = time.perf_counter() - t0
    _fault()
    t1 = time.perf_counter()
    pairs = ctx.trip.pairs(ctx.facility_snap[positions], ctx.index, cut)
    seconds = time.perf_counter() - t1
    cells = np.unique(pairs.point)
    # pair k of facility i sits at pairs.start[i] + ...: the facility of each stored pair, in buffer order
    owner = np.empty(pairs.point.size, dtype=np.int64)
    for i in range(len(positions)):
        owner[pairs.start[i] : pairs.start[i] + pairs.count[i]] = positions[i]
    far_km = 0.0
    if owner.size:
        dx = ctx.cell_xy[0][pairs.point] - ctx.fac_xy[0][owner]
        dy = ctx.cell_xy[1][pairs.point] - ctx.fac_xy[1][owner]
        far_km = float(np.sqrt((dx * dx + dy * dy).max())) / 1000.0
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = ""
    return {
        "partition": key,
        "pairs": pairs,
        "facilities": len(positions),
        "pairs_kept": int(len(pairs)),
        "cells_reached": int(cells.size),
        "halo_cells": int((ctx.cell_part[cells] != key).sum()),
        "halo_min": float(np.max(cut)) if len(cut) else 0.0,
        "farthest_pair_km": far_km,
        "load_s": round(t_load, 3),
        "search_s": round(seconds, 3),
        "worker": worker,
        "worker_peak_gb": round(_peak_rss_gb(), 3),
    }


# -- the client side -----------------------------------------------------------------------------------------------


class _Remote:
    """The OD pool's remote search (:attr:`geoaccess.measures.ODPool.remote`): one task per partition."""

    def __init__(self, client, study, fac_part: np.ndarray, speed_kmh: float):
        self.client, self.study, self.fac_part, self.speed_kmh = client, study, fac_part, speed_kmh
        self.token = _inputs_token(study)
        self.stats: list[dict] = []

    def __call__(self, facility_snap, pos, cut, dest):
        from geoaccess.paths import Pairs

        distributed = _distributed()
        parts = self.fac_part[pos]
        futures = {}
        for key in sorted(set(parts)):
            sel = np.flatnonzero(parts == key)
            fut = self.client.submit(
                partition_pairs,
                self.study.settings,
                self.token,
                self.study.use_cache,
                key,
                pos[sel],
                cut[sel],
                key=f"geoaccess-pairs-{key}-{self.token}",
                retries=RETRIES,
            )
            futures[fut] = (key, sel)
        log.info("OD: %d partitions submitted (%s facilities)", len(futures), f"{pos.size:,}")
        start = np.full(pos.size, -1, dtype=np.int64)
        count = np.zeros(pos.size, dtype=np.int64)
        for fut in distributed.as_completed(list(futures)):
            key, sel = futures[fut]
            if fut.status != "finished":
                exc = fut.exception()
                for other in futures:
                    other.cancel()
                raise _partition_error(key, exc) from None
            got = fut.result()
            pairs = got.pop("pairs")
            point, minutes, offset = dest.reserve(len(pairs))
            n = pairs.point.size
            point[offset : offset + n] = pairs.point
            minutes[offset : offset + n] = pairs.minutes
            start[sel] = pairs.start + offset
            count[sel] = pairs.count
            got["halo_km"] = round(halo_km(got["halo_min"], self.speed_kmh), 3)
            self.stats.append(got)
            log.info(
                "partition %s: %s facilities, %s pairs, %s cells reached (%s in the halo) in %.1f s on %s",
                key,
                f"{got['facilities']:,}",
                f"{got['pairs_kept']:,}",
                f"{got['cells_reached']:,}",
                f"{got['halo_cells']:,}",
                got["search_s"],
                got["worker"],
            )
            del pairs
        return Pairs(start, count, dest._origin, dest._minutes)


def _inputs_token(study) -> str:
    """Names the inputs a worker loads: the input cache's key (the files' contents and every setting that shapes
    them), so a long-lived cluster never serves a changed file from a worker's memory."""
    from geoaccess import cache as _cache

    try:
        key = _cache.inputs_key(study.settings)
    except OSError:  # a missing input: the workers' loaders say which
        key = ""
    return hashlib.sha256(repr((key, study.settings, study.use_cache)).encode()).hexdigest()[:16]


def _partition_error(key, exc) -> GeoaccessError:
    """A partition's failure as one error naming it (an input problem stays an InputError)."""
    text = f"partition {key}: {exc}"
    if isinstance(exc, InputError):
        return InputError(text)
    if isinstance(exc, GeoaccessError):
        return GeoaccessError(text)
    return GeoaccessError(f"{text} ({type(exc).__name__})")


def compute(study, client):
    """:meth:`geoaccess.study.Study.compute` with the OD blocks searched per partition on ``client``.

    Returns the :class:`~geoaccess.study.Result` with ``partitions`` (one row per partition: counties,
    facilities, pairs, halo, seconds, worker and its peak memory).
    """
    from geoaccess.study import facility_county

    s = study.settings
    level = s.scale.partition
    if level is None:
        raise GeoaccessError("a partitioned run needs [scale] partition or --partition (province or prefecture)")
    t0 = time.perf_counter()
    inp = study.load()  # fills the input cache the workers load from
    county_part = county_partitions(inp.counties, level)
    fac_part = facility_partitions(facility_county(inp.facilities, inp.counties), county_part)
    speed = top_speed_kmh(inp.network, s.walk_kmh)
    pool = study.od_pool(inp)
    remote = _Remote(client, study, fac_part, speed)
    pool.remote = remote
    try:
        result = study.compute()
    finally:
        pool.remote = None
    result.timings["partitioned_total"] = time.perf_counter() - t0
    stats = pd.DataFrame(remote.stats)
    keys, n_cty = np.unique(county_part.astype(str), return_counts=True)
    counts = pd.DataFrame({"partition": keys, "counties": n_cty})
    table = counts.merge(stats, on="partition", how="outer") if len(stats) else counts
    # a partition without facilities (e.g. no facility file rows in its counties) had no task
    for col in ("counties", "facilities", "pairs_kept", "cells_reached", "halo_cells"):
        if col in table.columns:
            table[col] = table[col].fillna(0).astype(np.int64)
    table["top_speed_kmh"] = round(speed, 3)
    result.partitions = table.sort_values("partition", kind="stable").reset_index(drop=True)
    result.partition_of_county = county_part.astype(str)
    return result


def run(study, scale: ScaleSettings | None = None, write: bool = True):
    """Run ``study`` partitioned (``scale`` overrides its ``[scale]``) and write its bundle.

    The cluster is reached (or started) before anything is written; the bundle is swapped in whole at the end,
    so a partition that fails leaves the previous bundle as it was.
    """
    import dataclasses

    from geoaccess.outputs._atomic import check_output_folder, output_lock

    if scale is not None:
        study.settings = dataclasses.replace(study.settings, scale=scale)
    scale = study.settings.scale
    if scale.partition is None:
        raise GeoaccessError("a partitioned run needs [scale] partition or --partition (province or prefecture)")
    study.road_only("partitioned runs")
    with dask_client(scale) as client:
        if not write:
            return compute(study, client)
        check_output_folder(study.settings.output)
        with output_lock(study.settings.output):
            return study.finish(compute(study, client), write=True)


# -- outputs ---------------------------------------------------------------------------------------------------

_WORDS = {
    "en": {
        "partition": "Partition {key}",
        "desc": "{n} counties: their table and coverage curves",
        "csv": "partitions (halo, time, memory)",
    },
    "zh": {"partition": "分区 {key}", "desc": "{n} 个县级单位：县表与覆盖曲线", "csv": "分区（缓冲区、时间、内存）"},
}


def write_pages(out, result, *, ctx, tiers, maps, curves, settings, sources, warnings) -> tuple[list, list, list]:
    """``partitions.csv`` and one front page per partition (``partition_<key>.html``: its counties' rows of the
    county table and their coverage curves, linking the bundle's maps), written with the bundle's own writers.

    Returns ``(files, map_entries, file_links)`` for the bundle's front page.
    """
    from pathlib import Path

    from geoaccess.outputs._atomic import write_csv
    from geoaccess.outputs.index import write_index

    out = Path(out)
    words = _WORDS.get(ctx.lang, _WORDS["en"])
    table = result.partitions.drop(columns=[c for c in ("pairs",) if c in result.partitions.columns])
    files = [write_csv(table, out / "partitions.csv", float_format="%.4f")]
    entries = []
    part = np.asarray(result.partition_of_county)
    for key in sorted(set(part)):
        rows = np.flatnonzero(part == key)
        href = f"partition_{key}.html"
        sub = result.counties.iloc[rows].reset_index(drop=True)
        sub_curves = {k: (grid, share[rows]) for k, (grid, share) in (curves or {}).items()}
        files.append(
            write_index(
                out / href,
                ctx=ctx,
                table=sub,
                tiers=tiers,
                maps=maps,
                files=[],
                settings=settings,
                sources=sources,
                curves=sub_curves,
                warnings=warnings,
            )
        )
        entries.append((words["partition"].format(key=key), href, words["desc"].format(n=rows.size)))
    return files, entries, [(words["csv"], "partitions.csv")]
