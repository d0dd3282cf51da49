"""A scenario's before/after bundle: ``compare.csv``, ``compare.html`` (table and map) and ``counties.csv``.

Everything a planner reads is in the study's language: facility names (not ids), rounded coordinates, the
edited roads drawn, tiers, statuses and zones in words, and a warning at the top when an option makes any
county's status or zone worse. Gains are green and losses red: the change in minutes is classed and drawn
as an 8-bit palette PNG in Web Mercator (:func:`geoaccess.outputs.tiles.write_image`), never a float image
stretched by the browser. Text from inputs (county and facility names, ids, the scenario's title) is
HTML-escaped.
"""

from __future__ import annotations

from pathlib import Path

import folium
import numpy as np
import pandas as pd
import pyproj
from branca.element import MacroElement
from jinja2 import Template

from geoaccess.outputs import i18n, tiles
from geoaccess.outputs._atomic import atomic_path, write_csv, write_text
from geoaccess.outputs.plugin import LIB, e, install_lib
from geoaccess.outputs.rasters import Surface


def offline_map(**kwargs) -> folium.Map:
    """A folium map loading Leaflet from the bundle's ``lib/`` folder (no CDN, no jQuery: tooltips only)."""
    m = folium.Map(**kwargs)
    m.default_js = [("leaflet", f"{LIB}/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", f"{LIB}/leaflet/leaflet.css")]
    return m


class MetricScale(MacroElement):
    """A scale bar in metres and kilometres only (folium's ``control_scale`` adds miles)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        L.control.scale({imperial: false, metric: true}).addTo({{ this._parent.get_name() }});
        {% endmacro %}"""
    )


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


def _js_text(html_text: str) -> str:
    """Escaped HTML made safe inside the JavaScript template literal folium writes tooltips into."""
    return html_text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


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


def _map(path, title, scenario, base, counties, population, note, lang: str = "en", roads=()) -> list[Path]:
    path = Path(path)
    b = counties.total_bounds
    install_lib(path.parent)
    m = offline_map(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=9, tiles=None, control_scale=False)
    MetricScale().add_to(m)
    pop = population
    tl = {t.name: i18n.tier_label(t.name, lang, t.label) for t in scenario.tier_settings}
    # the layer shown first is the tier where the most people's minutes change
    moved = {
        t.name: int(np.sum(base.tiers[t.name].minutes != scenario.tiers[t.name].minutes))
        for t in scenario.tier_settings
    }
    shown = max(moved, key=moved.get) if moved else None
    for t in scenario.tier_settings:
        mb, ma = base.tiers[t.name].minutes, scenario.tiers[t.name].minutes
        with np.errstate(invalid="ignore"):
            d = np.where(np.isfinite(ma) & np.isfinite(mb), ma - mb, np.where(np.isfinite(ma), -np.inf, np.inf))
        d = np.where(ma == mb, np.nan, d)
        cls = delta_classes(d)
        keep = cls > 0
        if not keep.any():
            continue
        surface = Surface.from_cells(
            pop.shape, pop.row[keep], pop.col[keep], np.zeros(int(keep.sum())), pop.transform, pop.crs
        )
        # from_cells sorts by cell; classes follow the same order
        key = pop.row[keep].astype(np.int64) * pop.shape[1] + pop.col[keep]
        order = np.argsort(key, kind="stable")
        classes = cls[keep][order]
        # folium embeds the PNG in the page (a data URL): the page stays one file beside its own data
        img = path.parent / f".change_{t.name}.png"
        bounds = tiles.write_image(img, surface, classes, DELTA_COLORS, max_px=tiles.MAX_IMAGE_PX)
        folium.raster_layers.ImageOverlay(
            str(img), bounds=bounds, name=e(_t("change_in", lang, tier=tl[t.name])), opacity=0.9, show=t.name == shown
        ).add_to(m)
        img.unlink()
    gj = counties[["county_code", "county_name", "geometry"]].copy()
    gj["geometry"] = gj.geometry.simplify(0.001)
    gj["county_name"] = gj["county_name"].map(e)
    gj["county_code"] = gj["county_code"].map(e)
    folium.GeoJson(
        gj.to_json(),
        name=e(_t("counties", lang)),
        style_function=lambda f: {"color": "#555", "weight": 2, "fill": False},
        tooltip=folium.GeoJsonTooltip(
            fields=["county_name", "county_code"], aliases=[i18n.t("county", lang), i18n.t("code", lang)]
        ),
    ).add_to(m)
    if roads:
        rg = folium.FeatureGroup(name=e(_t("roads", lang)))
        for r in roads:
            folium.PolyLine(
                r["coords"], color=ROAD_COLOR, weight=5, opacity=0.9, tooltip=_js_text(e(r["label"]))
            ).add_to(rg)
        rg.add_to(m)
    # changed facilities in a pane above the counties and roads, so they can be hovered and clicked
    folium.map.CustomPane("changed", z_index=650, pointer_events=True).add_to(m)
    fac = scenario.facilities
    fg = folium.FeatureGroup(name=e(_t("changed_fac", lang)))
    for line, (_, r) in zip(edit_lines_for(fac, scenario, lang), fac[fac["change"] != ""].iterrows(), strict=True):
        colour = CHANGE_STYLE.get(r["change"], "#666")
        marker = folium.CircleMarker(
            [r.geometry.y, r.geometry.x],
            radius=9,
            color=colour,
            fill=True,
            fill_opacity=0.2 if r["change"] in ("removed", "downgraded") else 0.9,
            weight=3,
            # a tooltip, not a popup: folium's popups need jQuery, which the bundle does not ship
            tooltip=folium.Tooltip(_js_text(f"<b>{e(r['name'])}</b><br>{e(line)}<br>id {e(r['id'])}")),
        )
        marker.options["pane"] = "changed"  # folium's path options drop ``pane``
        marker.add_to(fg)
    fg.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    swatches = "".join(
        f'<span style="display:inline-block;width:14px;height:10px;background:{c}"></span>' for c in DELTA_COLORS
    )
    legend = (
        '<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;padding:8px 10px;'
        "border:1px solid #888;border-radius:4px;font:12px 'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:320px\">"
        f"<b>{e(scenario.scenario.title)}</b><br>"
        f"{e(_t('faster', lang))} ≥10 · 5 · 1 {e(i18n.t('min', lang))} {swatches} 1 · 5 · ≥10 {e(_t('slower', lang))}<br>"
        f'<span style="display:inline-block;width:18px;border-top:4px solid {ROAD_COLOR};vertical-align:middle"></span> '
        f"{e(_t('roads', lang))}<br>{e(_t('legend_circles', lang))}</div>"
    )
    m.get_root().html.add_child(folium.Element(legend))
    if note:
        m.get_root().html.add_child(
            folium.Element(
                '<div style="position:fixed;top:8px;left:50%;transform:translateX(-50%);z-index:9999;'
                "background:#fff3cd;border:1px solid #d39e00;padding:4px 10px;border-radius:4px;"
                f'font:13px sans-serif">⚠ {e(i18n.t("synthetic_label", lang))} · {e(note)}</div>'
            )
        )
    m.get_root().header.add_child(folium.Element(f"<title>{e(title)}</title>"))
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return [path]


def edit_lines_for(fac, scenario, lang: str) -> list[str]:
    """The facility lines of :func:`edit_lines`, one per changed facility row, in row order."""
    lines = edit_lines(scenario, lang)
    return lines[: int((fac["change"] != "").sum())]
