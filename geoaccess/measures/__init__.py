"""Measures per demand point and per facility: nearest minutes, coverage, 2SFCA family, referral, flows.

Every measure is a plain function over arrays or a long OD table (``origin, destination, minutes``);
``od_table`` builds that table from the path engine.
"""

from geoaccess.measures.nearest import TierResult, nearest_facility, serving_mask
from geoaccess.measures.od import od_table

__all__ = ["TierResult", "nearest_facility", "od_table", "serving_mask"]
