"""Numba kernels of calibration: one shortest path per observed trip, with the minutes it spends on each road class.

Plain numpy arrays only. The graph is CSR over arcs that keep their own identity (parallel arcs are not collapsed,
so every arc has one road class): ``indptr`` (n+1), ``head``, ``arc_tail``, ``minutes`` (current speeds),
``base`` (minutes at the study's speeds) and ``arc_class``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from geoaccess._kernels import _pop4, _push4


@njit(cache=True, nogil=True)
def _route(indptr, head, minutes, s_node, s_min, t_node, t_min, dist, pred, root, touched, hd, hv):
    """Dijkstra from two seeds (node, start minutes) to the cheaper of two targets (node, end minutes).

    Stops as soon as the smallest minutes left in the queue cannot beat the best target: a trip's search stays
    local. Returns ``(best minutes, target index or -1, number of nodes touched)``; ``pred`` holds the arc into each
    touched node (-1 at a seed) and ``root`` the seed it grew from.
    """
    nt = 0
    size = 0
    for k in range(2):
        v = s_node[k]
        d = s_min[k]
        if not d < np.inf:
            continue
        if dist[v] == np.inf:
            touched[nt] = v
            nt += 1
        if d < dist[v]:
            dist[v] = d
            pred[v] = -1
            root[v] = k
            size = _push4(hd, hv, size, d, v)
    best = np.inf
    end = -1
    while size > 0:
        d, v, size = _pop4(hd, hv, size)
        if d > dist[v]:
            continue  # stale entry (lazy deletion)
        if d >= best:
            break
        for k in range(2):
            if t_node[k] == v and d + t_min[k] < best:
                best = d + t_min[k]
                end = k
        for a in range(indptr[v], indptr[v + 1]):
            w = head[a]
            nd = d + minutes[a]
            if nd < dist[w]:
                if dist[w] == np.inf:
                    touched[nt] = w
                    nt += 1
                dist[w] = nd
                pred[w] = a
                root[w] = root[v]
                size = _push4(hd, hv, size, nd, w)
    return best, end, nt


@njit(cache=True, parallel=True)
def route_trips(indptr, head, arc_tail, minutes, base, arc_class, n_class, s_node, s_min, t_node, t_min, n_chunks):
    """Route every trip (row of ``s_node``/``t_node``, two seeds and two targets each) on all threads.

    Returns ``best`` (minutes between the seeds' and the targets' ends of the links, inf if unreachable), ``start``
    and ``end`` (which seed and which target the path uses, -1 if none) and ``class_base`` (n x n_class: the base
    minutes of the path's arcs per class; the partial links at both ends are left to the caller).
    """
    n = s_node.shape[0]
    n_nodes = indptr.shape[0] - 1
    best = np.full(n, np.inf)
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    class_base = np.zeros((n, n_class))
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        lo = c * step
        hi = min(n, lo + step)
        if lo >= hi:
            continue
        dist = np.full(n_nodes, np.inf)
        pred = np.full(n_nodes, -1, dtype=np.int64)
        root = np.full(n_nodes, -1, dtype=np.int64)
        touched = np.empty(n_nodes, dtype=np.int64)
        # lazy deletion pushes at most once per arc and seed
        hd = np.empty(head.shape[0] + 2, dtype=np.float64)
        hv = np.empty(head.shape[0] + 2, dtype=np.int32)
        for i in range(lo, hi):
            b, e, nt = _route(indptr, head, minutes, s_node[i], s_min[i], t_node[i], t_min[i], dist, pred, root,
                              touched, hd, hv)  # fmt: skip
            if e >= 0:
                best[i] = b
                end[i] = e
                v = t_node[i, e]
                start[i] = root[v]
                while pred[v] >= 0:
                    a = pred[v]
                    class_base[i, arc_class[a]] += base[a]
                    v = arc_tail[a]
            for q in range(nt):
                v = touched[q]
                dist[v] = np.inf
                pred[v] = -1
                root[v] = -1
    return best, start, end, class_base
