"""Facility edits on tiers that travel off-road (``[travel] mode`` / ``[[tiers]] mode`` "mixed" or "walk_only", and the
``compare_walk_only`` twins): the incremental updates of :mod:`geoaccess.scenarios.apply`, over the study's terrain.

An off-road tier's minutes come from one search over the friction surface (:meth:`geoaccess.trip.Trip.terrain_minutes`)
seeded at its facilities' grid cells (0 minutes) and, in ``mixed``, at every road point with its door-to-door road
minutes. The surface itself does not depend on the facilities: an edited facility table only seeds other cells
(:meth:`geoaccess.study.Study.facility_cells`) and, through its road snaps, other road minutes. So:

* adding facilities searches from the new facilities' seeds only: their cells, and the road points they now reach
  strictly sooner than the baseline's facilities did; bounded by the baseline's largest finite minutes at the tier's
  populated cells (nothing farther can improve a cell); a cell takes the new minutes only where strictly better.
  Cells nobody reached at baseline (a valley cut off by a river) are waited for by a second search, only when the
  new seeds can reach them at all;
* removing facilities searches from every remaining seed, waiting only for the cells the lost facilities served.

Both equal a full recompute of the tier to the bit: a search's minutes at a cell are the least, over paths from
its seeds, of the path's left-to-right sum, each step monotone in floating point, so the minutes of a union of
seeds are the element-wise minimum of its parts' (as for road tiers, :func:`geoaccess.scenarios.apply.add_sources`).
The facility of an exact tie between an old and a new site stays the baseline's.
"""

from __future__ import annotations

import copy
import logging

import numpy as np

from geoaccess._arrays import unique
from geoaccess.measures import TierResult
from geoaccess.network import Snap
from geoaccess.scenarios.apply import road_without
from geoaccess.trip import Trip

log = logging.getLogger(__name__)


def edited_surface(surface, facility_cell: np.ndarray):
    """The study's surface with the cells of an edited facility table (the grids and road points are shared, not
    copied): what a full recompute of a scenario searches over."""
    out = copy.copy(surface)
    out.facility_cell = np.asarray(facility_cell, dtype=np.int64)
    return out


def ground_bound(old, new, net, keys, mode: str, to_facility: bool, cutoff: float) -> dict:
    """Per OD block key (:meth:`geoaccess.measures.ODPool.edited`: facility link, t, offroad, cutoff, cell), a lower
    bound on the minutes of any ``mode`` trip between its facility and the ground the surface ``new`` changed from
    ``old`` (the same grid; the cells whose friction differs), inf beyond ``cutoff``; ``net``: the edited network.

    A trip whose minutes the change alters makes a walking move that touches a changed cell (into, out of, or past
    it: the cells a diagonal or knight's move passes; people in a river cell stepping out), and such a move ends or
    starts within one move of it; between the facility and there the trip runs over unchanged ground. So one walking
    search over ``old`` from the changed cells and every cell a move away (travelling from them when people travel to
    facilities, towards them otherwise) bounds that part from below: walking only, read at the facility's cell;
    mixed, also read at every road point's cell and carried along the roads (the drive along a point's own link and
    the walks to and off the road counted as 0) to the ends of the facility's link, and along that link. A block
    whose bound exceeds its cutoff holds the very pairs a fresh pool would.
    """
    from geoaccess import paths
    from geoaccess.terrain import moves, search

    rows, cols = old.shape
    changed = np.flatnonzero(old.friction.reshape(-1) != new.friction.reshape(-1))
    if changed.size == 0:
        return {k: np.inf for k in keys}
    r, q = np.divmod(changed, cols)
    near = [changed]
    for dr, dc in moves(True):  # every move, knight's too, and the 8 neighbours people step out to
        rr, qq = r + dr, q + dc
        inside = (rr >= 0) & (rr < rows) & (qq >= 0) & (qq < cols)
        near.append((rr * cols + qq)[inside])
    seeds = unique(np.concatenate(near))
    # on the raw grid, with room for rounding at the cutoff (the seeds include impassable cells: they spread nowhere)
    dist, _ = search(
        old.friction, np.column_stack([seeds // cols, seeds % cols]), cell_size=(old.cell_m, old.cell_m),
        knight=old.knight, dem=old.dem, to_sources=not to_facility, cut_corners=old.cut_corners,
        cutoff=cutoff * (1 + 1e-6) + 1e-6,
    )  # fmt: skip
    flat = dist.reshape(-1)
    via_link = via_node = None
    if mode == "mixed":
        # the walk at each road point's cell, least per link; then along the roads (every link end of a point's link
        # starts at its link's least: the drive along the link counted as 0)
        at = flat[new.road_cell].astype(np.float64)
        via_link = np.full(net.n_links, np.inf)
        np.minimum.at(via_link, new.road_snap.link, at)
        ok = np.flatnonzero(np.isfinite(via_link))
        nodes = np.concatenate([net.link_u[ok], net.link_v[ok]])
        start = np.concatenate([via_link[ok], via_link[ok]])
        if nodes.size:
            via_node, _ = paths.seeded(
                net, nodes, start, np.zeros(nodes.size, dtype=np.int64), cutoff=cutoff * (1 + 1e-6) + 1e-6,
                reverse=not to_facility,
            )  # fmt: skip
    out = {}
    for k in keys:
        link, cell = k[0], k[4]
        b = float(flat[cell]) if cell >= 0 else np.inf
        if via_link is not None:
            b = min(b, float(via_link[link]))
            if via_node is not None:
                b = min(b, float(via_node[net.link_u[link]]), float(via_node[net.link_v[link]]))
        out[k] = b
    return out


def _road_point_minutes(trip: Trip, node_min, node_lab, fsnap: Snap):
    """Door-to-door road minutes (and facility label) of every road point of the surface, as
    :meth:`~geoaccess.trip.Trip.terrain_minutes` seeds them."""
    sf = trip.surface
    m, lab = trip.point_minutes(node_min, sf.road_snap, node_label=node_lab)
    return trip.same_link(fsnap, sf.road_snap, m, lab)


def _terrain(trip: Trip, fcells, fminutes, flabels, road, targets, cutoff=None):
    """One search over the surface from facility cells (and road points ``road = (minutes, labels)`` or None), read
    at the demand cells ``targets`` (positions into the surface's ``demand_cell``)."""
    sf = trip.surface
    cells, start, labels = [np.asarray(fcells, dtype=np.int64)], [fminutes], [flabels]
    if road is not None:
        keep = np.flatnonzero(np.isfinite(road[0]))
        cells.append(sf.road_cell[keep])
        start.append(road[0][keep])
        labels.append(road[1][keep])
    # every demand cell: the surface's own array, whose targets are sorted once for every tier
    dcells = sf.demand_cell if targets.size == sf.demand_cell.size else sf.demand_cell[targets]
    dist, label = sf.minutes(
        np.concatenate(cells), np.concatenate(start), np.concatenate(labels).astype(np.int64), trip.to_facility,
        sf.targets(dcells), cutoff=cutoff,
    )  # fmt: skip
    out = sf.at(dist, label, dcells)
    sf.buffers.give(dist, label)
    return out


def remove_sources(
    trip: Trip, base: TierResult, snap: Snap, fcells: np.ndarray, lost: np.ndarray, keep: np.ndarray
) -> TierResult:
    """The off-road tier ``base`` without the facilities at positions ``lost`` (``keep``: those still serving); exact.

    The road minutes are updated as for a road tier (:func:`geoaccess.paths.without_labels`); the terrain is searched
    from every remaining seed, but only until the cells the lost facilities served are final.
    """
    node_min, node_fac = road_without(Trip(trip.net, trip.walk_kmh, trip.to_facility), base, snap, lost, keep)
    cells = np.flatnonzero(np.isin(base.facility, lost))
    minutes, facility = base.minutes.copy(), base.facility.copy()
    if keep.size == 0:  # the tier has no facility left: nobody reaches one
        minutes[cells], facility[cells] = np.inf, -1
    elif cells.size:
        # labels are facility positions in the edited table, in table order: one seed per cell picks the same one
        # a full recompute does (seeds in the order of the serving facilities)
        pts = _relabel_same_link(trip, node_min, node_fac, snap, keep) if trip.mode == "mixed" else None
        m, lab = _terrain(trip, fcells[keep], np.zeros(keep.size), keep, pts, cells)
        minutes[cells], facility[cells] = m, lab
    log.info("off-road tier %s: %d cells searched again after removals", base.tier, cells.size)
    return TierResult(base.tier, minutes, facility, node_min, node_fac)


def _relabel_same_link(trip: Trip, node_min, node_fac, snap: Snap, keep: np.ndarray):
    """Road point minutes of the facilities ``keep`` with table positions as labels: node labels are table positions
    (``node_fac``), and the direct trips along a facility's own link label it by its position in ``snap[keep]``."""
    inv = np.full(len(snap), -1, dtype=np.int64)
    inv[keep] = np.arange(keep.size)
    node_idx = np.where(node_fac >= 0, inv[np.maximum(node_fac, 0)], -1)  # as positions in ``keep``
    m, lab = _road_point_minutes(trip, node_min, node_idx, snap[keep])
    return m, np.where(lab >= 0, keep[np.maximum(lab, 0)], -1)


def add_sources(
    trip: Trip, base: TierResult, snap: Snap, fcells: np.ndarray, positions: np.ndarray, old: np.ndarray
) -> TierResult:
    """The off-road tier ``base`` with the facilities at ``positions`` added (``old``: the positions serving it
    before); exact.

    Seeds: the new facilities' cells, and (``mixed``) the road points they reach strictly sooner than the baseline's
    facilities do. The search stops at the baseline's largest finite minutes at the tier's populated cells; cells no
    facility reached at baseline get a second search, waiting for them alone, when the new seeds can reach them.
    """
    positions = np.asarray(positions, dtype=np.int64)
    net, sf = trip.net, trip.surface
    road = Trip(net, trip.walk_kmh, trip.to_facility)
    # the road minutes, as for a road tier (scenarios.apply.add_sources): bounded by the baseline's farthest node
    finite = np.isfinite(base.node_minutes)
    node_cut = float(base.node_minutes.max()) if finite.all() and finite.size else None
    sub = snap[positions]
    new_node, new_lab = road.search(sub, cutoff=node_cut)
    node_better = new_node < base.node_minutes
    node_min = np.where(node_better, new_node, base.node_minutes)
    node_fac = np.where(node_better, positions[np.maximum(new_lab, 0)], base.node_facility)
    pts = None
    if trip.mode == "mixed":
        m_new, l_new = _road_point_minutes(trip, new_node, new_lab, sub)
        # the baseline's road seeds: a road point the new facilities do not reach strictly sooner seeds nothing new
        # (its cell was seeded at baseline no later, so every walk from it is matched)
        m_old, _ = _road_point_minutes(trip, base.node_minutes, base.node_facility.astype(np.int64), snap[old])
        better = m_new < m_old
        pts = (np.where(better, m_new, np.inf), np.where(better & (l_new >= 0), positions[np.maximum(l_new, 0)], -1))
    have = np.flatnonzero(sf.demand_cell >= 0)
    minutes, facility = base.minutes.copy(), base.facility.copy()
    reached = np.isfinite(base.minutes[have])
    cutoff = float(base.minutes[have][reached].max()) if reached.any() else 0.0
    m, lab = _terrain(trip, fcells[positions], np.zeros(positions.size), positions, pts, have, cutoff=cutoff)
    gain = m < base.minutes[have]
    minutes[have[gain]], facility[have[gain]] = m[gain], lab[gain]
    lone = have[~reached]
    if lone.size:
        # nobody reached these at baseline: any minutes are a gain, however far. A search waiting for them alone (it
        # stops at once when they lie on ground the new seeds cannot reach)
        m, lab = _terrain(trip, fcells[positions], np.zeros(positions.size), positions, pts, lone)
        ok = np.isfinite(m)
        minutes[lone[ok]], facility[lone[ok]] = m[ok], lab[ok]
    log.info(
        "off-road tier %s: %d facilities added, %d cells gain (search bounded at %.1f min)",
        base.tier, positions.size, int(gain.sum()) + int(np.isfinite(minutes[lone]).sum()), cutoff,
    )  # fmt: skip
    return TierResult(base.tier, minutes, facility, node_min, node_fac)
