"""``geoaccess serve``: real HTTP against a uvicorn server on a free port (no test client), answers checked against
the what-if the CLI runs for the same scenario."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

pytest.importorskip("starlette", reason="geoaccess serve needs the [serve] extra (pip install -e '.[serve]')")
uvicorn = pytest.importorskip("uvicorn", reason="geoaccess serve needs the [serve] extra")

from geoaccess import Study, load_scenario, whatif  # noqa: E402
from geoaccess.cli import main  # noqa: E402
from geoaccess.errors import InputError  # noqa: E402
from geoaccess.scenarios import make_scenario, to_toml  # noqa: E402
from geoaccess.serve import bind, is_loopback, token_for  # noqa: E402
from geoaccess.serve.app import MAX_BODY_BYTES, create_app  # noqa: E402
from geoaccess.serve.page import build_page  # noqa: E402
from geoaccess.serve.session import Session, dumps, records  # noqa: E402

NEW_COUNTY = {"lon": 112.6, "lat": 38.05, "tier": "county", "beds": 300}
# 10 distinct scenarios of every facility kind and a road edit; the concurrency test sends each 10 times
SCENARIOS = [
    {"add": [NEW_COUNTY]},
    {"add": [NEW_COUNTY], "remove": ["F0100"]},
    {"remove": ["F0010"]},
    {"move": [{"id": "F0010", "lon": 112.6, "lat": 38.05}]},
    {"upgrade": [{"id": "F0050", "tier": "county", "beds": 120}]},
    {"downgrade": [{"id": "F0005", "tier": "primary"}]},
    {"campus": [{"of": "F0001", "lon": 112.3, "lat": 37.75, "beds": 200}]},
    {"road_speed": [{"route": [[112.55, 37.85], [112.6, 38.05]], "kmh": 100}]},
    {
        "add": [{"lon": 112.2, "lat": 37.7, "tier": "primary", "beds": 10}],
        "downgrade": [{"id": "F0002", "tier": "county"}],
    },
    {"add": [{"lon": 112.45, "lat": 38.1, "tier": "regional", "beds": 800}]},
]


class Running:
    """A uvicorn server for ``app`` on a free loopback port, in a thread."""

    def __init__(self, app):
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        assert self.server.started

    def stop(self):
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def call(url, path, body=None, *, raw=None, headers=None, ctype="application/json"):
    """(status, JSON answer, response headers) of a real HTTP request."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    h = dict(headers or {})
    if data is not None:
        h["Content-Type"] = ctype
    req = urllib.request.Request(url + path, data=data, headers=h, method="POST" if data is not None else "GET")
    try:
        with _opener.open(req, timeout=120) as r:
            text = r.read()
            return (
                r.status,
                (json.loads(text) if r.headers.get_content_type() == "application/json" else text),
                r.headers,
            )
    except urllib.error.HTTPError as err:
        text = err.read()
        return (
            err.code,
            (json.loads(text) if err.headers.get_content_type() == "application/json" else text),
            err.headers,
        )


@pytest.fixture(scope="module")
def served(demo_study_file, tmp_path_factory):
    study = Study.from_file(demo_study_file, output_root=tmp_path_factory.mktemp("serve"))
    session = Session(study)
    running = Running(create_app(session, build_page(session)))
    yield running, session
    running.stop()


def _same(answer: dict, result, base) -> None:
    """The API's answer equals ``result`` (a what-if run as the CLI runs it), number for number."""
    assert answer["counties"] == json.loads(dumps(records(result.counties)))
    assert answer["changes"] == json.loads(dumps(records(result.compare(base))))


def test_baseline_and_page(served):
    running, session = served
    status, base, headers = call(running.url, "/api/baseline")
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
    assert base["counties"] == json.loads(dumps(records(session.baseline.counties)))
    assert base["headline"]["counties"] == 10 and len(base["facilities"]) == len(session.baseline.inputs.facilities)
    assert base["study"]["synthetic"]  # the demo says it is synthetic
    status, geo, _ = call(running.url, "/api/geometry")
    assert status == 200 and len(geo["features"]) == 10
    status, page, headers = call(running.url, "/")
    page = page.decode()
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    assert (
        "lib/leaflet/leaflet.js" in page and "lib/serve/serve.js" in page and "https://" not in page.split("<body")[0]
    )
    assert call(running.url, "/lib/leaflet/leaflet.js")[0] == 200
    assert call(running.url, "/lib/serve/serve.js")[0] == 200
    # the bundle's map: its plugin, the facilities file its pages share, the overview and every tier map
    assert "lib/geoaccess/map.js" in page and "data/facilities.js" in page
    assert call(running.url, "/lib/geoaccess/map.js")[0] == 200
    status, script, _ = call(running.url, "/data/facilities.js")
    assert status == 200 and script.decode().startswith("window.geoaccessFacilities=")
    pages = json.loads(page.split('id="ga-pages">', 1)[1].split("</script>", 1)[0])
    assert [p["kind"] for p in pages] == ["tier"] * len(session.tiers)
    assert all(p["surface"]["url"].startswith("data:image/png;base64,") for p in pages)


def test_road_lookup(served):
    """GET /api/road: the nearest link (its junctions make a road_speed route that is that link) and junction."""
    running, session = served
    net = session.baseline.inputs.network
    k = int(np.argmax(shapely.length(net.geometry)))  # a long link: its middle is nearer to it than to any other
    mid = shapely.line_interpolate_point(net.geometry[k], 0.5, normalized=True)
    to_ll = pyproj.Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(mid.x, mid.y)
    status, got, _ = call(running.url, f"/api/road?lon={lon}&lat={lat}")
    assert status == 200 and got["link"]["offroad_m"] < 1.0
    ends = [to_ll.transform(net.x[n], net.y[n]) for n in (net.link_u[k], net.link_v[k])]
    assert np.allclose(got["link"]["ends"], ends, atol=1e-6)
    assert got["link"]["length_m"] == pytest.approx(net.geometry[k].length, abs=0.1)
    d = np.hypot(net.x - mid.x, net.y - mid.y)  # the nearest junction, found naively
    assert got["junction_m"] == pytest.approx(d.min(), abs=0.1)
    assert call(running.url, "/api/road?lon=abc&lat=1")[0] == 400
    assert call(running.url, "/api/road?lon=500&lat=1")[0] == 422
    # the link's junctions as a road_speed route: the change layer and edit reach the page like any other edit
    body = {"road_speed": [{"route": got["link"]["ends"], "kmh": 120}]}
    status, answer, _ = call(running.url, "/api/scenario", body)
    assert status == 200 and set(answer["change"]) == {t["name"] for t in session.tiers}


def test_road_tool_junction_comes_back_as_the_same_junction():
    """A junction the road tools show goes back in a road_add edit at its exact coordinates: the scenario snaps it to
    that junction, not to one 7 cm away (a bridge's node over a road's). Rounded to 6 decimals (as before), its point
    snapped to the other node. A junction on the study area's border comes back a rounding error outside it: such an
    end is in the area, one 1 m out is not."""
    from types import SimpleNamespace

    import geopandas as gpd

    from geoaccess.network import Network
    from geoaccess.scenarios.apply import apply_roads
    from geoaccess.serve.session import RoadTools

    crs = "EPSG:32649"
    # node 0 (A) and node 2 (B) are 7 cm apart and not joined; A rounds to 112.5, 37.8, which is nearer to B
    lon = np.array([112.5000004, 112.51, 112.4999999, 112.4999999])
    lat = np.array([37.8000004, 37.8000004, 37.7999999, 37.79])
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    geometry = shapely.linestrings([[[x[0], y[0]], [x[1], y[1]]], [[x[2], y[2]], [x[3], y[3]]]])
    net = Network(4, np.array([0, 2]), np.array([1, 3]), np.ones(2), np.ones(2), x=np.asarray(x), y=np.asarray(y),
                  geometry=geometry, crs=crs)  # fmt: skip
    tools = RoadTools(net)
    got = tools.at(112.500002, 37.8)  # a click 15 cm east of A (18 cm from B), as the page sends it
    a, far = got["junction"], tools.at(112.51, 37.8)["junction"]
    county = gpd.GeoDataFrame({"county_code": ["140105"]}, geometry=[shapely.box(112.4, 37.7, 112.6, 37.9)],
                              crs="EPSG:4326")  # fmt: skip
    inp = SimpleNamespace(network=net, counties=county)

    def road_from(start):
        return apply_roads(inp, make_scenario("bridge", road_add=[{"from": start, "to": far, "kmh": 50}]))

    edited = road_from(a)
    assert (int(edited.link_u[-1]), int(edited.link_v[-1])) == (0, 1)
    assert a == pytest.approx([lon[0], lat[0]], abs=1e-12) and got["junction_m"] < 0.2
    assert got["link"]["ends"][0] == a
    assert int(road_from([round(v, 6) for v in a]).link_u[-1]) == 2  # rounded: the other junction
    # the county's western border through A: A a rounding error west of it is in, 1 m west is not
    inp.counties = county.set_geometry([shapely.box(a[0], 37.7, 112.6, 37.9)])
    assert int(road_from([float(np.nextafter(a[0], 0.0)), a[1]]).link_u[-1]) == 0
    with pytest.raises(InputError, match="outside the study area"):
        road_from([a[0] - 1e-5, a[1]])


def test_answer_carries_a_change_layer_per_tier(served):
    running, session = served
    status, answer, _ = call(running.url, "/api/scenario", {"add": [NEW_COUNTY]})
    assert status == 200
    changed = answer["cells_changed"]
    base = session.baseline.tiers
    # cells whose minutes changed, counted naively from the scenario run as the CLI runs it
    result = whatif(session.baseline, make_scenario("web", add=[NEW_COUNTY]))
    assert changed == {t: int(np.sum(base[t].minutes != result.tiers[t].minutes)) for t in base}
    assert any(changed.values())
    for tier, img in answer["change"].items():
        assert (img is None) == (changed[tier] == 0)
        if img:
            assert img["url"].startswith("data:image/png;base64,") and len(img["bounds"]) == 2
            # the image covers the window of the changed cells (every one of them, and not the whole raster)
            pop = session.baseline.inputs.population
            moved = base[tier].minutes != result.tiers[tier].minutes
            (s, w), (n, e) = img["bounds"]
            lon, lat = pop.lon[moved], pop.lat[moved]
            assert (lon > w).all() and (lon < e).all() and (lat > s).all() and (lat < n).all()
            assert (e - w) < np.ptp(pop.lon) or (n - s) < np.ptp(pop.lat)


@pytest.fixture(scope="module")
def oracle(demo_study_file, tmp_path_factory):
    """A Study of its own (nothing shared with the server's), as ``geoaccess whatif`` makes one."""
    return Study.from_file(demo_study_file, output_root=tmp_path_factory.mktemp("oracle"))


@pytest.mark.parametrize("i", [1, 4, 6, 7])
def test_api_answers_equal_the_cli_whatif(served, oracle, tmp_path, i):
    """The oracle reads the scenario as a TOML file and runs it as ``geoaccess whatif`` does."""
    running, _ = served
    status, answer, _ = call(running.url, "/api/scenario", SCENARIOS[i])
    assert status == 200, answer
    sc = tmp_path / "sc.toml"
    sc.write_text(to_toml(make_scenario("web", **SCENARIOS[i])), encoding="utf-8")
    result = whatif(oracle, load_scenario(sc))
    _same(answer, result, oracle.baseline)
    assert answer["recompute"] == result.recompute
    assert set(answer["timings"]) >= {"paths", "scoring", "total", "request"}


def test_invalid_edits_are_422_with_every_cli_message(served, demo_study_file, tmp_path, capsys, monkeypatch):
    running, _ = served
    bad = {"add": [{"lon": 12.6, "lat": 38.05, "tier": "hospital"}], "remove": ["F9999"], "upgrade": [{"id": "F0005"}]}
    status, answer, _ = call(running.url, "/api/scenario", bad)
    assert status == 422
    sc = tmp_path / "scenario.toml"
    sc.write_text(to_toml(make_scenario("web", **bad)), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "whatif", str(demo_study_file), str(sc)]) == 2
    cli = [line[4:] for line in capsys.readouterr().err.splitlines() if line.startswith("  - ")]
    assert len(cli) == 4 and answer["problems"] == cli
    # structure problems come all at once too, before anything is computed
    status, answer, _ = call(running.url, "/api/scenario", {"add": [{"lon": "x", "tier": 3}], "remove": [5]})
    assert status == 422 and len(answer["problems"]) >= 4, answer
    status, answer, _ = call(running.url, "/api/scenario", {"scenario": {"name": "../up"}, "add": [NEW_COUNTY]})
    assert status == 422 and "scenario name" in answer["error"]
    status, answer, _ = call(running.url, "/api/scenario", {"bogus": [], "scenario": {"x": 1}})
    assert status == 422 and len(answer["problems"]) == 2


def test_bad_requests(served):
    running, _ = served
    assert call(running.url, "/api/scenario", raw=b"{", ctype="application/json")[0] == 400
    assert call(running.url, "/api/scenario", raw=b"{}", ctype="text/plain")[0] == 415  # no cross-site simple POST
    assert _oversized(running.url, declared=True) == 413  # refused from its Content-Length, before it is read
    assert _oversized(running.url, declared=False) == 413  # a chunked body is counted as it arrives
    assert call(running.url, "/api/baseline", headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding
    assert call(running.url, "/api/nothing")[0] == 404


def _oversized(url: str, declared: bool) -> int:
    import http.client

    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        if declared:
            conn.putrequest("POST", "/api/scenario")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
            conn.endheaders()  # and no body: the answer must not wait for it
        else:
            chunks = [b"[" + b" " * (64 * 1024 - 1)] * (MAX_BODY_BYTES // (64 * 1024)) + [b"]"]
            conn.request("POST", "/api/scenario", body=iter(chunks), encode_chunked=True,
                         headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})  # fmt: skip
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_token_is_required_off_loopback(served):
    _, session = served
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and is_loopback("::1")
    assert token_for("127.0.0.1") is None and len(token_for("0.0.0.0")) >= 32 and token_for("0.0.0.0", "t") == "t"
    guarded = Running(create_app(session, build_page(session), token="s3cret-token"))
    try:
        for path in ("/", "/api/baseline", "/lib/leaflet/leaflet.js"):
            status, answer, _ = call(guarded.url, path)
            assert status == 401 and "token" in answer["error"], path
        assert call(guarded.url, "/api/scenario", {"add": [NEW_COUNTY]})[0] == 401
        assert call(guarded.url, "/api/baseline?token=wrong")[0] == 401
        status, _, headers = call(guarded.url, "/?token=s3cret-token")
        assert status == 200 and "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        assert call(guarded.url, "/api/baseline", headers={"Cookie": "geoaccess_token=s3cret-token"})[0] == 200
        status, answer, _ = call(
            guarded.url, "/api/scenario", {"remove": ["F0010"]}, headers={"X-Geoaccess-Token": "s3cret-token"}
        )
        assert status == 200 and answer["name"] == "web"
    finally:
        guarded.stop()


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_20_clients_100_scenarios_equal_sequential_answers(served, demo_dir):
    running, session = served
    inputs_before = _digest(demo_dir)
    sequential = []
    for body in SCENARIOS:
        status, answer, _ = call(running.url, "/api/scenario", body)
        assert status == 200, answer
        sequential.append(answer)
    session.memo.clear()  # the concurrent requests compute again
    order = [i for _ in range(10) for i in range(len(SCENARIOS))]
    order = order[7:] + order[:7]

    def one(i):
        return i, call(running.url, "/api/scenario", SCENARIOS[i])

    reads = []

    def read_baseline():  # reads of the baseline are answered while scenarios queue
        while not done.is_set():
            t0 = time.perf_counter()
            assert call(running.url, "/api/baseline")[0] == 200
            reads.append(time.perf_counter() - t0)

    done = threading.Event()
    reader = threading.Thread(target=read_baseline)
    reader.start()
    with ThreadPoolExecutor(20) as pool:
        got = list(pool.map(one, order))
    done.set()
    reader.join()
    assert len(got) == 100
    for i, (status, answer, _) in got:
        assert status == 200, answer
        for key in ("counties", "changes", "headline", "facilities", "recompute", "edits"):
            assert answer[key] == sequential[i][key], (i, key)
    assert reads and max(reads) < 30  # not a timing target: the reads were answered while edits ran
    assert _digest(demo_dir) == inputs_before  # edits never touch the study's inputs
    assert not session.study.settings.output.exists()  # nor write anything unless saved


def test_save_writes_the_scenario_and_the_cli_bundle(served, demo_study_file, tmp_path, monkeypatch):
    running, session = served
    body = {"scenario": {"name": "saved-one", "title": "<b>新</b> site"}, **SCENARIOS[1]}
    status, answer, _ = call(running.url, "/api/save", {**body, "bundle": False})
    assert status == 200 and answer["files"] == ["scenario.toml"]
    out = session.study.settings.output / "scenarios" / "saved-one"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["scenario.toml"]
    status, answer, _ = call(running.url, "/api/save", {**body, "bundle": True})
    assert status == 200 and "compare.csv" in answer["files"] and answer["folder"] == "scenarios/saved-one"
    saved = load_scenario(out / "scenario.toml")
    assert saved.edits == make_scenario("x", **SCENARIOS[1]).edits and saved.title == "<b>新</b> site"
    # the CLI on the saved file writes the same table
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "whatif", str(demo_study_file), str(out / "scenario.toml")]) == 0
    (cli_csv,) = tmp_path.rglob("scenarios/saved-one/compare.csv")
    assert cli_csv.read_bytes() == (out / "compare.csv").read_bytes()
    assert sorted(p.name for p in session.study.settings.output.iterdir()) == ["scenarios"]
    # listed and loaded back as the body it was saved from
    status, listed, _ = call(running.url, "/api/scenarios")
    assert status == 200 and {"name": "saved-one", "title": "<b>新</b> site", "edits": 2} in listed["scenarios"]
    status, loaded, _ = call(running.url, "/api/scenarios/saved-one")
    assert status == 200 and loaded["scenario"]["name"] == "saved-one"
    assert (
        call(running.url, "/api/scenario", loaded)[1]["counties"]
        == call(running.url, "/api/scenario", body)[1]["counties"]
    )
    assert call(running.url, "/api/scenarios/nothing-here")[0] == 404
    assert call(running.url, "/api/scenarios/..%2F..%2Fdemo")[0] == 404
    status, answer, _ = call(running.url, "/api/save", {"scenario": {"name": "empty"}})
    assert status == 422
    assert call(running.url, "/api/save", {**body, "bundle": "yes"})[0] == 422


def test_cli_serve_prints_the_url_and_stops_on_ctrl_c(demo_study_file, tmp_path):
    with subprocess.Popen(
        [sys.executable, "-m", "geoaccess", "-q", "serve", str(demo_study_file), "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        try:
            line = proc.stdout.readline()
            assert "serving" in line and "http://127.0.0.1:" in line, line
            url = line.split(" at ")[1].strip().rstrip("/")
            status, answer, _ = call(url, "/api/scenario", {"remove": ["F0010"]})
            assert status == 200 and answer["recompute"]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
            assert "stopped" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_without_the_serve_extra_the_cli_says_what_to_install(capsys, monkeypatch):
    import geoaccess.cli as cli

    def missing(args):
        raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")

    monkeypatch.setattr(cli, "_serve", missing)
    assert cli.main(["-q", "serve", "study.toml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'geoaccess[serve]'" in err
