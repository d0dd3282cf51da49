"""A scenario's before/after bundle: ``compare.csv``, ``compare.html`` (table and map) and ``counties.csv``.

Everything a planner reads is in the study's language: facility names (not ids), rounded coordinates, the
edited roads drawn, tiers, statuses and zones in words, and a warning at the top when an option makes any
county's status or zone worse. Gains are green and losses red: the change in minutes is classed and drawn
as an 8-bit palette PNG in Web Mercator (:func:`geoaccess.outputs.tiles.write_image`), never a float image
stretched by the browser. Text from inputs (county and facility names, ids, the scenario's title) is
HTML-escaped.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import folium
import numpy as np
import pandas as pd
import pyproj
from affine import Affine

from geoaccess.outputs import i18n, tiles
from geoaccess.outputs._atomic import atomic_path, write_csv, write_text
from geoaccess.outputs._html import e, install_lib
from geoaccess.outputs.maps import page_map
from geoaccess.outputs.rasters import Surface

CSS = """
body{font:14px/1.45 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td.l,th.l{text-align:left}
td.name{white-space:nowrap;font-weight:600}
.banner{background:#fff3cd;border:1px solid #d39e00;padding:8px 12px;border-radius:4px;margin:8px 0}
.warn{background:#fdecea;border:2px solid #c62828;padding:8px 12px;border-radius:4px;margin:12px 0;color:#8e0000}
.warn b{font-size:15px}
.okbox{background:#e8f5e9;border:1px solid #1a7f37;padding:6px 12px;border-radius:4px;margin:12px 0;color:#1a5e2a}
.gain{color:#1a7f37;font-weight:bold}.loss{color:#c62828;font-weight:bold}
iframe{width:100%;height:620px;border:1px solid #888}
.nav a{margin-right:14px;color:#0b5394}
@media print{@page{size:A4 landscape;margin:10mm}body{margin:0}iframe{height:150mm}.nav{display:none}}
"""
# classes of the change in minutes (after - before); negative = faster. Entry 0 of the palette is transparent.
DELTA_EDGES = (-10.0, -5.0, -1.0, 0.0, 1.0, 5.0, 10.0)
DELTA_COLORS = ("#00441b", "#238b45", "#74c476", "#c7e9c0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d")
CHANGE_STYLE = {
    "added": "#1a9850",
    "campus": "#1a9850",
    "upgraded": "#1a9850",
    "moved": "#2b8cbe",
    "downgraded": "#d73027",
    "removed": "#d73027",
}
ROAD_COLOR = "#6a3d9a"
# zones from best to worst: a move to the right is a worsening
ZONE_ORDER = {"adjust": 0, "enrich": 1, "priority": 2}

_T = {
    "edits": ("改动", "Edits"),
    "before_after": ("改动前 → 改动后", "Before → after"),
    "zones_change": ("资源分区变化", "Zones that change"),
    "none": ("无", "none"),
    "map_h": ("出行时间的变化", "Change in travel time"),
    "map_note": (
        "绿色 = 变快，红色 = 变慢（颜色越深变化越大）；圆圈为改动的机构，紫线为改动的道路。",
        "Green = faster, red = slower (darker = larger change); circles are the changed facilities, purple lines the edited roads.",
    ),
    "map_open": ("单独打开地图", "Open the map on its own"),
    "table_h": ("各区县", "Counties"),
    "newly": ("新增可达人口", "people newly within"),
    "no_longer": ("不再可达人口", "people no longer within"),
    "share_before": ("改动前比例", "share within before"),
    "share_after": ("改动后比例", "after"),
    "median_before": ("改动前中位时间（分钟）", "median min before"),
    "median_after": ("改动后", "after"),
    "files": ("文件", "Files"),
    "files_text": (
        "compare.csv（本表）、counties.csv（情景下的区县表）。重新计算方式：",
        "compare.csv (this table), counties.csv (the county table under the scenario). Recomputed: ",
    ),
    "head": (
        "{tier}（≤ {t} 分钟）：新增可达 {gain} 人，不再可达 {loss} 人；{n} 个区县达标情况改变",
        "{tier} (≤ {t} min): {gain} people newly within reach, {loss} no longer within; {n} counties change status",
    ),
    "worse_h": ("⚠ 此方案使以下区县变差：", "⚠ This option makes these counties worse:"),
    "no_worse": ("没有区县的达标情况或资源分区变差。", "No county's status or zone gets worse."),
    "added": ("新增", "add"),
    "campus": ("新院区（一院多区）", "new campus"),
    "upgraded": ("升级", "upgrade"),
    "downgraded": ("降级", "downgrade"),
    "moved": ("迁址", "move"),
    "removed": ("关闭", "close"),
    "beds": ("{b}床", "{b} beds"),
    "at": ("位于 {lon}, {lat}", "at {lon}, {lat}"),
    "road_speed": ("道路提速至 {kmh} 公里/小时：经 {pts}", "road sped up to {kmh} km/h: through {pts}"),
    "road_add": ("新建道路 {kmh} 公里/小时：{a} → {b}", "new road at {kmh} km/h: {a} → {b}"),
    "changed_fac": ("改动的机构", "changed facilities"),
    "roads": ("改动的道路", "edited roads"),
    "counties": ("区县", "counties"),
    "change_in": ("{tier}：出行时间变化", "{tier}: change in minutes"),
    "faster": ("变快", "faster"),
    "slower": ("变慢", "slower"),
    "unreachable": ("不可达", "unreachable"),
    "reused": ("沿用", "reused"),
    "incremental": ("增量计算", "incremental"),
    "full": ("全部重算", "full"),
    "index": ("返回首页", "Front page"),
    "back": ("返回方案页", "Back to the comparison"),
    "legend_circles": (
        "圆圈：绿 = 新增/升级/新院区，蓝 = 迁址，红 = 关闭/降级",
        "circles: green added / upgraded / campus, blue moved, red removed / downgraded",
    ),
}


def _t(key: str, lang: str, **kw) -> str:
    s = _T[key][0 if lang == "zh" else 1]
    return s.format(**kw) if kw else s


def _status(v: str, lang: str) -> str:
    return i18n.TEXT.get(str(v), {}).get(lang, str(v))


def _lonlat(lon, lat) -> tuple[str, str]:
    """Coordinates for people: 4 decimals (about 10 m)."""
    return f"{float(lon):.4f}", f"{float(lat):.4f}"


def write_compare(
    out: str | Path,
    *,
    title: str,
    compare: pd.DataFrame,
    scenario,
    base,
    counties,
    population,
    facilities_before,
    synthetic_note: str = "",
    ctx=None,
    network_before=None,
) -> list[Path]:
    """Write the scenario bundle into ``out``, file by file (the caller swaps the folder in whole).

    ``ctx`` (a :class:`~geoaccess.outputs.maps.MapContext`) gives the language; ``network_before`` the
    baseline's road network, so the links a road edit changed are drawn.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lang = getattr(ctx, "lang", "en")
    files = []
    files.append(write_csv(compare, out / "compare.csv", float_format="%.4f"))
    files.append(write_csv(scenario.counties, out / "counties.csv", float_format="%.4f"))
    roads = _road_edits(scenario, network_before, lang)
    files += _map(out / "compare_map.html", title, scenario, base, counties, population, synthetic_note, lang, roads)
    files.append(write_text(out / "compare.html", _page(title, compare, scenario, synthetic_note, lang)))
    return files


def edit_lines(scenario, lang: str) -> list[str]:
    """The scenario's edits in words: facility names, tiers in words, rounded coordinates, road edits."""
    fac = scenario.facilities
    lines = []
    tl = {t.name: i18n.tier_label(t.name, lang, t.label) for t in scenario.tier_settings}
    for _, r in fac[fac["change"] != ""].iterrows():
        kind = str(r["change"])
        parts = [
            f"{_t(kind, lang) if kind in _T else kind}："
            if lang == "zh"
            else f"{_t(kind, lang) if kind in _T else kind}: "
        ]
        parts.append(str(r["name"]))
        bits = [tl.get(str(r["tier"]), str(r["tier"]))]
        if pd.notna(r.get("beds")) and float(r["beds"]) > 0:
            bits.append(_t("beds", lang, b=f"{float(r['beds']):,.0f}"))
        if kind in ("added", "campus", "moved"):
            lon, lat = _lonlat(r.geometry.x, r.geometry.y)
            bits.append(_t("at", lang, lon=lon, lat=lat))
        sep = "，" if lang == "zh" else ", "
        lines.append(
            "".join(parts) + ("（" if lang == "zh" else " (") + sep.join(bits) + ("）" if lang == "zh" else ")")
        )
    for ed in scenario.scenario.edits.get("road_speed", []):
        pts = " → ".join("({}, {})".format(*_lonlat(*p)) for p in ed["route"])
        lines.append(_t("road_speed", lang, kmh=f"{ed['kmh']:g}", pts=pts))
    for ed in scenario.scenario.edits.get("road_add", []):
        a = "({}, {})".format(*_lonlat(*ed["from"]))
        b = "({}, {})".format(*_lonlat(*ed["to"]))
        lines.append(_t("road_add", lang, kmh=f"{ed['kmh']:g}", a=a, b=b))
    return lines


def worsened(compare: pd.DataFrame) -> pd.DataFrame:
    """Rows (county and tier) whose status goes from pass to fail, or whose zone gets worse."""
    status = (compare["status_before"] == "pass") & (compare["status_after"] == "fail")
    zb = compare["zone_before"].map(ZONE_ORDER).fillna(-1)
    za = compare["zone_after"].map(ZONE_ORDER).fillna(-1)
    return compare[status | (za > zb)]


def _count(v: float, sign: str, cls: str) -> str:
    """A count of people with its sign and colour; zero shows plain (never a red "−0")."""
    n = round(float(v))
    if n == 0:
        return "0"
    return f'<span class="{cls}">{sign}{n:,}</span>'


def _page(title, compare: pd.DataFrame, scenario, note, lang: str = "en") -> str:
    zh = lang == "zh"
    tl = {t.name: i18n.tier_label(t.name, lang, t.label) for t in scenario.tier_settings}
    heads = []
    for t in scenario.tier_settings:
        c = compare[compare["tier"] == t.name]
        changed = c[c["status_changed"]]
        moves = ("、" if zh else ", ").join(
            f"{r.county_name} {_status(r.status_before, lang)} → {_status(r.status_after, lang)}"
            for r in changed.itertuples()
        )
        line = _t(
            "head",
            lang,
            tier=tl[t.name],
            t=f"{t.threshold_min:g}",
            gain="\x00G\x00",
            loss="\x00L\x00",
            n=len(changed),
        )
        line = e(line + (("：" if zh else ": ") + moves if moves else ""))
        line = line.replace("\x00G\x00", _count(c["people_newly_within"].sum(), "+", "gain"))
        line = line.replace("\x00L\x00", _count(c["people_no_longer_within"].sum(), "−", "loss"))
        heads.append(f"<li>{line}</li>")
    zone = compare.drop_duplicates("county_code")
    zone = zone[zone["zone_changed"]]
    zones = "".join(
        f"<li>{e(r.county_name)}：{e(i18n.zone_label(r.zone_before, lang))} → {e(i18n.zone_label(r.zone_after, lang))}</li>"
        if zh
        else f"<li>{e(r.county_name)}: {e(i18n.zone_label(r.zone_before, lang))} → {e(i18n.zone_label(r.zone_after, lang))}</li>"
        for r in zone.itertuples()
    )
    bad = worsened(compare)
    if len(bad):
        per_county: dict[str, list[str]] = {}
        for r in bad.itertuples():  # one line per county: its tiers that fail now, then its zone once
            what = per_county.setdefault(r.county_name, [])
            if r.status_before == "pass" and r.status_after == "fail":
                what.append(f"{tl.get(r.tier, r.tier)} {_status('pass', lang)} → {_status('fail', lang)}")
        for r in bad.drop_duplicates("county_code").itertuples():
            if ZONE_ORDER.get(r.zone_after, -1) > ZONE_ORDER.get(r.zone_before, -1):
                per_county[r.county_name].append(
                    f"{i18n.zone_label(r.zone_before, lang)} → {i18n.zone_label(r.zone_after, lang)}"
                )
        items = [f"{c}：" + "；".join(w) if zh else f"{c}: " + "; ".join(w) for c, w in per_county.items() if w]
        warn = (
            f'<div class="warn" role="alert"><b>{e(_t("worse_h", lang))}</b><ul>'
            + "".join(f"<li>{e(x)}</li>" for x in items)
            + "</ul></div>"
        )
    else:
        warn = f'<div class="okbox">{e(_t("no_worse", lang))}</div>'
    edits = "".join(f"<li>{e(line)}</li>" for line in edit_lines(scenario, lang))
    rows = []
    for r in compare.itertuples():
        rows.append(
            f'<tr><td class="l">{e(r.county_code)}</td><td class="l name">{e(r.county_name)}</td>'
            f'<td class="l">{e(tl.get(r.tier, r.tier))}</td>'
            f"<td>{_count(r.people_newly_within, '+', 'gain')}</td><td>{_count(r.people_no_longer_within, '−', 'loss')}</td>"
            f"<td>{r.share_within_before:.1%}</td><td>{r.share_within_after:.1%}</td>"
            f"<td>{_minutes(r.median_min_before, lang)}</td><td>{_minutes(r.median_min_after, lang)}</td>"
            f'<td class="l">{e(_status(r.status_before, lang))} → {e(_status(r.status_after, lang))}</td>'
            f'<td class="l">{e(i18n.zone_label(r.zone_before, lang))} → {e(i18n.zone_label(r.zone_after, lang))}</td></tr>'
        )
    how = ("，" if zh else ", ").join(
        f"{tl.get(k, k)}: {_t(v, lang) if v in _T else v}" for k, v in scenario.recompute.items()
    )
    banner = f'<div class="banner"><b>⚠ {e(i18n.t("synthetic_label", lang))}</b> · {e(note)}</div>' if note else ""
    html_lang = "zh-CN" if zh else "en"
    head_row = "".join(
        f'<th class="l">{e(x)}</th>' if i < 3 or i > 8 else f"<th>{e(x)}</th>"
        for i, x in enumerate(
            [
                i18n.t("code", lang),
                i18n.t("county", lang),
                i18n.t("tier", lang),
                _t("newly", lang),
                _t("no_longer", lang),
                _t("share_before", lang),
                _t("share_after", lang),
                _t("median_before", lang),
                _t("median_after", lang),
                i18n.t("status", lang),
                i18n.t("zone", lang),
            ]
        )
    )
    return f"""<!DOCTYPE html>
<html lang="{html_lang}"><head><meta charset="utf-8"><title>{e(title)}</title><style>{CSS}</style></head>
<body>
<div class="nav"><a href="../../index.html">{e(_t("index", lang))}</a></div>
<h1>{e(title)}</h1>
{banner}
{warn}
<h2>{e(_t("edits", lang))}</h2><ul>{edits}</ul>
<h2>{e(_t("before_after", lang))}</h2><ul>{"".join(heads)}</ul>
<h3>{e(_t("zones_change", lang))}</h3><ul>{zones or "<li>" + e(_t("none", lang)) + "</li>"}</ul>
<h2>{e(_t("map_h", lang))}</h2>
<p>{e(_t("map_note", lang))} <a href="compare_map.html">{e(_t("map_open", lang))}</a>.</p>
<iframe src="compare_map.html" title="{e(_t("map_h", lang))}"></iframe>
<h2>{e(_t("table_h", lang))}</h2>
<table><tr>{head_row}</tr>
{"".join(rows)}
</table>
<p>{e(_t("files", lang))}: <a href="compare.csv">compare.csv</a>, <a href="counties.csv">counties.csv</a>.
{e(_t("files_text", lang))}{e(how)}.</p>
</body></html>
"""


def _minutes(v, lang: str = "en") -> str:
    """Minutes for the table; people who reach no facility show as 'unreachable', not 'inf'."""
    return f"{v:.1f}" if np.isfinite(v) else (_t("unreachable", lang) if v == np.inf else "–")


def delta_classes(delta: np.ndarray) -> np.ndarray:
    """Palette index per cell of a change in minutes: 1-4 faster (darkest first), 5-8 slower, 0 unchanged/NaN.

    Newly reachable cells (-inf) take the darkest green, cells no longer reachable (+inf) the darkest red.
    """
    d = np.asarray(delta, float)
    cls = np.digitize(np.where(np.isnan(d), 0.0, d), DELTA_EDGES, right=False) + 1
    cls = np.where(d < 0, np.minimum(cls, 4), cls)  # a gain never falls into a loss class (and -0.0 is no change)
    return np.where(np.isnan(d) | (d == 0), 0, cls).astype(np.uint8)


def _road_edits(scenario, network_before, lang: str) -> list[dict]:
    """The links a road edit changed or added, as WGS84 polylines with a label."""
    if network_before is None or not scenario.scenario.touches_roads:
        return []
    net_a, net_b = scenario.network, network_before
    n = net_b.n_links
    changed = np.flatnonzero(
        (net_a.link_fwd[:n] != net_b.link_fwd[:n]) | (net_a.link_bwd[:n] != net_b.link_bwd[:n])
    ).tolist() + list(range(n, net_a.n_links))
    if not changed:
        return []
    to_ll = pyproj.Transformer.from_crs(net_a.crs, "EPSG:4326", always_xy=True)
    out = []
    for k in changed:
        g = net_a.geometry[k]
        xs, ys = np.asarray(g.coords).T
        lon, lat = to_ll.transform(xs, ys)
        mins = float(net_a.link_fwd[k] if np.isfinite(net_a.link_fwd[k]) else net_a.link_bwd[k])
        kmh = g.length / 1000.0 / (mins / 60.0) if mins > 0 else float("nan")
        label = ("新建道路" if k >= n else "提速道路") if lang == "zh" else ("new road" if k >= n else "faster road")
        unit = "公里/小时" if lang == "zh" else "km/h"
        out.append(
            {
                "coords": [[round(float(a), 6), round(float(b), 6)] for b, a in zip(lon, lat, strict=True)],
                "label": f"{label} {kmh:.0f} {unit}",
            }
        )
    return out


def scenario_map(scenario, base, *, counties, population, title: str = "", ctx=None, network_before=None) -> folium.Map:
    """A scenario's change map as a :class:`folium.Map` for a notebook (everything inline).

    The map ``compare_map.html`` shows: per tier the change in minutes (green faster, red slower), the
    changed facilities with their names and the edited roads, in the study's language (``ctx``, a
    :class:`~geoaccess.outputs.maps.MapContext`; English without it). Leaflet, the plugin and the images
    are inside the map's HTML, so it renders in Jupyter with no files beside it.

    Parameters
    ----------
    scenario, base
        The scenario's result (:class:`~geoaccess.scenarios.ScenarioResult`) and the baseline's.
    counties, population
        The study's county polygons and population grid (``study.load()``).
    title
        Shown above the map; by default the scenario's title.
    network_before
        The baseline's road network, so the links a road edit changed are drawn.
    """
    lang = getattr(ctx, "lang", "en")
    roads = _road_edits(scenario, network_before, lang)
    note = getattr(ctx, "note", "")
    data, mctx = _map_data(title or scenario.scenario.title, scenario, base, counties, population, note, lang, roads)
    return page_map(data, mctx, mctx.title, inline=True)


def placement_map(placement, base, *, counties, population, title: str = "", ctx=None) -> folium.Map:
    """A placement's change map as a :class:`folium.Map` (see :func:`scenario_map`): the picks as added sites."""
    return scenario_map(placement.scenario, base, counties=counties, population=population, title=title, ctx=ctx)


def _map(path, title, scenario, base, counties, population, note, lang: str = "en", roads=()) -> list[Path]:
    """Write ``compare_map.html``: the change map as a bundle page (assets from the sub-bundle's ``lib/``)."""
    path = Path(path)
    install_lib(path.parent)
    data, mctx = _map_data(title, scenario, base, counties, population, note, lang, roads)
    m = page_map(data, mctx, title)
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return [path]


def _map_data(title, scenario, base, counties, population, note, lang, roads):
    """The change map's plugin data and page context (kind "compare" in ``map.js``)."""
    from geoaccess.outputs.maps import MapContext, _geojson, _ui_text

    b = counties.total_bounds
    pop = population
    tl = {t.name: i18n.tier_label(t.name, lang, t.label) for t in scenario.tier_settings}
    # the layer shown first is the tier where the most people's minutes change
    moved = {
        t.name: int(np.sum(base.tiers[t.name].minutes != scenario.tiers[t.name].minutes))
        for t in scenario.tier_settings
    }
    shown = max(moved, key=moved.get) if moved else None
    images = []
    for t in scenario.tier_settings:
        img = change_image(pop, base.tiers[t.name].minutes, scenario.tiers[t.name].minutes)
        if img is not None:
            images.append({"name": _t("change_in", lang, tier=tl[t.name]), **img, "show": t.name == shown})
    props = [
        {"name": str(n), "code": str(c), "color": "#555"}
        for n, c in zip(counties["county_name"], counties["county_code"], strict=True)
    ]
    fac = scenario.facilities
    points = []
    for line, (_, r) in zip(edit_lines_for(fac, scenario, lang), fac[fac["change"] != ""].iterrows(), strict=True):
        points.append(
            {
                "lat": round(float(r.geometry.y), 6),
                "lon": round(float(r.geometry.x), 6),
                "color": CHANGE_STYLE.get(r["change"], "#666"),
                "hollow": r["change"] in ("removed", "downgraded"),
                "name": str(r["name"]),
                "line": line,
                "id": str(r["id"]),
            }
        )
    data = {
        "kind": "compare",
        "bounds": [[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]],
        "images": images,
        "counties": {"name": _t("counties", lang), "geojson": _geojson(counties, props, False), "fill": 0},
        "roads": {"name": _t("roads", lang), "color": ROAD_COLOR, "lines": list(roads)},
        "changed": {"name": _t("changed_fac", lang), "points": points},
        "legend": {
            "title": str(scenario.scenario.title),
            "delta": {
                "faster": _t("faster", lang),
                "slower": _t("slower", lang),
                "colors": list(DELTA_COLORS),
                "note": f"≥10 · 5 · 1 · 0 · 1 · 5 · ≥10 {i18n.t('min', lang)}",
            },
            "roads": {"color": ROAD_COLOR, "label": _t("roads", lang)} if roads else None,
            "circles": _t("legend_circles", lang),
        },
        "text": _ui_text(lang),
    }
    mctx = MapContext(lang=lang, title=str(title), note=note, nav=[(_t("back", lang), "compare.html")])
    return data, mctx


def change_image(population, before: np.ndarray, after: np.ndarray, max_px: int = tiles.MAX_IMAGE_PX) -> dict | None:
    """The change in minutes per populated cell as a PNG data URL in :data:`DELTA_COLORS` (green faster, red
    slower, unchanged cells transparent): ``{"url", "bounds"}``, or ``None`` where nothing changed."""
    pop = population
    idx = np.flatnonzero(~(after == before))  # the cells that changed: all the work below is on them only
    before, after = before[idx], after[idx]
    with np.errstate(invalid="ignore"):
        d = np.where(
            np.isfinite(after) & np.isfinite(before),
            after - before,
            np.where(np.isfinite(after), -np.inf, np.inf),
        )
    cls = delta_classes(d)
    keep = cls > 0
    if not keep.any():
        return None
    keep = idx[keep]
    cls = cls[cls > 0]
    # the image covers the changed cells' window only: an edit changes a district, not the province, and the image
    # (its cost and size) follows the window, not the raster
    rows, cols = pop.row[keep].astype(np.int64), pop.col[keep].astype(np.int64)
    r0, c0 = int(rows.min()), int(cols.min())
    shape = (int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1)
    transform = pop.transform @ Affine.translation(c0, r0)
    surface = Surface.from_cells(shape, rows - r0, cols - c0, np.zeros(rows.size), transform, pop.crs)
    # from_cells sorts by cell; classes follow the same order
    key = (rows - r0) * shape[1] + (cols - c0)
    order = np.argsort(key, kind="stable")
    classes = cls[order]
    # a data URL: the page stays one file beside its own data (and the server sends it with its answer)
    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "change.png"
        bounds = tiles.write_image(img, surface, classes, DELTA_COLORS, max_px=max_px)
        url = "data:image/png;base64," + base64.b64encode(img.read_bytes()).decode("ascii")
    return {"url": url, "bounds": bounds}


def edit_lines_for(fac, scenario, lang: str) -> list[str]:
    """The facility lines of :func:`edit_lines`, one per changed facility row, in row order."""
    lines = edit_lines(scenario, lang)
    return lines[: int((fac["change"] != "").sum())]
