"""The report's output folder: locked, built aside and swapped in whole.

A report is written into a temporary folder beside ``--out`` (``.<name>.tmp-XXXX``, in
the same parent, so on the same file system) and replaces ``--out`` only once every file
is written: with one atomic exchange of the two folders where the file system offers it
(Linux ``renameat2(RENAME_EXCHANGE)``), else by renaming the old folder aside, the new one
in, and deleting the old. A run that fails or is interrupted removes its temporary
folder and leaves the previous report as it was; the report's files never mix with those
of another run.

Only one run at a time may write a folder: :class:`OutputFolder` holds an exclusive
``flock`` on ``.<name>.lock`` beside it, and a second run is refused at once.

Because the whole folder is replaced, a folder that holds anything but the files of a
report (``report.html``, ``summary.csv``, ``summary.json``, ``figures/*.png|svg``,
``fits/*.nc``) is refused rather than deleted.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import secrets
import shutil
import stat
import sys
from pathlib import Path
from types import TracebackType

from pclbayes._interrupts import sigint_deferred
from pclbayes.errors import ReportOutputError

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None

logger = logging.getLogger(__name__)

#: Files a report folder may hold at its top level, and the suffixes of its subfolders.
REPORT_FILES = frozenset({"report.html", "summary.csv", "summary.json"})
REPORT_DIRS = {"figures": (".png", ".svg"), "fits": (".nc",)}


class OutputFolder:
    """Exclusive, all-or-nothing writing of one report folder.

    Use as a context manager: entering takes the lock (:class:`ReportOutputError` if
    another run holds it) and checks the folder; :meth:`staging` gives the temporary folder
    to write into; :meth:`commit` swaps it in. Leaving the block without a commit (an
    error or an interruption) removes the temporary folder; the lock is released on exit.

    Parameters
    ----------
    out : path
        The output folder as the user named it (used in messages). A symbolic link is
        followed: the folder it points to is replaced.
    """

    def __init__(self, out: str | Path) -> None:
        self.shown = Path(out)
        self.path = self.shown.resolve()
        self.parent = self.path.parent
        self.lock_path = self.parent / f".{self.path.name}.lock"
        self._lock_fd: int | None = None
        self._staging: Path | None = None

    # ------------------------------------------------------------------ context
    def __enter__(self) -> OutputFolder:
        self.check()
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportOutputError(f"cannot create the folder {self.parent} "
                                    f"({exc.strerror})") from None
        self._lock()
        try:
            self._recover()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.discard()
        finally:
            self._unlock()

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Refuse a folder this run may not replace (see the module docstring).

        Raises
        ------
        ReportOutputError
            If ``out`` is a file, is or holds the current directory, or holds files that
            are not part of a report.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ReportOutputError(f"{self.shown} is not a directory")
        cwd = Path.cwd().resolve()
        if cwd == self.path or self.path in cwd.parents:
            raise ReportOutputError(f"{self.shown} is or holds the current directory; the "
                                    "report replaces its output folder as a whole, so choose "
                                    "a folder of its own")
        if self.path.is_dir():
            foreign = foreign_entries(self.path)
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise ReportOutputError(
                    f"{self.shown} holds files that are not part of a pclbayes report "
                    f"({shown}); the report replaces the whole folder, so move them or "
                    "choose a new --out")

    # ------------------------------------------------------------------ lock
    def _lock(self) -> None:
        if fcntl is None:
            return
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ReportOutputError(f"cannot create the lock file {self.lock_path} "
                                        f"({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ReportOutputError(f"another pclbayes report is writing {self.shown} "
                                        f"(lock {self.lock_path}); wait for it to finish or "
                                        "choose another --out") from None
            except OSError as exc:
                os.close(fd)
                raise ReportOutputError(f"cannot lock {self.lock_path} "
                                        f"({exc.strerror})") from None
            if _same_file(fd, self.lock_path):
                self._lock_fd = fd
                return
            os.close(fd)  # the previous holder removed the file meanwhile: lock the new one

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        try:
            self.lock_path.unlink(missing_ok=True)  # removed while held: see _lock
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ staging
    def _recover(self) -> None:
        """Clean up after a run that was killed (no cleanup of its own).

        Its temporary folders are removed. A folder renamed aside just before the swap
        (``.<name>.old-*``, only without an atomic exchange) is the previous report: it
        is put back if ``out`` is missing, else removed.
        """
        for entry in self._siblings(".tmp-"):
            shutil.rmtree(entry, ignore_errors=True)
        for entry in self._siblings(".old-"):
            if not self.path.exists():
                os.rename(entry, self.path)
                logger.warning("restored the previous report %s from %s", self.shown, entry)
            else:
                shutil.rmtree(entry, ignore_errors=True)

    def _siblings(self, kind: str) -> list[Path]:
        """Folders this folder's runs name ``.<name><kind><8 hex digits>``."""
        pattern = re.compile(rf"\.{re.escape(self.path.name)}{re.escape(kind)}[0-9a-f]{{8}}")
        return sorted(p for p in self.parent.iterdir() if pattern.fullmatch(p.name)
                      and p.is_dir() and not p.is_symlink())

    def staging(self) -> Path:
        """The temporary folder to write the report into (created on first call)."""
        while self._staging is None:
            path = self.parent / f".{self.path.name}.tmp-{secrets.token_hex(4)}"
            try:
                path.mkdir(mode=0o777)  # the umask applies, as to any new folder
            except FileExistsError:
                continue
            except OSError as exc:
                raise ReportOutputError(f"cannot write in {self.parent} "
                                        f"({exc.strerror})") from None
            self._staging = path
        return self._staging

    def discard(self) -> None:
        """Remove the temporary folder (if any), leaving ``out`` as it was."""
        if self._staging is not None:
            with sigint_deferred():
                shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def commit(self) -> None:
        """Replace ``out`` by the temporary folder, as atomically as the file system allows.

        Raises
        ------
        ReportOutputError
            If files that are not part of a report appeared in ``out`` during the run (it
            is then left as it is), or the folders cannot be renamed.
        """
        new = self.staging()
        self.check()
        if self.path.is_dir():  # keep the folder's permissions
            os.chmod(new, stat.S_IMODE(self.path.stat().st_mode))
        with sigint_deferred():
            try:
                _replace(new, self.path)
            except OSError as exc:
                raise ReportOutputError(f"cannot replace {self.shown} ({exc.strerror}); the "
                                        "previous report is left as it was") from None
            self._staging = None


def foreign_entries(folder: Path) -> list[str]:
    """Entries of ``folder`` that a report does not write (relative paths, sorted)."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.name in REPORT_FILES and entry.is_file() and not entry.is_symlink():
            continue
        suffixes = REPORT_DIRS.get(entry.name)
        if suffixes is not None and entry.is_dir() and not entry.is_symlink():
            foreign += [f"{entry.name}/{p.name}" for p in sorted(entry.iterdir())
                        if not (p.is_file() and not p.is_symlink()
                                and p.name.endswith(suffixes))]
            continue
        foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    return foreign


def _replace(new: Path, target: Path) -> None:
    """Put folder ``new`` in place of ``target`` (which may not exist) and delete the old."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # now holds the previous report
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
