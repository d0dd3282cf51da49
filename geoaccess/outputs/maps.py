"""Interactive folium maps: one per tier of care.

Every piece of text that comes from an input (facility and county names, ids) is HTML-escaped before
it reaches the page.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import folium
import numpy as np
import pyproj
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject

from geoaccess.outputs._atomic import atomic_path

TIER_STYLE = [  # lowest tier first
    {"color": "#2b8cbe", "radius": 3},
    {"color": "#e6550d", "radius": 6},
    {"color": "#756bb1", "radius": 9},
    {"color": "#31a354", "radius": 9},
]
STATUS_COLOR = {"pass": "#1a9850", "fail": "#d73027", "no people": "#bdbdbd"}
# travel-time classes as shares of the tier threshold: within half, within, up to 1.5x, 2x, beyond
BAND_FACTORS = (0.5, 1.0, 1.5, 2.0)
BAND_COLORS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")


STATIC = Path(__file__).parent / "static"
LIB = "lib"  # the bundle's folder for shipped JavaScript and CSS


def install_lib(out_dir: str | Path) -> Path:
    """Copy the shipped Leaflet files into the bundle, so maps need no internet (no CDN)."""
    dst = Path(out_dir) / LIB
    shutil.copytree(STATIC, dst, dirs_exist_ok=True)
    return dst


def offline_map(**kwargs) -> folium.Map:
    """A folium map that loads Leaflet from the bundle's ``lib/`` folder instead of a CDN."""
    m = folium.Map(**kwargs)
    m.default_js = [("leaflet", f"{LIB}/leaflet/leaflet.js"), ("jquery", f"{LIB}/jquery/jquery.min.js")]
    m.default_css = [("leaflet_css", f"{LIB}/leaflet/leaflet.css")]
    return m


def e(text) -> str:
    """Escape input text for HTML."""
    return html.escape(str(text), quote=True)


def band_edges(threshold: float) -> list[float]:
    return [threshold * f for f in BAND_FACTORS]


def colour_grid(grid: np.ndarray, threshold: float) -> np.ndarray:
    """RGBA uint8 image of a minutes grid in the tier's bands; NaN transparent."""
    edges = band_edges(threshold)
    rgba = np.zeros(grid.shape + (4,), dtype=np.uint8)
    valid = np.isfinite(grid)
    cls = np.digitize(np.where(valid, grid, 0), edges, right=True)
    for k, hexc in enumerate(BAND_COLORS):
        rgb = [int(hexc[i : i + 2], 16) for i in (1, 3, 5)]
        sel = valid & (cls == k)
        rgba[sel, :3] = rgb
        rgba[sel, 3] = 200
    return rgba


def _to_wgs84(grid, transform, crs):
    """Grid in EPSG:4326 and its (south, west, north, east) bounds."""
    if crs is not None and pyproj.CRS.from_user_input(crs) == pyproj.CRS.from_epsg(4326):
        west, south, east, north = array_bounds(*grid.shape, transform)
        return grid, (south, west, north, east)
    h, w = grid.shape
    left, bottom, right, top = array_bounds(h, w, transform)
    dst_t, dw, dh = calculate_default_transform(crs, "EPSG:4326", w, h, left, bottom, right, top)
    out = np.full((dh, dw), np.nan, dtype=np.float32)
    reproject(
        grid,
        out,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dst_t,
        dst_crs="EPSG:4326",
        resampling=Resampling.nearest,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    west, south, east, north = array_bounds(dh, dw, dst_t)
    return out, (south, west, north, east)


def _legend(title: str, threshold: float) -> str:
    edges = band_edges(threshold)
    labels = [f"≤ {edges[0]:g} min"] + [f"{a:g}–{b:g} min" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"> {edges[-1]:g} min")
    rows = "".join(
        f'<div><span style="background:{c};width:14px;height:10px;display:inline-block;margin-right:6px">'
        f"</span>{e(lab)}</div>"
        for c, lab in zip(BAND_COLORS, labels, strict=True)
    )
    status = "".join(
        f'<div><span style="border:2px solid {c};width:12px;height:8px;display:inline-block;margin-right:6px">'
        f"</span>county {e(k)}</div>"
        for k, c in STATUS_COLOR.items()
        if k != "no people"
    )
    return (
        '<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;padding:8px 10px;'
        'border:1px solid #888;border-radius:4px;font:12px sans-serif;max-width:240px">'
        f"<b>{e(title)}</b>{rows}<hr style='margin:4px 0'>{status}</div>"
    )


def _banner(text: str) -> str:
    return (
        '<div style="position:fixed;top:8px;left:50%;transform:translateX(-50%);z-index:9999;'
        "background:#fff3cd;border:1px solid #d39e00;padding:4px 10px;border-radius:4px;"
        f'font:13px sans-serif">{e(text)}</div>'
    )


def tier_map(
    path: str | Path,
    *,
    tier,
    counties,
    table,
    facilities,
    serving,
    served_people,
    grid,
    transform,
    crs,
    title: str,
    synthetic_note: str = "",
) -> Path:
    """Write one tier's map: travel-time surface, counties by status, serving facilities, legend."""
    b = counties.total_bounds
    install_lib(Path(path).parent)
    m = offline_map(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=9, tiles=None, control_scale=True)

    g84, (s, w, n, east) = _to_wgs84(grid, transform, crs)
    folium.raster_layers.ImageOverlay(
        colour_grid(g84, tier.threshold_min),
        bounds=[[s, w], [n, east]],
        name=f"travel time to {tier.name} care",
        mercator_project=True,
        opacity=0.85,
    ).add_to(m)

    t = table.set_index("county_code")
    gj = counties[["county_code", "county_name", "geometry"]].copy()
    gj["geometry"] = gj.geometry.simplify(0.001)
    feats = json.loads(gj.to_json())
    for f in feats["features"]:
        p = f["properties"]
        row = t.loc[p["county_code"]]
        p["county_name"] = e(p["county_name"])
        p["county_code"] = e(p["county_code"])
        p["status"] = str(row[f"{tier.name}_status"])
        p["share"] = f"{row[f'{tier.name}_share_within']:.1%}"
        p["median"] = f"{row[f'{tier.name}_median_min']:.1f} min"
        p["beyond"] = f"{row[f'{tier.name}_people_beyond']:,.0f}"
        p["zone"] = e(row["zone_zh"] + " " + row["zone"])
    folium.GeoJson(
        feats,
        name=f"counties by {tier.name} status",
        style_function=lambda f: {
            "color": STATUS_COLOR.get(f["properties"]["status"], "#666"),
            "weight": 3,
            "fillOpacity": 0.05,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["county_name", "county_code", "status", "share", "median", "beyond", "zone"],
            aliases=[
                "county",
                "code",
                "status",
                f"within {tier.threshold_min:g} min",
                "median",
                "people beyond",
                "zone",
            ],
        ),
    ).add_to(m)

    fg = folium.FeatureGroup(name=f"facilities serving {tier.name} care")
    fac = facilities[serving]
    for i, (_, r) in zip(np.flatnonzero(serving), fac.iterrows(), strict=True):
        st = TIER_STYLE[min(int(r["tier_rank"]), len(TIER_STYLE) - 1)]
        popup = (
            f"<b>{e(r['name'])}</b><br>id {e(r['id'])}<br>tier: {e(r['tier'])}<br>beds: {r['beds']:,.0f}"
            f"<br>people nearest to it: {served_people[i]:,.0f}"
        )
        folium.CircleMarker(
            [r.geometry.y, r.geometry.x],
            radius=st["radius"],
            color=st["color"],
            fill=True,
            fill_opacity=0.9,
            weight=1,
            popup=folium.Popup(popup, max_width=300),
            tooltip=e(r["name"]),
        ).add_to(fg)
    fg.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(folium.Element(_legend(f"{tier.name}: minutes to care", tier.threshold_min)))
    if synthetic_note:
        m.get_root().html.add_child(folium.Element(_banner(synthetic_note)))
    m.get_root().header.add_child(folium.Element(f"<title>{e(title)}</title>"))
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return Path(path)
