"""A scenario's edits: the :class:`Scenario`, built from keyword lists or read from a TOML file, checked once.

Every problem of a scenario is listed in one :class:`~geoaccess.errors.ConfigError`, with the entry it is in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geoaccess.config import check_identifier, read_toml
from geoaccess.errors import ConfigError

EDITS = ("add", "remove", "move", "upgrade", "downgrade", "campus", "road_speed", "road_add")
_KEYS: dict[str, tuple[set[str], set[str]]] = {  # required, optional
    "add": ({"lon", "lat", "tier"}, {"beds", "name", "id"}),
    "remove": ({"id"}, set()),
    "move": ({"id", "lon", "lat"}, set()),
    "upgrade": ({"id"}, {"tier", "beds"}),
    "downgrade": ({"id"}, {"tier", "beds"}),
    "campus": ({"of", "lon", "lat"}, {"beds", "name", "id"}),
    "road_speed": ({"route", "kmh"}, set()),
    "road_add": ({"from", "to", "kmh"}, {"oneway", "class"}),
}


# -- the scenario ---------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """A named list of edits; each edit is a plain dict (see ``_KEYS`` for the fields of each kind)."""

    name: str = "scenario"
    title: str = ""
    edits: dict[str, list[dict]] = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return sum(len(v) for v in self.edits.values())

    @property
    def touches_roads(self) -> bool:
        return bool(self.edits.get("road_speed") or self.edits.get("road_add"))

    def describe(self) -> list[str]:
        """One line per edit, in the planner's words."""
        out = []
        for kind in EDITS:
            for e in self.edits.get(kind, []):
                out.append(f"{kind.replace('_', ' ')}: " + ", ".join(f"{k}={v}" for k, v in e.items()))
        return out


def _where(path, kind, i):
    return f"[[{kind}]] entry {i + 1}" if path else f"{kind}[{i}]"


def make_scenario(
    name: str = "scenario",
    *,
    title: str = "",
    path: Path | None = None,
    **edits: Any,
) -> Scenario:
    """Build and check the structure of a scenario from keyword lists (``add=[{...}], remove=["F1"]``)."""
    check_identifier(name, "scenario name", path)
    unknown = sorted(set(edits) - set(EDITS))
    if unknown:
        raise ConfigError(f"unknown scenario edit(s) {unknown}; allowed: {list(EDITS)}", path=path)
    problems = []
    clean: dict[str, list[dict]] = {}
    for kind, items in edits.items():
        if items is None:
            continue
        if isinstance(items, (dict, str)):
            items = [items]
        req, opt = _KEYS[kind]
        out = []
        for i, item in enumerate(items):
            where = _where(path, kind, i)
            if kind == "remove" and isinstance(item, str):
                item = {"id": item}
            if not isinstance(item, dict):
                problems.append(f"{where}: must be a table, got {item!r}")
                continue
            missing = sorted(req - set(item))
            extra = sorted(set(item) - req - opt)
            if missing:
                problems.append(f"{where}: missing key(s) {missing}")
            if extra:
                problems.append(f"{where}: unknown key(s) {extra}; allowed: {sorted(req | opt)}")
            for key in ("lon", "lat", "kmh", "beds"):
                if key in item and (isinstance(item[key], bool) or not isinstance(item[key], (int, float))):
                    problems.append(f"{where}: {key} must be a number, got {item[key]!r}")
                elif key in item and not np.isfinite(item[key]):
                    problems.append(f"{where}: {key} must be a finite number, got {item[key]!r}")
                    item = {k: v for k, v in item.items() if k != key}  # checked: keep it out of the range tests
            if "beds" in item and isinstance(item["beds"], (int, float)) and item["beds"] < 0:
                problems.append(f"{where}: beds must be >= 0, got {item['beds']!r}")
            if "kmh" in item and isinstance(item["kmh"], (int, float)) and not 1 <= item["kmh"] <= 200:
                problems.append(f"{where}: kmh must lie between 1 and 200, got {item['kmh']!r}")
            if "oneway" in item and not isinstance(item["oneway"], bool):
                problems.append(f"{where}: oneway must be true or false, got {item['oneway']!r}")
            for key in ("id", "of", "tier", "class"):
                if key in item and not isinstance(item[key], str):
                    problems.append(f"{where}: {key} must be a string, got {item[key]!r}")
            for key in ("from", "to"):
                if key in item and not _is_lonlat(item[key]):
                    problems.append(f"{where}: {key} must be [lon, lat], got {item[key]!r}")
            if "route" in item and (
                not isinstance(item["route"], list) or len(item["route"]) < 2 or not all(map(_is_lonlat, item["route"]))
            ):
                problems.append(f"{where}: route must be a list of at least two [lon, lat] points")
            out.append(dict(item))
        clean[kind] = out
    if problems:
        raise ConfigError(f"scenario {name!r} has {len(problems)} problem(s)", path=path, problems=problems)
    return Scenario(name=name, title=title or name, edits=clean, path=path)


def _is_lonlat(p) -> bool:
    return (
        isinstance(p, (list, tuple))
        and len(p) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML file::

    [scenario]
    name = "yangqu-campus"
    [[add]]
    lon = 112.67
    lat = 38.06
    tier = "county"
    beds = 300
    [[remove]]
    id = "F0123"
    """
    path = Path(path).resolve()
    data = read_toml(path, "scenario")
    head = data.pop("scenario", {})
    if not isinstance(head, dict):
        raise ConfigError("[scenario] must be a table", path=path)
    bad = sorted(set(head) - {"name", "title"})
    if bad:
        raise ConfigError(f"unknown key(s) {bad} in [scenario]; allowed keys: ['name', 'title']", path=path)
    unknown = sorted(set(data) - set(EDITS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; allowed: [scenario] and {list(EDITS)}", path=path)
    return make_scenario(str(head.get("name", path.stem)), title=str(head.get("title", "")), path=path, **data)


def to_toml(scenario: Scenario) -> str:
    """The scenario as the TOML text :func:`load_scenario` reads (``[scenario]`` then one table per edit)."""
    lines = ["[scenario]", f"name = {_toml_value(scenario.name)}"]
    if scenario.title and scenario.title != scenario.name:
        lines.append(f"title = {_toml_value(scenario.title)}")
    for kind in EDITS:
        for e in scenario.edits.get(kind, []):
            lines += ["", f"[[{kind}]]"] + [f"{k} = {_toml_value(v)}" for k, v in e.items()]
    return "\n".join(lines) + "\n"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    # a basic string: JSON's escapes (\" \\ \n \uXXXX for control characters) are TOML's too
    return json.dumps(str(v), ensure_ascii=False)
