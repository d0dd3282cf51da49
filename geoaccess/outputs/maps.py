"""The bundle's maps: one per tier of care, and an overview of resource zones.

Each page is a :class:`folium.Map` carrying the :class:`~geoaccess.outputs.plugin.Geoaccess` plugin, fed
the page's data as JSON (:mod:`geoaccess.outputs.plugin` has the escaping rule and the assets, all from the
bundle's ``lib/`` folder: no CDN, no network). The facilities, which can number 30,000 in a province, are in
one file all pages load (``data/facilities.js``, :func:`write_facilities`), and the travel-time surface is
one image or local tiles (:func:`surface_layer`, :mod:`geoaccess.outputs.tiles`). Each page has two forms:
``tier_map`` / ``overview_map`` write the bundle's page; ``tier_folium`` / ``overview_folium`` return the
same map with everything inline, for a notebook.
"""

from __future__ import annotations

import base64
import logging
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyproj
import rasterio.features
import shapely
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform
from scipy import ndimage
from shapely.geometry import mapping, shape

from geoaccess.outputs import i18n, tiles
from geoaccess.outputs._atomic import atomic_path, write_text
from geoaccess.outputs._gcj02 import shift_geometry, wgs84_to_gcj02
from geoaccess.outputs._html import LIB, e, install_lib, json_for_script
from geoaccess.outputs.explain import explain_county, reason_line, zone_legend
from geoaccess.outputs.rasters import Surface

if TYPE_CHECKING:
    import folium

log = logging.getLogger(__name__)

IMG = "img"  # the bundle's folder for travel-time images

# facility symbols, lowest tier first (map.js draws the shapes)
TIER_STYLE = [
    {"shape": "circle", "color": "#2b8cbe", "size": 9},
    {"shape": "square", "color": "#e6550d", "size": 13},
    {"shape": "diamond", "color": "#6a51a3", "size": 18},
    {"shape": "triangle", "color": "#238b45", "size": 18},
    {"shape": "star", "color": "#252525", "size": 20},
]
# pass / fail in Okabe-Ito bluish green and vermillion (told apart with any colour vision), and a travel-time
# palette of another family (cividis: yellow to navy, made for colour-vision deficiency), so the two never mix
STATUS_COLOR = {"pass": "#009E73", "fail": "#D55E00", "no people": "#9e9e9e"}
ZONE_COLOR = {"priority": "#d73027", "enrich": "#fc8d59", "adjust": "#1a9850"}
# the overview's other colouring: how many tiers a county fails (0, 1, 2 or more), light to dark vermillion
FAILED_COLORS = ("#e0e0e0", "#f4a582", "#D55E00")
# travel-time classes as shares of the tier threshold: within half, within, up to 1.5x, 2x, beyond
BAND_FACTORS = (0.5, 1.0, 1.5, 2.0)
BAND_COLORS = ("#ffea46", "#bcaf6f", "#7c7b78", "#414d6b", "#00204d")
BAND_LINE_COLORS = ("#000000", "#222222", "#444444", "#222222", "#000000", "#000000")  # dashes tell them apart
CURRENT = ' class="ga-current" aria-current="page"'  # the navigation link of the page itself
SIMPLIFY_DEG = 0.0015  # about 150 m: county outlines and catchment bands stay light
BANDS_MAX_PIXELS = 2_500_000  # catchment bands are traced on a grid of at most this size (the demo: 1.3 M)
FACILITIES_JS = "data/facilities.js"  # the bundle's one facilities file, shared by every map page
CATCHMENTS_JS = "data/catchments_{tier}.js"  # a tier's catchment polygons, loaded when the layer is first shown
# catchment vertices are kept in steps of this many degrees (about 11 m; the grid they are traced on has pixels of
# 100 m or more), as whole-number steps from the previous vertex: a third of the bytes of GeoJSON at 1e-5
CATCHMENT_STEP_DEG = 1e-4


# -- travel-time surface -----------------------------------------------------------------------------
def band_edges(threshold: float) -> list[float]:
    return [threshold * f for f in BAND_FACTORS]


def surface_classes(threshold: float, lang: str) -> list[dict]:
    """Legend rows of the travel-time surface: colour and label per class."""
    edges = band_edges(threshold)
    mn = i18n.t("min", lang)
    labels = [f"≤ {edges[0]:g} {mn}"] + [f"{a:g}–{b:g} {mn}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"> {edges[-1]:g} {mn}")
    return [{"color": c, "label": lab} for c, lab in zip(BAND_COLORS, labels, strict=True)]


def surface_layer(out_dir: str | Path, tier_name: str, surface: Surface, threshold: float, shift: bool = False) -> dict:
    """Draw the surface in the tier's classes for the page: one image if small enough, else XYZ tiles.

    Returns the page's ``surface`` entry: ``{"url", "bounds"}`` for an image, ``{"tiles", "minZoom",
    "maxZoom", "have"}`` for tiles (see :mod:`geoaccess.outputs.tiles`). The other form's files from an
    earlier run are removed.
    """
    out_dir = Path(out_dir)
    classes = surface.classes(band_edges(threshold))
    image = Path(IMG) / f"travel_time_{tier_name}.png"
    folder = Path(IMG) / tier_name
    _, dw, dh = tiles.image_grid(surface)
    if max(dw, dh) <= tiles.MAX_IMAGE_PX:
        bounds = tiles.write_image(out_dir / image, surface, classes, BAND_COLORS, shift)
        shutil.rmtree(out_dir / folder, ignore_errors=True)
        return {"url": image.as_posix(), "bounds": bounds}
    layer = tiles.write_tiles(out_dir / folder, surface, classes, BAND_COLORS, shift)
    (out_dir / image).unlink(missing_ok=True)
    log.info("%s: %d map tiles, zoom %d-%d", tier_name, len(layer["have"]), layer["minZoom"], layer["maxZoom"])
    return {"tiles": folder.as_posix() + "/{z}/{x}/{y}.png", **layer}


INLINE_IMAGE_PX = 1536  # a notebook map's travel-time image: at most this many pixels a side


def inline_surface(surface: Surface, threshold: float, shift: bool = False) -> dict:
    """The surface as one PNG data URL (for a notebook map), sampled to at most :data:`INLINE_IMAGE_PX`."""
    classes = surface.classes(band_edges(threshold))
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "surface.png"
        bounds = tiles.write_image(png, surface, classes, BAND_COLORS, shift, max_px=INLINE_IMAGE_PX)
        url = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
    return {"url": url, "bounds": bounds}


def _geographic(surface: Surface) -> Surface:
    """The surface on a lon/lat grid of about its own resolution (least minutes where cells meet)."""
    if surface.geographic:
        return surface
    h, w = surface.shape
    left, bottom, right, top = array_bounds(h, w, surface.transform)
    gt, gw, gh = calculate_default_transform(surface.crs, "EPSG:4326", w, h, left, bottom, right, top)
    x, y = surface.transform * (surface.col + 0.5, surface.row + 0.5)
    lon, lat = pyproj.Transformer.from_crs(surface.crs, "EPSG:4326", always_xy=True).transform(x, y)
    col, row = ~gt * (lon, lat)
    col, row = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    ok = (row >= 0) & (row < gh) & (col >= 0) & (col < gw)
    key = row[ok] * gw + col[ok]
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    minutes = np.fmin.reduceat(surface.minutes[ok][order], starts) if starts.size else surface.minutes[:0]
    return Surface(key[starts], minutes, (gh, gw), gt, "EPSG:4326")


def catchment_bands(
    surface: Surface, minutes: Sequence[float], reach_m: float = 1500.0, max_pixels: int = BANDS_MAX_PIXELS
) -> list[tuple[float, object]]:
    """Polygons (WGS84) of the area within each number of minutes, derived from the travel-time surface.

    The surface holds minutes only where people live. So that a band reads as an area rather than a
    scatter of villages, each empty cell takes the minutes of the nearest populated cell within
    ``reach_m`` metres; specks under about half a square kilometre are dropped and outlines are simplified.
    The work is done on a lon/lat grid of at most about ``max_pixels`` pixels (coarsened from the cells
    where the raster is larger, each pixel taking its cells' least minutes), so it costs the same for any
    raster extent; outlines are simplified to 300 m or two pixels anyway.
    """
    grid, transform = _geographic(surface).coarsened(max_pixels)
    cell = abs(transform.a)
    lat0 = transform.f + transform.e * grid.shape[0] / 2
    cell_m = cell * 111_320.0 * max(math.cos(math.radians(lat0)), 0.1)
    empty = np.isnan(grid)
    if empty.all():
        return []
    dist, (ii, jj) = ndimage.distance_transform_edt(empty, return_indices=True)
    filled = np.where(dist * cell_m <= reach_m, grid[ii, jj], np.nan)
    min_cells = max(6, int(0.5e6 / cell_m**2))
    finite = ~np.isnan(filled)
    out = []
    for b in minutes:
        mask = finite & (np.where(finite, filled, np.inf) <= b)
        if not mask.any():
            continue
        mask = ndimage.binary_fill_holes(mask)
        lab, n = ndimage.label(mask)
        if n:
            sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
            mask = np.isin(lab, 1 + np.flatnonzero(sizes >= min_cells))
        polys = [shape(g) for g, v in rasterio.features.shapes(mask.astype(np.uint8), mask=mask, transform=transform)]
        if not polys:
            continue
        # the regions of a mask meet at corners at most, so together they already are a valid multipolygon
        geom = shapely.MultiPolygon(polys).simplify(max(2 * SIMPLIFY_DEG, 2 * cell), preserve_topology=True)
        out.append((float(b), shapely.set_precision(geom, 1e-5)))
    return out


def tier_bands(surface: Surface, threshold: float, bands_min: Sequence[float]) -> list[tuple[float, object]]:
    """A tier's catchment bands: the study's band minutes between a quarter and twice the threshold, and it.

    Bands far from the threshold only trace where people live; those kept tell this tier something.
    """
    band_minutes = sorted({float(m) for m in bands_min if threshold / 4 <= m <= 2 * threshold} | {float(threshold)})
    return catchment_bands(surface, band_minutes)


# -- formatting of county-table values -------------------------------------------------------------
def fmt_value(col: str, v, lang: str = "en") -> str:
    """A county-table value for people: shares as %, minutes with one decimal, counts with separators."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else "✗"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isinf(v):
            return i18n.t("unreachable", lang)
        if "share" in col or "coverage" in col:
            return f"{v:.1%}" if -0.0001 <= v <= 1.0001 else f"{v:,.3g}"
        if col.endswith("_min") or "minutes" in col:
            return f"{v:,.1f}"
        if "people" in col or col in ("population", "beds") or col.endswith(("_beyond", "_unreachable")):
            return f"{v:,.0f}"
        if "per_1000" in col:
            return f"{v:,.2f}"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return e(v)


# -- pages -------------------------------------------------------------------------------------------
@dataclass
class MapContext:
    """What every page of a bundle shares: language, basemap, navigation, the synthetic-data label."""

    lang: str = "en"
    title: str = ""
    note: str = ""
    basemap: str = "none"
    basemap_attribution: str = ""
    shift: bool = False  # draw overlays in GCJ-02 (for Chinese tile providers)
    bands_min: tuple[float, ...] = (15.0, 30.0, 60.0, 120.0)
    nav: list[tuple[str, str]] = field(default_factory=list)  # (label, href), labels unescaped
    measures: object = None  # the study's Measures: zone rules in force and targets, for explanations
    lib: str = LIB  # the shipped Leaflet and plugin files, relative to the pages (a period's bundle uses its parent's)
    # the bundles of one study at other speeds (time-of-day periods): (label, path from this bundle's folder to that
    # bundle's, this bundle's own?); every map page links the same page in each
    periods: list[tuple[str, str, bool]] = field(default_factory=list)

    def basemap_layer(self) -> dict | None:
        if self.basemap in ("", "none"):
            return None
        if self.basemap == "osm":
            return {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "© OpenStreetMap contributors",
            }
        return {"url": self.basemap, "attribution": self.basemap_attribution}


def synthetic_html(ctx: MapContext) -> str:
    """The synthetic-data label: a bold word in the page's language, then the study's note."""
    return f"<b>⚠ {e(i18n.t('synthetic_label', ctx.lang))}</b> · {e(ctx.note)}"


def header_html(ctx: MapContext, page_title: str, current: str = "") -> str:
    """The page's header, as escaped HTML: navigation (``current`` marked), title and the synthetic label."""
    nav = "".join(f'<a href="{e(href)}"{CURRENT if href == current else ""}>{e(label)}</a>' for label, href in ctx.nav)
    note = f'<div class="ga-synthetic" role="note">{synthetic_html(ctx)}</div>' if ctx.note else ""
    nav = f'<nav class="ga-nav">{nav}</nav>' if nav else ""
    return f'<header class="ga-head">{nav}<h1>{e(page_title)}</h1>{note}</header>'


def page_map(data: dict, ctx: MapContext, page_title: str, *, current: str = "", inline: bool = False) -> folium.Map:
    """One page's folium map: the plugin fed ``data``, the header above; with ``inline`` for a notebook.

    In a bundle the facilities come from the shared ``data/facilities.js``; inline, ``data["facilities"]``
    may carry them as ``_inline`` (what that file holds), and they go into the page.
    """
    from geoaccess.outputs.plugin import folium_map  # folium is imported when a map is built

    data = dict(data, lang=ctx.lang, basemap=ctx.basemap_layer())
    fac = data.get("facilities") or {}
    scripts = []
    if fac.get("src"):
        shared = fac.pop("_inline", None) if inline else None
        data["facilities"] = {k: v for k, v in fac.items() if k != "_inline"}
        text = f"window.geoaccessFacilities={json_for_script(shared)};" if shared is not None else ""
        scripts.append((fac["src"], text))
    catch = data.get("catchments")
    if catch:  # a bundle page loads them when the layer is first shown; a notebook map carries them
        text = catch.get("_inline")
        data["catchments"] = {k: v for k, v in catch.items() if k != "_inline"}
        if inline and text:
            scripts.append((catch["src"], text))
    if inline:  # a notebook: no bundle to navigate
        ctx = MapContext(**{**ctx.__dict__, "nav": [], "periods": []})
    elif ctx.periods and current:
        data["periods"] = period_links(ctx, current)
    return folium_map(
        data, lang=ctx.lang, title=page_title, header=header_html(ctx, page_title, current), inline=inline,
        scripts=tuple(scripts), lib=ctx.lib,
    )  # fmt: skip


def period_links(ctx: MapContext, page: str) -> dict:
    """The period switch of a page: the same page in each period's bundle (``ctx.periods``), this one marked."""
    return {
        "title": i18n.t("period_switch", ctx.lang),
        "links": [{"label": label, "href": f"{root}{page}", "current": bool(own)} for label, root, own in ctx.periods],
    }


def write_map_page(path: str | Path, data: dict, ctx: MapContext, page_title: str) -> Path:
    """Write one map page of the bundle (a folium map, saved by folium) and the ``lib/`` it loads.

    A page whose ``ctx.lib`` is another bundle's (a period's bundle inside the study's) copies nothing.
    """
    path = Path(path)
    if ctx.lib == LIB:
        install_lib(path.parent)
    m = page_map(data, ctx, page_title, current=path.name)
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return path


def _geojson(gdf, props: list[dict], shift: bool) -> dict:
    geoms = gdf.geometry.simplify(SIMPLIFY_DEG, preserve_topology=True)
    if shift:
        geoms = geoms.apply(shift_geometry)
    geoms = shapely.set_precision(np.asarray(geoms.values, dtype=object), 1e-5)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": mapping(g)} for g, p in zip(geoms, props, strict=True)
        ],
    }


def _bounds(counties, shift: bool) -> list:
    w, s, east, n = counties.total_bounds
    if shift:
        (w, east), (s, n) = wgs84_to_gcj02([w, east], [s, n])
    return [[float(s), float(w)], [float(n), float(east)]]


def _facility_points(facilities, shift: bool):
    lon = facilities.geometry.x.to_numpy()
    lat = facilities.geometry.y.to_numpy()
    if shift:
        lon, lat = wgs84_to_gcj02(lon, lat)
    return np.round(lon, 6), np.round(lat, 6)


def tier_legend(tiers, lang: str, ranks: Sequence[int]) -> list[dict]:
    return [
        {"rank": int(r), "label": i18n.tier_label(tiers[r].name, lang, tiers[r].label), **_style(r)}
        for r in sorted(set(int(x) for x in ranks))
    ]


def _style(rank: int) -> dict:
    return TIER_STYLE[min(int(rank), len(TIER_STYLE) - 1)]


_STANDARD_TIER_STATS = {"mean_min", "median_min", "p90_min", "share_within", "people_beyond", "unreachable", "status"}
_NOT_EXTRA = {"county_code", "county_name", "population", "tiers_failed", "zone", "zone_zh", "reasons"}


def extra_columns(table: pd.DataFrame, tier_names: Sequence[str], tier: str | None = None) -> list[str]:
    """Numeric county-table columns beyond the standard ones (e.g. beds per 1000 that scoring may add).

    With ``tier``, that tier's own extra columns (``<tier>_...``) come too.
    """
    out = []
    for col in table.columns:
        if col in _NOT_EXTRA or not pd.api.types.is_numeric_dtype(table[col]):
            continue
        owner = next((t for t in tier_names if col.startswith(t + "_")), None)
        if owner is None or (owner == tier and col[len(owner) + 1 :] not in _STANDARD_TIER_STATS):
            out.append(col)
    return out


def write_facilities(out_dir: str | Path, *, tiers, facilities, referral_minutes: np.ndarray | None, ctx) -> Path:
    """Write the bundle's facilities file, which every map page loads: one copy, however many pages.

    It is a script (``window.geoaccessFacilities = ...``) so pages opened from disk can load it; browsers
    refuse ``file://`` pages a JSON fetch. What it holds: :func:`facilities_data`.
    """
    data = facilities_data(tiers=tiers, facilities=facilities, referral_minutes=referral_minutes, ctx=ctx)
    path = Path(out_dir) / FACILITIES_JS
    return write_text(path, f"window.geoaccessFacilities={json_for_script(data)};\n")


def facilities_data(*, tiers, facilities, referral_minutes: np.ndarray | None, ctx) -> dict:
    """The facilities every map page shows, as columns.

    Per facility: place (GCJ-02 with ``ctx.shift``), tier rank, and the name, tier, beds, id and referral
    minutes to the next tier up, as text.
    """
    lang = ctx.lang
    lon, lat = _facility_points(facilities, ctx.shift)
    ranks = facilities["tier_rank"].to_numpy()
    tier_text = {}
    for t, r in zip(facilities["tier"].astype(str), ranks, strict=True):
        if (t, r) not in tier_text:
            tier_text[(t, r)] = i18n.tier_label(t, lang, tiers[r].label if r < len(tiers) else "")
    ref = np.full(len(ranks), np.nan) if referral_minutes is None else np.asarray(referral_minutes, float)
    data = {
        "lat": lat.tolist(),
        "lon": lon.tolist(),
        "rank": ranks.tolist(),
        "name": [str(n) for n in facilities["name"]],
        "tier": [tier_text[(t, r)] for t, r in zip(facilities["tier"].astype(str), ranks, strict=True)],
        "beds": [fmt_value("beds", b, lang) for b in facilities["beds"]],
        "referral": [
            fmt_value("referral_min", float(m), lang) if r + 1 < len(tiers) else ""
            for m, r in zip(ref, ranks, strict=True)
        ],
        "id": [str(i) for i in facilities["id"]],
    }
    return data


def encode_polygons(geoms, step: float = CATCHMENT_STEP_DEG) -> list:
    """Polygons as compact JSON: per geometry, its polygons; per polygon, its rings (the shell first); per ring,
    ``[x0, y0, dx1, dy1, ...]`` in whole ``step`` degrees, each vertex as the step from the previous one.

    Rings are open (the first vertex is not repeated); vertices that fall on the same step as the previous one are
    dropped, and rings left with fewer than three vertices. ``map.js``'s ``decodeRing`` reads it back.
    """
    out = []
    for g in geoms:
        polys = []
        for poly in getattr(g, "geoms", [g]) if g is not None and not g.is_empty else []:
            rings = []
            for ring in (poly.exterior, *poly.interiors):
                xy = np.round(shapely.get_coordinates(ring)[:-1] / step).astype(np.int64)
                if len(xy) > 1:
                    xy = xy[np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]]
                if len(xy) >= 3:
                    rings.append(np.diff(xy, axis=0, prepend=np.zeros((1, 2), np.int64)).ravel().tolist())
            if rings:
                polys.append(rings)
        out.append(polys)
    return out


def catchments_data(areas, facilities, ctx: MapContext) -> dict:
    """What a tier's catchment file holds: per catchment, its facility (row position in the facilities file),
    the people it is nearest for and its area as text, and its polygons (:func:`encode_polygons`).

    ``areas`` has ``catchment_facility``, ``catchment_geometry``, ``catchment_people`` and ``catchment_km2``
    (a :class:`geoaccess.areas.TierAreas`).
    """
    geoms = np.asarray(areas.catchment_geometry, dtype=object)
    if ctx.shift:
        geoms = np.array([shift_geometry(g) for g in geoms], dtype=object)
    return {
        "step": CATCHMENT_STEP_DEG,
        "facility": [int(i) for i in areas.catchment_facility],
        "people": [fmt_value("people", float(v), ctx.lang) for v in areas.catchment_people],
        "area": [f"{float(v):,.1f}" for v in areas.catchment_km2],
        "geometry": encode_polygons(geoms),
    }


def catchments_layer(out_dir: str | Path | None, tier_name: str, areas, facilities, ctx: MapContext) -> dict:
    """A tier page's ``catchments`` entry; its polygons in ``data/catchments_<tier>.js`` (written here).

    The page does not load that file until the layer is first switched on (it is off by default): a province's
    primary tier has some 19,000 catchments. With ``out_dir`` None (a notebook map) the file's text travels with
    the entry as ``_inline``.
    """
    lang = ctx.lang
    src = CATCHMENTS_JS.format(tier=tier_name)
    text = (
        "window.geoaccessCatchments=window.geoaccessCatchments||{};"
        f"window.geoaccessCatchments[{json_for_script(tier_name)}]={json_for_script(catchments_data(areas, facilities, ctx))};\n"
    )
    entry = {
        "name": i18n.t("catchments", lang),
        "src": src,
        "key": tier_name,
        "count": int(len(areas.catchment_facility)),
        "rows": {
            "of": i18n.t("catchment_of", lang),
            "tier": i18n.t("tier", lang),
            "people": i18n.t("nearest_for", lang),
            "area": f"{i18n.t('area', lang)} ({i18n.t('km2', lang)})",
        },
        "hint": i18n.t("zoom_for_catchments", lang),
    }
    if out_dir is None:
        entry["_inline"] = text
    else:
        write_text(Path(out_dir) / src, text)
    return entry


def _selection(ranks: np.ndarray, shown: np.ndarray) -> dict:
    """Which facilities a page shows, by tier rank (what serves a tier is decided by rank alone)."""
    keep = sorted({int(r) for r in ranks[shown]})
    if not np.array_equal(np.isin(ranks, keep), shown):
        raise ValueError("a map shows facilities by tier rank: every facility of a shown rank, or none")
    return {"ranks": keep, "src": FACILITIES_JS}


def _facility_rows(tiers, lang: str, thr: float) -> dict:
    """Row labels of a facility popup; ``referral`` per rank (empty for the top tier)."""
    referral = []
    for rank in range(len(tiers)):
        if rank + 1 < len(tiers):
            nxt = i18n.tier_label(tiers[rank + 1].name, lang, tiers[rank + 1].label)
            referral.append(i18n.t("referral", lang, tier=nxt))
        else:
            referral.append("")
    return {
        "tier": i18n.t("tier", lang),
        "beds": i18n.t("beds", lang),
        "nearest": i18n.t("nearest_for", lang),
        "reach": i18n.t("reach", lang, t=f"{thr:g}"),
        "referral": referral,
        "id": "id",
    }


TIER_ARGS = """
    tier_index, tiers
        The tier shown (its position in ``tiers``) and the study's tiers.
    counties, table
        County polygons (WGS84) and the county table.
    facilities, serving
        All facilities, and which of them serve this tier (by tier rank).
    nearest_people, reach_people
        Per facility: the people it is nearest for, and those it reaches within the threshold.
    surface
        The tier's travel-time surface.
    ctx
        The bundle's :class:`MapContext`.
    bands
        The tier's catchment bands as ``(minutes, geometry)`` pairs (WGS84); by default
        :func:`tier_bands` of the surface.
    catchments
        The tier's per-facility catchment polygons (a :class:`geoaccess.areas.TierAreas`), drawn as a layer that is
        off until switched on; none by default.
    more_surfaces
        Further travel-time surfaces of the tier as ``(label, surface)`` pairs (e.g. walking only beside
        motorised), drawn in the tier's classes; the page shows one surface at a time and switches between them.
    surface_label
        The label of ``surface`` when there are more (default: motorised)."""


def tier_map(
    path: str | Path,
    *,
    tier_index: int,
    tiers,
    counties,
    table: pd.DataFrame,
    facilities,
    serving: np.ndarray,
    nearest_people: np.ndarray,
    reach_people: np.ndarray,
    surface: Surface,
    ctx: MapContext,
    bands: list[tuple[float, object]] | None = None,
    catchments=None,
    more_surfaces: Sequence[tuple[str, Surface]] = (),
    surface_label: str | None = None,
) -> Path:
    """Write one tier's map: travel-time surface, catchment bands, counties by status, facilities.

    The facilities' places, names and shared popup values come from the bundle's facilities file
    (:func:`write_facilities`, written first); the page carries only which of them serve the tier and,
    per serving facility, the people it is nearest for and reaches within the threshold.

    Parameters
    ----------
    path
        The page to write (its folder is the bundle's).
    """
    path = Path(path)
    tier = tiers[tier_index]
    layers = [surface_layer(path.parent, tier.name, surface, tier.threshold_min, ctx.shift)]
    layers += [
        surface_layer(path.parent, f"{tier.name}__{k + 2}", s, tier.threshold_min, ctx.shift)
        for k, (_, s) in enumerate(more_surfaces)
    ]
    data, title = _tier_page(
        tier_index=tier_index, tiers=tiers, counties=counties, table=table, facilities=facilities, serving=serving,
        nearest_people=nearest_people, reach_people=reach_people, surface=surface, ctx=ctx, bands=bands,
        layers=_labelled(layers, more_surfaces, surface_label, ctx.lang),
    )  # fmt: skip
    if catchments is not None and len(catchments.catchment_facility):
        data["catchments"] = catchments_layer(path.parent, tier.name, catchments, facilities, ctx)
    return write_map_page(path, data, ctx, title)


def _labelled(layers: list[dict], more_surfaces, surface_label: str | None, lang: str) -> list[tuple[str, dict]]:
    """Each surface layer with its label (none when there is only one)."""
    if len(layers) == 1:
        return [("", layers[0])]
    labels = [surface_label or i18n.t("surface_main", lang)] + [str(label) for label, _ in more_surfaces]
    return list(zip(labels, layers, strict=True))


def tier_folium(
    *,
    tier_index: int,
    tiers,
    counties,
    table: pd.DataFrame,
    facilities,
    serving: np.ndarray,
    nearest_people: np.ndarray,
    reach_people: np.ndarray,
    surface: Surface,
    ctx: MapContext,
    bands: list[tuple[float, object]] | None = None,
    referral_minutes: np.ndarray | None = None,
    catchments=None,
    more_surfaces: Sequence[tuple[str, Surface]] = (),
    surface_label: str | None = None,
) -> folium.Map:
    """One tier's map as a :class:`folium.Map` for a notebook: the page :func:`tier_map` writes, all inline.

    Leaflet, the plugin, the facilities and the travel-time image (one PNG of at most
    :data:`INLINE_IMAGE_PX` pixels a side, as a data URL) are inside the map's HTML, so it renders in
    Jupyter with no files beside it. ``referral_minutes`` fill the facilities' referral row.
    """
    tier = tiers[tier_index]
    layers = [inline_surface(s, tier.threshold_min, ctx.shift) for s in (surface, *(s for _, s in more_surfaces))]
    data, title = _tier_page(
        tier_index=tier_index, tiers=tiers, counties=counties, table=table, facilities=facilities, serving=serving,
        nearest_people=nearest_people, reach_people=reach_people, surface=surface, ctx=ctx, bands=bands,
        layers=_labelled(layers, more_surfaces, surface_label, ctx.lang),
    )  # fmt: skip
    data["facilities"]["_inline"] = facilities_data(
        tiers=tiers, facilities=facilities, referral_minutes=referral_minutes, ctx=ctx
    )
    if catchments is not None and len(catchments.catchment_facility):
        data["catchments"] = catchments_layer(None, tier.name, catchments, facilities, ctx)
    return page_map(data, ctx, title, inline=True)


tier_map.__doc__ += TIER_ARGS
tier_folium.__doc__ += "\n\n    Parameters\n    ----------" + TIER_ARGS


def _tier_page(
    *,
    tier_index: int,
    tiers,
    counties,
    table: pd.DataFrame,
    facilities,
    serving: np.ndarray,
    nearest_people: np.ndarray,
    reach_people: np.ndarray,
    surface: Surface,
    ctx: MapContext,
    bands: list[tuple[float, object]] | None,
    layers: list[tuple[str, dict]],
) -> tuple[dict, str]:
    """A tier page's data and title (``layers``: each surface's label and entry from :func:`surface_layer`)."""
    lang = ctx.lang
    tier = tiers[tier_index]
    tl = i18n.tier_label(tier.name, lang, tier.label)
    thr = tier.threshold_min
    names = [t.name for t in tiers]

    if bands is None:
        bands = tier_bands(surface, thr, ctx.bands_min)
    band_feats = []
    for k, (m, geom) in enumerate(bands):
        g = shift_geometry(geom) if ctx.shift else geom
        main = m == thr
        label = i18n.t("band", lang, t=f"{m:g}") + (f" ({i18n.t('threshold', lang)})" if main else "")
        band_feats.append(
            {
                "type": "Feature",
                "properties": {
                    "label": label,
                    "color": BAND_LINE_COLORS[min(k, len(BAND_LINE_COLORS) - 1)],
                    "main": main,
                },
                "geometry": mapping(g),
            }
        )

    t = table.set_index("county_code")
    extras = extra_columns(table, names, tier.name)
    props = []
    for code, cname in zip(counties["county_code"], counties["county_name"], strict=True):
        row = t.loc[code]
        status = str(row[f"{tier.name}_status"])
        rows = [
            [i18n.t("status", lang), i18n.TEXT.get(status, {}).get(lang, status)],
            [i18n.t("within", lang, t=f"{thr:g}"), fmt_value("share", row[f"{tier.name}_share_within"], lang)],
            [i18n.t("target", lang, s="").strip(), f"{tier.target_share:.0%}"],
            [
                i18n.t("median", lang),
                fmt_value("_min", row[f"{tier.name}_median_min"], lang) + " " + i18n.t("min", lang),
            ],
            [
                i18n.t("p90", lang),
                fmt_value("_min", row[f"{tier.name}_p90_min"], lang) + " " + i18n.t("min", lang),
            ],
            [i18n.t("beyond", lang, t=f"{thr:g}"), fmt_value("people", row[f"{tier.name}_people_beyond"], lang)],
            [i18n.t("population", lang), fmt_value("population", row["population"], lang)],
        ]
        rows += [
            [i18n.column_label(c, lang, names, _tier_labels(tiers, lang)), fmt_value(c, row[c], lang)] for c in extras
        ]
        if "zone" in row:
            rows.append([i18n.t("zone", lang), i18n.zone_label(row["zone"], lang)])
            rows.append([i18n.t("reasons", lang), reason_line(row, tiers, ctx.measures, lang)])
        # the tooltip stays short enough to fit any map; the rest is in the popup a click opens
        share = fmt_value("share", row[f"{tier.name}_share_within"], lang)
        target = i18n.t("target", lang, s=f"{tier.target_share:.0%}")
        tip = [
            rows[0],
            [
                i18n.t("within", lang, t=f"{thr:g}"),
                f"{share} ({target})" if lang == "en" else f"{share}（{target}）",
            ],
            rows[3],
        ]
        props.append(
            {
                "name": str(cname),
                "code": str(code),
                "color": STATUS_COLOR.get(status, "#666"),
                "status": str(status),
                "tip": tip,
                "rows": rows,
            }
        )

    ranks = facilities["tier_rank"].to_numpy()
    sel = np.flatnonzero(serving)
    fac_data = {
        "name": i18n.t("facilities_serving", lang, tier=tl),
        "show": True,
        **_selection(ranks, serving),
        "rows": _facility_rows(tiers, lang, thr),
        "nearest": [fmt_value("people", float(v), lang) for v in nearest_people[sel]],
        "reach": [fmt_value("people", float(v), lang) for v in reach_people[sel]],
    }
    data = {
        "kind": "tier",
        "bounds": _bounds(counties, ctx.shift),
        "surface": None,  # below: the first surface; with more than one, ``surfaces`` lists them all
        "bands": {"name": i18n.t("bands", lang), "geojson": {"type": "FeatureCollection", "features": band_feats}},
        "counties": {
            "name": i18n.t("counties_status", lang, tier=tl),
            "geojson": _geojson(counties, props, ctx.shift),
            "fill": 0.06,
        },
        "facilities": fac_data,
        "legend": {
            "title": i18n.t("minutes_to", lang, tier=tl),
            "classes": surface_classes(thr, lang),
            "threshold": f"{i18n.t('threshold', lang)}: {thr:g} {i18n.t('min', lang)}, {i18n.t('target', lang, s=f'{tier.target_share:.0%}')}",
            "tiers": tier_legend(tiers, lang, ranks[sel]),
            "tiers_title": i18n.t("legend_symbols", lang),
            "areas_title": i18n.t("counties_status", lang, tier=tl),
            "areas": [
                {"color": c, "label": i18n.TEXT[k][lang]}
                for k, c in STATUS_COLOR.items()
                if k in set(table[f"{tier.name}_status"])
            ],
            "bands_title": i18n.t("bands", lang),
            "bands": [
                {"color": f["properties"]["color"], "label": f["properties"]["label"], "main": f["properties"]["main"]}
                for f in band_feats
            ],
        },
        "text": _ui_text(lang),
    }
    name = i18n.t("travel_time", lang, tier=tl)
    surfaces = [dict(layer, name=f"{name} · {label}" if label else name) for label, layer in layers]
    data["surface"] = surfaces[0]
    if len(surfaces) > 1:
        data["surfaces"] = surfaces
    return data, f"{ctx.title} · {tl}"


def overview_map(
    path: str | Path, *, tiers, counties, table: pd.DataFrame, facilities, ctx: MapContext, tier_maps: dict[str, str]
) -> Path:
    """Write the overview: counties coloured by resource zone; a click shows why (each tier's figures).

    ``tier_maps`` are the tier pages' file names, linked from each county's explanation.
    """
    data, title = _overview_page(
        tiers=tiers, counties=counties, table=table, facilities=facilities, ctx=ctx, tier_maps=tier_maps
    )
    return write_map_page(path, data, ctx, title)


def overview_folium(
    *, tiers, counties, table: pd.DataFrame, facilities, ctx: MapContext, referral_minutes=None
) -> folium.Map:
    """The overview as a :class:`folium.Map` for a notebook, everything inline (see :func:`tier_folium`)."""
    data, title = _overview_page(
        tiers=tiers, counties=counties, table=table, facilities=facilities, ctx=ctx, tier_maps={}
    )
    data["facilities"]["_inline"] = facilities_data(
        tiers=tiers, facilities=facilities, referral_minutes=referral_minutes, ctx=ctx
    )
    return page_map(data, ctx, title, inline=True)


def _overview_page(*, tiers, counties, table: pd.DataFrame, facilities, ctx: MapContext, tier_maps) -> tuple[dict, str]:
    lang = ctx.lang
    names = [t.name for t in tiers]
    tls = _tier_labels(tiers, lang)
    t = table.set_index("county_code")
    props = []
    for code, cname in zip(counties["county_code"], counties["county_name"], strict=True):
        row = t.loc[code]
        zone = str(row.get("zone", ""))
        ex = explain_county(row, tiers, ctx.measures, lang)
        why = []
        for tr in tiers:
            st = str(row[f"{tr.name}_status"])
            why.append(
                {
                    "tier": str(tls[tr.name]),
                    "href": str(tier_maps.get(tr.name, "")),
                    "ok": st == "pass",
                    "status": i18n.TEXT.get(st, {}).get(lang, st),
                    "text": f"{fmt_value('share', row[f'{tr.name}_share_within'], lang)} "
                    f"{i18n.t('within', lang, t=f'{tr.threshold_min:g}')} · "
                    f"{i18n.t('target', lang, s=f'{tr.target_share:.0%}')}",
                }
            )
        extras = extra_columns(table, names)
        rows = [[i18n.t("population", lang), fmt_value("population", row["population"], lang)]]
        rows += [[i18n.column_label(c, lang, names, tls), fmt_value(c, row[c], lang)] for c in extras]
        props.append(
            {
                "name": str(cname),
                "code": str(code),
                "color": ZONE_COLOR.get(zone, "#666"),
                "color2": FAILED_COLORS[min(int(row.get("tiers_failed", 0)), 2)],
                "zone": i18n.zone_label(zone, lang),
                "because": i18n.t("because_rest" if ex["rest"] else "because", lang),
                "decisive": [str(x) for x in ex["decisive"]],
                "ok": zone != "priority" and not ex["rest"],
                "rule": f"{i18n.t('rule', lang)}{ex['rule']}",
                "why": why,
                "rows": rows,
            }
        )
    ranks = facilities["tier_rank"].to_numpy()
    shown = ranks >= min(1, len(tiers) - 1)  # hospitals; primary points would hide the zones
    rows = {k: v for k, v in _facility_rows(tiers, lang, 0.0).items() if k in ("tier", "beds", "id")}
    fac_data = {"name": i18n.t("facilities", lang), "show": True, **_selection(ranks, shown), "rows": rows}
    # every zone, with how many counties it holds, so the scheme reads the same in every study
    zone_counts = table["zone"].value_counts() if "zone" in table.columns else pd.Series(dtype=int)
    legend = zone_legend(tiers, ctx.measures, lang)
    data = {
        "kind": "overview",
        "bounds": _bounds(counties, ctx.shift),
        "counties": {
            "name": i18n.t("counties_zone", lang),
            "geojson": _geojson(counties, props, ctx.shift),
            "fill": 0.55,
            "alt": {"name": i18n.t("counties_failed", lang)},
        },
        "facilities": fac_data,
        "legend": {
            "title": i18n.t("zones_h", lang),
            "hint": i18n.t("click_why", lang),
            "areas": [
                {
                    "color": ZONE_COLOR[z],
                    "label": f"{i18n.zone_label(z, lang)} ({int(zone_counts.get(z, 0))})",
                    "note": legend.get(z, ""),
                }
                for z in ZONE_COLOR
                if z in legend or zone_counts.get(z, 0)
            ],
            "alt_title": i18n.t("counties_failed", lang),
            "alt": [
                {"color": c, "label": i18n.t("n_failed", lang, n=n)}
                for n, c in zip(("0", "1", "≥ 2"), FAILED_COLORS, strict=True)
            ],
            "tiers": tier_legend(tiers, lang, ranks[shown]),
            "tiers_title": i18n.t("legend_symbols", lang),
        },
        "text": _ui_text(lang),
    }
    return data, f"{ctx.title} · {i18n.t('overview', lang)}"


def _tier_labels(tiers, lang: str) -> dict[str, str]:
    return {t.name: i18n.tier_label(t.name, lang, t.label) for t in tiers}


def _ui_text(lang: str) -> dict[str, str]:
    keys = (
        "search",
        "no_match",
        "fullscreen",
        "zone",
        "reasons",
        "why",
        "open_map",
        "basemap_none",
        "names",
        "details",
        "zoom_for_bands",
    )
    return {k: i18n.t(k, lang) for k in keys}
