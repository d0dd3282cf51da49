"""Speed profiles: road class -> km/h, one-way rules and ``maxspeed`` parsing.

Defaults follow DESIGN.md (driving): OSM classes, with links at about 60 % of their class.
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

WALK_KMH_ON_ROAD: dict[str, float] = {k: 4.5 for k in DRIVE_KMH} | {
    "footway": 4.5,
    "path": 4.5,
    "pedestrian": 4.5,
    "steps": 2.0,
    "cycleway": 4.5,
}
# pedestrians may not use motorways
for _k in ("motorway", "motorway_link"):
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


def profile_table(profile: str | dict) -> dict[str, float]:
    if isinstance(profile, dict):
        return {str(k): float(v) for k, v in profile.items()}
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; use one of {sorted(PROFILES)} or a dict") from None
