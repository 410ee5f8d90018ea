"""Shared fixtures."""

from __future__ import annotations

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
