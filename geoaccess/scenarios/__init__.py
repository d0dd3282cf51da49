"""What-if scenarios: edits applied to a study's baseline, recomputed incrementally, compared.

A scenario adds, removes, moves, upgrades or downgrades facilities, adds a campus to an existing
hospital (一院多区: the campus takes a share of the hospital's beds), changes the speed of roads along a
route, or adds a road link. It reuses the baseline's loaded inputs (network, snapped population) and
its per-tier results, held in a :class:`Baseline`. Tiers that travel off-road (``[travel]``) take facility edits
too, recomputed over the study's terrain (:mod:`~geoaccess.scenarios.offroad`), road speed edits, and added roads (the
terrain joined to them: :func:`geoaccess.load.terrain.with_added_roads`).

Modules: :mod:`~geoaccess.scenarios.edits` (the scenario and its checks), :mod:`~geoaccess.scenarios.baseline`,
:mod:`~geoaccess.scenarios.apply` (edited facilities, roads and tiers), :mod:`~geoaccess.scenarios.run`
(:func:`whatif`, :func:`compare_tables`) and :mod:`~geoaccess.scenarios.write` (the compare bundle). This
package depends on :mod:`geoaccess.study`, never the reverse; placement is :mod:`geoaccess.placement`.
"""

from geoaccess.scenarios.baseline import Baseline
from geoaccess.scenarios.edits import EDITS, Scenario, load_scenario, make_scenario, to_toml
from geoaccess.scenarios.run import ScenarioResult, compare_tables, whatif
from geoaccess.scenarios.write import write_scenario

__all__ = [
    "EDITS",
    "Baseline",
    "Scenario",
    "ScenarioResult",
    "compare_tables",
    "load_scenario",
    "make_scenario",
    "to_toml",
    "whatif",
    "write_scenario",
]
