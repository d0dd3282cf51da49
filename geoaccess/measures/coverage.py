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
from numba import njit

from geoaccess._kernels import prefetch
from geoaccess.measures.blocks import ODBlocks


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
    capacity = np.asarray(capacity, dtype=np.float64)
    blocks = ODBlocks.from_frame(od, capacity.size)
    return capacity_coverage_blocks(blocks, blocks.length, people, capacity, order)


def capacity_coverage_blocks(blocks, take: np.ndarray, people, capacity, order=None) -> CapacityCoverage:
    """:func:`capacity_coverage` over per-facility OD blocks, each facility's first ``take[j]`` pairs."""
    people = np.ascontiguousarray(people, dtype=np.float64)
    capacity = np.ascontiguousarray(capacity, dtype=np.float64)
    if order is None:
        order = np.lexsort((np.arange(capacity.size), -capacity))
    take = np.minimum(np.asarray(take, dtype=np.int64), blocks.length)
    remaining, catchment = _serve(blocks.origin, blocks.start, take, people, capacity, np.asarray(order, np.int64))
    return CapacityCoverage(people - remaining, remaining, catchment, capacity)


@njit(cache=True, nogil=True)
def _serve(origin, start, take, people, capacity, order):
    remaining = people.copy()
    catchment = np.zeros(capacity.size)
    for j in order:
        cap = capacity[j]
        if not cap > 0:
            continue
        wanted = 0.0  # people wanted by the nearer points, served or not (as a running sum)
        got = 0.0
        end = start[j] + take[j]
        for k in range(start[j], end):
            if wanted >= cap:
                break  # every farther point gets nothing
            if k + 16 < end:  # the cells of a block lie all over the raster: fetch one ahead of need
                prefetch(remaining, origin[k + 16])
            p = origin[k]
            want = remaining[p]
            t = min(max(cap - wanted, 0.0), want)
            remaining[p] -= t
            got += t
            wanted += want
        catchment[j] = got
    return remaining, catchment
