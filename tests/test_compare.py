"""What-if and placement pages: the study's language, names, rounded coordinates, true colours, warnings."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from geoaccess import Study, whatif
from geoaccess.outputs import compare as C


@pytest.fixture(scope="module")
def study(demo_study_file, tmp_path_factory):
    s = Study.from_file(demo_study_file, output_root=tmp_path_factory.mktemp("out"))
    return s, s.run()


def test_delta_classes_gains_green_losses_red():
    d = np.array([-30.0, -7.0, -2.0, -0.5, -0.0, 0.0, 0.5, 2.0, 7.0, 30.0, np.nan, -np.inf, np.inf])
    cls = C.delta_classes(d)
    assert cls.tolist() == [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 1, 8]
    greens = {C.DELTA_COLORS[k - 1] for k in (1, 2, 3, 4)}
    assert all(int(c[3:5], 16) > int(c[1:3], 16) for c in greens)  # green channel above red: green
    reds = {C.DELTA_COLORS[k - 1] for k in (5, 6, 7, 8)}
    assert all(int(c[1:3], 16) > int(c[3:5], 16) for c in reds)


def test_zero_is_never_a_red_minus_zero():
    assert C._count(0.0, "−", "loss") == "0"
    assert C._count(0.4, "−", "loss") == "0"
    assert C._count(12.0, "−", "loss") == '<span class="loss">−12</span>'


def test_worsened_flags_status_and_zone():
    t = pd.DataFrame(
        {
            "status_before": ["pass", "fail", "pass"],
            "status_after": ["fail", "pass", "pass"],
            "zone_before": ["enrich", "priority", "enrich"],
            "zone_after": ["enrich", "enrich", "priority"],
        }
    )
    assert C.worsened(t).index.tolist() == [0, 2]


def _png_colours(page: str) -> set[tuple[int, int, int]]:
    from PIL import Image

    out = set()
    for b64 in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page):
        im = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGBA")
        a = np.asarray(im).reshape(-1, 4)
        out |= {tuple(int(x) for x in p[:3]) for p in np.unique(a[a[:, 3] > 0], axis=0)}
    return out


def test_whatif_page_in_chinese_with_names_roads_and_true_colours(study):
    s, base = study
    r = whatif(
        s,
        base=base,
        write=True,
        name="cmp",
        upgrade=[{"id": "F0050", "tier": "county", "beds": 150}],
        remove=["F0100"],
        road_speed=[{"route": [[112.55, 37.87], [112.67, 38.06]], "kmh": 80}],
    )
    page = (r.output / "compare.html").read_text(encoding="utf-8")
    mp = (r.output / "compare_map.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in page and "改动" in page and "新增可达" in page
    assert "id=F0100" not in page and "upgrade: id=" not in page  # names, not ids
    name = s.load().facilities.set_index("id").loc["F0100", "name"]
    assert f"关闭：{name}" in page
    assert re.search(r"\d+\.\d{5,}", re.sub(r"<[^>]+>", "", page)) is None  # coordinates rounded
    assert "−0<" not in page and ">−0" not in page
    assert "道路提速至 80 公里/小时" in page
    d = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', mp, re.S).group(1))
    assert d["kind"] == "compare" and "mercator_project" not in mp
    assert d["roads"]["name"] == "改动的道路" and d["roads"]["lines"]  # the road edit is drawn
    assert {p["name"] for p in d["changed"]["points"]} >= {name}  # changed facilities by name
    assert d["legend"]["delta"]["faster"] == "变快" and d["text"]["search"]
    colours = _png_colours(mp)
    allowed = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in C.DELTA_COLORS}
    assert colours and colours <= allowed, colours - allowed  # no white or cyan from a stretched float image


def test_scenario_map_is_an_inline_folium_map(study):
    """What a notebook's ``scenario.map()`` shows: the compare page's map, everything inside its HTML."""
    import folium

    from geoaccess.study import map_context

    s, base = study
    r = whatif(
        s, base=base, name="nb", remove=["F0100"], road_speed=[{"route": [[112.55, 37.87], [112.67, 38.06]], "kmh": 80}]
    )
    inp = s.load()
    ctx = map_context(s.settings, inp.counties["county_code"])
    m = C.scenario_map(r, base, counties=inp.counties, population=inp.population, ctx=ctx, network_before=inp.network)
    assert isinstance(m, folium.Map)
    html = m.get_root().render()
    assert "<script src=" not in html and "Leaflet 1.9.4" in html and "geoaccess.render" in html
    d = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', html, re.S).group(1))
    assert d["kind"] == "compare" and d["lang"] == "zh" and d["roads"]["lines"] and d["changed"]["points"]
    assert d["images"] and all(i["url"].startswith("data:image/png;base64,") for i in d["images"])
    # the method a notebook calls draws the same map from the baseline the scenario was applied to
    html2 = r.map().get_root().render()
    d2 = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', html2, re.S).group(1))
    assert d2 == d


def test_a_worsening_option_is_flagged(study):
    s, base = study
    r = whatif(s, base=base, write=True, name="worse", remove=["F0020"])  # 娄烦县's only county hospital
    page = (r.output / "compare.html").read_text(encoding="utf-8")
    worse = C.worsened(r.compare(base))
    assert len(worse)
    assert 'class="warn"' in page and "此方案使以下区县变差" in page
    warn = page.split('class="warn"', 1)[1].split("</div>", 1)[0]
    assert warn.count("<li>") == 1  # one line per county, its failing tier and its zone together
    assert "娄烦县：县级医院 达标 → 未达标；资源充实提升区 → 资源重点配置区" in warn
