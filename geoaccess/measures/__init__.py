"""Measures per demand point and per facility: nearest minutes, coverage, 2SFCA family, referral, flows.

Every measure is a plain function over arrays or a long OD table (``origin, destination, minutes``);
``od_table`` builds that table from the path engine.
"""

from geoaccess.measures.blocks import ODBlocks, ODPool
from geoaccess.measures.coverage import CapacityCoverage, capacity_coverage, capacity_coverage_blocks, coverage_curve
from geoaccess.measures.equity import gini, weighted_quantile
from geoaccess.measures.fca import e2sfca, fca_blocks, fca_many, gaussian, gravity, power, step, two_sfca
from geoaccess.measures.flows import assign_demand, huff_shares, nearest_share, within_county_share
from geoaccess.measures.nearest import TierResult, nearest_facility, serving_mask
from geoaccess.measures.od import od_table
from geoaccess.measures.referral import facility_levels, referral_table

__all__ = [
    "CapacityCoverage",
    "ODBlocks",
    "ODPool",
    "TierResult",
    "assign_demand",
    "capacity_coverage",
    "capacity_coverage_blocks",
    "coverage_curve",
    "e2sfca",
    "facility_levels",
    "fca_blocks",
    "fca_many",
    "gaussian",
    "gini",
    "gravity",
    "huff_shares",
    "nearest_facility",
    "nearest_share",
    "od_table",
    "power",
    "referral_table",
    "serving_mask",
    "step",
    "two_sfca",
    "weighted_quantile",
    "within_county_share",
]
