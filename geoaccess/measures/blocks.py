"""OD pairs kept as one block per facility, sorted by minutes, in a buffer that scenarios reuse.

A study's measures read the same OD pairs many times: each tier's capacity coverage takes the pairs
within its threshold, the 2SFCA family the pairs within its catchment. Because every facility's block
is sorted by minutes, "within ``t`` minutes" is a prefix of the block, found by binary search: no
boolean mask over millions of pairs, no copies.

:class:`ODPool` keeps the blocks of one network, keyed by where a facility meets the road and its
cutoff, together with what depends on the block alone: the decay weights of its pairs within the
2SFCA catchment and its weighted demand (the first step of 2SFCA). A what-if scenario that adds or
moves one facility therefore searches, weighs and sums only that facility's block; every other
block is read as it is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from geoaccess._kernels import prefetch
from geoaccess.network import Network, Snap
from geoaccess.trip import Trip

log = logging.getLogger(__name__)


@dataclass
class ODBlocks:
    """The OD pairs of a set of facilities: facility ``j``'s pairs are ``[start[j], start[j] + length[j])``.

    ``origin`` (demand point position) and ``minutes`` are shared buffers; each block is sorted by
    minutes (ties by origin). ``wlength[j]`` counts the block's pairs within the 2SFCA catchment; their decay
    weights are ``weight_fns`` (one per method in ``methods``) of their minutes, computed when they are read, never
    stored. ``keys`` names each block in its pool (its facility's site and cutoffs), so a later request can tell
    which blocks are the same.
    """

    origin: np.ndarray
    minutes: np.ndarray
    start: np.ndarray
    length: np.ndarray
    methods: tuple[str, ...] = ()
    weight_fns: tuple = ()
    wlength: np.ndarray | None = None
    keys: list | None = None

    def __len__(self) -> int:
        return int(self.length.sum())

    @property
    def n_facilities(self) -> int:
        return int(self.start.size)

    def within(self, limit: np.ndarray | float) -> np.ndarray:
        """Per facility, how many of its pairs lie within ``limit`` minutes (one value or one per facility).

        A negative or NaN limit takes none of the facility's pairs.
        """
        lim = np.broadcast_to(np.asarray(limit, dtype=np.float64), self.start.shape)
        return _prefix(self.minutes, self.start, self.length, np.ascontiguousarray(lim))

    def frame(self, take: np.ndarray | None = None) -> pd.DataFrame:
        """The long table ``origin, destination, minutes`` of the first ``take[j]`` pairs of every block."""
        take = self.length if take is None else np.asarray(take, dtype=np.int64)
        idx = _ranges(self.start, take)
        return pd.DataFrame(
            {
                "origin": self.origin[idx],
                "destination": np.repeat(np.arange(self.n_facilities, dtype=np.int32), take),
                "minutes": self.minutes[idx],
            },
            copy=False,
        )

    @classmethod
    def from_frame(cls, od: pd.DataFrame, n_facilities: int) -> ODBlocks:
        """Blocks from a long table; one already sorted by destination and minutes keeps its order."""
        o = od["origin"].to_numpy()
        d = od["destination"].to_numpy().astype(np.int64)
        t = od["minutes"].to_numpy(dtype=np.float64)
        if d.size and (d.min() < 0 or d.max() >= n_facilities):
            raise ValueError(f"OD destinations must be facility positions 0..{n_facilities - 1}")
        if not _sorted(d, t):  # ties in minutes: lower origin first
            by = np.lexsort((o, t, d))
            o, d, t = o[by], d[by], t[by]
        length = np.bincount(d, minlength=n_facilities).astype(np.int64)
        start = np.zeros(n_facilities, dtype=np.int64)
        np.cumsum(length[:-1], out=start[1:])
        return cls(np.ascontiguousarray(o, dtype=np.int32), np.ascontiguousarray(t), start, length)


def _sorted(d: np.ndarray, t: np.ndarray) -> bool:
    """Whether rows are ordered by destination, then minutes."""
    if d.size < 2:
        return True
    dd = np.diff(d)
    return bool(np.all((dd > 0) | ((dd == 0) & (np.diff(t) >= 0))))


def _ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start[j], start[j] + count[j])`` for every j."""
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(start - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
    return np.arange(total, dtype=np.int64) + shift


@njit(cache=True, nogil=True)
def _prefix(minutes, start, length, limit):
    out = np.zeros(start.size, dtype=np.int64)
    for j in range(start.size):
        lim = limit[j]
        if not lim >= 0.0:
            continue
        lo, a, b = start[j], 0, length[j]
        while a < b:
            m = (a + b) >> 1
            if minutes[lo + m] <= lim:
                a = m + 1
            else:
                b = m
        out[j] = a
    return out


@njit(cache=True, nogil=True)
def _reach(origin, start, wlength, weights, wstart, demand):
    """Demand within each block's catchment, weighted by each method's decay (pairs in block order)."""
    out = np.zeros((weights.shape[1], start.size))
    for j in range(start.size):
        for m in range(weights.shape[1]):
            s = 0.0
            for k in range(wlength[j]):
                if m == 0 and k + 16 < wlength[j]:  # origins lie all over the raster: fetch one ahead of need
                    prefetch(demand, origin[start[j] + k + 16])
                s += demand[origin[start[j] + k]] * weights[wstart[j] + k, m]
            out[m, j] = s
    return out


def decay_weights(fns, minutes: np.ndarray) -> np.ndarray:
    """One column of decay weights per function, for pairs' ``minutes``."""
    w = np.empty((minutes.size, len(fns)))
    for m, fn in enumerate(fns):
        w[:, m] = fn(minutes) if minutes.size else 0.0
    return w


_INDEX_FIELDS = ("pt_ptr", "pt_point", "pt_part", "walk", "lk_ptr", "lk_point", "t", "walk_m")


def _room_pairs() -> int:
    """Pairs (12 bytes each) in a fifth of the machine's memory: the address space a new pool reserves."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return max(1 << 22, int(total / 5 / 12))


class ODPool:
    """Per-facility OD blocks of one network, searched once and kept for every later request.

    Keys are a facility's snap (link, position, walking distance) and its cutoff, so a facility that a
    scenario leaves in place is never searched again, and one that moves is searched at its new site.
    The blocks of the first request (the baseline) are kept for good; blocks added later (scenario sites)
    are dropped all at once when they come to hold more pairs than the baseline, so a long scripted loop
    of scenarios keeps the pool within about twice the baseline's memory. A pair costs 12 bytes (origin and
    minutes); decay weights are computed when read.

    With ``mode`` "mixed" or "walk_only" and a terrain ``surface`` (:class:`geoaccess.terrain.Surface`, its
    ``demand_cell`` following ``demand_snap``) the pairs are the off-road trips of that mode
    (:mod:`geoaccess.terrain_pairs`), the ones the tier's nearest minutes come from; keys then also hold the
    facility's grid cell, and :meth:`blocks` needs the facilities' cells. Such a pool lives in one process only (no
    :meth:`state`); :meth:`edited` follows road speed edits, never added roads (they would change the surface); a
    scenario's added or moved site is one more block, searched at its cell (``blocks(..., cells=...)``) while every
    unchanged site's block is read as it is.
    """

    def __init__(
        self,
        net: Network,
        demand_snap: Snap,
        demand: np.ndarray,
        weights: dict,
        fca_cutoff: float,
        *,
        to_facility: bool,
        walk_kmh: float,
        surface=None,
        mode: str = "road",
    ):
        self.net, self.demand_snap = net, demand_snap
        self.demand = np.ascontiguousarray(demand, dtype=np.float64)
        self.methods = tuple(weights)
        self._weight_fns = tuple(weights[k] for k in self.methods)
        self.fca_cutoff = float(fca_cutoff)
        if mode != "road" and surface is None:
            raise ValueError(f"an OD pool of mode {mode!r} needs a terrain surface")
        self.mode, self.surface = mode, surface
        self.trip = Trip(net, walk_kmh, to_facility, surface=surface, mode=mode)
        self._point_index = None
        self._index: dict[tuple, tuple[int, int, int]] = {}  # key -> start, length, wlength
        self._origin = np.zeros(0, dtype=np.int32)
        self._minutes = np.zeros(0)
        self._n = 0
        self._base: tuple[int, dict] | None = None  # pairs and blocks of the baseline (see :meth:`seal`)
        self.min_extra_pairs = 1_000_000  # scenario blocks may always hold this many pairs
        self.fca_memo = None  # the baseline's 2SFCA step 2 (:func:`geoaccess.measures.fca.fca_blocks`), reused
        self.forgotten = 0  # times the scenario blocks were dropped
        # searches of new blocks run here unless ``remote`` is set: a callable ``(facility_snap, positions, cut, dest)
        # -> Pairs`` that searches elsewhere (geoaccess.partition: one task per partition on a Dask cluster) and
        # writes the pairs into ``dest`` (this pool) with :meth:`reserve`; an off-road pool also passes ``cells=``,
        # the grid cells of the facilities at ``positions``
        self.remote = None

    @property
    def pairs(self) -> int:
        """Pairs held, over every block searched so far."""
        return self._n

    @property
    def point_index(self):
        if self._point_index is None:
            if self.mode == "road":
                self._point_index = self.trip.point_index(self.demand_snap)
            else:
                self._point_index = self.trip.terrain_index(self.surface.demand_cell)
        return self._point_index

    def _grow(self, n: int) -> None:
        """Room for ``n`` more pairs. The first buffer reserves address space for up to a fifth of the machine's
        memory: pages are mapped only when written, so the room costs nothing until used, and a province's pool
        never copies itself while it fills (measured: the copies took 4 of Shanxi's 31 measure seconds)."""
        if self._n + n > self._origin.size:
            if self._origin.size == 0:
                cap = max(n, min(_room_pairs(), 1 << 31))
            else:  # past the first room: grow by half
                cap = max(self._origin.size + self._origin.size // 2, self._n + n)
            try:
                origin, minutes = np.empty(cap, np.int32), np.empty(cap)
            except MemoryError:  # strict overcommit: ask for what is needed
                cap = self._n + n
                origin, minutes = np.empty(cap, np.int32), np.empty(cap)
            origin[: self._n] = self._origin[: self._n]
            minutes[: self._n] = self._minutes[: self._n]
            self._origin, self._minutes = origin, minutes

    def reserve(self, n: int):
        """Room for ``n`` more pairs, written in place by the pair kernels: ``(origin, minutes, offset)``."""
        self._grow(n)
        s = self._n
        self._n += n
        return self._origin, self._minutes, s

    def seal(self) -> None:
        """Mark the blocks held now as the baseline's: kept for good, while later (scenario) blocks may be dropped."""
        self._base = (self._n, dict(self._index))

    def _add(self, keys: list, pairs) -> None:
        """Index blocks just written into the buffer (:class:`geoaccess.paths.Pairs`, one per key)."""
        start = pairs.start
        wlen = _prefix(self._minutes, start, pairs.count, np.full(start.size, self.fca_cutoff))
        for j, key in enumerate(keys):
            if key not in self._index:  # two facilities at one site share a block
                self._index[key] = (int(start[j]), int(pairs.count[j]), int(wlen[j]))

    def edited(
        self, net: Network, demand_snap: Snap, edit_minutes: np.ndarray, moved: np.ndarray, surface=None, ground=None
    ) -> ODPool:
        """A pool for ``net``, this network with some links edited or added, keeping the blocks no edit can change.

        ``edit_minutes``: per node of this network, minutes between it and the nearest end of an edited
        link, in the direction that could shorten a trip (to the facility when patients travel to it).
        A block is kept when both ends of its facility's link are farther than its cutoff from every
        edited link end (a shorter trip must reach an edited link within the cutoff, through unedited
        roads), and none of its demand points moved (``moved``: demand positions snapped elsewhere).

        Off-road pools (the same links, other speeds: the surface's road points stay where they are): a mixed trip's
        road leg ends at the facility's door, so the same rule holds; a walk_only trip never drives, so every block
        is kept. Added links change the surface (``surface``, :func:`geoaccess.load.terrain.with_added_roads`: new
        road points, on the added links, so the rule above covers them; cells made walkable): on the same ground (the
        friction is this pool's own) nothing more; else a block is kept only when ``ground`` (per block key, a lower
        bound on a trip between its facility and the changed cells, :func:`geoaccess.scenarios.offroad.ground_bound`)
        exceeds its cutoff too.
        """
        same = surface is None or surface.friction is self.surface.friction
        if self.mode != "road" and not same and ground is None:
            raise ValueError("off-road OD pools over changed ground need its bound (scenarios.offroad.ground_bound)")
        out = ODPool.__new__(ODPool)
        out.__dict__.update(self.__dict__)
        out.net, out.demand_snap = net, demand_snap
        if surface is not None and self.mode != "road":
            out.surface = surface
        out.trip = Trip(net, self.trip.walk_kmh, self.trip.to_facility, surface=out.surface, mode=self.mode)
        # the road points' legs follow the edited speeds (mixed); a walking index has no roads and is kept on the same
        # ground (it reads the friction: people in a river cell step out)
        out._point_index = self._point_index if self.mode == "walk_only" and same else None
        out.fca_memo = None
        out.remote = None
        out._base = None  # never forget back into this pool's buffers
        # views of exactly the filled part: the next block added copies, never writing into this pool's buffers
        out._origin, out._minutes = self._origin[: self._n], self._minutes[: self._n]
        moved_mask = np.zeros(len(demand_snap), dtype=bool)
        moved_mask[moved] = True
        out._index = {}
        for key, entry in self._index.items():
            link, cut = key[0], key[3]
            near = np.inf  # a walk_only trip never drives
            if self.mode != "walk_only":
                near = min(edit_minutes[self.net.link_u[link]], edit_minutes[self.net.link_v[link]])
            if not same:  # the trip to the changed ground, with room for rounding (summed from the other end)
                near = min(near, ground.get(key, -np.inf) * (1 - 1e-9) - 1e-9)
            s, n = entry[0], entry[1]
            if near > cut and not moved_mask[self._origin[s : s + n]].any():
                out._index[key] = entry
        log.info("edited roads: %d of %d OD blocks kept (%s)", len(out._index), len(self._index), self.mode)
        return out

    def _forget_extra(self) -> None:
        """Drop every block added after the baseline; their buffer space is written over by the next ones."""
        n, entries = self._base
        log.info("OD pool: dropping scenario blocks (%s pairs)", f"{self._n - n:,}")
        self._index = dict(entries)
        self._n = n
        self.forgotten += 1

    # -- kept between processes (geoaccess.cache) ------------------------------------------------------
    def _road_only(self, what: str) -> None:
        if self.mode != "road":
            raise NotImplementedError(f"{what}: OD pools of off-road trips ({self.mode}) are kept in one process only")

    def state(self) -> dict[str, np.ndarray]:
        """The pool as plain arrays (pairs, block index, growth, the baseline's 2SFCA memo), for the cache."""
        self._road_only("the cache")
        keys = list(self._index)
        out = {
            "origin": self._origin[: self._n],
            "minutes": self._minutes[: self._n],
            "keys": np.array(keys, dtype=np.float64).reshape(len(keys), 4),
            "entries": np.array([self._index[k] for k in keys], dtype=np.int64).reshape(len(keys), 3),
            "sealed": np.array([self._base is not None]),
        }
        if self._point_index is not None:  # the cells by node: a later process's first scenario skips its sort
            for f in _INDEX_FIELDS:
                out[f"index.{f}"] = getattr(self._point_index, f)
        if self.fca_memo is not None:
            memo = self.fca_memo
            present = np.array([k is not None for k in memo.keys])
            out["memo.keys"] = np.array([k if k is not None else (0,) * 4 for k in memo.keys], dtype=np.float64)
            out["memo.present"] = present
            out["memo.supply"] = memo.supply
            out["memo.acc"] = memo.acc
            if memo.count is not None:  # removals subtract from the memo (``start``/``wlength`` follow from the index)
                out["memo.count"] = memo.count
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Take the blocks of :meth:`state` (of a pool over the same network, demand and settings) as this pool's."""
        from geoaccess.measures.fca import FcaMemo

        n = int(state["origin"].size)
        cap = n + max(n // 4, 1 << 22)  # room for scenario blocks without copying the baseline's
        self._origin, self._minutes, self._n = np.empty(cap, np.int32), np.empty(cap), n
        self._origin[:n], self._minutes[:n] = state["origin"], state["minutes"]

        def key(row):
            return (int(row[0]), float(row[1]), float(row[2]), float(row[3]))

        self._index = {key(row): (int(e[0]), int(e[1]), int(e[2])) for row, e in zip(state["keys"], state["entries"],
                                                                                   strict=True)}  # fmt: skip
        if "index.pt_ptr" in state:
            from geoaccess.paths import PointIndex

            self._point_index = PointIndex(**{f: state[f"index.{f}"] for f in _INDEX_FIELDS}, scratch=[])
        self.fca_memo = None
        if "memo.acc" in state:
            keys = [key(r) if p else None for r, p in zip(state["memo.keys"], state["memo.present"], strict=True)]
            self.fca_memo = FcaMemo(keys, np.asarray(state["memo.supply"]), np.array(state["memo.acc"]))
            if "memo.count" in state and all(k is None or k in self._index for k in keys):
                # the baseline's blocks are restored at the offsets they had: the memo's facilities' pairs are there
                # (a memo facility without its block could not be subtracted: then scenarios take the full sum)
                entries = [self._index[k] if k is not None else (0, 0, 0) for k in keys]
                where = np.array(entries, dtype=np.int64).reshape(len(keys), 3)
                self.fca_memo.count = np.array(state["memo.count"])
                self.fca_memo.start, self.fca_memo.wlength = where[:, 0].copy(), where[:, 2].copy()
        self._base = None
        if bool(state["sealed"][0]):
            self.seal()

    def _keys(self, facility_snap: Snap, cut, cells=None) -> list:
        cut = np.asarray(cut, dtype=np.float64)
        link, t, off = facility_snap.link, facility_snap.t, facility_snap.offroad_m
        if self.mode != "road":  # two sites on one road point may lie in different cells: different trips
            return [
                (int(link[j]), float(t[j]), float(off[j]), float(cut[j]), int(cells[j])) if cut[j] > 0 else None
                for j in range(len(facility_snap))
            ]
        return [
            (int(link[j]), float(t[j]), float(off[j]), float(cut[j])) if cut[j] > 0 else None
            for j in range(len(facility_snap))
        ]

    def blocks(self, facility_snap: Snap, cut: np.ndarray, cells=None) -> ODBlocks:
        """Blocks of every facility in ``facility_snap`` out to ``cut`` minutes (0 = none), searching only new ones.

        Off-road pools need the facilities' grid ``cells`` (by default the surface's ``facility_cell``, which follows
        the study's facilities)."""
        if self.mode != "road" and cells is None:
            cells = self.surface.facility_cell
        keys = self._keys(facility_snap, cut, cells)
        todo = [j for j, key in enumerate(keys) if key is not None and key not in self._index]
        if todo and self._base is not None and self._n - self._base[0] > max(self._base[0], self.min_extra_pairs):
            self._forget_extra()
            todo = [j for j, key in enumerate(keys) if key is not None and key not in self._index]
        if todo:
            pos = np.asarray(todo, dtype=np.int64)
            cut_pos = np.asarray(cut, dtype=np.float64)[pos]
            if self.remote is not None and self.mode != "road":
                fresh = self.remote(facility_snap, pos, cut_pos, self, cells=np.asarray(cells)[pos])
            elif self.remote is not None:
                fresh = self.remote(facility_snap, pos, cut_pos, self)
            elif self.mode != "road":
                fcells = np.asarray(cells)[pos]
                fresh = self.trip.pairs(facility_snap[pos], self.point_index, cut_pos, dest=self, fcells=fcells)
            else:
                fresh = self.trip.pairs(facility_snap[pos], self.point_index, cut_pos, dest=self)
            log.info("OD: %s facilities searched, %s pairs", f"{pos.size:,}", f"{len(fresh):,}")
            self._add([keys[j] for j in todo], fresh)
        return self._blocks(keys)

    def _blocks(self, keys: list) -> ODBlocks:
        n_fac = len(keys)
        start = np.zeros(n_fac, dtype=np.int64)
        length = np.zeros(n_fac, dtype=np.int64)
        wlength = np.zeros(n_fac, dtype=np.int64)
        for j, key in enumerate(keys):
            if key is not None:
                start[j], length[j], wlength[j] = self._index[key]
        return ODBlocks(self._origin, self._minutes, start, length, self.methods, self._weight_fns, wlength, keys)
