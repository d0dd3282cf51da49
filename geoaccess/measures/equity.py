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
    order = np.argsort(x, kind="stable")
    return gini_sorted(x[order], w[order], finite_total_mean(x, w))


def finite_total_mean(x: np.ndarray, w: np.ndarray):
    """Weight and weighted mean of the finite values with positive weight (in the given order)."""
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    total = w.sum()
    return total, ((w * x).sum() / total if total > 0 else np.nan)


def gini_sorted(x: np.ndarray, w: np.ndarray, total_mean) -> float:
    """:func:`gini` of values already sorted (stable, ascending), with ``finite_total_mean`` of the unsorted ones."""
    total, mean = total_mean
    if total <= 0 or not mean > 0:
        return np.nan
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    below = np.cumsum(w) - w  # weight of the values sorted before each one
    above = total - below - w
    return float((w * x * (below - above)).sum() / (total * total * mean))
