"""Equity of travel times: population-weighted percentiles and the Gini coefficient."""

from __future__ import annotations

import numpy as np


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value whose cumulative weight reaches share ``q`` of the total (inf counts as a value)."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    w_total = weights.sum()
    if w_total <= 0:
        return np.nan
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, q * w_total - 1e-9 * w_total, side="left"))
    return float(values[order][min(k, order.size - 1)])


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted Gini coefficient: ``Σ_i Σ_j w_i w_j |x_i - x_j| / (2 W² μ)``.

    Only finite values count (unreachable people are reported apart); NaN if nothing is left or the
    mean is 0.
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    total = w.sum()
    if total <= 0:
        return np.nan
    mean = (w * x).sum() / total
    if mean <= 0:
        return np.nan
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    below = np.cumsum(w) - w  # weight of the values sorted before each one
    above = total - below - w
    return float((w * x * (below - above)).sum() / (total * total * mean))
