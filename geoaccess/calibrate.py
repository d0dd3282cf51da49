"""Fit road-class speeds to observed trip times (``geoaccess calibrate STUDY.toml --trips observed.csv``).

Observed trips are web-map routing samples or GPS traces: origin and destination (lon/lat, WGS84, GCJ-02 or BD-09,
as such samples usually are), minutes, and optionally the period of day they were taken in. Each trip is routed
door to door on the study's network (:class:`geoaccess.trip.Trip`: walk to the road, drive, walk to the door), so
its modelled minutes are ``walk + sum_c m_c / f_c``, where ``m_c`` are the minutes the route spends on road class
``c`` at the study's speeds and ``f_c`` the class's speed factor. With ``g_c = 1 / f_c`` that is linear, so the
factors are fitted by bounded least squares (:func:`scipy.optimize.lsq_linear`, factors between
:data:`FACTOR_BOUNDS`) on relative errors, with Huber weights recomputed from the residuals (iteratively
reweighted; outliers such as a trip caught in an accident get little weight); the trips are then routed again at
the fitted speeds (faster roads attract routes) and the fit repeated until the factors change by less than 0.1 %.

Ramps (``trunk_link``) share their road's factor. A class no trip uses keeps factor 1 (a faint pull towards 1
decides it). Trips whose period is empty fit the study's speeds (``[network.speeds]``); trips of a named period fit
``[travel.periods.<name>]`` factors relative to those speeds.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from geoaccess import coords as _coords
from geoaccess.config import PERIOD_FACTOR_RANGE
from geoaccess.errors import InputError
from geoaccess.network import Network
from geoaccess.periods import class_codes, parent_class, scale_network
from geoaccess.trip import Trip

log = logging.getLogger(__name__)

__all__ = ["Calibration", "calibrate", "evaluate", "read_trips", "route_trips", "speeds_toml"]

#: lowest and highest speed factor a fit may return
FACTOR_BOUNDS = (0.05, 4.0)
#: Huber's tuning constant (95 % efficiency under normal errors), in robust standard deviations
HUBER_K = 1.345
#: weight of the pull of each factor towards 1, against a trip's relative error (decides classes no trip uses)
PRIOR_WEIGHT = 0.01
#: a class whose factor has a larger relative standard error is not fitted (keeps its speed)
MAX_RELATIVE_SE = 0.1
#: a trip end farther than this from the study's counties is "outside the area"
AREA_TOLERANCE_M = 2000.0

_COLUMNS = {
    "origin_lon": ("origin_lon", "o_lon", "from_lon", "start_lon", "olon"),
    "origin_lat": ("origin_lat", "o_lat", "from_lat", "start_lat", "olat"),
    "destination_lon": ("destination_lon", "dest_lon", "d_lon", "to_lon", "end_lon", "dlon"),
    "destination_lat": ("destination_lat", "dest_lat", "d_lat", "to_lat", "end_lat", "dlat"),
    "minutes": ("minutes", "duration_min", "time_min", "travel_min"),
}
_OPTIONAL = {"period": ("period", "time_of_day"), "crs": ("crs", "coords", "coordinate_system")}


# -- reading ----------------------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError("observed trips file not found; check the --trips path", path=path)
    last = None
    for enc in ("utf-8-sig", "gbk"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
        except UnicodeDecodeError as exc:
            last = exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"not a readable CSV table ({exc}); save it as CSV with a header row", path=path) from None
    raise InputError(f"the trips file is neither UTF-8 nor GBK text ({last}); save it as UTF-8", path=path)


def read_trips(path: str | Path, crs: str | None = None, area=None) -> pd.DataFrame:
    """Observed trips as WGS84 ``origin_lon/lat``, ``destination_lon/lat``, ``minutes``, ``period`` and ``row``.

    Parameters
    ----------
    path
        CSV (UTF-8 or GBK) with a header; column names as in :data:`_COLUMNS` (``origin_lon``, ``o_lon`` …),
        optional ``period`` and ``crs`` (per row: ``wgs84``, ``gcj02``/``amap``, ``bd09``/``baidu``).
    crs
        Coordinate system of rows without a ``crs`` value (default WGS84).
    area
        A shapely geometry in WGS84 (the study's counties): trip ends farther than :data:`AREA_TOLERANCE_M`
        from it are refused.

    Every problem (missing columns, bad numbers, non-positive minutes, unknown coordinate systems, trips outside
    the area) is reported at once in one :class:`~geoaccess.errors.InputError` naming the file and the rows
    (line numbers as a spreadsheet shows them, the header being line 1).
    """
    path = Path(path)
    raw = _read_csv(path)
    lower = {c.strip().lower(): c for c in raw.columns}
    found, missing = {}, []
    for key, names in {**_COLUMNS, **_OPTIONAL}.items():
        col = next((lower[n] for n in names if n in lower), None)
        if col is None and key in _COLUMNS:
            missing.append(f"{key} (or one of {', '.join(names[1:])})")
        found[key] = col
    if missing:
        raise InputError(
            f"missing column(s): {'; '.join(missing)}. The file has {list(raw.columns)}; name the columns "
            "origin_lon, origin_lat, destination_lon, destination_lat, minutes (optional: period, crs)",
            path=path,
        )
    if raw.empty:
        raise InputError("the trips file has a header but no trips", path=path)
    default = "wgs84"
    if crs is not None:
        try:
            default = _coords.normalise_system(crs)
        except ValueError as exc:
            raise InputError(f"--crs: {exc}", path=path) from None
    line = np.arange(len(raw)) + 2
    problems: list[str] = []
    out = pd.DataFrame({"row": line})
    for key in _COLUMNS:
        v = pd.to_numeric(raw[found[key]].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(v))
        for i in bad[:20]:
            problems.append(f"line {line[i]}: {found[key]} = {raw[found[key]].iloc[i]!r} is not a number")
        if bad.size > 20:
            problems.append(f"... {bad.size - 20} more lines with a bad {found[key]}")
        out[key] = v
    bad = np.flatnonzero(np.isfinite(out["minutes"]) & (out["minutes"] <= 0))
    for i in bad:
        problems.append(f"line {line[i]}: minutes = {out['minutes'].iloc[i]:g}; observed minutes must be above 0")
    for end in ("origin", "destination"):
        lon, lat = out[f"{end}_lon"].to_numpy(), out[f"{end}_lat"].to_numpy()
        bad = np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))
        for i in bad:
            problems.append(f"line {line[i]}: {end} ({lon[i]:g}, {lat[i]:g}) is not a lon/lat (swapped or projected?)")
    systems = np.full(len(raw), default, dtype=object)
    if found["crs"] is not None:
        given = raw[found["crs"]].str.strip()
        for i in np.flatnonzero(given.to_numpy() != ""):
            try:
                systems[i] = _coords.normalise_system(given.iloc[i])
            except ValueError:
                problems.append(
                    f"line {line[i]}: unknown coordinate system {given.iloc[i]!r}; use wgs84, gcj02 (Amap, Tencent) "
                    "or bd09 (Baidu)"
                )
    out["period"] = raw[found["period"]].str.strip().to_numpy() if found["period"] else ""
    if problems:
        raise InputError(f"{len(problems)} problem(s) in the observed trips; fix these lines", path=path,
                         problems=problems)  # fmt: skip
    out["crs"] = systems
    for end in ("origin", "destination"):
        lon, lat = out[f"{end}_lon"].to_numpy().copy(), out[f"{end}_lat"].to_numpy().copy()
        for s in ("gcj02", "bd09"):
            m = systems == s
            if m.any():
                lon[m], lat[m] = _coords.to_wgs84(lon[m], lat[m], s)
        out[f"{end}_lon"], out[f"{end}_lat"] = lon, lat
    if area is not None:
        _check_area(out, area, path)
    return out


def _check_area(trips: pd.DataFrame, area, path) -> None:
    import shapely

    c = area.centroid
    from geoaccess.load.roads import utm_crs

    crs = utm_crs(c.x, c.y)
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    metric = shapely.transform(area, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))
    metric = shapely.buffer(metric, AREA_TOLERANCE_M)
    shapely.prepare(metric)
    problems = []
    for end in ("origin", "destination"):
        x, y = tf.transform(trips[f"{end}_lon"].to_numpy(), trips[f"{end}_lat"].to_numpy())
        inside = shapely.contains_xy(metric, x, y)
        for i in np.flatnonzero(~inside)[:50]:
            problems.append(
                f"line {trips['row'].iloc[i]}: {end} ({trips[f'{end}_lon'].iloc[i]:.5f}, "
                f"{trips[f'{end}_lat'].iloc[i]:.5f} WGS84) is outside the study's counties"
            )
    if problems:
        raise InputError(
            f"{len(problems)} trip end(s) lie outside the study area (more than {AREA_TOLERANCE_M:g} m from its "
            "counties); drop those trips, or check the coordinate system (--crs gcj02 for Amap, bd09 for Baidu) "
            "and that longitude and latitude are not swapped",
            path=path,
            problems=problems,
        )


# -- routing ----------------------------------------------------------------------------------------------------
@dataclass
class Routes:
    """Observed trips routed at some speed factors: modelled minutes and the base minutes per class group."""

    minutes: np.ndarray  # door to door at the factors routed with (inf: unreachable)
    walk: np.ndarray  # minutes of both walking legs
    group_base: np.ndarray  # n x groups: minutes on each class group at the study's speeds


class _Router:
    """The network's arcs with their road classes, and the trips snapped once, for repeated routing."""

    def __init__(self, net: Network, olon, olat, dlon, dlat, walk_kmh: float):
        self.net = net
        self.walk_kmh = walk_kmh
        names, codes = class_codes(net)
        self.class_names = names
        self.link_code = codes
        groups = sorted({parent_class(str(n)) for n in names})
        self.groups = groups
        self.class_group = np.array([groups.index(parent_class(str(n))) for n in names], dtype=np.int64)
        fwd, bwd = np.isfinite(net.link_fwd), np.isfinite(net.link_bwd)
        tail = np.concatenate([net.link_u[fwd], net.link_v[bwd]])
        head = np.concatenate([net.link_v[fwd], net.link_u[bwd]])
        base = np.concatenate([net.link_fwd[fwd], net.link_bwd[bwd]])
        cls = np.concatenate([codes[fwd], codes[bwd]])
        order = np.argsort(tail, kind="stable")
        self.arc_tail, self.head = tail[order], head[order]
        self.base, self.arc_class = base[order], cls[order]
        self.indptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(tail, minlength=net.n_nodes), out=self.indptr[1:])
        tf = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
        self.osnap = net.snap(*tf.transform(np.asarray(olon), np.asarray(olat)))
        self.dsnap = net.snap(*tf.transform(np.asarray(dlon), np.asarray(dlat)))

    def subset(self, rows) -> _Router:
        """The same router for some of the trips."""
        other = object.__new__(_Router)
        other.__dict__.update(self.__dict__)
        other.osnap, other.dsnap = self.osnap[rows], self.dsnap[rows]
        return other

    def route(self, group_factor: np.ndarray) -> Routes:
        """Route every trip with speed factor ``group_factor[g]`` on class group g."""
        import numba

        from geoaccess import _calibrate_kernels as _ck

        f_class = np.asarray(group_factor, dtype=np.float64)[self.class_group]
        scaled = scale_network(self.net, dict(zip(map(str, self.class_names), f_class, strict=True)))
        go = Trip(scaled, self.walk_kmh, to_facility=True)  # from the origin to the ends of its link
        arrive = Trip(scaled, self.walk_kmh, to_facility=False)  # from the ends of the destination's link to it
        ou, opu, ov, opv = go.legs(self.osnap)
        du, dpu, dv, dpv = arrive.legs(self.dsnap)
        walk = go.walk_minutes(self.osnap) + go.walk_minutes(self.dsnap)
        n = len(self.osnap)
        s_node = np.column_stack([ou, ov]).astype(np.int64)
        s_min = np.column_stack([opu, opv])
        t_node = np.column_stack([du, dv]).astype(np.int64)
        t_min = np.column_stack([dpu, dpv])
        arc_min = self.base / f_class[self.arc_class]
        chunks = max(1, min(n, 4 * numba.get_num_threads()))
        best, start, end, class_base = _ck.route_trips(
            self.indptr, self.head, self.arc_tail, arc_min, self.base, self.arc_class, len(self.class_names),
            s_node, s_min, t_node, t_min, chunks,
        )  # fmt: skip
        ocls, dcls = self.link_code[self.osnap.link], self.link_code[self.dsnap.link]
        rows = np.arange(n)
        ok = end >= 0
        # the partial links at both ends, back at the study's speeds
        np.add.at(class_base, (rows[ok], ocls[ok]), s_min[rows[ok], start[ok]] * f_class[ocls[ok]])
        np.add.at(class_base, (rows[ok], dcls[ok]), t_min[rows[ok], end[ok]] * f_class[dcls[ok]])
        drive = best
        direct = go.direct(self.osnap, self.dsnap) - walk  # driving straight along a shared link
        short = direct < drive
        if short.any():
            class_base[short] = 0.0
            class_base[short, ocls[short]] = direct[short] * f_class[ocls[short]]
            drive = np.where(short, direct, drive)
        group_base = np.zeros((n, len(self.groups)))
        for c, g in enumerate(self.class_group):
            group_base[:, g] += class_base[:, c]
        return Routes(walk + drive, walk, group_base)


def route_trips(net: Network, trips: pd.DataFrame, factors: dict[str, float] | None = None, walk_kmh: float = 4.5):
    """Door-to-door minutes of each observed trip at ``factors`` (road class -> speed factor; default none)."""
    r = _Router(net, trips["origin_lon"], trips["origin_lat"], trips["destination_lon"], trips["destination_lat"],
                walk_kmh)  # fmt: skip
    f = np.array([(factors or {}).get(g, 1.0) for g in r.groups])
    return r.route(f).minutes


# -- fitting ----------------------------------------------------------------------------------------------------
def _huber_fit(x: np.ndarray, y: np.ndarray, obs: np.ndarray, g0: np.ndarray, free: np.ndarray):
    """``g >= 0`` minimising Huber loss of relative errors ``(x @ g - y) / obs`` over the ``free`` columns (the others
    keep ``g0``); returns ``(g, weights, standard error of g)``."""
    from scipy.optimize import lsq_linear

    g_all = np.array(g0, dtype=np.float64)
    y = y - x[:, ~free] @ g_all[~free]
    x = x[:, free]
    g0 = g_all[free]
    n, k = x.shape
    lo, hi = 1.0 / FACTOR_BOUNDS[1], 1.0 / FACTOR_BOUNDS[0]
    a = x / obs[:, None]
    b = y / obs
    prior = PRIOR_WEIGHT * np.eye(k)
    w = np.ones(n)
    g = np.clip(g0, lo, hi)
    for _ in range(100):
        sw = np.sqrt(w)
        aa = np.vstack([a * sw[:, None], prior])
        bb = np.concatenate([b * sw, PRIOR_WEIGHT * np.ones(k)])
        g_new = lsq_linear(aa, bb, bounds=(lo, hi), method="bvls").x
        r = a @ g_new - b
        scale = 1.4826 * np.median(np.abs(r - np.median(r)))
        scale = max(scale, 1e-4)  # noise-free samples: every trip keeps full weight
        w = np.minimum(1.0, HUBER_K * scale / np.maximum(np.abs(r), 1e-300))
        done = np.max(np.abs(g_new - g)) < 1e-9
        g = g_new
        if done:
            break
    # standard errors from the weighted normal equations (the prior rows included, so unused columns stay finite)
    aw = np.vstack([a * np.sqrt(w)[:, None], prior])
    se = scale * np.sqrt(np.diag(np.linalg.pinv(aw.T @ aw)))
    g_all[free] = g
    se_all = np.zeros(g_all.size)
    se_all[free] = se
    return g_all, w, se_all


@dataclass
class Calibration:
    """A fit: speed factor per class group, and errors before and after (``summary``)."""

    factors: dict[str, float]  # class group -> speed factor relative to the study's speeds
    standard_errors: dict[str, float]  # of each fitted factor
    trips_per_class: dict[str, int]  # trips that use each class group
    before: np.ndarray  # modelled minutes at the study's speeds
    after: np.ndarray  # modelled minutes at the fitted speeds
    observed: np.ndarray
    main_class: np.ndarray  # per trip: the class group it spends most minutes on
    weights: np.ndarray  # final Huber weights (small = treated as an outlier)
    passes: int
    period: str = ""
    warnings: list[str] = field(default_factory=list)

    def errors(self) -> pd.DataFrame:
        """Median absolute error (minutes) and median absolute percentage error, overall and per main class."""
        rows = []
        groups = [("all", np.ones(self.observed.size, dtype=bool))]
        groups += [(c, self.main_class == c) for c in sorted(set(self.main_class)) if c]
        for name, m in groups:
            row = {"period": self.period or "-", "class": name, "trips": int(m.sum())}
            for when, model in (("before", self.before), ("after", self.after)):
                err = model[m] - self.observed[m]
                ok = np.isfinite(err)
                row[f"mae_min_{when}"] = float(np.median(np.abs(err[ok]))) if ok.any() else np.nan
                row[f"mape_{when}"] = float(np.median(np.abs(err[ok]) / self.observed[m][ok])) if ok.any() else np.nan
            rows.append(row)
        return pd.DataFrame(rows)


def _fit(router: _Router, obs: np.ndarray, start: np.ndarray, max_passes: int = 10, tol: float = 1e-3):
    """Route, fit, re-route at the fitted speeds, refit, until the factors move by less than ``tol``.

    A class whose factor the trips cannot pin down (relative standard error above :data:`MAX_RELATIVE_SE`, e.g. a
    class a few trips touch for a minute) is set back to its start and left out, and the fit repeated.
    """
    f = start.copy()
    free = np.ones(f.size, dtype=bool)
    first = None
    weights = np.ones(obs.size)
    se_f = np.zeros(f.size)
    passes = 0
    for passes in range(1, max_passes + 1):  # noqa: B007
        routes = router.route(f)
        if first is None:
            first = routes
        ok = np.isfinite(routes.minutes)
        if not ok.any():
            raise InputError("no observed trip could be routed on the network (every one is unreachable)")
        held = f.copy()  # the factors of classes left out of the fit
        while True:
            g, w, se = _huber_fit(routes.group_base[ok], obs[ok] - routes.walk[ok], obs[ok], 1.0 / held, free)
            se_f = se / g  # relative standard error of f = 1/g equals that of g
            loose = free & (se_f > MAX_RELATIVE_SE)
            if not loose.any():
                break
            # the least certain class only: leaving it out changes how well the others are pinned down
            loose = np.arange(f.size) == np.argmax(np.where(loose, se_f, -1.0))
            free &= ~loose
            held[loose] = start[loose]
        weights = np.zeros(obs.size)
        weights[ok] = w
        f_new = 1.0 / g
        step = np.max(np.abs(f_new / f - 1.0))
        f = f_new
        log.info("calibration pass %d: largest factor change %.4f", passes, step)
        if step < tol:
            break
    final = router.route(f)
    return f, first, final, weights, passes, free, se_f


def calibrate(
    net: Network,
    trips: pd.DataFrame,
    walk_kmh: float = 4.5,
    period: str | None = None,
    max_passes: int = 10,
    start: dict[str, float] | None = None,
) -> Calibration:
    """Fit speed factors per road class group to ``trips`` (from :func:`read_trips`) on ``net``.

    ``period`` selects the trips of one period ("" = those without one; None = every trip). ``start`` gives the
    factors to start from, which classes the trips cannot pin down keep (default 1: the study's speeds; a period
    starts from the fit of the trips without a period).
    """
    if period is not None:
        trips = trips[trips["period"] == period]
    if len(trips) == 0:
        raise InputError(f"no observed trips{' for period ' + repr(period) if period else ''} to calibrate on")
    router = _Router(net, trips["origin_lon"], trips["origin_lat"], trips["destination_lon"],
                     trips["destination_lat"], walk_kmh)  # fmt: skip
    obs = trips["minutes"].to_numpy(dtype=np.float64)
    f0 = np.array([(start or {}).get(g, 1.0) for g in router.groups])
    f, first, final, weights, passes, free, se = _fit(router, obs, f0, max_passes)
    used = (final.group_base > 0).sum(axis=0)
    warnings = []
    where = f"period {period}, " if period else ""
    for g, u, fr in zip(router.groups, used, free, strict=True):
        if u and not fr:
            warnings.append(
                f"{where}class {g or '(none)'}: {u} trip(s) use it too little to fit its speed "
                f"(standard error over {MAX_RELATIVE_SE:.0%}); its speed is kept"
            )
    unreachable = int((~np.isfinite(final.minutes)).sum())
    if unreachable:
        warnings.append(f"{unreachable} trip(s) could not be routed (one-way or disconnected ends); left out")
    for g, u in zip(router.groups, used, strict=True):
        if u == 0:
            warnings.append(f"{where}no trip uses class {g or '(none)'}: its speed is kept")
    share = final.group_base / np.maximum(final.group_base.sum(axis=1, keepdims=True), 1e-300)
    main = np.where(final.group_base.sum(axis=1) > 0, np.asarray(router.groups, dtype=object)[share.argmax(axis=1)], "")
    return Calibration(
        factors={g: float(v) for g, v, fr in zip(router.groups, f, free & (used > 0), strict=True) if fr},
        standard_errors={
            g: float(v * e) for g, v, e, fr in zip(router.groups, f, se, free & (used > 0), strict=True) if fr
        },
        trips_per_class={g: int(u) for g, u in zip(router.groups, used, strict=True)},
        before=first.minutes if np.all(f0 == 1.0) else router.route(np.ones(f0.size)).minutes,
        after=final.minutes,
        observed=obs,
        main_class=main,
        weights=weights,
        passes=passes,
        period=period or "",
        warnings=warnings,
    )


def evaluate(net: Network, trips: pd.DataFrame, factors: dict[str, float], walk_kmh: float = 4.5) -> dict:
    """Median absolute error (minutes) and median absolute percentage error of ``trips`` at ``factors``."""
    model = route_trips(net, trips, factors, walk_kmh)
    obs = trips["minutes"].to_numpy(dtype=np.float64)
    err = model - obs
    ok = np.isfinite(err)
    return {"mae_min": float(np.median(np.abs(err[ok]))), "mape": float(np.median(np.abs(err[ok]) / obs[ok]))}


# -- writing ----------------------------------------------------------------------------------------------------
SPEED_RANGE = (1.0, 200.0)  # what [network] speeds accepts


def speeds_toml(fits: list[Calibration], base_kmh: dict[str, float], source: str, study: str) -> tuple[str, list[str]]:
    """The fitted speeds as TOML a study includes: ``[network.speeds]`` (km/h, from trips without a period) and
    ``[travel.periods.<name>]`` (factors relative to those speeds). Returns ``(text, notes)``."""
    notes: list[str] = []
    base_fit = next((c for c in fits if not c.period), None)
    base_f = dict(base_fit.factors) if base_fit else {}
    lines = [
        f"# Road speeds fitted by geoaccess calibrate to {source} for study {study!r}",
        f"# on {_dt.date.today().isoformat()}. Use it from the study file with a line at the very top:",
        '#   include = ["<this file>"]',
        "# Links with an OSM maxspeed keep it in [network.speeds]; period factors apply to every link of a class.",
    ]
    if base_fit:
        lines += ["", "[network.speeds]"]
        for g, fac in sorted(base_f.items()):
            classes = [c for c in base_kmh if parent_class(c) == g]
            if not classes:
                notes.append(f"class {g!r} has no default speed in the profile; its factor {fac:.3f} is not written")
                continue
            for c in sorted(classes, key=lambda c: (c != g, c)):
                kmh = base_kmh[c] * fac
                clipped = min(max(kmh, SPEED_RANGE[0]), SPEED_RANGE[1])
                if clipped != kmh:
                    notes.append(f"{c}: fitted {kmh:.1f} km/h clipped to {clipped:g} (allowed {SPEED_RANGE})")
                lines.append(f"{_key(c)} = {clipped:.1f}  # factor {fac:.3f} on {base_kmh[c]:g}")
    for fit in fits:
        if not fit.period:
            continue
        lines += ["", f"[travel.periods.{_key(fit.period)}]"]
        for g, fac in sorted(fit.factors.items()):
            rel = fac / base_f.get(g, 1.0)
            lo, hi = PERIOD_FACTOR_RANGE
            if not lo <= rel <= hi:
                notes.append(f"period {fit.period}, {g}: factor {rel:.3f} clipped to [{lo:g}, {hi:g}]")
                rel = min(max(rel, lo), hi)
            lines.append(f"{_key(g)} = {rel:.3f}")
    return "\n".join(lines) + "\n", notes


def _key(name: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise (Chinese classes)."""
    import re

    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def calibrate_study(study_path, trips_path, crs=None, out=None, max_passes: int = 10, holdout: float = 0.0):
    """``geoaccess calibrate``: fit, print before/after errors, write and check the speeds TOML.

    ``holdout`` (0..0.9) keeps that share of each period's trips out of the fit (a fixed random draw) and reports
    their errors before and after as class ``held-out``. Returns ``(fits, error table, output path, notes)``.
    """
    from geoaccess import config as _config
    from geoaccess.load.speeds import profile_table
    from geoaccess.study import Study

    study = Study.from_file(study_path)
    s = study.settings
    inp = study.load()
    trips = read_trips(trips_path, crs=crs, area=inp.counties.union_all())
    periods = sorted(set(trips["period"]))
    if not 0.0 <= holdout <= 0.9:
        raise InputError(f"--holdout must be a share between 0 and 0.9, got {holdout!r}")
    kept = np.random.default_rng(0).random(len(trips)) >= holdout
    fits, held = [], []
    for p in periods:  # "" sorts first: the periods start from the fit of the trips without one
        base = fits[0].factors if fits and not fits[0].period else None
        fits.append(calibrate(inp.network, trips[kept], s.walk_kmh, period=p, max_passes=max_passes, start=base))
        test = trips[~kept & (trips["period"] == p)]
        if len(test):
            before = evaluate(inp.network, test, {}, s.walk_kmh)
            after = evaluate(inp.network, test, {**(base or {}), **fits[-1].factors}, s.walk_kmh)
            held.append({"period": p or "-", "class": "held-out", "trips": len(test),
                         "mae_min_before": before["mae_min"], "mape_before": before["mape"],
                         "mae_min_after": after["mae_min"], "mape_after": after["mape"]})  # fmt: skip
    table = pd.concat([f.errors() for f in fits] + [pd.DataFrame(held)], ignore_index=True)
    out = Path(out) if out else Path(s.path).with_name(f"{s.name}.fitted.toml")
    for p in periods:
        if p:
            _config.check_identifier(p, f"period {p!r} in {trips_path}")
    text, notes = speeds_toml(fits, profile_table(s.profile, s.speeds), Path(trips_path).name, s.name)
    from geoaccess._synth import replace, tmp_path, write_text

    # the study with the new file included must load (same checks as any study file) before the file is in place
    tmp = tmp_path(out)
    write_text(tmp, text)
    try:
        data = _config.read_toml(Path(s.path), "study")
        inc = data.get("include", [])
        inc = [inc] if isinstance(inc, str) else list(inc)
        data["include"] = [*(i for i in inc if Path(s.path).parent.joinpath(i).resolve() != out.resolve()), str(tmp)]
        _config.parse_study(_config.resolve_includes(data, Path(s.path)), Path(s.path))
        replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    notes = [w for f in fits for w in f.warnings] + notes
    return fits, table, out, notes


def format_errors(table: pd.DataFrame) -> str:
    """The before/after error table as fixed-width text."""
    head = f"{'period':<10} {'class':<16} {'trips':>6} {'MAE before':>11} {'MAE after':>10} {'MAPE before':>12} "
    head += f"{'MAPE after':>11}"
    lines = [head]
    for r in table.to_dict("records"):
        lines.append(
            f"{r['period']:<10} {r['class']:<16} {r['trips']:>6} {r['mae_min_before']:>9.2f} m "
            f"{r['mae_min_after']:>8.2f} m {_pct(r['mape_before']):>12} {_pct(r['mape_after']):>11}"
        )
    return "\n".join(lines)


def _pct(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{100 * v:.1f} %"
