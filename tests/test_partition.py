"""Partitioned runs on Dask distributed (geoaccess.partition): equal to one run, byte for byte.

A small synthetic region (Taiyuan 1401 + Jinzhong 1407, 2 km cells, sparse roads) is run once in one process and
then by prefecture on a 2-worker LocalCluster shared by the tests (workers of 1 GB; the machine is shared).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socket
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from geoaccess import partition  # noqa: E402
from geoaccess.cli import main  # noqa: E402
from geoaccess.config import ConfigError, ScaleSettings, parse_study, scale_settings  # noqa: E402
from geoaccess.errors import GeoaccessError, InputError  # noqa: E402
from geoaccess.network import Network  # noqa: E402
from geoaccess.regions import build_region, plan_region, study_text  # noqa: E402
from geoaccess.study import Study  # noqa: E402

PREFIXES = ["1401", "1407"]


@pytest.fixture(scope="module")
def fault_file(tmp_path_factory) -> Path:
    """The kill hook's trigger file (armed by creating it); the cluster's workers start with it in their env."""
    return tmp_path_factory.mktemp("fault") / "kill-a-worker"


@pytest.fixture(scope="module")
def cluster(fault_file):
    mp = pytest.MonkeyPatch()
    mp.setenv(partition.FAULT_ENV, str(fault_file))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB", dashboard_address=":0"
    ) as lc:
        yield lc
    mp.undo()


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    """The region's inputs and a study file beside them (``maps/`` under the same folder)."""
    root = tmp_path_factory.mktemp("partition")
    plan = plan_region(PREFIXES, cell_m=2000, scale=0.3)
    build_region(plan.prefixes, root / "r", plan=plan, check=False)
    text = study_text(plan, 2020, []).replace(f"../regions/{plan.slug}", "r")
    (root / "study.toml").write_text(text, encoding="utf-8")
    return root


def _study(region: Path, out: str) -> Study:
    return Study.from_file(region / "study.toml", output_root=region / out)


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def monolithic(region):
    study = _study(region, "mono")
    return study.run()


@pytest.fixture(scope="module")
def partitioned(region, cluster):
    study = _study(region, "part")
    return partition.run(study, ScaleSettings("prefecture", cluster.scheduler_address))


def test_partitioned_equals_monolithic(monolithic, partitioned):
    a, b = monolithic.output, partitioned.output
    for name in ("counties.csv", "facilities.csv", "referrals.csv", "overall.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for tier, r in monolithic.tiers.items():
        q = partitioned.tiers[tier]
        assert np.array_equal(r.minutes, q.minutes, equal_nan=True), tier
        assert np.array_equal(r.facility, q.facility), tier


def test_every_county_once_and_the_halo_bound_holds(monolithic, partitioned):
    parts = partitioned.partitions
    assert list(parts["partition"]) == PREFIXES
    assert parts["counties"].sum() == len(monolithic.counties)
    assert sorted(partitioned.partition_of_county) == sorted(c[:4] for c in monolithic.counties["county_code"])
    # no pair reaches beyond the halo radius derived from the cutoff and the top speed (README)
    assert (parts["farthest_pair_km"] <= parts["halo_km"]).all()
    assert (parts["halo_min"] == 120).all()
    # the partitions' blocks reach across the prefecture border: a per-partition capacity coverage would
    # not be exact, which is why it runs over the gathered blocks
    assert (parts["halo_cells"] > 0).all()


def test_bundle_links_every_partition(partitioned):
    out = partitioned.output
    table = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig", dtype={"partition": str})
    assert list(table["partition"]) == PREFIXES
    index = (out / "index.html").read_text(encoding="utf-8")
    for key in PREFIXES:
        page = out / f"partition_{key}.html"
        assert page.exists() and f'href="partition_{key}.html"' in index
    assert 'href="partitions.csv"' in index
    page = (out / "partition_1407.html").read_text(encoding="utf-8")
    assert "140702" in page and "140105" not in page  # its own counties only


def test_killed_worker_is_retried_with_the_same_result(region, cluster, fault_file, monolithic):
    fault_file.write_text("armed")
    study = _study(region, "killed")
    study.settings = dataclasses.replace(study.settings, scale=ScaleSettings("prefecture"))
    with distributed.Client(cluster) as client:
        result = partition.compute(study, client)
    assert not fault_file.exists()  # a worker took the trigger and died mid-task
    assert result.counties.to_csv() == monolithic.counties.to_csv()
    for tier, r in monolithic.tiers.items():
        assert np.array_equal(r.minutes, result.tiers[tier].minutes, equal_nan=True)


def test_command_line_on_a_scheduler(region, cluster, monolithic, capsys):
    args = ["-q", "run", str(region / "study.toml"), "--partition", "prefecture"]
    cwd = os.getcwd()
    os.chdir(region)  # the bundle goes to maps/<name> under the current folder
    try:
        assert main([*args, "--scheduler", cluster.scheduler_address]) == 0
    finally:
        os.chdir(cwd)
    out = region / "maps" / monolithic.output.name
    assert (out / "counties.csv").read_bytes() == (monolithic.output / "counties.csv").read_bytes()
    assert (out / "partition_1401.html").exists()


def test_local_cluster_sized_from_settings():
    with partition.dask_client(ScaleSettings("province", None, 1, 0.5)) as client:
        info = client.scheduler_info()["workers"]
    assert len(info) == 1
    assert [w["memory_limit"] for w in info.values()] == [int(0.5 * 2**30)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_that_does_not_answer(region, capsys, monkeypatch):
    address = f"tcp://127.0.0.1:{_free_port()}"
    study = _study(region, "nosched")
    with pytest.raises(GeoaccessError, match="does not answer") as err:
        partition.run(study, ScaleSettings("prefecture", address))
    assert address in str(err.value)
    assert not (region / "nosched").exists()  # nothing written
    monkeypatch.setattr(partition, "CONNECT_TIMEOUT_S", 2)  # the command line says the same, sooner
    code = main(["-q", "run", str(region / "study.toml"), "--partition", "prefecture", "--scheduler", address])
    assert code == 2
    assert address in capsys.readouterr().err


def test_failing_partition_leaves_the_previous_bundle(region, cluster, tmp_path):
    # a copy of the inputs, run once into a bundle; then the roads file breaks after the client has read it,
    # so every partition's task fails loading its inputs (the input cache is off: workers read the files)
    shutil.copytree(region / "r", tmp_path / "r")
    shutil.copy(region / "study.toml", tmp_path / "study.toml")
    scale = ScaleSettings("prefecture", cluster.scheduler_address)
    first = _study(tmp_path, "maps-root")
    first.use_cache = False
    out = partition.run(first, scale).output
    before = _files(out)
    study = _study(tmp_path, "maps-root")
    study.use_cache = False
    study.load()
    (tmp_path / "r" / "roads.osm.pbf").write_bytes(b"not a pbf file")
    with pytest.raises(InputError, match=r"partition 14\d\d: .*roads\.osm\.pbf"):
        partition.run(study, scale)
    assert _files(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary folder or lock left


def test_counties_without_adcodes_name_the_field():
    counties = pd.DataFrame({"county_code": ["140105", "A7"], "county_name": ["x", "y"]})
    with pytest.raises(InputError, match="code_field"):
        partition.county_partitions(counties, "prefecture")
    ok = pd.DataFrame({"county_code": ["140105", "140702"]})
    assert list(partition.county_partitions(ok, "province")) == ["14", "14"]
    assert list(partition.county_partitions(ok, "prefecture")) == ["1401", "1407"]


def test_scale_settings(region):
    path = region / "study.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert parse_study(data, path).scale == ScaleSettings()
    data["scale"] = {"partition": "province", "scheduler": "tcp://10.0.0.5:8786"}
    assert parse_study(data, path).scale == ScaleSettings("province", "tcp://10.0.0.5:8786", 0, 0.0)
    with pytest.raises(ConfigError, match="partition"):
        scale_settings("county")
    with pytest.raises(ConfigError, match="scheduler"):
        scale_settings("province", "10.0.0.5 8786")
    with pytest.raises(ConfigError, match="workers"):
        scale_settings("province", workers=-1)
    data["scale"] = {"partitions": "province"}
    with pytest.raises(ConfigError, match="unknown key"):
        parse_study(data, path)
    n, mem = partition.local_cluster_size(ScaleSettings("province"))
    assert n == (os.cpu_count() or 1) and mem > 0


def test_top_speed_bounds_every_trip():
    # 1 km at 1 min (60 km/h) and 2 km at 1 min (120 km/h, the top), straight links between node coordinates
    net = Network.from_arrays(
        np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]), x=np.array([0.0, 1000, 3000]), y=np.zeros(3)
    )
    assert partition.top_speed_kmh(net, 4.5) == pytest.approx(120.0)
    assert partition.halo_km(60, 120.0) == 120.0


def test_reach_equals_numpy():
    from geoaccess.paths import Pairs

    rng = np.random.default_rng(3)
    n_pts, count = 500, np.array([40, 0, 7, 120, 1])
    start = np.zeros(count.size, dtype=np.int64)
    start[[3, 0, 4, 2]] = np.cumsum([0, 120, 40, 1])  # blocks in any buffer order; an empty one at -1
    start[1] = -1
    point = rng.integers(0, n_pts, count.sum()).astype(np.int32)
    pairs = Pairs(start, count, point, rng.random(count.sum()))
    cx, cy = rng.random(n_pts) * 5e4, rng.random(n_pts) * 5e4
    fx, fy = rng.random(count.size) * 5e4, rng.random(count.size) * 5e4
    cells, far = partition.reach(pairs, fx, fy, cx, cy)
    owner = np.repeat(np.arange(count.size), count)  # the naive way: each block's pairs with its facility
    pts = np.concatenate([point[start[i] : start[i] + count[i]] for i in range(count.size)])
    np.testing.assert_array_equal(cells, np.unique(point))
    assert far == np.sqrt(((cx[pts] - fx[owner]) ** 2 + (cy[pts] - fy[owner]) ** 2).max()) / 1000.0
    empty = Pairs(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0))
    assert partition.reach(empty, fx[:1], fy[:1], cx, cy)[1] == 0.0


def test_missing_distributed_is_one_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(GeoaccessError, match=r"pip install 'geoaccess\[dask\]'"):
        partition._distributed()
