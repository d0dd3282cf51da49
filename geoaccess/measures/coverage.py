"""Coverage: cumulative people reached by travel time, and capacity-aware coverage (as AccessMod).

Capacity-aware coverage follows AccessMod's geographic coverage analysis: facilities are taken one at a
time, largest capacity first; each serves the people still unserved in order of travel time until its
capacity (beds × people per bed) is used up or its catchment ends at the tier's threshold. The cell
where capacity runs out is served in part. People served by one facility are no longer available to
the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def coverage_curve(minutes: np.ndarray, people: np.ndarray, group: np.ndarray, n_groups: int, steps) -> np.ndarray:
    """People reached within each of ``steps`` minutes, per group: an array (n_groups, len(steps))."""
    out = np.empty((n_groups, len(steps)))
    for k, m in enumerate(steps):
        ok = minutes <= m
        out[:, k] = np.bincount(group[ok], weights=people[ok], minlength=n_groups)
    return out


@dataclass
class CapacityCoverage:
    """People served per demand point, and catchment population and capacity per facility."""

    served: np.ndarray  # per demand point
    unserved: np.ndarray  # per demand point: people - served
    catchment: np.ndarray  # per facility: people it serves
    capacity: np.ndarray  # per facility


def capacity_coverage(od: pd.DataFrame, people: np.ndarray, capacity: np.ndarray, order=None) -> CapacityCoverage:
    """Serve people facility by facility, nearest first, until each facility's capacity is used up.

    Parameters
    ----------
    od
        ``origin`` (demand point position), ``destination`` (facility position), ``minutes``: only the
        pairs within the catchment (the tier's threshold).
    people
        People per demand point.
    capacity
        People each facility can serve (indexed by facility position).
    order
        Facility positions in processing order; by default largest capacity first (ties: lower position).

    Ties in minutes are served in the table's order if it is already sorted by destination and minutes
    (as :func:`od_table` returns it), else in origin order.
    """
    people = np.asarray(people, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    remaining = people.copy()
    catchment = np.zeros(capacity.size)
    if order is None:
        order = np.lexsort((np.arange(capacity.size), -capacity))
    o = od["origin"].to_numpy()
    d = od["destination"].to_numpy()
    t = od["minutes"].to_numpy()
    if not _sorted(d, t):  # od_table already hands them over in this order
        by = np.lexsort((o, t, d))
        o, d = o[by], d[by]
    bounds = np.searchsorted(d, np.arange(capacity.size + 1))
    for j in order:
        cap = capacity[j]
        if cap <= 0:
            continue
        pts = o[bounds[j] : bounds[j + 1]]
        if pts.size == 0:
            continue
        want = remaining[pts]
        before = np.cumsum(want) - want
        take = np.clip(cap - before, 0.0, want)
        remaining[pts] -= take
        catchment[j] = take.sum()
    served = people - remaining
    return CapacityCoverage(served, remaining, catchment, capacity)


def _sorted(d: np.ndarray, t: np.ndarray) -> bool:
    """Whether rows are ordered by destination, then minutes."""
    if d.size < 2:
        return True
    dd = np.diff(d)
    return bool(np.all((dd > 0) | ((dd == 0) & (np.diff(t) >= 0))))
