"""A scenario's before/after bundle: ``compare.csv``, ``compare.html`` (table and map) and ``counties.csv``.

Text from inputs (county and facility names, ids, the scenario's title) is HTML-escaped.
"""

from __future__ import annotations

from pathlib import Path

import folium
import numpy as np
import pandas as pd
import pyproj
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject

from geoaccess.outputs._atomic import atomic_path, write_csv, write_text
from geoaccess.outputs.maps import LIB, e, install_lib


def offline_map(**kwargs) -> folium.Map:
    """A folium map loading Leaflet from the bundle's ``lib/`` folder (no CDN, no jQuery: tooltips only)."""
    m = folium.Map(**kwargs)
    m.default_js = [("leaflet", f"{LIB}/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", f"{LIB}/leaflet/leaflet.css")]
    return m


CSS = """
body{font:14px/1.4 sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td.l,th.l{text-align:left}
.banner{background:#fff3cd;border:1px solid #d39e00;padding:8px 12px;border-radius:4px;margin:8px 0}
.gain{color:#1a9850;font-weight:bold}.loss{color:#d73027;font-weight:bold}
iframe{width:100%;height:620px;border:1px solid #888}
"""
GAIN, LOSS = (26, 152, 80), (215, 48, 39)
CHANGE_STYLE = {
    "added": "#1a9850",
    "campus": "#1a9850",
    "upgraded": "#1a9850",
    "moved": "#2b8cbe",
    "downgraded": "#d73027",
    "removed": "#d73027",
}


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
) -> list[Path]:
    """Write the scenario bundle into ``out``, file by file (the caller swaps the folder in whole)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    files.append(write_csv(compare, out / "compare.csv", float_format="%.4f"))
    files.append(write_csv(scenario.counties, out / "counties.csv", float_format="%.4f"))
    files.append(_map(out / "compare_map.html", title, scenario, base, counties, population, synthetic_note))
    files.append(write_text(out / "compare.html", _page(title, compare, scenario, synthetic_note)))
    return files


def _page(title, compare: pd.DataFrame, scenario, note) -> str:
    heads = []
    for t in scenario.tier_settings:
        c = compare[compare["tier"] == t.name]
        changed = c[c["status_changed"]]
        moves = ", ".join(f"{r.county_name} {r.status_before} → {r.status_after}" for r in changed.itertuples())
        heads.append(
            f"<li><b>{e(t.name)}</b> (≤ {t.threshold_min:g} min): "
            f'<span class="gain">+{c["people_newly_within"].sum():,.0f}</span> people newly within reach, '
            f'<span class="loss">−{c["people_no_longer_within"].sum():,.0f}</span> no longer within; '
            f"{len(changed)} count{'y' if len(changed) == 1 else 'ies'} change status"
            f"{': ' + e(moves) if moves else ''}</li>"
        )
    zone = compare.drop_duplicates("county_code")
    zone = zone[zone["zone_changed"]]
    zones = "".join(f"<li>{e(r.county_name)}: {e(r.zone_before)} → {e(r.zone_after)}</li>" for r in zone.itertuples())
    edits = "".join(f"<li>{e(line)}</li>" for line in scenario.scenario.describe())
    rows = []
    for r in compare.itertuples():
        cls = "gain" if r.people_within_change > 0 else "loss" if r.people_within_change < 0 else ""
        rows.append(
            f'<tr><td class="l">{e(r.county_code)}</td><td class="l">{e(r.county_name)}</td><td class="l">{e(r.tier)}</td>'
            f'<td class="{cls}">{r.people_newly_within:,.0f}</td><td>{r.people_no_longer_within:,.0f}</td>'
            f"<td>{r.share_within_before:.1%}</td><td>{r.share_within_after:.1%}</td>"
            f"<td>{_minutes(r.median_min_before)}</td><td>{_minutes(r.median_min_after)}</td>"
            f'<td class="l">{e(r.status_before)} → {e(r.status_after)}</td>'
            f'<td class="l">{e(r.zone_before)} → {e(r.zone_after)}</td></tr>'
        )
    how = ", ".join(f"{e(k)}: {e(v)}" for k, v in scenario.recompute.items())
    banner = f'<div class="banner"><b>⚠ Synthetic data · 合成数据</b> · {e(note)}</div>' if note else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{e(title)}</h1>
{banner}
<h2>Edits</h2><ul>{edits}</ul>
<h2>Before → after</h2><ul>{"".join(heads)}</ul>
<h3>Zones that change</h3><ul>{zones or "<li>none</li>"}</ul>
<h2>Map of gains and losses</h2>
<p>Cells whose minutes changed: green = faster, red = slower (darker = larger change).
<a href="compare_map.html">Open the map on its own</a>.</p>
<iframe src="compare_map.html" title="gains and losses"></iframe>
<h2>Counties</h2>
<table><tr><th class="l">code</th><th class="l">county</th><th class="l">tier</th><th>people newly within</th>
<th>people no longer within</th><th>share within before</th><th>after</th><th>median min before</th><th>after</th>
<th class="l">status</th><th class="l">zone</th></tr>
{"".join(rows)}
</table>
<p>Files: <a href="compare.csv">compare.csv</a> (this table), <a href="counties.csv">counties.csv</a> (the
county table under the scenario). Recomputed: {how}.</p>
</body></html>
"""


def _minutes(v) -> str:
    """Minutes for the table; people who reach no facility show as 'unreachable', not 'inf'."""
    return f"{v:.1f}" if np.isfinite(v) else ("unreachable" if v == np.inf else "–")


def _js_text(html_text: str) -> str:
    """Escaped HTML made safe inside the JavaScript template literal folium writes tooltips into."""
    return html_text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def _delta_image(delta_grid: np.ndarray, transform, crs):
    """RGBA image (EPSG:4326) of a grid of minute changes, and its bounds [[s, w], [n, e]]."""
    h, w = delta_grid.shape
    if crs is not None and pyproj.CRS.from_user_input(crs) == pyproj.CRS.from_epsg(4326):
        g = delta_grid
        west, south, east, north = array_bounds(h, w, transform)
    else:
        left, bottom, right, top = array_bounds(h, w, transform)
        dst_t, dw, dh = calculate_default_transform(crs, "EPSG:4326", w, h, left, bottom, right, top)
        g = np.full((dh, dw), np.nan, dtype=np.float32)
        reproject(
            delta_grid,
            g,
            src_transform=transform,
            src_crs=crs,
            dst_transform=dst_t,
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
            src_nodata=np.nan,
            dst_nodata=np.nan,
        )
        west, south, east, north = array_bounds(dh, dw, dst_t)
    rgba = np.zeros(g.shape + (4,), dtype=np.uint8)
    ok = np.isfinite(g) & (g != 0)
    scale = max(float(np.nanmax(np.abs(g[ok]))) if ok.any() else 1.0, 1e-9)
    for sel, rgb in ((ok & (g < 0), GAIN), (ok & (g > 0), LOSS)):
        rgba[sel, :3] = rgb
        rgba[sel, 3] = (90 + 165 * np.minimum(np.abs(g[sel]) / scale, 1.0)).astype(np.uint8)
    return rgba, [[south, west], [north, east]]


def _map(path, title, scenario, base, counties, population, note) -> Path:
    b = counties.total_bounds
    install_lib(Path(path).parent)
    m = offline_map(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=9, tiles=None, control_scale=True)
    pop = population
    for t in scenario.tier_settings:
        mb, ma = base.tiers[t.name].minutes, scenario.tiers[t.name].minutes
        with np.errstate(invalid="ignore"):
            d = np.where(np.isfinite(ma) & np.isfinite(mb), ma - mb, np.where(np.isfinite(ma), -1e6, 1e6))
        d = np.where(ma == mb, np.nan, d)
        if not np.isfinite(d).any():
            continue
        grid = np.full(pop.shape, np.nan, dtype=np.float32)
        grid[pop.row, pop.col] = d
        img, bounds = _delta_image(grid, pop.transform, pop.crs)
        folium.raster_layers.ImageOverlay(
            img, bounds=bounds, name=e(f"{t.name}: change in minutes"), mercator_project=True, opacity=0.9
        ).add_to(m)
    fac = scenario.facilities
    fg = folium.FeatureGroup(name="changed facilities")
    for _, r in fac[fac["change"] != ""].iterrows():
        colour = CHANGE_STYLE.get(r["change"], "#666")
        popup = f"<b>{e(r['name'])}</b><br>id {e(r['id'])}<br>{e(r['change'])}: {e(r['tier'])}, {r['beds']:,.0f} beds"
        folium.CircleMarker(
            [r.geometry.y, r.geometry.x],
            radius=8,
            color=colour,
            fill=True,
            fill_opacity=0.2 if r["change"] == "removed" else 0.9,
            weight=3,
            tooltip=folium.Tooltip(_js_text(popup)),
        ).add_to(fg)
    fg.add_to(m)
    gj = counties[["county_code", "county_name", "geometry"]].copy()
    gj["geometry"] = gj.geometry.simplify(0.001)
    gj["county_name"] = gj["county_name"].map(e)
    gj["county_code"] = gj["county_code"].map(e)
    folium.GeoJson(
        gj.to_json(),
        name="counties",
        style_function=lambda f: {"color": "#555", "weight": 2, "fillOpacity": 0.0},
        tooltip=folium.GeoJsonTooltip(fields=["county_name", "county_code"], aliases=["county", "code"]),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend = (
        '<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;padding:8px 10px;'
        'border:1px solid #888;border-radius:4px;font:12px sans-serif">'
        f"<b>{e(scenario.scenario.title)}</b><br>"
        '<span style="color:#1a9850">■</span> faster &nbsp; <span style="color:#d73027">■</span> slower<br>'
        "circles: green added / upgraded / campus, blue moved, red removed / downgraded</div>"
    )
    m.get_root().html.add_child(folium.Element(legend))
    if note:
        m.get_root().html.add_child(
            folium.Element(
                '<div style="position:fixed;top:8px;left:50%;transform:translateX(-50%);z-index:9999;'
                "background:#fff3cd;border:1px solid #d39e00;padding:4px 10px;border-radius:4px;"
                f'font:13px sans-serif">{e(note)}</div>'
            )
        )
    m.get_root().header.add_child(folium.Element(f"<title>{e(title)}</title>"))
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return Path(path)
