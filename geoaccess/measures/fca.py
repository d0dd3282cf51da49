"""The two-step floating catchment family: 2SFCA, enhanced 2SFCA (E2SFCA) and a gravity measure.

All take a long OD table (``origin, destination, minutes``), demand per origin and supply per
destination, and return accessible supply per unit of demand for every origin (0 where nothing is in
reach). They follow PySAL ``access`` (``fca.two_stage_fca``): the decay weight applies in both steps,
and a pair counts when ``minutes <= cutoff``. Weight functions come from small factories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from geoaccess._kernels import prefetch
from geoaccess.errors import InputError

Weight = Callable[[np.ndarray], np.ndarray]


def step(minutes: Sequence[float], weights: Sequence[float]) -> Weight:
    """Step decay: weight ``weights[k]`` up to ``minutes[k]`` (inclusive), 0 beyond the last step."""
    edges = np.asarray(minutes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if edges.ndim != 1 or edges.shape != w.shape or edges.size == 0:
        raise InputError(f"step needs as many weights as minutes, got {list(minutes)} and {list(weights)}")
    if np.any(np.diff(edges) <= 0) or np.any(w < 0):
        raise InputError("step minutes must increase and weights must be >= 0")
    table = np.append(w, 0.0)

    def weight(t):
        return table[np.searchsorted(edges, np.asarray(t, dtype=np.float64), side="left")]

    weight.cutoff = float(edges[-1])
    return weight


def gaussian(sigma: float, cutoff: float | None = None) -> Weight:
    """Gaussian decay ``exp(-t² / 2σ²)`` (1 at 0 minutes), cut to 0 beyond ``cutoff`` if given."""
    if not sigma > 0:
        raise InputError(f"gaussian sigma must be > 0 minutes, got {sigma!r}")

    def weight(t):
        t = np.asarray(t, dtype=np.float64)
        w = np.exp(-t * t / (2.0 * sigma * sigma))
        return w if cutoff is None else np.where(t <= cutoff, w, 0.0)

    weight.cutoff = cutoff
    return weight


def power(beta: float, min_minutes: float = 1.0, cutoff: float | None = None) -> Weight:
    """Gravity decay ``max(t, min_minutes) ** -beta``; ``min_minutes`` avoids infinite weight at 0."""
    if not beta > 0 or not min_minutes > 0:
        raise InputError(f"gravity needs beta > 0 and min_minutes > 0, got {beta!r}, {min_minutes!r}")

    def weight(t):
        t = np.maximum(np.asarray(t, dtype=np.float64), min_minutes)
        w = t**-beta
        return w if cutoff is None else np.where(t <= cutoff, w, 0.0)

    weight.cutoff = cutoff
    return weight


def _prepare(od: pd.DataFrame, demand: pd.Series, supply: pd.Series, cutoff):
    """Pairs within the cutoff as positions into ``demand`` and ``supply``, with their minutes."""
    for col in ("origin", "destination", "minutes"):
        if col not in od.columns:
            raise InputError(f"the OD table needs columns origin, destination, minutes; {col!r} is missing")
    t = od["minutes"].to_numpy(dtype=np.float64)
    o, d = od["origin"].to_numpy(), od["destination"].to_numpy()
    limit = np.inf if cutoff is None else cutoff
    if not (t.size and np.isfinite(t.max()) and t.max() <= limit):
        keep = np.isfinite(t) & (t <= limit)
        o, d, t = o[keep], d[keep], t[keep]
    orig = pd.Index(demand.index)
    oi = _positions(orig, o)
    di = _positions(pd.Index(supply.index), d)
    # pairs whose origin has no demand entry or destination no supply entry carry nothing
    if oi.size and (oi.min() < 0 or di.min() < 0):
        ok = (oi >= 0) & (di >= 0)
        oi, di, t = oi[ok], di[ok], t[ok]
    return orig, oi, di, t, demand.to_numpy(dtype=np.float64), supply.to_numpy(dtype=np.float64)


def _positions(index: pd.Index, keys: np.ndarray) -> np.ndarray:
    """Positions of ``keys`` in ``index`` (-1 if absent); positions are the keys for a 0..n-1 range."""
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and keys.dtype.kind in "iu":
        if keys.size == 0 or (keys.min() >= 0 and keys.max() < len(index)):
            return keys
        k = keys.astype(np.int64)
        return np.where((k >= 0) & (k < len(index)), k, -1)
    return index.get_indexer(keys)


def _two_step(prepared, weight: Weight | None) -> pd.Series:
    return _two_steps(prepared, [weight])[0]


def _two_steps(prepared, weights: list) -> list[pd.Series]:
    """Both steps for several decay weights, through the same kernel as :func:`fca_blocks`."""
    orig, oi, di, t, dem, sup = prepared
    by = np.argsort(di, kind="stable")  # facility blocks, each in the table's order
    oi, di, t = oi[by].astype(np.int32), di[by], t[by]
    w = np.column_stack([np.ones(t.size) if f is None else np.asarray(f(t), dtype=np.float64) for f in weights])
    length = np.bincount(di, minlength=sup.size).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    # step 1: demand within each facility's catchment, weighted (summed in order, as the kernel would)
    reach = np.stack([np.bincount(di, weights=dem[oi] * w[:, m], minlength=sup.size) for m in range(w.shape[1])])
    acc = np.zeros((orig.size, w.shape[1]))
    _step2_into(acc, oi, start, np.ascontiguousarray(w), start, length, reach, sup, np.arange(sup.size))
    return [pd.Series(acc[:, m], index=orig, name="access") for m in range(w.shape[1])]


def fca_many(
    od: pd.DataFrame, demand: pd.Series, supply: pd.Series, weights: dict[str, Weight | None], cutoff: float
) -> dict[str, pd.Series]:
    """Several 2SFCA-family measures over one OD table, sharing the work of reading it.

    ``weights`` maps a name to a weight function (``None`` = plain 2SFCA); every measure uses ``cutoff``.
    """
    return dict(zip(weights, _two_steps(_prepare(od, demand, supply, cutoff), list(weights.values())), strict=True))


def two_sfca(od: pd.DataFrame, demand: pd.Series, supply: pd.Series, cutoff: float) -> pd.Series:
    """Plain 2SFCA (Luo & Wang 2003): supply per unit of demand within ``cutoff`` minutes.

    Returns a Series indexed like ``demand``: accessible supply per unit of demand (0 if none in reach).
    A facility whose catchment holds no demand contributes nothing.
    """
    return _two_step(_prepare(od, demand, supply, cutoff), None)


def e2sfca(
    od: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    weight: Weight | None = None,
    cutoff: float | None = None,
) -> pd.Series:
    """Enhanced 2SFCA (Luo & Qi 2009): 2SFCA with a distance-decay weight in both steps.

    ``weight`` defaults to ``step([10, 20, 30], [1.0, 0.68, 0.22])`` as in PySAL ``access``; ``cutoff``
    defaults to the weight's own (its last step).
    """
    weight = weight or step([10, 20, 30], [1.0, 0.68, 0.22])
    if cutoff is None:
        cutoff = getattr(weight, "cutoff", None)
    return _two_step(_prepare(od, demand, supply, cutoff), weight)


def gravity(
    od: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    beta: float = 1.5,
    min_minutes: float = 1.0,
    cutoff: float | None = None,
) -> pd.Series:
    """Gravity access (Joseph & Bantock 1984): supply and demand both decay as ``t ** -beta``."""
    return _two_step(_prepare(od, demand, supply, cutoff), power(beta, min_minutes))


@dataclass
class FcaMemo:
    """Step 2 of the 2SFCA family summed over a run of facilities, to continue from when only facilities are added."""

    keys: list
    supply: np.ndarray
    acc: np.ndarray


def fca_blocks(
    blocks, supply: np.ndarray, demand: np.ndarray, n_origins: int, memo: FcaMemo | None = None,
    keep: bool = False, chunk_pairs: int = 1 << 22,
) -> tuple[dict[str, np.ndarray], FcaMemo | None]:  # fmt: skip
    """The 2SFCA family over per-facility OD blocks (:class:`~geoaccess.measures.blocks.ODBlocks`).

    Facilities are taken in order, about ``chunk_pairs`` pairs at a time: their decay weights, weighted demand
    (step 1) and their share added to every origin (step 2), so memory does not grow with the pairs. Pairs are
    read in the same order as :func:`fca_many` reads a table sorted by destination, so both give the same numbers
    to the last bit. With a ``memo`` of an earlier call whose facilities (same blocks, same supply) are the first
    ones here, the sum continues from it: the result is the same as summing from scratch, in a fraction of the
    time when a scenario only adds facilities. ``keep`` returns this call's memo.
    """
    from geoaccess.measures.blocks import _ranges, _reach, decay_weights

    supply = np.ascontiguousarray(supply, dtype=np.float64)
    demand = np.ascontiguousarray(demand, dtype=np.float64)
    n_fac = blocks.n_facilities
    if supply.shape != (n_fac,):
        raise InputError(f"supply needs one value per facility ({n_fac}), got {supply.shape}")
    first = 0
    acc = None
    if memo is not None and blocks.keys is not None:
        n = len(memo.keys)
        if n <= n_fac and blocks.keys[:n] == memo.keys and np.array_equal(supply[:n], memo.supply):
            first, acc = n, memo.acc.copy()
    if acc is None:
        acc = np.zeros((n_origins, len(blocks.methods)))
    facs = first + np.flatnonzero(supply[first:] > 0)
    ends = np.cumsum(blocks.wlength[facs])
    a = 0
    while a < facs.size:
        b = max(a + 1, int(np.searchsorted(ends, (ends[a - 1] if a else 0) + chunk_pairs, side="right")))
        part = facs[a:b]
        wlen = blocks.wlength[part]
        start = blocks.start[part]
        w = decay_weights(blocks.weight_fns, blocks.minutes[_ranges(start, wlen)])
        wstart = np.zeros(part.size, dtype=np.int64)
        np.cumsum(wlen[:-1], out=wstart[1:])
        reach = _reach(blocks.origin, start, wlen, w, wstart, demand)
        _step2_into(acc, blocks.origin, start, w, wstart, wlen, reach, supply[part], np.arange(part.size))
        a = b
    out = {name: np.ascontiguousarray(acc[:, m]) for m, name in enumerate(blocks.methods)}
    kept = FcaMemo(list(blocks.keys or []), supply.copy(), acc) if keep else None
    return out, kept


@njit(cache=True, nogil=True)
def _step2_into(acc, origin, start, weights, wstart, wlength, reach, supply, facs):
    """Step 2 of the family for facilities ``facs`` in order, added into ``acc`` (one row per origin, one column
    per method: a pair's methods update one cache line)."""
    n_m = weights.shape[1]
    r = np.zeros(n_m)
    for j in facs:
        if not supply[j] > 0:
            continue
        for m in range(n_m):
            r[m] = supply[j] / reach[m, j] if reach[m, j] > 0 else 0.0
        s, ws, n = start[j], wstart[j], wlength[j]
        for k in range(n):
            if k + 16 < n:  # origins lie all over the raster: fetch one ahead of need
                prefetch(acc, (origin[s + k + 16], 0))
            row = acc[origin[s + k]]
            w = weights[ws + k]
            for m in range(n_m):
                row[m] += r[m] * w[m]
