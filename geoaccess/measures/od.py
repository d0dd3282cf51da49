"""Origin–destination tables between demand points and facilities, within a cutoff.

One function builds them, so that it can later switch to a faster batch call of the path engine
without touching the measures that read the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoaccess import paths
from geoaccess.measures.nearest import _same_link
from geoaccess.network import Network, Snap

OD_COLUMNS = ("origin", "destination", "minutes")


def _points_by_node(net: Network, demand_snap: Snap):
    """CSR from node to the demand points on links that end at that node."""
    n_pts = len(demand_snap)
    ends = np.concatenate([net.link_u[demand_snap.link], net.link_v[demand_snap.link]])
    pts = np.concatenate([np.arange(n_pts), np.arange(n_pts)])
    order = np.argsort(ends, kind="stable")
    ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(ends, minlength=net.n_nodes), out=ptr[1:])
    return ptr, pts[order]


def _gather(ptr: np.ndarray, values: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Concatenate ``values[ptr[n]:ptr[n+1]]`` for every node, without a Python loop."""
    start, stop = ptr[nodes], ptr[nodes + 1]
    lengths = stop - start
    total = int(lengths.sum())
    if total == 0:
        return values[:0]
    offsets = np.repeat(start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return values[np.arange(total) + offsets]


def od_table(
    net: Network,
    facility_snap: Snap,
    demand_snap: Snap,
    cutoff: float | np.ndarray,
    facilities: np.ndarray | None = None,
    *,
    to_facility: bool = True,
    walk_kmh: float = 4.5,
) -> pd.DataFrame:
    """Door-to-door minutes between demand points and facilities, for pairs within the cutoff.

    Parameters
    ----------
    net, facility_snap, demand_snap
        The network and where facilities and demand points meet it.
    cutoff
        Minutes; one value, or one per facility in ``facilities``.
    facilities
        Row positions (in ``facility_snap``) of the facilities to include; all by default.
    to_facility
        Patients travel to the facility (the default) or from it.

    Returns
    -------
    DataFrame
        ``origin`` (demand point position), ``destination`` (facility position), ``minutes``; pairs
        beyond the cutoff or unreachable are absent. Sorted by destination (in ``facilities`` order), then
        minutes.
    """
    fac = np.arange(len(facility_snap)) if facilities is None else np.asarray(facilities, dtype=np.int64)
    cut = np.broadcast_to(np.asarray(cutoff, dtype=np.float64), fac.shape)
    ptr, by_node = _points_by_node(net, demand_snap)
    by_link = np.argsort(demand_snap.link, kind="stable")
    sorted_links = demand_snap.link[by_link]
    mark = np.zeros(len(demand_snap), dtype=bool)
    origins, dests, mins = [], [], []
    for j, c in zip(fac, cut, strict=True):
        one = facility_snap[j : j + 1]
        nodes, start, labels = net.seeds(one, walk_kmh=walk_kmh, reverse=to_facility)
        if nodes.size:
            node_min, _ = paths.seeded(net, nodes, start, labels, cutoff=c, reverse=to_facility)
            reached = np.flatnonzero(np.isfinite(node_min))
        else:
            node_min, reached = np.full(net.n_nodes, np.inf), np.zeros(0, dtype=np.int64)
        cand = _gather(ptr, by_node, reached)
        # points on the facility's own link can reach it without passing a node
        lo, hi = np.searchsorted(sorted_links, [one.link[0], one.link[0] + 1])
        same = by_link[lo:hi]
        mark[cand] = True
        mark[same] = True
        cand = np.flatnonzero(mark)
        mark[cand] = False
        if cand.size == 0:
            continue
        sub = demand_snap[cand]
        m = net.point_minutes(node_min, sub, walk_kmh=walk_kmh, reverse=to_facility)
        m, _ = _same_link(net, one, sub, m, np.zeros(cand.size, dtype=np.int64), walk_kmh, to_facility)
        keep = m <= c
        o, m = cand[keep], m[keep]
        order = np.argsort(m)
        origins.append(o[order].astype(np.int32))
        mins.append(m[order])
        dests.append(np.full(o.size, j, dtype=np.int32))
    if not origins:
        return pd.DataFrame({"origin": np.zeros(0, np.int32), "destination": np.zeros(0, np.int32), "minutes": []})
    return pd.DataFrame(
        {"origin": np.concatenate(origins), "destination": np.concatenate(dests), "minutes": np.concatenate(mins)},
        copy=False,
    )
