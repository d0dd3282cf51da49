"""Applying a scenario's edits: the edited facility table and snaps, the edited road network, and the
incremental updates of a tier's nearest-facility result (``add_sources`` and ``remove_sources`` are the only
places that update a tier in place; removal uses the path engine's :func:`geoaccess.paths.without_labels`).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from geoaccess import paths
from geoaccess._arrays import unique
from geoaccess.errors import InputError
from geoaccess.measures import TierResult
from geoaccess.network import Network, Snap
from geoaccess.scenarios.baseline import Baseline
from geoaccess.scenarios.edits import Scenario, _where
from geoaccess.trip import Trip

log = logging.getLogger(__name__)

# a new road's end must lie this close to an existing junction, or the site is not on the network
ROAD_END_MAX_M = 5000.0
# a road end at a junction on the study area's border comes back from the page's road tools (and a saved scenario)
# a rounding error to either side of it (its lon/lat through the network's projection and back: 1e-14 degrees): an end
# this close to the area (degrees, about 0.1 m) is in it
ROAD_END_AREA_TOL_DEG = 1e-6


def edited_pool(base: Baseline, net: Network, demand_snap: Snap, surface=None):
    """The baseline's OD pool carried over to ``net`` (edited road links), dropping blocks the edits may change; on a
    study with off-road tiers, a dict of such pools by way of travel (their road speeds edited, see
    :meth:`geoaccess.measures.ODPool.edited`). Added roads change the terrain (``surface``, the study's own joined to
    ``net``: :func:`geoaccess.load.terrain.with_added_roads`): the pools follow it, keeping the blocks out of the
    changed ground's reach too (:func:`geoaccess.scenarios.offroad.ground_bound`)."""
    base_inp = base.inputs
    old = base_inp.network
    n = old.n_links
    edited = np.flatnonzero((net.link_fwd[:n] != old.link_fwd) | (net.link_bwd[:n] != old.link_bwd))
    ends = unique(np.concatenate([net.link_u[edited], net.link_v[edited], net.link_u[n:], net.link_v[n:]]))
    to_facility = base.settings.direction == "to_facility"
    # minutes from an edited link end to each node (to_facility) or from each node to one (from_facility)
    edit_minutes = paths.nearest(old, ends, reverse=not to_facility)[0] if ends.size else np.full(old.n_nodes, np.inf)
    ds = base_inp.demand_snap
    moved = np.flatnonzero(
        (demand_snap.link != ds.link) | (demand_snap.t != ds.t) | (demand_snap.offroad_m != ds.offroad_m)
    )
    terrain = base.study._terrain_pools
    if not terrain:
        return base.od_pool().edited(net, demand_snap, edit_minutes, moved)
    out = {}
    for m, pool in terrain.items():
        ground = None
        if surface is not None and surface.friction is not pool.surface.friction:
            # cells made walkable: the blocks out of their reach are kept
            from geoaccess.scenarios.offroad import ground_bound

            cut = max((k[3] for k in pool._index), default=0.0)
            ground = ground_bound(pool.surface, surface, net, list(pool._index), m, to_facility, cut)
        out[m] = pool.edited(net, demand_snap, edit_minutes, moved, surface=surface, ground=ground)
    if base.study._od_pool is not None:
        out["road"] = base.study._od_pool.edited(net, demand_snap, edit_minutes, moved)
    return out


def remove_sources(net, base: TierResult, snap: Snap, demand_snap: Snap, lost, keep, to_facility, walk_kmh):
    """The baseline tier without the facilities at positions ``lost``; ``keep`` are those still serving. Exact.

    Only the nodes and people the lost facilities served are searched again (from the edge of the area they
    served, and from remaining facilities inside it).
    """
    inv = np.full(len(snap), -1, dtype=np.int64)
    inv[keep] = np.arange(keep.size)
    sub = snap[keep]
    trip = Trip(net, walk_kmh, to_facility)
    node_min, node_fac = road_without(trip, base, snap, lost, keep)
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


def road_without(trip: Trip, base: TierResult, snap: Snap, lost, keep) -> tuple[np.ndarray, np.ndarray]:
    """The road nodes' minutes and facility (table positions) of ``base`` without the facilities at ``lost``, by
    ``trip``'s road part (:func:`geoaccess.paths.without_labels`): road tiers and off-road tiers' road legs alike."""
    nodes, start, labels = trip.seeds(snap[keep])
    node_min, node_fac = paths.without_labels(
        trip.net, base.node_minutes, base.node_facility, lost, nodes, start, keep[labels], reverse=trip.to_facility
    )
    return node_min, node_fac.astype(base.node_facility.dtype)


def add_sources(net, base: TierResult, snap: Snap, demand_snap: Snap, positions, to_facility, walk_kmh):
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
def study_area(inp):
    return inp.counties.to_crs("EPSG:4326").union_all()


def outside(area, lon, lat, tol: float = 0.0) -> bool:
    """Whether the point (WGS84) lies outside the study area ``area`` (:func:`study_area`) by more than ``tol``
    degrees."""
    p = shapely.Point(lon, lat)
    return not area.covers(p) if tol == 0.0 else not area.dwithin(p, tol)


def apply_facilities(settings, inp, scenario: Scenario):
    """The scenario's facility table and snaps; ``changed`` flags rows whose site moved."""
    s = settings
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
            area = study_area(inp)
        if outside(area, e["lon"], e["lat"]):
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


def apply_roads(inp, scenario: Scenario) -> Network:
    """A new network with the scenario's road edits; link indices of the baseline are kept."""
    net = inp.network
    to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    area = study_area(inp)
    problems = []
    fwd, bwd = net.link_fwd.copy(), net.link_bwd.copy()
    length = shapely.length(net.geometry)
    tree = cKDTree(np.column_stack([net.x, net.y]))

    def node(p, label):
        if outside(area, p[0], p[1], ROAD_END_AREA_TOL_DEG):
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
        links = route_links(net, ends)
        if links is None:
            problems.append(f"{label}: no drivable route joins the points {e['route']}")
            continue
        mins = length[links] / (e["kmh"] * 1000.0 / 60.0)
        fwd[links] = np.where(np.isfinite(fwd[links]), mins, np.inf)
        bwd[links] = np.where(np.isfinite(bwd[links]), mins, np.inf)
    new_u, new_v, new_f, new_b, new_g, new_c = [], [], [], [], [], []
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
        new_c.append(e.get("class", ""))  # "motorway": driven, never entered from the terrain ([travel] no_entry)
    if problems:
        raise InputError(
            f"scenario {scenario.name!r}: road edits cannot be applied",
            path=scenario.path or scenario.name,
            problems=problems,
        )
    geometry = np.concatenate([net.geometry, np.array(new_g, dtype=object)]) if new_g else net.geometry
    link_class = net.link_class
    if new_c and (link_class is not None or any(new_c)):  # one class per link, the added ones too ("" = none)
        old_c = np.full(net.n_links, "", dtype=object) if link_class is None else np.asarray(link_class, dtype=object)
        link_class = np.concatenate([old_c, np.array(new_c, dtype=object)])
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
        link_class=link_class,
    )


def onto_new_links(net: Network, n_old: int, px: np.ndarray, py: np.ndarray, snap: Snap) -> Snap:
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


def route_links(net: Network, ends: list[int]) -> np.ndarray | None:
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
    return unique(np.concatenate(out))
