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
_NO_COUNT = np.zeros((0, 0), dtype=np.int32)


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
    _step2_into(acc, oi, start, np.ascontiguousarray(w), start, length, reach, sup, np.arange(sup.size), _NO_COUNT, 1.0)
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
    """Step 2 of the 2SFCA family summed over a run of facilities, to continue from when a scenario edits facilities.

    ``keys`` and ``supply`` name each facility's block and beds; ``acc`` is the sum (one row per origin, one column
    per method). For removals (:func:`fca_blocks` subtracts a facility's share) the memo also holds ``count``, how
    many facilities add a nonzero share to each origin and method, and where each facility's pairs lie in the
    buffers of the blocks it was summed over (``start``, ``wlength``): the pool's baseline blocks, which stay put.
    """

    keys: list
    supply: np.ndarray
    acc: np.ndarray
    count: np.ndarray | None = None
    start: np.ndarray | None = None
    wlength: np.ndarray | None = None


def fca_blocks(
    blocks, supply: np.ndarray, demand: np.ndarray, n_origins: int, memo: FcaMemo | None = None,
    keep: bool = False, chunk_pairs: int = 1 << 22,
) -> tuple[dict[str, np.ndarray], FcaMemo | None]:  # fmt: skip
    """The 2SFCA family over per-facility OD blocks (:class:`~geoaccess.measures.blocks.ODBlocks`).

    Facilities are taken in order, about ``chunk_pairs`` pairs at a time: their decay weights, weighted demand
    (step 1) and their share added to every origin (step 2), so memory does not grow with the pairs. Pairs are
    read in the same order as :func:`fca_many` reads a table sorted by destination, so both give the same numbers
    to the last bit.

    With a ``memo`` of an earlier call (same demand; its blocks in the same buffers, as a pool's baseline blocks
    are), the sum continues from it:

    * when the memo's facilities (same blocks, same supply) are the first ones here (a scenario only adds), the
      added facilities' shares are added: the same numbers as summing from scratch, to the last bit;
    * otherwise (closed, moved, downgraded facilities, changed beds) the memo's facilities that are no longer here
      are subtracted and the new ones added. This is sound for every method of the family the project computes
      (2SFCA, E2SFCA, Gaussian, gravity: :meth:`geoaccess.study.Study._weights`): a facility's ratio
      ``R_j = S_j / sum_i P_i w_ij`` and its share ``R_j w_ij`` depend on its own block, supply and the demand only,
      never on other facilities. It is not bit-identical: the result differs from a full sum by rounding (about
      1e-16 of the largest access value; the tests hold it to 1e-9). An origin that no facility reaches any
      more gets exactly 0, as from scratch (``count``). A competition-adjusted variant (3SFCA, modified 2SFCA,
      where ``R_j`` depends on the other facilities' weights) would break this and must take the full sum.
      When the edited facilities hold more pairs than the facilities kept, the full sum is taken (it is cheaper).

    ``keep`` returns this call's memo (with ``count``, ``start`` and ``wlength``, for later removals).
    """
    from geoaccess.measures.blocks import _ranges

    supply = np.ascontiguousarray(supply, dtype=np.float64)
    demand = np.ascontiguousarray(demand, dtype=np.float64)
    n_fac = blocks.n_facilities
    n_m = len(blocks.methods)
    if supply.shape != (n_fac,):
        raise InputError(f"supply needs one value per facility ({n_fac}), got {supply.shape}")
    plan = _plan(memo, blocks, supply) if memo is not None and blocks.keys is not None and not keep else None
    count = np.zeros((n_origins, n_m) if keep else (0, 0), dtype=np.int32)
    if plan is None:
        acc = np.zeros((n_origins, n_m))
        facs = np.flatnonzero(supply > 0)
    else:
        acc, count, gone, facs = memo.acc.copy(), plan[0], plan[1], plan[2]
        if gone.size:  # subtract the shares of the memo's facilities that are no longer here
            _sum_into(acc, count, blocks.origin, blocks.minutes, memo.start[gone], memo.wlength[gone],
                      memo.supply[gone], demand, blocks.weight_fns, chunk_pairs, -1.0)  # fmt: skip
            # rounding leaves a residue where the last share left: no facility reaches it, so it is 0, as from scratch
            touched = blocks.origin[_ranges(memo.start[gone], memo.wlength[gone])]
            sub = acc[touched]
            acc[touched] = np.where(count[touched] > 0, np.maximum(sub, 0.0), 0.0)
    if facs.size:
        _sum_into(acc, count, blocks.origin, blocks.minutes, blocks.start[facs], blocks.wlength[facs], supply[facs],
                  demand, blocks.weight_fns, chunk_pairs, 1.0)  # fmt: skip
    out = {name: np.ascontiguousarray(acc[:, m]) for m, name in enumerate(blocks.methods)}
    kept = None
    if keep:
        kept = FcaMemo(list(blocks.keys or []), supply.copy(), acc, count, blocks.start.copy(), blocks.wlength.copy())
    return out, kept


def _plan(memo: FcaMemo, blocks, supply: np.ndarray):
    """How to continue from ``memo``: ``(count, memo positions to subtract, positions here to add)``, or ``None``
    for a sum from scratch."""
    n = len(memo.keys)
    n_fac = blocks.n_facilities
    if n <= n_fac and blocks.keys[:n] == memo.keys and np.array_equal(supply[:n], memo.supply):
        # only additions: continue the sum in the same order as from scratch (the same bits)
        return _NO_COUNT, np.zeros(0, dtype=np.int64), n + np.flatnonzero(supply[n:] > 0)
    if memo.count is None or memo.start is None or memo.wlength is None:
        return None
    if memo.start.size and int((memo.start + memo.wlength).max()) > blocks.origin.size:
        return None  # the memo's pairs are not in these buffers
    # a facility's share depends on its block (key) and supply alone: match them as a multiset
    unmatched: dict[tuple, list[int]] = {}
    for j, key in enumerate(memo.keys):
        if key is not None and memo.supply[j] > 0 and memo.wlength[j] > 0:
            unmatched.setdefault((key, float(memo.supply[j])), []).append(j)
    added = []
    for j, key in enumerate(blocks.keys):
        if key is None or not supply[j] > 0 or blocks.wlength[j] == 0:
            continue
        same = unmatched.get((key, float(supply[j])))
        if same:
            same.pop()
        else:
            added.append(j)
    gone = np.array(sorted(j for js in unmatched.values() for j in js), dtype=np.int64)
    add = np.asarray(added, dtype=np.int64)
    edited_pairs = int(memo.wlength[gone].sum()) + int(blocks.wlength[add].sum())
    if edited_pairs >= int(blocks.wlength[supply > 0].sum()):
        return None  # summing the facilities here from scratch reads fewer pairs
    return memo.count.copy(), gone, add


def _sum_into(acc, count, origin, minutes, start, wlength, supply, demand, weight_fns, chunk_pairs, sign):
    """Add (``sign`` 1) or subtract (-1) the step-2 shares of the facilities with blocks ``start``/``wlength``
    and ``supply``, about ``chunk_pairs`` pairs at a time, in order."""
    from geoaccess.measures.blocks import _ranges, _reach, decay_weights

    ends = np.cumsum(wlength)
    a = 0
    while a < start.size:
        b = max(a + 1, int(np.searchsorted(ends, (ends[a - 1] if a else 0) + chunk_pairs, side="right")))
        wlen, st = wlength[a:b], start[a:b]
        w = decay_weights(weight_fns, minutes[_ranges(st, wlen)])
        wstart = np.zeros(b - a, dtype=np.int64)
        np.cumsum(wlen[:-1], out=wstart[1:])
        reach = _reach(origin, st, wlen, w, wstart, demand)
        _step2_into(acc, origin, st, w, wstart, wlen, reach, supply[a:b], np.arange(b - a), count, sign)
        a = b


@njit(cache=True, nogil=True)
def _step2_into(acc, origin, start, weights, wstart, wlength, reach, supply, facs, count, sign):
    """Step 2 of the family for facilities ``facs`` in order, added into ``acc`` (one row per origin, one column
    per method: a pair's methods update one cache line); ``sign`` -1 subtracts them. ``count`` (one row per origin,
    or none) counts the nonzero shares each origin holds."""
    n_m = weights.shape[1]
    counting = count.shape[0] > 0
    step = 1 if sign > 0 else -1
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
            o = origin[s + k]
            row = acc[o]
            w = weights[ws + k]
            for m in range(n_m):
                share = r[m] * w[m]
                if step > 0:
                    row[m] += share
                else:
                    row[m] -= share
                if counting and share != 0.0:
                    count[o, m] += step
