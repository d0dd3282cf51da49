"""Partitioned runs on Dask distributed: one task per province or prefecture, results equal to one run.

The expensive part of a study is the OD pairs between facilities and population cells (bounded searches, one per
facility). A partitioned run spreads them over a Dask cluster, one task per partition (the counties sharing an
adcode prefix: 2 digits for a province, 4 for a prefecture), and keeps every other step where its results stay
exact without exchanges:

- per-tier nearest minutes are one multi-source search over the whole road graph (0.1-0.5 s on a million
  nodes, arrays that fit one worker), or for off-road tiers (``[travel]`` mixed / walk_only, and the
  ``compare_walk_only`` twins) one search over the whole friction surface, run once on the client;
- each partition's task searches the OD blocks of the facilities in its counties, one task per partition and way
  of travel the measures use (road, mixed, walk_only). A block holds the pairs within the facility's cutoff ``T``
  (its tiers' thresholds, the 2SFCA catchment), so it reaches no cell farther than the halo radius ``T * v / 60``
  km from the facility, ``v`` the top speed of any link or the walking speed, and off-road the fastest cell of
  the surface too (:func:`halo_km`, :func:`surface_speed_kmh`); each task reports the cells its blocks reach
  outside its own counties (the halo it used);
- the blocks are gathered into the client's OD pools (one per way of travel), exactly as a single process would
  hold them, and the measures that chain across partitions (capacity-aware coverage serves facilities in one
  global order; the 2SFCA family needs every facility's demand before step 2), scoring and the bundle run on the
  client.

``[travel.periods]``: every period runs after the study the same way on the same cluster, one period at a time; its
tasks name the period, and a worker scales its copy of the study's roads by the period's factors as the client does
(walking-only pairs do not depend on road speeds: the study's serve every period, and no period task searches them).

A task is a pure function of the study's settings, its facility positions and its way of travel: it loads the
study's inputs (and, off-road, its friction surface) on its worker, from the user cache the client filled, once
per worker process, so a task lost with its worker is simply run again (README "The country on a cluster" has
the reasoning and measured numbers). A worker that finds no surface in the cache builds it, as the client would.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit

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


def surface_speed_kmh(surface) -> float:
    """The fastest anyone moves over a friction ``surface`` (:class:`geoaccess.terrain.Surface`): its least
    friction (the fastest land-cover class, or the walking speed on the road cells), sped up by the steepest
    gain of Tobler's function downhill on a DEM. A move between two cells costs at least its straight length at
    that speed, so no walk of ``m`` minutes over the grid ends farther than ``m * speed / 60`` km from its start.

    inf when a passable cell costs nothing (the halo is then the whole graph)."""
    from geoaccess._terrain_kernels import TOBLER_FLOOR

    f = np.asarray(surface.friction)
    passable = f[f < np.inf]  # inf and NaN (nodata) are impassable
    if passable.size == 0:
        return 0.0
    least = float(passable.min())
    if least <= 0.0:
        return float("inf")
    kmh = 60.0 / (1000.0 * least)
    if surface.dem is not None:  # a gentle descent is the fastest walk: Tobler's factor at its floor
        kmh /= TOBLER_FLOOR
    return kmh


def cell_margin_km(surface) -> float:
    """What an off-road trip covers for free: a facility's walk starts at its grid cell's centre at 0 minutes and
    a demand point reads its own cell's minutes, so each end may lie half a cell's diagonal from where the
    search's minutes were counted (km)."""
    return float(np.sqrt(2.0) * surface.cell_m / 1000.0)


def halo_km(minutes: float, speed_kmh: float, margin_km: float = 0.0) -> float:
    """The halo radius: how far a trip of ``minutes`` can end at ``speed_kmh``, plus ``margin_km`` (off-road trips:
    :func:`cell_margin_km`)."""
    return float(minutes) * float(speed_kmh) / 60.0 + float(margin_km)


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
    study: object = None  # the worker's Study: its friction surface is read (or built) on the first off-road task
    terrain: dict = field(default_factory=dict)  # mode -> (Trip over the surface, its TerrainIndex)
    # a [travel.periods] period's searches: (its name, its network, mode -> (Trip, demand index)); one period
    # at a time, as the client computes them one after another, so a worker holds at most two networks
    period: tuple[str, object, dict] | None = None

    def searches(self, mode: str, period: str | None = None) -> tuple[object, object, dict]:
        """The trip and demand index of ``mode`` ("road", "mixed", "walk_only") at the study's speeds, or at those of
        ``period`` (``[travel.periods.<name>]``), loading what is missing on first use. Returns them and what the
        load took (off-road, on the first task: where the surface came from)."""
        with _LOADING:
            if period is None or mode == "walk_only":  # walking does not depend on road speeds: the study's own
                return (self.trip, self.index, {}) if mode == "road" else self._off_road(mode)
            return self._at_period(period, mode)

    def off_road(self, mode: str) -> tuple[object, object, dict]:
        """The trip and demand index of off-road ``mode``, loading the study's surface on first use (from the
        user cache the client filled; built here when it is not there). Returns them and what the load took."""
        with _LOADING:
            return self._off_road(mode)

    def _off_road(self, mode: str) -> tuple[object, object, dict]:
        if mode in self.terrain:
            return (*self.terrain[mode], {})
        from geoaccess.trip import Trip

        t0 = time.perf_counter()
        first = self.study.terrain_from is None
        surface = self.study.terrain()
        used = {"surface": self.study.terrain_from, "surface_s": round(time.perf_counter() - t0, 3)} if first else {}
        s = self.study.settings
        trip = Trip(self.trip.net, s.walk_kmh, s.direction == "to_facility", surface=surface, mode=mode)
        self.terrain[mode] = (trip, trip.terrain_index(surface.demand_cell))
        return (*self.terrain[mode], used)

    def _at_period(self, name: str, mode: str) -> tuple[object, object, dict]:
        """Period ``name``'s trip of ``mode`` on its road network, scaled here as
        :meth:`geoaccess.study.Study.period_study` scales it on the client (the same function on the same network:
        the same minutes, to the bit)."""
        from geoaccess.periods import road_factors, scale_network
        from geoaccess.trip import Trip

        if self.period is None or self.period[0] != name:
            self.period = None  # the previous period's network and indexes go first
            factors = road_factors(self.study.settings.periods[name])
            self.period = (name, scale_network(self.trip.net, factors, f"[travel.periods.{name}]"), {})
        _, net, built = self.period
        if mode in built:
            return (*built[mode], {})
        used = {}
        if mode == "road":
            trip = Trip(net, self.trip.walk_kmh, self.trip.to_facility)
            index = trip.point_index(self.study.load().demand_snap)
        else:  # the surface joins the roads' geometry, which no period changes: the study's own
            study_trip, _, used = self._off_road(mode)
            trip = Trip(net, self.trip.walk_kmh, self.trip.to_facility, surface=study_trip.surface, mode=mode)
            index = trip.terrain_index(study_trip.surface.demand_cell)
        built[mode] = (trip, index)
        return trip, index, used


_CONTEXTS: dict[str, _Context] = {}
#: a worker running several tasks at once (``--nthreads``) loads its inputs and its surface once
_LOADING = threading.RLock()


def _context(settings, token: str, use_cache: bool) -> _Context:
    with _LOADING:
        return _CONTEXTS[token] if token in _CONTEXTS else _load_context(settings, token, use_cache)


def _load_context(settings, token: str, use_cache: bool) -> _Context:
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
        study,
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


@njit(cache=True, nogil=True)
def _reach(point, start, count, fx, fy, cx, cy, seen):
    far2 = 0.0
    for i in range(start.size):
        for k in range(start[i], start[i] + count[i]):
            p = point[k]
            seen[p] = True
            dx = cx[p] - fx[i]
            dy = cy[p] - fy[i]
            d = dx * dx + dy * dy
            if d > far2:
                far2 = d
    return far2


def reach(pairs, fx, fy, cx, cy) -> tuple[np.ndarray, float]:
    """The demand points ``pairs`` reach (sorted positions) and its farthest pair in km, in one pass over the pairs
    (a sort of the tens of millions of pairs of an off-road partition took longer than their search).

    ``pairs`` (:class:`geoaccess.paths.Pairs`): block ``i`` belongs to the facility at ``(fx[i], fy[i])``; ``cx, cy``
    are the demand points' coordinates, in metres."""
    seen = np.zeros(np.asarray(cx).size, dtype=np.bool_)
    far2 = _reach(
        pairs.point, np.asarray(pairs.start, dtype=np.int64), np.asarray(pairs.count, dtype=np.int64),
        np.ascontiguousarray(fx, dtype=np.float64), np.ascontiguousarray(fy, dtype=np.float64),
        np.ascontiguousarray(cx, dtype=np.float64), np.ascontiguousarray(cy, dtype=np.float64), seen,
    )  # fmt: skip
    return np.flatnonzero(seen), float(np.sqrt(far2)) / 1000.0


def partition_pairs(settings, token, use_cache, key, positions, cut, mode="road", cells=None, period=None) -> dict:
    """One partition's OD blocks: the pairs of the facilities at ``positions`` (a pure function of its arguments).

    ``mode`` "mixed" or "walk_only": the off-road trips over the study's friction surface, from the facilities'
    grid ``cells``, as :class:`geoaccess.measures.ODPool` searches them in one process. ``period`` (a name of
    ``settings.periods``): the trips at that period's road speeds (walking ones are the same at every period).

    Returns the pairs (:class:`geoaccess.paths.Pairs`, blocks in ``positions`` order) and what the partition
    used: seconds, cells reached, cells reached outside its own counties (the halo), the farthest pair in km
    (and off-road, on the task that loaded it, where the surface came from: "cache" or "built").
    """
    t0 = time.perf_counter()
    ctx = _context(settings, token, use_cache)
    trip, index, used = ctx.searches(mode, period)
    t_load = time.perf_counter() - t0
    _fault()
    t1 = time.perf_counter()
    if mode == "road":
        pairs = trip.pairs(ctx.facility_snap[positions], index, cut)
    else:
        pairs = trip.pairs(ctx.facility_snap[positions], index, cut, fcells=np.asarray(cells))
    seconds = time.perf_counter() - t1
    cells, far_km = reach(pairs, ctx.fac_xy[0][positions], ctx.fac_xy[1][positions], *ctx.cell_xy)
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = ""
    return {
        "partition": key,
        "mode": mode,
        "pairs": pairs,
        "facilities": len(positions),
        "pairs_kept": int(len(pairs)),
        "cells_reached": int(cells.size),
        "halo_cells": int((ctx.cell_part[cells] != key).sum()),
        "halo_min": float(np.max(cut)) if len(cut) else 0.0,
        "farthest_pair_km": far_km,
        "load_s": round(t_load, 3),
        "search_s": round(seconds, 3),
        "task_s": round(time.perf_counter() - t0, 3),  # the whole task on its worker: load, search, halo
        "worker": worker,
        "worker_peak_gb": round(_peak_rss_gb(), 3),
        **used,
    }


# -- the client side -----------------------------------------------------------------------------------------------


class _Remote:
    """An OD pool's remote search (:attr:`geoaccess.measures.ODPool.remote`): one task per partition, for the pool's
    way of travel ``mode``; ``speed_kmh`` and ``margin_km`` give its halo (:func:`halo_km`). ``stats`` (a list shared
    by the pools of one run) gets one row per task. ``period``: the pools of that ``[travel.periods]`` period's study
    (``study`` is the study it belongs to, whose inputs the workers hold: they scale its roads themselves)."""

    def __init__(self, client, study, fac_part: np.ndarray, speed_kmh: float, stats: list, mode: str = "road",
                 margin_km: float = 0.0, period: str | None = None):  # fmt: skip
        self.client, self.study, self.fac_part, self.speed_kmh = client, study, fac_part, speed_kmh
        self.mode, self.margin_km, self.period = mode, margin_km, period
        self.token = _inputs_token(study)
        self.stats = stats

    def __call__(self, facility_snap, pos, cut, dest, cells=None):
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
                self.mode,
                None if cells is None else np.asarray(cells)[sel],
                self.period,
                # a period's tasks are other tasks: the scheduler must not hand back the study's own pairs
                key=f"geoaccess-pairs-{self.mode}-{f'{self.period}-' if self.period else ''}{key}-{self.token}",
                retries=RETRIES,
            )
            futures[fut] = (key, sel)
        log.info("OD (%s%s): %d partitions submitted (%s facilities)", self.mode, self._at(), len(futures),
                 f"{pos.size:,}")  # fmt: skip
        t0 = time.perf_counter()
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
            got["done_s"] = round(time.perf_counter() - t0, 3)  # from submission until gathered on the client
            got["halo_km"] = round(halo_km(got["halo_min"], self.speed_kmh, self.margin_km), 3)
            got["top_speed_kmh"] = round(self.speed_kmh, 3)
            self.stats.append(got)
            log.info(
                "partition %s (%s%s): %s facilities, %s pairs, %s cells reached (%s in the halo) in %.1f s on %s",
                key,
                self.mode,
                self._at(),
                f"{got['facilities']:,}",
                f"{got['pairs_kept']:,}",
                f"{got['cells_reached']:,}",
                f"{got['halo_cells']:,}",
                got["search_s"],
                got["worker"],
            )
            del pairs
        return Pairs(start, count, dest._origin, dest._minutes)

    def _at(self) -> str:
        return f", period {self.period}" if self.period else ""


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


#: the ways of travel, in the order partitions.csv lists them
_MODES = ("road", "mixed", "walk_only")


def _mode_order(col: pd.Series) -> pd.Series:
    return col.map(_MODES.index) if col.name == "mode" else col


def compute(study, client):
    """:meth:`geoaccess.study.Study.compute` with the OD blocks searched per partition on ``client``, and with
    ``[travel.periods]`` each period's too (:meth:`geoaccess.study.Study.period_study`), on the same cluster.

    Off-road tiers (``[travel]`` mixed / walk_only) are searched on the client over the whole surface, as in one
    process; their OD blocks, like the road ones, per partition (one task per partition and way of travel).

    Returns the :class:`~geoaccess.study.Result` with ``partitions`` (one row per partition and way of travel
    (``mode``): counties, facilities, pairs, halo, seconds, worker and its peak memory; off-road, on the rows of the
    tasks that loaded it, where the worker's surface came from), and with periods ``periods``: a result per period,
    each with its own ``partitions``.
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
    result = _compute_at(study, client, fac_part, county_part)
    if s.periods:
        # one period after another, each partitioned as the study: the workers keep the study's inputs and surface,
        # and scale the roads of one period at a time
        result.periods = {}
        for k, name in enumerate(s.periods, 1):
            t1 = time.perf_counter()
            log.info("period %s (%d of %d): partitioned as the study", name, k, len(s.periods))
            result.periods[name] = _compute_at(study.period_study(name), client, fac_part, county_part, study, name)
            result.timings[f"period_{name}"] = time.perf_counter() - t1
            log.info("period %s: %.1f s", name, result.timings[f"period_{name}"])
    result.timings["partitioned_total"] = time.perf_counter() - t0
    return result


def _compute_at(study, client, fac_part, county_part, owner=None, period: str | None = None):
    """One :meth:`~geoaccess.study.Study.compute` with its OD pools searched on ``client``; ``owner`` and ``period``:
    ``study`` is that period's study of ``owner`` (the workers load ``owner``'s inputs and scale its roads)."""
    s = study.settings
    inp = study.load()
    speed = top_speed_kmh(inp.network, s.walk_kmh)  # a period's own: a factor above 1 widens the halo
    # the ways of travel whose OD blocks the measures read (Study._measures: the 2SFCA family's, each tier's own)
    modes = sorted({s.travel.mode, *(s.tier_mode(t) for t in s.tiers)}, key=_MODES.index)
    stats: list[dict] = []
    pools = {}
    remote = dict(client=client, study=owner or study, fac_part=fac_part, stats=stats, period=period)
    for mode in modes:
        if mode == "road":
            pools[mode] = study.od_pool(inp)
            pools[mode].remote = _Remote(speed_kmh=speed, **remote)
            continue
        # the surface: read from the cache, or built here and stored at once, before Study.compute sends the first
        # off-road task (it searches their blocks beside the tier searches): the workers read it from the cache
        surface = study.terrain()
        study.store_terrain()
        fast = max(speed, surface_speed_kmh(surface))
        pools[mode] = study.od_pool(inp, mode)
        pools[mode].remote = _Remote(speed_kmh=fast, mode=mode, margin_km=cell_margin_km(surface), **remote)
    try:
        result = study.compute()
    finally:
        for pool in pools.values():
            pool.remote = None
    stats = pd.DataFrame(stats)
    keys, n_cty = np.unique(county_part.astype(str), return_counts=True)
    counts = pd.DataFrame({"partition": keys, "counties": n_cty})
    table = counts.merge(stats, on="partition", how="outer") if len(stats) else counts
    # a partition without facilities (e.g. no facility file rows in its counties) had no task
    for col in ("counties", "facilities", "pairs_kept", "cells_reached", "halo_cells"):
        if col in table.columns:
            table[col] = table[col].fillna(0).astype(np.int64)
    table["top_speed_kmh"] = table["top_speed_kmh"].fillna(round(speed, 3)) if len(stats) else round(speed, 3)
    if "mode" in table.columns:  # one row per partition and way of travel, in a fixed order
        table["mode"] = table["mode"].fillna(modes[0])
        table = table.sort_values(["partition", "mode"], key=_mode_order, kind="stable")
    else:
        table = table.sort_values("partition", kind="stable")
    result.partitions = table.reset_index(drop=True)
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
