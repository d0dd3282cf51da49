"""Time-of-day periods: per-class speed factors, a county table and a bundle per period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoaccess.network import Network
from geoaccess.periods import scale_network
from geoaccess.study import Study


def test_scale_network_divides_minutes_by_class_factor():
    net = Network(3, [0, 1], [1, 2], [2.0, 3.0], [np.inf, 3.0], x=[0, 1, 2], y=[0, 0, 0],
                  link_class=np.array(["primary", "primary_link"], dtype=object))  # fmt: skip
    s = scale_network(net, {"primary": 0.5})
    np.testing.assert_array_equal(s.link_fwd, [4.0, 6.0])  # the ramp follows its road
    np.testing.assert_array_equal(s.link_bwd, [np.inf, 6.0])
    s = scale_network(net, {"primary": 0.5, "primary_link": 2.0, "motorway": 3.0})  # unknown classes are not used
    np.testing.assert_array_equal(s.link_fwd, [4.0, 1.5])
    assert s.link_u is net.link_u or np.array_equal(s.link_u, net.link_u)


@pytest.fixture(scope="module")
def period_bundle(demo_study_file, tmp_path_factory):
    text = demo_study_file.read_text(encoding="utf-8")
    text += "\n[travel.periods.peak]\nprimary = 0.5\nsecondary = 0.5\ntertiary = 0.5\nresidential = 0.6\n"
    p = demo_study_file.with_name("demo_periods.toml")
    p.write_text(text, encoding="utf-8")
    out = tmp_path_factory.mktemp("periods")
    study = Study.from_file(p, output_root=out)
    return study, study.run()


def test_a_table_and_a_bundle_per_period(period_bundle):
    study, result = period_bundle
    out = result.output
    base = pd.read_csv(out / "counties.csv", encoding="utf-8-sig")
    peak = pd.read_csv(out / "counties_peak.csv", encoding="utf-8-sig")
    assert (peak["primary_mean_min"] >= base["primary_mean_min"] - 1e-9).all()
    assert peak["primary_mean_min"].sum() > base["primary_mean_min"].sum()
    assert (out / "periods" / "peak" / "index.html").exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "periods" / "peak" / "counties.csv", encoding="utf-8-sig"), peak)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "periods/peak/index.html" in index and "counties_peak.csv" in index
    assert "../../index.html" in (out / "periods" / "peak" / "index.html").read_text(encoding="utf-8")


def test_land_cover_factors_leave_the_roads_alone(period_bundle):
    import dataclasses

    study, _ = period_bundle
    study.settings = dataclasses.replace(study.settings, periods={"same": {"motorway": 1.0, "40": 0.5}})
    same = study.period_study("same")
    np.testing.assert_array_equal(same.load().network.link_fwd, study.load().network.link_fwd)
    assert same.settings.output == study.settings.output / "periods" / "same" and not same.settings.periods


def test_period_pages_share_the_study_lib_and_switch_periods(period_bundle):
    """A period's pages load Leaflet and the plugin from the study's lib/ (one copy) and link the same page in
    the other periods' bundles; every file a page refers to exists."""
    import json
    import re

    _, result = period_bundle
    out = result.output
    peak = out / "periods" / "peak"
    assert (out / "lib" / "leaflet" / "leaflet.js").exists() and not (peak / "lib").exists()
    for folder, links in ((out, ["map_county.html", "periods/peak/map_county.html"]),
                          (peak, ["../../map_county.html", "map_county.html"])):  # fmt: skip
        page = (folder / "map_county.html").read_text(encoding="utf-8")
        data = json.loads(re.search(r'id="geoaccess-data">(.*?)</script>', page, re.S).group(1))
        assert [p["href"] for p in data["periods"]["links"]] == links
        assert [p["current"] for p in data["periods"]["links"]] == [folder == out, folder == peak]
        assert [p["label"] for p in data["periods"]["links"]] == ["基准车速", "高峰"]  # in the study's language
        for href in links:
            assert (folder / href).exists(), href
        for name in ("index.html", "overview.html", "map_primary.html", "map_county.html"):
            text = (folder / name).read_text(encoding="utf-8")
            for ref in re.findall(r"""(?:src|href)="([^"#]+)\"""", text):
                assert (folder / ref).exists(), f"{folder.name}/{name} refers to missing {ref}"
        assert (folder / "data" / "catchments_primary.js").exists()
    assert 'src="../../lib/leaflet/leaflet.js"' in (peak / "map_primary.html").read_text(encoding="utf-8")
    assert 'href="periods/peak/index.html"' in (out / "index.html").read_text(encoding="utf-8")
