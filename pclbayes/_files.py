"""Safe output files: atomic writes, and output folders checked before any work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pclbayes.errors import PclBayesError


class OutputError(PclBayesError, OSError):
    """An output path cannot be used (wrong kind of file, not writable)."""


def check_output_dir(path: str | Path) -> Path:
    """Check that ``path`` is, or can be created as, a writable directory.

    Called before a command fits anything, so that no fit is lost to a bad ``--out``.

    Raises
    ------
    OutputError
        If ``path`` exists but is not a directory, or cannot be written to (or created).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {path}: exists and is not a directory; choose a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"--out {path}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {path}: {probe} is not writable; choose another folder")
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
