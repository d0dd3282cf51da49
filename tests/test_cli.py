"""The command line: one line per error (exit code 2), never a traceback, for bad input and missing extras."""

from __future__ import annotations

import pytest

import geoaccess.cli as cli
from tests.test_load_study import make_study


@pytest.mark.parametrize("command", ["info", "run"])
@pytest.mark.parametrize(("text", "message"), [("id,name,tier,beds,lon,lat\n", "header but no rows"), ("", "is empty")])
def test_empty_facilities_files_name_the_file(tmp_path, capsys, monkeypatch, command, text, message):
    monkeypatch.chdir(tmp_path)  # the output folder is relative to the current directory
    study = make_study(tmp_path)
    (tmp_path / "f.csv").write_text(text, encoding="utf-8")
    assert cli.main(["-q", command, str(study)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("geoaccess: error: ") and "f.csv" in err and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("module", "fix"), [("spopt", "pip install 'geoaccess[exact]'"), ("osmnx", "pip install 'geoaccess[fetch]'")]
)
def test_a_missing_optional_package_is_one_line(tmp_path, capsys, monkeypatch, module, fix):
    def missing(args):
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    monkeypatch.setattr(cli, "_info", missing)
    assert cli.main(["-q", "info", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and module in err and fix in err


def test_no_network_is_one_line(capsys, monkeypatch):
    def offline(args):
        raise ConnectionError("Max retries exceeded with url: nominatim (Temporary failure in name resolution)")

    monkeypatch.setattr(cli, "_fetch", offline)
    assert cli.main(["-q", "fetch", "--place", "太原市"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("geoaccess: error: Max retries") and err.count("\n") == 1


def test_study_file_problems_are_one_line(tmp_path, capsys):
    (tmp_path / "folder.toml").mkdir()
    assert cli.main(["-q", "info", str(tmp_path / "folder.toml")]) == 2
    assert "this is a folder" in capsys.readouterr().err
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes('[study]\nname = "t"\ntitle = "太原市"\n'.encode("gbk"))
    assert cli.main(["-q", "run", str(gbk)]) == 2
    err = capsys.readouterr().err
    assert "gbk.toml" in err and "save it as UTF-8" in err


def _demo_root(tmp_path, road_study: str, mixed_study: str):
    """A demo root whose inputs count as built (``geoaccess demo`` skips building them) and whose two studies are
    the given texts."""
    (tmp_path / "data" / "demo").mkdir(parents=True)
    for f in ("roads.osm.pbf", "dem.tif", "landcover.tif"):
        (tmp_path / "data" / "demo" / f).write_bytes(b"")
    (tmp_path / "data" / "studies").mkdir()
    (tmp_path / "data" / "studies" / "demo.toml").write_text(road_study, encoding="utf-8")
    (tmp_path / "data" / "studies" / "demo-mixed.toml").write_text(mixed_study, encoding="utf-8")
    return tmp_path


def test_the_mixed_demo_process_sends_back_its_error_as_one_message(tmp_path):
    import logging
    import multiprocessing

    root = _demo_root(tmp_path, "", "[study]\nname = 'x'\nbogus = 1\n")
    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe(duplex=False)
    child = ctx.Process(target=cli._mixed_demo_child, args=(child_conn, logging.WARNING,
                        str(root / "data" / "studies" / "demo-mixed.toml"), str(root), False, False))  # fmt: skip
    child.start()
    child_conn.close()
    kind, message = conn.recv()
    child.join()
    assert kind == "error" and "demo-mixed.toml" in message and child.exitcode == 0


def test_a_failing_road_demo_stops_the_mixed_study_beside_it(tmp_path, capsys, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)  # the two studies side by side, as on any 2-core machine
    root = _demo_root(tmp_path, "[study]\nname = 'demo'\nbogus = 1\n", "[study]\nname = 'demo-mixed'\n")
    assert cli.main(["-q", "demo", "--root", str(root)]) == 2
    assert "demo.toml" in capsys.readouterr().err
    assert not [p for p in multiprocessing.active_children() if p.name == "geoaccess demo-mixed"]


@pytest.mark.parametrize("threads", [1, 2])
def test_the_mixed_demo_process_is_forked_only_from_one_thread(tmp_path, monkeypatch, threads):
    import sys
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: threads)
    root = _demo_root(tmp_path, "", "[study]\nname = 'x'\nbogus = 1\n")
    child, conn = cli._start_mixed_child((str(root / "data" / "studies" / "demo-mixed.toml"), str(root), False, False))
    kind, message = conn.recv()
    child.join()
    assert kind == "error" and "demo-mixed.toml" in message and child.exitcode == 0
    forked = threads == 1 and sys.platform == "linux"
    assert type(child).__name__ == ("ForkProcess" if forked else "SpawnProcess")


def test_the_road_demo_yields_on_a_thread_of_its_own_and_the_caller_keeps_its_priority():
    import os
    import sys
    import threading

    linux = sys.platform == "linux" and hasattr(os, "getpriority")
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) if linux else None

    def nice_here():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) if linux else None

    got = cli._yielding(nice_here)
    if linux:
        assert got == min(19, before + cli.YIELD_NICE)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before

    def fails():
        raise ValueError("the road study's own error")

    with pytest.raises(ValueError, match="road study's own error"):
        cli._yielding(fails)
