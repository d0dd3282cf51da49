"""Referral network: minutes from each facility to the nearest facility of the next level up.

Levels run village → township → county → regional. A facility's level comes from its ``type`` where
the study maps that type to a level (village clinics and township / community health centres are both
in the primary tier), else from its tier. Referral trips run *to* the higher facility.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoaccess.measures.nearest import nearest_facility
from geoaccess.network import Network, Snap


def facility_levels(facilities: pd.DataFrame, levels: list[str], type_level: dict, tier_level: dict) -> np.ndarray:
    """Level rank per facility (index into ``levels``), -1 where neither its type nor its tier maps."""
    rank = {name: i for i, name in enumerate(levels)}
    by_tier = facilities["tier"].map(tier_level).map(rank)
    if "type" in facilities.columns:
        by_type = (
            facilities["type"].astype(str).str.strip().str.lower().map({k.lower(): v for k, v in type_level.items()})
        )
        by_type = by_type.map(rank)
        out = by_type.fillna(by_tier)
    else:
        out = by_tier
    return out.fillna(-1).astype(int).to_numpy()


def referral_table(
    net: Network,
    facility_snap: Snap,
    facilities: pd.DataFrame,
    level: np.ndarray,
    levels: list[str],
    threshold_min: dict[str, float],
    *,
    walk_kmh: float = 4.5,
    higher_levels_count: bool = True,
    modes: dict[str, str] | None = None,
    surface=None,
) -> pd.DataFrame:
    """One row per facility below the top level: nearest next-level facility, minutes, over threshold.

    ``threshold_min`` is keyed by the *receiving* level (e.g. ``county``: township → county links above
    it are flagged). With ``higher_levels_count`` a facility of any level above the next also receives
    referrals (a county hospital stands in for a missing township centre).

    ``modes`` (receiving level -> "road" | "mixed" | "walk_only", road where missing) makes the trip to a level the
    one of the tier it belongs to, over the terrain ``surface`` (a :class:`geoaccess.terrain.Surface` whose
    ``facility_cell`` follows ``facility_snap``) for the off-road ones: the minutes a patient of that tier travels.
    """
    level = np.asarray(level)
    rows = []
    for k in range(len(levels) - 1):
        lower = np.flatnonzero(level == k)
        if lower.size == 0:
            continue
        serving = level >= k + 1 if higher_levels_count else level == k + 1
        sub = facility_snap[lower]
        to = levels[k + 1]
        mode = (modes or {}).get(to, "road")
        if mode == "road":
            r = nearest_facility(
                net, facility_snap, sub, serving, to_facility=True, walk_kmh=walk_kmh, tier=f"referral to {to}"
            )
        else:
            r = _off_road(net, facility_snap, sub, serving, lower, walk_kmh, mode, surface)
        thr = float(threshold_min.get(to, np.inf))
        for i, pos in enumerate(lower):
            j = int(r.facility[i])
            rows.append(
                {
                    "from_pos": int(pos),
                    "from_level": levels[k],
                    "to_pos": j,
                    "to_level": to,
                    "minutes": float(r.minutes[i]),
                    "threshold_min": thr,
                    "over_threshold": bool(r.minutes[i] > thr),
                }
            )
    cols = ["from_pos", "from_level", "to_pos", "to_level", "minutes", "threshold_min", "over_threshold"]
    return pd.DataFrame(rows, columns=cols)


def _off_road(net, facility_snap, sub, serving, lower, walk_kmh, mode, surface):
    """The nearest serving facility (``facility``, -1 none) and ``minutes`` of each facility in ``lower`` over the
    terrain (``mode`` mixed or walk_only)."""
    from types import SimpleNamespace

    from geoaccess.trip import Trip

    pos = np.flatnonzero(serving)
    if pos.size == 0:
        return SimpleNamespace(minutes=np.full(len(sub), np.inf), facility=np.full(len(sub), -1))
    trip = Trip(net, walk_kmh, True, surface=surface, mode=mode)
    cells = surface.facility_cell
    minutes, lab, _, _ = trip.nearest(facility_snap[pos], sub, fcells=cells[pos], dcells=cells[lower])
    return SimpleNamespace(minutes=minutes, facility=np.where(lab >= 0, pos[np.maximum(lab, 0)], -1))
