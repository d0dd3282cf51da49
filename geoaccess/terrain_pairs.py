"""Door-to-door OD pairs of off-road tiers: each facility's demand points within its cutoff over the friction grid.

The trip is the one of :meth:`geoaccess.trip.Trip.terrain_minutes` (``[travel] mode`` "mixed": walk over the grid
to any road point, drive, walk to the door, or walk all the way; "walk_only": over the grid only), so a pair's
minutes equal what the tier's nearest search gives the same demand point from that facility. Per facility: a
bounded road search (mixed), then a bounded grid search seeded at the facility's cell (0) and at the road points
it reaches (their minutes), both cut at the facility's cutoff; the kernels are in
:mod:`geoaccess._terrain_od_kernels`. Facilities are shared out between the cores as they finish (the searches
release the GIL); each worker holds one grid of minutes, reset cell by cell after each search.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from tqdm.auto import tqdm

from geoaccess import _terrain_kernels, terrain
from geoaccess import _terrain_od_kernels as _tk
from geoaccess._arrays import unique
from geoaccess.errors import InputError
from geoaccess.paths import Pairs, PointIndex, _queue
from geoaccess.terrain import Moves, _buckets, moves

log = logging.getLogger(__name__)

#: facilities a worker takes at a time: small, so a few slow ones (regional hospitals, 120 minutes) spread out
_CHUNK = 8
#: grid searches skip cells no demand point within the cutoff can pass (TerrainIndex.walk_bound): the same pairs.
#: Off by default: the bound's own search measured dearer than what it saves (SYNTHETIC Qinghai, 3,358 facilities:
#: 8.0 s for the bound + 6.2 s for 23.6 M cells scanned, against 8.3 s for 46.8 M cells without it)
_PRUNE = False
#: the smallest worker buffer (pairs); it always holds two facilities' worth (twice the demand points) at least
_MIN_BUFFER = 1 << 16


@dataclass
class TerrainIndex:
    """Where demand points read their minutes on the grid, and where the roads meet it (built once per surface).

    ``bits``/``rank``: the target cells as a rank bitmap (:func:`geoaccess._terrain_od_kernels.rank_bits`);
    ``ent_ptr``/``ent_point``/``ent_extra``: per target cell (slot), the demand points reading it and the step they
    add (-1: the point's own cell; else the step out of its impassable cell into this one, as
    :meth:`geoaccess.terrain.Surface.at` reads it). ``roads``: the road points by node (a
    :class:`geoaccess.paths.PointIndex` of ``surface.road_snap``, mixed trips only).
    """

    n_points: int
    bits: np.ndarray
    rank: np.ndarray
    ent_ptr: np.ndarray
    ent_point: np.ndarray
    ent_extra: np.ndarray
    roads: PointIndex | None
    targets: np.ndarray  # the cells demand points read (sorted): own cells, passable neighbours of impassable ones
    # per entry of ``roads`` (mixed trips): its sample's cell and walk into it, as the OD kernel reads them; and the
    # most seeds one facility can have (its cell and every road cell)
    road_cell: np.ndarray | None = None
    road_walk: np.ndarray | None = None
    n_seed: int = 1

    @classmethod
    def build(cls, trip, demand_cell: np.ndarray) -> TerrainIndex:
        sf = trip.surface
        rows, cols = sf.shape
        flat_f = sf.friction.reshape(-1)
        dcell = np.asarray(demand_cell, dtype=np.int64)
        pts = np.flatnonzero(dcell >= 0)
        cells, point, extra = [dcell[pts]], [pts], [np.full(pts.size, -1.0)]
        stuck = pts[~(flat_f[dcell[pts]] < np.inf)]
        if stuck.size:  # people in a river or lake cell step out to a passable neighbour
            r, q = np.divmod(dcell[stuck], cols)
            for dr, dc in moves(False):
                rr, qq = r + dr, q + dc
                inside = (rr >= 0) & (rr < rows) & (qq >= 0) & (qq < cols)
                n = (rr * cols + qq)[inside]
                f = flat_f[n].astype(np.float64)
                ok = f < np.inf
                step = sf.cell_m * float(np.hypot(dr, dc))
                cells.append(n[ok])
                point.append(stuck[inside][ok])
                extra.append(step * f[ok])
        cells, point, extra = np.concatenate(cells), np.concatenate(point), np.concatenate(extra)
        order = np.argsort(cells, kind="stable")
        cells, point, extra = cells[order], point[order], extra[order]
        first = np.r_[True, cells[1:] != cells[:-1]] if cells.size else np.zeros(0, dtype=bool)
        uniq = cells[first]
        ent_ptr = np.zeros(uniq.size + 1, dtype=np.int64)
        ent_ptr[1:] = np.r_[np.flatnonzero(first)[1:], cells.size] if uniq.size else []
        bits, rank = _tk.rank_bits(uniq, rows * cols)
        ix = cls(len(dcell), bits, rank, ent_ptr, point.astype(np.int32), np.ascontiguousarray(extra), None, uniq)
        if trip.mode == "mixed":
            ix.roads = _entries_per_cell(trip.point_index(sf.road_snap), sf.road_cell)
            rs_cell = np.ascontiguousarray(sf.road_cell, dtype=np.int32)
            ix.road_cell, ix.road_walk = rs_cell[ix.roads.pt_point], ix.roads.walk[ix.roads.pt_point]
            ix.n_seed = 1 + int(unique(rs_cell[rs_cell >= 0]).size)
        return ix

    def walk_bound(self, trip, cutoff: float) -> np.ndarray:
        """Per cell (float32, rounded down), the walk between it and the nearest demand cell in the direction a trip
        through it continues (from the people towards it when they travel to facilities), inf beyond ``cutoff``.

        A facility's grid search skips a cell whose minutes plus this exceed its cutoff: no demand point within
        the cutoff can have its best trip through it. One search from every demand cell, bounded by the largest
        cutoff; it pays where people live in a small part of the grid (a plateau, a desert). Not kept: 4 bytes a
        cell, used by one request."""
        sf = trip.surface
        rows, cols = sf.shape
        if self.targets.size == 0:
            lb = np.full(rows * cols, np.inf, dtype=np.float32)
        else:
            src = np.column_stack([self.targets // cols, self.targets % cols])
            dist, _ = terrain.search(
                sf.friction, src, cell_size=(sf.cell_m, sf.cell_m), knight=sf.knight, dem=sf.dem,
                cutoff=cutoff * (1 + 1e-6) + 1e-6, to_sources=not trip.to_facility, cut_corners=sf.cut_corners,
            )  # fmt: skip
            lb = _tk.lower_f32(dist.reshape(-1))
            del dist
        return lb


#: relative slack when one road sample's way into a cell is dropped for another's (:func:`_entries_per_cell`): far
#: above the rounding of three additions, far below any difference of walks or drives
_SAME = 1e-9


def _entries_per_cell(roads: PointIndex, road_cell: np.ndarray) -> PointIndex:
    """``roads`` with, per road node and grid cell, only the road samples reached best from that node.

    A sample seeds its cell at ``(node's minutes + drive from the node) + its walk into the cell``, so of the samples
    listed under one node in one cell, one whose drive + walk exceeds another's (by more than rounding) never seeds
    that cell, whichever facility the search comes from. Roads are sampled finer than the grid (SYNTHETIC Taiyuan:
    351,382 samples in 63,114 cells; 686,419 entries by node become 200,458), so far fewer are read per facility.
    The same-link entries (``lk_*``) stay whole, and every seed keeps its minutes to the bit."""
    ptr, point, part = roads.pt_ptr, roads.pt_point, roads.pt_part
    keep = _tk.best_entries(ptr, point, part, roads.walk, np.asarray(road_cell, dtype=np.int64), _SAME)
    idx = np.flatnonzero(keep)
    new_ptr = np.zeros_like(ptr)
    node = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    np.cumsum(np.bincount(node[keep], minlength=ptr.size - 1), out=new_ptr[1:])
    return PointIndex(new_ptr, point[idx], np.ascontiguousarray(part[idx]), roads.walk, roads.lk_ptr, roads.lk_point,
                      roads.t, roads.walk_m, [])  # fmt: skip


class _Sink:
    """Pairs copied out of the workers' buffers into ``dest``, or into pieces kept here, one worker at a time."""

    def __init__(self, dest):
        self.dest, self.pieces, self.lock, self.size = dest, [], threading.Lock(), 0
        self.last = (np.zeros(0, np.int32), np.zeros(0))

    def flush(self, out_p, out_m, n, done, start, fstart) -> None:
        with self.lock:  # a pool's reserve may move its buffers: no other worker copies meanwhile
            if self.dest is not None:
                pp, pm, offset = self.dest.reserve(n)
                pp[offset : offset + n] = out_p[:n]
                pm[offset : offset + n] = out_m[:n]
                self.last = (pp, pm)
            else:
                offset = self.size
                self.pieces.append((out_p[:n].copy(), out_m[:n].copy()))
            self.size += n
            fstart[done] = start[done] + offset


def _workers(jobs: int, n_cells: int) -> int:
    """Workers (one per core) whose grids of minutes (8 bytes a cell each) take at most half the memory available."""
    nw = max(1, min(numba.get_num_threads(), jobs))
    try:
        with open("/proc/meminfo") as fh:
            avail = next((int(x.split()[1]) * 1024 for x in fh if x.startswith("MemAvailable:")), None)
    except OSError:
        avail = None
    if avail is not None and nw > 1 and nw * 8 * n_cells > avail // 2:
        fit = max(1, int(avail // 2 // (8 * n_cells)))
        log.info("terrain OD: %d worker(s), not %d: a grid of minutes each (%.1f GB) in %.1f GB available", fit, nw,
                 8 * n_cells / 2**30, avail / 2**30)  # fmt: skip
        nw = fit
    return nw


def door_pairs(trip, index: TerrainIndex, fsnap, fcells, cutoffs, dest=None, buffer_mb: float = 256.0) -> Pairs:
    """Pairs of every facility in ``fsnap`` (grid cells ``fcells``, -1 off the grid) with the demand points of
    ``index`` within its cutoff (negative: none), over the grid by ``trip``'s mode; ``dest`` as in
    :func:`geoaccess.paths.door_pairs`."""
    sf, net = trip.surface, trip.net
    cutoffs = np.ascontiguousarray(cutoffs, dtype=np.float64)
    n_fac = cutoffs.shape[0]
    fcells = np.ascontiguousarray(fcells, dtype=np.int32)
    if fcells.shape != (n_fac,) or len(fsnap) != n_fac:
        raise InputError("terrain pairs need one grid cell and one cutoff per facility")
    mixed = trip.mode == "mixed"
    rows, cols = sf.shape
    flat = sf.friction.reshape(-1)
    z = np.empty(0) if sf.dem is None else sf.dem.reshape(-1)
    mv = Moves(cols, (sf.cell_m, sf.cell_m), sf.knight)
    delta_g, nb_g = _buckets(_terrain_kernels.move_range(flat, mv.length), z.size > 0)  # the nearest search's ring
    # the road leg: the seeds of Trip.seeds per facility as CSR, as geoaccess.paths.door_pairs prepares them
    if mixed:
        nodes, start_min, labels = trip.seeds(fsnap)
        labels = np.asarray(labels, dtype=np.int64)
        order = np.argsort(labels, kind="stable")
        knodes = net.to_kernel(np.asarray(nodes)[order]).astype(np.int32)
        kmins = np.ascontiguousarray(np.asarray(start_min, dtype=np.float64)[order])
        seed_ptr = np.zeros(n_fac + 1, dtype=np.int64)
        np.cumsum(np.bincount(labels, minlength=n_fac), out=seed_ptr[1:])
        spread = 0.0
        live = np.diff(seed_ptr) > 0
        if kmins.size:
            spread = float((np.maximum.reduceat(kmins, seed_ptr[:-1][live])
                            - np.minimum.reduceat(kmins, seed_ptr[:-1][live])).max())  # fmt: skip
        delta_r, nb_r = _queue(net, np.array([0.0, spread]), float(cutoffs.max()) if n_fac else 0.0)
        if nb_r == 0:
            raise InputError("facility seeds are too far apart for the bucket queue; check the walking legs")
        indptr, indices, w = net.kernel_csr(trip.reverse)
        ri = index.roads
        road = (indptr, indices, w, seed_ptr, knodes, kmins, delta_r, nb_r, ri.pt_ptr, index.road_cell, ri.pt_part,
                index.road_walk, np.ascontiguousarray(sf.road_cell, dtype=np.int32), np.ascontiguousarray(fsnap.link),
                np.ascontiguousarray(fsnap.t, dtype=np.float64), np.ascontiguousarray(fsnap.offroad_m,
                dtype=np.float64), ri.lk_ptr, ri.lk_point, ri.t, ri.walk_m, net.link_fwd, net.link_bwd,
                trip.walk_kmh * 1000.0 / 60.0)  # fmt: skip
        n_nodes, n_seed = net.n_nodes, index.n_seed
    else:
        e_i, e_f, e_32 = np.zeros(1, np.int64), np.zeros(0), np.zeros(0, np.int32)
        road = (e_i, e_32, e_f, np.zeros(n_fac + 1, np.int64), e_32, e_f, 1.0, 2, e_i, e_32, e_f, e_f, e_32,
                np.full(n_fac, -1, np.int64), e_f, e_f, e_i, e_32, e_f, e_f, e_f, e_f, 1.0)  # fmt: skip
        n_nodes, nb_r, n_seed = 0, 2, 1
    grid = (flat, z, rows, cols, mv.r, mv.c, mv.length, mv.mid_a, mv.mid_b, mv.kind, bool(sf.cut_corners),
            bool(trip.to_facility), float(delta_g), int(nb_g))  # fmt: skip
    live = cutoffs[cutoffs >= 0]
    t_lb = time.perf_counter()
    if _PRUNE and live.size:
        walk_lb = index.walk_bound(trip, float(live.max()))
    else:
        walk_lb = np.empty(0, dtype=np.float32)
    t_lb = time.perf_counter() - t_lb
    dem_ix = (index.bits, index.rank, index.ent_ptr, index.ent_point, index.ent_extra, walk_lb)
    todo = np.flatnonzero(cutoffs >= 0)
    todo = todo[np.argsort(-cutoffs[todo], kind="stable")].astype(np.int64)  # the slow ones first: even shares
    nw = _workers(todo.size, rows * cols)
    n_pts = index.n_points
    cap = max(2 * n_pts, _MIN_BUFFER, int(buffer_mb * 2**20 / 12 / nw))
    start = np.full(n_fac, -1, dtype=np.int64)
    fstart = np.zeros(n_fac, dtype=np.int64)
    count = np.zeros(n_fac, dtype=np.int64)
    sink = _Sink(dest)
    lock = threading.Lock()
    state = {"next": 0, "scans": 0}
    bar = tqdm(total=int(todo.size), desc="OD searches (terrain)", unit="facility",
               disable=None if todo.size > 200 else True)  # fmt: skip

    def worker():
        out_p, out_m = np.empty(cap, dtype=np.int32), np.empty(cap)
        rws = (np.full(n_nodes, np.inf), np.full((n_nodes, 3), -1, dtype=np.int32), np.full(nb_r, -1, dtype=np.int32),
               np.empty(n_nodes, dtype=np.int32))  # fmt: skip
        # once per worker (a tier search's, handed on: sf.buffers); each search resets only the cells it reached
        gdist = sf.buffers.take(rows * cols, np.float64, np.inf)
        work = _tk.new_work(nb_g)
        dws = (np.full(n_pts, np.inf), np.full(n_pts, np.inf), np.zeros(n_pts, np.bool_), np.empty(n_pts, np.int32),
               np.empty(n_seed, np.int64), np.empty(n_seed, np.int32), np.empty(n_seed), np.empty(n_pts, np.int32),
               np.empty(n_pts))  # fmt: skip
        pos, mine, scans = 0, [], 0
        while True:
            with lock:
                a = state["next"]
                state["next"] = a + _CHUNK
            chunk = todo[a : a + _CHUNK]
            if chunk.size == 0:
                break
            n_chunk = chunk.size
            while chunk.size:
                n_done, pos, work, sn = _tk.pairs_worker(
                    chunk, cutoffs, fcells, mixed, *road, *grid, *dem_ix, out_p, out_m, pos, n_pts, start, count,
                    *rws, gdist, work, *dws,
                )  # fmt: skip
                scans += sn
                mine.append(chunk[:n_done])
                chunk = chunk[n_done:]
                if chunk.size:  # the buffer is nearly full: copy it out
                    sink.flush(out_p, out_m, pos, np.concatenate(mine), start, fstart)
                    pos, mine = 0, []
            with lock:
                bar.update(n_chunk)
        if mine:
            sink.flush(out_p, out_m, pos, np.concatenate(mine), start, fstart)
        sf.buffers.give(gdist)
        with lock:
            state["scans"] += scans

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=nw) as ex:
        for f in [ex.submit(worker) for _ in range(nw)]:
            f.result()
    bar.close()
    log.info("terrain OD: %s facilities, %s pairs, %s cells scanned in %.1f s (+ %.1f s: the walk to the people)",
             f"{todo.size:,}", f"{int(count.sum()):,}", f"{state['scans']:,}", time.perf_counter() - t0, t_lb)  # fmt: skip
    if dest is not None:
        return Pairs(fstart, count, *sink.last)
    point = np.concatenate([p[0] for p in sink.pieces]) if sink.pieces else np.zeros(0, np.int32)
    minutes = np.concatenate([p[1] for p in sink.pieces]) if sink.pieces else np.zeros(0)
    return Pairs(fstart, count, point, minutes)
