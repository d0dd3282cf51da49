"""Facilities: a CSV with coordinates, any point / polygon layer, or OSM health POIs from a PBF.

Columns are mapped by the study (``facilities = { path = ..., name = "机构名称", lon = "经度", ... }``);
common English and Chinese headers are found on their own. Coordinates may be WGS84, GCJ-02 (Amap,
Tencent) or BD-09 (Baidu) and are converted to WGS84 on load; a CSV may also hold x/y in a projected CRS
the study names.

Tiers
-----
A ``tier`` value that is one of the study's tiers is used as is. Any other non-empty ``tier`` value is
matched on its own against :data:`TIER_TABLE` (so ``三级`` works) and is an error when no rule matches:
a misspelt tier is never re-tiered from the facility's name. When the ``tier`` cell is empty the tier
comes from :data:`TIER_TABLE`, an ordered list of ``(keyword, tier)`` rules matched against the row's
``grade``, ``type`` and ``name`` values (for OSM POIs: ``name``, ``healthcare``, ``amenity``). The first
rule, in table order, that matches any of those values wins, so specific rules (grades, township health
centres) come before generic ones (any 医院). A keyword with Chinese characters matches anywhere inside
a value; an ASCII keyword must equal the whole value (case-insensitive). A study prepends its own
rules with ``[facility_tiers]`` (``"专科医院" = "county"``), so they win over the defaults.

The default table (tiers of DESIGN.md; edit it to your province's practice):

==============================================================  ========
keyword                                                          tier
==============================================================  ========
三级, 三甲, 三乙, 三丙 (tertiary hospitals)                        regional
二级, 二甲, 二乙, 二丙 (secondary hospitals)                       county
一级, 一甲, 一乙, 一丙 (primary-grade hospitals)                   primary
乡镇卫生院, 中心卫生院, 卫生院 (township health centres)           primary
社区卫生服务 (community health centres and stations)               primary
村卫生室, 卫生室, 卫生所, 诊所, 门诊部, 医务室 (village clinics)    primary
妇幼保健 (maternal and child health hospitals)                     county
县人民医院, 县医院, 县中医院, 中医医院, 中医院 (county hospitals)  county
OSM hospital                                                      county
OSM clinic, doctors, doctor, centre, health_post                  primary
医院 (any other hospital of unknown grade)                         county
==============================================================  ========
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geoaccess import coords as _coords
from geoaccess.errors import InputError

log = logging.getLogger(__name__)

REQUIRED = ["id", "name", "tier", "beds", "lon", "lat"]

TIER_TABLE: list[tuple[str, str]] = [
    *((k, "regional") for k in ("三级", "三甲", "三乙", "三丙")),
    *((k, "county") for k in ("二级", "二甲", "二乙", "二丙")),
    *((k, "primary") for k in ("一级", "一甲", "一乙", "一丙")),
    *((k, "primary") for k in ("乡镇卫生院", "中心卫生院", "卫生院", "社区卫生服务")),
    *((k, "primary") for k in ("村卫生室", "卫生室", "卫生所", "诊所", "门诊部", "医务室")),
    ("妇幼保健", "county"),
    *((k, "county") for k in ("县人民医院", "县医院", "县中医院", "中医医院", "中医院")),
    ("hospital", "county"),
    *((k, "primary") for k in ("clinic", "doctors", "doctor", "centre", "health_post")),
    ("医院", "county"),
]

# logical column -> headers looked for when the study does not name one (first found wins)
CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "osm_id", "fid", "code", "编号", "机构代码", "机构编码"),
    "name": ("name", "名称", "机构名称", "医院名称", "单位名称"),
    "tier": ("tier", "层级"),
    "beds": ("beds", "床位", "床位数", "编制床位", "实有床位", "开放床位"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "grade": ("grade", "level", "等级", "医院等级", "级别"),
    "type": ("type", "category", "类型", "机构类型", "类别", "机构类别"),
    "county_code": ("county_code", "adcode", "区划代码", "行政区划代码"),
}


def tier_rules(extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The study's rules (``[facility_tiers]``) followed by :data:`TIER_TABLE`."""
    return [(str(k).strip(), str(v).strip()) for k, v in (extra or {}).items()] + TIER_TABLE


def match_tier(values, rules: list[tuple[str, str]]) -> str | None:
    """The tier of the first rule matching any of ``values`` (see the module docs), or None."""
    vals = [str(v).strip() for v in values if v is not None and str(v).strip() and str(v) != "nan"]
    low = [v.lower() for v in vals]
    for key, tier in rules:
        if key.isascii():
            if key.lower() in low:
                return tier
        elif any(key in v for v in vals):
            return tier
    return None


def _pick(columns: list[str], mapping: dict[str, str], key: str, path: Path) -> str | None:
    if key in mapping:
        col = mapping[key]
        if col not in columns:
            raise InputError(
                f"the study maps {key} to column {col!r}, which the file does not have; columns are {columns}",
                path=path,
            )
        return col
    lower = {c.lower(): c for c in columns}
    for c in CANDIDATES.get(key, ()):
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def read_facilities(
    path: str | Path,
    tiers: list[str],
    *,
    columns: dict[str, str] | None = None,
    coords: str = "wgs84",
    source_crs=None,
    tier_table: dict[str, str] | None = None,
    area=None,
    layer: str | None = None,
    report: list[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate facilities; every bad row is reported in one error.

    Parameters
    ----------
    path
        CSV (lon/lat or x/y columns), a vector layer (``.gpkg``, ``.shp``, ``.geojson``, ...) or an OSM
        ``.osm.pbf`` / ``.osm`` file (health POIs).
    tiers
        The study's tier names, lowest first.
    columns
        Logical name -> column: ``id``, ``name``, ``tier``, ``beds``, ``lon``, ``lat``, ``grade``, ``type``,
        ``county_code``.
    coords
        ``wgs84``, ``gcj02`` or ``bd09``: the system of the coordinates in the file.
    source_crs
        CRS of the coordinates when the file has none (a CSV's x/y in a projected CRS, a .shp without .prj).
    tier_table
        Extra ``keyword -> tier`` rules, before :data:`TIER_TABLE`.
    area
        The study area (lon/lat geometry, e.g. the counties' union): catches swapped lon/lat that still
        look valid.
    report
        A list that receives warnings (generated ids, converted coordinates).

    Returns
    -------
    GeoDataFrame in EPSG:4326 with ``id`` (str), ``name``, ``tier``, ``beds`` (float), ``tier_rank``
    (0 = lowest tier) and any extra columns of the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("facilities file not found; check [inputs] facilities in the study file", path=path)
    from geoaccess.load.roads import OSM_SUFFIXES

    if path.name.lower().endswith(OSM_SUFFIXES):
        return read_osm_facilities(path, tiers, tier_table=tier_table, report=report)
    mapping = dict(columns or {})
    notes = report if report is not None else []
    system = _coords.normalise_system(coords)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        df = _read_csv(path)
        geom_lonlat = None
        crs = pyproj.CRS.from_user_input(source_crs) if source_crs is not None else pyproj.CRS.from_epsg(4326)
    else:
        from geoaccess.load.lines import layer_crs, open_vector

        gdf = open_vector(path, layer)
        crs = layer_crs(gdf, source_crs, path, "facilities")
        pts = gdf.geometry.values
        if not (gdf.geom_type == "Point").all():
            pts = gdf.geometry.representative_point().values
        geom_lonlat = (
            np.asarray([p.x if p is not None else np.nan for p in pts]),
            np.asarray([p.y if p is not None else np.nan for p in pts]),
        )
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
        df = df.where(df.notna(), "").astype(str)
    cols = list(df.columns)
    col = {k: _pick(cols, mapping, k, path) for k in CANDIDATES}
    unknown = sorted(set(mapping) - set(CANDIDATES))
    if unknown:
        raise InputError(f"unknown column mapping key(s) {unknown}; use {sorted(CANDIDATES)}", path=path)
    need = ["name", "beds"] + (["lon", "lat"] if geom_lonlat is None else [])
    missing = [k for k in need if col[k] is None]
    if all(col[k] is None for k in ("tier", "grade", "type", "name")):
        missing.append("tier (or grade / type)")
    if missing:
        raise InputError(
            f"missing column(s) {missing}; the file needs columns {REQUIRED} (tier may be replaced by grade "
            f"or type; found {cols}). Map other headers in the study, e.g. "
            'facilities = { path = ..., lon = "经度", lat = "纬度" }',
            path=path,
        )
    n = len(df)
    if n == 0:
        raise InputError(
            "the facilities file has a header but no rows; add one row per facility "
            f"(columns {REQUIRED}) and check [inputs] facilities",
            path=path,
        )
    if col["id"] is None:
        ids = pd.Series([f"F{i + 1:05d}" for i in range(n)])
        notes.append(f"{path}: no id column; facilities are numbered F00001.. in file order")
    else:
        ids = df[col["id"]].str.strip()
    if geom_lonlat is None:
        x = pd.to_numeric(df[col["lon"]].str.strip(), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(df[col["lat"]].str.strip(), errors="coerce").to_numpy(dtype=float)
    else:
        x, y = geom_lonlat
    is_ll = crs.is_geographic
    if is_ll:
        _check_swapped(x, y, area, path, col)
    lon, lat = x.copy(), y.copy()
    ok_xy = np.isfinite(x) & np.isfinite(y)
    if not crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        tf = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lon[ok_xy], lat[ok_xy] = tf.transform(x[ok_xy], y[ok_xy])
    if system != "wgs84":
        lon[ok_xy], lat[ok_xy] = _coords.to_wgs84(lon[ok_xy], lat[ok_xy], system)
        notes.append(f"{path}: coordinates converted from {system.upper()} to WGS84")
    beds_raw = df[col["beds"]].str.strip()
    beds = pd.to_numeric(beds_raw.replace("", "0"), errors="coerce").to_numpy(dtype=float)
    rules = tier_rules(tier_table)
    rank = {t: i for i, t in enumerate(tiers)}
    fields = [c for c in (col["grade"], col["type"], col["tier"], col["name"]) if c is not None]
    fields += [c for c in ("healthcare", "amenity") if c in cols and c not in fields]  # OSM POI layers
    problems: list[str] = []
    tier_out = []
    seen: dict[str, int] = {}
    csv = geom_lonlat is None
    for i in range(n):
        line = f"line {i + 2}" if csv else f"feature {i + 1}"  # CSV header is line 1
        row = f"{line} (id {ids.iat[i]!r})"
        if not ids.iat[i]:
            problems.append(f"{line}: empty id")
        elif ids.iat[i] in seen:
            problems.append(
                f"{row}: duplicate id, first used on line {seen[ids.iat[i]]}"
                if csv
                else f"{row}: duplicate id, first used on feature {seen[ids.iat[i]]}"
            )
        else:
            seen[ids.iat[i]] = i + 2 if csv else i + 1
        raw_tier = df[col["tier"]].iat[i].strip() if col["tier"] else ""
        if raw_tier in rank:
            t = raw_tier
        elif raw_tier:
            # an explicit tier is taken at its word: only its own text may map through the table (三级,
            # hospital), never the row's name, so a misspelt "regionl" is an error, not a silent "county"
            t = match_tier([raw_tier], rules)
        else:
            t = match_tier([df[c].iat[i] for c in fields], rules)
        if t is None and raw_tier:
            problems.append(
                f"{row}: unknown tier {raw_tier!r}; the study's tiers are {tiers}. Correct it, add a "
                "[facility_tiers] rule for it, or leave the cell empty to take the tier from grade / type / name"
            )
        elif t is None:
            problems.append(
                f"{row}: unknown no tier; the study's tiers are {tiers}, and no [facility_tiers] rule matches "
                f"{[df[c].iat[i] for c in fields if df[c].iat[i]]}"
            )
        elif t not in rank:
            problems.append(
                f"{row}: mapped to tier {t!r}, which is not one of the study's tiers {tiers}; "
                "add a [facility_tiers] rule"
            )
        tier_out.append(t or "")
        if not np.isfinite(x[i]) or not np.isfinite(y[i]):
            if csv:
                problems.append(
                    f"{row}: missing or non-numeric lon/lat ({df[col['lon']].iat[i]!r}, {df[col['lat']].iat[i]!r})"
                )
            else:
                problems.append(f"{row}: no geometry")
        elif is_ll and not (-180 <= x[i] <= 180 and -90 <= y[i] <= 90):
            problems.append(f"{row}: lon/lat ({x[i]}, {y[i]}) is not a WGS84 coordinate")
        if not np.isfinite(beds[i]) or beds[i] < 0:
            problems.append(f"{row}: beds must be a number >= 0, got {beds_raw.iat[i]!r}")
    if area is not None and not problems:  # lon/lat are WGS84 here, whatever the file held
        _check_inside(lon, lat, ids, area, path, csv, notes)
    if problems:
        raise InputError(
            f"{len(problems)} problem(s) in the facilities file; fix these rows and run again",
            path=path,
            problems=problems,
        )
    top = max((rank[t] for t in tier_out), default=-1)
    for t in tiers[top + 1 :]:
        notes.append(f"{path}: no facility of tier {t!r} or above: everyone is beyond that tier's reach")
    out = df.copy()
    for k in ("lon", "lat"):
        if col[k] is not None and geom_lonlat is None:
            out = out.drop(columns=[col[k]])
    out["id"] = ids.to_numpy()
    out["name"] = df[col["name"]].to_numpy() if col["name"] else out["id"]
    out["tier"] = tier_out
    out["beds"] = beds
    out["tier_rank"] = [rank[t] for t in tier_out]
    if col["county_code"]:
        out["county_code"] = df[col["county_code"]].str.strip().to_numpy()
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _read_csv(path: Path) -> pd.DataFrame:
    last = None
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    for enc in ("utf-8-sig", "gb18030"):  # Chinese Excel exports are often GBK
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc, sep=sep)
            df.columns = [str(c).strip() for c in df.columns]
            return df
        except UnicodeDecodeError as exc:
            last = exc
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot read as a CSV ({exc})", path=path) from exc
        except pd.errors.EmptyDataError:
            raise InputError(
                f"the facilities file is empty; it needs a header line ({','.join(REQUIRED)}) and one row per facility",
                path=path,
            ) from None
    raise InputError(f"cannot read as a UTF-8 or GBK CSV ({last})", path=path)


# a facility this far (degrees, about 200 km) outside the study area's bounding box cannot serve it
FAR_OUTSIDE_DEG = 2.0


def _check_inside(lon, lat, ids, area, path: Path, csv: bool, notes: list[str]) -> None:
    """Facilities far from the study area are errors; none inside it is an error; a few outside are noted.

    Facilities just across the border are kept: people near the border use them.
    """
    import shapely

    w, s, e, n = shapely.bounds(area)
    far = (
        (lon < w - FAR_OUTSIDE_DEG)
        | (lon > e + FAR_OUTSIDE_DEG)
        | (lat < s - FAR_OUTSIDE_DEG)
        | (lat > n + FAR_OUTSIDE_DEG)
    )
    where = (lambda i: f"line {i + 2}") if csv else (lambda i: f"feature {i + 1}")
    if far.any():
        raise InputError(
            f"{int(far.sum())} facilities lie more than {FAR_OUTSIDE_DEG:g} degrees (about 200 km) outside the study "
            f"area (lon {w:.3f}..{e:.3f}, lat {s:.3f}..{n:.3f}); check their coordinates (WGS84 lon, lat, or set "
            "coords / crs in the study) or remove them",
            path=path,
            problems=[f"{where(i)} (id {ids.iat[i]!r}): ({lon[i]:.5f}, {lat[i]:.5f})" for i in np.flatnonzero(far)],
        )
    inside = shapely.contains_xy(area, lon, lat)
    if not inside.any():
        raise InputError(
            f"none of the {len(lon)} facilities lies inside the study area (the counties); check that the "
            "facilities file and [inputs] counties describe the same place, and the coordinates' system (coords)",
            path=path,
        )
    if not inside.all():
        notes.append(
            f"{path}: {int((~inside).sum())} facilities lie outside the counties (kept: people near the border use them)"
        )


def _check_swapped(x: np.ndarray, y: np.ndarray, area, path: Path, col: dict) -> None:
    """One clear error when the lon and lat columns hold each other's values."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() == 0:
        return
    xs, ys = x[ok], y[ok]
    valid = (np.abs(xs) <= 180) & (np.abs(ys) <= 90)
    valid_sw = (np.abs(ys) <= 180) & (np.abs(xs) <= 90)
    swapped = valid_sw.mean() > 0.5 and valid.mean() < 0.5
    if not swapped and area is not None:
        import shapely

        zone = shapely.buffer(shapely.envelope(area), 0.5)
        inside = shapely.contains_xy(zone, xs, ys).mean()
        inside_sw = shapely.contains_xy(zone, ys, xs).mean()
        swapped = inside < 0.5 and inside_sw > 0.5
    if swapped:
        raise InputError(
            f"longitude and latitude look swapped: column {col['lon']!r} holds values "
            f"{np.nanmin(xs):.4g}..{np.nanmax(xs):.4g} and {col['lat']!r} holds {np.nanmin(ys):.4g}..{np.nanmax(ys):.4g}. "
            f"Swap the two columns in the file, or map them in the study: "
            f'facilities = {{ path = "{path.name}", lon = "{col["lat"]}", lat = "{col["lon"]}" }}',
            path=path,
        )


def read_osm_facilities(
    path: str | Path, tiers: list[str], tier_table: dict[str, str] | None = None, report: list[str] | None = None
) -> gpd.GeoDataFrame:
    """Health POIs (amenity=hospital|clinic|doctors, healthcare=*) from an OSM file, tiered by the table.

    Nodes are used as they are; closed and open ways at the mean of their node locations. Relations
    (multipolygon hospitals) are counted and reported, not used.
    """
    import osmium

    path = Path(path)
    rules = tier_rules(tier_table)
    rank = {t: i for i, t in enumerate(tiers)}
    rows = []
    skipped_rel = 0
    untiered: dict[str, int] = {}
    amenities = {"hospital", "clinic", "doctors"}
    try:
        fp = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("amenity", "healthcare"))
        )
        for o in fp:
            tags = o.tags
            amenity = tags.get("amenity")
            hc = tags.get("healthcare")
            if amenity not in amenities and hc is None:
                continue
            if o.is_relation():
                skipped_rel += 1
                continue
            if o.is_node():
                lon, lat, kind = o.location.lon, o.location.lat, "node"
            else:
                locs = [(n.lon, n.lat) for n in o.nodes if n.location.valid()]
                if not locs:
                    continue
                lon, lat = np.mean(locs, axis=0)
                kind = "way"
            name = tags.get("name:zh") or tags.get("name") or ""
            t = match_tier([name, hc, amenity], rules)
            if t is None or t not in rank:
                untiered[f"healthcare={hc}" if hc else f"amenity={amenity}"] = (
                    untiered.get(f"healthcare={hc}" if hc else f"amenity={amenity}", 0) + 1
                )
                continue
            beds = tags.get("beds", "")
            try:
                b = float(beds) if beds else 0.0
            except ValueError:
                b = 0.0
            rows.append(
                (f"{kind}/{o.id}", name or f"{hc or amenity} {o.id}", t, max(b, 0.0), amenity or "", hc or "", lon, lat)
            )
    except RuntimeError as exc:
        raise InputError(f"cannot read as OpenStreetMap data ({exc})", path=path) from exc
    notes = report if report is not None else []
    if skipped_rel:
        notes.append(f"{path}: {skipped_rel} health POIs mapped as relations were not used")
    if untiered:
        notes.append(f"{path}: POIs with no tier rule were skipped: {untiered}; add [facility_tiers] rules")
    if not rows:
        raise InputError(
            "no health POIs (amenity=hospital/clinic/doctors or healthcare=*) with a tier found in the file",
            path=path,
        )
    df = pd.DataFrame(rows, columns=["id", "name", "tier", "beds", "amenity", "healthcare", "lon", "lat"])
    df["tier_rank"] = df["tier"].map(rank).astype(int)
    return gpd.GeoDataFrame(
        df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326"
    )
