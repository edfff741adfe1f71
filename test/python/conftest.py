"""Shared fixtures: where the built tools and the sources are."""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tools_dir():
    build = pathlib.Path(os.environ.get("UBE_BUILD_DIR", SOURCE_ROOT / "build"))
    path = build / "bin"
    if not (path / "ube-opt").exists():
        pytest.fail(f"ube-opt not found in {path}; build first (scripts/build.sh)")
    return path


@pytest.fixture(scope="session")
def ube_module(tools_dir):
    """The ube Python package from the build tree."""
    sys.path.insert(0, str(tools_dir.parent / "python"))
    import ube
    return ube


@pytest.fixture(scope="session")
def source_root():
    return SOURCE_ROOT


@pytest.fixture
def runner(tools_dir, tmp_path):
    from ubetest import GraphRunner
    return GraphRunner(tools_dir, tmp_path)
