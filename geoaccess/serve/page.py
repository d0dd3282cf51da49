"""The served page: a folium map (Leaflet from ``/lib/leaflet``, no CDN, no basemap unless the study has one)
with a side panel for the headline figures, the edits and the county table.

The page's behaviour lives in its own files, ``static/serve.js`` and ``static/serve.css``: they read the
baseline and the county outlines from the API and draw counties and facilities themselves, so the map can be
switched to the bundle's folium plugin without touching the panel. Every text from the study or the planner is
inserted as text (``textContent``), never as HTML.
"""

from __future__ import annotations

import json

import folium

from geoaccess.outputs.maps import STATUS_COLOR, TIER_STYLE, ZONE_COLOR, e
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
        "colour": "Colour counties by",
        "hint": "Click the map to add a facility; click a facility to close, upgrade, downgrade or move it, or add a campus.",
        "beyond": "people beyond {tier} threshold",
        "failing": "counties failing a target",
        "zone": "zone",
        "county": "county",
        "share": "{tier} within",
        "by_zone": "zone",
        "by_change": "change, {tier}",
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
        "colour": "区县着色",
        "hint": "点击地图新增机构；点击机构可关闭、升级、降级、迁址或新增院区。",
        "beyond": "超出{tier}标准时间人口",
        "failing": "未达标区县",
        "zone": "资源分区",
        "county": "区县",
        "share": "{tier}达标比例",
        "by_zone": "资源分区",
        "by_change": "变化：{tier}",
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
    },
}


def _json_for_script(data) -> str:
    # inside <script type="application/json">: no "</script>", no HTML comment opener
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(session: Session, *, api: str = "") -> str:
    """The page's HTML: the folium map, the panel skeleton and the page's configuration as JSON."""
    s = session.study.settings
    lang = session.lang
    w, so, ea, no = session.bounds
    m = folium.Map(location=[(so + no) / 2, (w + ea) / 2], zoom_start=9, tiles=None, control_scale=False)
    # Leaflet from this server (the same vendored copy the bundle ships), nothing else
    m.default_js = [("leaflet", "lib/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", "lib/leaflet/leaflet.css")]
    m.fit_bounds([[so, w], [no, ea]])
    text = TEXT[lang]
    config = {
        "map": m.get_name(),
        "api": api,
        "lang": lang,
        "text": text,
        "tiers": session.tiers,
        "colors": {
            "zone": ZONE_COLOR,
            "status": STATUS_COLOR,
            "tier": [TIER_STYLE[min(i, len(TIER_STYLE) - 1)]["color"] for i in range(len(session.tiers))],
        },
    }
    root = m.get_root()
    root.header.add_child(folium.Element(f"<title>{e(s.title or s.name)}</title>"))
    root.header.add_child(folium.Element('<link rel="stylesheet" href="lib/serve/serve.css">'))
    root.html.add_child(folium.Element(_panel(text)))
    root.html.add_child(
        folium.Element(f'<script type="application/json" id="ga-config">{_json_for_script(config)}</script>')
    )
    root.html.add_child(folium.Element('<script src="lib/serve/serve.js"></script>'))
    return root.render()


def _panel(t: dict) -> str:
    """The side panel's empty structure; serve.js fills it (labels here are the tool's own, escaped anyway)."""
    return f"""
<div id="ga-panel">
  <div id="ga-title"></div>
  <div id="ga-synthetic" hidden></div>
  <p class="ga-hint">{e(t["hint"])}</p>
  <h3>{e(t["headline"])}</h3>
  <div id="ga-headline"></div>
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
  <label>{e(t["colour"])} <select id="ga-colour"></select></label>
  <table id="ga-table"><thead></thead><tbody></tbody></table>
</div>
"""
