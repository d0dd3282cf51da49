"""Shortest-path orchestration: validate inputs, call the numba kernels, shape the results.

Everything here speaks the caller's node ids; the :class:`~geoaccess.network.Network` renumbers nodes for the
kernels (``to_kernel`` / ``from_kernel``) and nothing outside this module sees that order.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from geoaccess import _kernels
from geoaccess.errors import InputError

#: the bucket queue keeps at most this many buckets (wider buckets beyond; measured against 4096: 7 % faster on NY
#: and NE, the same on the 1M demo network, still one scan per node on all three; 16 buckets rescans 7x on the demo)
_MAX_BUCKETS = 256
#: beyond this many buckets (seed minutes spread far apart) the heap is used instead
_HEAP_ABOVE = 1 << 22
_NO_TOUCH = np.empty(0, dtype=np.int32)
_POOL_LOCK = threading.Lock()
#: bucket searches fall back to a heap beyond this many scans per node (and per label for k_nearest): rescans of
#: wide buckets
_RESCANS = 4


def _check_sources(net, sources, offsets):
    sources = np.asarray(sources)
    if sources.ndim != 1 or sources.size == 0:
        raise InputError("sources must be a non-empty 1-D array of node ids")
    if not np.issubdtype(sources.dtype, np.integer):
        raise InputError(f"sources must be integer node ids, got dtype {sources.dtype}")
    if sources.min() < 0 or sources.max() >= net.n_nodes:
        raise InputError(f"source node ids must lie in 0..{net.n_nodes - 1}")
    if offsets is None:
        offsets = np.zeros(sources.size)
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != sources.shape:
        raise InputError(f"offsets must have one value per source ({sources.size}), got {offsets.shape}")
    if not np.all(np.isfinite(offsets) & (offsets >= 0)):
        raise InputError("offsets must be finite, non-negative minutes")
    return sources.astype(np.int64), offsets


def _cutoff(cutoff) -> float:
    if cutoff is None:
        return np.inf
    try:
        c = float(cutoff)
    except (TypeError, ValueError):
        raise InputError(f"cutoff must be a non-negative number of minutes, got {cutoff!r}") from None
    if not c >= 0:
        raise InputError(f"cutoff must be a non-negative number of minutes, got {cutoff!r}")
    return c


def _queue(net, seed_minutes, cutoff: float):
    """Bucket width and count for the bucket queue; ``nb == 0`` means use the heap.

    The width is the smallest positive arc (so no node is scanned twice) unless that needs more than
    :data:`_MAX_BUCKETS` buckets to span the longest arc; then it is widened (a few rescans at most, measured faster).
    The count is rounded up to a power of two.
    """
    wmax = net.max_minutes
    wmin = net.min_positive_minutes
    if wmax <= 0:
        return 1.0, 2
    delta = max(wmin, wmax / _MAX_BUCKETS)
    spread = 0.0
    if len(seed_minutes):
        live = seed_minutes[seed_minutes <= cutoff]
        if live.size:
            spread = float(live.max() - live.min())
    nb = int(max(wmax, spread) / delta) + 2
    # a power of two, so the kernels find a bucket with a mask instead of a division
    return delta, (1 << (nb - 1).bit_length() if nb <= _HEAP_ABOVE else 0)


def _threads(jobs: int) -> int:
    return max(1, min(numba.get_num_threads(), jobs))


def _run(fn, args_list):
    """Run kernels that release the GIL, one per thread (numba ``nogil``); results in order."""
    if len(args_list) == 1:
        return [fn(*args_list[0])]
    with ThreadPoolExecutor(max_workers=len(args_list)) as ex:
        return list(ex.map(lambda a: fn(*a), args_list))


def _multi(indptr, indices, w, knodes, minutes, labels, c, delta, nb):
    """Minutes from the nearest seed to every node (kernel order) and its label: bucket queue, heap fallback.

    The fallback is decided here rather than in a kernel, so a first call compiles only the queue it runs.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    label = np.full(n, -1, dtype=np.int32)
    if nb > 0:
        link = np.full((n, 3), -1, dtype=np.int32)
        head = np.full(nb, -1, dtype=np.int32)
        scans, _ = _kernels.bucket_search(indptr, indices, w, knodes, minutes, labels, c, delta, nb,
                                          _RESCANS * n + knodes.shape[0], dist, label, link, head, _NO_TOUCH)  # fmt: skip
        if scans >= 0:
            return dist, label
        dist[:] = np.inf
        label[:] = -1
    _kernels.heap_search(indptr, indices, w, knodes, minutes, labels, c, dist, label)
    return dist, label


def _check_seeds(net, nodes, minutes, labels):
    nodes = np.asarray(nodes)
    minutes = np.asarray(minutes, dtype=np.float64)
    labels = np.asarray(labels)
    if not (nodes.shape == minutes.shape == labels.shape) or nodes.ndim != 1:
        raise InputError("seed nodes, minutes and labels must be 1-D arrays of one length")
    if nodes.size:
        if not np.issubdtype(nodes.dtype, np.integer):
            raise InputError(f"seed nodes must be integer node ids, got dtype {nodes.dtype}")
        if nodes.min() < 0 or nodes.max() >= net.n_nodes:
            raise InputError(f"seed node ids must lie in 0..{net.n_nodes - 1}")
        if not np.all((minutes >= 0) & ~np.isnan(minutes)):
            raise InputError("seed minutes must be non-negative")
    return net.to_kernel(nodes), minutes, labels.astype(np.int32)


def seeded(net, nodes, minutes, labels, cutoff=None, reverse=False):
    """Multi-source search from explicit seeds (node, start minutes, label); labels pass through.

    Returns per-node minutes (``inf`` beyond reach or ``cutoff``) and the label of the seed that reached it (-1).
    """
    knodes, minutes, labels = _check_seeds(net, nodes, minutes, labels)
    c = _cutoff(cutoff)
    indptr, indices, w = net.kernel_csr(reverse)
    delta, nb = _queue(net, minutes, c)
    dist, lab = _multi(indptr, indices, w, knodes, minutes, labels, c, delta, nb)
    return (dist, lab) if net._rank is None else _kernels.gather(dist, lab, net._rank)


def without_labels(net, node_minutes, node_label, lost, nodes, minutes, labels, cutoff=None, reverse=False):
    """A nearest result (``node_minutes``, ``node_label``) after the sources labelled ``lost`` are gone.

    Only the nodes those sources served are searched again: from the best arc in from a node that kept
    its source, and from the seeds (``nodes``, ``minutes``, ``labels``) of remaining sources that lie
    among them. Minutes equal a fresh search over the remaining sources; labels may differ on exact ties.
    Returns new arrays; the inputs are not modified.
    """
    knodes, minutes, labels = _check_seeds(net, nodes, minutes, labels)
    node_minutes = np.asarray(node_minutes, dtype=np.float64)
    if node_minutes.shape != (net.n_nodes,) or np.shape(node_label) != (net.n_nodes,):
        raise InputError(f"node minutes and labels need one value per node ({net.n_nodes})")
    dist = net.values_to_kernel(node_minutes)
    label = net.values_to_kernel(np.asarray(node_label)).astype(np.int32)
    affected = np.isin(label, np.asarray(lost, dtype=np.int32))
    dist[affected] = np.inf
    label[affected] = -1
    rptr, rind, rw = net.kernel_csr(not reverse)  # arcs into a node of the search graph
    bn, bm, bl = _kernels.boundary_seeds(rptr, rind, rw, dist, label, affected)
    inside = affected[knodes]
    indptr, indices, w = net.kernel_csr(reverse)
    _kernels.heap_search(
        indptr,
        indices,
        w,
        np.concatenate([bn, knodes[inside]]).astype(np.int32),
        np.concatenate([bm, minutes[inside]]),
        np.concatenate([bl, labels[inside]]).astype(np.int32),
        _cutoff(cutoff),
        dist,
        label,
    )
    return net.from_kernel(dist), net.from_kernel(label)


def nearest(net, sources, offsets=None, cutoff=None, reverse=False):
    """For every node, minutes to the closest source (inf if none) and its position in ``sources`` (-1)."""
    sources, offsets = _check_sources(net, sources, offsets)
    labels = np.arange(sources.size, dtype=np.int32)
    return seeded(net, sources, offsets, labels, cutoff=cutoff, reverse=reverse)


def nearest_groups(net, groups, offsets=None, cutoff=None, reverse=False):
    """:func:`nearest` for several groups of sources at once (e.g. one per tier), the groups spread over cores.

    Returns ``(G, n)`` minutes and ``(G, n)`` positions within each group.
    """
    if len(groups) == 0:
        raise InputError("groups must hold at least one group of sources")
    offsets = [None] * len(groups) if offsets is None else offsets
    if len(offsets) != len(groups):
        raise InputError(f"offsets must have one entry per group ({len(groups)}), got {len(offsets)}")
    checked = [_check_sources(net, s, o) for s, o in zip(groups, offsets, strict=True)]
    c = _cutoff(cutoff)
    nodes = net.to_kernel(np.concatenate([s for s, _ in checked]))
    mins = np.concatenate([o for _, o in checked])
    labs = np.concatenate([np.arange(s.size, dtype=np.int32) for s, _ in checked])
    sizes = np.cumsum([0] + [s.size for s, _ in checked])
    # one bucket count for every group: widest spread of any group
    delta, nb = _queue(net, np.zeros(0), c)
    for _, o in checked:
        g = _queue(net, o, c)[1]
        nb = max(nb, g) if nb and g else 0
    indptr, indices, w = net.kernel_csr(reverse)
    jobs = [
        (indptr, indices, w, nodes[a:b], mins[a:b], labs[a:b], c, delta, nb)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    # groups spread over threads (the kernels release the GIL)
    with ThreadPoolExecutor(max_workers=_threads(len(jobs))) as ex:
        res = list(ex.map(lambda a: _multi(*a), jobs))
    dist = np.stack([d for d, _ in res])
    lab = np.stack([lb for _, lb in res])
    return net.from_kernel(dist), net.from_kernel(lab)


# -------------------------------------------------------------------------------------------------------------
# bounded searches: catchments and OD tables


@dataclass
class OD:
    """Every node within a cutoff of each source, as CSR: source ``k`` reaches ``node[indptr[k]:indptr[k+1]]``
    in ``minutes[...]`` (in order of discovery, not sorted). Unreached pairs are absent."""

    indptr: np.ndarray  # (S+1,) int64
    node: np.ndarray  # int32, caller node ids
    minutes: np.ndarray  # float64

    def __len__(self) -> int:
        return int(self.node.shape[0])

    @property
    def source(self) -> np.ndarray:
        """Source position of every row (int32)."""
        return np.repeat(np.arange(self.indptr.size - 1, dtype=np.int32), np.diff(self.indptr))

    def to_frame(self) -> pd.DataFrame:
        """Long table ``source, node, minutes``."""
        return pd.DataFrame({"source": self.source, "node": self.node, "minutes": self.minutes})


def _take_work(net, nw: int, nb: int):
    """One bucket workspace per worker (minutes, links, heads, touched), taken from the network's small pool of
    clean ones when it has one of this shape (measured: saves about 9 ms of a 16 ms ``od`` call on NY), else new."""
    with _POOL_LOCK:
        pool = net.__dict__.setdefault("_od_work", [])
        for i, (key, _) in enumerate(pool):
            if key == (nw, nb):
                return pool.pop(i)[1]
    n = net.n_nodes
    return [(np.full(n, np.inf), np.full((n, 3), -1, dtype=np.int32), np.full(nb, -1, dtype=np.int32),
             np.empty(n, dtype=np.int32)) for _ in range(nw)]  # fmt: skip


def _give_work(net, nw: int, nb: int, work) -> None:
    """Return workspaces left clean by every search to the pool (two at most: about 48 B a node for two workers)."""
    with _POOL_LOCK:
        pool = net.__dict__.setdefault("_od_work", [])
        pool.append(((nw, nb), work))
        del pool[:-2]


def od(net, sources, cutoff, reverse=False, offsets=None, buffer_mb: float = 256.0, _keep: dict | None = None) -> OD:
    """Bounded search from every source (one queue per core), as an :class:`OD` table.

    Sources are searched in blocks whose results fit in ``buffer_mb`` of worker buffers; each block is copied out
    compactly, and the final arrays are filled block by block while blocks are freed, so the peak is about the
    size of the result plus the buffers. ``_keep`` (a dict, used by :func:`od_blocks`) keeps the worker buffers for
    the next call instead of allocating them again; the workers' search workspaces are kept on the network.
    """
    sources, offsets = _check_sources(net, sources, offsets)
    c = _cutoff(cutoff)
    indptr, indices, w = net.kernel_csr(reverse)
    delta, nb = _queue(net, np.zeros(0), c)
    ksrc = net.to_kernel(sources)
    n = net.n_nodes
    nw = _threads(sources.size)
    entry = 12  # int32 node + float64 minutes
    cap = max(n, int(buffer_mb * 2**20 / entry / nw))
    if _keep is not None and _keep.get("nw") == nw and _keep["out"][0].shape[1] >= cap:
        out_node, out_min = _keep["out"]
        cap = out_node.shape[1]
    else:
        out_node = np.empty((nw, cap), dtype=np.int32)
        out_min = np.empty((nw, cap))
    work = _take_work(net, nw, nb)
    start = np.full(sources.size, -1, dtype=np.int64)
    count = np.zeros(sources.size, dtype=np.int64)
    perm = _NO_TOUCH if net._perm is None else net._perm
    pieces = []
    todo = np.arange(sources.size, dtype=np.int64)
    while todo.size:
        jobs = [(indptr, indices, w, ksrc, offsets, todo[t::nw], c, delta, nb, out_node[t], out_min[t], t * cap, start,
                 count, *work[t]) for t in range(nw)]  # fmt: skip
        _run(_kernels.within_worker, jobs)
        done = todo[start[todo] >= 0]
        if done.size == 0:  # one source's result exceeds a buffer: grow it
            cap *= 2
            out_node = np.empty((nw, cap), dtype=np.int32)
            out_min = np.empty((nw, cap))
            continue
        ptr = np.zeros(done.size, dtype=np.int64)
        np.cumsum(count[done][:-1], out=ptr[1:])
        total = int(count[done].sum())
        pn = np.empty(total, dtype=np.int32)
        pm = np.empty(total)
        # compact copy out of the worker buffers, kernel node order mapped to caller ids on the way
        _kernels.copy_slices(out_node.reshape(-1), out_min.reshape(-1), start[done], count[done], ptr, pn, pm, perm)
        pieces.append((done, ptr, pn, pm))
        todo = todo[start[todo] < 0]
    _give_work(net, nw, nb, work)
    if _keep is not None:
        _keep.update(nw=nw, out=(out_node, out_min))
    del work
    del out_node, out_min
    optr = np.zeros(sources.size + 1, dtype=np.int64)
    np.cumsum(count, out=optr[1:])
    node = np.empty(int(optr[-1]), dtype=np.int32)
    minutes = np.empty(int(optr[-1]))
    while pieces:
        done, ptr, pn, pm = pieces.pop(0)
        _kernels.copy_slices(pn, pm, ptr, count[done], optr[done], node, minutes, _NO_TOUCH)
        del pn, pm
    return OD(optr, node, minutes)


def od_blocks(
    net,
    sources,
    cutoff,
    reverse=False,
    offsets=None,
    block: int | None = None,
    buffer_mb: float = 256.0,
    block_mb: float = 512.0,
):
    """Yield ``(first source position, OD)`` for consecutive blocks of sources.

    For tables too large to hold at once (thousands of sources with wide cutoffs): consume each block (e.g. sum
    supply-to-demand ratios) and drop it (``del`` it in the loop body, or the next block is built while it is still
    held), so the peak stays at about twice one block (while a block is assembled) plus the worker buffers.
    ``block`` fixes the number of sources per block; by default blocks are sized to hold about ``block_mb`` of
    pairs (12 bytes each), learning the pairs per source from the blocks already built (the first has 16 sources).
    """
    sources, offsets = _check_sources(net, sources, offsets)
    if block is not None and (isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1):
        raise InputError(f"block must be a positive number of sources, got {block!r}")
    keep = {}  # worker buffers and workspaces, allocated once for all blocks
    a, size, pairs, done = 0, block or 16, 0, 0
    while a < sources.size:
        part = od(net, sources[a : a + size], cutoff, reverse=reverse, offsets=offsets[a : a + size],
                  buffer_mb=buffer_mb, _keep=keep)  # fmt: skip
        n = min(size, sources.size - a)
        pairs, done = pairs + len(part), done + n
        yield a, part
        del part
        a += n
        if block is None:
            size = int(min(4096, max(1, block_mb * 2**20 / (12.0 * max(pairs / done, 1.0)))))


def within(net, sources, cutoff, reverse=False) -> pd.DataFrame:
    """Long table ``source, node, minutes`` of every node within ``cutoff`` of each source."""
    return od(net, sources, cutoff, reverse=reverse).to_frame()


def k_nearest(net, sources, k: int, cutoff=None, offsets=None, reverse=False):
    """The ``k`` closest sources of every node: ``(k, n)`` minutes (closest first, inf pad) and ``(k, n)``
    positions in ``sources`` (-1 pad). A source is counted once even if it sits on several nodes."""
    sources, offsets = _check_sources(net, sources, offsets)
    if int(k) != k or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    c = _cutoff(cutoff)
    indptr, indices, w = net.kernel_csr(reverse)
    labels = np.arange(sources.size, dtype=np.int32)
    knodes = net.to_kernel(sources)
    k = int(k)
    delta, nb = _queue(net, offsets, c)
    scans = -1
    if nb > 0:
        max_scans = _RESCANS * k * net.n_nodes + sources.size
        dist, lab, scans = _kernels.k_nearest(indptr, indices, w, knodes, offsets, labels, k, c, delta, nb, max_scans)
    if scans < 0:  # too many rescans, or seed minutes too far apart for buckets: a heap (one bucket of width inf)
        dist, lab = _kernels.k_nearest_heap(indptr, indices, w, knodes, offsets, labels, k, c, np.inf, 1)
    return net.from_kernel(dist), net.from_kernel(lab)


# -------------------------------------------------------------------------------------------------------------
# incremental updates


class NearestState:
    """A nearest-source result that follows facilities being added and removed without a full recompute.

    Adding a source runs a pruned search from it that only touches the nodes it now serves; removing one resets
    the nodes it served and searches again from their boundary with the nodes that kept their source. Both give
    the same minutes as :func:`nearest` over the current sources (labels may differ only on exact ties).
    Positions are stable: a removed source keeps its position, which no node will carry again.
    """

    def __init__(self, net, sources, offsets=None, cutoff=None, reverse=False):
        sources, offsets = _check_sources(net, sources, offsets)
        self.net = net
        self.reverse = bool(reverse)
        self.cutoff = _cutoff(cutoff)
        self.sources = list(sources)
        self.offsets = list(offsets)
        self.active = [True] * sources.size
        self._work = None
        self._add = None
        indptr, indices, w = net.kernel_csr(self.reverse)
        delta, nb = _queue(net, offsets, self.cutoff)
        labels = np.arange(sources.size, dtype=np.int32)
        self._dist, self._label = _multi(
            indptr, indices, w, net.to_kernel(sources), offsets, labels, self.cutoff, delta, nb
        )

    @property
    def minutes(self) -> np.ndarray:
        return self.net.from_kernel(self._dist)

    @property
    def nearest(self) -> np.ndarray:
        return self.net.from_kernel(self._label)

    def add_source(self, node: int, offset: float = 0.0) -> int:
        """Add a source at ``node`` (start ``offset`` minutes); returns its position."""
        n = self.net.n_nodes
        if isinstance(node, (int, np.integer)) and not isinstance(node, bool) and 0 <= node < n:
            off = float(offset)
            if not (off >= 0 and off < np.inf):
                raise InputError("offsets must be finite, non-negative minutes")
        else:
            _check_sources(self.net, np.array([node]), np.array([offset]))  # raises the matching error
            node, off = int(np.asarray(node)), float(offset)
        pos = len(self.sources)
        self.sources.append(int(node))
        self.offsets.append(off)
        self.active.append(True)
        rank = self.net._rank
        # a pruned bucket search: it scans only the nodes the new source now serves; its workspace (left clean by
        # every search) and seed arrays are kept between calls, so nothing here costs O(n) and little costs Python
        if self._add is None:
            indptr, indices, w = self.net.kernel_csr(self.reverse)
            delta, nb = _queue(self.net, np.zeros(1), self.cutoff)
            link, head = self._workspace(nb)
            seed = (np.zeros(1, dtype=np.int32), np.zeros(1), np.zeros(1, dtype=np.int32))
            self._add = (indptr, indices, w, delta, nb, link, head[:nb], *seed)
        indptr, indices, w, delta, nb, link, head, knode, kmin, klab = self._add
        knode[0] = node if rank is None else rank[node]
        kmin[0] = off
        klab[0] = pos
        _kernels.bucket_search(indptr, indices, w, knode, kmin, klab, self.cutoff, delta, nb, 1 << 62, self._dist,
                               self._label, link, head, _NO_TOUCH)  # fmt: skip
        return pos

    def _workspace(self, nb: int):
        """The kept bucket workspace: ``link`` (n, 3) and a ``head`` array of at least ``nb`` buckets, all -1."""
        if self._work is None or self._work[1].shape[0] < nb:
            link = self._work[0] if self._work is not None else np.full((self.net.n_nodes, 3), -1, dtype=np.int32)
            self._work = (link, np.full(nb, -1, dtype=np.int32))
            self._add = None  # holds views of the old arrays
        return self._work

    def remove_source(self, position: int) -> None:
        """Remove the source at ``position`` (as returned by :meth:`add_source` or its index at construction)."""
        if not (0 <= position < len(self.sources)) or not self.active[position]:
            raise InputError(f"no active source at position {position!r}")
        self.active[position] = False
        affected = self._label == position
        self._dist[affected] = np.inf
        self._label[affected] = -1
        # arcs *into* a node of the search graph are the other direction's CSR
        rptr, rind, rw = self.net.kernel_csr(not self.reverse)
        nodes, mins, labs = _kernels.boundary_seeds(rptr, rind, rw, self._dist, self._label, affected)
        # other sources that sit inside the hole start it again themselves
        pos = np.flatnonzero(np.array(self.active))
        knode = self.net.to_kernel(np.array(self.sources, dtype=np.int64)[pos])
        inside = affected[knode]
        nodes = np.concatenate([nodes, knode[inside]]).astype(np.int32)
        mins = np.concatenate([mins, np.array(self.offsets)[pos][inside]])
        labs = np.concatenate([labs, pos[inside].astype(np.int32)])
        indptr, indices, w = self.net.kernel_csr(self.reverse)
        delta, nb = _queue(self.net, mins, self.cutoff)
        if nb > 0:  # the bucket queue of the full search (already compiled), on the kept workspace
            link, head = self._workspace(nb)
            scans, _ = _kernels.bucket_search(indptr, indices, w, nodes, mins, labs, self.cutoff, delta, nb,
                                              _RESCANS * self.net.n_nodes + nodes.size, self._dist, self._label, link,
                                              head[:nb], _NO_TOUCH)  # fmt: skip
            if scans >= 0:
                return
            # too many rescans: the workspace and the hole are left half done; start the hole again on the heap
            self._work = self._add = None
            self._dist[affected] = np.inf
            self._label[affected] = -1
        _kernels.heap_search(indptr, indices, w, nodes, mins, labs, self.cutoff, self._dist, self._label)


# -------------------------------------------------------------------------------------------------------------
# door-to-door pairs between facilities and demand points


@dataclass
class PointIndex:
    """Demand points as the pair kernel reads them: by node (kernel order) and by link, built once per snap.

    ``pt_ptr``/``pt_point``/``pt_part``: CSR from kernel node to the points whose link ends there, with the drive
    from the point to that node (ends a one-way link forbids are left out); ``walk``: each point's walking minutes;
    ``lk_ptr``/``lk_point``: CSR from link to the points on it (the same-link shortcut).
    """

    pt_ptr: np.ndarray
    pt_point: np.ndarray
    pt_part: np.ndarray
    walk: np.ndarray
    lk_ptr: np.ndarray
    lk_point: np.ndarray
    t: np.ndarray
    walk_m: np.ndarray
    scratch: list  # per worker: best (inf), seen (False), plist, left clean by every call

    @property
    def n_points(self) -> int:
        return int(self.walk.shape[0])

    @classmethod
    def build(cls, net, u, part_u, v, part_v, walk, link, t, walk_m) -> PointIndex:
        n_pts = walk.shape[0]
        pts = np.arange(n_pts, dtype=np.int32)
        node = np.concatenate([net.to_kernel(u), net.to_kernel(v)]).astype(np.int64)
        part = np.concatenate([part_u, part_v]).astype(np.float64)
        point = np.concatenate([pts, pts])
        ok = np.isfinite(part)
        node, part, point = node[ok], part[ok], point[ok]
        order = np.argsort(node, kind="stable")
        ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(node, minlength=net.n_nodes), out=ptr[1:])
        by_link = np.argsort(link, kind="stable").astype(np.int32)
        lk_ptr = np.zeros(net.n_links + 1, dtype=np.int64)
        np.cumsum(np.bincount(link, minlength=net.n_links), out=lk_ptr[1:])
        return cls(ptr, point[order], np.ascontiguousarray(part[order]), np.ascontiguousarray(walk, dtype=np.float64),
                   lk_ptr, by_link, np.ascontiguousarray(t, dtype=np.float64),
                   np.ascontiguousarray(walk_m, dtype=np.float64), [])  # fmt: skip

    def _take_scratch(self):
        with _POOL_LOCK:
            if self.scratch:
                return self.scratch.pop()
        n = self.n_points
        return np.full(n, np.inf), np.zeros(n, dtype=np.bool_), np.empty(n, dtype=np.int32)

    def _give_scratch(self, s) -> None:
        with _POOL_LOCK:
            self.scratch.append(s)
            del self.scratch[:-2]


@dataclass
class Pairs:
    """Door-to-door pairs per facility as CSR: facility ``k`` reaches ``point[start[k]:start[k] + count[k]]`` in
    ``minutes[...]``, sorted by minutes (ties by point)."""

    start: np.ndarray  # int64 (F,)
    count: np.ndarray  # int64 (F,)
    point: np.ndarray  # int32
    minutes: np.ndarray  # float64

    def __len__(self) -> int:
        return int(self.count.sum())


def door_pairs(net, index: PointIndex, seed_nodes, seed_minutes, seed_labels, cutoffs, f_link, f_t, f_walk_m,
               mpm: float, reverse: bool, buffer_mb: float = 256.0, dest=None) -> Pairs:  # fmt: skip
    """Door-to-door pairs of every facility within its cutoff: bounded searches spread over the cores.

    ``seed_*`` are a :meth:`geoaccess.trip.Trip.seeds` result (labels = facility positions 0..F-1); ``cutoffs``,
    ``f_link``, ``f_t``, ``f_walk_m`` have one value per facility. Facilities are searched in rounds whose results
    fit in ``buffer_mb`` of worker buffers; each round is copied out compactly, so memory is the pairs kept plus
    the buffers, never facilities x nodes.

    ``dest`` (an object with ``reserve(n) -> (point, minutes, offset)``, e.g. an OD pool) receives the pairs in its
    own buffers, copied once out of the workers' buffers; ``Pairs.start`` then indexes those buffers.
    """
    cutoffs = np.ascontiguousarray(cutoffs, dtype=np.float64)
    n_fac = cutoffs.shape[0]
    labels = np.asarray(seed_labels, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    knodes = net.to_kernel(np.asarray(seed_nodes)[order]).astype(np.int32)
    kmins = np.ascontiguousarray(np.asarray(seed_minutes, dtype=np.float64)[order])
    seed_ptr = np.zeros(n_fac + 1, dtype=np.int64)
    np.cumsum(np.bincount(labels, minlength=n_fac), out=seed_ptr[1:])
    # bucket count: the widest spread of one facility's seed minutes (both ends of a link)
    spread = 0.0
    if kmins.size:
        lo = np.minimum.reduceat(kmins, seed_ptr[:-1][np.diff(seed_ptr) > 0])
        hi = np.maximum.reduceat(kmins, seed_ptr[:-1][np.diff(seed_ptr) > 0])
        spread = float((hi - lo).max())
    c_max = float(cutoffs.max()) if n_fac else 0.0
    delta, nb = _queue(net, np.array([0.0, spread]), c_max)
    if nb == 0:
        raise InputError("facility seeds are too far apart for the bucket queue; check the walking legs")
    indptr, indices, w = net.kernel_csr(reverse)
    start = np.full(n_fac, -1, dtype=np.int64)
    count = np.zeros(n_fac, dtype=np.int64)
    todo = np.flatnonzero(cutoffs >= 0).astype(np.int64)
    nw = _threads(todo.size)
    cap = max(1 << 16, int(buffer_mb * 2**20 / 12 / nw))
    out_p = np.empty((nw, cap), dtype=np.int32)
    out_m = np.empty((nw, cap))
    work = _take_work(net, nw, nb)
    scratch = [index._take_scratch() for _ in range(nw)]
    f_link = np.ascontiguousarray(f_link, dtype=np.int64)
    f_t = np.ascontiguousarray(f_t, dtype=np.float64)
    f_walk_m = np.ascontiguousarray(f_walk_m, dtype=np.float64)
    if dest is None:  # pieces copied out per round and put together at the end
        pieces = []

        def reserve(n):
            pieces.append((np.empty(n, dtype=np.int32), np.empty(n)))
            return pieces[-1][0], pieces[-1][1], 0
    else:
        reserve = dest.reserve
    where = []  # per round: the facilities done, their offsets, and the buffers written
    bar = tqdm(total=int(todo.size), desc="OD searches", unit="facility", disable=None if todo.size > 2000 else True)
    while todo.size:
        offer, todo = todo[: 1024 * nw], todo[1024 * nw :]  # rounds of a few thousand: the bar moves
        jobs = [(indptr, indices, w, seed_ptr, knodes, kmins, cutoffs, offer[t::nw], delta, nb, index.pt_ptr,
                 index.pt_point, index.pt_part, index.walk, f_link, f_t, f_walk_m, index.lk_ptr, index.lk_point,
                 index.t, index.walk_m, net.link_fwd, net.link_bwd, float(mpm), bool(reverse), out_p[t], out_m[t],
                 t * cap, start, count, *work[t], *scratch[t]) for t in range(nw)]  # fmt: skip
        _run(_kernels.pairs_worker, jobs)
        done = offer[start[offer] >= 0]
        todo = np.concatenate([offer[start[offer] < 0], todo])
        if done.size == 0:  # one facility's pairs exceed a buffer: grow it
            cap *= 2
            out_p = np.empty((nw, cap), dtype=np.int32)
            out_m = np.empty((nw, cap))
            continue
        bar.update(int(done.size))
        ptr = np.zeros(done.size, dtype=np.int64)
        np.cumsum(count[done][:-1], out=ptr[1:])
        pp, pm, offset = reserve(int(count[done].sum()))
        ptr += offset
        _kernels.copy_slices(out_p.reshape(-1), out_m.reshape(-1), start[done], count[done], ptr, pp, pm, _NO_TOUCH)
        where.append((done, ptr, len(where)))
    bar.close()
    _give_work(net, nw, nb, work)
    for s in scratch:
        index._give_scratch(s)
    del out_p, out_m
    fstart = np.zeros(n_fac, dtype=np.int64)
    if dest is not None:
        for done, ptr, _ in where:
            fstart[done] = ptr
        return Pairs(fstart, count, pp if where else np.zeros(0, np.int32), pm if where else np.zeros(0))
    sizes = [p[0].size for p in pieces]
    base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    for done, ptr, r in where:
        fstart[done] = ptr + base[r]
    point = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int32)
    minutes = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0)
    return Pairs(fstart, count, point, minutes)
