"""Placement: choose ``k`` sites (new ones, or upgrades of existing facilities) for a tier of care, then
evaluate the picks exactly as a what-if scenario against the study's :class:`~geoaccess.scenarios.Baseline`.

The solvers (maximal covering, p-median) are in :mod:`geoaccess.optimize`; this module builds their cost
matrix from the study (candidate sites x demand units) and writes the picks' bundle.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from geoaccess.errors import InputError
from geoaccess.network import Snap
from geoaccess.optimize import mclp, pmedian
from geoaccess.outputs import i18n
from geoaccess.outputs._atomic import output_lock, replace_folder, write_csv
from geoaccess.scenarios import Baseline, ScenarioResult, make_scenario, whatif
from geoaccess.scenarios.run import baseline_of
from geoaccess.scenarios.write import language, write_compare_pages
from geoaccess.study import Result, Study
from geoaccess.trip import Trip

log = logging.getLogger(__name__)

OBJECTIVES = ("coverage", "median")
DEFAULT_CANDIDATES = 300
# a placement grid is refused above this many points, before anything is allocated
MAX_GRID_POINTS = 1_000_000
# and the cost matrix (demand units x candidates, float64) above this many bytes
MAX_COST_BYTES = 2 * 1024**3


@dataclass
class Placement:
    """Chosen sites, the model's objective and the exact effect of adding them (as a scenario)."""

    tier: str
    objective: str
    k: int
    method: str
    sites: pd.DataFrame  # one row per pick, in pick order, with the exact cumulative effect
    candidates: pd.DataFrame
    model_value: float  # the solver's objective on the aggregated demand
    scenario: ScenarioResult
    compare: pd.DataFrame
    timings: dict[str, float]
    output: Path | None = None
    files: list[Path] = field(default_factory=list)
    source: str = "grid"  # where the candidates came from: grid, nodes, upgrades, or a file name
    zones: tuple[str, ...] = ()

    def map(self, title: str = ""):
        """The picks as added sites on the change map, an inline :class:`folium.Map` (see ``ScenarioResult.map``)."""
        return self.scenario.map(title)

    @property
    def folder(self) -> str:
        """The output folder's name: every choice that changes the answer is in it."""
        parts = [self.tier, self.objective, f"k{self.k}"]
        if self.source != "grid":
            parts.append(self.source)
        parts += list(self.zones)
        if self.method != "greedy":
            parts.append(self.method)
        return "-".join("".join(c if c.isalnum() or c in "_." else "_" for c in p) for p in parts)

    @property
    def people_newly_within(self) -> float:
        """People brought within the tier's threshold by all picks (exact, cell by cell)."""
        c = self.compare
        return float(c.loc[c["tier"] == self.tier, "people_newly_within"].sum())


def _demand_units(trip: Trip, snap: Snap, people, select):
    """Population cells (``select``) gathered into units: the link end a cell drives through and its leg.

    Cells whose legs differ by less than a minute at the same node become one unit (people summed, leg
    averaged), which keeps the cost matrix small; the picks are then evaluated exactly, cell by cell.
    """
    net = trip.net
    idx = np.flatnonzero(select)
    sub = snap[idx]
    walk = trip.walk_minutes(sub)
    _, part_u, _, part_v = trip.legs(sub)
    leg_u, leg_v = walk + part_u, walk + part_v
    link = sub.link
    use_v = leg_v < leg_u
    node = np.where(use_v, net.link_v[link], net.link_u[link])
    leg = np.where(use_v, leg_v, leg_u)
    ok = np.isfinite(leg)
    idx, node, leg = idx[ok], node[ok], leg[ok]
    key = node.astype(np.int64) * 10_000 + np.minimum(leg, 9_999).astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    w = np.bincount(inv, weights=people[idx])
    mean_leg = np.bincount(inv, weights=people[idx] * leg) / np.where(w > 0, w, 1)
    return uniq // 10_000, mean_leg, w, inv, idx


def _terrain_units(surface, select, people, cells):
    """Population cells (``select``) gathered by the terrain cell they lie in, for an off-road tier: ``(unit of each
    population cell (-1: none), people per unit, baseline minutes per unit)``. A terrain search reads every
    population cell of a grid cell at that cell, so a unit's minutes are its cells' to the bit."""
    dcell = surface.demand_cell
    idx = np.flatnonzero(select & (dcell >= 0))
    _, first, inv = np.unique(dcell[idx], return_index=True, return_inverse=True)
    w = np.bincount(inv, weights=people[idx], minlength=first.size)
    unit_of = np.full(len(people), -1, dtype=np.int64)
    unit_of[idx] = inv
    return unit_of, w, np.minimum(cells[idx[first]], 1e6)


def _terrain_cost(base: Baseline, mode: str, cand: pd.DataFrame, csnap: Snap, cutoff: float, unit_of, cost) -> None:
    """Fill ``cost`` (units x candidates) with each candidate's off-road minutes to the units within ``cutoff``: one
    bounded terrain OD search per candidate, through the study's OD pool of that trip (the pairs its measures read)."""
    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(cand["lon"], cand["lat"]), crs="EPSG:4326")
    ccells = base.study.facility_cells(pts)
    od = base.study.od_pool(mode=mode).blocks(csnap, np.full(len(cand), float(cutoff)), cells=ccells)
    for j in range(len(cand)):
        a, n = int(od.start[j]), int(od.length[j])
        unit = unit_of[od.origin[a : a + n]]
        ok = unit >= 0
        np.minimum.at(cost[:, j], unit[ok], od.minutes[a : a + n][ok])


def _candidate_points(base: Baseline, tier_index, candidates, zones, upgrades, spacing_km, max_candidates, select):
    """Candidate sites as a table with lon, lat (and ``id`` for upgrades of existing facilities).

    ``select``: the people the objective counts (for coverage, those not yet within reach); ``"nodes"``
    ranks junctions by how many of them reach the road network there.
    """
    s, inp = base.settings, base.inputs
    counties = inp.counties.to_crs("EPSG:4326")
    area_label = "the study area"
    if zones:
        known = {"priority", "enrich", "adjust"}
        bad = sorted(set(zones) - known)
        if bad:
            raise InputError(f"unknown zone(s) {bad}; zones are {sorted(known)}")
        keep = base.counties["zone"].isin(zones).to_numpy()
        counties = counties[keep]
        area_label = f"counties in zone(s) {list(zones)}"
        if counties.empty:
            raise InputError(f"no county is in zone(s) {list(zones)} at baseline; nothing to place there")
    area = counties.union_all()
    to_m = pyproj.Transformer.from_crs("EPSG:4326", inp.network.crs, always_xy=True)
    to_ll = pyproj.Transformer.from_crs(inp.network.crs, "EPSG:4326", always_xy=True)
    if upgrades:
        f = inp.facilities
        sel = (f["tier_rank"].to_numpy() < tier_index) & area.covers(f.geometry.values)
        if upgrades is not True:  # facility types: only those may be upgraded
            sel &= _of_types(f, upgrades, area_label, sel)
        out = pd.DataFrame(
            {"id": f["id"][sel], "name": f["name"][sel], "lon": f.geometry.x[sel], "lat": f.geometry.y[sel]}
        )
    elif candidates is None or (isinstance(candidates, str) and candidates in ("grid", "nodes")):
        kind = candidates or "grid"
        if kind == "nodes":
            lon, lat = to_ll.transform(inp.network.x, inp.network.y)
            inside = area.covers(shapely.points(lon, lat))
            # settlement-like junctions: those the most people the objective counts drive through to reach the road
            trip = Trip(inp.network, s.walk_kmh, s.direction == "to_facility")
            units = _demand_units(trip, inp.demand_snap, inp.population.people, select)
            people_at = np.bincount(units[0], weights=units[2], minlength=inp.network.n_nodes)
            people_at[~inside] = 0
            top = np.argsort(-people_at, kind="stable")[:max_candidates]
            top = top[people_at[top] > 0]
            out = pd.DataFrame({"node": top, "lon": lon[top], "lat": lat[top]})
        else:
            b = counties.to_crs(inp.network.crs).total_bounds
            a_m = counties.to_crs(inp.network.crs).union_all()
            step = spacing_km * 1000.0 if spacing_km else max(np.sqrt(a_m.area / max_candidates), 500.0)
            _check_grid(b, step, area_label)
            gx, gy = np.meshgrid(np.arange(b[0] + step / 2, b[2], step), np.arange(b[1] + step / 2, b[3], step))
            gx, gy = gx.ravel(), gy.ravel()
            inside = a_m.covers(shapely.points(gx, gy))
            tree = cKDTree(np.column_stack([inp.network.x, inp.network.y]))
            d, j = tree.query(np.column_stack([gx[inside], gy[inside]]))
            # one candidate per grid cell: the junction nearest its centre, if the road network reaches it
            j = np.unique(j[d <= step / 2])
            lon, lat = to_ll.transform(inp.network.x[j], inp.network.y[j])
            out = pd.DataFrame({"node": j, "lon": lon, "lat": lat})
            out = out[area.covers(shapely.points(out["lon"], out["lat"]))]
    else:
        if isinstance(candidates, (str, Path)):
            p = Path(candidates)
            if not p.exists():
                raise InputError("candidates file not found", path=p)
            out = pd.read_csv(p, encoding="utf-8-sig")
            where = p
        else:
            out = pd.DataFrame(candidates)
            where = "candidates"
        missing = [c for c in ("lon", "lat") if c not in out.columns]
        if missing:
            raise InputError(f"candidates need columns lon and lat (missing {missing})", path=where)
        lon = pd.to_numeric(out["lon"], errors="coerce").to_numpy()
        lat = pd.to_numeric(out["lat"], errors="coerce").to_numpy()
        bad = ~np.isfinite(lon) | ~np.isfinite(lat)
        bad[~bad] = ~area.covers(shapely.points(lon[~bad], lat[~bad]))
        if bad.any():
            rows = [f"row {i + 1}: ({out['lon'].iat[i]}, {out['lat'].iat[i]})" for i in np.flatnonzero(bad)]
            raise InputError(
                f"{bad.sum()} candidate site(s) are not valid WGS84 points inside {area_label}",
                path=where,
                problems=rows,
            )
    out = out.reset_index(drop=True)
    if out.empty:
        raise InputError(f"no candidate sites inside {area_label}; pass candidates=... or a smaller spacing_km")
    x, y = to_m.transform(out["lon"].to_numpy(float), out["lat"].to_numpy(float))
    cty = counties.reset_index(drop=True)
    hit = cty.sindex.query(shapely.points(out["lon"], out["lat"]), predicate="within")
    out["county_code"] = ""
    out.loc[hit[0], "county_code"] = cty["county_code"].to_numpy()[hit[1]]
    return out, inp.network.snap(x, y)


def _check_grid(bounds_m, step: float, area_label: str) -> None:
    """Refuse a placement grid of more than :data:`MAX_GRID_POINTS` before any of it is allocated."""
    w, h = bounds_m[2] - bounds_m[0], bounds_m[3] - bounds_m[1]
    n_grid = np.ceil(w / step) * np.ceil(h / step)
    if n_grid > MAX_GRID_POINTS:
        fits = np.sqrt(w * h / MAX_GRID_POINTS) / 1000.0
        raise InputError(
            f"spacing_km (--spacing-km) {step / 1000:g} makes a grid of {n_grid:,.0f} points over {area_label} "
            f"(limit {MAX_GRID_POINTS:,}); use a spacing of {np.ceil(fits * 100) / 100:g} km or more"
        )


def place(
    study: Study | Baseline,
    tier: str,
    k: int,
    objective: str = "coverage",
    *,
    candidates=None,
    zones=None,
    upgrades: bool | list[str] | tuple[str, ...] = False,
    method: str = "greedy",
    solver: str | None = None,
    spacing_km: float | None = None,
    max_candidates: int = DEFAULT_CANDIDATES,
    base: Result | Baseline | None = None,
    write: bool = False,
) -> Placement:
    """Choose ``k`` sites for ``tier`` care and evaluate them exactly as a what-if scenario.

    ``objective="coverage"`` maximises people newly within the tier's threshold (maximal covering);
    ``"median"`` minimises population-weighted minutes (p-median). Candidates: ``None``/``"grid"`` (a
    grid over the counties, snapped to junctions), ``"nodes"`` (junctions the most people reach the road
    network through), a CSV path or a table with lon/lat; ``upgrades=True`` instead upgrades existing
    lower-tier facilities, and ``upgrades=["township", "community"]`` only those whose ``type`` (or, without a
    type, name) contains one of the words (case-insensitive): a village clinic is not made a county hospital.
    ``zones=["priority"]`` keeps candidates in counties of those baseline zones. ``write=True`` writes the picks'
    bundle under ``<output>/optimize/`` (:func:`write_placement`).
    """
    upgrades = _upgrade_types(upgrades)
    s = study.settings
    if tier not in s.tier_names:
        raise InputError(f"unknown tier {tier!r}; the study's tiers are {s.tier_names}")
    if spacing_km is not None and (
        isinstance(spacing_km, bool) or not isinstance(spacing_km, (int, float)) or not 0 < spacing_km < 1e4
    ):
        raise InputError(
            f"spacing_km (--spacing-km) must be a distance in km above 0, got {spacing_km!r}; leave it out for a "
            f"grid of about {max_candidates} points"
        )
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    t0 = time.perf_counter()
    inp = study.inputs if isinstance(study, Baseline) else study.load()
    if (
        spacing_km is not None
        and not upgrades
        and (candidates is None or (isinstance(candidates, str) and candidates == "grid"))
    ):
        # the whole area bounds any zone's grid: a grid too fine is refused before the baseline is computed
        _check_grid(inp.counties.to_crs(inp.network.crs).total_bounds, spacing_km * 1000.0, "the study area")
    base = baseline_of(study, base)
    ti = s.tier_names.index(tier)
    thr = s.tiers[ti].threshold_min
    to_facility = s.direction == "to_facility"
    cells = base.tiers[tier].minutes
    select = cells > thr if objective == "coverage" else np.ones(cells.size, dtype=bool)
    cand, csnap = _candidate_points(base, ti, candidates, zones, upgrades, spacing_km, max_candidates, select)
    if k > len(cand):
        raise InputError(f"k = {k} but only {len(cand)} candidate sites; lower k or widen the candidates")
    mode = s.tier_mode(s.tiers[ti])
    people = inp.population.people
    if mode == "road":
        trip = Trip(inp.network, s.walk_kmh, to_facility)
        node, leg, w, inv, idx = _demand_units(trip, inp.demand_snap, people, select)
        unit_base = np.bincount(inv, weights=people[idx] * np.minimum(cells[idx], 1e6)) / np.where(w > 0, w, 1)
        n_units = node.size
    else:  # off-road: a unit is a terrain cell (its people's minutes are the cell's, exactly)
        unit_of, w, unit_base = _terrain_units(base.study.terrain(), select, people, cells)
        n_units = w.size
    if objective == "coverage":
        cutoff = thr
    else:
        cutoff = float(unit_base.max()) if unit_base.size else 0.0
    timings = {"candidates": time.perf_counter() - t0}
    t1 = time.perf_counter()
    if n_units * len(cand) * 8 > MAX_COST_BYTES:
        raise InputError(
            f"{len(cand):,} candidate sites x {n_units:,} demand units need a "
            f"{n_units * len(cand) * 8 / 1024**3:.1f} GiB cost matrix (limit {MAX_COST_BYTES / 1024**3:.0f} GiB); "
            "use fewer candidates (a larger --spacing-km, or a candidates file)"
        )
    cost = np.full((n_units, len(cand)), np.inf)
    if mode == "road":
        for j in range(len(cand)):
            sub = csnap[j : j + 1]
            d, _ = trip.search(sub, cutoff=cutoff)
            cost[:, j] = leg + d[node]
    else:
        _terrain_cost(base, mode, cand, csnap, cutoff, unit_of, cost)
    timings["cost_matrix"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    if objective == "coverage":
        chosen, value = mclp(cost, w, k, thr, method=method, solver=solver)
    else:
        chosen, value = pmedian(cost, w, k, method=method, base=unit_base, solver=solver)
    timings["solve"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    picks = cand.iloc[chosen].reset_index(drop=True)
    picks.insert(0, "rank", np.arange(1, len(picks) + 1))
    picks.insert(1, "candidate", chosen)

    def edits(rows):
        if upgrades:
            return {"upgrade": [{"id": r["id"], "tier": tier} for _, r in rows.iterrows()]}
        return {
            "add": [
                {
                    "lon": float(r["lon"]),
                    "lat": float(r["lat"]),
                    "tier": tier,
                    "id": f"PICK{r['rank']}",
                    "name": f"proposed {tier} site {r['rank']}",
                }
                for _, r in rows.iterrows()
            ]
        }

    name = f"optimize-{tier}-{objective}-k{k}"
    within, mean_min = [], []
    for r in range(1, len(picks) + 1):
        res = whatif(base, make_scenario(name, title=f"{r} proposed {tier} site(s)", **edits(picks.iloc[:r])))
        m_after = res.tiers[tier].minutes
        within.append(float(people[(m_after <= thr) & ~(cells <= thr)].sum()))
        reach = np.isfinite(m_after)
        mean_min.append(float((people[reach] * m_after[reach]).sum() / people[reach].sum()))
    picks["people_newly_within_cumulative"] = within
    picks["mean_minutes_after"] = mean_min
    picks["people_newly_within_marginal"] = np.diff(np.concatenate([[0.0], within]))
    reach = np.isfinite(cells)
    mean_before = float((people[reach] * cells[reach]).sum() / people[reach].sum()) if reach.any() else np.nan
    picks["mean_minutes_saved_marginal"] = -np.diff(np.concatenate([[mean_before], mean_min]))
    idle = picks["people_newly_within_marginal"].to_numpy() <= 0
    if objective == "median":
        idle = picks["mean_minutes_saved_marginal"].to_numpy() <= 0
    picks["adds_nothing"] = idle
    if idle.any():
        log.warning(
            "%d of %d picks add nothing to the %s objective (the candidates ran out of people to gain); see adds_nothing",
            int(idle.sum()),
            len(picks),
            objective,
        )
    timings["evaluate"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    if upgrades:
        source = "-".join(["upgrades", *(() if upgrades is True else upgrades)])
    elif candidates is None or isinstance(candidates, str) and candidates in ("grid", "nodes"):
        source = candidates or "grid"
    elif isinstance(candidates, (str, Path)):
        source = Path(candidates).stem
    else:
        source = "table"
    placement = Placement(
        tier, objective, k, method, picks, cand, value, res, res.compare(base), timings,
        source=source, zones=tuple(zones or ()),
    )  # fmt: skip
    if write:
        write_placement(base, placement)
    return placement


def write_placement(base: Baseline, placement: Placement) -> list[Path]:
    """Write ``picks.csv``, ``candidates.csv`` and the before/after bundle of the picks.

    They go to ``<study output>/optimize/<tier>-<objective>-k<k>[-<candidates>][-<zones>][-exact]/``, so runs
    with other candidates, zones or solver do not overwrite each other; the baseline's files are never touched.
    """
    root = Path(base.settings.output).resolve()
    out = root / "optimize" / placement.folder
    title = _placement_title(base, placement)
    with output_lock(root), replace_folder(out) as tmp:
        files = [
            write_csv(table, tmp / fname, float_format="%.6f")
            for fname, table in (("picks.csv", placement.sites), ("candidates.csv", placement.candidates))
        ]
        files += write_compare_pages(base, tmp, title, placement.compare, placement.scenario)
    files = [out / f.relative_to(tmp) for f in files]
    placement.output = out
    placement.files = files
    return files


def _placement_title(base: Baseline, placement) -> str:
    lang = language(base)
    tier = next((t for t in base.settings.tiers if t.name == placement.tier), None)
    tl = i18n.tier_label(placement.tier, lang, tier.label if tier else "")
    if lang == "zh":
        goal = "覆盖最多人口" if placement.objective == "coverage" else "总出行时间最短"
        return f"选址优化：新增 {placement.k} 处{tl}（{goal}）"
    return f"{placement.k} proposed {tl} site(s) ({placement.objective})"


def _upgrade_types(upgrades) -> bool | tuple[str, ...]:
    """``upgrades`` as ``False``, ``True`` (any lower-tier facility) or a tuple of lower-case type words."""
    if isinstance(upgrades, bool):
        return upgrades
    if isinstance(upgrades, str):
        upgrades = upgrades.split(",")
    words = tuple(dict.fromkeys(str(w).strip().lower() for w in upgrades if str(w).strip()))
    if not words:
        raise InputError("upgrade types (--upgrade-types) must name at least one facility type, e.g. township")
    bad = [w for w in words if not all(c.isalnum() or c in " _-" for c in w)]
    if bad:
        raise InputError(f"upgrade types {bad} may hold only letters, digits, spaces, '-' and '_'")
    return words


def _of_types(fac, words: tuple[str, ...], area_label: str, sel: np.ndarray) -> np.ndarray:
    """Facilities whose type (or, where it is empty, name) contains one of ``words``, case-insensitive."""
    if "type" in fac.columns:
        kind = fac["type"].fillna("").astype(str)
        kind = kind.where(kind.str.strip() != "", fac["name"].astype(str))
    else:
        kind = fac["name"].astype(str)
    low = kind.str.lower()
    hit = np.zeros(len(fac), dtype=bool)
    for w in words:
        hit |= low.str.contains(w, regex=False).to_numpy()
    if not (hit & sel).any():
        present = sorted(set(kind[sel]))[:12]
        raise InputError(
            f"no facility below the tier in {area_label} has a type containing {list(words)}; "
            f"types there include {present}"
        )
    return hit
