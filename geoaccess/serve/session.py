"""One study served: its :class:`~geoaccess.scenarios.Baseline` (computed once), the baseline's answers kept as
JSON, and scenarios applied one at a time (a lock per study) while reads of the baseline never wait.

Nothing here touches the study's inputs or its baseline bundle: a scenario's edited tables are new objects,
and saved scenarios go to ``<study output>/scenarios/<name>/`` (:func:`geoaccess.scenarios.write_scenario`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree

from geoaccess.config import synthetic_note
from geoaccess.errors import ConfigError, InputError
from geoaccess.outputs import i18n
from geoaccess.outputs._atomic import output_lock, replace_folder
from geoaccess.outputs.compare import change_image
from geoaccess.scenarios import EDITS, Baseline, Scenario, load_scenario, make_scenario, to_toml, whatif
from geoaccess.scenarios.write import language, scenario_folder, write_scenario
from geoaccess.study import Study

log = logging.getLogger(__name__)

# county-table columns the page shows (per tier, then the county's zone); the API returns every column
TIER_COLUMNS = ("share_within", "people_beyond", "median_min", "status")
# the scenario name a request without one gets (the page saves under a name the planner gives)
DEFAULT_NAME = "web"
REQUEST_PATH = Path("scenario.toml")
# answers kept per distinct scenario (about 50 kB each on the demo): undo and redo answer at once
MEMO_ENTRIES = 64
# the change layer sent with each answer: one PNG per tier of at most this many pixels a side (as a notebook map's
# travel-time image; a province's change drawn at full resolution would be megabytes per click)
CHANGE_IMAGE_PX = 1536


class ScenarioRejected(InputError):
    """A scenario request that cannot be applied; ``problems`` lists every reason (as the CLI gives them)."""


class Session:
    """A study, its baseline and a lock that serialises scenario runs on it.

    Parameters
    ----------
    study
        A loaded :class:`~geoaccess.study.Study`; its baseline is computed (or read from the cache) here, once.
    warm
        Run two small scenarios at start, so the first click does not wait for compiled kernels to load.
    """

    def __init__(self, study: Study, *, warm: bool = True):
        t0 = time.perf_counter()
        global _MALLOC_TRIM
        if _MALLOC_TRIM is None:  # a server tunes its allocator before the baseline's arrays are made
            _MALLOC_TRIM = _load_trim()
        self.study = study
        self.baseline = Baseline.of(study)
        self.lock = threading.Lock()  # scenarios one at a time: they share the study's OD pool and caches
        self.memo: OrderedDict[str, dict] = OrderedDict()  # guarded by ``lock``
        # the server runs every scenario on this one thread: with the lock they would run one at a time anyway, and
        # one thread keeps one malloc arena (measured on the demo: 20 clients through a thread pool left the
        # process 68 % larger after 100 scenarios)
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="geoaccess-scenario")
        s = study.settings
        inp = self.baseline.inputs
        self.lang = language(self.baseline)
        self.tiers = [
            {
                "name": t.name,
                "label": i18n.tier_label(t.name, self.lang, t.label),
                "threshold_min": t.threshold_min,
                "target": t.target_share,
            }
            for t in s.tiers
        ]
        fac = inp.facilities
        self.facility_ids = set(fac["id"])
        self._road_lock = threading.Lock()  # the road tools' lookups, built on first use (not on the scenario thread)
        self._roads: RoadTools | None = None
        base = self.baseline.counties
        payload = {
            "study": {"name": s.name, "title": s.title, "language": self.lang, "synthetic": synthetic_note(s)},
            "tiers": self.tiers,
            "zones": {z: i18n.zone_label(z, self.lang) for z in i18n.ZONE_LABELS},
            "counties": records(base),
            "headline": headline(base, s.tiers),
            "facilities": _facilities(fac),
        }
        # the baseline's answers, serialised once: a read never waits for a scenario
        self.baseline_json = dumps(payload)
        self.geometry_json = dumps(_county_geometry(inp.counties))
        self.bounds = [float(v) for v in inp.counties.to_crs("EPSG:4326").total_bounds]
        if warm:
            self._warm(fac, inp)
        log.info("baseline ready in %.1f s (%d counties, %d facilities)", time.perf_counter() - t0, len(base), len(fac))

    def _warm(self, fac, inp) -> None:
        """One add and one remove, results dropped: every kernel a click needs is loaded before the first click."""
        top = int(np.argmax(fac["tier_rank"].to_numpy()))
        to_ll = pyproj.Transformer.from_crs(inp.network.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_ll.transform(float(np.median(inp.network.x)), float(np.median(inp.network.y)))
        tier = self.tiers[-1]["name"]
        for edits in ({"add": [{"lon": lon, "lat": lat, "tier": tier}]}, {"remove": [str(fac["id"].iat[top])]}):
            try:
                self.run(edits)
            except InputError:  # a centre outside the counties: no warm-up, no harm
                pass

    # -- scenarios ------------------------------------------------------------------------------------------
    def scenario(self, body) -> Scenario:
        """A :class:`Scenario` from a JSON body shaped like a scenario file; every problem in one error."""
        if not isinstance(body, dict):
            raise ScenarioRejected("the request body must be a JSON object shaped like a scenario file")
        head = body.get("scenario", {})
        problems = []
        if not isinstance(head, dict):
            problems.append("scenario must be an object with name and title")
            head = {}
        bad = sorted(set(head) - {"name", "title"})
        if bad:
            problems.append(f"unknown key(s) {bad} in scenario; allowed keys: ['name', 'title']")
        unknown = sorted(set(body) - set(EDITS) - {"scenario"})
        if unknown:
            problems.append(f"unknown section(s) {unknown}; allowed: scenario and {list(EDITS)}")
        for key in ("name", "title"):
            if key in head and not isinstance(head[key], str):
                problems.append(f"scenario {key} must be a string, got {head[key]!r}")
        if problems:
            raise ScenarioRejected("the scenario cannot be read", problems=problems)
        edits = {k: v for k, v in body.items() if k in EDITS}
        try:
            # named as the file the page saves, so every message reads as the CLI's for that file ("[[add]] entry 1")
            return make_scenario(
                str(head.get("name", DEFAULT_NAME)), title=str(head.get("title", "")), path=REQUEST_PATH, **edits
            )
        except ConfigError as err:
            raise ScenarioRejected(str(err).split("\n", 1)[0], problems=err.problems or [str(err)]) from None

    def run(self, body) -> dict:
        """Apply a scenario to the baseline; its county table, the per-county changes, headline and timings."""
        t0 = time.perf_counter()
        scenario = self.scenario(body)
        key = json.dumps([scenario.name, scenario.title, scenario.edits], sort_keys=True, default=str)
        with self.lock:
            t1 = time.perf_counter()
            answer = self.memo.get(key)
            if answer is not None:
                self.memo.move_to_end(key)
                timings = {"memo": 1.0}
            else:
                answer = self._answer(scenario)
                self.memo[key] = answer
                while len(self.memo) > MEMO_ENTRIES:
                    self.memo.popitem(last=False)
                _trim()
                timings = answer["timings"]
        timings = timings | {"waited": round(t1 - t0, 4), "request": round(time.perf_counter() - t0, 4)}
        return answer | {"timings": timings}

    def _answer(self, scenario: Scenario) -> dict:
        try:
            result = whatif(self.baseline, scenario)
        except InputError as err:
            raise ScenarioRejected(str(err).split("\n", 1)[0], problems=err.problems or [str(err)]) from None
        compare = result.compare(self.baseline)
        s = self.study.settings
        t0 = time.perf_counter()
        pop = self.baseline.inputs.population
        change, moved = {}, {}
        for t in s.tiers:
            before, after = self.baseline.tiers[t.name].minutes, result.tiers[t.name].minutes
            moved[t.name] = int(np.count_nonzero(before != after))
            change[t.name] = change_image(pop, before, after, max_px=CHANGE_IMAGE_PX) if moved[t.name] else None
        timings = {k: round(v, 4) for k, v in result.timings.items()} | {
            "change_layer": round(time.perf_counter() - t0, 4)
        }
        return {
            "name": result.name,
            "edits": result.scenario.describe(),
            "counties": records(result.counties),
            "changes": records(compare),
            "headline": headline(result.counties, s.tiers),
            "facilities": _changed_facilities(result.facilities),
            "recompute": result.recompute,
            # per tier: the change in minutes per cell as an image (gains green, losses red), and how many cells
            # changed (the page shows the tier with most when no tier map is open)
            "change": change,
            "cells_changed": moved,
            "timings": timings,
        }

    def save(self, body) -> dict:
        """Write the scenario's TOML into ``<output>/scenarios/<name>/``, and with ``"bundle": true`` the same
        compare bundle as ``geoaccess whatif`` (the folder is replaced whole, so no page is left stale)."""
        if isinstance(body, dict):
            body = dict(body)
            bundle = body.pop("bundle", False)
        else:
            bundle = False
        if not isinstance(bundle, bool):
            raise ScenarioRejected("bundle must be true or false", problems=[f"bundle: got {bundle!r}"])
        scenario = self.scenario(body)
        if not len(scenario):
            raise ScenarioRejected("nothing to save", problems=["the scenario has no edits"])
        out = scenario_folder(self.baseline, scenario.name)
        with self.lock:
            if bundle:
                try:
                    result = whatif(self.baseline, scenario)
                except InputError as err:
                    raise ScenarioRejected(str(err).split("\n", 1)[0], problems=err.problems or [str(err)]) from None
                files = write_scenario(self.baseline, result)
            else:
                root = Path(self.study.settings.output).resolve()
                with output_lock(root), replace_folder(out) as tmp:
                    (tmp / "scenario.toml").write_text(to_toml(scenario), encoding="utf-8")
                files = [out / "scenario.toml"]
        root = Path(self.study.settings.output).resolve()
        return {"name": scenario.name, "folder": str(out.relative_to(root)), "files": [f.name for f in files]}

    # -- roads ------------------------------------------------------------------------------------------------
    def road_at(self, lon: float, lat: float) -> dict:
        """The road link nearest to a point and the junction nearest to it, for the page's road tools
        (:meth:`RoadTools.at`)."""
        with self._road_lock:
            if self._roads is None:
                self._roads = RoadTools(self.baseline.inputs.network)
        return self._roads.at(lon, lat)

    # -- saved scenarios --------------------------------------------------------------------------------------
    def saved(self) -> list[dict]:
        """Scenarios saved under ``<output>/scenarios/`` (those with a ``scenario.toml``), newest first."""
        root = Path(self.study.settings.output).resolve() / "scenarios"
        files = sorted(root.glob("*/scenario.toml"), key=lambda p: p.stat().st_mtime, reverse=True)
        out = []
        for f in files:
            try:
                sc = load_scenario(f)
            except InputError:  # a file edited by hand into something invalid: listed nowhere, loaded never
                continue
            out.append({"name": f.parent.name, "title": sc.title, "edits": len(sc)})
        return out

    def load(self, name: str) -> dict | None:
        """A saved scenario as a request body (the shape ``POST /api/scenario`` takes), or ``None``."""
        try:
            path = scenario_folder(self.baseline, name) / "scenario.toml"
        except InputError:
            return None
        if not path.is_file():
            return None
        sc = load_scenario(path)
        return {"scenario": {"name": sc.name, "title": sc.title}, **{k: v for k, v in sc.edits.items() if v}}


def _load_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = libc.malloc_trim if libc else None
        # arrays of 4 MiB and more from mmap, always: glibc otherwise raises its mmap threshold after the first such
        # array is freed and serves later ones from the heap, where they fragment. Measured on the demo
        # (bench/bench_serve.py, 100 mixed scenarios from 20 clients): +6.5 % resident memory with it, +23 % without;
        # at 1 MiB the clicks took about a third longer (fresh pages for every per-cell array)
        libc.mallopt(M_MMAP_THRESHOLD, 4 << 20)
        return trim
    except (OSError, AttributeError):  # not glibc: nothing to tune or trim
        return None


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MALLOC_TRIM = None


def _trim() -> None:
    """Hand the scenario's freed memory back to the system (glibc keeps it otherwise): a served study's memory
    stays near the baseline's however many scenarios it answers."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


# -- JSON --------------------------------------------------------------------------------------------------
def _plain(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None  # JSON has no NaN or infinity
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v


def records(table: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts: numbers as JSON numbers, NaN and infinity as null."""
    cols = list(table.columns)
    return [{c: _plain(v) for c, v in zip(cols, row, strict=True)} for row in table.itertuples(index=False)]


class RoadTools:
    """The page's road tools on ``net``: the link and the junction nearest to a clicked point.

    A junction goes to the page, and back in a ``road_add`` or ``road_speed`` edit, at its exact longitude and
    latitude (JSON and the scenario TOML keep a float's every digit), never rounded: the scenario snaps an end to the
    nearest junction again (:func:`geoaccess.scenarios.apply.apply_roads`), and a rounded point (6 decimals: up to
    7 cm off) could snap to another junction a few centimetres away (a bridge's node over a road's) or fall outside
    the study area when its junction lies on the border. The page shows them rounded.
    """

    def __init__(self, net):
        self.net = net
        self.to_m = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
        self.to_ll = pyproj.Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
        self.junctions = cKDTree(np.column_stack([net.x, net.y]))

    def lonlat(self, node: int) -> list[float]:
        """A junction's exact ``[lon, lat]``."""
        lon, lat = self.to_ll.transform(float(self.net.x[node]), float(self.net.y[node]))
        return [float(lon), float(lat)]

    def at(self, lon: float, lat: float) -> dict:
        """``link``: the nearest link's line (``[lat, lon]`` pairs, rounded for drawing), its class, length, today's
        km/h and its two junctions (``ends``, ``[lon, lat]``: a ``road_speed`` route through them is that link);
        ``junction``: where a ``road_add`` end at this point snaps (the nearest junction, as the scenario does), and
        how far it is (``junction_m``)."""
        net = self.net
        x, y = self.to_m.transform(lon, lat)
        snap = net.snap(np.array([x]), np.array([y]))
        k = int(snap.link[0])
        d, j = self.junctions.query([x, y])
        out = {"junction": self.lonlat(int(j)), "junction_m": round(float(d), 1), "link": None}
        if k < 0:
            return out
        g = net.geometry[k]
        xs, ys = np.asarray(g.coords).T
        llon, llat = self.to_ll.transform(xs, ys)
        mins = float(net.link_fwd[k] if np.isfinite(net.link_fwd[k]) else net.link_bwd[k])
        out["link"] = {
            "coords": [[round(float(b), 6), round(float(a), 6)] for a, b in zip(llon, llat, strict=True)],
            "class": "" if net.link_class is None else str(net.link_class[k]),
            "length_m": round(float(g.length), 1),
            "kmh": round(g.length / 1000.0 / (mins / 60.0), 1) if mins > 0 and np.isfinite(mins) else None,
            "ends": [self.lonlat(int(n)) for n in (net.link_u[k], net.link_v[k])],
            "offroad_m": round(float(snap.offroad_m[0]), 1),
        }
        return out


def dumps(payload) -> bytes:
    # allow_nan=False: a NaN that slipped through is a bug, not an invalid document for the browser
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def headline(table: pd.DataFrame, tiers) -> dict:
    """People beyond each tier's threshold, counties failing any tier, counties per zone."""
    fails = np.zeros(len(table), dtype=bool)
    beyond = {}
    for t in tiers:
        beyond[t.name] = float(table[f"{t.name}_people_beyond"].sum())
        fails |= (table[f"{t.name}_status"] == "fail").to_numpy()
    zones = table["zone"].value_counts().to_dict() if "zone" in table.columns else {}
    return {
        "people_beyond": beyond,
        "counties_failing": int(fails.sum()),
        "counties": len(table),
        "zones": {str(k): int(v) for k, v in zones.items()},
    }


def _facilities(fac) -> list[dict]:
    return [
        {
            "id": str(i),
            "name": str(n),
            "tier": str(t),
            "beds": _plain(b),
            "lon": round(float(x), 6),
            "lat": round(float(y), 6),
        }
        for i, n, t, b, x, y in zip(
            fac["id"], fac["name"], fac["tier"], fac["beds"], fac.geometry.x, fac.geometry.y, strict=True
        )
    ]


def _changed_facilities(fac) -> list[dict]:
    """The scenario's facility rows that differ from the baseline's (added, removed, moved, re-tiered, campus)."""
    sel = fac[fac["change"] != ""]
    rows = _facilities(sel)
    parents = sel["parent_id"] if "parent_id" in sel.columns else [""] * len(sel)
    for r, change, parent in zip(rows, sel["change"], parents, strict=True):
        r["change"] = str(change)
        r["parent_id"] = "" if parent is None else str(parent)
    return rows


def _county_geometry(counties) -> dict:
    """Counties as GeoJSON (WGS84), simplified to about 50 m: the page draws outlines, not a survey."""
    g = counties.to_crs("EPSG:4326")[["county_code", "county_name", "geometry"]].copy()
    g["geometry"] = g.geometry.simplify(0.0005, preserve_topology=True)
    g["county_code"] = g["county_code"].astype(str)
    g["county_name"] = g["county_name"].astype(str)
    return json.loads(g.to_json(drop_id=True))
