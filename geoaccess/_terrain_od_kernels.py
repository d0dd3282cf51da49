"""Numba kernels for door-to-door OD pairs over the friction grid (``[travel] mode`` "mixed" / "walk_only").

Plain numpy arrays only. The grid is flattened row-major (``cell = row * cols + col``) as in
:mod:`geoaccess._terrain_kernels`, whose move costs (the mean friction of the two cells times the move's length,
times Tobler's factor on a DEM) and move rules (``cut_corners``) are repeated here operation for operation, so a
pair's minutes equal the nearest search's minutes to the last bit.

One worker (:func:`pairs_worker`, one per thread, without the GIL) takes facilities one after the other. For each:

1. ``mixed``: a bounded search over the roads from the facility's seeds (:func:`geoaccess._kernels.bucket_search`),
   then the door-to-door minutes of every road sample on a reached link (the legs added as
   :class:`geoaccess.trip.Trip` adds them, the same-link shortcut included);
2. a bounded search over the grid (:func:`grid_bounded`) seeded at the facility's cell (0 minutes) and at the
   cells of those road samples (their minutes), both bounded by the facility's cutoff;
3. the minutes of every demand point whose cell (or, for a point in an impassable cell, a passable neighbour) the
   grid search reached, read through a rank bitmap of the target cells (:func:`_slot`): no per-cell array of the
   grid's size but the search's own minutes.

The grid minutes array is allocated once per thread and only the cells a search reached are reset after it, so
memory grows with the grid once per thread, the road nodes, the demand points and the pairs kept, never with
facilities x cells.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geoaccess._kernels import bucket_search, prefetch, sort_pairs
from geoaccess._terrain_kernels import TOBLER_FLOOR, sort_keys, tobler_factor

#: relative slack of the pruning bound (``near``): far above the rounding of minutes summed along two paths in
#: different orders (about 1e-15 per move), far below a move
NEAR_MARGIN = 1e-9
_LOW31 = np.int64((1 << 31) - 1)  # a seed key's cell (grid cells are int32)
_MAX_BUCKET = np.int64((1 << 32) - 1)  # a seed key's bucket: far beyond any cutoff's
BLOCK = 256  # queue entries per block (as in _terrain_kernels): a bucket is a list of blocks, scanned in order

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True, inline="always")
def popcount(x):
    """Set bits of a uint64 (SWAR: a few shifts and masks, no table)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@njit(cache=True, inline="always")
def _slot(bits, rank, v):
    """Position of cell ``v`` among the set bits of ``bits`` (its target slot), or -1 when it is not a target."""
    w = v >> 6
    b = np.uint64(v & 63)
    word = bits[w]
    if not (word >> b) & np.uint64(1):
        return -1
    return rank[w] + popcount(word & ((np.uint64(1) << b) - np.uint64(1)))


@njit(cache=True)
def rank_bits(cells, n_cells):
    """Bitmap (one bit per cell) of sorted unique flat ``cells`` and the set bits before each word: a cell's
    slot (its position in ``cells``) is then one popcount away (:func:`_slot`)."""
    bits = np.zeros((n_cells + 63) >> 6, dtype=np.uint64)
    for i in range(cells.shape[0]):
        v = cells[i]
        bits[v >> 6] |= np.uint64(1) << np.uint64(v & 63)
    rank = np.zeros(bits.shape[0], dtype=np.int64)
    s = 0
    for w in range(bits.shape[0]):
        rank[w] = s
        s += popcount(bits[w])
    return bits, rank


# ---------------------------------------------------------------------------------------------------------------
# bounded grid search that records the cells it reaches


@njit(cache=True, inline="always")
def _append(v, d, s, head, tail, b_cell, b_min, b_next, b_len, st):
    """Queue cell ``v`` at ``d`` minutes in bucket slot ``s`` (``st``: free-list head [3], blocks used [4], free
    blocks [7])."""
    t = tail[s]
    if t < 0 or b_len[t] == BLOCK:
        if st[3] >= 0:
            nb_ = st[3]
            st[3] = b_next[nb_]
            st[7] -= 1
        else:
            nb_ = st[4]
            st[4] += 1
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


@njit(cache=True, nogil=True)
def _grid_sweep(
    friction, dem, rows, cols, off_r, off_c, off_len, off_flat, half, reach, mid_a, mid_b, mid_kind,
    seed_cells, seed_minutes, cutoff, cut_corners, to_seeds, dist, delta, nb, near, cut_near,
    head, tail, b_cell, b_min, b_next, b_len, touched, s_key, s_min, st,
):  # fmt: skip
    """Run the bucket ring until it is empty (True) or a step might run out of blocks, touched room or scratch room
    for the bucket to scan (False; ``st[10]`` then says the scratch size needed).

    The queue of :func:`geoaccess._terrain_kernels.grid_search` (Dial's ring of blocks, seeds joining as the sweep
    reaches their minutes, label-correcting, so exact for any ``delta``), with every cell whose minutes become
    finite appended to ``touched``; each bucket is taken out whole (``s_key``: cell << 32 | entry; ``s_min``: the
    entries' minutes) and scanned in the order it was filled: unlike grid_search's sweeps over a whole province, a
    bounded search stays in cache, and sorting each bucket measured dearer than it saved (SYNTHETIC Taiyuan's OD:
    7.6-8.1 s of CPU sorted against 5.9-6.6 s unsorted). ``st``: cur, next seed,
    queued, free-list head, blocks used, scans, next scratch entry, free blocks, cells touched, scratch entries,
    scratch size needed. ``near`` (empty: none) prunes as :func:`grid_bounded` says.
    """
    inf = np.inf
    prune = near.shape[0] > 0
    nk = off_r.shape[0]
    aniso = dem.shape[0] > 0
    strict = not cut_corners
    inv = 1.0 / delta
    mask = nb - 1
    cap = b_len.shape[0]
    tcap = touched.shape[0]
    s_cap = s_key.shape[0]
    low32 = np.int64(0xFFFFFFFF)
    ns = seed_cells.shape[0]
    while st[2] > 0 or st[1] < ns or st[6] < st[9]:
        if st[6] >= st[9] and st[2] == 0:  # nothing queued (nor a bucket half scanned): jump to the next seed
            st[0] = max(st[0], np.int64(seed_minutes[st[1]] * inv))
        cur = st[0]
        while st[6] >= st[9] and st[1] < ns and np.int64(seed_minutes[st[1]] * inv) <= cur:
            if cap - st[4] + st[7] < 1 or st[8] >= tcap:
                return False
            si = st[1]
            v = seed_cells[si]
            d = seed_minutes[si]
            st[1] = si + 1
            if not (d < dist[v] and d <= cutoff):
                continue
            if prune and d + near[v] > cut_near:  # no demand point within the cutoff can walk here
                continue
            if dist[v] == inf:
                touched[st[8]] = v
                st[8] += 1
            dist[v] = d
            _append(v, d, cur & mask, head, tail, b_cell, b_min, b_next, b_len, st)
            st[2] += 1
        s = cur & mask
        while True:
            if st[6] >= st[9]:
                # the whole bucket out of the ring (within a bucket the order is free, see grid_search)
                if head[s] < 0:
                    break
                m = 0
                blk = head[s]
                while blk >= 0:
                    m += b_len[blk]
                    blk = b_next[blk]
                if m > s_cap:
                    st[10] = m
                    return False
                m = 0
                blk = head[s]
                while blk >= 0:
                    for i in range(b_len[blk]):
                        s_key[m] = (np.int64(b_cell[blk, i]) << 32) | m
                        s_min[m] = b_min[blk, i]
                        m += 1
                    nxt = b_next[blk]
                    b_next[blk] = st[3]
                    st[3] = blk
                    st[7] += 1
                    blk = nxt
                head[s] = -1
                tail[s] = -1
                st[6] = 0
                st[9] = m
            if cap - st[4] + st[7] < nk or st[8] + nk > tcap:  # a scan could need a block and a slot per move
                return False
            pos = st[6]
            key = s_key[pos]
            u = key >> 32
            d = s_min[key & low32]
            pos += 1
            st[6] = pos
            st[2] -= 1
            if pos + 2 < st[9]:
                w = s_key[pos + 2] >> 32  # the rows of the entry two ahead, as grid_search fetches them
                prefetch(dist, w - cols)
                prefetch(dist, w)
                prefetch(dist, w + cols)
                prefetch(friction, w - cols)
                prefetch(friction, w)
                prefetch(friction, w + cols)
            if d > dist[u]:
                continue
            fu = np.float64(friction[u])
            if not fu < inf:  # impassable (or NaN): a seed there is reached but leads nowhere
                continue
            st[5] += 1
            zu = np.float64(dem[u]) if aniso else 0.0
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
                    if prune and nd + near[v] > cut_near:
                        continue
                    if dist[v] == inf:
                        touched[st[8]] = v
                        st[8] += 1
                    dist[v] = nd
                    b = np.int64(nd * inv)
                    if b < cur:
                        b = cur  # rounding: stay in the bucket being scanned
                    elif b >= cur + nb:
                        b = cur + nb - 1  # a move dearer than the ring (a cliff): scanned early, again if improved
                    # _append, written out: a call passing the block arrays costs an atomic incref and decref
                    # of each per queued cell
                    a_s = b & mask
                    a_t = tail[a_s]
                    if a_t < 0 or b_len[a_t] == BLOCK:
                        if st[3] >= 0:
                            a_nb = st[3]
                            st[3] = b_next[a_nb]
                            st[7] -= 1
                        else:
                            a_nb = st[4]
                            st[4] += 1
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
                    st[2] += 1
        st[0] = cur + 1
    return True


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


@njit(cache=True, nogil=True)
def grid_bounded(
    friction, dem, rows, cols, off_r, off_c, off_len, mid_a, mid_b, mid_kind, seed_cells, seed_minutes, cutoff,
    cut_corners, to_seeds, dist, delta, nb, work, near, cut_near,
):  # fmt: skip
    """Bounded multi-source grid search (seeds sorted by minutes) improving ``dist`` in place.

    ``near`` (per cell, a lower bound on the walk between it and the nearest demand cell, in the direction that
    would continue the trip; empty: none) leaves out every cell ``v`` reached at ``d`` minutes with
    ``d + near[v] > cut_near``: no demand point within ``cut_near`` can have its best trip through it, so the
    cells that matter keep their minutes to the bit while empty land is never swept.

    ``work`` is the queue workspace ``(head, tail, b_cell, b_min, b_next, b_len, touched, s_key, s_min)``: ``head``/``tail`` (``nb``)
    -1 on entry and left so; the others grow when needed and are returned (keep them for the next search).
    Returns ``(work, n_touched, scans)``: ``touched[:n_touched]`` are the cells whose minutes became finite (the
    caller resets them to inf).
    """
    head, tail, b_cell, b_min, b_next, b_len, touched, s_key, s_min = work
    nk = off_r.shape[0]
    off_flat = np.empty(nk, dtype=np.int64)
    half = np.empty(nk)
    reach = 0
    for k in range(nk):
        off_flat[k] = np.int64(off_r[k]) * cols + off_c[k]
        half[k] = off_len[k] * 0.5
        reach = max(reach, abs(off_r[k]), abs(off_c[k]))
    st = np.zeros(11, dtype=np.int64)
    st[3] = -1
    if seed_cells.shape[0] > 0:
        st[0] = np.int64(seed_minutes[0] * (1.0 / delta))
    while not _grid_sweep(
        friction, dem, rows, cols, off_r, off_c, off_len, off_flat, half, reach, mid_a, mid_b, mid_kind,
        seed_cells, seed_minutes, cutoff, cut_corners, to_seeds, dist, delta, nb, near, cut_near,
        head, tail, b_cell, b_min, b_next, b_len, touched, s_key, s_min, st,
    ):  # fmt: skip
        if st[10] > s_key.shape[0]:
            n = max(st[10], 2 * s_key.shape[0])
            s_key = _grow_to(s_key, n)
            s_min = _grow_to(s_min, n)
            st[10] = 0
            continue
        if b_len.shape[0] - st[4] + st[7] < nk:
            n = b_len.shape[0] * 2
            b_cell = _grow_rows(b_cell, n)
            b_min = _grow_rows(b_min, n)
            b_next = _grow_to(b_next, n)
            b_len = _grow_to(b_len, n)
        if st[8] + nk > touched.shape[0]:
            touched = _grow_to(touched, touched.shape[0] * 2)
    return (head, tail, b_cell, b_min, b_next, b_len, touched, s_key, s_min), st[8], st[5]


#: a new workspace's queue blocks and reached cells (both grow as searches need)
FIRST_BLOCKS = 64
FIRST_TOUCHED = 1 << 16
FIRST_SCRATCH = 1024


def new_work(nb: int):
    """An empty queue workspace for :func:`grid_bounded` (it grows as searches need)."""
    n_blk, n_touched, n_scratch = FIRST_BLOCKS, FIRST_TOUCHED, FIRST_SCRATCH
    return (
        np.full(nb, -1, dtype=np.int64),
        np.full(nb, -1, dtype=np.int64),
        np.empty((n_blk, BLOCK), dtype=np.int32),
        np.empty((n_blk, BLOCK), dtype=np.float64),
        np.empty(n_blk, dtype=np.int64),
        np.zeros(n_blk, dtype=np.int64),
        np.empty(n_touched, dtype=np.int32),
        np.empty(n_scratch, dtype=np.int64),
        np.empty(n_scratch, dtype=np.float64),
    )


# ---------------------------------------------------------------------------------------------------------------
# pairs per facility


@njit(cache=True, nogil=True)
def _road_seeds(
    k, cutoff, indptr, indices, weights, seed_ptr, seed_node, seed_min, delta_r, nb_r, rs_ptr, e_cell, rs_part,
    e_walk, rs_cell, f_link, f_t, f_walk_m, lk_ptr, lk_point, rs_t, rs_walk_m, link_fwd, link_bwd, mpm, to_facility,
    rdist, rlink, rhead, rtouched, gdist, seeds, ns,
):  # fmt: skip
    """The cells of the road samples facility ``k`` reaches by road within ``cutoff``, at their door-to-door minutes:
    the road part of :func:`geoaccess._kernels.pairs_worker`, over road samples instead of demand points.

    ``rs_ptr``/``rs_part``: per road node its entries (a sample and the drive between it and the node), with the
    entry's cell ``e_cell`` and the sample's walk into it ``e_walk``; ``rs_cell``/``rs_t``/``rs_walk_m`` per sample
    (the same-link shortcut along the facility's link ``lk_ptr``/``lk_point``). A sample's minutes are ``(drive to
    the node + drive to the sample) + walk``, the least over its entries, as :class:`geoaccess.trip.Trip` adds them:
    rounding is monotone, so taking the least per cell straight away gives every cell the same minutes, to the bit.
    Each cell takes them in ``gdist`` (inf where not seeded yet) and joins the list ``seeds`` (from position ``ns``)
    when first seeded; returns the list's new length."""
    nolabel = np.empty(0, dtype=np.int32)
    s0, s1 = seed_ptr[k], seed_ptr[k + 1]
    nt = 0
    if s1 > s0:
        _, nt = bucket_search(indptr, indices, weights, seed_node[s0:s1], seed_min[s0:s1], nolabel, cutoff, delta_r,
                              nb_r, 1 << 62, rdist, nolabel, rlink, rhead, rtouched)  # fmt: skip
    inf = np.inf
    for i in range(nt):
        v = rtouched[i]
        d = rdist[v]
        for e in range(rs_ptr[v], rs_ptr[v + 1]):
            m = (rs_part[e] + d) + e_walk[e]
            if m <= cutoff:
                x = e_cell[e]
                if m < gdist[x]:  # one seed per cell, its best (a cell holds several samples)
                    if gdist[x] == inf:
                        seeds[ns] = x
                        ns += 1
                    gdist[x] = m
        rdist[v] = inf
    lk = f_link[k]
    if lk >= 0:
        for e in range(lk_ptr[lk], lk_ptr[lk + 1]):
            p = lk_point[e]
            x = rs_cell[p]
            td, tf = rs_t[p], f_t[k]
            if not to_facility:
                td, tf = tf, td
            drive = (tf - td) * link_fwd[lk] if tf >= td else (td - tf) * link_bwd[lk]
            total = rs_walk_m[p] / mpm + drive + f_walk_m[k] / mpm
            if total <= cutoff and x >= 0 and total < gdist[x]:
                if gdist[x] == inf:
                    seeds[ns] = x
                    ns += 1
                gdist[x] = total
    return ns


@njit(cache=True)
def best_entries(ptr, point, part, walk, cell, same):
    """Per node (CSR ``ptr``/``point``/``part``), a mask of the entries whose ``part + walk[point]`` is within
    ``same`` (relative) of the least of that node's entries into the same ``cell`` (cells < 0: none kept)."""
    keep = np.zeros(point.shape[0], dtype=np.bool_)
    for u in range(ptr.shape[0] - 1):
        a, b = ptr[u], ptr[u + 1]
        if b - a <= 32:  # most nodes have a few dozen entries: pairwise is cheapest
            for e in range(a, b):
                c = cell[point[e]]
                if c < 0:
                    continue
                lo = part[e] + walk[point[e]]
                for f in range(a, b):
                    if cell[point[f]] == c:
                        x = part[f] + walk[point[f]]
                        if x < lo:
                            lo = x
                keep[e] = part[e] + walk[point[e]] <= lo + same * (1.0 + abs(lo))
            continue
        # a node at the end of long links (a mountain road sampled every cell): its entries grouped by cell
        cs = np.empty(b - a, dtype=np.int64)
        for e in range(a, b):
            cs[e - a] = cell[point[e]]
        order = np.argsort(cs)
        i = 0
        while i < b - a:
            c = cs[order[i]]
            j = i
            lo = np.inf
            while j < b - a and cs[order[j]] == c:
                e = a + order[j]
                x = part[e] + walk[point[e]]
                if x < lo:
                    lo = x
                j += 1
            if c >= 0:
                for q in range(i, j):
                    e = a + order[q]
                    keep[e] = part[e] + walk[point[e]] <= lo + same * (1.0 + abs(lo))
            i = j
    return keep


@njit(cache=True, nogil=True)
def pairs_worker(
    todo, cutoffs, f_cell, mixed,
    indptr, indices, weights, seed_ptr, seed_node, seed_min, delta_r, nb_r,
    rs_ptr, e_cell, rs_part, e_walk, rs_cell, f_link, f_t, f_walk_m, lk_ptr, lk_point, rs_t, rs_walk_m,
    link_fwd, link_bwd, mpm,
    friction, dem, rows, cols, off_r, off_c, off_len, mid_a, mid_b, mid_kind, cut_corners, to_seeds, delta_g, nb_g,
    bits, rank, ent_ptr, ent_point, ent_extra, walk_lb,
    out_point, out_min, pos0, room, start, count,
    rdist, rlink, rhead, rtouched, gdist, work, own, stepped, dseen, dplist,
    seed_key, seed_cell, seed_mins, keep_point, keep_mins,
):  # fmt: skip
    """Door-to-door pairs over the grid of facilities ``todo`` in order, each within ``cutoffs[k]``, sorted by minutes
    then demand point, written from ``pos0`` into ``out_point``/``out_min`` (``start[k]`` relative to the buffer,
    ``count[k]``).

    Stops after a facility when fewer than ``room`` entries are left (``room`` >= the demand points: the next
    facility always fits). Returns ``(facilities done, next position, work, cells scanned)``.

    Per facility ``k``: in ``mixed`` the road samples it reaches by road (:func:`_road_seeds`) seed the grid with
    their minutes; its own cell ``f_cell[k]`` (-1: off the grid) seeds it at 0. A demand point's minutes are those
    of its cell (``ent_extra < 0``), or, when its cell is impassable and unreached, the best passable neighbour's
    plus one step at that neighbour's friction (``ent_extra``): :meth:`geoaccess.terrain.Surface.at`'s reading.
    ``walk_lb`` (float32 per cell, or empty) bounds the walk between a cell and the nearest demand cell from below:
    the grid search leaves out the cells no demand point within the cutoff can pass (see :func:`grid_bounded`).
    Workspaces (``rdist``, ``rhead``, ``rlink[:, 2]`` as :func:`bucket_search` needs; ``own``/``stepped`` inf,
    ``dseen`` False, ``gdist`` inf) are left so. ``seed_*`` (one more than the road cells) and
    ``keep_*`` (the demand points) are scratch, allocated once per worker: a facility allocates nothing the size of its
    seeds or pairs (fresh pages of those cost 5-10 % of a search in the kernel's page clearing).
    """
    cap = out_point.shape[0]
    inv_g = 1.0 / delta_g  # as grid_bounded's ring computes a seed's bucket
    pos = pos0
    scans = 0
    done = 0
    inf = np.inf
    for j in range(todo.shape[0]):
        if cap - pos < room:
            break
        k = todo[j]
        c = cutoffs[k]
        to_fac = True if to_seeds else False
        # the seeds: the facility's own cell at 0, then the cells of the road samples it reaches (mixed), each at its
        # best minutes in gdist (clean here) and listed once in seed_key
        fc = f_cell[k]
        ns = 0
        if fc >= 0:
            gdist[fc] = 0.0
            seed_key[0] = fc
            ns = 1
        if mixed:
            ns = _road_seeds(
                k, c, indptr, indices, weights, seed_ptr, seed_node, seed_min, delta_r, nb_r, rs_ptr, e_cell,
                rs_part, e_walk, rs_cell, f_link, f_t, f_walk_m, lk_ptr, lk_point, rs_t, rs_walk_m, link_fwd,
                link_bwd, mpm, to_fac, rdist, rlink, rhead, rtouched, gdist, seed_key, ns,
            )  # fmt: skip
        # the ring takes seeds in order of their bucket (the order within one is free): keyed bucket << 31 | cell
        for i in range(ns):
            v = seed_key[i]
            seed_key[i] = (min(np.int64(gdist[v] * inv_g), _MAX_BUCKET) << 31) | v
        sort_keys(seed_key, ns)
        for i in range(ns):
            v = seed_key[i] & _LOW31
            seed_cell[i] = v
            seed_mins[i] = gdist[v]
            gdist[v] = inf
        sc = seed_cell[:ns]
        sm = seed_mins[:ns]
        work, nt, sn = grid_bounded(
            friction, dem, rows, cols, off_r, off_c, off_len, mid_a, mid_b, mid_kind, sc, sm, c, cut_corners,
            to_seeds, gdist, delta_g, nb_g, work, walk_lb, c + NEAR_MARGIN * max(1.0, c),
        )  # fmt: skip
        scans += sn
        touched = work[6]
        npt = 0
        for i in range(nt):
            v = touched[i]
            s = _slot(bits, rank, v)
            if s >= 0:
                d = gdist[v]
                for e in range(ent_ptr[s], ent_ptr[s + 1]):
                    p = ent_point[e]
                    if not dseen[p]:
                        dseen[p] = True
                        dplist[npt] = p
                        npt += 1
                    x = ent_extra[e]
                    if x < 0.0:
                        own[p] = d
                    else:
                        m = d + x
                        if m < stepped[p]:
                            stepped[p] = m
            gdist[v] = inf
        nk = 0
        for i in range(npt):
            p = dplist[i]
            m = own[p] if own[p] < inf else stepped[p]
            if m <= c:
                nk += 1
        kp = keep_point[:nk]
        km = keep_mins[:nk]
        q = 0
        for i in range(npt):
            p = dplist[i]
            m = own[p] if own[p] < inf else stepped[p]
            if m <= c:
                kp[q] = p
                km[q] = m
                q += 1
            own[p] = inf
            stepped[p] = inf
            dseen[p] = False
        by_m = sort_pairs(kp, km)
        start[k] = pos
        count[k] = nk
        for i in range(nk):
            out_point[pos + i] = kp[by_m[i]]
            out_min[pos + i] = km[by_m[i]]
        pos += nk
        done += 1
    return done, pos, work, scans


@njit(cache=True)
def lower_f32(dist):
    """``dist`` as float32, each value rounded down (a lower bound stays one); inf stays inf."""
    out = np.empty(dist.shape[0], dtype=np.float32)
    for i in range(dist.shape[0]):
        d = dist[i]
        f = np.float32(d)
        if np.float64(f) > d:
            f = np.nextafter(f, np.float32(-np.inf))
        out[i] = f
    return out
