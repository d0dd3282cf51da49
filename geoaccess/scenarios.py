"""What-if scenarios: edits applied to a study's baseline, recomputed incrementally, compared.

A scenario adds, removes, moves, upgrades or downgrades facilities, adds a campus to an existing
hospital (一院多区: the campus takes a share of the hospital's beds), changes the speed of roads along a
route, or adds a road link. It reuses the baseline's loaded inputs (network, snapped population) and
its per-tier results:

* a tier that only *gains* facilities is updated incrementally: one search from the new facilities'
  seeds, bounded by the baseline's largest finite node minutes (nothing farther can improve), merged by
  element-wise minimum with the baseline. This equals a full recompute exactly, because the nearest
  distance to a set of sources is the minimum of the distances to its parts and every step in between
  (adding arc minutes, walking legs) is monotone in floating point;
* a tier that loses a facility (removed, moved away, downgraded) searches again only where it served;
* a road edit rebuilds the network's arrays and recomputes every tier.

``_add_sources`` and ``_remove_sources`` are the only places that update a tier in place; removal uses
the path engine's :func:`geoaccess.paths.without_labels`.
"""

from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from geoaccess import paths
from geoaccess.config import check_identifier, read_toml, synthetic_note
from geoaccess.errors import ConfigError, InputError
from geoaccess.measures import TierResult, nearest_facility, serving_mask
from geoaccess.network import Network, Snap
from geoaccess.trip import Trip

log = logging.getLogger(__name__)

EDITS = ("add", "remove", "move", "upgrade", "downgrade", "campus", "road_speed", "road_add")
_KEYS: dict[str, tuple[set[str], set[str]]] = {  # required, optional
    "add": ({"lon", "lat", "tier"}, {"beds", "name", "id"}),
    "remove": ({"id"}, set()),
    "move": ({"id", "lon", "lat"}, set()),
    "upgrade": ({"id"}, {"tier", "beds"}),
    "downgrade": ({"id"}, {"tier", "beds"}),
    "campus": ({"of", "lon", "lat"}, {"beds", "name", "id"}),
    "road_speed": ({"route", "kmh"}, set()),
    "road_add": ({"from", "to", "kmh"}, {"oneway"}),
}
# a new road's end must lie this close to an existing junction, or the site is not on the network
ROAD_END_MAX_M = 5000.0


# -- the scenario ---------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """A named list of edits; each edit is a plain dict (see ``_KEYS`` for the fields of each kind)."""

    name: str = "scenario"
    title: str = ""
    edits: dict[str, list[dict]] = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return sum(len(v) for v in self.edits.values())

    @property
    def touches_roads(self) -> bool:
        return bool(self.edits.get("road_speed") or self.edits.get("road_add"))

    def describe(self) -> list[str]:
        """One line per edit, in the planner's words."""
        out = []
        for kind in EDITS:
            for e in self.edits.get(kind, []):
                out.append(f"{kind.replace('_', ' ')}: " + ", ".join(f"{k}={v}" for k, v in e.items()))
        return out


def _where(path, kind, i):
    return f"[[{kind}]] entry {i + 1}" if path else f"{kind}[{i}]"


def make_scenario(
    name: str = "scenario",
    *,
    title: str = "",
    path: Path | None = None,
    **edits: Any,
) -> Scenario:
    """Build and check the structure of a scenario from keyword lists (``add=[{...}], remove=["F1"]``)."""
    check_identifier(name, "scenario name", path)
    unknown = sorted(set(edits) - set(EDITS))
    if unknown:
        raise ConfigError(f"unknown scenario edit(s) {unknown}; allowed: {list(EDITS)}", path=path)
    problems = []
    clean: dict[str, list[dict]] = {}
    for kind, items in edits.items():
        if items is None:
            continue
        if isinstance(items, (dict, str)):
            items = [items]
        req, opt = _KEYS[kind]
        out = []
        for i, item in enumerate(items):
            where = _where(path, kind, i)
            if kind == "remove" and isinstance(item, str):
                item = {"id": item}
            if not isinstance(item, dict):
                problems.append(f"{where}: must be a table, got {item!r}")
                continue
            missing = sorted(req - set(item))
            extra = sorted(set(item) - req - opt)
            if missing:
                problems.append(f"{where}: missing key(s) {missing}")
            if extra:
                problems.append(f"{where}: unknown key(s) {extra}; allowed: {sorted(req | opt)}")
            for key in ("lon", "lat", "kmh", "beds"):
                if key in item and (isinstance(item[key], bool) or not isinstance(item[key], (int, float))):
                    problems.append(f"{where}: {key} must be a number, got {item[key]!r}")
                elif key in item and not np.isfinite(item[key]):
                    problems.append(f"{where}: {key} must be a finite number, got {item[key]!r}")
                    item = {k: v for k, v in item.items() if k != key}  # checked: keep it out of the range tests
            if "beds" in item and isinstance(item["beds"], (int, float)) and item["beds"] < 0:
                problems.append(f"{where}: beds must be >= 0, got {item['beds']!r}")
            if "kmh" in item and isinstance(item["kmh"], (int, float)) and not 1 <= item["kmh"] <= 200:
                problems.append(f"{where}: kmh must lie between 1 and 200, got {item['kmh']!r}")
            if "oneway" in item and not isinstance(item["oneway"], bool):
                problems.append(f"{where}: oneway must be true or false, got {item['oneway']!r}")
            for key in ("id", "of", "tier"):
                if key in item and not isinstance(item[key], str):
                    problems.append(f"{where}: {key} must be a string, got {item[key]!r}")
            for key in ("from", "to"):
                if key in item and not _is_lonlat(item[key]):
                    problems.append(f"{where}: {key} must be [lon, lat], got {item[key]!r}")
            if "route" in item and (
                not isinstance(item["route"], list) or len(item["route"]) < 2 or not all(map(_is_lonlat, item["route"]))
            ):
                problems.append(f"{where}: route must be a list of at least two [lon, lat] points")
            out.append(dict(item))
        clean[kind] = out
    if problems:
        raise ConfigError(f"scenario {name!r} has {len(problems)} problem(s)", path=path, problems=problems)
    return Scenario(name=name, title=title or name, edits=clean, path=path)


def _is_lonlat(p) -> bool:
    return (
        isinstance(p, (list, tuple))
        and len(p) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML file::

    [scenario]
    name = "yangqu-campus"
    [[add]]
    lon = 112.67
    lat = 38.06
    tier = "county"
    beds = 300
    [[remove]]
    id = "F0123"
    """
    path = Path(path).resolve()
    data = read_toml(path, "scenario")
    head = data.pop("scenario", {})
    if not isinstance(head, dict):
        raise ConfigError("[scenario] must be a table", path=path)
    bad = sorted(set(head) - {"name", "title"})
    if bad:
        raise ConfigError(f"unknown key(s) {bad} in [scenario]; allowed keys: ['name', 'title']", path=path)
    unknown = sorted(set(data) - set(EDITS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; allowed: [scenario] and {list(EDITS)}", path=path)
    return make_scenario(str(head.get("name", path.stem)), title=str(head.get("title", "")), path=path, **data)


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
    output: Path | None = None
    files: list[Path] = field(default_factory=list)

    def compare(self, base) -> pd.DataFrame:
        """Per county and tier: people newly within reach (and no longer), shares, median minutes, status, zone."""
        return compare_tables(base, self)


# -- baseline --------------------------------------------------------------------------------------------
_BASELINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def baseline(study, base=None):
    """The study's baseline result (computed once and kept); ``base`` overrides it when given."""
    names = study.settings.tier_names
    if base is not None:
        missing = [t for t in names if t not in base.tiers]
        if missing:
            raise InputError(f"the baseline result lacks tier(s) {missing}; pass the study's own run() result")
        _BASELINES[study] = base
        return base
    if study not in _BASELINES:
        _BASELINES[study] = _cached_baseline(study)
    return _BASELINES[study]


def _cached_baseline(study):
    """The baseline from the user cache (results and OD pool, keyed by inputs, settings and code), else computed
    and stored there, so a later ``geoaccess whatif`` or ``optimize`` does not compute it again."""
    from geoaccess import cache as _cache
    from geoaccess.study import Result

    key = None
    if study.use_cache:
        try:
            key = _cache.baseline_key(study.settings)
        except OSError:
            key = None
    got = _cache.load_baseline(key) if key else None
    if got is not None:
        parts, pool_state = got
        study.load()
        study._od_pool = None
        study.od_pool().restore(pool_state)
        tiers = {name: TierResult(name, **arrays) for name, arrays in parts["tiers"].items()}
        log.info("baseline from the cache (%s pairs)", f"{study.od_pool().pairs:,}")
        return Result(parts["counties"], tiers, None, {**parts["timings"], "cached": 1.0}, facilities=parts[
            "facilities"], referrals=parts["referrals"], overall=parts["overall"])  # fmt: skip
    result = study.compute()
    if key:
        _cache.save_baseline(key, result, study.od_pool().state())
    return result


# -- apply ---------------------------------------------------------------------------------------------
def whatif(study, scenario: Scenario | str | Path | None = None, *, base=None, full: bool = False, **edits):
    """Apply a scenario (a :class:`Scenario`, a TOML path, or keyword edits) to the study's baseline.

    ``full=True`` recomputes every tier from scratch instead of incrementally (for checking).
    """
    if scenario is None:
        name = edits.pop("name", "scenario")
        scenario = make_scenario(name, **edits)
    elif isinstance(scenario, (str, Path)):
        if edits:
            raise InputError("pass either a scenario file or keyword edits, not both")
        scenario = load_scenario(scenario)
    t0 = time.perf_counter()
    s = study.settings
    inp = study.load()
    base = baseline(study, base)
    timings = {"baseline": time.perf_counter() - t0}
    t1 = time.perf_counter()
    errors = []  # facility and road edits are both checked, so every problem is reported at once
    net, pool, base_inp = inp.network, None, inp
    try:
        fac, snap, changed = _apply_facilities(study, inp, scenario)
    except InputError as err:
        errors.append(err)
    if scenario.touches_roads:
        try:
            net = _apply_roads(study, inp, scenario)
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
            demand_snap=_onto_new_links(net, inp.network.n_links, *to_m.transform(pop.lon, pop.lat), inp.demand_snap),
        )
        snap = _onto_new_links(
            net, inp.network.n_links, *to_m.transform(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()), snap
        )
        # OD blocks the edits cannot reach are kept (``full``: none are)
        pool = study.od_pool(replace(inp, network=net)) if full else _edited_pool(study, base_inp, net, inp.demand_snap)
    timings["edits"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    to_facility = s.direction == "to_facility"
    old_ranks = inp.facilities["tier_rank"].to_numpy()
    n_old = len(old_ranks)
    new_ranks = fac["tier_rank"].to_numpy()
    active = fac["active"].to_numpy()
    tiers, how = {}, {}
    for i, tier in enumerate(s.tiers):
        old = np.zeros(len(fac), dtype=bool)
        old[:n_old] = serving_mask(old_ranks, i, s.serve_lower_tiers)
        new = serving_mask(new_ranks, i, s.serve_lower_tiers) & active
        lost = old & (~new | changed)
        gained = new & (~old | changed)
        if not (full or scenario.touches_roads) and not lost.any() and not gained.any():
            tiers[tier.name], how[tier.name] = base.tiers[tier.name], "reused"
        elif not (full or scenario.touches_roads):
            r = base.tiers[tier.name]
            if lost.any():
                keep = np.flatnonzero(old & ~lost)
                r = _remove_sources(net, r, snap, inp.demand_snap, np.flatnonzero(lost), keep, to_facility, s.walk_kmh)
            if gained.any():
                r = _add_sources(net, r, snap, inp.demand_snap, np.flatnonzero(gained), to_facility, s.walk_kmh)
            tiers[tier.name], how[tier.name] = r, "incremental"
        else:
            tiers[tier.name] = nearest_facility(
                net, snap, inp.demand_snap, new, to_facility=to_facility, walk_kmh=s.walk_kmh, tier=tier.name
            )
            how[tier.name] = "full"
    timings["paths"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    pop = inp.population
    table = _score(study, inp, fac, snap, net, tiers, pool)
    timings["scoring"] = time.perf_counter() - t3
    # the scenario's own time: the baseline is computed once and reused by every scenario
    timings["total"] = time.perf_counter() - t1
    log.info("scenario %s: %s in %.3f s", scenario.name, how, timings["total"])
    return ScenarioResult(
        scenario.name, scenario, table, tiers, fac, net, pop.people, pop.county, s.tiers, how, timings
    )


def _score(study, inp, fac, snap, net, tiers, pool=None) -> pd.DataFrame:
    """The scenario's county table through the study's own measures and scoring (same columns, same rules).

    Closed facilities are dropped for the measures; the tier results' facility positions are mapped onto the
    remaining rows.
    """
    keep = np.flatnonzero(fac["active"].to_numpy())
    remap = np.full(len(fac) + 1, -1, dtype=np.int64)  # last slot maps -1 to -1
    remap[keep] = np.arange(keep.size)
    mapped = {k: replace(r, facility=remap[r.facility], node_facility=remap[r.node_facility]) for k, r in tiers.items()}
    edited = replace(
        inp,
        facilities=fac.iloc[keep].reset_index(drop=True),
        facility_snap=snap[keep],
        network=net,
    )
    return study.score(edited, mapped, od_pool=pool, base=baseline(study)).counties


def _edited_pool(study, base_inp, net: Network, demand_snap: Snap):
    """The baseline's OD pool carried over to ``net`` (edited road links), dropping blocks the edits may change."""
    old = base_inp.network
    n = old.n_links
    edited = np.flatnonzero((net.link_fwd[:n] != old.link_fwd) | (net.link_bwd[:n] != old.link_bwd))
    ends = np.unique(np.concatenate([net.link_u[edited], net.link_v[edited], net.link_u[n:], net.link_v[n:]]))
    to_facility = study.settings.direction == "to_facility"
    # minutes from an edited link end to each node (to_facility) or from each node to one (from_facility)
    edit_minutes = paths.nearest(old, ends, reverse=not to_facility)[0] if ends.size else np.full(old.n_nodes, np.inf)
    ds = base_inp.demand_snap
    moved = np.flatnonzero(
        (demand_snap.link != ds.link) | (demand_snap.t != ds.t) | (demand_snap.offroad_m != ds.offroad_m)
    )
    return study.od_pool().edited(net, demand_snap, edit_minutes, moved)


def _remove_sources(net, base: TierResult, snap: Snap, demand_snap: Snap, lost, keep, to_facility, walk_kmh):
    """The baseline tier without the facilities at positions ``lost``; ``keep`` are those still serving. Exact.

    Only the nodes and people the lost facilities served are searched again (from the edge of the area they
    served, and from remaining facilities inside it).
    """
    inv = np.full(len(snap), -1, dtype=np.int64)
    inv[keep] = np.arange(keep.size)
    sub = snap[keep]
    trip = Trip(net, walk_kmh, to_facility)
    nodes, start, labels = trip.seeds(sub)
    node_min, node_fac = paths.without_labels(
        net, base.node_minutes, base.node_facility, lost, nodes, start, keep[labels], reverse=to_facility
    )
    node_fac = node_fac.astype(base.node_facility.dtype)
    cells = np.flatnonzero(np.isin(base.facility, lost))
    minutes, facility = base.minutes.copy(), base.facility.copy()
    if keep.size == 0:  # the tier has no facility left: nobody reaches one
        minutes[cells], facility[cells] = np.inf, -1
    elif cells.size:
        dsub = demand_snap[cells]
        node_idx = np.where(node_fac >= 0, inv[np.maximum(node_fac, 0)], -1)  # labels as positions in ``keep``
        m, lab = trip.point_minutes(node_min, dsub, node_label=node_idx)
        m, lab = trip.same_link(sub, dsub, m, lab)
        minutes[cells] = m
        facility[cells] = np.where(lab >= 0, keep[np.maximum(lab, 0)], -1)
    return TierResult(base.tier, minutes, facility, node_min, node_fac)


def _add_sources(net, base: TierResult, snap: Snap, demand_snap: Snap, positions, to_facility, walk_kmh):
    """The baseline tier with extra sources (facility positions into ``snap``) added; exact.

    Searches only from the new sources, stopping at the baseline's largest finite node minutes: a node
    farther than that from every new source keeps its baseline value. The path engine's pruned
    incremental add (stop wherever the baseline is already closer) will replace this body.
    """
    positions = np.asarray(positions, dtype=np.int64)
    finite = np.isfinite(base.node_minutes)
    cutoff = float(base.node_minutes.max()) if finite.all() and finite.size else None
    trip = Trip(net, walk_kmh, to_facility)
    sub = snap[positions]
    node_min, node_lab = trip.search(sub, cutoff=cutoff)
    node_better = node_min < base.node_minutes
    # only points beside a node the new facilities now reach sooner, or on their links, can gain
    link = demand_snap.link
    cells = np.flatnonzero(node_better[net.link_u[link]] | node_better[net.link_v[link]] | np.isin(link, sub.link))
    minutes, facility = base.minutes.copy(), base.facility.copy()
    if cells.size:
        dsub = demand_snap[cells]
        m, lab = trip.point_minutes(node_min, dsub, node_label=node_lab)
        m, lab = trip.same_link(sub, dsub, m, lab)
        better = m < base.minutes[cells]
        minutes[cells[better]] = m[better]
        facility[cells[better]] = positions[lab[better]]
    return TierResult(
        base.tier,
        minutes,
        facility,
        np.where(node_better, node_min, base.node_minutes),
        np.where(node_better, positions[np.maximum(node_lab, 0)], base.node_facility),
    )


# -- edits ---------------------------------------------------------------------------------------------
def _study_area(inp):
    return inp.counties.to_crs("EPSG:4326").union_all()


def _outside(area, lon, lat) -> bool:
    return not area.covers(shapely.Point(lon, lat))


def _apply_facilities(study, inp, scenario: Scenario):
    """The scenario's facility table and snaps; ``changed`` flags rows whose site moved."""
    s = study.settings
    fac = inp.facilities.copy()
    fac["active"] = True
    fac["change"] = ""
    fac["parent_id"] = ""
    rank = {t: i for i, t in enumerate(s.tier_names)}
    ids = {v: i for i, v in enumerate(fac["id"])}
    area = None
    problems: list[str] = []
    where = scenario.path or scenario.name
    moved: dict[int, tuple[float, float]] = {}
    new_rows: list[dict] = []
    removed: set[int] = set()

    def site(e, label):
        nonlocal area
        if area is None:
            area = _study_area(inp)
        if _outside(area, e["lon"], e["lat"]):
            problems.append(
                f"{label}: site ({e['lon']}, {e['lat']}) is outside the study area (the counties of "
                f"{s.name}); check the coordinates (WGS84 lon, lat)"
            )
            return False
        return True

    def known(fid, label):
        if fid not in ids:
            problems.append(f"{label}: unknown facility id {fid!r}; ids come from the facilities file")
            return None
        if ids[fid] in removed:
            problems.append(f"{label}: facility {fid!r} is removed by this scenario")
            return None
        return ids[fid]

    def tier_of(name, label):
        if name not in rank:
            problems.append(f"{label}: unknown tier {name!r}; the study's tiers are {s.tier_names}")
            return None
        return rank[name]

    for i, e in enumerate(scenario.edits.get("remove", [])):
        label = f"remove {_where(scenario.path, 'remove', i)}"
        r = known(e["id"], label)
        if r is not None:
            removed.add(r)
            fac.iat[r, fac.columns.get_loc("active")] = False
            fac.iat[r, fac.columns.get_loc("change")] = "removed"
    for i, e in enumerate(scenario.edits.get("move", [])):
        label = f"move {_where(scenario.path, 'move', i)}"
        r = known(e["id"], label)
        if r is not None and site(e, label):
            moved[r] = (e["lon"], e["lat"])
            fac.iat[r, fac.columns.get_loc("change")] = "moved"
    for kind in ("upgrade", "downgrade"):
        for i, e in enumerate(scenario.edits.get(kind, [])):
            label = f"{kind} {_where(scenario.path, kind, i)}"
            r = known(e["id"], label)
            if r is None:
                continue
            old = int(fac["tier_rank"].iat[r])
            if "tier" not in e and "beds" not in e:
                problems.append(f"{label}: nothing to change; give a new tier, beds, or both")
                continue
            if "tier" in e and e["tier"] == fac["tier"].iat[r] and "beds" not in e:
                problems.append(f"{label}: {e['id']} is already {e['tier']!r}; give another tier or new beds")
                continue
            if "tier" in e:
                t = tier_of(e["tier"], label)
                if t is None:
                    continue
                if (kind == "upgrade" and t < old) or (kind == "downgrade" and t > old):
                    problems.append(
                        f"{label}: {e['id']} is {fac['tier'].iat[r]!r}; {kind} to {e['tier']!r} goes the wrong way"
                    )
                    continue
                if e["tier"] != fac["tier"].iat[r] and "type" in fac.columns:
                    # its old type (e.g. township health centre) no longer says its level; the tier does
                    fac.iat[r, fac.columns.get_loc("type")] = None
                fac.iat[r, fac.columns.get_loc("tier")] = e["tier"]
                fac.iat[r, fac.columns.get_loc("tier_rank")] = t
            if "beds" in e:
                fac.iat[r, fac.columns.get_loc("beds")] = float(e["beds"])
            fac.iat[r, fac.columns.get_loc("change")] = kind + "d"
    for i, e in enumerate(scenario.edits.get("add", [])):
        label = f"add {_where(scenario.path, 'add', i)}"
        t = tier_of(e["tier"], label)
        if site(e, label) and t is not None:
            new_rows.append(
                {
                    "id": e.get("id", f"{scenario.name}-new{i + 1}"),
                    "name": e.get("name", f"new {e['tier']} site {i + 1}"),
                    "tier": e["tier"],
                    "tier_rank": t,
                    "beds": float(e.get("beds", 0.0)),
                    "lon": e["lon"],
                    "lat": e["lat"],
                    "change": "added",
                    "parent_id": "",
                }
            )
    for i, e in enumerate(scenario.edits.get("campus", [])):
        label = f"campus {_where(scenario.path, 'campus', i)}"
        r = known(e["of"], label)
        if r is None or not site(e, label):
            continue
        beds = float(e.get("beds", 0.0))
        have = float(fac["beds"].iat[r])
        if beds > have:
            problems.append(f"{label}: the campus takes {beds:g} beds but {e['of']} has {have:g}; campuses share beds")
            continue
        # 一院多区: the campus is the same hospital (same tier) on another site; its beds move, not grow
        fac.iat[r, fac.columns.get_loc("beds")] = have - beds
        new_rows.append(
            {
                "id": e.get("id", f"{e['of']}-campus{i + 1}"),
                "name": e.get("name", f"{fac['name'].iat[r]} (campus {i + 1})"),
                "tier": fac["tier"].iat[r],
                "tier_rank": int(fac["tier_rank"].iat[r]),
                "beds": beds,
                "lon": e["lon"],
                "lat": e["lat"],
                "change": "campus",
                "parent_id": e["of"],
            }
        )
    new_ids = [r["id"] for r in new_rows]
    dup = sorted({x for x in new_ids if new_ids.count(x) > 1 or x in ids})
    if dup:
        problems.append(f"new facility id(s) {dup} are already used; give each added site its own id")
    if problems:
        raise InputError(f"scenario {scenario.name!r} cannot be applied", path=where, problems=problems)

    to_m = pyproj.Transformer.from_crs("EPSG:4326", inp.network.crs, always_xy=True)
    snap = inp.facility_snap
    link, t, off = snap.link.copy(), snap.t.copy(), snap.offroad_m.copy()
    changed = np.zeros(len(fac) + len(new_rows), dtype=bool)
    if moved:
        rows = np.array(sorted(moved))
        lon = np.array([moved[r][0] for r in rows])
        lat = np.array([moved[r][1] for r in rows])
        ms = inp.network.snap(*to_m.transform(lon, lat))
        link[rows], t[rows], off[rows] = ms.link, ms.t, ms.offroad_m
        changed[rows] = True
        geom = fac.geometry.copy()
        geom.iloc[rows] = gpd.points_from_xy(lon, lat)
        fac = fac.set_geometry(geom)
        if "county_code" in fac.columns:  # a moved facility belongs to the county it now stands in
            codes = fac["county_code"].astype(object)
            codes.iloc[rows] = None
            fac["county_code"] = codes
    if new_rows:
        add = pd.DataFrame(new_rows)
        ns = inp.network.snap(*to_m.transform(add["lon"].to_numpy(), add["lat"].to_numpy()))
        link, t, off = np.concatenate([link, ns.link]), np.concatenate([t, ns.t]), np.concatenate([off, ns.offroad_m])
        add_g = gpd.GeoDataFrame(
            add.drop(columns=["lon", "lat"]).assign(active=True),
            geometry=gpd.points_from_xy(add["lon"], add["lat"]),
            crs="EPSG:4326",
        )
        fac = pd.concat([fac, add_g], ignore_index=True)
        fac = gpd.GeoDataFrame(fac, geometry="geometry", crs="EPSG:4326")
    fac["tier_rank"] = fac["tier_rank"].astype(int)
    return fac, Snap(link, t, off), changed


def _apply_roads(study, inp, scenario: Scenario) -> Network:
    """A new network with the scenario's road edits; link indices of the baseline are kept."""
    net = inp.network
    to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    area = _study_area(inp)
    problems = []
    fwd, bwd = net.link_fwd.copy(), net.link_bwd.copy()
    length = shapely.length(net.geometry)
    tree = cKDTree(np.column_stack([net.x, net.y]))

    def node(p, label):
        if _outside(area, p[0], p[1]):
            problems.append(f"{label}: point {list(p)} is outside the study area")
            return None
        d, j = tree.query(to_m.transform(p[0], p[1]))
        if d > ROAD_END_MAX_M:
            problems.append(f"{label}: point {list(p)} is {d:.0f} m from the nearest junction")
            return None
        return int(j)

    for i, e in enumerate(scenario.edits.get("road_speed", [])):
        label = f"road_speed {_where(scenario.path, 'road_speed', i)}"
        ends = [node(p, label) for p in e["route"]]
        if None in ends:
            continue
        links = _route_links(net, ends)
        if links is None:
            problems.append(f"{label}: no drivable route joins the points {e['route']}")
            continue
        mins = length[links] / (e["kmh"] * 1000.0 / 60.0)
        fwd[links] = np.where(np.isfinite(fwd[links]), mins, np.inf)
        bwd[links] = np.where(np.isfinite(bwd[links]), mins, np.inf)
    new_u, new_v, new_f, new_b, new_g = [], [], [], [], []
    for i, e in enumerate(scenario.edits.get("road_add", [])):
        label = f"road_add {_where(scenario.path, 'road_add', i)}"
        a, b = node(e["from"], label), node(e["to"], label)
        if a is None or b is None:
            continue
        if a == b:
            problems.append(f"{label}: both ends snap to the same junction; the road would have no length")
            continue
        geom = shapely.linestrings([[net.x[a], net.y[a]], [net.x[b], net.y[b]]])
        mins = shapely.length(geom) / (e["kmh"] * 1000.0 / 60.0)
        new_u.append(a)
        new_v.append(b)
        new_f.append(mins)
        new_b.append(np.inf if e.get("oneway", False) else mins)
        new_g.append(geom)
    if problems:
        raise InputError(
            f"scenario {scenario.name!r}: road edits cannot be applied",
            path=scenario.path or scenario.name,
            problems=problems,
        )
    geometry = np.concatenate([net.geometry, np.array(new_g, dtype=object)]) if new_g else net.geometry
    return Network(
        net.n_nodes,
        np.concatenate([net.link_u, np.array(new_u, dtype=np.int64)]),
        np.concatenate([net.link_v, np.array(new_v, dtype=np.int64)]),
        np.concatenate([fwd, np.array(new_f, dtype=np.float64)]),
        np.concatenate([bwd, np.array(new_b, dtype=np.float64)]),
        x=net.x,
        y=net.y,
        geometry=geometry,
        crs=net.crs,
        node_ids=net.node_ids,
        link_class=net.link_class,
    )


def _onto_new_links(net: Network, n_old: int, px: np.ndarray, py: np.ndarray, snap: Snap) -> Snap:
    """``snap`` with every point that is strictly nearer to a link added after ``n_old`` moved onto it."""
    if net.n_links == n_old or px.size == 0:
        return snap
    new = net.geometry[n_old:]
    pts = shapely.points(px, py)
    idx, dist = shapely.STRtree(new).query_nearest(pts, return_distance=True, all_matches=False)
    closer = dist < snap.offroad_m[idx[0]]
    rows, links, dist = idx[0][closer], idx[1][closer] + n_old, dist[closer]
    if rows.size == 0:
        return snap
    link, t, off = snap.link.copy(), snap.t.copy(), snap.offroad_m.copy()
    link[rows], off[rows] = links, dist
    t[rows] = np.nan_to_num(np.clip(shapely.line_locate_point(net.geometry[links], pts[rows], normalized=True), 0, 1))
    log.info("%d point(s) now meet the network on an added road", rows.size)
    return Snap(link, t, off)


def _route_links(net: Network, ends: list[int]) -> np.ndarray | None:
    """Links on the fastest drive through ``ends`` in order (every link on some fastest path)."""
    out = []
    for a, b in zip(ends[:-1], ends[1:], strict=True):
        da, _ = paths.seeded(net, [a], [0.0], [0], reverse=False)
        db, _ = paths.seeded(net, [b], [0.0], [0], reverse=True)
        total = da[b]
        if not np.isfinite(total):
            return None
        tol = 1e-9 * max(1.0, total)
        u, v = net.link_u, net.link_v
        with np.errstate(invalid="ignore"):
            on = (np.abs(da[u] + net.link_fwd + db[v] - total) <= tol) | (
                np.abs(da[v] + net.link_bwd + db[u] - total) <= tol
            )
        out.append(np.flatnonzero(on))
    return np.unique(np.concatenate(out))


# -- compare -------------------------------------------------------------------------------------------
def compare_tables(base, after: ScenarioResult) -> pd.DataFrame:
    """Long table, one row per county and tier, of what the scenario changes."""
    people, county = after.people, after.county
    b, a = base.counties, after.counties
    n = len(a)
    rows = []
    for t in after.tier_settings:
        mb, ma = base.tiers[t.name].minutes, after.tiers[t.name].minutes
        if mb.shape != ma.shape:
            raise InputError("the baseline and the scenario come from different studies; compare like with like")
        wb, wa = mb <= t.threshold_min, ma <= t.threshold_min
        gained = np.bincount(county, weights=people * (wa & ~wb), minlength=n)
        lost = np.bincount(county, weights=people * (wb & ~wa), minlength=n)
        with np.errstate(invalid="ignore"):
            d = np.where(np.isfinite(ma) & np.isfinite(mb), ma - mb, np.nan)
            faster = np.bincount(county, weights=people * (ma < mb), minlength=n)
            slower = np.bincount(county, weights=people * (ma > mb), minlength=n)
        saved = np.bincount(county, weights=np.nan_to_num(people * -d), minlength=n)
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


def _write_compare(study, out: Path, title: str, compare: pd.DataFrame, scenario: ScenarioResult, base) -> list[Path]:
    """The before/after pages of a scenario or a placement (``compare.csv``, ``compare.html``, the map)."""
    from geoaccess.outputs.compare import write_compare

    inp = study.load()
    return write_compare(
        out,
        title=f"{study.settings.title}: {title}",
        compare=compare,
        scenario=scenario,
        base=base,
        counties=inp.counties,
        population=inp.population,
        facilities_before=inp.facilities,
        synthetic_note=synthetic_note(study.settings),
    )


def write_scenario(study, result: ScenarioResult, base) -> list[Path]:
    """Write ``compare.csv``, ``compare.html`` and the scenario's ``counties.csv``.

    They go to ``<study output>/scenarios/<scenario name>/``; the baseline's files are never touched.
    """
    from geoaccess.outputs._atomic import output_lock, replace_folder

    root = Path(study.settings.output).resolve()
    out = (root / "scenarios" / result.name).resolve()
    if out == root or root not in out.parents:
        raise InputError(f"scenario name {result.name!r} would write outside {root / 'scenarios'}")
    # the folder is replaced whole: a failed write leaves the scenario's previous pages as they were; the
    # baseline's lock too, as a baseline run swaps the folder this one lies in
    with output_lock(root), replace_folder(out) as tmp:
        files = _write_compare(study, tmp, f"what if — {result.scenario.title}", result.compare(base), result, base)
    files = [out / f.relative_to(tmp) for f in files]
    result.output = out
    result.files = files
    return files


# -- placement -----------------------------------------------------------------------------------------
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


def _candidate_points(study, inp, base, tier_index, candidates, zones, upgrades, spacing_km, max_candidates, select):
    """Candidate sites as a table with lon, lat (and ``id`` for upgrades of existing facilities).

    ``select``: the people the objective counts (for coverage, those not yet within reach); ``"nodes"``
    ranks junctions by how many of them reach the road network there.
    """
    s = study.settings
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
    study,
    tier: str,
    k: int,
    objective: str = "coverage",
    *,
    candidates=None,
    zones=None,
    upgrades: bool = False,
    method: str = "greedy",
    solver: str | None = None,
    spacing_km: float | None = None,
    max_candidates: int = DEFAULT_CANDIDATES,
    base=None,
) -> Placement:
    """Choose ``k`` sites for ``tier`` care and evaluate them exactly as a what-if scenario.

    ``objective="coverage"`` maximises people newly within the tier's threshold (maximal covering);
    ``"median"`` minimises population-weighted minutes (p-median). Candidates: ``None``/``"grid"`` (a
    grid over the counties, snapped to junctions), ``"nodes"`` (junctions the most people reach the road
    network through), a CSV path or a table with lon/lat; ``upgrades=True`` instead upgrades existing
    lower-tier facilities. ``zones=["priority"]`` keeps candidates in counties of those baseline zones.
    """
    from geoaccess.optimize import mclp, pmedian

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
    inp = study.load()
    if (
        spacing_km is not None
        and not upgrades
        and (candidates is None or (isinstance(candidates, str) and candidates == "grid"))
    ):
        # the whole area bounds any zone's grid: a grid too fine is refused before the baseline is computed
        _check_grid(inp.counties.to_crs(inp.network.crs).total_bounds, spacing_km * 1000.0, "the study area")
    base = baseline(study, base)
    ti = s.tier_names.index(tier)
    thr = s.tiers[ti].threshold_min
    to_facility = s.direction == "to_facility"
    cells = base.tiers[tier].minutes
    select = cells > thr if objective == "coverage" else np.ones(cells.size, dtype=bool)
    cand, csnap = _candidate_points(
        study, inp, base, ti, candidates, zones, upgrades, spacing_km, max_candidates, select
    )
    if k > len(cand):
        raise InputError(f"k = {k} but only {len(cand)} candidate sites; lower k or widen the candidates")
    trip = Trip(inp.network, s.walk_kmh, to_facility)
    node, leg, w, inv, idx = _demand_units(trip, inp.demand_snap, inp.population.people, select)
    unit_base = np.bincount(inv, weights=inp.population.people[idx] * np.minimum(cells[idx], 1e6)) / np.where(
        w > 0, w, 1
    )
    if objective == "coverage":
        cutoff = thr
    else:
        cutoff = float(unit_base.max()) if unit_base.size else 0.0
    timings = {"candidates": time.perf_counter() - t0}
    t1 = time.perf_counter()
    if node.size * len(cand) * 8 > MAX_COST_BYTES:
        raise InputError(
            f"{len(cand):,} candidate sites x {node.size:,} demand units need a "
            f"{node.size * len(cand) * 8 / 1024**3:.1f} GiB cost matrix (limit {MAX_COST_BYTES / 1024**3:.0f} GiB); "
            "use fewer candidates (a larger --spacing-km, or a candidates file)"
        )
    cost = np.full((node.size, len(cand)), np.inf)
    for j in range(len(cand)):
        sub = csnap[j : j + 1]
        d, _ = trip.search(sub, cutoff=cutoff)
        cost[:, j] = leg + d[node]
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
    people = inp.population.people
    for r in range(1, len(picks) + 1):
        res = whatif(
            study, make_scenario(name, title=f"{r} proposed {tier} site(s)", **edits(picks.iloc[:r])), base=base
        )
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
        source = "upgrades"
    elif candidates is None or isinstance(candidates, str) and candidates in ("grid", "nodes"):
        source = candidates or "grid"
    elif isinstance(candidates, (str, Path)):
        source = Path(candidates).stem
    else:
        source = "table"
    return Placement(
        tier, objective, k, method, picks, cand, value, res, res.compare(base), timings,
        source=source, zones=tuple(zones or ()),
    )  # fmt: skip


def write_placement(study, placement: Placement, base) -> list[Path]:
    """Write ``picks.csv``, ``candidates.csv`` and the before/after bundle of the picks.

    They go to ``<study output>/optimize/<tier>-<objective>-k<k>[-<candidates>][-<zones>][-exact]/``, so runs
    with other candidates, zones or solver do not overwrite each other; the baseline's files are never touched.
    """
    from geoaccess.outputs._atomic import output_lock, replace_folder, write_csv

    root = Path(study.settings.output).resolve()
    out = root / "optimize" / placement.folder
    title = f"{placement.k} proposed {placement.tier} site(s) ({placement.objective})"
    with output_lock(root), replace_folder(out) as tmp:
        files = [
            write_csv(table, tmp / fname, float_format="%.6f")
            for fname, table in (("picks.csv", placement.sites), ("candidates.csv", placement.candidates))
        ]
        files += _write_compare(study, tmp, title, placement.compare, placement.scenario, base)
    files = [out / f.relative_to(tmp) for f in files]
    placement.output = out
    placement.files = files
    return files
