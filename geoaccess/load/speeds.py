"""Speed profiles: road class -> km/h, one-way rules and ``maxspeed`` parsing.

Defaults follow DESIGN.md (driving): OSM classes, with links at about 60 % of their class, and Chinese
road classes as used in national and local GIS layers:

=================================  ======  ==========================================================
class                              km/h    note
=================================  ======  ==========================================================
高速公路 / 高速 (expressway)        100     DESIGN.md
国道 (national road), code ``G``    70      DESIGN.md
省道 (provincial road), ``S``       60      DESIGN.md
县道 (county road), ``X``           45      DESIGN.md
乡道 (township road), ``Y``         35      DESIGN.md
村道 (village road), ``C``          25      DESIGN.md
快速路 (urban expressway)           60      planning assumption: CJJ 37 design speed 60-100, urban traffic
主干路 (urban arterial)             45      planning assumption: CJJ 37 design speed 40-60
次干路 (urban collector)            35      planning assumption: CJJ 37 design speed 30-50
支路 (urban local street)           25      planning assumption: CJJ 37 design speed 20-40
=================================  ======  ==========================================================

Route numbers work too (:func:`class_kmh`): ``G`` or ``S`` with 1-2 or 4 digits is an expressway
(``G5``, ``S20``, ``G2001``: 100), ``G``/``S`` with 3 digits a national / provincial road (``G108``: 70,
``S218``: 60), and ``X``/``Y``/``C`` with digits the county / township / village road of that letter.
A study can change any value or add classes (``[network] speeds``).
"""

from __future__ import annotations

import re

import numpy as np

DRIVE_KMH: dict[str, float] = {
    "motorway": 100.0,
    "trunk": 70.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "unclassified": 30.0,
    "residential": 25.0,
    "living_street": 10.0,
    "road": 25.0,
    "service": 15.0,
    "track": 15.0,
    "motorway_link": 60.0,
    "trunk_link": 42.0,
    "primary_link": 36.0,
    "secondary_link": 30.0,
    "tertiary_link": 24.0,
}

CN_DRIVE_KMH: dict[str, float] = {
    "高速公路": 100.0,
    "高速": 100.0,
    "国道": 70.0,
    "省道": 60.0,
    "县道": 45.0,
    "乡道": 35.0,
    "村道": 25.0,
    "快速路": 60.0,
    "城市快速路": 60.0,
    "主干路": 45.0,
    "主干道": 45.0,
    "次干路": 35.0,
    "次干道": 35.0,
    "支路": 25.0,
    "G": 70.0,
    "S": 60.0,
    "X": 45.0,
    "Y": 35.0,
    "C": 25.0,
}
DRIVE_KMH.update(CN_DRIVE_KMH)

WALK_KMH_ON_ROAD: dict[str, float] = {k: 4.5 for k in DRIVE_KMH} | {
    "footway": 4.5,
    "path": 4.5,
    "pedestrian": 4.5,
    "steps": 2.0,
    "cycleway": 4.5,
}
# pedestrians may not use motorways
for _k in ("motorway", "motorway_link", "高速公路", "高速", "快速路", "城市快速路"):
    WALK_KMH_ON_ROAD.pop(_k)

PROFILES = {"drive": DRIVE_KMH, "walk": WALK_KMH_ON_ROAD}

# maxspeed outside this range is treated as a tagging error and the class default is used
SANE_KMH = (5.0, 150.0)

_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*$", re.IGNORECASE)


def parse_maxspeed(value: str | None) -> float:
    """``maxspeed`` tag to km/h, or NaN when absent, non-numeric (``"signals"``) or not sane."""
    if not value:
        return np.nan
    m = _NUM.match(str(value).split(";")[0])
    if not m:
        return np.nan
    v = float(m.group(1))
    if m.group(2) and m.group(2).lower() == "mph":
        v *= 1.609344
    return v if SANE_KMH[0] <= v <= SANE_KMH[1] else np.nan


def oneway_code(highway: str, oneway: str | None, junction: str | None) -> int:
    """1: only along the way's node order; -1: only against it; 0: both directions."""
    o = (oneway or "").strip().lower()
    if o in ("yes", "true", "1"):
        return 1
    if o in ("-1", "reverse"):
        return -1
    if o in ("no", "false", "0"):
        return 0
    if highway in ("motorway", "motorway_link") or (junction or "").lower() in ("roundabout", "circular"):
        return 1
    return 0


def profile_table(profile: str | dict, overrides: dict | None = None) -> dict[str, float]:
    """Class -> km/h for a named profile (or a dict), with a study's ``overrides`` applied on top."""
    if isinstance(profile, dict):
        table = {str(k): float(v) for k, v in profile.items()}
    else:
        try:
            table = dict(PROFILES[profile])
        except KeyError:
            raise ValueError(f"unknown profile {profile!r}; use one of {sorted(PROFILES)} or a dict") from None
    for k, v in (overrides or {}).items():
        table[str(k).strip()] = float(v)
    return table


_ROUTE = re.compile(r"^\s*([GSXYCgsxyc])\s*(\d{1,4})\s*$")
_EXPRESSWAY_ALIASES = ("高速公路", "高速")


def class_kmh(value, table: dict[str, float]) -> tuple[float, str | None]:
    """Speed (km/h) of a road class value and the class it was recognised as, or ``(nan, None)``.

    Tries the value as written, then lower case (OSM values), then as a Chinese route number.
    """
    if value is None:
        return np.nan, None
    v = str(value).strip()
    if not v or v.lower() in ("nan", "none"):
        return np.nan, None
    if v in table:
        return table[v], v
    lv = v.lower()
    if lv in table:
        return table[lv], lv
    m = _ROUTE.match(v)
    if m:
        letter, digits = m.group(1).upper(), m.group(2)
        if letter in "GS" and len(digits) != 3:
            for k in _EXPRESSWAY_ALIASES:
                if k in table:
                    return table[k], k
        if letter in table:
            return table[letter], letter
    return np.nan, None


_ONEWAY_CN = {"双向": 0, "正向": 1, "单向": 1, "顺向": 1, "反向": -1, "逆向": -1}


def oneway_value(value) -> str | None:
    """Normalise a one-way attribute (OSM style, booleans, Chinese 双向/正向/反向) to OSM's yes/no/-1."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    v = str(value).strip()
    if v in _ONEWAY_CN:
        return {0: "no", 1: "yes", -1: "-1"}[_ONEWAY_CN[v]]
    lv = v.lower()
    if lv in ("yes", "true", "1", "t", "y", "ft"):
        return "yes"
    if lv in ("-1", "reverse", "tf"):
        return "-1"
    if lv in ("no", "false", "0", "f", "n", "b"):
        return "no"
    return None


_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(?:"((?:[^"\\]|\\.)*)"|NULL)')


def parse_hstore(text) -> dict[str, str]:
    """Parse ogr2ogr's ``other_tags`` hstore text (``"oneway"=>"yes","lanes"=>"2"``) into a dict."""
    if not isinstance(text, str) or "=>" not in text:
        return {}
    return {k: (v or "") for k, v in _HSTORE.findall(text)}
