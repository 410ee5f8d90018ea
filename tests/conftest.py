"""Shared fixtures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pclbayes._paths import BUNDLED_DATA


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled data directory."""
    dest = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA, dest, ignore=shutil.ignore_patterns("README.md"))
    return dest


@pytest.fixture(scope="session", autouse=True)
def _private_fit_cache(tmp_path_factory):
    """Reports made by the tests store their fits in a temporary fit cache, not the user's."""
    old = os.environ.get("PCLBAYES_CACHE_DIR")
    os.environ["PCLBAYES_CACHE_DIR"] = str(tmp_path_factory.mktemp("fit-cache"))
    yield
    if old is None:
        os.environ.pop("PCLBAYES_CACHE_DIR", None)
    else:
        os.environ["PCLBAYES_CACHE_DIR"] = old


#: Session fixtures that take most of a minute to build: a test using one is ``heavy``.
HEAVY_FIXTURES = frozenset({"quick_report"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reads a heavy session fixture as ``heavy``."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.heavy)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory, _private_fit_cache) -> Path:
    """The bundled report (``pclbayes report --quick --seed 7``), built once per session.

    Read-only: every report test reads this one folder (about 20 fits). A test that changes
    files copies it first (``shutil.copytree(quick_report, tmp_path / "report")``).
    """
    from pclbayes.cli import main

    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--quick", "--quiet", "--seed", "7", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_reaches_the_tests():
    """Run the tests with Python's Ctrl-C handler even when started as a background job.

    A shell starts background jobs with SIGINT ignored, and ignored signals stay ignored in
    child processes; the tests that press Ctrl-C (in-process and in subprocesses) need it to
    arrive. A Python handler, unlike SIG_IGN, is reset to the default in a child.
    """
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
