"""The bundle's front page: county status table, headline figures, links to every map, settings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geoaccess.outputs._atomic import write_text
from geoaccess.outputs.maps import STATUS_COLOR, e

CSS = """
body{font:14px/1.4 sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td.l,th.l{text-align:left}
.banner{background:#fff3cd;border:1px solid #d39e00;padding:8px 12px;border-radius:4px;margin:8px 0}
.pass{color:#1a9850;font-weight:bold}.fail{color:#d73027;font-weight:bold}
"""


def write_index(
    path: str | Path,
    *,
    title: str,
    table: pd.DataFrame,
    tiers,
    maps: dict[str, str],
    settings: dict,
    synthetic_note: str = "",
    extra_links: dict[str, str] | None = None,
) -> Path:
    """Write ``index.html`` (atomically)."""
    heads = "".join(
        f"<li><b>{e(t.name)}</b> (≤ {t.threshold_min:g} min, target {t.target_share:.0%}): "
        f"{table[f'{t.name}_people_beyond'].sum():,.0f} people beyond reach; "
        f"{(table[f'{t.name}_status'] == 'fail').sum()} of {len(table)} counties fail</li>"
        for t in tiers
    )
    cols = "".join(
        f"<th>{e(t.name)}<br>within {t.threshold_min:g} min</th><th>{e(t.name)}<br>median min</th>" for t in tiers
    )
    rows = []
    for _, r in table.iterrows():
        cells = "".join(
            f'<td class="{e(r[f"{t.name}_status"])}">{r[f"{t.name}_share_within"]:.1%}</td>'
            f"<td>{r[f'{t.name}_median_min']:.1f}</td>"
            for t in tiers
        )
        rows.append(
            f'<tr><td class="l">{e(r["county_code"])}</td><td class="l">{e(r["county_name"])}</td>'
            f"<td>{r['population']:,}</td>{cells}"
            f'<td class="l">{e(r["zone_zh"])} ({e(r["zone"])})</td><td class="l">{e(r["reasons"])}</td></tr>'
        )
    links = "".join(f'<li><a href="{e(href)}">{e(label)}</a></li>' for label, href in maps.items())
    links += "".join(f'<li><a href="{e(href)}">{e(label)}</a></li>' for label, href in (extra_links or {}).items())
    sets = "".join(f'<tr><th class="l">{e(k)}</th><td class="l">{e(v)}</td></tr>' for k, v in settings.items())
    banner = f'<div class="banner">{e(synthetic_note)}</div>' if synthetic_note else ""
    legend = " ".join(f'<span style="color:{c}">■ {e(k)}</span>' for k, c in STATUS_COLOR.items())
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{e(title)}</h1>
{banner}
<h2>Headline</h2><ul>{heads}</ul>
<h2>Maps</h2><ul>{links}</ul>
<h2>Counties</h2>
<p>Share of people within each tier's threshold (coloured by pass/fail against the target) and
population-weighted median minutes. {legend}</p>
<table><tr><th class="l">code</th><th class="l">county</th><th>population</th>{cols}
<th class="l">zone</th><th class="l">reasons</th></tr>
{"".join(rows)}
</table>
<h2>Settings</h2><table>{sets}</table>
</body></html>
"""
    return write_text(path, page)
