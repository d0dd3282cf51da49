"""Origin–destination tables between demand points and facilities, within a cutoff.

Pairs come from the path engine's bounded searches (:meth:`geoaccess.trip.Trip.pairs`): one search per facility,
spread over the cores, each reading the demand points on the links it reaches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoaccess.measures.blocks import _ranges
from geoaccess.network import Network, Snap
from geoaccess.trip import Trip

OD_COLUMNS = ("origin", "destination", "minutes")


def od_table(
    net: Network,
    facility_snap: Snap,
    demand_snap: Snap,
    cutoff: float | np.ndarray,
    facilities: np.ndarray | None = None,
    *,
    to_facility: bool = True,
    walk_kmh: float = 4.5,
) -> pd.DataFrame:
    """Door-to-door minutes between demand points and facilities, for pairs within the cutoff.

    Parameters
    ----------
    net, facility_snap, demand_snap
        The network and where facilities and demand points meet it.
    cutoff
        Minutes; one value, or one per facility in ``facilities``.
    facilities
        Row positions (in ``facility_snap``) of the facilities to include; all by default.
    to_facility
        Patients travel to the facility (the default) or from it.

    Returns
    -------
    DataFrame
        ``origin`` (demand point position), ``destination`` (facility position), ``minutes``; pairs
        beyond the cutoff or unreachable are absent. Sorted by destination (in ``facilities`` order), then
        minutes, then origin.
    """
    fac = np.arange(len(facility_snap)) if facilities is None else np.asarray(facilities, dtype=np.int64)
    cut = np.broadcast_to(np.asarray(cutoff, dtype=np.float64), fac.shape)
    trip = Trip(net, walk_kmh, to_facility)
    pairs = trip.pairs(facility_snap[fac], trip.point_index(demand_snap), cut)
    idx = _ranges(pairs.start, pairs.count)  # facility by facility
    return pd.DataFrame(
        {
            "origin": pairs.point[idx],
            "destination": np.repeat(fac.astype(np.int32), pairs.count),
            "minutes": pairs.minutes[idx],
        },
        copy=False,
    )
