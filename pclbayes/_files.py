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


def check_output_file(path: str | Path, *, option: str | None = "--out") -> Path:
    """Check that ``path`` can be written as a single output file, before any work starts.

    The file may exist already (it is replaced) or be new; its folder must exist. Files are
    then written with :func:`atomic_write_text`, so a failed or interrupted run leaves an
    existing file as it was.

    Parameters
    ----------
    path : str or Path
        The output file.
    option : str or None, default "--out"
        The option that named the file, for the message (None: the path alone).

    Raises
    ------
    OutputError
        If ``path`` is a directory or another non-regular file, if its folder does not exist
        or is not a directory, or if the file or its folder is not writable.
    """
    path = Path(path)
    name = f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise OutputError(f"{name}: is a directory; give a file name, e.g. "
                          f"{path / 'prior.json'}")
    if path.exists() and not path.is_file():
        raise OutputError(f"{name}: exists and is not a regular file")
    folder = path.parent
    if not folder.exists():
        raise OutputError(f"{name}: the folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputError(f"{name}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{name}: the folder {folder} is not writable; choose another one")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{name}: the file is not writable")
    return path


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(path: str | Path) -> None:
    """Give ``path`` the permissions of an ordinary new file (``0o666`` less the umask).

    :func:`tempfile.mkstemp` creates files readable by their owner only; an output renamed
    into place from one would otherwise be unreadable to the rest of a team sharing the
    folder. Every atomic write calls this on its temporary file before the rename.
    """
    os.chmod(path, 0o666 & ~_umask())


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place.

    The temporary file sits in the same folder (so the rename is atomic) and is removed if
    anything fails, including an interruption: ``path`` then keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        new_file_mode(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
