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
