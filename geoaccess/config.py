"""Study files (TOML): what to read, which tiers to score, and every setting with its default.

Unknown keys are errors that name the key, the section and the file: a misspelt threshold must never
silently fall back to a default.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoaccess.errors import ConfigError


@dataclass(frozen=True)
class Tier:
    """A tier of care: facilities of this tier (or above) serve it within ``threshold_min``."""

    name: str
    threshold_min: float
    target_share: float = 0.9
    label: str = ""
    mode: str = ""  # "road" | "mixed" | "walk_only"; empty: the study's [travel] mode


DEFAULT_TIERS = (
    Tier("primary", 15.0, 0.9, "village clinic, township / community health centre"),
    Tier("county", 60.0, 0.9, "county hospital"),
    Tier("regional", 120.0, 0.9, "tertiary / regional hospital"),
)

DIRECTIONS = ("to_facility", "from_facility")
LANGUAGES = ("auto", "zh", "en")
BASEMAP_CRS = ("auto", "wgs84", "gcj02")


@dataclass(frozen=True)
class MapSettings:
    """The ``[maps]`` section: how the HTML bundle looks.

    ``basemap`` is ``"none"`` (default: the bundle needs no network), ``"osm"`` (OpenStreetMap tiles) or
    an XYZ URL template such as ``https://tile.example/{z}/{x}/{y}.png``. Tiles from Chinese providers
    are in GCJ-02: ``basemap_crs = "gcj02"`` (detected for Amap/AutoNavi and Tencent URLs when ``"auto"``)
    shifts every overlay so it lines up with them. ``language`` ``"auto"`` picks Chinese when the
    counties carry Chinese adcodes.
    """

    basemap: str = "none"
    basemap_attribution: str = ""
    basemap_crs: str = "auto"
    language: str = "auto"
    bands_min: tuple[float, ...] = (15.0, 30.0, 60.0, 120.0)


#: ``[travel] mode`` and ``[[tiers]] mode``: road (the walking leg to the nearest link, then the road: the default),
#: mixed (off-road over the friction surface to a road cell or the facility, then the road) or walk_only
TRAVEL_MODES = ("road", "mixed", "walk_only")
#: ``[travel] no_entry`` default: the road classes a walker may neither enter nor walk on. China's expressways
#: (OSM ``highway=motorway``) and their ramps are access-controlled: pedestrians may not enter them (道路交通安全法
#: 第六十七条: 行人 ... 不得进入高速公路), and a vehicle joins them only at an interchange, from the road its ramp leaves.
NO_ENTRY = ("motorway", "motorway_link")


@dataclass(frozen=True)
class TravelSettings:
    """The ``[travel]`` section: off-road travel over a friction surface (``geoaccess.load.terrain``).

    Without the section every tier travels by road as before. ``landcover`` (ESA WorldCover codes), ``dem``
    (metres) and ``barriers`` (vector files, or ``"osm"`` for the waterways of the study's OSM roads file) are
    optional; without a land cover every passable cell is walked at ``[network] walk_kmh``. ``landcover_speeds``
    overrides the documented defaults (km/h by class code; 0 makes a water class a barrier). ``cell_m`` is the
    friction grid's cell (default: the population grid's, in metres). Time-of-day factors
    (``[travel.periods]``) are parsed into :attr:`Study.periods`. ``compare_walk_only`` also computes, for every
    tier, the minutes on foot only (walking-only beside motorised, as Weiss et al. 2020 publish them):
    ``Result.walk_only`` and a ``<tier>_walk_only_share`` column in the county table.

    ``no_entry`` names road classes that cannot be entered or walked on from the terrain (default :data:`NO_ENTRY`,
    ``motorway`` and ``motorway_link``: the Road Traffic Safety Law, art. 67, forbids pedestrians on expressways, so
    one enters an expressway only at an interchange, from the local road its ramp joins). Their links get no road
    points (no walk switches to driving on them) and do not make their cells walkable (an expressway bridge over a
    river stays a barrier to a walker; over open land the walker crosses as the land allows, as through an
    underpass); the network is unchanged, so a trip that entered a local road drives on them. ``no_entry = []`` is
    AccessMod's behaviour: every road cell is walkable and an entry point. Class names are checked against the
    network's when the surface is built (:func:`geoaccess.load.terrain.no_entry_links`).
    """

    mode: str = "road"
    landcover: Path | None = None
    dem: Path | None = None
    barriers: tuple[str | Path, ...] = ()
    anisotropic: bool = False
    knight: bool = True
    cell_m: float | None = None
    landcover_speeds: dict[int, float] = field(default_factory=dict)
    present: bool = False  # the study file has a [travel] section
    compare_walk_only: bool = False  # also compute walking-only minutes for the motorised tiers (Result.walk_only)
    no_entry: tuple[str, ...] = NO_ENTRY  # road classes with no entry from the terrain (access-controlled)


ZONE_KEYS = ("priority", "enrich", "adjust")
OPS = ("<=", ">=", "==", "!=", "<", ">")
# county-table columns a zone rule may test; "{tier}" stands for each tier's name
RULE_COLUMNS = (
    "tiers_failed",
    "beds_per_1000",
    "accessible_beds_per_1000",
    "within_county_share",
    "referral_links_over",
    "{tier}_share_within",
    "{tier}_mean_min",
    "{tier}_median_min",
    "{tier}_p90_min",
    "{tier}_unserved_share",
    "{tier}_gini",
)
# columns whose rules may compare against "target" (the tier's or the service-share target)
TARGET_COLUMNS = ("{tier}_share_within", "within_county_share")


@dataclass(frozen=True)
class Condition:
    """One test of a zone rule: ``column op value``; ``value`` may be ``"target"``."""

    column: str
    op: str
    value: float | str

    def __str__(self) -> str:
        v = self.value if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.column} {self.op} {v}"


@dataclass(frozen=True)
class ZoneRule:
    """Zone for a county that meets ``any`` (one of) or ``all`` of the conditions; neither = every county."""

    zone: str
    any: tuple[Condition, ...] = ()
    all: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Measures:
    """Settings of the measures beyond nearest minutes (sections of the study file; README has the reasoning)."""

    curve_minutes: tuple[float, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120)
    percentiles: tuple[float, ...] = (10, 25, 75)
    people_per_bed: dict = field(default_factory=lambda: {"primary": 1000.0, "county": 400.0, "regional": 1000.0})
    people_per_facility: dict = field(default_factory=lambda: {"primary": 1500.0})
    fca_cutoff_min: float = 30.0
    step_minutes: tuple[float, ...] = (10.0, 20.0, 30.0)
    step_weights: tuple[float, ...] = (1.0, 0.68, 0.22)
    gaussian_sigma_min: float = 15.0
    gravity_beta: float = 1.5
    referral_levels: tuple[str, ...] = ("village", "township", "county", "regional")
    type_level: dict = field(
        default_factory=lambda: {
            "village clinic": "village",
            "township health centre": "township",
            "community health centre": "township",
        }
    )
    tier_level: dict = field(
        default_factory=lambda: {"primary": "township", "county": "county", "regional": "regional"}
    )
    referral_threshold_min: dict = field(default_factory=lambda: {"township": 30.0, "county": 60.0, "regional": 120.0})
    share_tier: str = "county"
    share_method: str = "nearest"
    huff_beta: float = 2.0
    share_target: float = 0.9
    # urban districts (市辖区) are not held to the within-county target: it is set for counties (县域)
    share_exempt_suffixes: tuple[str, ...] = ("区",)
    zone_rules: tuple[ZoneRule, ...] = ()


#: ``[scale] partition`` values: the adcode prefix length that names a partition (province 2, prefecture 4 digits)
PARTITION_DIGITS = {"province": 2, "prefecture": 4}


@dataclass(frozen=True)
class ScaleSettings:
    """``[scale]``: partitioned runs on Dask distributed (``geoaccess.partition``; README "The country on a cluster").

    ``partition`` None runs in one process. ``scheduler`` None starts a ``distributed.LocalCluster`` with
    ``workers`` processes (0: one per core) of ``worker_memory_gb`` each (0: the machine's RAM shared evenly).
    """

    partition: str | None = None
    scheduler: str | None = None
    workers: int = 0
    worker_memory_gb: float = 0.0


def default_zone_rules(tier_names: list[str], beds_per_1000: float = 7.4) -> tuple[ZoneRule, ...]:
    """The default zone table (see the README for the reasoning)."""
    key = "county" if "county" in tier_names else (tier_names[1] if len(tier_names) > 1 else tier_names[0])
    return (
        ZoneRule(
            "priority",
            any=(
                Condition(f"{key}_share_within", "<", "target"),
                Condition("tiers_failed", ">=", 2.0),
                Condition("within_county_share", "<", "target"),
            ),
        ),
        ZoneRule("adjust", all=(Condition("tiers_failed", "==", 0.0), Condition("beds_per_1000", ">=", beds_per_1000))),
        ZoneRule("enrich"),
    )


@dataclass
class Study:
    """A parsed, validated study file. Paths are absolute."""

    name: str
    path: Path | None = None
    title: str = ""
    synthetic: bool = False
    note: str = ""
    output: Path = Path("maps")
    roads: Path | None = None
    facilities: Path | None = None
    population: Path | None = None
    counties: dict[str, Any] = field(default_factory=dict)
    census: Path | None = None
    # per-input options (everything in an input's table except its path), see _INPUT_KEYS
    roads_options: dict[str, Any] = field(default_factory=dict)
    facilities_options: dict[str, Any] = field(default_factory=dict)
    population_options: dict[str, Any] = field(default_factory=dict)
    census_options: dict[str, Any] = field(default_factory=dict)
    speeds: dict[str, float] = field(default_factory=dict)
    facility_tiers: dict[str, str] = field(default_factory=dict)
    profile: str = "drive"
    direction: str = "to_facility"
    walk_kmh: float = 4.5
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    serve_lower_tiers: bool = True
    maps: MapSettings = field(default_factory=MapSettings)
    measures: Measures = field(default_factory=Measures)
    cache: bool = True  # keep loaded inputs in the user cache (geoaccess.cache)
    scale: ScaleSettings = field(default_factory=ScaleSettings)
    # [travel.periods.<name>]: speed factor per road class (and land-cover class code) for each period of the day
    periods: dict[str, dict[str, float]] = field(default_factory=dict)
    travel: TravelSettings = field(default_factory=TravelSettings)

    @property
    def tier_names(self) -> list[str]:
        return [t.name for t in self.tiers]

    def tier_mode(self, tier: Tier) -> str:
        """How people reach this tier: its own ``mode``, else the study's ``[travel] mode``."""
        return tier.mode or self.travel.mode

    @property
    def uses_terrain(self) -> bool:
        """Whether any tier travels off-road over the friction surface."""
        return self.travel.compare_walk_only or any(self.tier_mode(t) != "road" for t in self.tiers)

    def settings(self) -> dict[str, Any]:
        """The run's settings as plain values, for the report and the front page."""
        return {
            "study": self.name,
            "roads": str(self.roads),
            "facilities": str(self.facilities),
            "population": str(self.population),
            "counties": ", ".join(f"{k}={v}" for k, v in self.counties.items()),
            "profile": self.profile,
            "direction": self.direction,
            "walk_kmh": self.walk_kmh,
            "serve_lower_tiers": self.serve_lower_tiers,
            "tiers": "; ".join(f"{t.name}: {t.threshold_min:g} min, target {t.target_share:.0%}" for t in self.tiers),
            "basemap": self.maps.basemap,
            "language": self.maps.language,
            "capacity (people per bed)": ", ".join(f"{k} {v:g}" for k, v in self.measures.people_per_bed.items()),
            "accessible beds (E2SFCA steps)": ", ".join(
                f"{m:g} min: {w:g}" for m, w in zip(self.measures.step_minutes, self.measures.step_weights, strict=True)
            ),
            "within-county share": f"{self.measures.share_tier} tier, {self.measures.share_method}, "
            f"target {self.measures.share_target:.0%}",
            "zone rules": "; ".join(
                f"{r.zone}: " + (" or ".join(map(str, r.any)) or " and ".join(map(str, r.all)) or "every other county")
                for r in (self.measures.zone_rules or default_zone_rules(self.tier_names))
            ),
        } | (self._travel_settings() if self.travel.present else {})

    def _travel_settings(self) -> dict[str, Any]:
        t = self.travel
        inputs = [f"{k} {Path(v).name}" for k, v in (("land cover", t.landcover), ("DEM", t.dem)) if v is not None]
        inputs += [f"barriers {b if b == 'osm' else Path(b).name}" for b in t.barriers]
        return {
            "travel": "; ".join(f"{x.name}: {self.tier_mode(x)}" for x in self.tiers)
            + f" ({', '.join(inputs) or 'no land cover: walking at walk_kmh off road'}"
            + f"{', Tobler slope' if t.anisotropic else ''}{', knight moves' if t.knight else ''}"
            + f"{', no entry from the terrain: ' + ', '.join(t.no_entry) if t.no_entry else ''})",
        }


_SECTIONS: dict[str, set[str]] = {
    "study": {"name", "title", "synthetic", "note", "output", "cache"},
    "inputs": {"roads", "facilities", "population", "counties", "census", "coords"},
    "network": {"profile", "direction", "walk_kmh", "speeds"},
    "options": {"serve_lower_tiers"},
    "tiers": {"name", "threshold_min", "target_share", "label", "mode"},
    "facility_tiers": set(),  # free keys: keyword -> tier rules
    "maps": {"basemap", "basemap_attribution", "basemap_crs", "language", "bands_min"},
    "coverage": {"curve_minutes", "percentiles"},
    "capacity": {"people_per_bed", "people_per_facility"},
    "accessibility": {"cutoff_min", "step_minutes", "step_weights", "gaussian_sigma_min", "gravity_beta"},
    "referral": {"levels", "type_level", "tier_level", "threshold_min"},
    "service_share": {"tier", "method", "huff_beta", "target", "exempt_suffixes"},
    "zones": {"rules"},
    "scale": {"partition", "scheduler", "workers", "worker_memory_gb"},
    "travel": {
        "mode",
        "landcover",
        "dem",
        "barriers",
        "anisotropic",
        "knight",
        "cell_m",
        "landcover_speeds",
        "periods",
        "compare_walk_only",
        "no_entry",
    },
    "include": set(),  # a top-level key: TOML files merged into the study (see resolve_includes)
}
#: speed factors a period may set (0.1 = ten times slower, 3 = three times faster)
PERIOD_FACTOR_RANGE = (0.05, 5.0)
_RULE_KEYS = {"zone", "any", "all"}
_COUNTY_KEYS = {"adcode", "path", "code_field", "name_field", "crs", "layer"}
# an input may be a path string or a table with ``path`` and these options
_INPUT_KEYS: dict[str, set[str]] = {
    "roads": {"path", "class_field", "speed_field", "oneway_field", "crs", "coords", "snap_m", "layer"},
    "facilities": {
        "path",
        "crs",
        "coords",
        "layer",
        "id",
        "name",
        "tier",
        "beds",
        "lon",
        "lat",
        "grade",
        "type",
        "county_code",
    },
    "population": {"path", "crs"},
    "census": {"path", "code_field", "population_field", "name_field"},
}
_COORDS = ("wgs84", "gcj02", "bd09")


# tier (and scenario) names become parts of file names (map_<tier>.html) and reach pages: letters of any
# script, digits, "_" and "-" only, so no "../", slash, control character or HTML can get through
NAME_PATTERN = r"[^\W_][\w-]{0,63}"
NAME_RULE = "1 to 64 letters (any script), digits, '_' or '-', starting with a letter or digit"


def check_identifier(value, key: str, path=None) -> str:
    """``value`` if it is a safe name (see :data:`NAME_PATTERN`), else a ConfigError naming ``key``."""
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}", path=path)
    if not re.fullmatch(NAME_PATTERN, value):
        raise ConfigError(
            f"{key} = {value!r} is not a valid name: it names files and folders (map_<tier>.html), so it must be "
            f"{NAME_RULE}; "
            "put free text in a label",
            path=path,
        )
    return value


def _string(value, key, path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}", path=path)
    return value


def _crs(value, key, path) -> str:
    """A CRS string pyproj knows (``EPSG:4326``, a WKT or PROJ string)."""
    _string(value, key, path)
    import pyproj

    try:
        pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise ConfigError(
            f"{key} = {value!r} is not a coordinate reference system pyproj knows ({exc})", path=path
        ) from None
    return value


def _unknown(keys, allowed, where, path):
    bad = sorted(set(keys) - set(allowed))
    if bad:
        raise ConfigError(f"unknown key(s) {bad} in {where}; allowed keys: {sorted(allowed)}", path=path)


def _number(value, key, path, lo=None, hi=None, *, above: float | None = None) -> float:
    """A finite number in ``[lo, hi]`` (and ``> above`` when given); TOML's nan and inf are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}", path=path)
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{key} must be a finite number, got {value!r}", path=path)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{key} = {value!r} is out of range [{lo}, {hi}]", path=path)
    if above is not None and v <= above:
        raise ConfigError(f"{key} must be greater than {above:g}, got {value!r}", path=path)
    return v


def _coords_value(value, key, path) -> str:
    v = str(value).strip().lower().replace("-", "")
    if v not in _COORDS:
        raise ConfigError(
            f"{key} must be one of {list(_COORDS)} (gcj02: Amap / Tencent, bd09: Baidu), got {value!r}", path=path
        )
    return v


def load_study(path: str | Path, output_root: str | Path | None = None) -> Study:
    """Read and validate a study TOML file.

    Input paths are relative to the study file; the output folder defaults to ``maps/<name>``
    relative to ``output_root`` (the current directory if not given).
    """
    path = Path(path).resolve()
    return parse_study(resolve_includes(read_toml(path, "study"), path), path, output_root)


def resolve_includes(data: dict, path: Path | None) -> dict:
    """Merge the files a study names in its top-level ``include = ["fitted.toml", ...]`` into its tables.

    Paths are relative to the study file. An included file (e.g. the speeds ``geoaccess calibrate`` writes) holds
    ordinary study tables; it may not include further files, and a key set both in the study and in an included
    file (or in two included files) is an error naming both: nothing is silently overridden.
    """
    if "include" not in data:
        return data
    inc = data["include"]
    inc = [inc] if isinstance(inc, str) else inc
    if not isinstance(inc, list) or not all(isinstance(i, str) and i.strip() for i in inc):
        raise ConfigError(f'include must be a file path or a list of them, e.g. include = ["fitted.toml"], got {inc!r}',
                          path=path)  # fmt: skip
    merged = {k: v for k, v in data.items() if k != "include"}
    origin: dict[tuple, str] = {}
    _note_keys(merged, (), "the study file", origin)
    base = path.parent if path else Path.cwd()
    for name in inc:
        q = Path(name)
        q = q if q.is_absolute() else (base / q).resolve()
        extra = read_toml(q, "included")
        if "include" in extra:
            raise ConfigError("an included file may not include further files; list them all in the study", path=q)
        _merge(merged, extra, (), str(q), origin, path)
    return merged


def _note_keys(d: dict, prefix: tuple, where: str, origin: dict) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            _note_keys(v, (*prefix, k), where, origin)
        else:
            origin[(*prefix, k)] = where


def _merge(into: dict, extra: dict, prefix: tuple, where: str, origin: dict, path) -> None:
    for k, v in extra.items():
        key = (*prefix, k)
        if isinstance(v, dict) and isinstance(into.get(k, {}), dict):
            _merge(into.setdefault(k, {}), v, key, where, origin, path)
            continue
        if k in into:
            raise ConfigError(
                f"{'.'.join(map(str, key))} is set both in {origin.get(key, 'the study file')} and in {where}; "
                "keep it in one of them",
                path=path,
            )
        into[k] = v
        origin[key] = where


def _periods(travel, path) -> dict[str, dict[str, float]]:
    """``[travel.periods.<name>]`` tables: class -> speed factor, checked once."""
    if not isinstance(travel, dict):
        raise ConfigError("[travel] must be a table", path=path)
    _unknown(travel, _SECTIONS["travel"], "[travel]", path)
    raw = travel.get("periods", {})
    if not isinstance(raw, dict):
        raise ConfigError("[travel.periods] must hold one table per period, e.g. [travel.periods.peak]", path=path)
    out = {}
    lo, hi = PERIOD_FACTOR_RANGE
    for name, table in raw.items():
        check_identifier(name, f"[travel.periods] period name {name!r}", path)
        if not isinstance(table, dict) or not table:
            raise ConfigError(
                f"[travel.periods.{name}] must be a table of road class = speed factor, e.g. motorway = 0.7",
                path=path,
            )
        out[name] = {str(k): _number(v, f"[travel.periods.{name}] {k}", path, lo, hi) for k, v in table.items()}
    return out


def read_toml(path: Path, what: str) -> dict:
    """A TOML file's tables; a missing file, a folder, non-UTF-8 text or bad TOML is a ConfigError naming the file.

    A UTF-8 byte-order mark (Windows Notepad adds one) is accepted.
    """
    if not path.exists():
        raise ConfigError(f"{what} file not found", path=path)
    if path.is_dir():
        raise ConfigError(f"this is a folder; give the path of the {what} TOML file", path=path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the {what} file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "(e.g. in Notepad: Save As, Encoding UTF-8) and run again",
            path=path,
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file ({exc.strerror})", path=path) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from exc


def parse_study(data: dict, path: Path | None = None, output_root: str | Path | None = None) -> Study:
    _unknown(data, _SECTIONS, "the top level", path)
    for sec in ("study", "inputs", "network", "options", "facility_tiers", "maps"):
        if sec in data and not isinstance(data[sec], dict):
            raise ConfigError(f"[{sec}] must be a table", path=path)
        if sec != "facility_tiers":
            _unknown(data.get(sec, {}), _SECTIONS[sec], f"[{sec}]", path)
    base = path.parent if path else Path.cwd()
    sd, inp, net, opt = (data.get(k, {}) for k in ("study", "inputs", "network", "options"))

    name = sd.get("name") or (path.stem if path else "study")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"study name {name!r} may hold only letters, digits, '-' and '_'", path=path)
    for key in ("title", "note", "output"):
        if key in sd:
            _string(sd[key], f"[study] {key}", path)
    if not sd.get("output", "x").strip():
        raise ConfigError("[study] output must name a folder, got an empty string", path=path)
    synthetic = sd.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise ConfigError(f"[study] synthetic must be true or false (no quotes), got {synthetic!r}", path=path)
    root = Path(output_root) if output_root else Path.cwd()
    output = Path(sd["output"]) if "output" in sd else Path("maps") / name
    output = output if output.is_absolute() else (root / output)

    default_coords = _coords_value(inp.get("coords", "wgs84"), "[inputs] coords", path)
    options: dict[str, dict] = {}

    def p(key):
        v = inp.get(key)
        options[key] = {}
        if v is None:
            return None
        if isinstance(v, dict):
            _unknown(v, _INPUT_KEYS[key], f"[inputs] {key}", path)
            if "path" not in v:
                raise ConfigError(f"[inputs] {key} needs a path", path=path)
            options[key] = {k: val for k, val in v.items() if k != "path"}
            v = v["path"]
        if not isinstance(v, str):
            raise ConfigError(f"[inputs] {key} must be a file path string or a table with path, got {v!r}", path=path)
        opts = options[key]
        if "coords" in opts:
            opts["coords"] = _coords_value(opts["coords"], f"[inputs] {key} coords", path)
        elif key in ("roads", "facilities"):
            opts["coords"] = default_coords
        if "snap_m" in opts:
            opts["snap_m"] = _number(opts["snap_m"], f"[inputs] {key} snap_m", path, 0, 500)
        for k, val in opts.items():
            if k not in ("snap_m",) and not isinstance(val, str):
                raise ConfigError(f"[inputs] {key} {k} must be a string, got {val!r}", path=path)
        if "crs" in opts:
            _crs(opts["crs"], f"[inputs] {key} crs", path)
        q = Path(v)
        return q if q.is_absolute() else (base / q).resolve()

    for key in ("roads", "facilities", "population"):
        if key not in inp:
            raise ConfigError(f"[inputs] {key} is required", path=path)

    counties = inp.get("counties")
    if isinstance(counties, str):
        counties = {"path": counties}
    if not isinstance(counties, dict) or not counties:
        raise ConfigError(
            '[inputs] counties is required: a polygon file path, or { adcode = "1401" } for the built-in '
            "China layer, or { path = ..., code_field = ..., name_field = ... }",
            path=path,
        )
    _unknown(counties, _COUNTY_KEYS, "[inputs] counties", path)
    counties = dict(counties)
    for k, val in counties.items():
        if k == "adcode" and isinstance(val, int) and not isinstance(val, bool):
            counties[k] = val = str(val)
        if k == "adcode" and isinstance(val, list) and val and all(isinstance(c, str) for c in val):
            continue
        if k == "adcode" and not isinstance(val, str):
            raise ConfigError(
                f'[inputs] counties adcode must be a string ("1401", "1401,1407", "CN") or a list of strings '
                f'(["1401", "1407"]), got {val!r}',
                path=path,
            )
        _string(val, f"[inputs] counties {k}", path)
    if "adcode" in counties:
        code = counties["adcode"]
        prefixes = code if isinstance(code, list) else code.split(",")
        bad = [c for c in prefixes if not (re.fullmatch(r"\d{2,6}", c.strip()) or c.strip().upper() == "CN")]
        if bad:
            raise ConfigError(
                f'[inputs] counties adcode must be adcode prefixes of 2 to 6 digits (e.g. "1401", '
                f'"1401,1407", ["14", "63"]) or "CN"; not {", ".join(repr(c) for c in bad)}',
                path=path,
            )
    if "crs" in counties:
        _crs(counties["crs"], "[inputs] counties crs", path)
    if "path" in counties:
        q = Path(counties["path"])
        counties["path"] = q if q.is_absolute() else (base / q).resolve()
    elif "adcode" not in counties:
        raise ConfigError("[inputs] counties needs either adcode or path", path=path)

    direction = net.get("direction", "to_facility")
    if direction not in DIRECTIONS:
        raise ConfigError(f"[network] direction must be one of {DIRECTIONS}, got {direction!r}", path=path)
    profile = net.get("profile", "drive")
    if profile not in ("drive", "walk"):
        raise ConfigError(f"[network] profile must be 'drive' or 'walk', got {profile!r}", path=path)

    tiers = DEFAULT_TIERS
    if "tiers" in data:
        raw = data["tiers"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError("[[tiers]] must be a non-empty array of tables", path=path)
        out = []
        for i, t in enumerate(raw):
            if not isinstance(t, dict):
                raise ConfigError(f"[[tiers]] entry {i + 1} must be a table", path=path)
            _unknown(t, _SECTIONS["tiers"], f"[[tiers]] entry {i + 1}", path)
            if "name" not in t or "threshold_min" not in t:
                raise ConfigError(f"[[tiers]] entry {i + 1} needs name and threshold_min", path=path)
            tname = check_identifier(t["name"], f"[[tiers]] entry {i + 1} name", path)
            out.append(
                Tier(
                    name=tname,
                    threshold_min=_number(t["threshold_min"], f"tier {tname} threshold_min", path, 0, 1440, above=0),
                    target_share=_number(t.get("target_share", 0.9), f"tier {tname} target_share", path, 0, 1, above=0),
                    label=_string(t.get("label", ""), f"tier {tname} label", path),
                    mode=_mode(t["mode"], f"[[tiers]] {tname} mode", path) if "mode" in t else "",
                )
            )
        names = [t.name for t in out]
        if len(set(names)) != len(names):
            raise ConfigError(f"tier names must be unique, got {names}", path=path)
        tiers = tuple(out)

    speeds = net.get("speeds", {})
    if not isinstance(speeds, dict):
        raise ConfigError("[network] speeds must be a table of road class = km/h", path=path)
    speeds = {str(k): _number(v, f"[network] speeds {k}", path, 1, 200) for k, v in speeds.items()}
    facility_tiers = data.get("facility_tiers", {})
    tier_names = {t.name for t in tiers}
    for k, v in facility_tiers.items():
        if not isinstance(v, str):
            raise ConfigError(
                f"[facility_tiers] {k!r} must be a tier name string (e.g. {k!r} = {tiers[0].name!r}), got {v!r}",
                path=path,
            )
        if v not in tier_names:
            raise ConfigError(
                f"[facility_tiers] {k!r} = {v!r}: not one of the study's tiers {sorted(tier_names)}", path=path
            )

    serve = opt.get("serve_lower_tiers", True)
    if not isinstance(serve, bool):
        raise ConfigError(f"[options] serve_lower_tiers must be true or false, got {serve!r}", path=path)

    roads, facilities, population, census = p("roads"), p("facilities"), p("population"), p("census")
    maps = _maps(data.get("maps", {}), path)
    measures = parse_measures(data, tiers, path)

    study = Study(
        roads_options=options["roads"],
        facilities_options=options["facilities"],
        population_options=options["population"],
        census_options=options["census"],
        speeds=speeds,
        facility_tiers={str(k): str(v) for k, v in facility_tiers.items()},
        name=name,
        path=path,
        title=str(sd.get("title", name)),
        synthetic=synthetic,
        note=str(sd.get("note", "")),
        output=output,
        roads=roads,
        facilities=facilities,
        population=population,
        counties=counties,
        census=census,
        profile=profile,
        direction=direction,
        walk_kmh=_number(net.get("walk_kmh", 4.5), "[network] walk_kmh", path, 0.5, 20),
        tiers=tiers,
        serve_lower_tiers=serve,
        maps=maps,
        measures=measures,
        cache=_flag(sd.get("cache", True), "[study] cache", path),
        scale=_scale(data.get("scale", {}), path),
        periods=_periods(data.get("travel", {}), path),
        travel=_travel(data.get("travel"), base, path),
    )
    check_output(study)
    return study


def _mode(value, key, path) -> str:
    if value not in TRAVEL_MODES:
        raise ConfigError(
            f"{key} must be one of {list(TRAVEL_MODES)} (road: today's walk to the nearest road then drive; mixed: "
            f"off-road over land cover and slope to a road, then drive; walk_only: on foot all the way), got {value!r}",
            path=path,
        )
    return value


#: land-cover classes that may be given speed 0 (a barrier): water
BARRIER_CLASSES = (80,)


def _travel(tr, base: Path, path) -> TravelSettings:
    """``[travel]`` checked once: mode, input paths, flags, cell size and the land-cover speed overrides."""
    if tr is None:
        return TravelSettings()
    if not isinstance(tr, dict):
        raise ConfigError("[travel] must be a table", path=path)
    _unknown(tr, _SECTIONS["travel"], "[travel]", path)

    def file(key):
        v = tr[key]
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"[travel] {key} must be a file path string, got {v!r}", path=path)
        q = Path(v)
        return q if q.is_absolute() else (base / q).resolve()

    barriers = tr.get("barriers", [])
    if isinstance(barriers, str):
        barriers = [barriers]
    if not isinstance(barriers, list) or not all(isinstance(b, str) and b.strip() for b in barriers):
        raise ConfigError(
            f'[travel] barriers must be a list of vector files or "osm" (the waterways of the roads file), '
            f"got {barriers!r}",
            path=path,
        )
    bar = tuple("osm" if b.strip().lower() == "osm" else file_of(b, base) for b in barriers)
    speeds_raw = tr.get("landcover_speeds", {})
    if not isinstance(speeds_raw, dict):
        raise ConfigError("[travel.landcover_speeds] must be a table of class code = km/h", path=path)
    speeds = {}
    for k, v in speeds_raw.items():
        if not str(k).isdigit() or not 1 <= int(k) <= 255:
            raise ConfigError(
                f'[travel.landcover_speeds] {k!r} is not a land-cover class code (1..255, e.g. "40" = cropland)',
                path=path,
            )
        kmh = _number(v, f"[travel.landcover_speeds] class {k}", path, None, 200)
        if kmh <= 0 and int(k) not in BARRIER_CLASSES:
            raise ConfigError(
                f"[travel.landcover_speeds] class {k} has speed {v!r} km/h: a speed must be above 0 (only water, "
                f"class {', '.join(map(str, BARRIER_CLASSES))}, may be 0 = a barrier); give it a walking speed, or "
                "add the area to [travel] barriers to make it impassable",
                path=path,
            )
        speeds[int(k)] = max(kmh, 0.0)
    anisotropic = _flag(tr.get("anisotropic", False), "[travel] anisotropic", path)
    dem = file("dem") if "dem" in tr else None
    if anisotropic and dem is None:
        raise ConfigError(
            '[travel] anisotropic = true needs a [travel] dem = "dem.tif" (elevation in metres)', path=path
        )
    no_entry = tr.get("no_entry", list(NO_ENTRY))
    if isinstance(no_entry, str):
        no_entry = [no_entry]
    if not isinstance(no_entry, list) or not all(isinstance(c, str) and c.strip() for c in no_entry):
        raise ConfigError(
            '[travel] no_entry must be a list of road class names, e.g. ["motorway", "motorway_link"] (none: []), '
            f"got {no_entry!r}",
            path=path,
        )
    return TravelSettings(
        mode=_mode(tr.get("mode", "road"), "[travel] mode", path),
        landcover=file("landcover") if "landcover" in tr else None,
        dem=dem,
        barriers=bar,
        anisotropic=anisotropic,
        knight=_flag(tr.get("knight", True), "[travel] knight", path),
        cell_m=_number(tr["cell_m"], "[travel] cell_m", path, 5, 5000) if "cell_m" in tr else None,
        landcover_speeds=speeds,
        present=True,
        compare_walk_only=_flag(tr.get("compare_walk_only", False), "[travel] compare_walk_only", path),
        no_entry=tuple(dict.fromkeys(c.strip() for c in no_entry)),
    )


def file_of(value: str, base: Path) -> Path:
    q = Path(value)
    return q if q.is_absolute() else (base / q).resolve()


def input_files(s: Study) -> list[tuple[str, Path]]:
    """Every input a study reads (the study file too), as ``(key, absolute path)``."""
    out = [("study file", s.path)] if s.path else []
    out += [(k, getattr(s, k)) for k in ("roads", "facilities", "population", "census")]
    out.append(("counties", s.counties.get("path")))
    t = s.travel
    out += [(f"[travel] {k}", getattr(t, k)) for k in ("landcover", "dem")]
    out += [("[travel] barriers", b) for b in t.barriers if b != "osm"]
    return [(k, Path(p).resolve()) for k, p in out if p is not None]


def check_output(s: Study) -> None:
    """Refuse an output folder that is an input, holds an input, or lies inside an input folder.

    The bundle replaces its folder as a whole, so any input inside it would be lost.
    """
    out = Path(s.output).resolve()
    for key, p in input_files(s):
        if out == p or out in p.parents or p in out.parents:
            where = "is" if out == p else "contains" if out in p.parents else "lies inside"
            raise ConfigError(
                f"the output folder {out} {where} the {key} input {p}; a run replaces its output folder "
                "as a whole, so set [study] output to a new folder apart from the inputs",
                path=s.path,
            )


def _scale(sc, path) -> ScaleSettings:
    """``[scale]`` checked once: a known partition level, a ``tcp://host:port`` scheduler, worker sizes."""
    if not isinstance(sc, dict):
        raise ConfigError("[scale] must be a table", path=path)
    _unknown(sc, _SECTIONS["scale"], "[scale]", path)
    return scale_settings(
        sc.get("partition"), sc.get("scheduler"), sc.get("workers", 0), sc.get("worker_memory_gb", 0.0), path
    )


def scale_settings(partition=None, scheduler=None, workers=0, worker_memory_gb=0.0, path=None) -> ScaleSettings:
    """A checked :class:`ScaleSettings` (the study file's ``[scale]`` or the command line's ``--partition``)."""
    if partition is not None and partition not in PARTITION_DIGITS:
        raise ConfigError(f"[scale] partition must be one of {sorted(PARTITION_DIGITS)}, got {partition!r}", path=path)
    if scheduler is not None:
        _string(scheduler, "[scale] scheduler", path)
        if not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s/]+(:\d+)?/?", scheduler.strip()):
            raise ConfigError(
                f"[scale] scheduler must be a Dask scheduler address such as 'tcp://10.0.0.5:8786', got {scheduler!r}",
                path=path,
            )
        scheduler = scheduler.strip()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= 1024:
        raise ConfigError(
            f"[scale] workers must be a whole number 0..1024 (0: one per core), got {workers!r}", path=path
        )
    mem = _number(worker_memory_gb, "[scale] worker_memory_gb", path, 0, 4096)
    return ScaleSettings(partition, scheduler, workers, mem)


def _flag(value, key, path) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}", path=path)
    return value


def _maps(mp: dict, path) -> MapSettings:
    basemap = mp.get("basemap", "none")
    if not isinstance(basemap, str) or not (
        basemap in ("none", "osm") or (basemap.startswith(("http://", "https://")) and "{z}" in basemap)
    ):
        raise ConfigError(
            f'[maps] basemap must be "none", "osm" or an XYZ URL with {{z}}/{{x}}/{{y}}, got {basemap!r}', path=path
        )
    language = mp.get("language", "auto")
    if language not in LANGUAGES:
        raise ConfigError(f"[maps] language must be one of {LANGUAGES}, got {language!r}", path=path)
    crs = mp.get("basemap_crs", "auto")
    if crs not in BASEMAP_CRS:
        raise ConfigError(f"[maps] basemap_crs must be one of {BASEMAP_CRS}, got {crs!r}", path=path)
    bands = mp.get("bands_min", list(MapSettings.bands_min))
    if not isinstance(bands, list) or not bands:
        raise ConfigError(f"[maps] bands_min must be a non-empty list of minutes, got {bands!r}", path=path)
    bands = tuple(sorted(_number(b, "[maps] bands_min", path, 1, 1440) for b in bands))
    return MapSettings(
        basemap=basemap,
        basemap_attribution=str(mp.get("basemap_attribution", "")),
        basemap_crs=crs,
        language=language,
        bands_min=bands,
    )


def _numbers(value, key, path, lo=None, hi=None, increasing=False) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list of numbers, got {value!r}", path=path)
    out = tuple(_number(v, key, path, lo, hi) for v in value)
    if increasing and any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise ConfigError(f"{key} must increase, got {list(out)}", path=path)
    return out


def _mapping(value, key, path, keys=None, number=True, lo=None, hi=None) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a table, got {value!r}", path=path)
    if keys is not None:
        _unknown(value, keys, key, path)
    if number:
        return {k: _number(v, f"{key}.{k}", path, lo, hi) for k, v in value.items()}
    bad = {k: v for k, v in value.items() if not isinstance(v, str)}
    if bad:
        raise ConfigError(f"{key} values must be strings, got {bad}", path=path)
    return dict(value)


def _condition(text, where, tier_names, path) -> Condition:
    parts = str(text).split() if isinstance(text, str) else []
    if len(parts) != 3 or parts[1] not in OPS:
        raise ConfigError(
            f"{where}: condition {text!r} must read 'column op value', e.g. 'tiers_failed >= 2', with op one of {OPS}",
            path=path,
        )
    col, op, raw = parts
    allowed = {c.format(tier=t) for c in RULE_COLUMNS for t in tier_names}
    if col not in allowed:
        raise ConfigError(f"{where}: unknown column {col!r}; rules may test {sorted(allowed)}", path=path)
    if raw == "target":
        targeted = {c.format(tier=t) for c in TARGET_COLUMNS for t in tier_names}
        if col not in targeted:
            raise ConfigError(f"{where}: only {sorted(targeted)} have a target; give {col} a number", path=path)
        return Condition(col, op, "target")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{where}: {raw!r} in {text!r} is neither a number nor 'target'", path=path) from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {raw!r} in {text!r} must be a finite number or 'target'", path=path)
    return Condition(col, op, value)


def parse_measures(data: dict, tiers: tuple[Tier, ...], path: Path | None = None) -> Measures:
    """Read the measures' sections ([coverage], [capacity], [accessibility], [referral], [service_share], [zones])."""
    names = [t.name for t in tiers]
    sec = {}
    for k in ("coverage", "capacity", "accessibility", "referral", "service_share", "zones"):
        v = data.get(k, {})
        if not isinstance(v, dict):
            raise ConfigError(f"[{k}] must be a table", path=path)
        _unknown(v, _SECTIONS[k], f"[{k}]", path)
        sec[k] = v
    d = Measures()
    kw: dict[str, Any] = {}
    cov, cap, acc, ref, share, zones = (sec[k] for k in sec)
    if "curve_minutes" in cov:
        kw["curve_minutes"] = _numbers(cov["curve_minutes"], "[coverage] curve_minutes", path, 0, 1440, True)
    if "percentiles" in cov:
        kw["percentiles"] = _numbers(cov["percentiles"], "[coverage] percentiles", path, 0, 100, True)
    if "people_per_bed" in cap:
        kw["people_per_bed"] = _mapping(cap["people_per_bed"], "[capacity] people_per_bed", path, names, lo=0, hi=1e6)
    if "people_per_facility" in cap:
        kw["people_per_facility"] = _mapping(
            cap["people_per_facility"], "[capacity] people_per_facility", path, names, lo=0, hi=1e8
        )
    if "cutoff_min" in acc:
        kw["fca_cutoff_min"] = _number(acc["cutoff_min"], "[accessibility] cutoff_min", path, 1, 240)
    if "step_minutes" in acc:
        kw["step_minutes"] = _numbers(acc["step_minutes"], "[accessibility] step_minutes", path, 0, 240, True)
    if "step_weights" in acc:
        kw["step_weights"] = _numbers(acc["step_weights"], "[accessibility] step_weights", path, 0, 1)
    if len(kw.get("step_minutes", d.step_minutes)) != len(kw.get("step_weights", d.step_weights)):
        raise ConfigError("[accessibility] step_minutes and step_weights need the same length", path=path)
    if "gaussian_sigma_min" in acc:
        kw["gaussian_sigma_min"] = _number(
            acc["gaussian_sigma_min"], "[accessibility] gaussian_sigma_min", path, 1, 240
        )
    if "gravity_beta" in acc:
        kw["gravity_beta"] = _number(acc["gravity_beta"], "[accessibility] gravity_beta", path, 0.1, 5)
    levels = d.referral_levels
    if "levels" in ref:
        lv = ref["levels"]
        if (
            not isinstance(lv, list)
            or len(lv) < 2
            or not all(isinstance(x, str) for x in lv)
            or len(set(lv)) != len(lv)
        ):
            raise ConfigError(f"[referral] levels must list two or more distinct names, got {lv!r}", path=path)
        levels = kw["referral_levels"] = tuple(lv)
    for key, field_name in (("type_level", "type_level"), ("tier_level", "tier_level")):
        if key in ref:
            kw[field_name] = _mapping(
                ref[key], f"[referral] {key}", path, names if key == "tier_level" else None, False
            )
    for key in ("type_level", "tier_level"):
        bad = sorted(set(kw.get(key, getattr(d, key)).values()) - set(levels))
        if bad and (key in ref or "levels" in ref):
            raise ConfigError(f"[referral] {key} names unknown level(s) {bad}; levels are {list(levels)}", path=path)
    if "threshold_min" in ref:
        kw["referral_threshold_min"] = _mapping(
            ref["threshold_min"], "[referral] threshold_min", path, set(levels), lo=0, hi=1440
        )
    if "tier" in share:
        if share["tier"] not in names:
            raise ConfigError(f"[service_share] tier must be one of {names}, got {share['tier']!r}", path=path)
        kw["share_tier"] = share["tier"]
    elif d.share_tier not in names:
        kw["share_tier"] = names[min(1, len(names) - 1)]
    if "method" in share:
        if share["method"] not in ("huff", "nearest"):
            raise ConfigError(f"[service_share] method must be 'huff' or 'nearest', got {share['method']!r}", path=path)
        kw["share_method"] = share["method"]
    if "huff_beta" in share:
        kw["huff_beta"] = _number(share["huff_beta"], "[service_share] huff_beta", path, 0.1, 5)
    if "target" in share:
        kw["share_target"] = _number(share["target"], "[service_share] target", path, 0, 1)
    if "exempt_suffixes" in share:
        ex = share["exempt_suffixes"]
        if not isinstance(ex, list) or not all(isinstance(x, str) and x for x in ex):
            raise ConfigError(f"[service_share] exempt_suffixes must be a list of name endings, got {ex!r}", path=path)
        kw["share_exempt_suffixes"] = tuple(ex)
    rules = default_zone_rules(names)
    if "rules" in zones:
        raw = zones["rules"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError("[[zones.rules]] must be a non-empty array of tables", path=path)
        out = []
        for i, r in enumerate(raw):
            where = f"[[zones.rules]] entry {i + 1}"
            if not isinstance(r, dict):
                raise ConfigError(f"{where} must be a table", path=path)
            _unknown(r, _RULE_KEYS, where, path)
            if r.get("zone") not in ZONE_KEYS:
                raise ConfigError(f"{where}: zone must be one of {ZONE_KEYS}, got {r.get('zone')!r}", path=path)
            if "any" in r and "all" in r:
                raise ConfigError(f"{where}: give either any or all, not both", path=path)
            conds = {}
            for k in ("any", "all"):
                if k in r:
                    if not isinstance(r[k], list) or not r[k]:
                        raise ConfigError(f"{where}: {k} must be a non-empty list of conditions", path=path)
                    conds[k] = tuple(_condition(c, where, names, path) for c in r[k])
            out.append(ZoneRule(r["zone"], **conds))
        if out[-1].any or out[-1].all:
            raise ConfigError(
                "the last [[zones.rules]] entry must have no conditions: it takes every county no rule above took",
                path=path,
            )
        if any(not (r.any or r.all) for r in out[:-1]):
            raise ConfigError("only the last [[zones.rules]] entry may have no conditions", path=path)
        rules = tuple(out)
    kw["zone_rules"] = rules
    return Measures(**kw)


def synthetic_note(s: Study) -> str:
    """The label every output of a synthetic study carries (empty for real data)."""
    if not s.synthetic:
        return ""
    return s.note or "SYNTHETIC DATA: inputs of this study are generated, not real."
