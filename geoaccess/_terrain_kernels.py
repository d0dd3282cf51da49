"""Numba cost-distance kernels on a raster grid.

Plain numpy arrays only. The grid is flattened row-major (``cell = row * cols + col``); ``friction`` holds minutes
per metre of each cell (``inf`` or NaN = impassable). A move between two cells costs the mean of their frictions
times the length of the move (half of it is walked in each cell): scikit-image's ``MCP_Geometric`` convention,
extended unchanged to knight's moves. Walking on a DEM multiplies that by Tobler's hiking function relative to flat
ground, with the slope taken along the move, so uphill and downhill differ.

The queue is the 4-ary heap with lazy deletion of :mod:`geoaccess._kernels`: on a grid the heap holds only the
wavefront (a few entries per frontier cell), so it stays small next to the ``dist`` array, and the search is
bounded by ``cutoff`` (cells beyond it are never queued).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geoaccess._kernels import _grow, _pop4, _push4

# Tobler (1993): v = 6 exp(-3.5 |S + 0.05|) km/h; a move on slope S takes exp(3.5 (|S + 0.05| - 0.05)) times as long
# as on flat ground (the fastest slope, S = -0.05, a gentle descent, is 1.19x faster than flat).
TOBLER_A = 3.5
TOBLER_B = 0.05


@njit(cache=True, inline="always")
def tobler_factor(slope):
    """Time on ``slope`` (rise over run along the move) relative to flat ground, by Tobler's hiking function."""
    return np.exp(TOBLER_A * (abs(slope + TOBLER_B) - TOBLER_B))


@njit(cache=True, nogil=True)
def grid_search(
    friction, dem, rows, cols, off_r, off_c, off_len, mid_a, mid_b, mid_kind,
    seed_cells, seed_minutes, seed_labels, cutoff, cut_corners, to_seeds, dist, label,
):  # fmt: skip
    """Multi-source Dijkstra on the grid; improves ``dist``/``label`` (flat, one entry per cell) in place.

    ``off_r``/``off_c``/``off_len`` are the moves (row and column steps, length in metres). ``mid_a``/``mid_b`` are
    the flat offsets of the cells a move passes through on its way and ``mid_kind`` says how they block it when
    ``cut_corners`` is false: 0 none (axial), 1 both impassable (a diagonal squeezing between two barrier cells),
    2 either impassable (a knight's move jumping a barrier line). With those rules no move crosses an 8-connected
    line of impassable cells.

    ``dem`` of length 0 means isotropic; otherwise each move is scaled by :func:`tobler_factor` of its slope, taken
    in the direction travelled: away from the seeds, or towards them when ``to_seeds`` (minutes *to* the seeds,
    the search running backwards). A cell with a NaN elevation is impassable.

    A seed on an impassable cell gets its seed minutes but spreads nowhere (as in ``MCP_Geometric``). Cells
    beyond ``cutoff`` (inclusive bound) are never queued. ``label`` of length 0 skips labels. Returns the number
    of cells scanned.
    """
    inf = np.inf
    nk = off_r.shape[0]
    aniso = dem.shape[0] > 0
    uselab = label.shape[0] > 0
    off_flat = np.empty(nk, dtype=np.int64)
    for k in range(nk):
        off_flat[k] = np.int64(off_r[k]) * cols + off_c[k]
    reach = 0  # the largest step in rows or columns: cells this far from every edge need no bounds checks
    for k in range(nk):
        reach = max(reach, abs(off_r[k]), abs(off_c[k]))
    hd = np.empty(1024, dtype=np.float64)
    hv = np.empty(1024, dtype=np.int32)
    size = 0
    for i in range(seed_cells.shape[0]):
        v = seed_cells[i]
        d = seed_minutes[i]
        if d < dist[v] and d <= cutoff:
            dist[v] = d
            if uselab:
                label[v] = seed_labels[i]
            if size == hd.shape[0]:
                hd, hv = _grow(hd, hv)
            size = _push4(hd, hv, size, d, v)
    scans = 0
    while size > 0:
        d, u, size = _pop4(hd, hv, size)
        if d > dist[u]:
            continue
        fu = np.float64(friction[u])
        if not fu < inf:  # impassable (or NaN): a seed there is reached but leads nowhere
            continue
        zu = np.float64(dem[u]) if aniso else 0.0
        scans += 1
        lu = label[u] if uselab else 0
        r = u // cols
        c = u - r * cols
        inner = r >= reach and r < rows - reach and c >= reach and c < cols - reach
        for k in range(nk):
            if not inner:
                rr = r + off_r[k]
                cc = c + off_c[k]
                if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                    continue
            v = u + off_flat[k]
            fv = np.float64(friction[v])
            if not fv < inf:
                continue
            if not cut_corners and mid_kind[k] > 0:
                pa = np.float64(friction[u + mid_a[k]]) < inf
                pb = np.float64(friction[u + mid_b[k]]) < inf
                if mid_kind[k] == 1:
                    if not pa and not pb:
                        continue
                elif not (pa and pb):
                    continue
            # written as MCP_Geometric writes it, so the same path gives the same bits
            w = off_len[k] * 0.5 * (fu + fv)
            if aniso:
                dz = np.float64(dem[v]) - zu
                if to_seeds:
                    dz = -dz  # the patient walks v -> u
                w = w * tobler_factor(dz / off_len[k])
            nd = d + w
            if nd < dist[v] and nd <= cutoff:
                dist[v] = nd
                if uselab:
                    label[v] = lu
                if size == hd.shape[0]:
                    hd, hv = _grow(hd, hv)
                size = _push4(hd, hv, size, nd, v)
    return scans


@njit(cache=True)
def cells_within(dist, cutoff):
    """Flat indices of cells with ``dist <= cutoff`` (inclusive), in cell order."""
    n = 0
    for i in range(dist.shape[0]):
        if dist[i] <= cutoff:
            n += 1
    out = np.empty(n, dtype=np.int64)
    j = 0
    for i in range(dist.shape[0]):
        if dist[i] <= cutoff:
            out[j] = i
            j += 1
    return out
