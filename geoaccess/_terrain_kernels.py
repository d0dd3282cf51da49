"""Numba cost-distance kernels on a raster grid.

Plain numpy arrays only. The grid is flattened row-major (``cell = row * cols + col``); ``friction`` holds minutes
per metre of each cell (``inf`` or NaN = impassable). A move between two cells costs the mean of their frictions
times the length of the move (half of it is walked in each cell): scikit-image's ``MCP_Geometric`` convention,
extended unchanged to knight's moves. Walking on a DEM multiplies that by Tobler's hiking function relative to flat
ground, with the slope taken along the move, so uphill and downhill differ.

The queue is a ring of buckets (see :func:`grid_search`): on a grid it holds only the wavefront, so it stays
small next to the ``dist`` array, and the search is bounded by ``cutoff`` (cells beyond it are never queued).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geoaccess._kernels import prefetch

# Tobler (1993): v = 6 exp(-3.5 |S + 0.05|) km/h; a move on slope S takes exp(3.5 (|S + 0.05| - 0.05)) times as long
# as on flat ground (the fastest slope, S = -0.05, a gentle descent, is 1.19x faster than flat).
TOBLER_A = 3.5
TOBLER_B = 0.05
# below the fastest slope's factor, exp(-TOBLER_A * TOBLER_B) = 0.839457..., by far more than rounding: a move whose
# flat time times this cannot improve a cell cannot improve it on any slope
TOBLER_FLOOR = 0.8394
BLOCK = 256  # queue entries per block: a bucket is a list of blocks, scanned in order


@njit(cache=True, inline="always")
def tobler_factor(slope):
    """Time on ``slope`` (rise over run along the move) relative to flat ground, by Tobler's hiking function."""
    return np.exp(TOBLER_A * (abs(slope + TOBLER_B) - TOBLER_B))


@njit(cache=True, nogil=True)
def sort_keys(a, n):
    """Sort ``a[:n]`` (int64) in place: a quicksort (median of three) down to runs of 16, then one insertion pass.

    Written out because numba's ``ndarray.sort`` calls its helpers with the array for every comparison: perf showed
    its atomic reference counts at 17 % of an OD search, which sorts every bucket it takes out."""
    if n < 2:
        return
    stack = np.empty(128, dtype=np.int64)  # the smaller side is sorted first: depth at most log2(n) pairs
    sp = 0
    lo = 0
    hi = n - 1
    while True:
        while hi - lo > 16:
            mid = (lo + hi) >> 1
            if a[mid] < a[lo]:
                a[mid], a[lo] = a[lo], a[mid]
            if a[hi] < a[lo]:
                a[hi], a[lo] = a[lo], a[hi]
            if a[hi] < a[mid]:
                a[hi], a[mid] = a[mid], a[hi]
            pivot = a[mid]
            i = lo
            j = hi
            while i <= j:
                while a[i] < pivot:
                    i += 1
                while pivot < a[j]:
                    j -= 1
                if i <= j:
                    a[i], a[j] = a[j], a[i]
                    i += 1
                    j -= 1
            # a[lo..j] <= pivot <= a[i..hi]: go on with the smaller side, keep the larger
            if j - lo < hi - i:
                if i < hi:
                    stack[sp] = i
                    stack[sp + 1] = hi
                    sp += 2
                hi = j
            else:
                if lo < j:
                    stack[sp] = lo
                    stack[sp + 1] = j
                    sp += 2
                lo = i
        if sp == 0:
            break
        sp -= 2
        lo = stack[sp]
        hi = stack[sp + 1]
    for i in range(1, n):  # every element is now at most 16 places from its own: one insertion pass ends it
        x = a[i]
        j = i - 1
        while j >= 0 and x < a[j]:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@njit(cache=True, nogil=True)
def best_per_cell(cells, minutes):
    """Positions of one seed per cell: the least minutes, the first such seed on ties (as a stable sort by cell, then
    minutes, would pick it), in the order of their cells. ``cells`` >= 0 and below 2**31, fewer than 2**32 seeds."""
    n = cells.shape[0]
    keys = np.empty(n, dtype=np.int64)
    for i in range(n):
        keys[i] = (np.int64(cells[i]) << 32) | i
    sort_keys(keys, n)
    out = np.empty(n, dtype=np.int64)
    k = 0
    i = 0
    low = np.int64(0xFFFFFFFF)
    while i < n:
        c = keys[i] >> 32
        best = keys[i] & low
        j = i + 1
        while j < n and keys[j] >> 32 == c:
            e = keys[j] & low
            if minutes[e] < minutes[best]:
                best = e
            j += 1
        out[k] = best
        k += 1
        i = j
    return out[:k]


@njit(cache=True)
def move_range(friction, off_len):
    """The cheapest and the dearest possible move (minutes): the bucket queue's width and span."""
    lo = np.inf
    hi = 0.0
    for i in range(friction.shape[0]):
        f = np.float64(friction[i])
        if f < lo:
            lo = f
        if f > hi and f < np.inf:
            hi = f
    return lo * off_len.min(), hi * off_len.max()


@njit(cache=True, nogil=True)
def grid_search(
    friction, dem, rows, cols, off_r, off_c, off_len, mid_a, mid_b, mid_kind,
    seed_cells, seed_minutes, seed_labels, cutoff, cut_corners, to_seeds, dist, label, delta, nb, targets,
    seed_keys, h, hshift, hcols, switch_at, sweep_to=0.0, sort_buckets=True,
):  # fmt: skip
    """Multi-source Dijkstra on the grid; improves ``dist``/``label`` (flat, one entry per cell) in place.

    ``off_r``/``off_c``/``off_len`` are the moves (row and column steps, length in metres). ``mid_a``/``mid_b`` are
    the flat offsets of the cells a move passes through on its way and ``mid_kind`` says how they block it when
    ``cut_corners`` is false: 0 none (axial), 1 both impassable (a diagonal squeezing between two barrier cells),
    2 either impassable (a knight's move jumping a barrier line). With those rules no move crosses an 8-connected
    line of impassable cells.

    ``dem`` of length 0 means isotropic; otherwise each move is scaled by :func:`tobler_factor` of its slope, taken
    in the direction travelled: away from the seeds, or towards them when ``to_seeds`` (minutes *to* the seeds,
    the search running backwards). A move into or out of a NaN elevation is never taken.

    A seed on an impassable cell gets its seed minutes but spreads nowhere (as in ``MCP_Geometric``). Cells
    beyond ``cutoff`` (inclusive bound) are never queued. ``label`` of length 0 skips labels. Seeds must be sorted
    by ``seed_keys`` (their minutes, or minutes plus ``h`` below). Returns ``(scans, paused, frontier cells,
    frontier minutes, pending targets, next seed)``; the frontier is empty unless the search paused (``switch_at``).

    ``targets`` (flat cells; empty: none) ends the search as soon as every target is final: every 8 buckets, once
    all are reached and the sweep has passed their largest minutes (no queued entry nor seed left can improve
    them). Only the targets' minutes and labels are then final; with ``sweep_to`` (minutes; 0: none) the search
    also waits for the sweep to pass that many minutes before it ends or pauses, so every cell within them is final
    too (a service area's bands).

    Goal-directed continuation (A*): with ``h`` (float64, one value per block of ``2**hshift`` x ``2**hshift``
    cells, ``hcols`` blocks a row) a cell is queued by its minutes plus ``h`` of its block, a lower bound on the
    minutes from the cell to the nearest target. A target is still final once the sweep passes its minutes (every
    path that could improve it runs through a queued cell whose key is at most that path's minutes), but cells far
    from every target wait. ``h`` need not be consistent: a cell whose key falls below the bucket being scanned
    is scanned in it, and improved cells are scanned again. With ``switch_at >= 0`` (and no ``h``) the search
    pauses once no more than ``switch_at`` targets are pending and returns its frontier (the queued cells, at their
    minutes) so that it can go on with ``h`` built from those targets: the frontier cells and the seeds not yet
    queued are the new seeds (``dist`` and ``label`` kept; a seed at exactly its cell's minutes is queued again).

    The queue is a ring of buckets ``delta`` minutes wide (Dial's algorithm, sequential Delta-stepping); ``nb``, a
    power of two, is best above the dearest move over ``delta`` plus one. With ``delta`` no more than the cheapest
    move every cell is scanned once. Any ``delta`` and ``nb`` stay exact: the search is label-correcting (a cell
    improved after its scan is queued and scanned again) and a move beyond the ring is queued in its last bucket.
    A bucket is a list of blocks of :data:`BLOCK` (cell, minutes) entries, scanned in the order they were
    queued and recycled once spent, so the queue holds the wavefront only and a pop reads memory in sequence (a
    linked list of single entries measured 2-5x slower with many seeds: each pop chased a pointer into a pool of
    millions). A stale entry (its cell improved since) is skipped when popped. Seeds join the ring when the sweep
    reaches their minutes, so their spread may exceed it. The blocks grow between sweeps (:func:`_sweep` stops
    when a scan might not fit): reassigning the arrays inside the loop measured 4x slower (168 vs 44 ns per cell on
    a uniform 1400 x 1400 grid). A 4-ary heap measured 1.7x slower than the ring.
    """
    nk = off_r.shape[0]
    off_flat = np.empty(nk, dtype=np.int64)
    half = np.empty(nk)
    reach = 0  # the largest step in rows or columns: cells this far from every edge need no bounds checks
    for k in range(nk):
        off_flat[k] = np.int64(off_r[k]) * cols + off_c[k]
        half[k] = off_len[k] * 0.5  # exact (a power of two), so the cost below has MCP_Geometric's bits
        reach = max(reach, abs(off_r[k]), abs(off_c[k]))
    head = np.full(nb, -1, dtype=np.int64)  # first and last block of each bucket
    tail = np.full(nb, -1, dtype=np.int64)
    n_blk = 64
    b_cell = np.empty((n_blk, BLOCK), dtype=np.int64)
    b_min = np.empty((n_blk, BLOCK), dtype=np.float64)
    b_next = np.empty(n_blk, dtype=np.int64)
    b_len = np.zeros(n_blk, dtype=np.int64)
    s_key = np.empty(1024, dtype=np.int64)  # the bucket being scanned, sorted: (cell << 32) | its entry
    s_min = np.empty(1024, dtype=np.float64)
    # cur (bucket), si (next seed), count (queued), free (recycled blocks, linked through b_next), used blocks,
    # scans, spos (next scratch entry), free blocks, scratch size needed, scratch entries, pending targets
    # paused (switch_at reached)
    state = np.zeros(12, dtype=np.int64)
    state[3] = -1
    pending = targets.copy()  # the targets not yet final, compacted as the sweep passes them
    state[10] = pending.shape[0]
    if seed_cells.shape[0] > 0:
        state[0] = np.int64(seed_keys[0] * (1.0 / delta))
    while not _sweep(
        friction, dem, rows, cols, off_r, off_c, off_len, off_flat, half, reach, mid_a, mid_b, mid_kind,
        seed_cells, seed_minutes, seed_labels, cutoff, cut_corners, to_seeds, dist, label, delta, nb, pending,
        head, tail, b_cell, b_min, b_next, b_len, state, s_key, s_min, seed_keys, h, hshift, hcols, switch_at,
        sweep_to, sort_buckets,
    ):  # fmt: skip
        if state[8] > s_key.shape[0]:
            n = max(state[8], 2 * s_key.shape[0])
            s_key = _grow_to(s_key, n)
            s_min = _grow_to(s_min, n)
            state[8] = 0
            continue
        n_blk *= 2
        b_cell = _grow_rows(b_cell, n_blk)
        b_min = _grow_rows(b_min, n_blk)
        b_next = _grow_to(b_next, n_blk)
        b_len = _grow_to(b_len, n_blk)
    f_cell = np.empty(0, dtype=np.int64)
    f_min = np.empty(0, dtype=np.float64)
    if state[11]:  # paused: the queued cells still at their queued minutes
        n = 0
        for s in range(nb):
            blk = head[s]
            while blk >= 0:
                n += b_len[blk]
                blk = b_next[blk]
        f_cell = np.empty(n, dtype=np.int64)
        f_min = np.empty(n, dtype=np.float64)
        n = 0
        for s in range(nb):
            blk = head[s]
            while blk >= 0:
                for i in range(b_len[blk]):
                    v = b_cell[blk, i]
                    if b_min[blk, i] == dist[v]:
                        f_cell[n] = v
                        f_min[n] = b_min[blk, i]
                        n += 1
                blk = b_next[blk]
        f_cell = f_cell[:n]
        f_min = f_min[:n]
    return state[5], state[11] != 0, f_cell, f_min, pending[: state[10]], state[1]


@njit(cache=True, inline="always")
def _append(v, d, s, head, tail, b_cell, b_min, b_next, b_len, free, used):
    """Queue cell ``v`` at ``d`` minutes in bucket slot ``s``; returns the free-list head and blocks used."""
    t = tail[s]
    if t < 0 or b_len[t] == BLOCK:
        if free >= 0:
            nb_ = free
            free = b_next[nb_]
        else:
            nb_ = used
            used += 1
        b_len[nb_] = 0
        b_next[nb_] = -1
        if t < 0:
            head[s] = nb_
        else:
            b_next[t] = nb_
        tail[s] = nb_
        t = nb_
    i = b_len[t]
    b_cell[t, i] = v
    b_min[t, i] = d
    b_len[t] = i + 1
    return free, used


@njit(cache=True, nogil=True)
def _sweep(
    friction, dem, rows, cols, off_r, off_c, off_len, off_flat, half, reach, mid_a, mid_b, mid_kind,
    seed_cells, seed_minutes, seed_labels, cutoff, cut_corners, to_seeds, dist, label, delta, nb, targets,
    head, tail, b_cell, b_min, b_next, b_len, state, s_key, s_min, seed_keys, h, hshift, hcols, switch_at,
    sweep_to, sort_buckets,
):  # fmt: skip
    """Run :func:`grid_search`'s queue until it is empty (True), or until a step might run out of blocks or the
    bucket to scan does not fit the scratch arrays (False; ``state[8]`` then says the scratch size needed)."""
    inf = np.inf
    nk = off_r.shape[0]
    aniso = dem.shape[0] > 0
    uselab = label.shape[0] > 0
    strict = not cut_corners
    inv = 1.0 / delta
    mask = nb - 1
    cap = b_len.shape[0]
    s_cap = s_key.shape[0]
    cur, si, count, free, used, scans, spos, n_free, slen = (
        state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[9],
    )  # fmt: skip
    ns = seed_cells.shape[0]
    done = True
    nt = state[10]
    low32 = np.int64(0xFFFFFFFF)
    astar = h.shape[0] > 0
    while count > 0 or si < ns or spos < slen:
        if spos >= slen:  # between buckets (a bucket interrupted to grow the blocks resumes below)
            if count == 0:  # nothing queued: jump to the next seed
                cur = max(cur, np.int64(seed_keys[si] * inv))
            if targets.shape[0] > 0 and (cur & 7) == 0:
                # every entry still queued (and every seed not yet queued) has floor(minutes / delta) >= cur here,
                # so a target below cur * delta (less a rounding margin) is final: it leaves the pending targets
                # (at the front of ``targets``, a copy), and the search ends when none is left. Dropping the final
                # ones keeps this check from reading every target every 8 buckets (on a large grid each read is a
                # cache miss, and a sweep has thousands of buckets)
                bar = cur * delta * (1.0 - 1e-9)
                j = 0
                for i in range(nt):
                    t = targets[i]
                    if not dist[t] < bar:
                        targets[j] = t
                        j += 1
                nt = j
                if nt == 0 and sweep_to < bar:
                    count = 0
                    si = ns
                    break
                if nt <= switch_at and not astar and sweep_to < bar:
                    state[11] = 1
                    break
            while si < ns and np.int64(seed_keys[si] * inv) <= cur:
                if cap - used + n_free < 1:
                    done = False
                    break
                v = seed_cells[si]
                d = seed_minutes[si]
                si += 1
                if not ((d < dist[v] or (astar and d == dist[v])) and d <= cutoff):
                    continue
                dist[v] = d
                if uselab:
                    label[v] = seed_labels[si - 1]
                f0 = free
                free, used = _append(v, d, cur & mask, head, tail, b_cell, b_min, b_next, b_len, free, used)
                if free != f0:
                    n_free -= 1
                count += 1
            if not done:
                break
        s = cur & mask
        while True:
            if spos >= slen:
                # take the whole bucket out of the ring, in memory order: its cells lie along every wavefront
                # at once, all over the grid, and scanned in the order they were queued each one reads rows
                # nobody read recently; sorted, consecutive scans share their rows (within a bucket the order
                # is free: with delta no more than the cheapest move no scan can improve a cell of its bucket)
                if head[s] < 0:
                    break
                m = 0
                blk = head[s]
                while blk >= 0:
                    m += b_len[blk]
                    blk = b_next[blk]
                if m > s_cap:
                    state[8] = m
                    done = False
                    break
                m = 0
                blk = head[s]
                while blk >= 0:
                    for i in range(b_len[blk]):
                        s_key[m] = (b_cell[blk, i] << 32) | m
                        s_min[m] = b_min[blk, i]
                        m += 1
                    nxt = b_next[blk]
                    b_next[blk] = free
                    free = blk
                    n_free += 1
                    blk = nxt
                head[s] = -1
                tail[s] = -1
                if sort_buckets:
                    sort_keys(s_key, m)
                spos = 0
                slen = m
            while spos < slen:
                if cap - used + n_free < nk:  # the scan below could need a new block for every move
                    done = False
                    break
                key = s_key[spos]
                u = key >> 32
                d = s_min[key & low32]
                spos += 1
                count -= 1
                if spos + 2 < slen:
                    # the rows of the entry two ahead: on a grid larger than the cache a scan otherwise waits on
                    # these misses
                    w = s_key[spos + 2] >> 32
                    prefetch(dist, w - cols)
                    prefetch(dist, w)
                    prefetch(dist, w + cols)
                    prefetch(friction, w - cols)
                    prefetch(friction, w)
                    prefetch(friction, w + cols)
                    if reach > 1:
                        prefetch(dist, w - 2 * cols)
                        prefetch(dist, w + 2 * cols)
                        prefetch(friction, w - 2 * cols)
                        prefetch(friction, w + 2 * cols)
                    if uselab:  # an improved neighbour's label is written too: its rows are otherwise a store miss
                        prefetch(label, w - cols)
                        prefetch(label, w)
                        prefetch(label, w + cols)
                if d > dist[u]:
                    continue
                fu = np.float64(friction[u])
                if not fu < inf:  # impassable (or NaN): a seed there is reached but leads nowhere
                    continue
                scans += 1
                zu = np.float64(dem[u]) if aniso else 0.0
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
                    if strict and mid_kind[k] > 0:
                        pa = np.float64(friction[u + mid_a[k]]) < inf
                        pb = np.float64(friction[u + mid_b[k]]) < inf
                        if mid_kind[k] == 1:
                            if not pa and not pb:
                                continue
                        elif not (pa and pb):
                            continue
                    w = half[k] * (fu + fv)
                    if aniso:
                        if d + w * TOBLER_FLOOR >= dist[v]:
                            continue  # not even the fastest slope would improve v (most moves, behind the front): no exp
                        dz = np.float64(dem[v]) - zu
                        if to_seeds:
                            dz = -dz  # the patient walks v -> u
                        w = w * tobler_factor(dz / off_len[k])
                    nd = d + w
                    if nd < dist[v] and nd <= cutoff:
                        dist[v] = nd
                        if uselab:
                            label[v] = lu
                        if astar:
                            b = np.int64(
                                (nd + h[((r + off_r[k]) >> hshift) * hcols + ((c + off_c[k]) >> hshift)]) * inv
                            )
                        else:
                            b = np.int64(nd * inv)
                        if b < cur:
                            b = cur  # rounding: stay in the bucket being scanned
                        elif b >= cur + nb:
                            b = cur + nb - 1  # a move dearer than the ring (a cliff): scanned early, again if improved
                        # _append, written out: a call passing the block arrays costs an atomic incref and decref
                        # of each (12 per queued cell, 10 % of a search)
                        a_s = b & mask
                        a_t = tail[a_s]
                        if a_t < 0 or b_len[a_t] == BLOCK:
                            if free >= 0:
                                a_nb = free
                                free = b_next[a_nb]
                                n_free -= 1
                            else:
                                a_nb = used
                                used += 1
                            b_len[a_nb] = 0
                            b_next[a_nb] = -1
                            if a_t < 0:
                                head[a_s] = a_nb
                            else:
                                b_next[a_t] = a_nb
                            tail[a_s] = a_nb
                            a_t = a_nb
                        a_i = b_len[a_t]
                        b_cell[a_t, a_i] = v
                        b_min[a_t, a_i] = nd
                        b_len[a_t] = a_i + 1
                        count += 1
            if not done:
                break
        if not done:
            break
        cur += 1
    state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[9], state[10] = (
        cur, si, count, free, used, scans, spos, n_free, slen, nt,
    )  # fmt: skip
    return done


@njit(cache=True)
def _grow_rows(a, n):
    b = np.empty((n, a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _grow_to(a, cap):
    b = np.empty(cap, dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def small_codes(values, most):
    """``values`` (flat floats) as codes into a table of their distinct values, or an empty table when there are
    more than ``most``: a friction grid holds a few speeds (one per land-cover class, the road, inf), so it keeps
    in a quarter (float32) or an eighth (float64) of the bytes. NaN is one value of its own."""
    table = np.empty(most, dtype=values.dtype)
    codes = np.empty(values.shape[0], dtype=np.uint8)
    n = 0
    last = 0
    for i in range(values.shape[0]):
        v = values[i]
        if n > 0 and (table[last] == v or (v != v and table[last] != table[last])):
            codes[i] = last
            continue
        found = -1
        for j in range(n):
            if table[j] == v or (v != v and table[j] != table[j]):
                found = j
                break
        if found < 0:
            if n == most:
                return codes[:0], table[:0]
            table[n] = v
            found = n
            n += 1
        codes[i] = found
        last = found
    return codes, table[:n]
