"""County scoring: population-weighted minutes, shares within thresholds, pass/fail, resource zones.

Zone rules (first version, documented in the README):

* **priority allocation** (资源重点配置区): the county fails the target of the county-hospital tier, or
  fails the targets of two or more tiers;
* **enrich / upgrade** (资源充实提升区): it fails exactly one tier's target (not the county tier);
* **adjust / disperse** (资源调整完善区): it meets every tier's target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoaccess.config import Tier

ZONES = {
    "priority": ("priority allocation", "资源重点配置区"),
    "enrich": ("enrich / upgrade", "资源充实提升区"),
    "adjust": ("adjust / disperse", "资源调整完善区"),
}


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value whose cumulative weight reaches share ``q`` of the total (inf counts as a value)."""
    w_total = weights.sum()
    if w_total <= 0:
        return np.nan
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, q * w_total - 1e-9 * w_total, side="left"))
    return float(values[order][min(k, order.size - 1)])


def county_tier_stats(minutes: np.ndarray, people: np.ndarray, county: np.ndarray, n_counties: int, threshold):
    """Per county: mean (of the reachable), median, p90 minutes, share within threshold, people beyond."""
    rows = []
    order = np.argsort(county, kind="stable")
    bounds = np.searchsorted(county[order], np.arange(n_counties + 1))
    for c in range(n_counties):
        idx = order[bounds[c] : bounds[c + 1]]
        m, w = minutes[idx], people[idx]
        tot = w.sum()
        reach = np.isfinite(m)
        within = w[m <= threshold].sum()
        rows.append(
            {
                "mean_min": float((m[reach] * w[reach]).sum() / w[reach].sum()) if w[reach].sum() > 0 else np.nan,
                "median_min": weighted_quantile(m, w, 0.5),
                "p90_min": weighted_quantile(m, w, 0.9),
                "share_within": float(within / tot) if tot > 0 else np.nan,
                "people_beyond": float(tot - within),
                "unreachable": float(w[~reach].sum()),
            }
        )
    return pd.DataFrame(rows)


def score_counties(counties, people, county, minutes_by_tier: dict[str, np.ndarray], tiers: tuple[Tier, ...]):
    """The county table: population, per-tier statistics and status, zone and its reasons."""
    n = len(counties)
    table = pd.DataFrame(
        {
            "county_code": counties["county_code"].to_numpy(),
            "county_name": counties["county_name"].to_numpy(),
            "population": np.bincount(county, weights=people, minlength=n).round().astype(np.int64),
        }
    )
    for t in tiers:
        st = county_tier_stats(minutes_by_tier[t.name], people, county, n, t.threshold_min)
        for col in st.columns:
            table[f"{t.name}_{col}"] = st[col].to_numpy()
        share = table[f"{t.name}_share_within"]
        table[f"{t.name}_status"] = np.where(
            share.isna(), "no people", np.where(share >= t.target_share, "pass", "fail")
        )
    table["tiers_failed"] = sum((table[f"{t.name}_status"] == "fail").astype(int) for t in tiers)
    zone, reasons = classify_zones(table, tiers)
    table["zone"] = zone
    table["zone_zh"] = [ZONES[z][1] for z in zone]
    table["reasons"] = reasons
    return table


def classify_zones(table: pd.DataFrame, tiers: tuple[Tier, ...]):
    """Zone key per county and a readable reason, from the rules in this module's docstring."""
    county_tier = "county" if any(t.name == "county" for t in tiers) else None
    zones, reasons = [], []
    for _, row in table.iterrows():
        failing = [t for t in tiers if row[f"{t.name}_status"] == "fail"]
        parts = [
            f"{t.name}: {row[f'{t.name}_share_within']:.0%} within {t.threshold_min:g} min "
            f"(target {t.target_share:.0%})"
            for t in failing
        ]
        if not failing:
            zones.append("adjust")
            reasons.append("meets every tier's target")
        elif len(failing) >= 2 or (county_tier and any(t.name == county_tier for t in failing)):
            zones.append("priority")
            reasons.append("; ".join(parts))
        else:
            zones.append("enrich")
            reasons.append("; ".join(parts))
    return zones, reasons
