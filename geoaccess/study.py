"""A study run end to end: load -> network -> paths -> measures -> scoring -> outputs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from tqdm.auto import tqdm

from geoaccess import config as _config
from geoaccess.load import builtin_counties, read_counties
from geoaccess.load.facilities import read_facilities
from geoaccess.load.population import Population, read_population
from geoaccess.load.roads import read_roads, utm_crs
from geoaccess.measures import TierResult, nearest_facility, serving_mask
from geoaccess.network import Network, Snap
from geoaccess.outputs._atomic import atomic_path
from geoaccess.outputs.index import write_index
from geoaccess.outputs.maps import tier_map
from geoaccess.outputs.rasters import minutes_grid, write_surface
from geoaccess.scoring import score_counties

log = logging.getLogger(__name__)

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


@dataclass
class Result:
    """A run's results: the county table, per-tier minutes per population cell, and where outputs went."""

    counties: pd.DataFrame
    tiers: dict[str, TierResult]
    output: Path | None
    timings: dict[str, float]
    files: list[Path] = field(default_factory=list)


class Study:
    """A study: its settings (from a TOML file) and, once loaded, its inputs."""

    def __init__(self, settings: _config.Study):
        self.settings = settings
        self._inputs: Inputs | None = None

    @classmethod
    def from_file(cls, path: str | Path, output_root: str | Path | None = None) -> Study:
        return cls(_config.load_study(path, output_root=output_root))

    # -- load ---------------------------------------------------------------------------------------
    def load(self) -> Inputs:
        """Read and check every input once; later runs reuse them."""
        if self._inputs is not None:
            return self._inputs
        s = self.settings
        t0 = time.perf_counter()
        if "adcode" in s.counties:
            counties = builtin_counties(str(s.counties["adcode"]))
        else:
            counties = read_counties(
                s.counties["path"], s.counties.get("code_field", "code"), s.counties.get("name_field", "name")
            )
        log.info("counties: %d units", len(counties))
        facilities = read_facilities(s.facilities, s.tier_names)
        log.info("facilities: %d (%s)", len(facilities), facilities["tier"].value_counts().to_dict())
        population = read_population(s.population, counties)
        log.info("population: %s cells, %s people", f"{len(population):,}", f"{population.people.sum():,.0f}")
        c = counties.union_all().centroid
        crs = utm_crs(c.x, c.y)
        network = read_roads(s.roads, profile=s.profile, crs=crs)
        to_m = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
        fx, fy = to_m.transform(facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
        facility_snap = network.snap(fx, fy)
        px, py = to_m.transform(population.lon, population.lat)
        demand_snap = network.snap(px, py)
        warnings = list(getattr(network, "report", None).warnings if hasattr(network, "report") else [])
        far = np.flatnonzero(facility_snap.offroad_m > FAR_FROM_ROAD_M)
        if far.size:
            ids = ", ".join(facilities["id"].iloc[far[:10]])
            warnings.append(
                f"{far.size} facilities are more than {FAR_FROM_ROAD_M:.0f} m from any road (e.g. {ids}); "
                "their walking leg is counted, but check their coordinates"
            )
        for w in warnings:
            log.warning(w)
        log.info("loaded and snapped in %.1f s", time.perf_counter() - t0)
        self._inputs = Inputs(counties, facilities, population, network, facility_snap, demand_snap, warnings)
        return self._inputs

    # -- run ----------------------------------------------------------------------------------------
    def compute(self) -> Result:
        """Minutes per tier for every population cell, and the county table; writes nothing."""
        s = self.settings
        timings = {}
        t0 = time.perf_counter()
        inp = self.load()
        timings["load"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        ranks = inp.facilities["tier_rank"].to_numpy()
        results = {}
        for i, tier in enumerate(tqdm(s.tiers, desc="tiers", unit="tier", disable=None)):
            serving = serving_mask(ranks, i, s.serve_lower_tiers)
            results[tier.name] = nearest_facility(
                inp.network,
                inp.facility_snap,
                inp.demand_snap,
                serving,
                to_facility=s.direction == "to_facility",
                walk_kmh=s.walk_kmh,
                tier=tier.name,
            )
            log.info("tier %s: %d facilities", tier.name, int(serving.sum()))
        timings["paths"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        pop = inp.population
        table = score_counties(
            inp.counties, pop.people, pop.county, {k: r.minutes for k, r in results.items()}, s.tiers
        )
        timings["scoring"] = time.perf_counter() - t2
        return Result(table, results, None, timings)

    def run(self, write: bool = True) -> Result:
        """Compute and write the bundle to the study's output folder."""
        result = self.compute()
        if write:
            t3 = time.perf_counter()
            result.files = self.write(result)
            result.output = self.settings.output
            result.timings["outputs"] = time.perf_counter() - t3
        log.info("timings: %s", {k: round(v, 2) for k, v in result.timings.items()})
        return result

    def write(self, result: Result) -> list[Path]:
        s = self.settings
        inp = self.load()
        out = Path(s.output)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        with atomic_path(out / "counties.csv") as tmp:
            result.counties.to_csv(tmp, index=False, encoding="utf-8", float_format="%.4f")
        files.append(out / "counties.csv")
        note = synthetic_note(s)
        pop = inp.population
        maps = {}
        ranks = inp.facilities["tier_rank"].to_numpy()
        for i, tier in enumerate(tqdm(s.tiers, desc="maps", unit="map", disable=None)):
            r = result.tiers[tier.name]
            grid = minutes_grid(pop.shape, pop.row, pop.col, r.minutes)
            tags = {"tier": tier.name, "threshold_min": tier.threshold_min, "study": s.name}
            if s.synthetic:
                tags["SYNTHETIC"] = "yes"
                tags["NOTE"] = note
            files.append(write_surface(out / f"travel_time_{tier.name}.tif", grid, pop.transform, pop.crs, tags))
            served = np.bincount(
                r.facility[r.facility >= 0], weights=pop.people[r.facility >= 0], minlength=len(inp.facilities)
            )
            name = f"map_{tier.name}.html"
            tier_map(
                out / name,
                tier=tier,
                counties=inp.counties,
                table=result.counties,
                facilities=inp.facilities,
                serving=serving_mask(ranks, i, s.serve_lower_tiers),
                served_people=served,
                grid=grid,
                transform=pop.transform,
                crs=pop.crs,
                title=f"{s.title}: {tier.name}",
                synthetic_note=note,
            )
            maps[f"{tier.name} care: travel time, facilities, county status"] = name
            files.append(out / name)
        files.append(
            write_index(
                out / "index.html",
                title=s.title,
                table=result.counties,
                tiers=s.tiers,
                maps=maps,
                settings=s.settings(),
                synthetic_note=note,
                extra_links={"county table (CSV)": "counties.csv"},
            )
        )
        log.info("wrote %d files to %s", len(files), out)
        return files

    # -- what-if and placement (geoaccess.scenarios) ----------------------------------------------------
    def whatif(self, scenario=None, *, base: Result | None = None, write: bool = False, **edits):
        """Apply a scenario (TOML path, :class:`~geoaccess.scenarios.Scenario` or keyword edits) to the baseline.

        Returns a :class:`~geoaccess.scenarios.ScenarioResult`; ``write=True`` also writes its
        ``compare.csv`` / ``compare.html`` under ``<output>/scenarios/<name>/``.
        """
        from geoaccess import scenarios

        result = scenarios.whatif(self, scenario, base=base, **edits)
        if write:
            scenarios.write_scenario(self, result, scenarios.baseline(self))
        return result

    def optimize(self, tier: str, k: int, objective: str = "coverage", *, write: bool = False, **options):
        """Choose ``k`` sites for ``tier`` care (``objective`` "coverage" or "median"); see ``scenarios.place``."""
        from geoaccess import scenarios

        placement = scenarios.place(self, tier, k, objective, **options)
        if write:
            scenarios.write_placement(self, placement, scenarios.baseline(self))
        return placement


def synthetic_note(s: _config.Study) -> str:
    if not s.synthetic:
        return ""
    return s.note or "SYNTHETIC DATA: inputs of this study are generated, not real."
