"""The baseline a scenario is applied to: a study's loaded inputs, its results and its OD pool, held as one object.

A :class:`Baseline` is made once per study (by :meth:`Baseline.of`) and kept by whoever applies scenarios to it:
the study itself (``study.baseline``) for the functions of :mod:`geoaccess.scenarios` and
:mod:`geoaccess.placement`, or a server holding one per study. Its results come from the user cache
(:mod:`geoaccess.cache`) when a former process computed them, else they are computed and stored there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from geoaccess import cache as _cache
from geoaccess.errors import InputError
from geoaccess.measures import TierResult
from geoaccess.study import Inputs, Result, Study

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Baseline:
    """A study's baseline: its inputs, its base :class:`~geoaccess.study.Result` and its OD pool.

    Scenarios read it and never change it: edited inputs and results are new objects, and the study's OD
    pool is sealed after the baseline's own measures, so scenario blocks never enter it.
    """

    study: Study
    result: Result

    @classmethod
    def of(cls, study: Study, result: Result | None = None) -> Baseline:
        """The study's baseline, made once and kept on the study; ``result`` (the study's own run) replaces it."""
        names = study.settings.tier_names
        if result is not None:
            if isinstance(result, Baseline):
                result = result.result
            missing = [t for t in names if t not in result.tiers]
            if missing:
                raise InputError(f"the baseline result lacks tier(s) {missing}; pass the study's own run() result")
            study.baseline = cls(study, result)
        elif study.baseline is None:
            study.baseline = cls(study, _cached_result(study))
        return study.baseline

    @property
    def settings(self):
        return self.study.settings

    @property
    def inputs(self) -> Inputs:
        return self.study.load()

    @property
    def counties(self) -> pd.DataFrame:
        return self.result.counties

    @property
    def tiers(self) -> dict[str, TierResult]:
        """Per tier: minutes per population cell and per node, and the nearest facility."""
        return self.result.tiers

    @property
    def timings(self) -> dict[str, float]:
        return self.result.timings

    def od_pool(self, inp: Inputs | None = None):
        """The baseline's OD pool, or a new pool for ``inp``'s (edited) network."""
        return self.study.od_pool(inp)


def _cached_result(study: Study) -> Result:
    """The baseline from the user cache (results and OD pool, keyed by inputs, settings and code), else computed
    and stored there, so a later ``geoaccess whatif`` or ``optimize`` does not compute it again."""
    key = None
    # the OD pools of off-road trips live in one process only (ODPool.state), and so do the walking-only twins:
    # a study with off-road tiers computes its baseline here
    if study.use_cache and not study.off_road() and study.settings.travel.mode == "road":
        try:
            key = _cache.baseline_key(study.settings)
        except OSError:
            key = None
    got = _cache.load_baseline(key) if key else None
    if got is not None:
        parts, pool_state = got
        study.load()
        study._od_pool = None
        study.od_pool().restore(pool_state)
        tiers = {name: TierResult(name, **arrays) for name, arrays in parts["tiers"].items()}
        log.info("baseline from the cache (%s pairs)", f"{study.od_pool().pairs:,}")
        return Result(parts["counties"], tiers, None, {**parts["timings"], "cached": 1.0}, facilities=parts[
            "facilities"], referrals=parts["referrals"], overall=parts["overall"])  # fmt: skip
    # scenarios read minutes, tables and the OD pool, never the service areas and catchments of the maps (on Shanxi
    # they took longer than the rest of the baseline's measures): a bundle written from this result builds them
    result = study.compute(areas=False)
    if key:
        _cache.save_baseline(key, result, study.od_pool().state())
    return result
