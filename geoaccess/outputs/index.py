"""The bundle's front page: headline figures, maps, the county table, coverage curves, settings, sources.

Every value that comes from the inputs or the county table is HTML-escaped; the page's only script
(inline, no network) sorts the tables.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from geoaccess.outputs import i18n
from geoaccess.outputs._atomic import write_text
from geoaccess.outputs.explain import explain_county, reason_line
from geoaccess.outputs.maps import (
    CURRENT,
    STATUS_COLOR,
    ZONE_COLOR,
    MapContext,
    e,
    extra_columns,
    fmt_value,
    synthetic_html,
)

CSS = """
body{font:14px/1.45 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:0;color:#222;background:#fff}
main{padding:12px 24px 40px;max-width:1500px}
.ga-head{padding:8px 24px;border-bottom:1px solid #ccc;background:#fafafa}
.ga-head h1{font-size:22px;margin:4px 0}
.ga-nav a{margin-right:14px;color:#0b5394;text-decoration:none;font-size:13px}
.ga-nav a.ga-current{color:#222;font-weight:bold;border-bottom:2px solid #0b5394}
.banner{background:#fff3cd;border:1px solid #d39e00;padding:8px 12px;border-radius:4px;margin:8px 0}
h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #e3e3e3;padding-bottom:3px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:200px;background:#fcfcfc}
.card .big{font-size:26px;font-weight:bold}
.card .sub{color:#555;font-size:13px}
.card .fails{font-weight:bold}.card.bad .fails{color:#c62828}.card.good .fails{color:#1a7f37}
.card.bad{border-left:5px solid #d73027}.card.good{border-left:5px solid #1a9850}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #d5d5d5;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3;font-weight:600}
td.l,th.l{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:after{content:" ↕";color:#aaa;font-size:11px}
table.sortable th.asc:after{content:" ▲";color:#333}
table.sortable th.desc:after{content:" ▼";color:#333}
.pass{color:#007a5a;font-weight:bold}.fail{color:#b34700;font-weight:bold}.nopeople{color:#888}
.badge{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;white-space:nowrap}
.zone{display:inline-block;padding:1px 6px;border-radius:3px;white-space:nowrap}
.reasons{max-width:380px;min-width:220px;font-size:12px;color:#444}
.reasons .because{font-size:11px;color:#555}
ul.decisive{margin:1px 0 2px;padding-left:16px;font-weight:bold;font-size:13px}
ul.decisive.bad{color:#b71c1c}ul.decisive.ok{color:#1a7f37}
.reasons .rule{color:#777;font-size:11px}
td.name{white-space:nowrap;min-width:5em;font-weight:600}
.note{color:#555;font-size:13px}
.curves{display:flex;flex-wrap:wrap;gap:18px}
.curves figure{margin:0}
.curves figcaption{font-weight:bold;margin-bottom:2px}
ul.maps li{margin:3px 0}
details summary{cursor:pointer;color:#0b5394;margin:8px 0}
.wide{overflow-x:auto}
.ga-periods{font-size:13px;margin:2px 0}.ga-periods a,.ga-periods b{margin-right:10px}.ga-periods a{color:#0b5394}
@media print{@page{size:A4 landscape;margin:8mm}body{font-size:10px}main{padding:0;max-width:none}
.ga-nav,.ga-periods,details,#curves,.curves,.sortable th:after{display:none}.wide{overflow:visible}
td,th{padding:2px 4px}.reasons{max-width:none;min-width:0}h2{break-after:avoid}tr{break-inside:avoid}}
"""

SORT_JS = """
(function(){
  function val(td){var v=td.getAttribute("data-v");if(v===null)v=td.textContent;var n=parseFloat(v);return isNaN(n)?v.toLowerCase():n;}
  var tables=document.querySelectorAll("table.sortable");
  for(var t=0;t<tables.length;t++)(function(table){
    var ths=table.querySelectorAll("thead th");
    for(var i=0;i<ths.length;i++)(function(th,col){
      th.addEventListener("click",function(){
        var asc=!th.classList.contains("asc");
        for(var k=0;k<ths.length;k++)ths[k].classList.remove("asc","desc");
        th.classList.add(asc?"asc":"desc");
        var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){var x=val(a.cells[col]),y=val(b.cells[col]);
          if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        for(var r=0;r<rows.length;r++)body.appendChild(rows[r]);
      });
    })(ths[i],i);
  })(tables[t]);
})();
"""


def coverage_curves(
    minutes: np.ndarray, people: np.ndarray, county: np.ndarray, n_counties: int, max_min: float, steps: int = 61
):
    """Share of each county's people reached within each of ``steps`` minute values from 0 to ``max_min``.

    Returns the minute values and an array (counties x steps); unreachable people are never reached.
    """
    grid = np.linspace(0.0, max_min, steps)
    m = np.asarray(minutes, float)
    idx = np.searchsorted(grid, np.where(np.isfinite(m), m, np.inf), side="left")  # first step with m <= step
    keep = idx < steps
    counts = np.bincount(county[keep] * steps + idx[keep], weights=people[keep], minlength=n_counties * steps)
    reached = np.cumsum(counts.reshape(n_counties, steps), axis=1)
    total = np.bincount(county, weights=people, minlength=n_counties)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = reached / total[:, None]
    return grid, share


def _curve_svg(grid, share, names, statuses, threshold: float, target: float, lang: str) -> str:
    w, h, ml, mr, mt, mb = 420, 250, 44, 90, 10, 34
    pw, ph = w - ml - mr, h - mt - mb
    xmax = float(grid[-1]) or 1.0

    def x(v):
        return ml + pw * v / xmax

    def y(s):
        return mt + ph * (1 - s)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" font-size="11">']
    for s in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y(s):.1f}" y2="{y(s):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{ml - 4}" y="{y(s) + 4:.1f}" text-anchor="end" fill="#555">{s:.0%}</text>')
    for k in range(5):
        v = xmax * k / 4
        parts.append(f'<text x="{x(v):.1f}" y="{mt + ph + 14}" text-anchor="middle" fill="#555">{v:g}</text>')
    parts.append(
        f'<text x="{ml + pw / 2}" y="{h - 4}" text-anchor="middle" fill="#333">{e(i18n.t("min", lang))}</text>'
    )
    parts.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    parts.append(
        f'<line x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="{mt}" y2="{mt + ph}" stroke="#333" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<line x1="{ml}" x2="{ml + pw}" y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="#333" stroke-dasharray="2 3"/>'
    )
    # passing counties first (grey), failing on top (red) with their names at the right edge
    order = sorted(range(len(names)), key=lambda i: statuses[i] == "fail")
    label_y = []
    for i in order:
        s = share[i]
        if not np.isfinite(s).any():
            continue
        fail = statuses[i] == "fail"
        pts = " ".join(f"{x(g):.1f},{y(v):.1f}" for g, v in zip(grid, np.nan_to_num(s), strict=True))
        colour, width = ("#D55E00", 2.2) if fail else ("#6b8fb3", 1.2)
        parts.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{width}" opacity="0.9">'
            f"<title>{e(names[i])}: {fmt_value('share', float(np.interp(threshold, grid, s)), lang)} "
            f"{e(i18n.t('within', lang, t=f'{threshold:g}'))}</title></polyline>"
        )
        if fail:
            yy = y(float(np.nan_to_num(s[-1])))
            while any(abs(yy - q) < 11 for q in label_y):
                yy += 11
            label_y.append(yy)
            parts.append(f'<text x="{ml + pw + 4}" y="{yy + 4:.1f}" fill="#b34700">{e(names[i])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _setting_label(key: str, lang: str) -> str:
    return i18n.SETTING_LABELS.get(key, {}).get(lang, key)


def reasons_html(row, tiers, lang: str, measures=None) -> str:
    """Why a county is in its zone, in the page's language, from the zone rules in force.

    The conditions that decided it come first, in bold (with the county's values); the rule that applied
    follows in small print.
    """
    ex = explain_county(row, tiers, measures, lang)
    cls = "bad" if ex["zone"] == "priority" or ex["rest"] else "ok"
    items = (
        "".join(f"<li>{e(x)}</li>" for x in ex["decisive"]) or f"<li>{e(reason_line(row, tiers, measures, lang))}</li>"
    )
    because = i18n.t("because_rest" if ex["rest"] else "because", lang)
    return (
        f'<span class="because">{e(because)}</span><ul class="decisive {cls}">{items}</ul>'
        f'<div class="rule">{e(i18n.t("rule", lang))}{e(ex["rule"])}</div>'
    )


def _cell(col: str, v, lang: str, cls: str = "") -> str:
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        fv = float(v)
        dv = "" if math.isnan(fv) else (f"{fv:.6g}" if math.isfinite(fv) else "1e300")
        return f'<td class="{cls}" data-v="{dv}">{fmt_value(col, v, lang)}</td>'
    return f'<td class="l {cls}">{e(v)}</td>'


def period_switch_html(ctx: MapContext, page: str) -> str:
    """The front page's period switch: this page in the bundle of each time-of-day period (``ctx.periods``)."""
    if not ctx.periods:
        return ""
    items = "".join(
        f'<b aria-current="page">{e(label)}</b>' if own else f'<a href="{e(root + page)}">{e(label)}</a>'
        for label, root, own in ctx.periods
    )
    return f'<div class="ga-periods" role="navigation">{e(i18n.t("period_switch", ctx.lang))}: {items}</div>'


def write_index(
    path: str | Path,
    *,
    ctx: MapContext,
    table: pd.DataFrame,
    tiers,
    maps: Sequence[tuple[str, str, str]],
    files: Sequence[tuple[str, str]],
    settings: dict,
    sources: Sequence[tuple[str, str]] = (),
    curves: dict | None = None,
    bundle_bytes: int | None = None,
    warnings: Sequence[str] = (),
    scenarios: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``index.html`` (atomically).

    ``maps`` are (label, href, description); ``files`` (label, href); ``curves`` maps a tier name to
    (minute values, counties x steps shares) from :func:`coverage_curves`, rows in table order;
    ``warnings`` (what ``geoaccess info`` shows about the inputs) are repeated under the headline;
    ``scenarios`` are (label, href) of what-if and placement pages made against this baseline.
    """
    lang = ctx.lang
    n = len(table)
    names = [t.name for t in tiers]
    tls = {t.name: i18n.tier_label(t.name, lang, t.label) for t in tiers}

    cards = []
    for t in tiers:
        beyond = table[f"{t.name}_people_beyond"].sum()
        failing = int((table[f"{t.name}_status"] == "fail").sum())
        cls = "bad" if failing else "good"
        cards.append(
            f'<div class="card {cls}"><div class="sub"><b>{e(tls[t.name])}</b> · '
            f"{e(i18n.t('within', lang, t=f'{t.threshold_min:g}'))}, {e(i18n.t('target', lang, s=f'{t.target_share:.0%}'))}</div>"
            f'<div class="big">{beyond:,.0f}</div><div class="sub">{e(i18n.t("people_beyond_h", lang, t=f"{t.threshold_min:g}"))}</div>'
            f'<div class="sub fails">{e(i18n.t("failing_h", lang))}: {e(i18n.t("of", lang, a=failing, b=n))}</div></div>'
        )
    if "zone" in table.columns:
        zc = table["zone"].value_counts()
        zl = "".join(
            f'<div><span class="zone" style="background:{c}33;border-left:5px solid {c}">{e(i18n.zone_label(z, lang))}</span> '
            f"<b>{int(zc.get(z, 0))}</b></div>"
            for z, c in ZONE_COLOR.items()
        )
        cards.append(f'<div class="card"><div class="sub"><b>{e(i18n.t("zones_h", lang))}</b></div>{zl}</div>')
    pop = table["population"].sum() if "population" in table.columns else None
    if pop is not None:
        cards.append(
            f'<div class="card"><div class="sub"><b>{e(i18n.t("population", lang))}</b></div>'
            f'<div class="big">{pop:,.0f}</div><div class="sub">{n} {e(i18n.t("counties", lang))}</div></div>'
        )

    map_items = "".join(
        f'<li><a href="{e(href)}">{e(label)}</a> <span class="note">{e(desc)}</span></li>' for label, href, desc in maps
    )
    file_items = "".join(f'<li><a href="{e(href)}">{e(label)}</a></li>' for label, href in files)

    # the key table: status per tier, zone, reasons, and any county-level figures others add
    extras = extra_columns(table, names)
    head = [f'<th class="l">{e(i18n.t("code", lang))}</th>', f'<th class="l">{e(i18n.t("county", lang))}</th>']
    head.append(f"<th>{e(i18n.t('population', lang))}</th>")
    for t in tiers:
        head.append(f"<th>{e(tls[t.name])}<br>{e(i18n.t('within', lang, t=f'{t.threshold_min:g}'))}</th>")
        head.append(f"<th>{e(tls[t.name])}<br>{e(i18n.t('median', lang))}</th>")
    head += [f"<th>{e(i18n.column_label(c, lang, names, tls))}</th>" for c in extras]
    head += [f'<th class="l">{e(i18n.t("zone", lang))}</th>', f'<th class="l">{e(i18n.t("reasons", lang))}</th>']
    rows = []
    for _, r in table.iterrows():
        cells = [
            _cell("county_code", str(r["county_code"]), lang),
            _cell("county_name", r["county_name"], lang, "name"),
        ]
        cells.append(_cell("population", r["population"], lang))
        for t in tiers:
            st = str(r[f"{t.name}_status"])
            share = r[f"{t.name}_share_within"]
            mark = {"pass": "✓ ", "fail": "✗ "}.get(st, "")
            dv = "" if pd.isna(share) else f"{float(share):.6g}"
            title = e(i18n.TEXT.get(st, {}).get(lang, st))
            cells.append(
                f'<td class="{e(st).replace(" ", "")}" data-v="{dv}" title="{title}">{mark}{fmt_value("share", share, lang)}</td>'
            )
            cells.append(_cell("median_min", r[f"{t.name}_median_min"], lang))
        cells += [_cell(c, r[c], lang) for c in extras]
        if "zone" in table.columns:
            z = str(r["zone"])
            c = ZONE_COLOR.get(z, "#999")
            cells.append(
                f'<td class="l" data-v="{e(z)}"><span class="zone" style="background:{c}33;border-left:5px solid {c}">'
                f"{e(i18n.zone_label(z, lang))}</span></td>"
            )
        else:
            cells.append("<td></td>")
        cells.append(f'<td class="l reasons">{reasons_html(r, tiers, lang, ctx.measures)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    legend = " ".join(
        f'<span class="badge" style="background:{c}">{e(i18n.TEXT[k][lang])}</span>' for k, c in STATUS_COLOR.items()
    )
    key_table = (
        f'<div class="wide"><table class="sortable" id="counties"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )

    # every column, generically, for what the key table leaves out
    all_head = "".join(
        f'<th class="l">{e(i18n.column_label(c, lang, names, tls))}<br><code>{e(c)}</code></th>' for c in table.columns
    )
    all_rows = "".join(
        "<tr>" + "".join(_cell(c, r[c], lang) for c in table.columns) + "</tr>" for _, r in table.iterrows()
    )
    all_table = f'<div class="wide"><table class="sortable" id="all-columns"><thead><tr>{all_head}</tr></thead><tbody>{all_rows}</tbody></table></div>'

    curve_html = ""
    if curves:
        figs = []
        cnames = [str(x) for x in table["county_name"]]
        for t in tiers:
            if t.name not in curves:
                continue
            grid, share = curves[t.name]
            statuses = [str(s) for s in table[f"{t.name}_status"]]
            figs.append(
                f"<figure><figcaption>{e(tls[t.name])} · {e(i18n.t('threshold', lang))} {t.threshold_min:g} "
                f"{e(i18n.t('min', lang))}</figcaption>"
                f"{_curve_svg(grid, share, cnames, statuses, t.threshold_min, t.target_share, lang)}</figure>"
            )
        curve_html = (
            f'<h2 id="curves">{e(i18n.t("curves", lang))}</h2><p class="note">{e(i18n.t("curves_note", lang))}</p>'
            f'<div class="curves">{"".join(figs)}</div>'
        )

    shown = {k for k, _ in sources}
    sets = "".join(
        f'<tr><th class="l">{e(_setting_label(k, lang))}</th><td class="l">{e(v)}</td></tr>'
        for k, v in settings.items()
        if k not in shown
    )
    srcs = "".join(
        f'<tr><th class="l">{e(_setting_label(k, lang))}</th><td class="l">{e(v)}</td></tr>' for k, v in sources
    )
    banner = f'<div class="banner" role="note">{synthetic_html(ctx)}</div>' if ctx.note else ""
    nav = "".join(
        f'<a href="{e(href)}"{CURRENT if href == Path(path).name else ""}>{e(label)}</a>' for label, href in ctx.nav
    )
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    periods = period_switch_html(ctx, Path(path).name)
    size = f" · {e(i18n.t('bundle_size', lang))} {bundle_bytes / 1e6:.1f} MB" if bundle_bytes else ""
    html_lang = "zh-CN" if lang == "zh" else "en"
    warn_html = (
        f'<h2 id="warnings">{e(i18n.t("warnings", lang))} ({len(warnings)})</h2><ul class="warnings">'
        + "".join(f"<li>{e(w)}</li>" for w in warnings)
        + "</ul>"
        if warnings
        else ""
    )
    scen_html = (
        f'<h2 id="scenarios">{e(i18n.t("scenarios_h", lang))}</h2><ul class="maps">'
        + "".join(f'<li><a href="{e(href)}">{e(label)}</a></li>' for label, href in scenarios)
        + "</ul>"
        if scenarios
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="{html_lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(ctx.title)}</title><style>{CSS}</style></head>
<body>
<header class="ga-head"><nav class="ga-nav">{nav}</nav>{periods}<h1>{e(ctx.title)}</h1>{banner}</header>
<main>
<h2 id="headline">{e(i18n.t("headline", lang))}</h2>
<div class="cards">{"".join(cards)}</div>
{warn_html}
<h2 id="maps">{e(i18n.t("maps", lang))}</h2><ul class="maps">{map_items}</ul>
{scen_html}
<h2 id="files">{e(i18n.t("files", lang))}</h2><ul class="files">{file_items}</ul>
<h2 id="counties-h">{e(i18n.t("counties", lang))}</h2>
<p class="note">{e(i18n.t("table_note", lang, t=""))} {legend}</p>
{key_table}
{curve_html}
<details><summary>{e(i18n.t("all_columns", lang))} ({len(table.columns)})</summary>{all_table}</details>
<h2 id="settings">{e(i18n.t("settings", lang))}</h2>
<table>{srcs}{sets}</table>
<p class="note">geoaccess · {e(i18n.t("generated", lang))} {now}{size}</p>
</main>
<script>{SORT_JS}</script>
</body></html>
"""
    return write_text(path, page)
