"""Running a scenario: :func:`whatif` applies it to a :class:`~geoaccess.scenarios.baseline.Baseline`,
recomputes what it changes, scores it as the baseline is scored and compares the two (:func:`compare_tables`).

* a tier that only *gains* facilities is updated incrementally: one search from the new facilities'
  seeds, bounded by the baseline's largest finite node minutes (nothing farther can improve), merged by
  element-wise minimum with the baseline. This equals a full recompute exactly, because the nearest
  distance to a set of sources is the minimum of the distances to its parts and every step in between
  (adding arc minutes, walking legs) is monotone in floating point;
* a tier that loses a facility (removed, moved away, downgraded) searches again only where it served;
* a road edit rebuilds the network's arrays and recomputes every tier.

Tiers that travel off-road (``mixed``, ``walk_only``, and the ``compare_walk_only`` twins) are updated the same way
over the study's terrain (:mod:`geoaccess.scenarios.offroad`). Road speed edits on such a study recompute every tier
travelling by road or mixed over the same surface (the links and so the road points stay), carrying over the OD blocks
no edit can reach. Added roads join the surface first (:func:`geoaccess.load.terrain.with_added_roads`: their road
points, and their cells made walkable, a bridge where they cross a river), every tier travelling by road or mixed is
recomputed over it (a new road changes minutes far away), and the mixed OD pools are built again over it. Tiers
walking only never read the roads: recomputed when a new road made some cell walkable or faster, else they take the
facility edits alone (their road node minutes searched again on the edited network).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geoaccess.errors import InputError
from geoaccess.measures import TierResult, nearest_facility, serving_mask
from geoaccess.network import Network
from geoaccess.scenarios import offroad
from geoaccess.scenarios.apply import (
    add_sources,
    apply_facilities,
    apply_roads,
    edited_pool,
    onto_new_links,
    remove_sources,
)
from geoaccess.scenarios.baseline import Baseline
from geoaccess.scenarios.edits import Scenario, load_scenario, make_scenario
from geoaccess.study import Result, Study, add_walk_only_share
from geoaccess.trip import Trip

log = logging.getLogger(__name__)


# -- results ---------------------------------------------------------------------------------------------
@dataclass
class ScenarioResult:
    """A scenario's results, shaped like the baseline's: the county table and per-tier minutes per cell."""

    name: str
    scenario: Scenario
    counties: pd.DataFrame
    tiers: dict[str, TierResult]
    facilities: gpd.GeoDataFrame  # baseline rows (same positions) then added rows; ``active`` and ``change``
    network: Network
    people: np.ndarray
    county: np.ndarray
    tier_settings: tuple
    recompute: dict[str, str]  # per tier: "reused", "incremental" or "full"
    timings: dict[str, float]
    walk_only: dict[str, TierResult] | None = None  # [travel] compare_walk_only: per tier, minutes on foot only
    output: Path | None = None
    files: list[Path] = field(default_factory=list)
    baseline: Baseline | None = field(default=None, repr=False, compare=False)  # what it was applied to

    def facility_table(self) -> pd.DataFrame:
        """The scenario's facilities as a facility input table (``id``, ``name``, ``tier``, ``beds``, ``lon``, ``lat``
        and ``type`` when the study has one): saved as CSV and named in ``[inputs] facilities``, a study of it gives
        the scenario's results from scratch."""
        fac = self.facilities[self.facilities["active"]]
        table = pd.DataFrame({"id": fac["id"], "name": fac["name"], "tier": fac["tier"], "beds": fac["beds"],
                              "lon": fac.geometry.x, "lat": fac.geometry.y})  # fmt: skip
        if "type" in fac:
            table["type"] = fac["type"].fillna("")
        return table.reset_index(drop=True)

    def compare(self, base) -> pd.DataFrame:
        """Per county and tier: people newly within reach (and no longer), shares, median minutes, status, zone."""
        return compare_tables(base, self)

    def map(self, title: str = ""):
        """The change map (gains green, losses red, changed facilities and roads) as an inline :class:`folium.Map`,
        the same map as the scenario's ``compare_map.html``, for a notebook."""
        from geoaccess.outputs.compare import scenario_map
        from geoaccess.study import map_context

        if self.baseline is None:
            raise InputError("this scenario result has no baseline to compare with: make it with geoaccess.whatif")
        inp = self.baseline.inputs
        ctx = map_context(self.baseline.settings, inp.counties["county_code"])
        return scenario_map(
            self, self.baseline.result, counties=inp.counties, population=inp.population, title=title, ctx=ctx,
            network_before=inp.network,
        )  # fmt: skip


# -- run -------------------------------------------------------------------------------------------------
def baseline_of(study: Study | Baseline, base: Result | Baseline | None = None) -> Baseline:
    """The :class:`Baseline` to apply scenarios to: ``study``'s own (made once and kept), or ``base`` given."""
    if isinstance(study, Baseline):
        if base is None or base is study:
            return study
        study = study.study
    return Baseline.of(study, base)


def whatif(
    study: Study | Baseline,
    scenario: Scenario | str | Path | None = None,
    *,
    base: Result | Baseline | None = None,
    full: bool = False,
    write: bool = False,
    **edits,
) -> ScenarioResult:
    """Apply a scenario (a :class:`Scenario`, a TOML path, or keyword edits) to a study's baseline.

    ``study`` is a :class:`~geoaccess.study.Study` (its baseline is made once and kept) or a :class:`Baseline`;
    ``base`` (the study's own ``run()`` result) replaces the kept baseline. ``full=True`` recomputes every tier
    from scratch instead of incrementally (for checking). ``write=True`` also writes the scenario's
    ``compare.csv`` / ``compare.html`` under ``<output>/scenarios/<name>/``.
    """
    if scenario is None:
        name = edits.pop("name", "scenario")
        scenario = make_scenario(name, **edits)
    elif isinstance(scenario, (str, Path)):
        if edits:
            raise InputError("pass either a scenario file or keyword edits, not both")
        scenario = load_scenario(scenario)
    elif edits:
        raise InputError("pass either a scenario or keyword edits, not both")
    t0 = time.perf_counter()
    base = baseline_of(study, base)
    try:
        result = _apply(base, scenario, full, t0)
    finally:
        base.study.release_grids()
    if write:
        from geoaccess.scenarios.write import write_scenario

        write_scenario(base, result)
    return result


def _apply(base: Baseline, scenario: Scenario, full: bool, t0: float) -> ScenarioResult:
    s = base.settings
    inp = base.inputs
    timings = {"baseline": time.perf_counter() - t0}
    t1 = time.perf_counter()
    errors = []  # facility and road edits are both checked, so every problem is reported at once
    net, pool = inp.network, None
    try:
        fac, snap, changed = apply_facilities(s, inp, scenario)
    except InputError as err:
        errors.append(err)
    if scenario.touches_roads:
        try:
            net = apply_roads(inp, scenario)
        except InputError as err:
            errors.append(err)
    if errors:
        problems = [p for err in errors for p in (err.problems or [str(err)])]
        raise InputError(f"scenario {scenario.name!r} cannot be applied", path=errors[0].path, problems=problems)
    if scenario.touches_roads:
        # people and facilities beside a new road now reach it directly, as a fresh study would snap them
        to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
        pop = inp.population
        inp = replace(
            inp,
            demand_snap=onto_new_links(net, inp.network.n_links, *to_m.transform(pop.lon, pop.lat), inp.demand_snap),
        )
        snap = onto_new_links(
            net, inp.network.n_links, *to_m.transform(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()), snap
        )
    timings["edits"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    to_facility = s.direction == "to_facility"
    old_ranks = inp.facilities["tier_rank"].to_numpy()
    n_old = len(old_ranks)
    new_ranks = fac["tier_rank"].to_numpy()
    active = fac["active"].to_numpy()
    # off-road tiers: the edited facilities' cells on the study's terrain; the surface itself stays as it is but for
    # added roads (their road points, and the cells they make walkable: load.terrain.with_added_roads)
    surface = fcells = None
    if s.uses_terrain or s.travel.mode != "road":
        surface = base.study.terrain()
        fcells = base.study.facility_cells(fac)
        if net.n_links > inp.network.n_links:
            from geoaccess.load.terrain import with_added_roads

            surface = with_added_roads(
                surface, net, inp.network, walk_kmh=s.walk_kmh, no_entry=s.travel.no_entry,
                area=inp.counties.to_crs(net.crs).geometry.to_numpy(),
            )  # fmt: skip
    # the ground walked on is the baseline's (no added road made a cell walkable): walking only never changes
    same_ground = surface is None or surface.friction is base.study.terrain().friction
    if scenario.touches_roads:
        # OD blocks the edits cannot reach are kept (``full``: none are)
        edited_inp = replace(inp, network=net)
        if full:
            pool = base.od_pool(edited_inp)
            if surface is not None:
                modes = {s.tier_mode(t) for t in s.tiers} | {s.travel.mode}
                pool = {"road": pool} | {
                    m: base.study.od_pool(edited_inp, m, surface=surface) for m in sorted(modes - {"road"})
                }
        else:
            pool = edited_pool(base, net, inp.demand_snap, surface=surface)
    timings["edits"] = time.perf_counter() - t1
    walk_base = base.result.walk_only if s.travel.compare_walk_only else None
    if s.travel.compare_walk_only and walk_base is None:
        raise InputError("the baseline result lacks its walking-only minutes ([travel] compare_walk_only); pass the "
                         "study's own run() result, or none")  # fmt: skip
    tiers, how, walked = {}, {}, {}
    jobs = [(tier, s.tier_mode(tier), base.tiers[tier.name], tiers) for tier in s.tiers]
    if walk_base is not None:  # the walking-only twins of the tiers that do not walk only already
        jobs += [
            (tier, "walk_only", walk_base[tier.name], walked) for tier in s.tiers if s.tier_mode(tier) != "walk_only"
        ]
    for tier, mode, r, into in jobs:
        i = s.tier_names.index(tier.name)
        old = np.zeros(len(fac), dtype=bool)
        old[:n_old] = serving_mask(old_ranks, i, s.serve_lower_tiers)
        new = serving_mask(new_ranks, i, s.serve_lower_tiers) & active
        lost = old & (~new | changed)
        gained = new & (~old | changed)
        # walking only over the same ground: the road edits change nothing but its road node minutes (below)
        walk_same = scenario.touches_roads and mode == "walk_only" and same_ground and not full
        roads = scenario.touches_roads and not walk_same
        trip = None if mode == "road" else Trip(net, s.walk_kmh, to_facility, surface=surface, mode=mode)
        if not (full or roads) and not lost.any() and not gained.any():
            into[tier.name], state = r, "reused"
        elif not (full or roads):
            if lost.any():
                keep = np.flatnonzero(old & ~lost)
                if trip is None:
                    r = remove_sources(
                        net, r, snap, inp.demand_snap, np.flatnonzero(lost), keep, to_facility, s.walk_kmh
                    )
                else:
                    r = offroad.remove_sources(trip, r, snap, fcells, np.flatnonzero(lost), keep)
            if gained.any():
                if trip is None:
                    r = add_sources(net, r, snap, inp.demand_snap, np.flatnonzero(gained), to_facility, s.walk_kmh)
                else:
                    r = offroad.add_sources(trip, r, snap, fcells, np.flatnonzero(gained), np.flatnonzero(old & ~lost))
            into[tier.name], state = r, "incremental"
        else:
            into[tier.name] = nearest_facility(
                net, snap, inp.demand_snap, new, to_facility=to_facility, walk_kmh=s.walk_kmh, tier=tier.name,
                mode=mode, surface=None if trip is None else offroad.edited_surface(surface, fcells),
            )  # fmt: skip
            state = "full"
        if walk_same:
            # a walk_only tier's result also holds road node minutes (as nearest_facility searches them; the updates
            # above mix the baseline's with the edited network's): searched again on the edited network, as a fresh
            # study's
            into[tier.name] = replace(into[tier.name], **_road_nodes(net, snap, new, to_facility, s.walk_kmh))
        if into is tiers:
            how[tier.name] = state
    walk_only = None
    if walk_base is not None:  # a walk_only tier is its own walking-only result
        walk_only = {t.name: walked.get(t.name, tiers[t.name]) for t in s.tiers}
    timings["paths"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    pop = inp.population
    table = _score(base, inp, fac, snap, net, tiers, pool, fcells)
    if walk_only is not None:
        add_walk_only_share(table, pop, walk_only, s.tiers)
    timings["scoring"] = time.perf_counter() - t3
    # the scenario's own time: the baseline is computed once and reused by every scenario
    timings["total"] = time.perf_counter() - t1
    log.info("scenario %s: %s in %.3f s", scenario.name, how, timings["total"])
    return ScenarioResult(
        scenario.name, scenario, table, tiers, fac, net, pop.people, pop.county, s.tiers, how, timings,
        walk_only=walk_only, baseline=base,
    )  # fmt: skip


def _road_nodes(net: Network, snap, serving: np.ndarray, to_facility: bool, walk_kmh: float) -> dict:
    """A tier's road node minutes and facility on ``net``, as :func:`~geoaccess.measures.nearest_facility` has
    them."""
    pos = np.flatnonzero(serving)
    if pos.size == 0:
        return {"node_minutes": np.full(net.n_nodes, np.inf), "node_facility": np.full(net.n_nodes, -1)}
    node_min, node_lab = Trip(net, walk_kmh, to_facility).search(snap[pos])
    return {"node_minutes": node_min, "node_facility": np.where(node_lab >= 0, pos[np.maximum(node_lab, 0)], -1)}


def _score(base: Baseline, inp, fac, snap, net, tiers, pool=None, fcells=None) -> pd.DataFrame:
    """The scenario's county table through the study's own measures and scoring (same columns, same rules).

    Closed facilities are dropped for the measures; the tier results' facility positions are mapped onto the
    remaining rows.
    """
    keep = np.flatnonzero(fac["active"].to_numpy())
    if keep.size == len(fac):
        mapped = tiers  # nothing closed: the positions are the same
    else:
        remap = np.full(len(fac) + 1, -1, dtype=np.int64)  # last slot maps -1 to -1
        remap[keep] = np.arange(keep.size)
        # scoring reads each cell's minutes and facility, never the nodes': the node labels (a pass over every road
        # node per tier) are left out of these scoring-only copies, empty so that a use would fail, not mislead
        none = np.empty(0, dtype=np.int64)
        mapped = {k: replace(r, facility=remap[r.facility], node_facility=none) for k, r in tiers.items()}
    edited = replace(
        inp,
        facilities=fac.iloc[keep].reset_index(drop=True),
        facility_snap=snap[keep],
        network=net,
    )
    cells = None if fcells is None else fcells[keep]
    return base.study.score(edited, mapped, od_pool=pool, base=base.result, facility_cells=cells).counties


# -- compare -------------------------------------------------------------------------------------------
def compare_tables(base: Result | Baseline, after: ScenarioResult) -> pd.DataFrame:
    """Long table, one row per county and tier, of what the scenario changes."""
    people, county = after.people, after.county
    b, a = base.counties, after.counties
    n = len(a)
    rows = []
    for t in after.tier_settings:
        mb, ma = base.tiers[t.name].minutes, after.tiers[t.name].minutes
        if mb.shape != ma.shape:
            raise InputError("the baseline and the scenario come from different studies; compare like with like")
        # only cells whose minutes changed add anything to these sums (the others add zeros, which leave a sum
        # exactly as it is), so a what-if that moves a few cells of a province sums those cells alone
        sel = np.flatnonzero(ma != mb)
        mb, ma, pc, cc = mb[sel], ma[sel], people[sel], county[sel]
        wb, wa = mb <= t.threshold_min, ma <= t.threshold_min
        gained = np.bincount(cc, weights=pc * (wa & ~wb), minlength=n)
        lost = np.bincount(cc, weights=pc * (wb & ~wa), minlength=n)
        with np.errstate(invalid="ignore"):
            d = np.where(np.isfinite(ma) & np.isfinite(mb), ma - mb, np.nan)
            faster = np.bincount(cc, weights=pc * (ma < mb), minlength=n)
            slower = np.bincount(cc, weights=pc * (ma > mb), minlength=n)
        saved = np.bincount(cc, weights=np.nan_to_num(pc * -d), minlength=n)
        rows.append(
            pd.DataFrame(
                {
                    "county_code": a["county_code"],
                    "county_name": a["county_name"],
                    "tier": t.name,
                    "threshold_min": t.threshold_min,
                    "population": a["population"],
                    "people_newly_within": gained,
                    "people_no_longer_within": lost,
                    "people_within_change": gained - lost,
                    "share_within_before": b[f"{t.name}_share_within"].to_numpy(),
                    "share_within_after": a[f"{t.name}_share_within"].to_numpy(),
                    "share_within_change": (a[f"{t.name}_share_within"] - b[f"{t.name}_share_within"]).to_numpy(),
                    "median_min_before": b[f"{t.name}_median_min"].to_numpy(),
                    "median_min_after": a[f"{t.name}_median_min"].to_numpy(),
                    "median_min_change": (a[f"{t.name}_median_min"] - b[f"{t.name}_median_min"]).to_numpy(),
                    "people_faster": faster,
                    "people_slower": slower,
                    "person_minutes_saved": saved,
                    "status_before": b[f"{t.name}_status"].to_numpy(),
                    "status_after": a[f"{t.name}_status"].to_numpy(),
                    "zone_before": b["zone"].to_numpy(),
                    "zone_after": a["zone"].to_numpy(),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out["status_changed"] = out["status_before"] != out["status_after"]
    out["zone_changed"] = out["zone_before"] != out["zone_after"]
    return out
