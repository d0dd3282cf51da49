"""UI strings of the bundle in Chinese and English, and the choice between them.

Only the bundle's own labels live here; text from inputs (facility and county names) is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LANGS = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "walk_only_surface": {"zh": "仅步行", "en": "on foot only"},  # a tier map's second surface
    "index": {"zh": "首页", "en": "Front page"},
    "overview": {"zh": "总览：资源分区", "en": "Overview: resource zones"},
    "headline": {"zh": "要点", "en": "Headline"},
    "maps": {"zh": "地图", "en": "Maps"},
    "files": {"zh": "文件", "en": "Files"},
    "counties": {"zh": "区县", "en": "Counties"},
    "county": {"zh": "区县", "en": "county"},
    "code": {"zh": "代码", "en": "code"},
    "population": {"zh": "人口", "en": "population"},
    "people": {"zh": "人", "en": "people"},
    "zone": {"zh": "资源分区", "en": "zone"},
    "reasons": {"zh": "原因", "en": "reasons"},
    "status": {"zh": "状态", "en": "status"},
    "pass": {"zh": "达标", "en": "pass"},
    "fail": {"zh": "未达标", "en": "fail"},
    "no people": {"zh": "无人口", "en": "no people"},
    "within": {"zh": "{t}分钟内", "en": "within {t} min"},
    "target": {"zh": "目标 {s}", "en": "target {s}"},
    "median": {"zh": "中位时间", "en": "median"},
    "p90": {"zh": "90%人口时间", "en": "90th percentile"},
    "beyond": {"zh": "超出{t}分钟人口", "en": "people beyond {t} min"},
    "min": {"zh": "分钟", "en": "min"},
    "travel_time": {"zh": "到{tier}的出行时间", "en": "travel time to {tier}"},
    "minutes_to": {"zh": "到{tier}的出行时间（分钟）", "en": "minutes to {tier}"},
    "bands": {"zh": "服务圈（等时线）", "en": "catchment bands"},
    "band": {"zh": "{t}分钟服务圈", "en": "within {t} min"},
    "counties_status": {"zh": "区县达标情况（{tier}）", "en": "counties by {tier} status"},
    "counties_zone": {"zh": "区县资源分区", "en": "counties by resource zone"},
    "counties_failed": {"zh": "按未达标层级数着色", "en": "counties by tiers failed"},
    "n_failed": {"zh": "{n} 个层级未达标", "en": "{n} tiers failed"},
    "facilities": {"zh": "医疗机构", "en": "facilities"},
    "facilities_serving": {"zh": "提供{tier}服务的机构", "en": "facilities serving {tier}"},
    "tier": {"zh": "层级", "en": "tier"},
    "beds": {"zh": "床位", "en": "beds"},
    "nearest_for": {"zh": "以其为最近机构的人口", "en": "people for whom it is nearest"},
    "reach": {"zh": "其中{t}分钟内可达", "en": "of them within {t} min"},
    "referral": {"zh": "转诊至{tier}（分钟）", "en": "referral to {tier} (min)"},
    "top_tier": {"zh": "最高层级", "en": "top tier"},
    "unreachable": {"zh": "不可达", "en": "unreachable"},
    "search": {"zh": "搜索机构名称…", "en": "Search facility name…"},
    "no_match": {"zh": "无匹配机构", "en": "no matching facility"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "threshold": {"zh": "标准", "en": "threshold"},
    "no_data": {"zh": "无人口 / 无数据", "en": "no people / no data"},
    "click_why": {"zh": "点击区县查看原因", "en": "click a county to see why"},
    "people_beyond_h": {"zh": "{t}分钟外人口", "en": "people beyond {t} min"},
    "failing_h": {"zh": "未达标区县", "en": "counties failing"},
    "of": {"zh": "{a} / {b}", "en": "{a} of {b}"},
    "curves": {"zh": "覆盖曲线：按出行时间的可达人口比例", "en": "Coverage curves: share of people reached by minutes"},
    "curves_note": {
        "zh": "每条线为一个区县；红线为未达标区县；竖线为标准时间，横线为目标比例。",
        "en": "One line per county; red lines fail the target; the vertical line is the threshold, the horizontal line the target share.",
    },
    "settings": {"zh": "研究设置与数据来源", "en": "Settings and data sources"},
    "warnings": {"zh": "输入数据警告", "en": "Warnings about the inputs"},
    "all_columns": {"zh": "区县表全部字段", "en": "All columns of the county table"},
    "table_note": {
        "zh": "点击表头排序。比例为各层级标准时间内的人口占比，颜色表示是否达到目标。",
        "en": "Click a column header to sort. Shares are people within each tier's threshold, coloured by pass/fail against the target.",
    },
    "map_of": {
        "zh": "{tier}：出行时间、服务圈、机构、区县达标",
        "en": "{tier}: travel time, catchments, facilities, county status",
    },
    "report_link": {
        "zh": "打印报告（A4 横向：要点、分区图、区县表、需关注区县及原因）",
        "en": "Printable report (A4 landscape: headline, zone map, county table, counties needing attention and why)",
    },
    "overview_link": {"zh": "总览：区县资源分区及原因", "en": "Overview: resource zone of each county and why"},
    "csv": {"zh": "区县表（CSV，Excel/WPS 可直接打开）", "en": "county table (CSV, opens in Excel/WPS)"},
    "xlsx": {
        "zh": "全部表格（Excel 工作簿：区县、机构、转诊、全域、字段说明）",
        "en": "all tables (Excel workbook: counties, facilities, referrals, whole area, codebook)",
    },
    "facilities_csv": {"zh": "医疗机构表（CSV）", "en": "facility table (CSV)"},
    "referrals_csv": {"zh": "转诊链路表（CSV）", "en": "referral links (CSV)"},
    "overall_csv": {"zh": "全域统计（CSV）", "en": "whole-area figures (CSV)"},
    "codebook": {"zh": "字段说明（各列含义，CSV）", "en": "codebook: what each column means (CSV)"},
    "gpkg": {
        "zh": "GIS 图层 GeoPackage（区县、机构、转诊线、服务圈；QGIS/ArcGIS）",
        "en": "GIS layers GeoPackage (counties, facilities, referral lines, catchment bands; QGIS/ArcGIS)",
    },
    "tif": {"zh": "出行时间栅格 GeoTIFF（{tier}）", "en": "travel-time GeoTIFF ({tier})"},
    "zones_h": {"zh": "资源分区", "en": "resource zones"},
    "bundle_size": {"zh": "本地图包大小", "en": "bundle size"},
    "generated": {"zh": "生成于", "en": "generated"},
    "why": {"zh": "为什么", "en": "why"},
    "open_map": {"zh": "打开地图", "en": "open map"},
    "basemap_none": {"zh": "无底图（离线）", "en": "no basemap (offline)"},
    "basemap": {"zh": "底图", "en": "basemap"},
    "legend_symbols": {"zh": "机构层级", "en": "facility tier"},
    "names": {"zh": "区县名称", "en": "county names"},
    "synthetic_label": {"zh": "合成数据", "en": "Synthetic data"},
    "all_pass": {"zh": "各层级均达标", "en": "meets every tier's target"},
    "because": {"zh": "原因：", "en": "because: "},
    "because_rest": {"zh": "未满足其他分区条件：", "en": "short of the other zones: "},
    "rule": {"zh": "分区规则：", "en": "zone rule: "},
    "details": {"zh": "点击查看详情", "en": "click for details"},
    "zoom_for_bands": {"zh": "放大地图后显示服务圈", "en": "zoom in to see the bands"},
    "scenarios_h": {"zh": "情景分析与选址结果", "en": "What-if scenarios and placements"},
    "scenario": {"zh": "情景分析", "en": "what-if"},
    "placement": {"zh": "选址优化", "en": "placement"},
    "period_bundle": {"zh": "时段 {period}：地图与表格", "en": "period {period}: maps and tables"},
    "period_base": {"zh": "基准车速（研究设定）：地图与表格", "en": "the study's own speeds: maps and tables"},
    "period_csv": {"zh": "时段 {period} 区县表（CSV）", "en": "county table, period {period} (CSV)"},
    "period_switch": {"zh": "时段", "en": "period"},
    "period_base_name": {"zh": "基准车速", "en": "study speeds"},
    "catchments": {"zh": "各机构服务范围（最近机构）", "en": "catchments (nearest facility)"},
    "catchment_of": {"zh": "服务范围", "en": "catchment of"},
    "area": {"zh": "面积", "en": "area"},
    "km2": {"zh": "平方公里", "en": "km²"},
    "zoom_for_catchments": {"zh": "放大地图后显示各机构服务范围", "en": "zoom in to see the catchments"},
    "surface_main": {"zh": "机动车出行", "en": "motorised"},
    "reason_tier": {"zh": "{tier}：{t}分钟内{s}（目标{target}）", "en": "{tier}: {s} within {t} min (target {target})"},
}

TIER_LABELS = {
    "primary": {"zh": "基层医疗", "en": "primary care"},
    "county": {"zh": "县级医院", "en": "county hospital"},
    "regional": {"zh": "区域医疗中心", "en": "regional centre"},
    "emergency": {"zh": "急救（胸痛/卒中）中心", "en": "emergency centre"},
}

ZONE_LABELS = {
    "priority": {"zh": "资源重点配置区", "en": "priority allocation"},
    "enrich": {"zh": "资源充实提升区", "en": "enrich / upgrade"},
    "adjust": {"zh": "资源调整完善区", "en": "adjust / disperse"},
}
SETTING_LABELS = {
    "study": {"zh": "研究", "en": "study"},
    "roads": {"zh": "道路", "en": "roads"},
    "facilities": {"zh": "医疗机构", "en": "facilities"},
    "population": {"zh": "人口", "en": "population"},
    "counties": {"zh": "区县边界", "en": "counties"},
    "census": {"zh": "人口普查", "en": "census"},
    "synthetic": {"zh": "合成数据说明", "en": "synthetic data"},
    "profile": {"zh": "出行方式", "en": "travel profile"},
    "direction": {"zh": "出行方向", "en": "direction"},
    "walk_kmh": {"zh": "步行速度（公里/小时）", "en": "walking speed (km/h)"},
    "serve_lower_tiers": {"zh": "上级机构兼顾下级服务", "en": "higher tiers serve lower tiers"},
    "travel": {"zh": "出行模式（地形）", "en": "travel over terrain"},
    "tiers": {"zh": "层级、标准时间与目标", "en": "tiers, thresholds and targets"},
    "basemap": {"zh": "底图", "en": "basemap"},
    "language": {"zh": "语言", "en": "language"},
}

# labels of county-table columns others may add; anything else is shown by its name
COLUMN_LABELS = {
    "county_code": {"zh": "代码", "en": "code"},
    "county_name": {"zh": "区县", "en": "county"},
    "population": {"zh": "人口", "en": "population"},
    "tiers_failed": {"zh": "未达标层级数", "en": "tiers failed"},
    "zone": {"zh": "资源分区", "en": "zone"},
    "zone_zh": {"zh": "资源分区（中文）", "en": "zone (Chinese)"},
    "reasons": {"zh": "原因", "en": "reasons"},
    "beds": {"zh": "床位", "en": "beds"},
    "beds_per_1000": {"zh": "每千人床位", "en": "beds per 1000"},
    "accessible_beds_per_1000": {"zh": "每千人可及床位", "en": "accessible beds per 1000"},
    "within_county_share": {"zh": "县域内就诊比例", "en": "within-county share"},
    "gini": {"zh": "基尼系数", "en": "Gini"},
    "mean_min": {"zh": "平均时间（分钟）", "en": "mean min"},
    "median_min": {"zh": "中位时间（分钟）", "en": "median min"},
    "p90_min": {"zh": "90%人口时间（分钟）", "en": "p90 min"},
    "share_within": {"zh": "标准时间内人口比例", "en": "share within threshold"},
    "walk_only_share": {"zh": "仅步行时标准时间内人口比例", "en": "share within threshold on foot only"},
    "people_beyond": {"zh": "超出标准时间人口", "en": "people beyond"},
    "unreachable": {"zh": "不可达人口", "en": "unreachable people"},
    "status": {"zh": "状态", "en": "status"},
    "capacity_coverage": {"zh": "容量覆盖率", "en": "capacity coverage"},
    "referral_min": {"zh": "转诊时间（分钟）", "en": "referral min"},
    "accessible_beds_2sfca_per_1000": {"zh": "每千人可及床位（2SFCA）", "en": "accessible beds per 1000 (2SFCA)"},
    "accessible_beds_gaussian_per_1000": {"zh": "每千人可及床位（高斯）", "en": "accessible beds per 1000 (Gaussian)"},
    "accessible_beds_gravity_per_1000": {"zh": "每千人可及床位（重力）", "en": "accessible beds per 1000 (gravity)"},
    "within_county_status": {"zh": "县域内就诊达标情况", "en": "within-county status"},
    "referral_links": {"zh": "转诊链路数", "en": "referral links"},
    "referral_links_over": {"zh": "超时转诊链路数", "en": "referral links over threshold"},
}

_ADCODE = re.compile(r"^[1-8]\d{5}$")


def pick_language(setting: str, county_codes: Iterable) -> str:
    """``"zh"`` or ``"en"``: the setting if explicit, else Chinese when every county code is a Chinese adcode."""
    if setting in LANGS:
        return setting
    codes = [str(c) for c in county_codes]
    return "zh" if codes and all(_ADCODE.match(c) for c in codes) else "en"


def t(key: str, lang: str, **kw) -> str:
    """A UI string in ``lang``, with ``{placeholders}`` filled."""
    s = TEXT[key][lang]
    return s.format(**kw) if kw else s


def tier_label(name: str, lang: str, label: str = "") -> str:
    """A tier's display name: a known tier in ``lang``, else the study's label or name."""
    if name in TIER_LABELS:
        return TIER_LABELS[name][lang]
    return label or name


# common names of time-of-day periods ([travel.periods.<name>]); any other name is shown as the study wrote it
PERIOD_LABELS = {
    "peak": {"zh": "高峰", "en": "peak"},
    "am_peak": {"zh": "早高峰", "en": "morning peak"},
    "pm_peak": {"zh": "晚高峰", "en": "evening peak"},
    "offpeak": {"zh": "平峰", "en": "off-peak"},
    "off_peak": {"zh": "平峰", "en": "off-peak"},
    "day": {"zh": "白天", "en": "day"},
    "night": {"zh": "夜间", "en": "night"},
}


def period_label(name: str, lang: str) -> str:
    """A period's display name: a common one in ``lang``, else its name."""
    return PERIOD_LABELS.get(name.lower().replace("-", "_"), {}).get(lang, name)


def zone_label(key: str, lang: str) -> str:
    return ZONE_LABELS.get(key, {}).get(lang, str(key))


def column_label(col: str, lang: str, tier_names: Iterable[str] = (), tier_labels: dict | None = None) -> str:
    """A county-table column's header: ``primary_share_within`` -> ``基层医疗 标准时间内人口比例``."""
    if col in COLUMN_LABELS:  # before tier prefixes: "county_name" is not the county tier's "name"
        return COLUMN_LABELS[col][lang]
    for name in tier_names:
        if col.startswith(name + "_"):
            rest = col[len(name) + 1 :]
            tl = (tier_labels or {}).get(name, name)
            m = re.fullmatch(r"reached_(\d+(?:\.\d+)?)min", rest)
            if m:
                return f"{tl} {m.group(1)}分钟内人口" if lang == "zh" else f"{tl} people within {m.group(1)} min"
            return f"{tl} {column_label(rest, lang)}"
    if col in COLUMN_LABELS:
        return COLUMN_LABELS[col][lang]
    return col.replace("_", " ")
