"""``report.html``: a few pages ready to print (A4 landscape) in the study's language.

Headline figures, a zone map (an inline SVG drawn from the county polygons, so it prints sharp and needs no
script), the county table, and the counties that fail a target or need resources, each with the reason that
decided its zone (:mod:`geoaccess.outputs.explain`). Every value from the inputs is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geoaccess.outputs import i18n
from geoaccess.outputs._atomic import write_text
from geoaccess.outputs.explain import explain_county
from geoaccess.outputs.maps import STATUS_COLOR, ZONE_COLOR, MapContext, e, fmt_value

REPORT = "report.html"

_T = {
    "report": ("打印报告", "Printable report"),
    "zone_map": ("区县资源分区图", "Resource zone of each county"),
    "table": ("区县达标情况", "County status"),
    "attention": ("需关注的区县及原因", "Counties that need attention, and why"),
    "none": (
        "所有区县均达到全部目标，且属于资源调整完善区。",
        "Every county meets every target and is in the adjust zone.",
    ),
    "print": ("打印（A4 横向）", "Print (A4 landscape)"),
    "back": ("返回首页", "Front page"),
    "failing": ("未达标层级", "tiers failing"),
}


def _t(key: str, lang: str) -> str:
    return _T[key][0 if lang == "zh" else 1]


CSS = """
@page{size:A4 landscape;margin:10mm}
body{font:12px/1.4 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;color:#222;margin:16px 24px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:14px 0 6px;border-bottom:1px solid #ccc}
.banner{background:#fff3cd;border:1px solid #d39e00;padding:4px 8px;border-radius:4px;font-size:11px}
.cards{display:flex;gap:10px;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:4px;padding:6px 10px;min-width:150px}
.card .big{font-size:20px;font-weight:bold}.card .sub{color:#555;font-size:11px}
.page{page-break-after:always;break-after:page}
.map{display:flex;gap:16px;align-items:flex-start}.map svg{border:1px solid #ddd;max-height:150mm;width:auto}
.key div{margin:3px 0}.sw{display:inline-block;width:14px;height:10px;margin-right:6px;vertical-align:middle}
.note{color:#555;font-size:11px}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}td.name{white-space:nowrap;font-weight:600}
.pass{color:#007a5a;font-weight:bold}.fail{color:#b34700;font-weight:bold}
ul.why{margin:2px 0 2px 16px;padding:0}ul.why li{font-weight:bold}
.county{margin:6px 0 10px;break-inside:avoid}
.tools{margin:6px 0}
@media print{.tools{display:none}body{margin:0}}
"""


def zone_svg(counties, table: pd.DataFrame, lang: str, width: int = 620) -> str:
    """Counties coloured by zone, with their names, as an SVG (lon/lat scaled by the cosine of latitude)."""
    g = counties.to_crs("EPSG:4326")
    w, s, east, n = g.total_bounds
    k = math.cos(math.radians((s + n) / 2))
    sx = (east - w) * k or 1.0
    sy = (n - s) or 1.0
    pad = 8
    height = int(width * sy / sx)
    scale = (width - 2 * pad) / sx

    def xy(lon, lat):
        return pad + (lon - w) * k * scale, pad + (n - lat) * scale

    zone = dict(zip(table["county_code"].astype(str), table["zone"].astype(str), strict=True))
    paths, names = [], []
    for code, name, geom in zip(g["county_code"].astype(str), g["county_name"], g.geometry, strict=True):
        geom = shapely.simplify(geom, (east - w) / 600)
        d = []
        for poly in getattr(geom, "geoms", [geom]):
            for ring in [poly.exterior, *poly.interiors]:
                pts = [xy(x, y) for x, y in np.asarray(ring.coords)]
                d.append("M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in pts) + "Z")
        colour = ZONE_COLOR.get(zone.get(code, ""), "#ccc")
        paths.append(
            f'<path d="{"".join(d)}" fill="{colour}" fill-opacity="0.6" stroke="#333" stroke-width="1" '
            f'fill-rule="evenodd"><title>{e(name)}</title></path>'
        )
        p = geom.representative_point()
        cx, cy = xy(p.x, p.y)
        names.append(
            f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="12" font-weight="bold" '
            f'paint-order="stroke" stroke="#fff" stroke-width="3">{e(name)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 2 * pad}" width="{width}" '
        f'height="{height + 2 * pad}" role="img" aria-label="{e(_t("zone_map", lang))}">'
        + "".join(paths)
        + "".join(names)
        + "</svg>"
    )


def write_report(path: str | Path, *, ctx: MapContext, table: pd.DataFrame, tiers, counties) -> Path:
    """Write ``report.html``: headline, zone map, county table, counties needing attention with reasons."""
    lang = ctx.lang
    zh = lang == "zh"
    tls = {t.name: i18n.tier_label(t.name, lang, t.label) for t in tiers}
    n = len(table)
    cards = []
    for t in tiers:
        beyond = table[f"{t.name}_people_beyond"].sum()
        failing = int((table[f"{t.name}_status"] == "fail").sum())
        cards.append(
            f'<div class="card"><div class="sub"><b>{e(tls[t.name])}</b> · {e(i18n.t("within", lang, t=f"{t.threshold_min:g}"))}'
            f", {e(i18n.t('target', lang, s=f'{t.target_share:.0%}'))}</div>"
            f'<div class="big">{beyond:,.0f}</div><div class="sub">{e(i18n.t("people_beyond_h", lang, t=f"{t.threshold_min:g}"))}</div>'
            f'<div class="sub {"fail" if failing else "pass"}">{e(i18n.t("failing_h", lang))}: {e(i18n.t("of", lang, a=failing, b=n))}</div></div>'
        )
    zc = table["zone"].value_counts()
    key = "".join(
        f'<div><span class="sw" style="background:{c};opacity:.7"></span>{e(i18n.zone_label(z, lang))} '
        f"<b>{int(zc.get(z, 0))}</b></div>"
        for z, c in ZONE_COLOR.items()
    )
    head = [i18n.t("code", lang), i18n.t("county", lang), i18n.t("population", lang)]
    head += [f"{tls[t.name]} {i18n.t('within', lang, t=f'{t.threshold_min:g}')}" for t in tiers]
    head += [i18n.column_label("beds_per_1000", lang), i18n.t("zone", lang)]
    rows = []
    attention = []
    for _, r in table.iterrows():
        cells = [
            f'<td class="l">{e(r["county_code"])}</td><td class="l name">{e(r["county_name"])}</td>',
            f"<td>{fmt_value('population', r['population'], lang)}</td>",
        ]
        for t in tiers:
            st = str(r[f"{t.name}_status"])
            mark = {"pass": "✓ ", "fail": "✗ "}.get(st, "")
            cls = st if st in STATUS_COLOR else ""
            cells.append(
                f'<td class="{cls.replace(" ", "")}">{mark}{fmt_value("share", r[f"{t.name}_share_within"], lang)}</td>'
            )
        cells.append(f"<td>{fmt_value('beds_per_1000', r.get('beds_per_1000', np.nan), lang)}</td>")
        cells.append(f'<td class="l">{e(i18n.zone_label(str(r["zone"]), lang))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
        failing = [tls[t.name] for t in tiers if str(r[f"{t.name}_status"]) == "fail"]
        if failing or str(r["zone"]) != "adjust":
            ex = explain_county(r, tiers, ctx.measures, lang)
            because = i18n.t("because_rest" if ex["rest"] else "because", lang)
            fail_line = (
                f'<div class="note">{e(_t("failing", lang))}{"：" if zh else ": "}{e(("、" if zh else ", ").join(failing))}</div>'
                if failing
                else ""
            )
            attention.append(
                (
                    -len(failing),
                    f'<div class="county"><b>{e(r["county_name"])}</b> · {e(i18n.zone_label(str(r["zone"]), lang))}'
                    f'<div class="note">{e(because)}</div><ul class="why">'
                    + "".join(f"<li>{e(x)}</li>" for x in ex["decisive"])
                    + f'</ul>{fail_line}<div class="note">{e(i18n.t("rule", lang))}{e(ex["rule"])}</div></div>',
                )
            )
    attention.sort(key=lambda a: a[0])
    att_html = "".join(a[1] for a in attention) or f"<p>{e(_t('none', lang))}</p>"
    banner = (
        f'<div class="banner"><b>⚠ {e(i18n.t("synthetic_label", lang))}</b> · {e(ctx.note)}</div>' if ctx.note else ""
    )
    now = _dt.datetime.now().strftime("%Y-%m-%d")
    html_lang = "zh-CN" if zh else "en"
    page = f"""<!DOCTYPE html>
<html lang="{html_lang}"><head><meta charset="utf-8"><title>{e(ctx.title)} · {e(_t("report", lang))}</title>
<style>{CSS}</style></head><body>
<div class="tools"><a href="index.html">{e(_t("back", lang))}</a> · <a href="#" onclick="window.print();return false;">{e(_t("print", lang))}</a></div>
<section class="page">
<h1>{e(ctx.title)}</h1>{banner}
<div class="cards">{"".join(cards)}</div>
<h2>{e(_t("zone_map", lang))}</h2>
<div class="map">{zone_svg(counties, table, lang)}<div class="key">{key}<p class="note">{now}</p></div></div>
</section>
<section class="page">
<h2>{e(_t("table", lang))}</h2>
<table><thead><tr>{"".join(f'<th class="l">{e(h)}</th>' if i < 2 else f"<th>{e(h)}</th>" for i, h in enumerate(head))}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</section>
<section>
<h2>{e(_t("attention", lang))}</h2>
{att_html}
</section>
</body></html>
"""
    return write_text(path, page)
