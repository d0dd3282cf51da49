"""Numba kernels for snapping points onto link geometries (see :meth:`geoaccess.network.Network.snap`).

Plain numpy arrays only. Link geometries are flattened once into vertex arrays ``vx, vy`` (float64) with
``vlink`` (int32, the link of every vertex; a link's vertices are contiguous and links are in order), so segment
``s`` runs from vertex ``s`` to ``s + 1`` when both belong to one link. Segments are bucketed in uniform grids of
several cell sizes (CSR: ``cell_start``, ``cell_seg``); a query picks the finest level with a segment near it and
scans rings of cells around its own, skipping cells farther than the best so far, until the best distance is
proven (no unscanned cell can hold anything closer). A handful of points is answered by :func:`snap_points_brute`,
which looks at every segment and needs no grid.

Every number is computed with the same floating-point operations, in the same order, as GEOS 3.x
(``Distance::pointToSegment``, ``LineSegment::projectionFactor``, ``LengthIndexOfPoint``, ``Length::ofLine``),
so ``offroad_m`` and ``t`` equal shapely's ``STRtree.query_nearest`` distance and
``line_locate_point(normalized=True)`` bit for bit. Ties (equal distance to several links, e.g. a point nearest
to a junction) go to the smallest link index; GEOS returns whichever tied link its tree visits first.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _seg_dist(px, py, ax, ay, bx, by):
    # GEOS Distance::pointToSegment, operation for operation (no fused multiply-add: numba does not contract)
    if ax == bx and ay == by:
        return math.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return math.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return math.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


@njit(cache=True)
def vertex_measures(vx, vy, vlink, n_links):
    """Length along its link at every vertex, and every link's length, summed as GEOS sums them."""
    n = vx.size
    cum = np.zeros(n)
    length = np.zeros(n_links)
    for i in range(1, n):
        if vlink[i] == vlink[i - 1]:
            dx = vx[i - 1] - vx[i]
            dy = vy[i - 1] - vy[i]
            cum[i] = cum[i - 1] + math.sqrt(dx * dx + dy * dy)
            length[vlink[i]] = cum[i]
    return cum, length


@njit(cache=True)
def build_grid(vx, vy, segs, x0, y0, cell, nx, ny):
    """Bucket segments (by their first vertex) into every grid cell their bounding box touches (CSR)."""
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for k in range(segs.size):
        s = segs[k]
        i0 = min(max(int(math.floor((min(vx[s], vx[s + 1]) - x0) / cell)), 0), nx - 1)
        i1 = min(max(int(math.floor((max(vx[s], vx[s + 1]) - x0) / cell)), 0), nx - 1)
        j0 = min(max(int(math.floor((min(vy[s], vy[s + 1]) - y0) / cell)), 0), ny - 1)
        j1 = min(max(int(math.floor((max(vy[s], vy[s + 1]) - y0) / cell)), 0), ny - 1)
        for j in range(j0, j1 + 1):
            for i in range(i0, i1 + 1):
                counts[j * nx + i + 1] += 1
    cell_start = np.cumsum(counts)
    fill = cell_start[:-1].copy()
    cell_seg = np.empty(cell_start[-1], dtype=segs.dtype)
    for k in range(segs.size):
        s = segs[k]
        i0 = min(max(int(math.floor((min(vx[s], vx[s + 1]) - x0) / cell)), 0), nx - 1)
        i1 = min(max(int(math.floor((max(vx[s], vx[s + 1]) - x0) / cell)), 0), nx - 1)
        j0 = min(max(int(math.floor((min(vy[s], vy[s + 1]) - y0) / cell)), 0), ny - 1)
        j1 = min(max(int(math.floor((max(vy[s], vy[s + 1]) - y0) / cell)), 0), ny - 1)
        for j in range(j0, j1 + 1):
            for i in range(i0, i1 + 1):
                c = j * nx + i
                cell_seg[fill[c]] = s
                fill[c] += 1
    return cell_start, cell_seg


@njit(cache=True, inline="always")
def _scan_cell(lv_c, i, j, x0, y0, cell, eps, px, py, vx, vy, cell_start, cell_seg, best, bseg):
    if cell_start[lv_c + 1] == cell_start[lv_c]:
        return best, bseg
    # skip a cell whose rectangle is farther than the best so far (eps: a vertex may sit a rounding error outside
    # the cell its index says)
    dx = max(x0 + i * cell - px, px - (x0 + (i + 1) * cell), 0.0)
    dy = max(y0 + j * cell - py, py - (y0 + (j + 1) * cell), 0.0)
    if dx * dx + dy * dy > (best + eps) * (best + eps):
        return best, bseg
    for e in range(cell_start[lv_c], cell_start[lv_c + 1]):
        s = cell_seg[e]
        d = _seg_dist(px, py, vx[s], vy[s], vx[s + 1], vy[s + 1])
        # smallest distance, then smallest vertex index: the smallest link, and within it the first segment
        # (what line_locate_point takes)
        if d < best or (d == best and s < bseg):
            best = d
            bseg = s
    return best, bseg


@njit(cache=True, inline="always")
def _cell_of(v, v0, cell, n):
    return min(max(int(math.floor((v - v0) / cell)), 0), n - 1)


@njit(cache=True, inline="always")
def _level_for(x, y, x0, y0, lv_cell, lv_nx, lv_ny, lv_off, cell_start):
    # the finest level whose 3 x 3 cells around the point hold a segment: the ring search then proves the
    # nearest within a few rings wherever the point is (a village by a road, or a hamlet 20 km from any)
    n_lv = lv_cell.size
    for lv in range(n_lv - 1):
        nx = lv_nx[lv]
        ny = lv_ny[lv]
        cx = _cell_of(x, x0, lv_cell[lv], nx)
        cy = _cell_of(y, y0, lv_cell[lv], ny)
        for j in range(max(cy - 1, 0), min(cy + 1, ny - 1) + 1):
            row = lv_off[lv] + j * nx
            if cell_start[row + min(cx + 1, nx - 1) + 1] > cell_start[row + max(cx - 1, 0)]:
                return lv
    return n_lv - 1


@njit(cache=True, nogil=True)
def snap_points(
    px, py, lo, hi, vx, vy, vlink, cum, length, cell_start, cell_seg, x0, y0, lv_cell, lv_nx, lv_ny, lv_off,
    out_link, out_t, out_d,
):  # fmt: skip
    """Snap points ``lo..hi-1``: nearest link, fraction along it and distance (written to the ``out_`` arrays).

    ``cell_start`` / ``cell_seg`` hold the buckets of every grid level (level ``lv``: cell side ``lv_cell[lv]``,
    ``lv_nx[lv] x lv_ny[lv]`` cells, its ``cell_start`` from ``lv_off[lv]``), finest first.
    """
    for p in range(lo, hi):
        x = px[p]
        y = py[p]
        lv = _level_for(x, y, x0, y0, lv_cell, lv_nx, lv_ny, lv_off, cell_start)
        cell = lv_cell[lv]
        nx = lv_nx[lv]
        ny = lv_ny[lv]
        off = lv_off[lv]
        # unscanned cells may be this much closer than their nominal bounds say (rounding of the cell index)
        eps = cell * 1e-9 + 1e-9
        cx = _cell_of(x, x0, cell, nx)
        cy = _cell_of(y, y0, cell, ny)
        best = np.inf
        bseg = -1
        r = 0
        while True:
            if r == 0:
                best, bseg = _scan_cell(
                    off + cy * nx + cx, cx, cy, x0, y0, cell, eps, x, y, vx, vy, cell_start, cell_seg, best, bseg
                )
            else:
                i0 = max(cx - r, 0)
                i1 = min(cx + r, nx - 1)
                for j in (cy - r, cy + r):
                    if 0 <= j < ny:
                        for i in range(i0, i1 + 1):
                            best, bseg = _scan_cell(
                                off + j * nx + i,
                                i,
                                j,
                                x0,
                                y0,
                                cell,
                                eps,
                                x,
                                y,
                                vx,
                                vy,
                                cell_start,
                                cell_seg,
                                best,
                                bseg,
                            )
                j0 = max(cy - r + 1, 0)
                j1 = min(cy + r - 1, ny - 1)
                for i in (cx - r, cx + r):
                    if 0 <= i < nx:
                        for j in range(j0, j1 + 1):
                            best, bseg = _scan_cell(
                                off + j * nx + i,
                                i,
                                j,
                                x0,
                                y0,
                                cell,
                                eps,
                                x,
                                y,
                                vx,
                                vy,
                                cell_start,
                                cell_seg,
                                best,
                                bseg,
                            )
            # a segment not scanned yet has its closest point in a cell outside the scanned block
            bound = np.inf
            if cx - r > 0:
                bound = min(bound, x - (x0 + (cx - r) * cell))
            if cx + r < nx - 1:
                bound = min(bound, x0 + (cx + r + 1) * cell - x)
            if cy - r > 0:
                bound = min(bound, y - (y0 + (cy - r) * cell))
            if cy + r < ny - 1:
                bound = min(bound, y0 + (cy + r + 1) * cell - y)
            if bound == np.inf or best < bound - eps:
                break
            r += 1
        if bseg < 0:
            out_link[p] = -1
            out_t[p] = 0.0
            out_d[p] = np.inf
            continue
        out_link[p] = vlink[bseg]
        out_d[p] = best
        out_t[p] = _locate(x, y, bseg, vx, vy, cum, length[vlink[bseg]])


@njit(cache=True, nogil=True)
def snap_points_brute(px, py, vx, vy, vlink, segs, cum, length, out_link, out_t, out_d):
    """:func:`snap_points` for a few points: every segment is looked at (the same distances, ties and ``t``)."""
    for p in range(px.size):
        x = px[p]
        y = py[p]
        best = np.inf
        bseg = -1
        for k in range(segs.size):  # ascending: the first of equally near segments is the smallest
            s = segs[k]
            d = _seg_dist(x, y, vx[s], vy[s], vx[s + 1], vy[s + 1])
            if d < best:
                best = d
                bseg = s
        if bseg < 0:
            out_link[p] = -1
            out_t[p] = 0.0
            out_d[p] = np.inf
            continue
        out_link[p] = vlink[bseg]
        out_d[p] = best
        out_t[p] = _locate(x, y, bseg, vx, vy, cum, length[vlink[bseg]])


@njit(cache=True, inline="always")
def _locate(x, y, s, vx, vy, cum, total):
    # GEOS LengthIndexOfPoint::segmentNearestMeasure on segment s, then GEOSProjectNormalized, clipped to 0..1
    ax, ay, bx, by = vx[s], vy[s], vx[s + 1], vy[s + 1]
    if x == ax and y == ay:
        f = 0.0
    elif x == bx and y == by:
        f = 1.0
    elif ax == bx and ay == by:
        f = 0.0
    else:
        dx = bx - ax
        dy = by - ay
        f = ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)
    seg_len = math.sqrt((ax - bx) * (ax - bx) + (ay - by) * (ay - by))
    if f <= 0.0:
        m = cum[s]
    elif f <= 1.0:
        m = cum[s] + f * seg_len
    else:
        m = cum[s] + seg_len
    if total == 0.0:
        return 0.0
    t = m / total
    if t != t:
        return 0.0
    return min(max(t, 0.0), 1.0)
