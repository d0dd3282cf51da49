"""The served page: the bundle's own folium map and plugin (:mod:`geoaccess.outputs.plugin`) with the study's
overview and tier maps as switchable layers, and a side panel for the headline figures, the edits and the county
table.

The map is built exactly as the bundle's pages are (``Result.map``: the overview by zone with explanations, each
tier's travel-time surface, catchment bands, counties by status, facility symbols per tier, popups that explain);
Leaflet, the plugin and the page's own files are served by this server, nothing from a CDN. The editing behaviour
lives in the page's own files, ``static/serve.js`` and ``static/serve.css``, on top of the plugin: edit buttons in
the facilities' popups, dragging a facility to move it, the road tools, the change layer and the panel. Every text
from the study or the planner is inserted as text (``textContent``), never as HTML.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import folium

from geoaccess.outputs import i18n
from geoaccess.outputs._html import json_for_script
from geoaccess.outputs.compare import DELTA_COLORS
from geoaccess.outputs.maps import FACILITIES_JS, STATUS_COLOR, TIER_STYLE, ZONE_COLOR, e
from geoaccess.serve.session import Session

TEXT = {
    "en": {
        "headline": "Headline",
        "edits": "Edits",
        "undo_last": "Undo last",
        "clear": "Clear all",
        "counties": "Counties",
        "add_here": "Add a facility here",
        "tier": "Tier",
        "beds": "Beds",
        "name": "Name",
        "add": "Add",
        "cancel": "Cancel",
        "save": "Save scenario",
        "save_name": "Scenario name",
        "bundle": "also write the compare bundle",
        "hint": "Click the map to add a facility; click a facility to close, upgrade, downgrade or move it, or add a campus; drag a hospital to move it.",
        "beyond": "people beyond {tier} threshold",
        "failing": "counties failing a target",
        "zone": "zone",
        "county": "county",
        "share": "{tier} within",
        "remove": "Close",
        "upgrade_to": "Upgrade to {tier}",
        "downgrade_to": "Downgrade to {tier}",
        "undo": "Undo",
        "remove_new": "Remove this new site",
        "move": "Move…",
        "campus": "Add a campus…",
        "pick_move": "Click the map where “{name}” moves to.",
        "pick_campus": "Click the map where the new campus of “{name}” stands.",
        "w_move": "move “{name}” to {lon}, {lat}",
        "w_beds": "{name}: {beds} beds",
        "w_road_speed": "roads through {n} points at {kmh} km/h",
        "w_road_add": "new road {from} → {to} at {kmh} km/h",
        "load": "Load",
        "saved_list": "Saved scenarios",
        "w_campus": "new campus of “{name}” ({beds} beds) at {lon}, {lat}",
        "w_add": "add {tier} “{name}” ({beds} beds) at {lon}, {lat}",
        "w_remove": "close “{name}” ({id})",
        "w_upgrade": "upgrade “{name}” to {tier}",
        "w_downgrade": "downgrade “{name}” to {tier}",
        "working": "computing…",
        "done": "updated in {ms} ms (server {server} ms)",
        "rejected": "the edits cannot be applied:",
        "saved": "saved to {folder}: {files}",
        "new_site": "new {tier} site {n}",
        "beds_n": "{beds} beds",
        "mode": "Click on the map to",
        "mode_browse": "read (popups explain)",
        "mode_add": "add a facility",
        "mode_road": "draw a road",
        "mode_speed": "change a road's speed",
        "road_hint": "Click junctions one after another (each click snaps to the nearest junction), then finish.",
        "road_finish": "Finish the road",
        "road_points": "{n} points, {km} km",
        "road_far": "no junction within {m} m of this point",
        "speed_hint": "Click a road to change its speed.",
        "speed_now": "{cls} road, {km} km, today about {kmh} km/h",
        "speed_new": "New speed (km/h)",
        "apply": "Apply",
        "kmh": "Speed (km/h)",
        "w_link_speed": "{cls} road of {km} km at {kmh} km/h",
        "w_road_draw": "new road of {n} links, {km} km, at {kmh} km/h",
        "drag_hint": "Drag the handle (or click the map) to where “{name}” moves.",
        "pages": "Maps",
        "changes": "Change",
        "change_in": "{tier}: change in minutes",
        "faster": "faster",
        "slower": "slower",
        "edits_layer": "Edited sites and roads",
        "road_classes": {},
    },
    "zh": {
        "headline": "主要指标",
        "edits": "调整",
        "undo_last": "撤销上一步",
        "clear": "全部清除",
        "counties": "区县",
        "add_here": "在此新增医疗机构",
        "tier": "层级",
        "beds": "床位",
        "name": "名称",
        "add": "新增",
        "cancel": "取消",
        "save": "保存情景",
        "save_name": "情景名称",
        "bundle": "同时生成对比页面",
        "hint": "点击地图新增机构；点击机构可关闭、升级、降级、迁址或新增院区；拖动医院可迁址。",
        "beyond": "超出{tier}标准时间人口",
        "failing": "未达标区县",
        "zone": "资源分区",
        "county": "区县",
        "share": "{tier}达标比例",
        "remove": "关闭",
        "upgrade_to": "升级为{tier}",
        "downgrade_to": "降级为{tier}",
        "undo": "撤销",
        "remove_new": "删除此新增机构",
        "move": "迁址…",
        "campus": "新增院区…",
        "pick_move": "在地图上点击“{name}”的新址。",
        "pick_campus": "在地图上点击“{name}”新院区的位置。",
        "w_move": "将“{name}”迁至 {lon}, {lat}",
        "w_beds": "“{name}”床位改为 {beds}",
        "w_road_speed": "经过 {n} 个点的道路车速改为 {kmh} 公里/小时",
        "w_road_add": "新建道路 {from} → {to}，车速 {kmh} 公里/小时",
        "load": "载入",
        "saved_list": "已保存的情景",
        "w_campus": "“{name}”新院区（{beds} 床），位于 {lon}, {lat}",
        "w_add": "新增{tier}“{name}”（{beds} 床），位于 {lon}, {lat}",
        "w_remove": "关闭“{name}”（{id}）",
        "w_upgrade": "将“{name}”升级为{tier}",
        "w_downgrade": "将“{name}”降级为{tier}",
        "working": "计算中…",
        "done": "已更新，用时 {ms} 毫秒（服务器 {server} 毫秒）",
        "rejected": "无法应用这些调整：",
        "saved": "已保存到 {folder}：{files}",
        "new_site": "新增{tier} {n}",
        "beds_n": "{beds} 床",
        "mode": "在地图上点击以",
        "mode_browse": "查看（弹窗说明原因）",
        "mode_add": "新增机构",
        "mode_road": "画道路",
        "mode_speed": "修改道路车速",
        "road_hint": "依次点击路口（每次点击吸附到最近的路口），然后点“完成”。",
        "road_finish": "完成道路",
        "road_points": "{n} 个点，{km} 公里",
        "road_far": "此点 {m} 米内没有路口",
        "speed_hint": "点击一条道路以修改其车速。",
        "speed_now": "{cls}，{km} 公里，现状约 {kmh} 公里/小时",
        "speed_new": "新车速（公里/小时）",
        "apply": "应用",
        "kmh": "车速（公里/小时）",
        "w_link_speed": "{cls}（{km} 公里）车速改为 {kmh} 公里/小时",
        "w_road_draw": "新建道路 {n} 段，共 {km} 公里，车速 {kmh} 公里/小时",
        "drag_hint": "拖动标记（或点击地图）到“{name}”的新址。",
        "pages": "地图",
        "changes": "变化",
        "change_in": "{tier}：出行时间变化",
        "faster": "变快",
        "slower": "变慢",
        "edits_layer": "调整的机构与道路",
        # OSM road classes in words (Chinese administrative classes, 国道 etc., are shown as they are)
        "road_classes": {
            "motorway": "高速公路",
            "motorway_link": "高速公路匝道",
            "trunk": "干线公路",
            "trunk_link": "干线公路匝道",
            "primary": "主要公路",
            "primary_link": "主要公路匝道",
            "secondary": "次要公路",
            "secondary_link": "次要公路匝道",
            "tertiary": "县乡公路",
            "tertiary_link": "县乡公路匝道",
            "unclassified": "村道",
            "residential": "居住区道路",
            "living_street": "生活街道",
            "service": "服务道路",
            "track": "机耕道",
            "road": "道路",
        },
    },
}


@dataclass(frozen=True)
class ServedPage:
    """The page's HTML and the facilities script its map loads (``/data/facilities.js``, as in a bundle)."""

    html: str
    facilities_js: bytes


def bundle_pages(session: Session) -> tuple[list[dict], bytes]:
    """The bundle's map pages of the served baseline as the plugin's data: the overview, then one per tier.

    Made by ``Result.map`` (the notebook maps, the same data as the bundle's pages, travel-time images inline),
    so the served map is the bundle's. Returns the pages and the scripts they share (the facilities), as one.
    """
    from geoaccess.outputs.plugin import Geoaccess

    study = session.study
    result = session.baseline.result
    if result.areas is None:  # a baseline read from the cache has no service areas: the tier maps' bands need them
        result = dataclasses.replace(result, areas=study.areas(study.load(), result.tiers))
    pages, scripts = [], {}
    for name in ["overview", *(t["name"] for t in session.tiers)]:
        m = study.map(result, name)
        plugin = next(c for c in m._children.values() if isinstance(c, Geoaccess))
        pages.append(json.loads(plugin.json))
        # the scripts a notebook map carries inline (the facilities; any other data a page gains), each once
        scripts.update({src: text for src, text in plugin.scripts if src not in scripts})
    return pages, "\n".join(scripts.values()).encode("utf-8")


def build_page(session: Session, *, api: str = "") -> ServedPage:
    """The page: the bundle's folium map (overview and tier maps stacked), the panel and the page's configuration."""
    from geoaccess.outputs.plugin import folium_map

    s = session.study.settings
    lang = session.lang
    pages, facilities_js = bundle_pages(session)
    first, rest = pages[0], [dict(p, basemap=None) for p in pages[1:]]  # one basemap under all pages
    m = folium_map(first, lang=lang, title=s.title or s.name, scripts=((FACILITIES_JS, ""),))
    text = TEXT[lang]
    config = {
        "map": m.get_name(),
        "api": api,
        "lang": lang,
        "text": text,
        "tiers": session.tiers,
        "pages": [i18n.t("overview", lang)] + [t["label"] for t in session.tiers],
        "page_tiers": [None] + [t["name"] for t in session.tiers],
        "colors": {
            "zone": ZONE_COLOR,
            "status": STATUS_COLOR,
            "tier": [TIER_STYLE[min(i, len(TIER_STYLE) - 1)]["color"] for i in range(len(session.tiers))],
            "delta": list(DELTA_COLORS),
        },
    }
    root = m.get_root()
    root.header.add_child(folium.Element('<link rel="stylesheet" href="lib/serve/serve.css">'), name="serve_css")
    root.html.add_child(folium.Element(_panel(text)), name="serve_panel")
    root.html.add_child(
        folium.Element(f'<script type="application/json" id="ga-config">{json_for_script(config)}</script>'),
        name="serve_config",
    )
    root.html.add_child(
        folium.Element(f'<script type="application/json" id="ga-pages">{json_for_script(rest)}</script>'),
        name="serve_pages",
    )
    root.html.add_child(folium.Element('<script src="lib/serve/serve.js"></script>'), name="serve_js")
    return ServedPage(root.render(), facilities_js)


def _panel(t: dict) -> str:
    """The side panel's empty structure; serve.js fills it (labels here are the tool's own, escaped anyway)."""
    return f"""
<div id="ga-panel">
  <div id="ga-title"></div>
  <div id="ga-synthetic" hidden></div>
  <p class="ga-hint">{e(t["hint"])}</p>
  <h3>{e(t["headline"])}</h3>
  <div id="ga-headline"></div>
  <div id="ga-modes" role="radiogroup">{e(t["mode"])}
    <label><input type="radio" name="ga-mode" value="add" checked> {e(t["mode_add"])}</label>
    <label><input type="radio" name="ga-mode" value="browse"> {e(t["mode_browse"])}</label>
    <label><input type="radio" name="ga-mode" value="road"> {e(t["mode_road"])}</label>
    <label><input type="radio" name="ga-mode" value="speed"> {e(t["mode_speed"])}</label>
  </div>
  <div id="ga-road" hidden>
    <p class="ga-hint">{e(t["road_hint"])}</p>
    <div id="ga-road-points"></div>
    <label>{e(t["kmh"])} <input id="ga-road-kmh" type="number" min="1" max="200" step="1" value="60"></label>
    <button id="ga-road-ok" type="button" disabled>{e(t["road_finish"])}</button>
    <button id="ga-road-cancel" type="button">{e(t["cancel"])}</button>
  </div>
  <div id="ga-add" hidden>
    <h3>{e(t["add_here"])} <span id="ga-add-where"></span></h3>
    <label>{e(t["tier"])} <select id="ga-add-tier"></select></label>
    <label>{e(t["beds"])} <input id="ga-add-beds" type="number" min="0" step="1" value="100"></label>
    <label>{e(t["name"])} <input id="ga-add-name" type="text" maxlength="80"></label>
    <button id="ga-add-ok" type="button">{e(t["add"])}</button>
    <button id="ga-add-cancel" type="button">{e(t["cancel"])}</button>
  </div>
  <h3>{e(t["edits"])}</h3>
  <ol id="ga-edits"></ol>
  <button id="ga-undo-last" type="button" disabled>{e(t["undo_last"])}</button>
  <button id="ga-clear" type="button" disabled>{e(t["clear"])}</button>
  <div id="ga-status" role="status"></div>
  <div id="ga-save">
    <label>{e(t["save_name"])} <input id="ga-save-name" type="text" maxlength="60" value="web"></label>
    <label><input id="ga-save-bundle" type="checkbox" checked> {e(t["bundle"])}</label>
    <button id="ga-save-ok" type="button">{e(t["save"])}</button>
    <label>{e(t["saved_list"])} <select id="ga-load-name"></select></label>
    <button id="ga-load-ok" type="button">{e(t["load"])}</button>
  </div>
  <h3>{e(t["counties"])}</h3>
  <table id="ga-table"><thead></thead><tbody></tbody></table>
</div>
"""
