"""Numba shortest-path kernels.

Plain numpy arrays only (no pandas). Graphs are CSR: ``indptr`` (n+1, int32 or int64), ``indices`` (m, int32)
and ``weights`` (m, float64, minutes). Unreachable nodes keep ``inf`` distance and ``-1`` labels.

Two priority queues, both exact for float minutes:

* a bucket queue (sequential Delta-stepping): circular buckets of width ``delta`` held as intrusive doubly-linked
  lists, so pushing, moving and popping a node are O(1) and there is no sift at all. A node popped before its
  distance is final (possible only when ``delta`` exceeds the smallest arc, or across zero-minute arcs) is pushed
  again when it improves and scanned again, which keeps the result exact: the search is label-correcting and ends
  only when no arc can improve any node. With ``delta`` no larger than the smallest positive arc, every node is
  scanned once. Road graphs measured: 2-3x faster than a binary heap.
* a 4-ary heap with lazy deletion, used for small pruned searches (incremental updates), for k-nearest, and as
  the fallback whenever the bucket queue would need too many buckets or rescans too much.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, idx):
    """``llvm.prefetch`` of ``arr[idx]`` (``idx`` an integer or a tuple of them; read, keep in every cache level).

    A hint only: it never faults, even past the end of ``arr``."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        if isinstance(idxty, types.BaseTuple):
            idx = [
                context.cast(builder, v, t, types.intp)
                for v, t in zip(cgutils.unpack_tuple(builder, args[1]), idxty, strict=True)
            ]
        else:
            idx = [context.cast(builder, args[1], idxty, types.intp)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [i8p, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# ---------------------------------------------------------------------------------------------------------------
# 4-ary heap with lazy deletion (keys float64, values int32)


@njit(cache=True, inline="always")
def _push4(hd, hv, size, d, v):
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if hd[p] <= d:
            break
        hd[i] = hd[p]
        hv[i] = hv[p]
        i = p
    hd[i] = d
    hv[i] = v
    return size + 1


@njit(cache=True, inline="always")
def _pop4(hd, hv, size):
    d0 = hd[0]
    v0 = hv[0]
    size -= 1
    if size > 0:
        d = hd[size]
        v = hv[size]
        i = 0
        while True:
            c = 4 * i + 1
            if c >= size:
                break
            best = c
            bd = hd[c]
            e = min(c + 4, size)
            for j in range(c + 1, e):
                if hd[j] < bd:
                    bd = hd[j]
                    best = j
            if bd >= d:
                break
            hd[i] = bd
            hv[i] = hv[best]
            i = best
        hd[i] = d
        hv[i] = v
    return d0, v0, size


@njit(cache=True, nogil=True)
def heap_search(indptr, indices, weights, seed_nodes, seed_minutes, seed_labels, cutoff, dist, label):
    """Multi-source Dijkstra that improves ``dist``/``label`` in place (a pruned search when they are not inf).

    Only nodes whose minutes strictly improve are touched, so seeding a new source into a finished search updates
    exactly the nodes it now serves. Returns the number of nodes scanned.
    """
    cap = indices.shape[0] + seed_nodes.shape[0] + 1
    hd = np.empty(min(cap, 1024), dtype=np.float64)
    hv = np.empty(min(cap, 1024), dtype=np.int32)
    size = 0
    for k in range(seed_nodes.shape[0]):
        v = seed_nodes[k]
        d = seed_minutes[k]
        if d < dist[v] and d <= cutoff:
            dist[v] = d
            label[v] = seed_labels[k]
            if size == hd.shape[0]:
                hd, hv = _grow(hd, hv)
            size = _push4(hd, hv, size, d, v)
    scans = 0
    while size > 0:
        d, u, size = _pop4(hd, hv, size)
        if d > dist[u]:
            continue
        scans += 1
        lu = label[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            nd = d + weights[e]
            if nd < dist[v] and nd <= cutoff:
                dist[v] = nd
                label[v] = lu
                if size == hd.shape[0]:
                    hd, hv = _grow(hd, hv)
                size = _push4(hd, hv, size, nd, v)
    return scans


@njit(cache=True)
def _grow(hd, hv):
    nd = np.empty(hd.shape[0] * 2, dtype=hd.dtype)
    nv = np.empty(hv.shape[0] * 2, dtype=hv.dtype)
    nd[: hd.shape[0]] = hd
    nv[: hv.shape[0]] = hv
    return nd, nv


# ---------------------------------------------------------------------------------------------------------------
# bucket queue (sequential Delta-stepping)


@njit(cache=True, nogil=True)
def bucket_search(
    indptr, indices, weights, seed_nodes, seed_minutes, seed_labels, cutoff, delta, nb, max_scans,
    dist, label, link, head, touched,
):  # fmt: skip
    """Multi-source search with a circular bucket queue; improves ``dist``/``label`` in place.

    ``link`` is an ``(n, 3)`` int32 workspace (next, previous, bucket of each queued node: one cache line per
    node instead of three); its last column and ``head`` must be -1 everywhere on entry, and are left so on a
    normal return. ``label`` of length 0 skips labels (catchments need only minutes). Every node whose minutes
    become finite is appended to ``touched`` (if it has room for n entries), so callers can reset a few entries
    instead of n. ``nb`` buckets (a power of two) must span more than the largest arc and the spread of seed minutes.
    Returns (nodes scanned, nodes touched), or (-1, touched) when more than ``max_scans`` scans were needed (the
    arrays are then inconsistent; callers start again with the heap).
    """
    inv = 1.0 / delta
    mask = nb - 1  # nb is a power of two
    track = touched.shape[0] > 0
    uselab = label.shape[0] > 0
    nt = 0
    count = 0
    lo = np.int64(1) << 62
    for k in range(seed_nodes.shape[0]):
        v = seed_nodes[k]
        d = seed_minutes[k]
        if d < dist[v] and d <= cutoff:
            if track and dist[v] == np.inf:
                touched[nt] = v
                nt += 1
            dist[v] = d
            if uselab:
                label[v] = seed_labels[k]
            b = np.int64(d * inv)
            os_ = link[v, 2]
            if os_ >= 0:
                p = link[v, 1]
                q = link[v, 0]
                if p >= 0:
                    link[p, 0] = q
                else:
                    head[os_] = q
                if q >= 0:
                    link[q, 1] = p
                count -= 1
            # intrusive list ops written out: numba's inline="always" helpers measured 1.5x slower here
            s2 = b & mask
            h = head[s2]
            link[v, 0] = h
            link[v, 1] = -1
            if h >= 0:
                link[h, 1] = v
            head[s2] = v
            link[v, 2] = s2
            count += 1
            if b < lo:
                lo = b
    cur = lo
    scans = 0
    while count > 0:
        s = cur & mask
        while head[s] >= 0:
            u = head[s]
            q = link[u, 0]
            head[s] = q
            if q >= 0:
                link[q, 1] = -1
                # software pipeline over the bucket list (measured 13-15 % on FLA/NE): the arcs of the next node
                # and the minutes, label and arc range of the one after it
                e0 = indptr[q]
                prefetch(indices, e0)
                prefetch(weights, e0)
                q2 = link[q, 0]
                if q2 >= 0:
                    prefetch(dist, q2)
                    prefetch(indptr, q2)
                    if uselab:
                        prefetch(label, q2)
            link[u, 2] = -1
            count -= 1
            scans += 1
            if scans > max_scans:
                return -1, nt
            d = dist[u]
            lu = label[u] if uselab else 0
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                nd = d + weights[e]
                if nd < dist[v] and nd <= cutoff:
                    if track and dist[v] == np.inf:
                        touched[nt] = v
                        nt += 1
                    dist[v] = nd
                    if uselab:
                        label[v] = lu
                    b = np.int64(nd * inv)
                    if b < cur:
                        b = cur  # rounding, or a zero-minute arc: stay in the bucket being scanned
                    os_ = link[v, 2]
                    if os_ >= 0:
                        p = link[v, 1]
                        q = link[v, 0]
                        if p >= 0:
                            link[p, 0] = q
                        else:
                            head[os_] = q
                        if q >= 0:
                            link[q, 1] = p
                        count -= 1
                    s2 = b & mask
                    h = head[s2]
                    link[v, 0] = h
                    link[v, 1] = -1
                    if h >= 0:
                        link[h, 1] = v
                    head[s2] = v
                    link[v, 2] = s2
                    count += 1
        cur += 1
    return scans, nt


@njit(cache=True, nogil=True)
def within_worker(indptr, indices, weights, sources, offsets, todo, cutoff, delta, nb, out_node, out_min, base, start,
                  count, dist, link, head, touched):  # fmt: skip
    """Bounded search from each source in ``todo`` (one worker's share; runs without the GIL, one per thread).

    The reached nodes of each source are written one after the other into ``out_node``/``out_min`` and
    ``start[k]``/``count[k]`` record where (``base`` + offset, flat into the caller's buffers). A source whose result
    does not fit in what is left gets ``start[k] = -1`` and is retried by the caller in a later round.
    ``dist`` must be inf, ``link[:, 2]`` and ``head`` -1 on entry; the worker leaves them so, resetting only the
    nodes each search touched (no O(n) work per source).
    """
    cap = out_node.shape[0]
    nolabel = np.empty(0, dtype=np.int32)
    seed = np.empty(1, dtype=np.int32)
    seed_min = np.empty(1)
    pos = 0
    full = False
    for j in range(todo.shape[0]):
        k = todo[j]
        if full:
            start[k] = -1
            continue
        seed[0] = sources[k]
        seed_min[0] = offsets[k]
        scans, nt = bucket_search(
            indptr, indices, weights, seed, seed_min, nolabel, cutoff, delta, nb, 1 << 62,
            dist, nolabel, link, head, touched,
        )  # fmt: skip
        if pos + nt > cap:
            full = True
            start[k] = -1
        else:
            start[k] = base + pos
            count[k] = nt
            for i in range(nt):
                v = touched[i]
                out_node[pos + i] = v
                out_min[pos + i] = dist[v]
            pos += nt
        for i in range(nt):
            dist[touched[i]] = np.inf


@njit(cache=True)
def gather(dist, label, rank):
    """``dist[rank], label[rank]`` in one pass (kernel order -> the caller's; 2.5x faster than numpy's take)."""
    n = rank.shape[0]
    od = np.empty(n)
    ol = np.empty(n, dtype=label.dtype)
    for i in range(n):
        j = rank[i]
        od[i] = dist[j]
        ol[i] = label[j]
    return od, ol


@njit(cache=True)
def copy_slices(src_node, src_min, src_start, counts, dst_start, dst_node, dst_min, perm):
    """``dst[dst_start[j]:+counts[j]] = src[src_start[j]:+counts[j]]`` for both arrays (``src_start < 0``: skip),
    nodes mapped through ``perm`` on the way (kernel order -> caller ids) unless it is empty."""
    mapped = perm.shape[0] > 0
    for j in range(counts.shape[0]):
        s = src_start[j]
        if s < 0:
            continue
        o = dst_start[j]
        for i in range(counts[j]):
            v = src_node[s + i]
            dst_node[o + i] = perm[v] if mapped else v
            dst_min[o + i] = src_min[s + i]


# ---------------------------------------------------------------------------------------------------------------
# k nearest sources per node


@njit(cache=True, nogil=True)
def k_nearest(indptr, indices, weights, seed_nodes, seed_minutes, seed_labels, k, cutoff, delta, nb, max_scans):
    """For every node, the ``k`` closest distinct labels and their minutes, closest first (inf / -1 pad).

    A label-correcting k-label search on the bucket queue of :func:`bucket_search`: every node keeps ``k`` slots,
    the best distinct labels found so far, and a node is queued (keyed by its smallest slot not yet followed) while
    any slot improved since it was last followed. A label is offered along an arc only if it beats the head node's
    ``k``-th slot. When a node is taken from bucket ``cur`` it follows only the improved slots that fall in that
    bucket. With ``delta`` no larger than the smallest positive arc this settles each (node, label) once; wider
    buckets may follow a slot again after it improves, which keeps the result exact. At the fixpoint every node
    holds its true ``k`` closest labels (any tie-break among equal minutes).

    Returns ``(k, n)`` minutes and labels (closest first) and the number of node scans, or -1 as the
    scan count when more than ``max_scans`` were needed (the result is then incomplete; callers use
    :func:`k_nearest_heap`).
    """
    n = indptr.shape[0] - 1
    sd = np.full((n, k), np.inf)
    sl = np.full((n, k), -1, dtype=np.int32)  # label s clean: s; dirty (not yet followed): -s-2; empty: -1
    link = np.full((n, 3), -1, dtype=np.int32)
    head = np.full(nb, -1, dtype=np.int32)
    pd_ = np.empty(k)
    pl = np.empty(k, dtype=np.int32)
    inv = 1.0 / delta
    mask = nb - 1  # nb is a power of two
    cur = np.int64(1) << 62
    for i in range(seed_nodes.shape[0]):
        if seed_minutes[i] <= cutoff:
            cur = min(cur, np.int64(seed_minutes[i] * inv))
    count = 0
    nseed = seed_nodes.shape[0]
    i = 0
    np_ = 0
    a = 0
    a_end = 0
    pj = 0
    scans = 0
    while True:
        if i < nseed:
            v = seed_nodes[i]
            nd = seed_minutes[i]
            lab = seed_labels[i]
            i += 1
        elif a < a_end:
            v = indices[a]
            nd = pd_[pj] + weights[a]
            lab = pl[pj]
            pj += 1
            if pj == np_:
                pj = 0
                a += 1
        else:
            if count == 0:
                break
            while head[cur & mask] < 0:
                cur += 1
            b0 = cur & mask
            u = head[b0]
            q = link[u, 0]
            head[b0] = q
            if q >= 0:
                link[q, 1] = -1
                e0 = indptr[q]
                prefetch(indices, e0)
                prefetch(weights, e0)
                q2 = link[q, 0]
                if q2 >= 0:
                    prefetch(sd, (q2, 0))
                    prefetch(sl, (q2, 0))
                    prefetch(indptr, q2)
            link[u, 2] = -1
            count -= 1
            scans += 1
            if scans > max_scans:
                return np.empty((k, 0)), np.empty((k, 0), dtype=np.int32), -1
            # follow the dirty labels that fall in this bucket; the rest wait
            np_ = 0
            key = np.inf
            for j in range(k):
                lj = sl[u, j]
                if lj <= -2:
                    dj = sd[u, j]
                    if np.int64(dj * inv) <= cur:
                        pd_[np_] = dj
                        pl[np_] = -lj - 2
                        np_ += 1
                        sl[u, j] = -lj - 2
                    elif dj < key:
                        key = dj
            if key < np.inf:
                b0 = np.int64(key * inv) & mask
                h = head[b0]
                link[u, 0] = h
                link[u, 1] = -1
                if h >= 0:
                    link[h, 1] = u
                head[b0] = u
                link[u, 2] = b0
                count += 1
            if np_ > 0:
                a = indptr[u]
                a_end = indptr[u + 1]
                pj = 0
            continue
        if nd > cutoff:
            continue
        dl = -lab - 2
        slot = -1
        wd = -1.0
        key = np.inf
        found = False
        for j in range(k):
            lj = sl[v, j]
            dj = sd[v, j]
            if lj == lab or lj == dl:
                if nd >= dj:
                    found = True  # no better
                    slot = -1
                    break
                slot = j
                wd = np.inf
                found = True
                # key over the other dirty slots
                for j2 in range(j + 1, k):
                    if sl[v, j2] <= -2 and sd[v, j2] < key:
                        key = sd[v, j2]
                if lj <= -2 and dj < key:
                    key = dj
                break
            if lj <= -2 and dj < key:
                key = dj
            if dj > wd:
                wd = dj
                slot = j
        if slot < 0 or (not found and nd >= wd):
            continue
        sd[v, slot] = nd
        sl[v, slot] = dl
        if nd >= key:
            continue
        b = np.int64(nd * inv)
        if b < cur:
            b = cur
        b0 = b & mask
        st = link[v, 2]
        if st == b0:
            continue
        if st >= 0:
            p = link[v, 1]
            q = link[v, 0]
            if p >= 0:
                link[p, 0] = q
            else:
                head[st] = q
            if q >= 0:
                link[q, 1] = p
            count -= 1
        h = head[b0]
        link[v, 0] = h
        link[v, 1] = -1
        if h >= 0:
            link[h, 1] = v
        head[b0] = v
        link[v, 2] = b0
        count += 1
    # slots in increasing minutes (insertion sort; k is small)
    for v in range(n):
        for j in range(1, k):
            x = sd[v, j]
            y = sl[v, j]
            t = j - 1
            while t >= 0 and sd[v, t] > x:
                sd[v, t + 1] = sd[v, t]
                sl[v, t + 1] = sl[v, t]
                t -= 1
            sd[v, t + 1] = x
            sl[v, t + 1] = y
    od, ol = _k_major(sd, sl)
    return od, ol, scans


@njit(cache=True, nogil=True)
def k_nearest_heap(indptr, indices, weights, seed_nodes, seed_minutes, seed_labels, k, cutoff, delta, nb):
    """:func:`k_nearest` as a label-setting k-label Dijkstra (the fallback when the buckets would rescan too much).

    Each node keeps ``k`` slots, its settled labels first (final, in increasing minutes) and
    then its best tentative ones, so an arc is followed only if it beats the node's ``k``-th best distinct label so
    far. A node sits in the queue once, keyed by its smallest tentative slot, and is settled up to ``k`` times.
    The queue has two levels: circular buckets of width ``delta`` (``nb`` of them, spanning the longest arc and the
    seed spread) hold nodes as intrusive doubly-linked lists, and only the bucket being settled sits in a small
    binary heap (lazy deletion). Buckets are ordered by minutes, so this is exact for any ``delta``; ``nb == 1``
    with ``delta = inf`` is a plain heap.

    Returns ``(k, n)`` minutes and labels.
    """
    n = indptr.shape[0] - 1
    sd = np.full((n, k), np.inf)
    sl = np.full((n, k), -1, dtype=np.int32)
    cnt = np.zeros(n, dtype=np.int32)
    link = np.full((n, 3), -1, dtype=np.int32)  # next, previous, bucket (-1: not queued, -2: in the heap)
    head = np.full(nb, -1, dtype=np.int32)
    hd = np.empty(1024)
    hv = np.empty(1024, dtype=np.int32)
    hs = 0
    inv = 1.0 / delta
    mask = nb - 1  # nb is a power of two
    cur = np.int64(1) << 62
    for i in range(seed_nodes.shape[0]):
        if seed_minutes[i] <= cutoff:
            cur = min(cur, np.int64(seed_minutes[i] * inv))
    count = 0
    nseed = seed_nodes.shape[0]
    i = 0
    u = -1
    d = 0.0
    s = 0
    a = 0
    a_end = 0
    while True:
        # next (node, minutes, label) to offer: the seeds first, then the arcs of the node being settled
        if i < nseed:
            v = seed_nodes[i]
            nd = seed_minutes[i]
            lab = seed_labels[i]
            i += 1
        elif a < a_end:
            v = indices[a]
            nd = d + weights[a]
            lab = s
            a += 1
        else:
            # settle the next node: drain the next bucket into the heap when the heap is empty
            if hs == 0:
                if count == 0:
                    break
                while head[cur & mask] < 0:
                    cur += 1
                b0 = cur & mask
                x = head[b0]
                while x >= 0:
                    y = link[x, 0]
                    link[x, 2] = -2
                    key = np.inf
                    for j in range(cnt[x], k):
                        if sd[x, j] < key:
                            key = sd[x, j]
                    if hs == hd.shape[0]:
                        hd, hv = _grow(hd, hv)
                    hs = _push2(hd, hv, hs, key, x)
                    count -= 1
                    x = y
                head[b0] = -1
            d, u, hs = _pop2(hd, hv, hs)
            if link[u, 2] != -2:
                continue
            c = cnt[u]
            best = -1
            key = np.inf
            for j in range(c, k):
                if sd[u, j] < key:
                    key = sd[u, j]
                    best = j
            if key != d:
                continue  # a stale heap entry: the node was queued again with a smaller key
            s = sl[u, best]
            if best != c:
                sd[u, best] = sd[u, c]
                sl[u, best] = sl[u, c]
                sd[u, c] = d
                sl[u, c] = s
            c += 1
            cnt[u] = c
            link[u, 2] = -1
            # queue the node again for its next tentative label
            key = np.inf
            for j in range(c, k):
                if sd[u, j] < key:
                    key = sd[u, j]
            if key < np.inf:
                if hs == hd.shape[0]:
                    hd, hv = _grow(hd, hv)
                b = np.int64(key * inv)
                if b <= cur:
                    link[u, 2] = -2
                    hs = _push2(hd, hv, hs, key, u)
                else:
                    b0 = b & mask
                    h = head[b0]
                    link[u, 0] = h
                    link[u, 1] = -1
                    if h >= 0:
                        link[h, 1] = u
                    head[b0] = u
                    link[u, 2] = b0
                    count += 1
            a = indptr[u]
            a_end = indptr[u + 1]
            continue
        # offer label `lab` at `nd` minutes to node v
        if nd > cutoff:
            continue
        c = cnt[v]
        if c >= k:
            continue
        seen = False
        for j in range(c):
            if sl[v, j] == lab:
                seen = True
                break
        if seen:
            continue
        key = np.inf
        slot = -1
        wd = -1.0
        for j in range(c, k):
            dj = sd[v, j]
            if dj < key:
                key = dj
            if sl[v, j] == lab:
                slot = j
                wd = dj
                for j2 in range(j + 1, k):
                    if sd[v, j2] < key:
                        key = sd[v, j2]
                break
            if dj > wd:
                wd = dj
                slot = j
        if nd >= wd:
            continue
        sd[v, slot] = nd
        sl[v, slot] = lab
        if nd >= key:
            continue  # its queue key (smallest tentative minutes) is unchanged
        # v's key drops to nd: (re)place it
        st = link[v, 2]
        b = np.int64(nd * inv)
        if b <= cur:
            if st >= 0:
                p = link[v, 1]
                q = link[v, 0]
                if p >= 0:
                    link[p, 0] = q
                else:
                    head[st] = q
                if q >= 0:
                    link[q, 1] = p
                count -= 1
            link[v, 2] = -2
            if hs == hd.shape[0]:
                hd, hv = _grow(hd, hv)
            hs = _push2(hd, hv, hs, nd, v)
        else:
            b0 = b & mask
            if st == b0:
                continue
            if st >= 0:
                p = link[v, 1]
                q = link[v, 0]
                if p >= 0:
                    link[p, 0] = q
                else:
                    head[st] = q
                if q >= 0:
                    link[q, 1] = p
                count -= 1
            h = head[b0]
            link[v, 0] = h
            link[v, 1] = -1
            if h >= 0:
                link[h, 1] = v
            head[b0] = v
            link[v, 2] = b0
            count += 1
    return _k_major(sd, sl)


@njit(cache=True)
def _k_major(sd, sl):
    """``(n, k)`` slots -> ``(k, n)`` arrays (what callers index by rank)."""
    n, k = sd.shape
    od = np.empty((k, n))
    ol = np.empty((k, n), dtype=np.int32)
    for v in range(n):
        for j in range(k):
            od[j, v] = sd[v, j]
            ol[j, v] = sl[v, j]
    return od, ol


@njit(cache=True)
def _push2(hd, hv, size, d, v):
    """Binary-heap push (keys float64, values int32)."""
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if hd[p] <= d:
            break
        hd[i] = hd[p]
        hv[i] = hv[p]
        i = p
    hd[i] = d
    hv[i] = v
    return size + 1


@njit(cache=True)
def _pop2(hd, hv, size):
    d0 = hd[0]
    v0 = hv[0]
    size -= 1
    if size > 0:
        d = hd[size]
        v = hv[size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and hd[c + 1] < hd[c]:
                c += 1
            if hd[c] >= d:
                break
            hd[i] = hd[c]
            hv[i] = hv[c]
            i = c
        hd[i] = d
        hv[i] = v
    return d0, v0, size


# ---------------------------------------------------------------------------------------------------------------
# incremental removal


@njit(cache=True)
def boundary_seeds(rindptr, rindices, rweights, dist, label, affected):
    """Start minutes for the nodes that lost their source: the best arc in from a node that kept its source.

    ``rindptr``/``rindices``/``rweights`` is the graph turned around relative to the search (arcs into a node).
    """
    n = rindptr.shape[0] - 1
    nodes = np.empty(n, dtype=np.int32)
    mins = np.empty(n)
    labs = np.empty(n, dtype=np.int32)
    m = 0
    for v in range(n):
        if not affected[v]:
            continue
        best = np.inf
        bl = -1
        for e in range(rindptr[v], rindptr[v + 1]):
            u = rindices[e]
            if affected[u]:
                continue
            nd = dist[u] + rweights[e]
            if nd < best:
                best = nd
                bl = label[u]
        if bl >= 0:
            nodes[m] = v
            mins[m] = best
            labs[m] = bl
            m += 1
    return nodes[:m], mins[:m], labs[:m]


# ---------------------------------------------------------------------------------------------------------------
# door-to-door OD pairs: bounded search per facility, then the demand points on the reached links


@njit(cache=True, nogil=True)
def sort_pairs(point, minutes):
    """Order of pairs by minutes, ties by point: a bucket sort on minutes (about four pairs a bucket), then an
    insertion sort within each bucket (measured 5x faster than two argsorts on 65 M pairs of Shanxi's 30-minute
    catchments)."""
    n = minutes.shape[0]
    order = np.empty(n, dtype=np.int64)
    if n == 0:
        return order
    hi = 0.0
    for i in range(n):
        if minutes[i] > hi:
            hi = minutes[i]
    nb = max(1, n // 4)
    scale = nb / hi if hi > 0 else 0.0
    ptr = np.zeros(nb + 1, dtype=np.int64)
    for i in range(n):
        ptr[min(int(minutes[i] * scale), nb - 1) + 1] += 1
    for b in range(nb):
        ptr[b + 1] += ptr[b]
    fill = ptr[:-1].copy()
    for i in range(n):
        b = min(int(minutes[i] * scale), nb - 1)
        order[fill[b]] = i
        fill[b] += 1
    for b in range(nb):
        lo, hi_ = ptr[b], ptr[b + 1]
        if hi_ - lo > 64:  # a crowded bucket (e.g. many equal minutes): sort it by point, then stably by minutes
            idx = order[lo:hi_].copy()
            idx = idx[np.argsort(point[idx])]
            idx = idx[np.argsort(minutes[idx], kind="mergesort")]
            order[lo:hi_] = idx
            continue
        for a in range(lo + 1, hi_):
            v = order[a]
            mv, pv = minutes[v], point[v]
            c = a - 1
            while c >= lo and (minutes[order[c]] > mv or (minutes[order[c]] == mv and point[order[c]] > pv)):
                order[c + 1] = order[c]
                c -= 1
            order[c + 1] = v
    return order


@njit(cache=True, nogil=True)
def pairs_worker(indptr, indices, weights, seed_ptr, seed_node, seed_min, cutoffs, todo, delta, nb,
                 pt_ptr, pt_point, pt_part, walk, f_link, f_t, f_walk_m, lk_ptr, lk_point, d_t, d_walk_m,
                 link_fwd, link_bwd, mpm, to_facility, out_point, out_min, base, start, count,
                 dist, link, head, touched, best, seen, plist):  # fmt: skip
    """Door-to-door pairs of each facility in ``todo`` within its cutoff, sorted by minutes then point.

    A facility's search starts from its seeds (``seed_ptr`` CSR: both ends of its link, with the walk and the part
    of the link already in the start minutes) and is bounded by ``cutoffs[k]``. Every demand point on a link that
    ends at a reached node gets ``min over its ends (pt_part + node minutes) + walk``; points on the facility's own
    link (``lk_ptr`` CSR by link) may drive straight to it. The legs are added in the order
    :class:`geoaccess.trip.Trip` adds them, so minutes equal its results to the last bit.

    Pairs go one facility after another into ``out_point``/``out_min`` (``start[k]`` = ``base`` + offset,
    ``count[k]``); a facility whose pairs do not fit in what is left gets ``start[k] = -1`` and is retried by the
    caller. ``dist``/``link``/``head`` are the bucket workspace (clean on entry and exit, see
    :func:`bucket_search`); ``best`` (inf) and ``seen`` (False) have one entry per demand point and are left so.
    """
    cap = out_point.shape[0]
    nolabel = np.empty(0, dtype=np.int32)
    pos = 0
    full = False
    for j in range(todo.shape[0]):
        k = todo[j]
        if full:
            start[k] = -1
            continue
        c = cutoffs[k]
        s0, s1 = seed_ptr[k], seed_ptr[k + 1]
        nt = 0
        if s1 > s0:
            _, nt = bucket_search(indptr, indices, weights, seed_node[s0:s1], seed_min[s0:s1], nolabel, c, delta, nb,
                                  1 << 62, dist, nolabel, link, head, touched)  # fmt: skip
        npt = 0
        for i in range(nt):
            v = touched[i]
            d = dist[v]
            for e in range(pt_ptr[v], pt_ptr[v + 1]):
                p = pt_point[e]
                m = pt_part[e] + d
                if not seen[p]:
                    seen[p] = True
                    plist[npt] = p
                    npt += 1
                if m < best[p]:
                    best[p] = m
        for i in range(nt):
            dist[touched[i]] = np.inf
        for i in range(npt):
            p = plist[i]
            best[p] = best[p] + walk[p]
        lk = f_link[k]
        if lk >= 0:
            for e in range(lk_ptr[lk], lk_ptr[lk + 1]):
                p = lk_point[e]
                if not seen[p]:
                    seen[p] = True
                    plist[npt] = p
                    npt += 1
                td, tf = d_t[p], f_t[k]
                if not to_facility:
                    td, tf = tf, td
                drive = (tf - td) * link_fwd[lk] if tf >= td else (td - tf) * link_bwd[lk]
                total = d_walk_m[p] / mpm + drive + f_walk_m[k] / mpm
                if total < best[p]:
                    best[p] = total
        nk = 0
        for i in range(npt):
            if best[plist[i]] <= c:
                nk += 1
        kp = np.empty(nk, dtype=np.int32)
        km = np.empty(nk)
        q = 0
        for i in range(npt):
            p = plist[i]
            if best[p] <= c:
                kp[q] = p
                km[q] = best[p]
                q += 1
            best[p] = np.inf
            seen[p] = False
        if pos + nk > cap:
            full = True
            start[k] = -1
            continue
        by_m = sort_pairs(kp, km)
        start[k] = base + pos
        count[k] = nk
        for i in range(nk):
            out_point[pos + i] = kp[by_m[i]]
            out_min[pos + i] = km[by_m[i]]
        pos += nk


@njit(cache=True)
def same_link(cand, lo, hi, f_order, d_link, d_t, d_walk_m, f_t, f_walk_m, link_fwd, link_bwd, mpm, to_facility,
              minutes, label):  # fmt: skip
    """Improve ``minutes``/``label`` of demand points ``cand`` by driving straight along their link to a facility on
    it (``f_order[lo[i]:hi[i]]``), in place; the legs are added as :func:`pairs_worker` adds them."""
    for i in cand:
        lk = d_link[i]
        for q in range(lo[i], hi[i]):
            j = f_order[q]
            td, tf = d_t[i], f_t[j]
            if not to_facility:
                td, tf = tf, td
            drive = (tf - td) * link_fwd[lk] if tf >= td else (td - tf) * link_bwd[lk]
            total = d_walk_m[i] / mpm + drive + f_walk_m[j] / mpm
            if total < minutes[i]:
                minutes[i] = total
                label[i] = j
