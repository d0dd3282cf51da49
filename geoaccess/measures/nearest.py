"""Measures per demand point: minutes to the nearest facility of each tier of care.

Travel direction follows the study: patients drive *to* facilities (``reverse=True`` search over the
network) unless the study says ``from_facility``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from geoaccess import paths
from geoaccess.network import Network, Snap

log = logging.getLogger(__name__)


@dataclass
class TierResult:
    """Minutes to the nearest serving facility for every demand point, and which facility it is."""

    tier: str
    minutes: np.ndarray  # per demand point, inf = unreachable
    facility: np.ndarray  # per demand point: row position in the facilities table, -1 = none
    node_minutes: np.ndarray  # per network node
    node_facility: np.ndarray


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
) -> TierResult:
    """Minutes from each demand point to its nearest serving facility (door to door, with walking legs)."""
    n_dem = len(demand_snap)
    pos = np.flatnonzero(serving)
    if pos.size == 0:
        log.warning("tier %s has no facility; everyone is beyond reach", tier)
        inf = np.full(n_dem, np.inf)
        none = np.full(n_dem, -1, dtype=np.int64)
        return TierResult(tier, inf, none, np.full(net.n_nodes, np.inf), np.full(net.n_nodes, -1))
    sub = facility_snap[pos]
    nodes, start, labels = net.seeds(sub, walk_kmh=walk_kmh, reverse=to_facility)
    node_min, node_lab = paths.seeded(net, nodes, start, labels, reverse=to_facility)
    minutes, lab = net.point_minutes(node_min, demand_snap, walk_kmh=walk_kmh, reverse=to_facility, node_label=node_lab)
    # a demand point on the same link as a facility may reach it directly along the link
    minutes, lab = _same_link(net, sub, demand_snap, minutes, lab, walk_kmh, to_facility)
    facility = np.where(lab >= 0, pos[np.maximum(lab, 0)], -1)
    node_fac = np.where(node_lab >= 0, pos[np.maximum(node_lab, 0)], -1)
    return TierResult(tier, minutes, facility, node_min, node_fac)


def _same_link(net, fsnap, dsnap, minutes, lab, walk_kmh, to_facility):
    """Direct trips along a shared link, which never pass through a node."""
    mpm = walk_kmh * 1000.0 / 60.0
    f_order = np.argsort(fsnap.link, kind="stable")
    f_links = fsnap.link[f_order]
    lo = np.searchsorted(f_links, dsnap.link, side="left")
    hi = np.searchsorted(f_links, dsnap.link, side="right")
    cand = np.flatnonzero(hi > lo)
    if cand.size == 0:
        return minutes, lab
    minutes = minutes.copy()
    lab = lab.copy()
    for i in cand:
        link = dsnap.link[i]
        for j in f_order[lo[i] : hi[i]]:
            # driving from the demand point (td) to the facility (tf) along the link
            td, tf = dsnap.t[i], fsnap.t[j]
            if not to_facility:
                td, tf = tf, td
            drive = (tf - td) * net.link_fwd[link] if tf >= td else (td - tf) * net.link_bwd[link]
            total = dsnap.offroad_m[i] / mpm + drive + fsnap.offroad_m[j] / mpm
            if total < minutes[i]:
                minutes[i] = total
                lab[i] = j
    return minutes, lab
