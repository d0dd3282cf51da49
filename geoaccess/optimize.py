"""Facility placement on a cost matrix: maximal covering (MCLP) and p-median.

Both solvers take a dense ``cost`` matrix of minutes, one row per demand point and one column per
candidate site (``inf`` = unreachable), and a ``demand`` weight per row (people). Existing facilities
are folded in rather than modelled as columns:

* ``mclp(..., covered=mask)``: demand already within the threshold of an existing facility counts for
  nothing, so the objective is *people newly within reach*;
* ``pmedian(..., base=minutes)``: each demand point keeps its current minutes unless a chosen site is
  closer, so the objective is the population-weighted minutes after adding the sites.

``method="greedy"`` is a lazy greedy (a priority queue of stale marginal gains, re-evaluated only when
they reach the top; exact for the greedy rule because both objectives are submodular), followed for the
p-median by a vertex-substitution (Teitz–Bart) pass. ``method="exact"`` builds the integer programme with
PySAL spopt (``MCLP.from_cost_matrix`` / ``PMedian.from_cost_matrix``) and solves it with HiGHS
(``highspy``) or CBC (shipped with PuLP); it is meant for small instances (a few hundred candidates and
a few thousand demand points for the MCLP, fewer for the p-median, whose model has one variable per
demand–candidate pair).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import sys
import warnings

import numpy as np

from geoaccess.errors import InputError

METHODS = ("greedy", "exact")


def _check(cost, demand, k, method):
    cost = np.asarray(cost, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64)
    if cost.ndim != 2:
        raise InputError(f"cost must be a 2-D array (demand x candidate minutes), got shape {cost.shape}")
    if demand.shape != (cost.shape[0],):
        raise InputError(f"demand must have one weight per cost row ({cost.shape[0]}), got shape {demand.shape}")
    if np.isnan(cost).any() or (cost < 0).any():
        raise InputError("cost must hold non-negative minutes (inf = unreachable), not NaN or negative values")
    if not np.isfinite(demand).all() or (demand < 0).any():
        raise InputError("demand must hold finite, non-negative weights")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= cost.shape[1]:
        raise InputError(f"k must be an integer between 1 and the number of candidates ({cost.shape[1]}), got {k!r}")
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    return cost, demand, int(k)


def solver_for(name: str | None = None):
    """A PuLP solver: ``"highs"`` (highspy), ``"cbc"`` (shipped with PuLP), or the first available."""
    import pulp

    available = set(pulp.listSolvers(onlyAvailable=True))
    order = {"highs": ["HiGHS"], "cbc": ["PULP_CBC_CMD"], None: ["HiGHS", "PULP_CBC_CMD"]}
    if name not in order:
        raise InputError(f"solver must be 'highs' or 'cbc', got {name!r}")
    for s in order[name]:
        if s in available:
            return pulp.HiGHS(msg=False) if s == "HiGHS" else pulp.PULP_CBC_CMD(msg=False)
    raise InputError(f"no PuLP solver {order[name]} is available; install highspy or pulp with CBC")


@contextlib.contextmanager
def _quiet_pulp():
    # spopt builds its models with PuLP calls that PuLP >= 3.3 marks as deprecated for PuLP 4.0;
    # the warnings are spopt's to fix and say nothing to a planner
    with warnings.catch_warnings(), _no_banner():
        warnings.filterwarnings("ignore", message=r".*PuLP 4\.0", category=DeprecationWarning)
        yield


@contextlib.contextmanager
def _no_banner():
    """Silence file descriptor 1 while a solver runs: HiGHS prints its banner there from C, even with
    ``msg=False``, and the tool's stdout is for its results (``-q`` must mean quiet)."""
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (captured, embedded): nothing to guard
        yield
        return
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


# -- maximal covering ---------------------------------------------------------------------------------
def mclp(
    cost,
    demand,
    k: int,
    threshold: float,
    method: str = "greedy",
    covered=None,
    improve: bool = True,
    restarts: int = 10,
    solver: str | None = None,
):
    """Choose ``k`` candidates that bring the most demand within ``threshold`` minutes.

    Parameters
    ----------
    cost
        Demand x candidate minutes; ``inf`` = unreachable.
    demand
        Weight (people) per demand row.
    k
        Number of sites to choose.
    threshold
        A demand row is covered when some chosen candidate is at most this many minutes away.
    method
        ``"greedy"`` (lazy greedy) or ``"exact"`` (spopt integer programme).
    covered
        Optional boolean mask of rows already covered by existing facilities; they count for nothing.
    improve
        After the greedy, swap a chosen site for an unchosen one while that covers more (Teitz–Bart style).
    restarts
        Also run the greedy forced to open with each of the ``restarts`` best single sites other than its
        own first pick, and keep the best result (the greedy alone can be stuck several per cent short).
    solver
        ``"highs"`` or ``"cbc"`` for the exact method (default: HiGHS when available).

    Returns
    -------
    chosen
        Column indices of the chosen candidates, in the order the greedy picked them (ascending for exact).
    covered_demand
        Demand newly covered by the chosen candidates.
    """
    cost, demand, k = _check(cost, demand, k, method)
    w = demand.copy()
    if covered is not None:
        covered = np.asarray(covered, dtype=bool)
        if covered.shape != w.shape:
            raise InputError(f"covered must have one flag per demand row ({w.size}), got shape {covered.shape}")
        w[covered] = 0.0
    covers = cost <= threshold
    # rows that no candidate covers, or that weigh nothing, cannot change the choice
    rows = np.flatnonzero((w > 0) & covers.any(axis=1))
    sub, ws = covers[rows], w[rows]
    if method == "greedy":
        best_val = -1.0
        for first in _starts(sub.T.astype(np.float64) @ ws, restarts):
            c = _greedy_cover(sub, ws, k, first)
            if improve:
                c = _substitute_cover(sub, ws, c)
            val = float(ws[sub[:, c].any(axis=1)].sum())
            if val > best_val:
                chosen, best_val = c, val
    else:
        chosen = _exact_cover(sub, ws, k, solver)
    chosen = np.asarray(chosen, dtype=np.int64)
    return chosen, float(ws[sub[:, chosen].any(axis=1)].sum()) if rows.size else 0.0


def _greedy_cover(covers: np.ndarray, w: np.ndarray, k: int, first: int | None = None) -> list[int]:
    n_cand = covers.shape[1]
    cols = [np.flatnonzero(covers[:, j]) for j in range(n_cand)]
    done = np.zeros(covers.shape[0], dtype=bool)
    chosen: list[int] = []
    if first is not None:
        chosen.append(first)
        done[cols[first]] = True
    heap = [(-float(w[c].sum()), j) for j, c in enumerate(cols) if j != first]
    heapq.heapify(heap)
    while len(chosen) < k:
        neg, j = heapq.heappop(heap)
        c = cols[j]
        gain = float(w[c][~done[c]].sum())
        # stale gains only shrink (submodularity): a refreshed gain still on top is the true best
        if not heap or gain >= -heap[0][0]:
            chosen.append(j)
            done[c] = True
        else:
            heapq.heappush(heap, (-gain, j))
    return chosen


def _starts(single_gains: np.ndarray, restarts: int) -> list[int | None]:
    """First picks to try: the plain greedy (None), then the next best single sites."""
    order = np.argsort(-single_gains, kind="stable")[1 : 1 + max(0, int(restarts))]
    return [None, *(int(j) for j in order)]


def _substitute_cover(covers: np.ndarray, w: np.ndarray, chosen, max_passes: int = 50) -> list[int]:
    chosen = list(chosen)
    cf = covers.astype(np.float64)
    best_val = float(w[covers[:, chosen].any(axis=1)].sum())
    for _ in range(max_passes):
        out = np.setdiff1d(np.arange(covers.shape[1]), chosen)
        if out.size == 0:
            break
        best = (best_val, None, None)
        for pos in range(len(chosen)):
            rest = [j for q, j in enumerate(chosen) if q != pos]
            kept = covers[:, rest].any(axis=1) if rest else np.zeros(covers.shape[0], dtype=bool)
            vals = float(w[kept].sum()) + (w * ~kept) @ cf[:, out]
            q = int(np.argmax(vals))
            if vals[q] > best[0] + 1e-9 * max(1.0, best[0]):
                best = (float(vals[q]), pos, int(out[q]))
        if best[1] is None:
            break
        chosen[best[1]] = best[2]
        best_val = best[0]
    return chosen


def _exact_cover(covers: np.ndarray, w: np.ndarray, k: int, solver) -> list[int]:
    if covers.shape[0] == 0:
        return list(range(k))
    from spopt.locate import MCLP

    # 0/1 minutes against a radius of 0.5 reproduce the coverage sets exactly
    with _quiet_pulp():
        model = MCLP.from_cost_matrix(np.where(covers, 0.0, 1.0), w, service_radius=0.5, p_facilities=k)
        model.solve(solver_for(solver), results=False)
    return [j for j, x in enumerate(model.fac_vars) if x.value() > 0.5]


# -- p-median -----------------------------------------------------------------------------------------
def pmedian(
    cost,
    demand,
    k: int,
    method: str = "greedy",
    base=None,
    penalty: float | None = None,
    improve: bool = True,
    restarts: int = 10,
    solver: str | None = None,
):
    """Choose ``k`` candidates that minimise population-weighted minutes to the nearest site.

    Parameters
    ----------
    cost
        Demand x candidate minutes; ``inf`` = unreachable.
    demand
        Weight (people) per demand row.
    k
        Number of sites to choose.
    method
        ``"greedy"`` (lazy greedy, then a Teitz–Bart vertex-substitution pass if ``improve``) or
        ``"exact"`` (spopt integer programme).
    base
        Optional current minutes per demand row from existing facilities (``inf`` = none); a row keeps
        them unless a chosen site is closer.
    penalty
        Minutes charged to a row that neither a chosen site nor ``base`` reaches. Default: twice the
        largest finite minutes in ``cost`` and ``base``.
    improve
        Run the vertex-substitution pass after the greedy.
    restarts
        Also run the greedy forced to open with each of the ``restarts`` best single sites, keep the best.
    solver
        ``"highs"`` or ``"cbc"`` for the exact method.

    Returns
    -------
    chosen
        Column indices of the chosen candidates.
    total_minutes
        Sum over rows of demand x minutes to the nearest chosen site (or ``base``), with ``penalty``.
    """
    cost, demand, k = _check(cost, demand, k, method)
    n = cost.shape[0]
    has_base = base is not None
    base = np.full(n, np.inf) if base is None else np.asarray(base, dtype=np.float64)
    if base.shape != (n,) or np.isnan(base).any() or (base < 0).any():
        raise InputError(f"base must hold one non-negative minutes value per demand row ({n})")
    if penalty is None:
        finite = np.concatenate([cost[np.isfinite(cost)], base[np.isfinite(base)], [0.0]])
        penalty = 2.0 * float(finite.max()) + 1.0
    c = np.minimum(cost, penalty)
    b = np.minimum(base, penalty)
    if method == "greedy":
        best_val = np.inf
        gains = (demand[:, None] * np.maximum(b[:, None] - c, 0.0)).sum(axis=0)
        for first in _starts(gains, restarts):
            ch = _greedy_median(c, demand, b, k, first)
            if improve:
                ch = _substitute(c, demand, b, ch)
            val = median_objective(c, demand, b, ch)
            if val < best_val:
                chosen, best_val = ch, val
    else:
        chosen = _exact_median(c, demand, b if has_base else None, k, solver)
    chosen = np.asarray(chosen, dtype=np.int64)
    return chosen, median_objective(c, demand, b, chosen)


def median_objective(cost, demand, base, chosen) -> float:
    """Population-weighted minutes to the nearest of ``chosen`` (or ``base``)."""
    best = np.min(cost[:, chosen], axis=1) if len(chosen) else np.full(cost.shape[0], np.inf)
    return float((demand * np.minimum(best, base)).sum())


def _greedy_median(c, w, b, k, first: int | None = None) -> list[int]:
    cur = b.copy()
    chosen: list[int] = []
    if first is not None:
        chosen.append(first)
        np.minimum(cur, c[:, first], out=cur)
    gains = (w[:, None] * np.maximum(cur[:, None] - c, 0.0)).sum(axis=0)
    heap = [(-float(g), j) for j, g in enumerate(gains) if j != first]
    heapq.heapify(heap)
    while len(chosen) < k:
        _, j = heapq.heappop(heap)
        gain = float((w * np.maximum(cur - c[:, j], 0.0)).sum())
        if not heap or gain >= -heap[0][0]:
            chosen.append(j)
            np.minimum(cur, c[:, j], out=cur)
        else:
            heapq.heappush(heap, (-gain, j))
    return chosen


def _substitute(c, w, b, chosen, max_passes: int = 50) -> list[int]:
    """Teitz–Bart: swap a chosen site for an unchosen one while the best swap lowers the objective."""
    chosen = list(chosen)
    best_obj = median_objective(c, w, b, chosen)
    for _ in range(max_passes):
        out = np.setdiff1d(np.arange(c.shape[1]), chosen)
        if out.size == 0:
            break
        best = (best_obj, None, None)
        for pos in range(len(chosen)):
            rest = [j for q, j in enumerate(chosen) if q != pos]
            keep = np.minimum(b, c[:, rest].min(axis=1)) if rest else b
            objs = (w[:, None] * np.minimum(c[:, out], keep[:, None])).sum(axis=0)
            q = int(np.argmin(objs))
            # a swap must win by more than rounding noise, or the pass could cycle
            if objs[q] < best[0] - 1e-9 * max(1.0, abs(best[0])):
                best = (float(objs[q]), pos, int(out[q]))
        if best[1] is None:
            break
        chosen[best[1]] = best[2]
        best_obj = best[0]
    return chosen


def _exact_median(c, w, b, k, solver) -> list[int]:
    from spopt.locate import PMedian

    n_cand = c.shape[1]
    rows = np.flatnonzero(w > 0)
    cm, wm = c[rows], w[rows]
    predefined = None
    p = k
    if b is not None and rows.size:
        # existing facilities as one extra, always-open column holding each row's current minutes
        cm = np.column_stack([cm, b[rows]])
        predefined = np.zeros(n_cand + 1, dtype=int)
        predefined[-1] = 1
        p = k + 1
    if rows.size == 0:
        return list(range(k))
    with _quiet_pulp():
        model = PMedian.from_cost_matrix(cm, wm, p_facilities=p, predefined_facilities_arr=predefined)
        model.solve(solver_for(solver), results=False)
    return [j for j, x in enumerate(model.fac_vars) if j < n_cand and x.value() > 0.5]
