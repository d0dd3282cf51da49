"""The whole pipeline on the synthetic demo: tables, maps, rasters, labels, safety."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
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
    assert "&lt;img src=x onerror=alert(1)&gt;" in shared


def test_cli_reports_bad_facilities(demo_study_file, demo_dir, tmp_path, capsys):
    bad = tmp_path / "facilities.csv"
    bad.write_text("id,name,tier,beds,lon,lat\nA,a,hospital,1,112.5,37.8\nA,b,county,1,,37.8\n", encoding="utf-8")
    text = demo_study_file.read_text(encoding="utf-8").replace((demo_dir / "facilities.csv").as_posix(), bad.as_posix())
    sf = tmp_path / "s.toml"
    sf.write_text(text, encoding="utf-8")
    assert main(["-q", "run", str(sf)]) == 2
    err = capsys.readouterr().err
    assert "facilities.csv" in err and "line 2" in err and "line 3" in err and "duplicate id" in err
