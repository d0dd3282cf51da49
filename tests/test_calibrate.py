"""Calibration of road-class speeds to observed trips: routing against networkx, recovery of known factors."""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geoaccess import calibrate as cal
from geoaccess import coords
from geoaccess.errors import InputError
from geoaccess.network import Network
from geoaccess.periods import scale_network

CRS = "EPSG:32649"  # UTM 49N: Taiyuan
X0, Y0 = 500_000.0, 4_190_000.0
KMH = {"primary": 60.0, "secondary": 40.0, "residential": 25.0}
TRUE = {"primary": 0.7, "secondary": 1.15, "residential": 0.85}


def grid_network(n: int = 31, spacing: float = 250.0, seed: int = 0) -> Network:
    """A street grid: every 10th line primary, every 5th secondary, the rest residential; a few one-way streets."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n * n).reshape(n, n)
    x = X0 + spacing * np.tile(np.arange(n), n) + rng.uniform(-20, 20, n * n)
    y = Y0 + spacing * np.repeat(np.arange(n), n) + rng.uniform(-20, 20, n * n)
    u, v, cls = [], [], []

    def line_class(k):
        return "primary" if k % 10 == 0 else "secondary" if k % 5 == 0 else "residential"

    for r in range(n):
        for c in range(n - 1):
            u.append(ids[r, c])
            v.append(ids[r, c + 1])
            cls.append(line_class(r))
            u.append(ids[c, r])
            v.append(ids[c + 1, r])
            cls.append(line_class(r))
    u, v, cls = np.array(u), np.array(v), np.array(cls, dtype=object)
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    kmh = np.array([KMH[c] for c in cls])
    minutes = length / (kmh * 1000 / 60)
    fwd, bwd = minutes.copy(), minutes.copy()
    one = (cls == "residential") & (rng.random(u.size) < 0.1)
    bwd[one] = np.inf
    return Network(n * n, u, v, fwd, bwd, x=x, y=y, crs=CRS, link_class=cls)


def random_trips(net: Network, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    span = net.x.max() - X0
    ox, oy = X0 + rng.uniform(0, span, k), Y0 + rng.uniform(0, span, k)
    dx, dy = X0 + rng.uniform(0, span, k), Y0 + rng.uniform(0, span, k)
    tf = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    olon, olat = tf.transform(ox, oy)
    dlon, dlat = tf.transform(dx, dy)
    return pd.DataFrame({"origin_lon": olon, "origin_lat": olat, "destination_lon": dlon, "destination_lat": dlat,
                         "minutes": 1.0, "period": "", "row": np.arange(k) + 2})  # fmt: skip


def nx_door_to_door(net: Network, trips: pd.DataFrame, walk_kmh: float = 4.5) -> np.ndarray:
    """Independent oracle: networkx Dijkstra over the links plus a start and an end node per trip (shapely snaps)."""
    g = nx.MultiDiGraph()
    for i in range(net.n_links):
        u, v = int(net.link_u[i]), int(net.link_v[i])
        if np.isfinite(net.link_fwd[i]):
            g.add_edge(u, v, weight=float(net.link_fwd[i]))
        if np.isfinite(net.link_bwd[i]):
            g.add_edge(v, u, weight=float(net.link_bwd[i]))
    tf = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    ox, oy = tf.transform(trips["origin_lon"].to_numpy(), trips["origin_lat"].to_numpy())
    dx, dy = tf.transform(trips["destination_lon"].to_numpy(), trips["destination_lat"].to_numpy())
    geoms = net.geometry
    mpm = walk_kmh * 1000 / 60
    out = np.empty(len(trips))
    for i in range(len(trips)):
        po, pd_ = shapely.Point(ox[i], oy[i]), shapely.Point(dx[i], dy[i])
        lo = int(np.argmin(shapely.distance(geoms, po)))
        ld = int(np.argmin(shapely.distance(geoms, pd_)))
        to = shapely.line_locate_point(geoms[lo], po, normalized=True)
        td = shapely.line_locate_point(geoms[ld], pd_, normalized=True)
        wo, wd = geoms[lo].distance(po) / mpm, geoms[ld].distance(pd_) / mpm
        h = g.copy()
        uo, vo, ud, vd = (int(net.link_u[lo]), int(net.link_v[lo]), int(net.link_u[ld]), int(net.link_v[ld]))
        with np.errstate(invalid="ignore"):
            h.add_edge("o", uo, weight=wo + (to * net.link_bwd[lo] if to > 0 else 0.0))
            h.add_edge("o", vo, weight=wo + ((1 - to) * net.link_fwd[lo] if to < 1 else 0.0))
            h.add_edge(ud, "d", weight=wd + (td * net.link_fwd[ld] if td > 0 else 0.0))
            h.add_edge(vd, "d", weight=wd + ((1 - td) * net.link_bwd[ld] if td < 1 else 0.0))
        bad = [(a, b, k) for a, b, k, w in h.edges(keys=True, data="weight") if not np.isfinite(w)]
        h.remove_edges_from(bad)
        best = nx.dijkstra_path_length(h, "o", "d") if nx.has_path(h, "o", "d") else np.inf
        if lo == ld:  # straight along the shared link
            drive = (td - to) * net.link_fwd[lo] if td >= to else (to - td) * net.link_bwd[lo]
            best = min(best, wo + wd + drive)
        out[i] = best
    return out


@pytest.fixture(scope="module")
def net():
    return grid_network()


def test_routing_equals_networkx(net):
    trips = random_trips(net, 60, seed=1)
    # a few short trips along one street: the same-link shortcut, both ways along one-way links too
    near = trips.iloc[:12].copy()
    near["destination_lon"] = near["origin_lon"] + np.linspace(-0.0012, 0.0012, 12)
    near["destination_lat"] = near["origin_lat"] + 1e-5
    trips = pd.concat([trips, near], ignore_index=True)
    factors = {"primary": 1.3, "secondary": 0.8}
    got = cal.route_trips(net, trips, factors)
    want = nx_door_to_door(scale_network(net, factors), trips)
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_recovers_known_factors_with_noise_and_outliers(net):
    truth = scale_network(net, TRUE)
    trips = random_trips(net, 400, seed=2)
    rng = np.random.default_rng(3)
    exact = cal.route_trips(truth, trips)
    noisy = exact * np.exp(rng.normal(0, 0.05, exact.size))
    outlier = rng.random(exact.size) < 0.06  # a jam, a wrong address: 1.5 to 3 times the true minutes
    noisy[outlier] *= rng.uniform(1.5, 3.0, outlier.sum())
    trips["minutes"] = noisy
    train, test = trips.iloc[:300], trips.iloc[300:]
    fit = cal.calibrate(net, train)
    for c, f in TRUE.items():
        assert fit.factors[c] == pytest.approx(f, rel=0.05), (c, fit.factors)
    # the outliers are the trips the fit trusts least
    assert fit.weights[outlier[:300]].mean() < 0.5 * fit.weights[~outlier[:300]].mean()
    before = cal.evaluate(net, test, {})
    after = cal.evaluate(net, test, fit.factors)
    assert after["mae_min"] < 0.5 * before["mae_min"]
    assert after["mape"] < before["mape"]
    table = fit.errors()
    assert set(table["class"]) >= {"all", "residential"}
    row = table[table["class"] == "all"].iloc[0]
    assert row["mape_after"] < row["mape_before"]


def test_unused_class_keeps_its_speed(net):
    trips = random_trips(net, 40, seed=4)
    trips["minutes"] = cal.route_trips(net, trips)
    fit = cal.calibrate(net, trips)
    assert all(f == pytest.approx(1.0, abs=1e-3) for f in fit.factors.values())


# -- reading observed trips -------------------------------------------------------------------------------------
def _csv(tmp_path, frame, name="trips.csv"):
    p = tmp_path / name
    frame.to_csv(p, index=False)
    return p


def test_read_trips_converts_gcj02_and_bd09(tmp_path):
    lon, lat = np.array([112.55, 112.60]), np.array([37.85, 37.88])
    g = coords.wgs84_to_gcj02(lon, lat)
    b = coords.wgs84_to_bd09(lon, lat)
    frame = pd.DataFrame({"o_lon": [g[0][0], b[0][0]], "o_lat": [g[1][0], b[1][0]], "d_lon": [g[0][1], b[0][1]],
                          "d_lat": [g[1][1], b[1][1]], "minutes": [12, 14], "crs": ["amap", "BD-09"]})  # fmt: skip
    got = cal.read_trips(_csv(tmp_path, frame))
    np.testing.assert_allclose(got["origin_lon"], lon[[0, 0]], atol=1e-8)
    np.testing.assert_allclose(got["destination_lat"], lat[[1, 1]], atol=1e-8)
    # one system for the whole file
    frame = frame.drop(columns="crs").iloc[:1]
    got = cal.read_trips(_csv(tmp_path, frame), crs="gcj02")
    assert got["origin_lon"].iloc[0] == pytest.approx(lon[0], abs=1e-8)


def test_read_trips_reports_every_bad_row(tmp_path):
    frame = pd.DataFrame({"origin_lon": [112.5, 112.5, "x", 112.5], "origin_lat": [37.8] * 4,
                          "destination_lon": [112.6] * 4, "destination_lat": [37.9] * 4, "minutes": [10, 0, 5, -3],
                          "crs": ["wgs84", "wgs84", "wgs84", "utm"]})  # fmt: skip
    with pytest.raises(InputError) as e:
        cal.read_trips(_csv(tmp_path, frame))
    msg = str(e.value)
    assert "trips.csv" in msg and "line 3: minutes = 0" in msg and "line 4: origin_lon = 'x'" in msg
    assert "line 5: unknown coordinate system 'utm'" in msg and "line 5: minutes = -3" in msg


def test_read_trips_missing_columns_and_unknown_crs(tmp_path):
    frame = pd.DataFrame({"origin_lon": [112.5], "origin_lat": [37.8], "minutes": [3]})
    with pytest.raises(InputError, match="missing column.*destination_lon"):
        cal.read_trips(_csv(tmp_path, frame))
    frame = pd.DataFrame({"origin_lon": [112.5], "origin_lat": [37.8], "destination_lon": [112.6],
                          "destination_lat": [37.9], "minutes": [3]})  # fmt: skip
    with pytest.raises(InputError, match="--crs: unknown coordinate system 'mars'"):
        cal.read_trips(_csv(tmp_path, frame), crs="mars")


def test_read_trips_outside_area(tmp_path):
    area = shapely.box(112.4, 37.7, 112.7, 38.0)
    frame = pd.DataFrame({"origin_lon": [112.5, 37.8], "origin_lat": [37.8, 112.5], "destination_lon": [112.6, 112.6],
                          "destination_lat": [37.9, 37.9], "minutes": [3, 4]})  # fmt: skip
    with pytest.raises(InputError, match="lon/lat"):
        cal.read_trips(_csv(tmp_path, frame), area=area)
    frame.loc[1, ["origin_lon", "origin_lat"]] = [113.5, 37.8]
    with pytest.raises(InputError) as e:
        cal.read_trips(_csv(tmp_path, frame), area=area)
    assert "line 3: origin (113.50000, 37.80000 WGS84) is outside" in str(e.value)


# -- the command line on the demo -------------------------------------------------------------------------------
def test_cli_calibrate_on_the_demo(demo_study_file, tmp_path, capsys):
    from geoaccess.cli import main
    from geoaccess.config import load_study
    from geoaccess.study import Study

    inp = Study.from_file(demo_study_file, output_root=tmp_path).load()
    rng = np.random.default_rng(11)
    pop, fac = inp.population, inp.facilities
    k = 120
    i = rng.choice(len(pop.lon), k, p=pop.people / pop.people.sum())
    j = rng.integers(0, len(fac), k)
    trips = pd.DataFrame({"origin_lon": pop.lon[i], "origin_lat": pop.lat[i],
                          "destination_lon": fac.geometry.x.to_numpy()[j],
                          "destination_lat": fac.geometry.y.to_numpy()[j]})  # fmt: skip
    truth = {"secondary": 0.8, "primary": 0.75, "tertiary": 0.9}
    peak = rng.random(k) < 0.3
    minutes = cal.route_trips(scale_network(inp.network, truth), trips)
    minutes[peak] = cal.route_trips(scale_network(inp.network, {c: 0.6 * f for c, f in truth.items()}), trips[peak])
    o = coords.wgs84_to_bd09(trips["origin_lon"], trips["origin_lat"])
    d = coords.wgs84_to_bd09(trips["destination_lon"], trips["destination_lat"])
    path = _csv(tmp_path, pd.DataFrame({"o_lon": o[0], "o_lat": o[1], "d_lon": d[0], "d_lat": d[1],
                                        "minutes": minutes, "period": np.where(peak, "peak", "")}))  # fmt: skip
    out = tmp_path / "fitted.toml"
    assert (
        main(
            [
                "-q",
                "calibrate",
                str(demo_study_file),
                "--trips",
                str(path),
                "--crs",
                "baidu",
                "--out",
                str(out),
                "--holdout",
                "0.2",
            ]
        )
        == 0  # fmt: skip
    )
    text = capsys.readouterr().out
    rel = Path(os.path.relpath(out, demo_study_file.parent)).as_posix()
    assert "MAE before" in text and "period peak" in text and f'include = ["{rel}"]' in text
    assert "held-out" in text
    study = demo_study_file.read_text(encoding="utf-8")
    included = tmp_path / "with_fit.toml"
    included.write_text(f'include = ["{out.as_posix()}"]\n' + study, encoding="utf-8")
    s = load_study(included, output_root=tmp_path)
    assert s.speeds["secondary"] == pytest.approx(50 * 0.8, rel=0.01)  # noise-free trips: recovered
    assert s.periods["peak"]["secondary"] == pytest.approx(0.6, rel=0.01)
    # bad input: one line naming the file and the fix
    assert main(["-q", "calibrate", str(demo_study_file), "--trips", str(path), "--crs", "mars"]) == 2
    err = capsys.readouterr().err
    assert "trips.csv" in err and "unknown coordinate system 'mars'" in err
