"""Where demand goes: assignment to facilities (nearest or Huff) and the within-county service share.

The share of a county's demand served by facilities inside the county is the planner's proxy for the
within-county treatment rate (县域内就诊率; national target about 90 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit


def huff_shares(od: pd.DataFrame, attractiveness: np.ndarray, beta: float = 2.0, min_minutes: float = 1.0):
    """Huff probabilities per OD pair: ``A_j t_ij^-β / Σ_k A_k t_ik^-β`` over the facilities in the table.

    Returns an array aligned with ``od``'s rows; origins whose facilities all have zero attractiveness
    get zero.
    """
    o = od["origin"].to_numpy()
    d = od["destination"].to_numpy()
    t = np.maximum(od["minutes"].to_numpy(dtype=np.float64), min_minutes)
    a = np.asarray(attractiveness, dtype=np.float64)[d] * t**-beta
    n = int(o.max()) + 1 if o.size else 0
    tot = np.bincount(o, weights=a, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot[o] > 0, a / tot[o], 0.0)


def assign_demand(
    people: np.ndarray,
    nearest: np.ndarray,
    od: pd.DataFrame | None = None,
    attractiveness: np.ndarray | None = None,
    beta: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long assignment (origin, facility, people): Huff over ``od`` where given, else the nearest facility.

    Demand points with no pair in ``od`` (or all-zero attractiveness) go to their ``nearest`` facility;
    points with no facility at all (``nearest == -1``) are left out. People are conserved per point.
    """
    people = np.asarray(people, dtype=np.float64)
    nearest = np.asarray(nearest)
    if od is None or len(od) == 0 or attractiveness is None:
        ok = nearest >= 0
        pts = np.flatnonzero(ok)
        return pts, nearest[ok], people[ok]
    p = huff_shares(od, attractiveness, beta)
    o = od["origin"].to_numpy()
    has = np.zeros(people.size, dtype=bool)
    has[o[p > 0]] = True
    rest = np.flatnonzero(~has & (nearest >= 0))
    keep = p > 0
    return (
        np.concatenate([o[keep], rest]),
        np.concatenate([od["destination"].to_numpy()[keep], nearest[rest]]),
        np.concatenate([people[o[keep]] * p[keep], people[rest]]),
    )


def within_county_share(
    origin: np.ndarray,
    facility: np.ndarray,
    people: np.ndarray,
    demand_county: np.ndarray,
    facility_county: np.ndarray,
    n_counties: int,
) -> np.ndarray:
    """Share of each county's assigned demand served by facilities in the same county (NaN if none)."""
    c = np.asarray(demand_county)[origin]
    inside = np.asarray(facility_county)[facility] == c
    tot = np.bincount(c, weights=people, minlength=n_counties)
    ins = np.bincount(c[inside], weights=people[inside], minlength=n_counties)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, ins / tot, np.nan)


@njit(cache=True, nogil=True)
def _nearest_sums(facility, people, cell_county, facility_county, n_facilities, n_counties):
    served = np.zeros(n_facilities)
    tot = np.zeros(n_counties)
    ins = np.zeros(n_counties)
    for i in range(facility.size):
        f = facility[i]
        if f < 0:
            continue
        c = cell_county[i]
        w = people[i]
        served[f] += w
        tot[c] += w
        if facility_county[f] == c:
            ins[c] += w
    return served, tot, ins


def nearest_share(
    nearest: np.ndarray, people: np.ndarray, demand_county: np.ndarray, facility_county: np.ndarray, n_counties: int
) -> tuple[np.ndarray, np.ndarray]:
    """People per facility and the within-county share per county, every cell assigned to its ``nearest`` facility.

    The same numbers as :func:`assign_demand` (without an OD table) then :func:`within_county_share` and a
    ``bincount`` of the assigned people, bit for bit (each sum adds the cells in the same order), in one pass over
    the cells without the intermediate arrays: a what-if on a province scores it on every click.
    """
    facility_county = np.asarray(facility_county, dtype=np.int64)
    served, tot, ins = _nearest_sums(
        np.asarray(nearest),
        np.asarray(people, dtype=np.float64),
        np.asarray(demand_county),
        facility_county,
        facility_county.size,
        int(n_counties),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return served, np.where(tot > 0, ins / tot, np.nan)
