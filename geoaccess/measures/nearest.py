"""Measures per demand point: minutes to the nearest facility of each tier of care.

Travel direction follows the study: patients drive *to* facilities (``reverse=True`` search over the
network) unless the study says ``from_facility``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from geoaccess.network import Network, Snap
from geoaccess.trip import Trip

log = logging.getLogger(__name__)


@dataclass
class TierResult:
    """Minutes to the nearest serving facility for every demand point, and which facility it is."""

    tier: str
    minutes: np.ndarray  # per demand point, inf = unreachable
    facility: np.ndarray  # per demand point: row position in the facilities table, -1 = none
    node_minutes: np.ndarray  # per network node
    node_facility: np.ndarray
    # off-road tiers asked for their service areas (``area_cells``): minutes and facility at the land pixels of the
    # areas' grid, read off the terrain search (inf / -1 beyond what it made final); None otherwise
    area_minutes: np.ndarray | None = None
    area_facility: np.ndarray | None = None


def serving_mask(tier_rank: np.ndarray, tier_index: int, serve_lower_tiers: bool = True) -> np.ndarray:
    """Which facilities serve a tier: that tier, and (by default) every tier above it."""
    tier_rank = np.asarray(tier_rank)
    return tier_rank >= tier_index if serve_lower_tiers else tier_rank == tier_index


def nearest_facility(
    net: Network,
    facility_snap: Snap,
    demand_snap: Snap,
    serving: np.ndarray,
    *,
    to_facility: bool = True,
    walk_kmh: float = 4.5,
    tier: str = "",
    mode: str = "road",
    surface=None,
    area_cells=None,
    sweep_to: float | None = None,
) -> TierResult:
    """Minutes from each demand point to its nearest serving facility (door to door, with walking legs).

    ``mode`` "mixed" or "walk_only" travel off-road over ``surface`` (a :class:`geoaccess.terrain.Surface` whose
    ``facility_cell`` and ``demand_cell`` follow ``facility_snap`` and ``demand_snap``); see :class:`Trip`.
    ``area_cells`` (off-road modes; flat surface cells, -1 off it: :meth:`geoaccess.areas.Layout.surface_cells`)
    also keeps the search's minutes and facility there, exact within ``sweep_to`` minutes (the tier's largest
    band), as ``area_minutes`` and ``area_facility``; road tiers' areas come from the node minutes instead.
    """
    n_dem = len(demand_snap)
    pos = np.flatnonzero(serving)
    if pos.size == 0:
        log.warning("tier %s has no facility; everyone is beyond reach", tier)
        inf = np.full(n_dem, np.inf)
        none = np.full(n_dem, -1, dtype=np.int64)
        r = TierResult(tier, inf, none, np.full(net.n_nodes, np.inf), np.full(net.n_nodes, -1))
        if area_cells is not None and mode != "road":
            r.area_minutes = np.full(len(area_cells), np.inf)
            r.area_facility = np.full(len(area_cells), -1, dtype=np.int32)
        return r
    trip = Trip(net, walk_kmh, to_facility, surface=surface, mode=mode)
    cells = {} if mode == "road" else {"fcells": surface.facility_cell[pos], "dcells": surface.demand_cell}
    if area_cells is not None and mode != "road":
        cells |= {"sample": area_cells, "sweep_to": sweep_to}
    minutes, lab, node_min, node_lab, *sampled = trip.nearest(facility_snap[pos], demand_snap, **cells)
    facility = np.where(lab >= 0, pos[np.maximum(lab, 0)], -1)
    node_fac = np.where(node_lab >= 0, pos[np.maximum(node_lab, 0)], -1)
    r = TierResult(tier, minutes, facility, node_min, node_fac)
    if sampled:
        s_min, s_lab = sampled[0]
        r.area_minutes, r.area_facility = s_min, np.where(s_lab >= 0, pos[np.maximum(s_lab, 0)], -1).astype(np.int32)
    return r
