"""Off-road travel over a friction surface: cost distance on a raster grid.

The array level is public, as :meth:`geoaccess.Network.from_arrays` is. ``friction`` is minutes per metre of each
cell (``inf`` or NaN = impassable: rivers, lakes, nodata); a move between two neighbouring cells costs the mean of
their frictions times the move's length, the convention of scikit-image's ``graph.MCP_Geometric``, which the tests
use as the oracle. Moves are the 8 neighbours, plus the 8 knight's moves (one cell across and two along) with
``knight=True``, which the error against straight-line travel on uniform ground from 8 % to 3 % (AccessMod
and GRASS ``r.cost -k`` offer the same). :func:`walking_time` adds slope: Tobler's hiking function on a DEM,
different uphill and downhill.

Examples
--------
>>> import numpy as np
>>> from geoaccess import terrain
>>> friction = np.full((3, 4), 60 / 4500)  # walking at 4.5 km/h everywhere, in minutes per metre
>>> minutes = terrain.cost_distance(friction, [(0, 0)], cell_size=(100.0, 100.0))
>>> round(float(minutes[0, 3]), 2)  # 300 m east
4.0
"""

from __future__ import annotations

import logging
import mmap
import threading
import time

import numpy as np

from geoaccess import _terrain_kernels
from geoaccess._arrays import unique
from geoaccess.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["Surface", "cost_distance", "moves", "walking_time"]

_AXIAL = [(-1, 0), (1, 0), (0, -1), (0, 1)]
_DIAGONAL = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
_KNIGHT = [(-2, -1), (-2, 1), (-1, -2), (-1, 2), (1, -2), (1, 2), (2, -1), (2, 1)]


def moves(knight: bool = False) -> np.ndarray:
    """The moves of a search as ``(row step, column step)`` rows: 8 neighbours, then the 8 knight's moves."""
    return np.array(_AXIAL + _DIAGONAL + (_KNIGHT if knight else []), dtype=np.int64)


class Moves:
    """Moves prepared for the kernel on a grid of ``cols`` columns with cells ``cell_size = (dy, dx)`` metres."""

    def __init__(self, cols: int, cell_size, knight: bool):
        dy, dx = _cell_size(cell_size)
        off = moves(knight)
        self.r = off[:, 0].copy()
        self.c = off[:, 1].copy()
        # exactly MCP's offset_lengths: sqrt(sum((sampling * offsets) ** 2)), so equal paths give equal bits
        self.length = np.sqrt(np.sum((np.array([dy, dx]) * off) ** 2, axis=1)).astype(np.float64)
        # the cells a move passes through (flat offsets) and how they block it (see grid_search)
        mid_a = np.zeros((len(off), 2), dtype=np.int64)
        mid_b = np.zeros((len(off), 2), dtype=np.int64)
        kind = np.zeros(len(off), dtype=np.int8)
        for k, (r, c) in enumerate(off):
            if abs(r) == 1 and abs(c) == 1:
                mid_a[k], mid_b[k], kind[k] = (r, 0), (0, c), 1
            elif abs(r) == 1 and abs(c) == 2:
                mid_a[k], mid_b[k], kind[k] = (0, c // 2), (r, c // 2), 2
            elif abs(r) == 2 and abs(c) == 1:
                mid_a[k], mid_b[k], kind[k] = (r // 2, 0), (r // 2, c), 2
        self.mid_a = mid_a[:, 0] * cols + mid_a[:, 1]
        self.mid_b = mid_b[:, 0] * cols + mid_b[:, 1]
        self.kind = kind


def _cell_size(cell_size) -> tuple[float, float]:
    try:
        dy, dx = (float(v) for v in cell_size)
    except (TypeError, ValueError):
        raise InputError(f"cell_size must be (dy, dx) in metres, got {cell_size!r}") from None
    if not (np.isfinite(dy) and np.isfinite(dx) and dy > 0 and dx > 0):
        raise InputError(f"cell_size must be two positive metre values (dy, dx), got {cell_size!r}")
    return dy, dx


def _grid(friction, name: str = "friction") -> np.ndarray:
    friction = np.asarray(friction)
    if friction.ndim != 2 or friction.size == 0:
        raise InputError(f"{name} must be a non-empty 2-D array (rows, columns), got shape {friction.shape}")
    if friction.dtype.kind != "f":
        friction = friction.astype(np.float64)
    if friction.size >= 2**31 - 1:
        raise InputError(f"{name} has {friction.size} cells; at most 2**31 - 2 are supported: use larger cells")
    # fmin skips NaN (nodata, i.e. impassable), and unlike ``np.any(friction < 0)`` it needs no grid-sized temporary
    if friction.size and np.fmin.reduce(friction, axis=None) < 0:
        r, c = np.argwhere(friction < 0)[0]
        raise InputError(
            f"{name} has negative values (first at row {r}, column {c}); friction is minutes per metre >= 0, "
            "inf or NaN for impassable cells"
        )
    return friction


def _sources(sources, shape, minutes=None):
    src = np.asarray(sources)
    if src.size == 0:
        src = src.reshape(0, 2)
    if src.ndim != 2 or src.shape[1] != 2 or (src.size and src.dtype.kind not in "iu"):
        if src.ndim == 2 and src.shape[1] == 2 and src.dtype.kind == "f" and np.all(src == np.round(src)):
            src = src.astype(np.int64)
        else:
            raise InputError(f"sources must be a (k, 2) array of integer (row, column), got shape {src.shape}")
    src = src.astype(np.int64)
    bad = (src[:, 0] < 0) | (src[:, 0] >= shape[0]) | (src[:, 1] < 0) | (src[:, 1] >= shape[1])
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(
            f"{rows.size} source(s) outside the {shape[0]} x {shape[1]} grid",
            problems=[f"source {i}: (row {src[i, 0]}, column {src[i, 1]})" for i in rows],
        )
    start = np.zeros(len(src)) if minutes is None else np.asarray(minutes, dtype=np.float64)
    if start.shape != (len(src),) or np.any(~(start >= 0)):
        raise InputError("source minutes must be one value >= 0 per source")
    return (src[:, 0] * shape[1] + src[:, 1]).astype(np.int32), start


def _cutoff(cutoff) -> float:
    if cutoff is None:
        return np.inf
    c = float(cutoff)
    if not c >= 0:
        raise InputError(f"cutoff must be minutes >= 0 (or None), got {cutoff!r}")
    return c


def _buckets(moves: tuple[float, float], aniso: bool) -> tuple[float, int]:
    """Width (minutes) and count of the bucket queue's buckets, from the cheapest and dearest flat ``moves``.

    The width is the cheapest move (every cell scanned once) unless that needs more than 2**16 buckets to span
    the dearest move; on a DEM the cheapest move is a gentle descent (Tobler: 0.84x flat) and the ring spans
    moves up to about a 25 % slope (steeper moves stay exact, see ``grid_search``)."""
    lo, hi = moves
    if aniso:
        lo, hi = lo * float(np.exp(-3.5 * 0.05)), hi * 2.5
    if not 0 < hi < np.inf:  # nothing passable, or free everywhere: any width is exact
        return 1.0, 2
    delta = max(lo, hi / 2**16)
    return float(delta), 1 << int(np.ceil(np.log2(hi / delta + 2)))


#: grids from this many cells scan each bucket sorted by cell: their wavefront's rows no longer stay in cache between
#: its scans. Smaller grids scan a bucket in the order it was filled, as sorting costs more than it saves there.
#: Measured in CPU seconds (loaded machine, so differences of 30 % or more only): 1.3 M cells (the demo) 0.09-0.10
#: as filled vs 0.13-0.16 sorted; bench_terrain's 10 M 0.99-1.10 vs 1.34-1.52; SYNTHETIC Qinghai's 108 M, county
#: tier, 16.9-18.1 sorted vs 25.2 as filled
SORT_MIN_CELLS = 20_000_000
_SWITCH_MIN = 1000  # targets from which a search goes goal-directed for its last 1 % (fewer: not worth the pause)
_HSHIFT = 3  # the goal-directed bound is kept per block of 8 x 8 cells


def _ring(moves: tuple[float, float], aniso: bool, delta: float, jump: float) -> int:
    """Buckets of a goal-directed search: its keys step by the dearest move plus the bound's largest jump."""
    hi = moves[1]
    if aniso:
        hi = hi * 2.5
    if not hi < np.inf:
        hi = delta
    return 1 << int(np.ceil(np.log2(min((hi + jump) / delta + 2, 2**16))))


def _heuristic(pending: np.ndarray, rows: int, cols: int, mv: Moves, cheapest: float, aniso: bool):
    """A lower bound on the minutes from each block of cells to the nearest ``pending`` target, for A*.

    Straight-line distance at the cheapest friction (and, on a DEM, Tobler's fastest slope) bounds every path
    from below (a move costs at least its length times the cheaper of its two cells). Block centres' distances
    (scipy's exact Euclidean distance transform) less the farthest a cell lies from its block's centre, twice,
    bound the cells' distances. Returns ``(h, shift, block columns, largest step between neighbouring blocks)``.
    """
    from scipy import ndimage

    shift = _HSHIFT
    b = 1 << shift
    hr, hc = -(-rows // b), -(-cols // b)
    step = float(mv.length.min())  # the axial move: the cell's size (square cells in a Surface; min of dy, dx)
    fmin = cheapest / step if step > 0 and cheapest < np.inf else 0.0
    if aniso:
        fmin *= float(np.exp(-_terrain_kernels.TOBLER_A * _terrain_kernels.TOBLER_B))
    dy, dx = float(mv.length[0]), float(mv.length[2])  # the moves start (-1, 0), (1, 0), (0, -1), (0, 1)
    mark = np.ones((hr, hc), dtype=bool)
    r, q = np.divmod(pending, cols)
    mark[r >> shift, q >> shift] = False
    edt = ndimage.distance_transform_edt(mark, sampling=(b * dy, b * dx))
    margin = (b - 1) * float(np.hypot(dy, dx))
    h = (np.maximum(edt - margin, 0.0) * (fmin * (1 - 1e-9))).reshape(-1)
    jump = fmin * b * float(np.hypot(dy, dx))
    return h, shift, hc, jump


def search(
    friction: np.ndarray,
    sources,
    *,
    cell_size=(1.0, 1.0),
    knight: bool = False,
    cutoff: float | None = None,
    dem: np.ndarray | None = None,
    to_sources: bool = True,
    cut_corners: bool = True,
    source_minutes=None,
    labels=None,
    targets=None,
    sweep_to: float | None = None,
    buffers: GridBuffers | None = None,
):
    """The search behind :func:`cost_distance` and :func:`walking_time`, with seed minutes and labels.

    ``source_minutes`` starts each source at that many minutes (a road cell seeded with its drive to the facility);
    ``labels`` (one int per source) are carried to the cells each source reaches best. ``targets`` (flat cell
    indices) stops the search once they are all final: only their values are then exact, and those of every cell
    within ``sweep_to`` minutes, which the search also waits for (a tier's largest band: its service areas need
    every cell within it; a goal-directed end, below, starts only past it). Returns ``(minutes, label)`` as 2-D
    arrays (``label`` is None when ``labels`` is None; -1 where unreached; int16 when every label fits, else
    int32), taken from ``buffers`` when given (a :class:`GridBuffers`: the caller gives them back once read).
    """
    friction = _grid(friction)
    rows, cols = friction.shape
    cells, start = _sources(sources, friction.shape, source_minutes)
    mv = Moves(cols, cell_size, knight)
    if dem is None:
        z = np.empty(0)
    else:
        z = np.asarray(dem)
        if z.shape != friction.shape:
            raise InputError(f"dem has shape {z.shape} but friction has {friction.shape}: they must share one grid")
        if z.dtype.kind != "f":
            z = z.astype(np.float64)
        z = z.reshape(-1)
    new = grid_array if buffers is None else buffers.take  # both (size, dtype, fill)
    dist = new(rows * cols, np.float64, np.inf)
    if labels is None:
        lab_in = np.zeros(len(cells), dtype=np.int32)
        label = np.empty(0, dtype=np.int32)
    else:
        lab_in = np.asarray(labels, dtype=np.int32)
        if lab_in.shape != (len(cells),):
            raise InputError("labels must be one integer per source")
        # two bytes a cell where every label fits (a province's 3,358 facilities): 216 MB less a search on Qinghai
        small = lab_in.size == 0 or (int(lab_in.min()) >= -1 and int(lab_in.max()) < 2**15)
        lab_dt = np.int16 if small else np.int32
        label = new(rows * cols, lab_dt, -1)
    flat = friction.reshape(-1)
    order = np.argsort(start, kind="stable")  # the bucket queue takes seeds in order of their minutes
    cells, start, lab_in = cells[order], start[order], lab_in[order]
    tg = np.empty(0, dtype=np.int64) if targets is None else np.ascontiguousarray(targets, dtype=np.int64)
    if tg.size and (tg.min() < 0 or tg.max() >= rows * cols):
        raise InputError(f"targets must be flat cell indices in 0..{rows * cols - 1}")
    aniso = z.size > 0
    span = _terrain_kernels.move_range(flat, mv.length)
    delta, nb = _buckets(span, aniso)
    fixed = (flat, z, rows, cols, mv.r, mv.c, mv.length, mv.mid_a, mv.mid_b, mv.kind)
    opts = (_cutoff(cutoff), bool(cut_corners), bool(to_sources), dist, label)
    # with many targets, the last ones are few and often far out (a herder's valley): once no more than 1 % are
    # pending the sweep pauses and goes on towards them only (see grid_search)
    switch_at = tg.size // 100 if tg.size >= _SWITCH_MIN else -1
    sweep = 0.0 if sweep_to is None else float(sweep_to)
    if not sweep >= 0:
        raise InputError(f"sweep_to must be minutes >= 0 (or None), got {sweep_to!r}")
    none = np.empty(0)
    t0 = time.perf_counter()
    sort = rows * cols >= SORT_MIN_CELLS
    sc1, paused, f_cell, f_min, pending, si = _terrain_kernels.grid_search(
        *fixed, cells, start, lab_in, *opts, delta, nb, tg, start, none, 0, 0, switch_at, sweep, sort
    )
    if paused:
        h, shift, hcols, jump = _heuristic(pending, rows, cols, mv, span[0], aniso)
        c2 = np.concatenate([f_cell, cells[si:]])
        m2 = np.concatenate([f_min, start[si:]])
        l2 = np.concatenate([label[f_cell] if label.size else np.zeros(len(f_cell), np.int32), lab_in[si:]])
        r2, q2 = np.divmod(c2, cols)
        keys = m2 + h[(r2 >> shift) * hcols + (q2 >> shift)]
        o = np.argsort(keys, kind="stable")
        nb2 = _ring(span, aniso, delta, jump)
        t1 = time.perf_counter()
        sc2 = _terrain_kernels.grid_search(
            *fixed, c2[o].astype(np.int32), m2[o], l2[o].astype(np.int32), *opts, delta, nb2, pending, keys[o], h,
            shift, hcols, -1, 0.0, sort,
        )[0]  # fmt: skip
        log.debug(
            "search: %s cells scanned in %.1f s until %d of %d targets were left, then %s towards them in %.1f s",
            f"{sc1:,}", t1 - t0, pending.size, tg.size, f"{sc2:,}", time.perf_counter() - t1,
        )  # fmt: skip
    return dist.reshape(rows, cols), (None if labels is None else label.reshape(rows, cols))


def cost_distance(
    friction: np.ndarray,
    sources,
    *,
    cell_size=(1.0, 1.0),
    knight: bool = False,
    cutoff: float | None = None,
    cut_corners: bool = True,
) -> np.ndarray:
    """Minutes from the nearest source to every cell, over an isotropic friction surface.

    Parameters
    ----------
    friction
        2-D array, minutes per metre of travel through each cell (``60 / (1000 * km_per_h)``); ``inf`` or NaN =
        impassable. float32 is used as is (no copy).
    sources
        ``(k, 2)`` integer array of (row, column); several sources give the nearest one's minutes.
    cell_size
        ``(dy, dx)``: cell height and width in metres.
    knight
        Also allow the 8 knight's moves (row +-1 and column +-2, or row +-2 and column +-1).
    cutoff
        Search only this far (minutes, inclusive): cells beyond stay ``inf`` and are never visited.
    cut_corners
        True (``MCP_Geometric``'s convention): a move only looks at its two end cells. False: a diagonal move may
        not squeeze between two impassable cells and a knight's move may not jump over one, so no move crosses
        a one-cell-wide (8-connected) barrier line; this is what a river needs.

    Returns
    -------
    numpy.ndarray
        float64 minutes, the shape of ``friction``: 0 at the sources, ``inf`` where unreachable or beyond ``cutoff``.
    """
    minutes, _ = search(friction, sources, cell_size=cell_size, knight=knight, cutoff=cutoff, cut_corners=cut_corners)
    return minutes


def walking_time(
    dem: np.ndarray,
    friction: np.ndarray,
    sources,
    *,
    cell_size=(1.0, 1.0),
    knight: bool = False,
    cutoff: float | None = None,
    to_sources: bool = True,
    cut_corners: bool = True,
) -> np.ndarray:
    """Walking minutes between every cell and the nearest source on a DEM (anisotropic: uphill != downhill).

    Each move costs what it costs in :func:`cost_distance` (``friction`` is minutes per metre on *flat* ground)
    times Tobler's hiking function relative to flat ground, ``exp(3.5 (|S + 0.05| - 0.05))``, with ``S`` the rise
    over run along the move in the direction walked. On flat ground the result equals :func:`cost_distance`.

    Parameters
    ----------
    dem
        2-D elevations in metres on the same grid as ``friction`` (NaN = nodata, impassable).
    friction, sources, cell_size, knight, cutoff, cut_corners
        As in :func:`cost_distance`.
    to_sources
        True: minutes walking *from* each cell *to* its nearest source (a patient walking to the road or the
        facility). False: minutes from the sources out to each cell.

    Returns
    -------
    numpy.ndarray
        float64 minutes, ``inf`` where unreachable or beyond ``cutoff``.
    """
    minutes, _ = search(
        friction, sources, cell_size=cell_size, knight=knight, cutoff=cutoff, dem=dem, to_sources=to_sources,
        cut_corners=cut_corners,
    )  # fmt: skip
    return minutes


#: arrays this large (bytes) are mapped by :func:`grid_array` in ordinary pages, not allocated by numpy (see there)
GRID_ARRAY_MIN_BYTES = 1 << 28


def grid_array(shape, dtype, fill=None) -> np.ndarray:
    """A new array of ``shape`` and ``dtype`` (every value ``fill``; zeros when None) for a grid-sized layer.

    numpy asks Linux for transparent huge pages (``madvise``) for every array of 4 MB or more. They make a search's
    scattered reads cheaper, but a fresh huge page is dear to fault in: the kernel may compact memory to find 2 MB
    in one piece, and a virtual machine's host backs it page by page. On a province the second cost wins, on a
    smaller grid the first. Measured on the 2-core bench machine: SYNTHETIC Qinghai's county search (108 M cells,
    1.3 GB of minutes and labels) 19.4-19.5 s of CPU in ordinary pages against 24.1-25.4 s in huge ones (faulting
    the 1.3 GB in alone: 0.7-0.8 s against 3.2-3.7 s), and the whole mixed run's system time 9.8 s against
    19.5 s; but bench_terrain's 10 M-cell search (an 80 MB layer) 1.0-1.26 s in huge pages against 1.25-1.54 s.
    So layers of :data:`GRID_ARRAY_MIN_BYTES` (256 MB) or more are mapped here as anonymous memory in ordinary
    pages (huge ones only where the system uses them for everything), smaller ones are numpy's. Mapped pages
    come zeroed and are touched only when written: a layer of zeros costs nothing until used.
    """
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if n * dtype.itemsize < GRID_ARRAY_MIN_BYTES:
        return np.zeros(shape, dtype) if fill is None else np.full(shape, fill, dtype)
    private = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)  # not shared memory (POSIX)
    buf = mmap.mmap(-1, n * dtype.itemsize, flags=private) if private else mmap.mmap(-1, n * dtype.itemsize)
    a = np.frombuffer(buf, dtype=dtype, count=n).reshape(shape)
    if fill is not None and fill != 0:
        a.fill(fill)
    return a


class GridBuffers:
    """Grid-sized work arrays handed on from one search to the next (a :class:`Surface`'s :attr:`~Surface.buffers`).

    On a province one search's minutes and labels take 10-12 bytes a cell (1.1-1.3 GB on Qinghai's 108 M cells),
    and fresh memory is dear: the operating system zeroes every page on first touch, and a virtual machine's host
    backs it too. Measured on the 2-core bench machine: 2.1-2.6 s of CPU per GB for fresh huge pages, 1.3 s per GB
    for pages freed a few seconds before (the guest hands them back to the host), 0.1-0.2 s per GB to refill an
    array in hand (see :func:`grid_array` for ordinary pages). So the tier searches' arrays, once read, serve the OD searches that follow instead of being freed and
    allocated again. At most ``most`` arrays of each dtype are kept, until :meth:`clear` (the end of a study's
    computation): memory still grows with the grid only while searches run.
    """

    def __init__(self, most: int = 4):
        self.most = int(most)
        self._free: dict[tuple[str, int], list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def take(self, n: int, dtype, fill) -> np.ndarray:
        """A flat array of ``n`` values of ``dtype``, every one ``fill``: a kept one refilled, or a new one."""
        dtype = np.dtype(dtype)
        with self._lock:
            kept = self._free.get((dtype.str, n))
            a = kept.pop() if kept else None
        if a is None:
            return grid_array(n, dtype, fill)
        a.fill(fill)
        return a

    def give(self, *arrays) -> None:
        """Keep ``arrays`` (no one may read or write them after) for the next :meth:`take`; beyond ``most``
        of a kind they are let go."""
        with self._lock:
            for a in arrays:
                if a is None or a.size == 0:
                    continue
                flat = a.reshape(-1)
                kept = self._free.setdefault((flat.dtype.str, flat.size), [])
                if len(kept) < self.most and not any(np.shares_memory(flat, k) for k in kept):
                    kept.append(flat)

    def clear(self, dtype=None, keep: int = 0) -> None:
        """Let the kept arrays go: every one, or those of ``dtype`` beyond the first ``keep``."""
        with self._lock:
            if dtype is None:
                self._free.clear()
                return
            code = np.dtype(dtype).str
            for key, kept in self._free.items():
                if key[0] == code:
                    del kept[keep:]

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(a.nbytes for kept in self._free.values() for a in kept)


class Surface:
    """A study's friction surface, joined to its road network and its demand (built by ``geoaccess.load.terrain``).

    ``friction`` (2-D float32, minutes per metre, inf = impassable) and ``dem`` (2-D float32 metres or None for
    isotropic travel) lie on a grid of ``cell_m`` metre cells in the network's CRS (``transform``, north up).
    The road network meets the grid at sample points along every link (``road_cell``: the flat cell of each,
    ``road_snap``: where it lies on its link and its distance from the cell centre). ``demand_cell`` and
    ``facility_cell`` are the flat cells of the study's population cells and facilities (-1: off the grid).
    """

    def __init__(
        self, friction, dem, transform, crs, cell_m: float, road_cell, road_snap, demand_cell, facility_cell,
        knight: bool = True, cut_corners: bool = False, notes=(),
    ):  # fmt: skip
        self.friction = friction
        self.dem = dem
        self.transform = transform
        self.crs = crs
        self.cell_m = float(cell_m)
        self.road_cell = np.asarray(road_cell, dtype=np.int64)
        self.road_snap = road_snap
        self.demand_cell = np.asarray(demand_cell, dtype=np.int64)
        self.facility_cell = np.asarray(facility_cell, dtype=np.int64)
        self.knight = bool(knight)
        self.cut_corners = bool(cut_corners)
        self.notes = list(notes)
        self._components = None  # connected pieces of passable ground, on first use (see components)
        self._pieces = None  # (sorted cells, their piece) known without labelling the grid (a cached surface)
        self._demand_targets = None  # targets() of demand_cell, the same for every tier
        self._lock = threading.Lock()  # tiers search on threads; the pieces are labelled once
        self.buffers = GridBuffers()  # the searches' grid-sized arrays, handed on (see GridBuffers)

    @property
    def shape(self) -> tuple[int, int]:
        return self.friction.shape

    def __repr__(self) -> str:
        r, c = self.shape
        return f"Surface({r} x {c} cells of {self.cell_m:g} m, {len(self.road_cell):,} road samples)"

    def at(self, dist: np.ndarray, label: np.ndarray, cells) -> tuple[np.ndarray, np.ndarray]:
        """Minutes and label of a search at flat ``cells`` (-1: inf and -1).

        People in an impassable cell (a river or lake cell with houses on its bank) step out to their best
        passable neighbour: its minutes plus one step at that neighbour's friction (no slope).
        """
        cells = np.asarray(cells, dtype=np.int64)
        ok = cells >= 0
        flat_d, flat_l, flat_f = dist.reshape(-1), label.reshape(-1), self.friction.reshape(-1)
        c = np.maximum(cells, 0)
        minutes = np.where(ok, flat_d[c], np.inf)
        lab = np.where(ok, flat_l[c], -1).astype(np.int64)
        stuck = np.flatnonzero(ok & ~(flat_f[c] < np.inf) & ~np.isfinite(minutes))
        if stuck.size:
            rows, cols = self.shape
            r, q = np.divmod(cells[stuck], cols)
            for dr, dc in moves(False):
                rr, qq = r + dr, q + dc
                inside = (rr >= 0) & (rr < rows) & (qq >= 0) & (qq < cols)
                n = np.where(inside, rr * cols + qq, 0)
                step = self.cell_m * float(np.hypot(dr, dc))
                with np.errstate(invalid="ignore"):
                    cand = np.where(inside, flat_d[n] + step * flat_f[n].astype(np.float64), np.inf)
                better = cand < minutes[stuck]
                minutes[stuck[better]] = cand[better]
                lab[stuck[better]] = flat_l[n[better]]
        return minutes, lab

    def targets(self, cells) -> np.ndarray:
        """The cells whose minutes :meth:`at` reads for ``cells``: the passable ones, and the passable neighbours of
        the impassable ones (people there step out)."""
        if cells is self.demand_cell and self._demand_targets is not None:
            return self._demand_targets  # every tier asks for the study's demand: sorted once
        own = cells is self.demand_cell
        cells = np.asarray(cells, dtype=np.int64)
        cells = unique(cells[cells >= 0])
        flat_f = self.friction.reshape(-1)
        open_ = flat_f[cells] < np.inf
        out = [cells[open_]]
        stuck = cells[~open_]
        if stuck.size:
            rows, cols = self.shape
            r, q = np.divmod(stuck, cols)
            for dr, dc in moves(False):
                rr, qq = r + dr, q + dc
                inside = (rr >= 0) & (rr < rows) & (qq >= 0) & (qq < cols)
                n = (rr * cols + qq)[inside]
                out.append(n[flat_f[n] < np.inf])
        found = unique(np.concatenate(out))
        if own:
            self._demand_targets = found
        return found

    def components(self) -> np.ndarray | None:
        """Label (int32, flat, 0 = impassable) of each cell's connected piece of passable ground, or None when
        searches cut corners.

        Without corner cutting a diagonal move needs one of the two cells it passes passable and a knight's move
        both, so every move is also a chain of axial moves over passable cells: two cells are connected exactly
        when they are 4-connected. A target in a piece that holds no seed is never reached, whatever the minutes.
        """
        if self.cut_corners:
            return None
        with self._lock:
            if self._components is None:
                from scipy import ndimage

                passable = np.less(self.friction, np.inf, out=grid_array(self.shape, bool))
                if self.dem is not None:
                    passable &= np.isfinite(self.dem)
                lab = grid_array(self.shape, np.int32)
                ndimage.label(passable, output=lab)
                del passable
                self._components = lab.reshape(-1)
        return self._components

    def known_pieces(self, cells, label) -> None:
        """Which piece of ground (:meth:`components`) each of ``cells`` lies on, known beforehand (a surface read
        from the cache): :meth:`reachable` then answers for those cells without labelling the whole grid."""
        cells = np.asarray(cells, dtype=np.int64)
        order = np.argsort(cells, kind="stable")
        self._pieces = (cells[order], np.asarray(label, dtype=np.int32)[order])

    def key_pieces(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The pieces of ground of the cells searches start from and wait for (the demand's targets, road and
        facility cells), as ``(sorted cells, piece)``; None when searches cut corners."""
        if self.cut_corners:
            return None
        if self._pieces is not None and self._components is None:
            return self._pieces
        comp = self.components()
        cells = unique(np.concatenate([self.targets(self.demand_cell), self.road_cell, self.facility_cell]))
        cells = cells[(cells >= 0) & (cells < comp.size)]
        return cells, comp[cells]

    def _pieces_of(self, cells: np.ndarray) -> np.ndarray:
        if self._components is None and self._pieces is not None:
            known, label = self._pieces
            i = np.minimum(np.searchsorted(known, cells), max(len(known) - 1, 0))
            if known.size and np.array_equal(known[i], cells):
                return label[i]
        return self.components()[cells]

    def reachable(self, targets, seeds) -> np.ndarray:
        """The ``targets`` (flat cells) in a piece of ground that holds one of the ``seeds`` (flat cells): the ones
        a search from the seeds can reach. A search told to stop at unreachable targets would sweep everything
        it can reach, waiting for them."""
        targets = np.asarray(targets, dtype=np.int64)
        if self.cut_corners or targets.size == 0:
            return targets
        seeds = np.asarray(seeds, dtype=np.int64)
        at_t, at_s = self._pieces_of(targets), self._pieces_of(seeds)
        top = max(int(at_t.max()), int(at_s.max()) if at_s.size else 0)
        seeded = np.zeros(top + 1, dtype=bool)
        seeded[at_s] = True
        seeded[0] = False  # impassable: a seed there spreads nowhere
        return targets[seeded[at_t]]

    def minutes(
        self, cells, minutes, labels, to_seeds: bool = True, targets=None, sweep_to: float | None = None,
        cutoff: float | None = None,
    ):  # fmt: skip
        """Minutes (and the seed label) of every cell from seeds at flat ``cells`` starting at ``minutes``.

        With ``targets`` (flat cells, see :meth:`targets`) the search stops once they are final: only their
        values are exact then, and those of every cell within ``sweep_to`` minutes (see :func:`search`).
        ``cutoff`` (minutes, inclusive) bounds the search: cells beyond it stay inf (a scenario's added facilities
        search only as far as the baseline's farthest person). The two grids come from :attr:`buffers`: give them
        back there once read."""
        cells, minutes, labels = np.asarray(cells), np.asarray(minutes, dtype=np.float64), np.asarray(labels)
        ok = (cells >= 0) & np.isfinite(minutes)
        cells, minutes, labels = cells[ok], minutes[ok], labels[ok]
        # one seed per cell, its best (a road cell holds several road points): fewer queue entries
        first = _terrain_kernels.best_per_cell(cells.astype(np.int64, copy=False), minutes)
        cells, minutes, labels = cells[first], minutes[first], labels[first]
        rows, cols = self.shape
        if targets is not None:
            targets = self.reachable(targets, cells)
            if targets.size == 0:  # nothing to wait for: a search that stops at once (every target is unreachable)
                targets = cells[:1] if cells.size else None
        src = np.column_stack([cells // cols, cells % cols])
        return search(
            self.friction, src, cell_size=(self.cell_m, self.cell_m), knight=self.knight, dem=self.dem,
            to_sources=to_seeds, cut_corners=self.cut_corners, source_minutes=minutes, labels=labels, targets=targets,
            sweep_to=sweep_to, cutoff=cutoff, buffers=self.buffers,
        )  # fmt: skip
