"""Numba shortest-path kernels.

Plain numpy arrays only (no pandas). Graphs are CSR: ``indptr`` (n+1, int64), ``indices`` (m, int32) and
``weights`` (m, float64, minutes). Unreachable nodes keep ``inf`` distance and ``-1`` labels.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _heap_push(heap_d, heap_v, size, d, v):
    i = size
    heap_d[i] = d
    heap_v[i] = v
    while i > 0:
        p = (i - 1) >> 1
        if heap_d[p] <= d:
            break
        heap_d[i] = heap_d[p]
        heap_v[i] = heap_v[p]
        i = p
    heap_d[i] = d
    heap_v[i] = v
    return size + 1


@njit(cache=True)
def _heap_pop(heap_d, heap_v, size):
    d0 = heap_d[0]
    v0 = heap_v[0]
    size -= 1
    if size > 0:
        d = heap_d[size]
        v = heap_v[size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and heap_d[c + 1] < heap_d[c]:
                c += 1
            if heap_d[c] >= d:
                break
            heap_d[i] = heap_d[c]
            heap_v[i] = heap_v[c]
            i = c
        heap_d[i] = d
        heap_v[i] = v
    return d0, v0, size


@njit(cache=True)
def multi_source_dijkstra(indptr, indices, weights, seed_nodes, seed_minutes, seed_labels, cutoff):
    """Minutes from the nearest seed to every node, and that seed's label.

    Seeds may repeat a node (several facilities, or one facility snapped to both ends of an edge); the
    smallest start time wins. Nodes farther than ``cutoff`` stay ``inf``/``-1``.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    label = np.full(n, -1, dtype=np.int32)
    done = np.zeros(n, dtype=np.bool_)
    # lazy-deletion heap: at most one entry per successful relaxation
    cap = indices.shape[0] + seed_nodes.shape[0] + 1
    heap_d = np.empty(cap, dtype=np.float64)
    heap_v = np.empty(cap, dtype=np.int32)
    size = 0
    for k in range(seed_nodes.shape[0]):
        v = seed_nodes[k]
        d = seed_minutes[k]
        if d < dist[v] and d <= cutoff:
            dist[v] = d
            label[v] = seed_labels[k]
            size = _heap_push(heap_d, heap_v, size, d, v)
    while size > 0:
        d, u, size = _heap_pop(heap_d, heap_v, size)
        if done[u]:
            continue
        done[u] = True
        lu = label[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            nd = d + weights[e]
            if nd < dist[v] and nd <= cutoff:
                dist[v] = nd
                label[v] = lu
                size = _heap_push(heap_d, heap_v, size, nd, v)
    return dist, label
