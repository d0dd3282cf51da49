"""The whole pipeline on the synthetic demo: tables, maps, rasters, labels, safety."""

from __future__ import annotations

import json
import re
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio

from geoaccess import Study
from geoaccess.cli import main
from geoaccess.demo import DEMO_CENSUS

TIERS = ["primary", "county", "regional"]


@pytest.fixture(scope="module")
def run(demo_study_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    study = Study.from_file(demo_study_file, output_root=out)
    return study, study.run()


def test_county_table(run):
    study, result = run
    t = pd.read_csv(study.settings.output / "counties.csv", dtype={"county_code": str})
    assert len(t) == 10
    assert t["population"].sum() == 5_045_235
    for code, (_name, pop) in DEMO_CENSUS.items():
        assert int(t.loc[t["county_code"] == code, "population"].iloc[0]) == pop
    for tier in TIERS:
        for col in ("mean_min", "median_min", "p90_min", "share_within", "status"):
            assert f"{tier}_{col}" in t.columns
        assert set(t[f"{tier}_status"]) <= {"pass", "fail"}
        assert (t[f"{tier}_median_min"] <= t[f"{tier}_p90_min"]).all()
        assert t[f"{tier}_share_within"].between(0, 1).all()
    assert {"county_name", "zone", "zone_zh", "reasons"} <= set(t.columns)


def test_tiers_nest(run):
    """Higher tiers have fewer serving facilities, so minutes can only grow up the tiers."""
    _, result = run
    p, c, r = (result.tiers[t].minutes for t in TIERS)
    assert np.all(p <= c + 1e-9) and np.all(c <= r + 1e-9)
    assert np.isfinite(p).all()


def test_scores_match_a_direct_computation(run):
    study, result = run
    inp = study.load()
    pop = inp.population
    m = result.tiers["primary"].minutes
    for code in ("140105", "140123"):
        c = list(inp.counties["county_code"]).index(code)
        sel = pop.county == c
        share = pop.people[sel][m[sel] <= 15].sum() / pop.people[sel].sum()
        row = result.counties.set_index("county_code").loc[code]
        assert row["primary_share_within"] == pytest.approx(share)
        assert row["primary_status"] == ("pass" if share >= 0.9 else "fail")


def test_bundle_files_offline_and_labelled(run):
    study, _ = run
    out = study.settings.output
    index = (out / "index.html").read_text(encoding="utf-8")
    for tier in TIERS:
        assert f'href="map_{tier}.html"' in index
        page = (out / f"map_{tier}.html").read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']https?://""", page), "maps must not load anything from the internet"
        assert "synthetic" in page
        with rasterio.open(out / f"travel_time_{tier}.tif") as src:
            assert src.tags()["SYNTHETIC"] == "yes"
            assert np.nanmax(src.read(1)) > 0
    assert (out / "lib" / "leaflet" / "leaflet.js").exists()
    assert "synthetic" in index.lower()


def test_bundle_files_for_excel_and_gis(run):
    study, result = run
    out = study.settings.output
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in ("counties.csv", "facilities.csv", "codebook.csv", "counties.xlsx", "geoaccess.gpkg"):
        assert (out / name).is_file()
        assert f'href="{name}"' in index
    raw = (out / "counties.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel / WPS on Chinese Windows
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == list(result.counties.columns)
    text = pd.read_csv(out / "counties.csv", dtype=str)
    for col in ("population", "primary_people_beyond", "county_unreachable", "beds"):
        assert text[col].str.fullmatch(r"\d+").all(), col  # people and beds as integers, no 79653.0000
    back = pd.read_csv(out / "counties.csv", dtype={"county_code": str})
    assert (back["primary_people_beyond"] == result.counties["primary_people_beyond"]).all()
    layers = dict(pyogrio.list_layers(out / "geoaccess.gpkg"))
    assert set(layers) == {"counties", "facilities", "referrals", "service_areas", "catchments"}
    assert len(gpd.read_file(out / "geoaccess.gpkg", layer="counties")) == 10


def test_facility_names_are_escaped(demo_dir, demo_study_file, tmp_path):
    d = tmp_path / "inputs"
    shutil.copytree(demo_dir, d)
    f = pd.read_csv(d / "facilities.csv", dtype=str)
    evil = "<img src=x onerror=alert(1)>"
    f.loc[f["tier"] == "regional", "name"] = evil
    f.to_csv(d / "facilities.csv", index=False)
    text = demo_study_file.read_text(encoding="utf-8").replace(demo_dir.as_posix(), d.as_posix())
    sf = tmp_path / "s.toml"
    sf.write_text(text, encoding="utf-8")
    study = Study.from_file(sf, output_root=tmp_path)
    study.run()
    page = (study.settings.output / "map_regional.html").read_text(encoding="utf-8")
    assert evil not in page
    shared = (study.settings.output / "data" / "facilities.js").read_text(encoding="utf-8")  # names live here
    assert evil not in shared
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in shared  # plain text in JSON; map.js inserts it as text


def test_cli_reports_bad_facilities(demo_study_file, demo_dir, tmp_path, capsys):
    bad = tmp_path / "facilities.csv"
    bad.write_text("id,name,tier,beds,lon,lat\nA,a,hospital,1,112.5,37.8\nA,b,county,1,,37.8\n", encoding="utf-8")
    text = demo_study_file.read_text(encoding="utf-8").replace((demo_dir / "facilities.csv").as_posix(), bad.as_posix())
    sf = tmp_path / "s.toml"
    sf.write_text(text, encoding="utf-8")
    assert main(["-q", "run", str(sf)]) == 2
    err = capsys.readouterr().err
    assert "facilities.csv" in err and "line 2" in err and "line 3" in err and "duplicate id" in err


# -- the bundle as a whole (issue 12) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny study (tests/test_load_study.py) run once into a bundle; tests rerun it into their own folders."""
    from tests.test_load_study import make_study

    d = tmp_path_factory.mktemp("small")
    study = Study.from_file(make_study(d), output_root=d / "out")
    study.run()
    return study


def _digest(folder):
    import hashlib

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("writer", "fault"),
    [
        ("write_index", OSError(28, "No space left on device")),  # the last page: everything else is written
        ("overview_map", KeyboardInterrupt()),
        ("write_surface", OSError(28, "No space left on device")),
    ],
)
def test_a_failed_rerun_leaves_the_previous_bundle_byte_identical(small, tmp_path, monkeypatch, writer, fault):
    from dataclasses import replace

    import geoaccess.study as study_mod

    monkeypatch.setattr(small.settings, "output", tmp_path / "bundle")
    small.run()
    before = _digest(small.settings.output)
    assert "index.html" in before and "counties.csv" in before

    def broken(*args, **kwargs):
        raise fault

    # the rerun would write other tables and pages: a 5-minute primary threshold, another title
    monkeypatch.setattr(
        small.settings, "tiers", (replace(small.settings.tiers[0], threshold_min=5.0),) + small.settings.tiers[1:]
    )
    monkeypatch.setattr(small.settings, "title", "rerun")
    monkeypatch.setattr(study_mod, writer, broken)
    with pytest.raises(type(fault)):
        small.run()
    assert _digest(small.settings.output) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # temporary folder and lock removed


def test_a_rerun_keeps_scenarios_and_drops_stale_pages(small, tmp_path):
    out = small.settings.output = tmp_path / "bundle"
    small.run()
    (out / "map_retired.html").write_text("a tier the study no longer has", encoding="utf-8")
    scen = out / "scenarios" / "s1"
    scen.mkdir(parents=True)
    (scen / "compare.html").write_text("what if", encoding="utf-8")
    kept = _digest(scen)
    small.run()
    assert not (out / "map_retired.html").exists()
    assert _digest(scen) == kept
    assert (out / "index.html").exists() and (out / "map_primary.html").exists()


def test_an_unusable_output_folder_is_refused_before_computing(small, tmp_path, monkeypatch):
    import os
    import socket

    from geoaccess.errors import InputError

    def no_compute(*args, **kwargs):
        raise AssertionError("computed before checking the output folder")

    monkeypatch.setattr(Study, "compute", no_compute)
    out = small.settings.output = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="holds files geoaccess did not write"):
        small.run()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    small.settings.output = tmp_path / "busy"
    (tmp_path / ".busy.lock").write_text(f"{os.getppid()} {socket.gethostname()}\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"another geoaccess run \(process {os.getppid()}\)"):
        small.run()


def test_cli_refuses_an_output_folder_holding_an_input(demo_study_file, demo_dir, tmp_path, capsys):
    text = demo_study_file.read_text(encoding="utf-8").replace(
        'name = "demo"', f'name = "demo"\noutput = "{demo_dir.as_posix()}"'
    )
    sf = tmp_path / "s.toml"
    sf.write_text(text, encoding="utf-8")
    before = (demo_dir / "facilities.csv").read_bytes()
    assert main(["-q", "run", str(sf)]) == 2
    err = capsys.readouterr().err
    assert "contains the" in err and "input" in err and "Traceback" not in err
    assert (demo_dir / "facilities.csv").read_bytes() == before


def test_the_front_page_repeats_the_input_warnings(small, tmp_path):
    small.settings.output = tmp_path / "w"
    small.run()
    page = (tmp_path / "w" / "index.html").read_text(encoding="utf-8")
    warnings = small.load().warnings
    assert warnings and f"({len(warnings)})</h2>" in page
    assert "140171" in page.split('id="warnings"')[1].split("</ul>")[0]  # the census row with no county


def test_pages_explain_zones_from_the_rules_in_force_in_chinese(run, demo_dir):
    study, result = run
    out = study.settings.output
    index = (out / "index.html").read_text(encoding="utf-8")
    assert str(demo_dir) not in index and "/work/" not in index  # no local absolute paths
    assert '<td class="l">drive</td>' not in index and ">True<" not in index
    assert "驾车" in index and "资源调整完善区：同时满足：各层级均达标；每千人床位不低于7.4" in index
    overview = (out / "overview.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', overview, re.S).group(1))
    props = {f["properties"]["code"]: f["properties"] for f in data["counties"]["geojson"]["features"]}
    t = result.counties.set_index("county_code")
    for code, p in props.items():
        row = t.loc[code]
        if row["zone"] == "enrich" and row["tiers_failed"] == 0:
            # enriched for beds alone: the beds condition is the reason shown first, not "one tier fails"
            assert p["decisive"][0].startswith("每千人床位"), p["decisive"]
    legend = {a["label"].split(" (")[0]: a["note"] for a in data["legend"]["areas"]}
    assert "每千人床位不低于7.4" in legend["资源调整完善区"]


def test_result_map_gives_folium_maps_for_notebooks(run):
    import folium

    study, result = run
    for page in ("overview", "county"):
        m = result.map(page)
        assert isinstance(m, folium.Map)
        html = m.get_root().render()
        assert "<script src=" not in html and "geoaccess.render" in html  # everything inline
        data = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', html, re.S).group(1))
        assert data["lang"] == "zh" and len(data["counties"]["geojson"]["features"]) == 10
    assert data["surface"]["url"].startswith("data:image/png;base64,") and data["facilities"]["ranks"] == [1, 2]
    with pytest.raises(ValueError, match="choose 'overview' or a tier"):
        result.map("hospital")


def test_report_ready_to_print(run):
    study, result = run
    out = study.settings.output
    assert 'href="report.html"' in (out / "index.html").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "@page{size:A4 landscape" in page
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert svg.count("<path") == 10 and "阳曲县" in svg  # the zone map, counties named
    table = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    assert table.count("<tr>") == 10
    attention = page.split("需关注的区县及原因", 1)[1]
    # the failing county first, with the reason that decided its zone
    assert attention.index("阳曲县") < attention.index("小店区")
    assert "基层医疗15分钟内人口比例 86.6%（目标 90%）" in attention


def test_a_second_surface_per_tier_is_drawn_beside_the_first(run, tmp_path):
    """Result.surfaces (e.g. walking only from the terrain model) go onto the tier's map, its tables unchanged."""
    import dataclasses

    study, result = run
    walk = np.where(np.isfinite(result.tiers["county"].minutes), 3 * result.tiers["county"].minutes, np.inf)
    extra = dataclasses.replace(result, surfaces={"county": [("步行", walk)]})
    files = study._write_bundle(extra, tmp_path)
    page = (tmp_path / "map_county.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', page, re.S).group(1))
    assert [s["name"] for s in data["surfaces"]] == ["到县级医院的出行时间 · 机动车出行", "到县级医院的出行时间 · 步行"]
    assert (tmp_path / data["surfaces"][1]["url"]).read_bytes() != (tmp_path / data["surface"]["url"]).read_bytes()
    assert "surfaces" not in json.loads(
        re.search(r'id="geoaccess-data">(.*?)</script>', (tmp_path / "map_primary.html").read_text("utf-8"), re.S)[1]
    )
    assert (tmp_path / "counties.csv").read_bytes() == (result.output / "counties.csv").read_bytes()
    assert tmp_path / "map_county.html" in files
    m = extra.map("county")
    html = m.get_root().render()
    assert len(json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', html, re.S).group(1))["surfaces"]) == 2
