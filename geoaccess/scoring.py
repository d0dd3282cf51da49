"""County scoring: population-weighted measures per county, pass/fail, resource zones with reasons.

Zones come from a small rule table (``[[zones.rules]]`` in the study file; defaults in
:func:`geoaccess.config.default_zone_rules`, reasoning in the README). Rules are tried in order and the
first that matches gives the zone; the last rule takes every county left. Each rule tests columns of
this table (``column op value``), so the reasons a planner reads are the tests that held.
"""

from __future__ import annotations

import operator
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from geoaccess.config import Condition, Measures, Tier, ZoneRule, default_zone_rules
from geoaccess.measures.coverage import coverage_curve
from geoaccess.measures.equity import finite_total_mean, gini_sorted, weighted_quantile

__all__ = [
    "ZONES",
    "classify_zones",
    "condition_target",
    "county_tier_stats",
    "overall_stats",
    "score_counties",
    "weighted_quantile",
    "zone_decision",
]

ZONES = {
    "priority": ("priority allocation", "资源重点配置区"),
    "enrich": ("enrich / upgrade", "资源充实提升区"),
    "adjust": ("adjust / disperse", "资源调整完善区"),
}
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _quantiles(ms: np.ndarray, ws: np.ndarray, qs) -> list[float]:
    """``weighted_quantile`` for several shares at once, of values already sorted (stable, ascending)."""
    total = ws.sum()
    if total <= 0:
        return [np.nan] * len(qs)
    cum = np.cumsum(ws)
    k = np.searchsorted(cum, np.asarray(qs) * total - 1e-9 * total, side="left")
    return [float(ms[min(int(i), ms.size - 1)]) for i in k]


def _stats(m: np.ndarray, w: np.ndarray, threshold: float, percentiles) -> dict:
    tot = w.sum()
    reach = np.isfinite(m)
    within = w[m <= threshold].sum()
    order = np.argsort(m, kind="stable")  # one sort serves the percentiles and the Gini coefficient
    ms, ws = m[order], w[order]
    q = _quantiles(ms, ws, [0.5, 0.9, *(p / 100.0 for p in percentiles)])
    row = {
        "mean_min": float((m[reach] * w[reach]).sum() / w[reach].sum()) if w[reach].sum() > 0 else np.nan,
        "median_min": q[0],
        "p90_min": q[1],
    }
    for p, v in zip(percentiles, q[2:], strict=True):
        row[f"p{p:g}_min"] = v
    row.update(
        {
            "gini": gini_sorted(ms, ws, finite_total_mean(m, w)),
            "share_within": float(within / tot) if tot > 0 else np.nan,
            "people_beyond": float(tot - within),
            "unreachable": float(w[~reach].sum()),
        }
    )
    return row


def county_tier_stats(
    minutes: np.ndarray, people: np.ndarray, county: np.ndarray, n_counties: int, threshold, percentiles=()
) -> pd.DataFrame:
    """Per county: mean (of the reachable), median, p90 and other percentiles, Gini, share within, beyond."""
    order = np.argsort(county, kind="stable")
    bounds = np.searchsorted(county[order], np.arange(n_counties + 1))
    rows = []
    for c in range(n_counties):
        idx = order[bounds[c] : bounds[c + 1]]
        rows.append(_stats(minutes[idx], people[idx], threshold, percentiles))
    return pd.DataFrame(rows)


def overall_stats(people, minutes_by_tier: dict[str, np.ndarray], tiers, percentiles=(10, 25, 75)) -> pd.DataFrame:
    """The study area as a whole, one row: population and each tier's equity statistics."""
    row = {"population": int(round(float(np.sum(people))))}
    with ThreadPoolExecutor(max_workers=max(1, min(len(tiers), os.cpu_count() or 1))) as ex:
        stats = list(ex.map(lambda t: _stats(minutes_by_tier[t.name], people, t.threshold_min, percentiles), tiers))
    for t, st in zip(tiers, stats, strict=True):
        for k, v in st.items():
            row[f"{t.name}_{k}"] = v
    return pd.DataFrame([row])


def _tier_columns(t: Tier, m, people, county, n: int, ms: Measures, reuse):
    """Per-tier statistics (a table) and coverage curve (people reached, rounded) of every county, computing only
    the counties whose minutes differ from ``reuse``'s."""
    base = None if reuse is None else reuse[0].get(t.name)
    if base is None or base.shape != m.shape:
        st = county_tier_stats(m, people, county, n, t.threshold_min, ms.percentiles)
        return st, coverage_curve(m, people, county, n, ms.curve_minutes).round().astype(np.int64)
    table = reuse[1]
    todo = np.unique(county[m != base])
    cols = ["mean_min", "median_min", "p90_min", *(f"p{p:g}_min" for p in ms.percentiles)]
    cols += ["gini", "share_within", "people_beyond", "unreachable"]
    st = pd.DataFrame({c: table[f"{t.name}_{c}"].to_numpy(copy=True) for c in cols})
    curve = np.stack([table[f"{t.name}_reached_{x:g}min"].to_numpy(copy=True) for x in ms.curve_minutes], axis=1)
    if todo.size:
        # the changed counties' cells, in their order (so every sum runs as it would over the whole table)
        remap = np.full(n, -1, dtype=np.int64)
        remap[todo] = np.arange(todo.size)
        sel = np.flatnonzero(remap[county] >= 0)
        sub = remap[county[sel]]
        part = county_tier_stats(m[sel], people[sel], sub, todo.size, t.threshold_min, ms.percentiles)
        for c in cols:
            st.loc[todo, c] = part[c].to_numpy()
        sub_curve = coverage_curve(m[sel], people[sel], sub, todo.size, ms.curve_minutes)
        curve[todo] = sub_curve.round().astype(np.int64)
    return st, curve


def _county_sum(values, county, n):
    return np.bincount(county, weights=np.asarray(values, dtype=np.float64), minlength=n)


def score_counties(
    counties,
    people,
    county,
    minutes_by_tier: dict[str, np.ndarray],
    tiers: tuple[Tier, ...],
    *,
    measures: Measures | None = None,
    served_by_tier: dict[str, np.ndarray] | None = None,
    access_by_method: dict[str, np.ndarray] | None = None,
    beds_by_county: np.ndarray | None = None,
    within_county_share: np.ndarray | None = None,
    referral_by_county: pd.DataFrame | None = None,
    reuse: tuple[dict[str, np.ndarray], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The county table (DESIGN.md): population, per-tier statistics and status, resources, zone, reasons.

    ``reuse`` (per-tier minutes of another run over the same cells, and its table) copies the per-tier statistics
    and coverage curves of counties where no cell's minutes changed, and computes only the others: a what-if that
    touches a few counties of a province scores them alone. The result is the same as computing every county.

    Optional inputs add their columns: ``served_by_tier`` (people served per cell under capacity-aware
    coverage), ``access_by_method`` (accessible beds per person per cell, e.g. ``{"e2sfca": ...}``),
    ``beds_by_county``, ``within_county_share`` and ``referral_by_county`` (columns to copy).
    """
    ms = measures or Measures()
    n = len(counties)
    people = np.asarray(people, dtype=np.float64)
    county = np.asarray(county, dtype=np.intp)  # once: bincount would convert it on every call
    pop_f = _county_sum(people, county, n)
    table = pd.DataFrame(
        {
            "county_code": counties["county_code"].to_numpy(),
            "county_name": counties["county_name"].to_numpy(),
            "population": pop_f.round().astype(np.int64),
        }
    )
    # the tiers' statistics are independent sorts and sums: one thread each (numpy releases the GIL)
    with ThreadPoolExecutor(max_workers=max(1, min(len(tiers), os.cpu_count() or 1))) as ex:
        per_tier = list(
            ex.map(lambda t: _tier_columns(t, minutes_by_tier[t.name], people, county, n, ms, reuse), tiers)
        )
    for t, (st, curve) in zip(tiers, per_tier, strict=True):
        for col in st.columns:
            table[f"{t.name}_{col}"] = st[col].to_numpy()
        share = table[f"{t.name}_share_within"]
        table[f"{t.name}_status"] = np.where(
            share.isna(), "no people", np.where(share >= t.target_share, "pass", "fail")
        )
        for k, minutes in enumerate(ms.curve_minutes):
            table[f"{t.name}_reached_{minutes:g}min"] = curve[:, k]
        if served_by_tier and t.name in served_by_tier:
            served = _county_sum(served_by_tier[t.name], county, n).round().astype(np.int64)
            # rounded once, so served + unserved equals the county population to the person
            table[f"{t.name}_served"] = served
            table[f"{t.name}_unserved"] = table["population"] - served
            with np.errstate(invalid="ignore", divide="ignore"):
                table[f"{t.name}_unserved_share"] = table[f"{t.name}_unserved"] / table["population"]
    if beds_by_county is not None:
        table["beds"] = np.asarray(beds_by_county, dtype=np.float64).round().astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["beds_per_1000"] = 1000.0 * table["beds"] / pop_f
    for method, acc in (access_by_method or {}).items():
        with np.errstate(invalid="ignore", divide="ignore"):
            col = "accessible_beds_per_1000" if method == "e2sfca" else f"accessible_beds_{method}_per_1000"
            table[col] = 1000.0 * _county_sum(acc * people, county, n) / pop_f
    if within_county_share is not None:
        table["within_county_share"] = within_county_share
        exempt = table["county_name"].astype(str).str.endswith(tuple(ms.share_exempt_suffixes)).to_numpy()
        table["within_county_status"] = np.where(
            np.isnan(within_county_share),
            "no people",
            np.where(exempt, "not scored (district)", np.where(within_county_share >= ms.share_target, "pass", "fail")),
        )
    if referral_by_county is not None:
        for col in referral_by_county.columns:
            table[col] = referral_by_county[col].to_numpy()
    table["tiers_failed"] = sum((table[f"{t.name}_status"] == "fail").astype(int) for t in tiers)
    rules = ms.zone_rules or default_zone_rules([t.name for t in tiers])
    zone, reasons = classify_zones(table, tiers, rules, ms)
    table["zone"] = zone
    table["zone_zh"] = [ZONES[z][1] for z in zone]
    table["reasons"] = reasons
    return table


def _target(cond: Condition, tiers, ms: Measures) -> float:
    if cond.value != "target":
        return float(cond.value)
    if cond.column == "within_county_share":
        return ms.share_target
    return next(t.target_share for t in tiers if cond.column == f"{t.name}_share_within")


def _holds(cond: Condition, row, tiers, ms) -> bool:
    if cond.column not in row.index:
        return False  # a measure that was not computed cannot trigger a rule
    if cond.column == "within_county_share" and row.get("within_county_status") != "fail" and cond.op in "<<=":
        return False  # districts are not held to the within-county target
    v = row[cond.column]
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return False
    return bool(_OPS[cond.op](float(v), _target(cond, tiers, ms)))


def _describe(cond: Condition, row, tiers, ms, unmet: bool = False) -> str:
    """The condition in a planner's words, with the county's value."""
    col, v = cond.column, row.get(cond.column, np.nan)
    x = _target(cond, tiers, ms)
    for t in tiers:
        if col == f"{t.name}_share_within":
            return f"{t.name}: {v:.0%} within {t.threshold_min:g} min (target {x:.0%})"
    if col == "tiers_failed":
        failing = [t.name for t in tiers if row[f"{t.name}_status"] == "fail"]
        return f"fails {len(failing)} tiers ({', '.join(failing)})" if failing else "meets every tier's target"
    if col == "within_county_share":
        return f"within-county service share {v:.0%} (target {x:.0%})"
    if col in ("beds_per_1000", "accessible_beds_per_1000"):
        what = "beds" if col == "beds_per_1000" else "accessible beds (E2SFCA)"
        return f"{v:.1f} {what} per 1000 ({'needs ' if unmet else ''}{cond.op} {x:g})"
    return f"{col} {v:.3g} ({'needs ' if unmet else ''}{cond.op} {x:g})"


def classify_zones(table: pd.DataFrame, tiers: tuple[Tier, ...], rules: tuple[ZoneRule, ...] = (), ms=None):
    """Zone key per county and a readable reason, from the first rule that matches."""
    ms = ms or Measures()
    rules = rules or default_zone_rules([t.name for t in tiers])
    zones, reasons = [], []
    for _, row in table.iterrows():
        i, held = zone_decision(row, tiers, rules, ms)
        rule = rules[i]
        unmet = not (rule.any or rule.all)
        zones.append(rule.zone)
        reasons.append("; ".join(dict.fromkeys(_describe(c, row, tiers, ms, unmet) for c in held)) or "no shortfall")
    return zones, reasons


def zone_decision(row, tiers: tuple[Tier, ...], rules: tuple[ZoneRule, ...], ms=None) -> tuple[int, list[Condition]]:
    """Which rule gives a county (a row of the county table) its zone, and the conditions that decided it.

    For an ``any`` rule, the conditions that held; for an ``all`` rule, all of them; for the last rule (no
    conditions), the shortfalls: failing tiers, then unmet conditions of earlier ``all`` rules.
    """
    ms = ms or Measures()
    for i, rule in enumerate(rules):
        if rule.any:
            held = [c for c in rule.any if _holds(c, row, tiers, ms)]
            if held:
                return i, held
        elif rule.all:
            if all(_holds(c, row, tiers, ms) for c in rule.all):
                return i, list(rule.all)
        else:
            return i, _shortfalls(row, tiers, rules[:i], ms)
    raise ValueError("the last zone rule must have no conditions")


def condition_target(cond: Condition, tiers: tuple[Tier, ...], ms=None) -> float:
    """The number a condition compares with (a tier's or the within-county target for ``"target"``)."""
    return _target(cond, tiers, ms or Measures())


def _shortfalls(row, tiers, earlier: tuple[ZoneRule, ...], ms) -> list[Condition]:
    """Why a county fell through to the last rule: failing tiers, then unmet conditions of earlier all-rules."""
    out = [Condition(f"{t.name}_share_within", "<", "target") for t in tiers if row[f"{t.name}_status"] == "fail"]
    for rule in earlier:
        for c in rule.all:
            if c.column != "tiers_failed" and not _holds(c, row, tiers, ms):
                out.append(c)
    return out
