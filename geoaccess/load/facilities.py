"""Facilities: a CSV with lon/lat (WGS84) and id, name, tier, beds."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoaccess.errors import InputError

REQUIRED = ["id", "name", "tier", "beds", "lon", "lat"]


def read_facilities(path: str | Path, tiers: list[str]) -> gpd.GeoDataFrame:
    """Read and validate a facilities CSV; every bad row is reported in one error.

    Returns a GeoDataFrame in EPSG:4326 with ``id`` (str), ``name``, ``tier``, ``beds`` (float),
    ``tier_rank`` (0 = lowest tier) and any extra columns of the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("facilities file not found; check [inputs] facilities in the study file", path=path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read as a UTF-8 CSV ({exc})", path=path) from exc
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing}; the file needs columns {REQUIRED} (found {list(df.columns)})",
            path=path,
        )
    problems: list[str] = []
    rank = {t: i for i, t in enumerate(tiers)}
    ids = df["id"].str.strip()
    lon = pd.to_numeric(df["lon"].str.strip(), errors="coerce")
    lat = pd.to_numeric(df["lat"].str.strip(), errors="coerce")
    beds = pd.to_numeric(df["beds"].str.strip().replace("", "0"), errors="coerce")
    tier = df["tier"].str.strip()
    seen: dict[str, int] = {}
    for i in range(len(df)):
        line = i + 2  # header is line 1
        row = f"line {line} (id {ids.iat[i]!r})"
        if not ids.iat[i]:
            problems.append(f"line {line}: empty id")
        elif ids.iat[i] in seen:
            problems.append(f"{row}: duplicate id, first used on line {seen[ids.iat[i]]}")
        else:
            seen[ids.iat[i]] = line
        if tier.iat[i] not in rank:
            problems.append(f"{row}: unknown tier {tier.iat[i]!r}; the study's tiers are {tiers}")
        if not np.isfinite(lon.iat[i]) or not np.isfinite(lat.iat[i]):
            problems.append(f"{row}: missing or non-numeric lon/lat ({df['lon'].iat[i]!r}, {df['lat'].iat[i]!r})")
        elif not (-180 <= lon.iat[i] <= 180 and -90 <= lat.iat[i] <= 90):
            problems.append(f"{row}: lon/lat ({lon.iat[i]}, {lat.iat[i]}) is not a WGS84 coordinate")
        if not np.isfinite(beds.iat[i]) or beds.iat[i] < 0:
            problems.append(f"{row}: beds must be a number >= 0, got {df['beds'].iat[i]!r}")
    if problems:
        raise InputError(
            f"{len(problems)} problem(s) in the facilities file; fix these rows and run again",
            path=path,
            problems=problems,
        )
    out = df.copy()
    out["id"] = ids
    out["tier"] = tier
    out["beds"] = beds.astype(float)
    out["tier_rank"] = tier.map(rank).astype(int)
    out = out.drop(columns=["lon", "lat"])
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
