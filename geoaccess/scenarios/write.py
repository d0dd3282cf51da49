"""Writing a scenario's before/after bundle (``compare.csv``, ``compare.html``, the map) beside the study's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geoaccess.config import synthetic_note
from geoaccess.errors import InputError
from geoaccess.outputs import i18n
from geoaccess.outputs._atomic import output_lock, replace_folder
from geoaccess.outputs.compare import write_compare
from geoaccess.scenarios.baseline import Baseline
from geoaccess.scenarios.edits import to_toml
from geoaccess.scenarios.run import ScenarioResult
from geoaccess.study import map_context


def write_compare_pages(base: Baseline, out: Path, title: str, compare: pd.DataFrame, scenario: ScenarioResult):
    """The before/after pages of a scenario or a placement (``compare.csv``, ``compare.html``, the map)."""
    inp = base.inputs
    s = base.settings
    return write_compare(
        out,
        title=f"{s.title}: {title}",
        compare=compare,
        scenario=scenario,
        base=base.result,
        counties=inp.counties,
        population=inp.population,
        facilities_before=inp.facilities,
        synthetic_note=synthetic_note(s),
        ctx=map_context(s, inp.counties["county_code"]),
        network_before=inp.network,
    )


def language(base: Baseline) -> str:
    """The study's page language ("zh" or "en")."""
    return i18n.pick_language(base.settings.maps.language, base.inputs.counties["county_code"])


def _whatif_title(base: Baseline, result: ScenarioResult) -> str:
    return f"{'情景分析' if language(base) == 'zh' else 'what if'} — {result.scenario.title}"


def scenario_folder(base: Baseline, name: str) -> Path:
    """``<study output>/scenarios/<name>``, refused when the name would lead anywhere else."""
    root = Path(base.settings.output).resolve()
    out = (root / "scenarios" / name).resolve()
    if out == root or root / "scenarios" not in out.parents:
        raise InputError(f"scenario name {name!r} would write outside {root / 'scenarios'}")
    return out


def write_scenario(base: Baseline, result: ScenarioResult) -> list[Path]:
    """Write ``compare.csv``, ``compare.html``, the map and ``scenario.toml`` (the edits, as the CLI reads them).

    They go to ``<study output>/scenarios/<scenario name>/``; the baseline's files are never touched.
    """
    root = Path(base.settings.output).resolve()
    out = scenario_folder(base, result.name)
    # the folder is replaced whole: a failed write leaves the scenario's previous pages as they were; the
    # baseline's lock too, as a baseline run swaps the folder this one lies in
    with output_lock(root), replace_folder(out) as tmp:
        files = list(write_compare_pages(base, tmp, _whatif_title(base, result), result.compare(base), result))
        toml = tmp / "scenario.toml"
        toml.write_text(to_toml(result.scenario), encoding="utf-8")
        files.append(toml)
    files = [out / f.relative_to(tmp) for f in files]
    result.output = out
    result.files = files
    return files
