"""Stored reports: a report whose every input is unchanged is copied, not made again.

A report is a deterministic function of its fits (each one fixed by its fit-cache key:
resolved specification, data, seed, software and pclbayes' own source,
:func:`pclbayes.fitcache.fit_key`), the names, titles and files of the specifications, the
notes on how they were adapted to the data, ``--quick``, ``--seed`` and the data's time
unit. :func:`report_key` hashes exactly these. After a report is built with the fit cache
on, its page (without the header, which says when it was generated), figures, summaries
and what the header needs are stored under that key in ``<fit cache>/reports/``, with the
SHA-256 of every file and of the fit-cache entry each ``fits/*.nc`` file is copied from.

:func:`restore` trusts an entry only if it records the key asked for and every file, and
every fit-cache entry it names, has the recorded checksum; anything else is a warning and
the report is built again (reusing the fit cache as before). Like fit-cache entries, no
stored file is ever executed: the entry is HTML, image, CSV and JSON files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pclbayes import fitcache
from pclbayes._files import new_file_mode
from pclbayes.provenance import canonical_hash

logger = logging.getLogger(__name__)

#: Stored reports kept (the least recently written are removed).
MAX_REPORTS = 16

#: Stands for the header in a stored page (it holds the time the report was generated).
HEADER = "<!--pclbayes:header-->"

_META = "meta.json"
_PAGE = "page.html"
_FORMAT = 1


def report_key(parts: dict[str, Any]) -> str:
    """Hash of everything a report depends on besides its fits' keys, and those keys.

    Parameters
    ----------
    parts : dict
        JSON-serialisable: each specification's name, title, file and fit-cache key (with
        the variants'), the notes on adapting them to the data, ``quick``, ``seed`` and the
        time unit.
    """
    return canonical_hash({"format": _FORMAT, "report": parts})


def directory() -> Path:
    """Where stored reports live: ``reports/`` in the fit cache's directory."""
    return fitcache.cache_dir() / "reports"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store(key: str, out: Path, page: str, meta: dict[str, Any],
          fit_files: dict[str, str]) -> None:
    """Store the report just written into ``out`` under ``key`` (atomically).

    Parameters
    ----------
    key : str
        :func:`report_key`.
    out : Path
        The report folder: its ``figures/``, ``summary.csv`` and ``summary.json`` are stored.
    page : str
        The page with :data:`HEADER` where the header goes.
    meta : dict
        What the header and :class:`pclbayes.report.builder.Report` need (JSON).
    fit_files : dict
        ``{file name in fits/: fit-cache key}``; the entries' checksums are recorded.

    A report whose fits are not all in the fit cache, or a cache that cannot be written,
    is not stored (the second with a warning).
    """
    fits = {}
    for name, fit_key in fit_files.items():
        entry = fitcache.entry_path(fit_key)
        if not entry.is_file():
            return
        fits[name] = {"key": fit_key, "sha256": _sha256(entry)}
    root = directory()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".report-"))
        try:
            (tmp / _PAGE).write_text(page, encoding="utf-8")
            if (out / "figures").is_dir():
                shutil.copytree(out / "figures", tmp / "figures")
            for name in ("summary.csv", "summary.json"):
                if (out / name).is_file():
                    shutil.copyfile(out / name, tmp / name)
            files = {str(p.relative_to(tmp)): _sha256(p)
                     for p in sorted(tmp.rglob("*")) if p.is_file()}
            record = {"key": key, "files": files, "fits": fits, "meta": meta}
            (tmp / _META).write_text(json.dumps(record, sort_keys=True, indent=1),
                                     encoding="utf-8")
            for p in tmp.rglob("*"):
                if p.is_file():
                    new_file_mode(p)
            target = root / key
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(tmp, target)
            except OSError:
                if not target.is_dir():  # else another run stored it meanwhile: keep theirs
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as err:
        logger.warning("could not store the report in %s (%s)", root, err)
        return
    _prune(root)


def restore(key: str, out: Path) -> tuple[str, dict[str, Any]] | None:
    """Copy the report stored under ``key`` into the empty folder ``out``.

    Returns
    -------
    (page, meta) or None
        The stored page (with :data:`HEADER` for the header) and its ``meta``; None when
        nothing is stored under ``key``, or (with a warning) when the entry does not verify,
        in which case ``out`` is left without any of its files.
    """
    entry = directory() / key
    meta_file = entry / _META
    if not meta_file.is_file():
        return None
    copied: list[Path] = []
    try:
        record = json.loads(meta_file.read_text(encoding="utf-8"))
        problem = _problem(entry, key, record)
        if problem is None:
            for name in record["files"]:
                if name == _PAGE:
                    continue
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(entry / name, target)
                copied.append(target)
            for name, fit in record["fits"].items():
                target = out / "fits" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fitcache.entry_path(fit["key"]), target)
                copied.append(target)
                if _sha256(target) != fit["sha256"]:
                    problem = f"fit-cache entry of {name} changed while it was copied"
                    break
        if problem is None:
            page = (entry / _PAGE).read_text(encoding="utf-8")
            if page.count(HEADER) != 1:
                problem = "its page has no place for the header"
            else:
                return page, record["meta"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        problem = f"unreadable: {err}"
    for path in copied:
        path.unlink(missing_ok=True)
    logger.warning("stored report %s failed verification (%s); building it again",
                   key[:16], problem)
    return None


def _problem(entry: Path, key: str, record: dict[str, Any]) -> str | None:
    """Why the stored report in ``entry`` cannot be trusted, or None."""
    if record.get("key") != key:
        return "it records another key"
    if _PAGE not in record["files"]:
        return "it has no page"
    for name, digest in record["files"].items():
        path = entry / name
        if not path.is_file() or _sha256(path) != digest:
            return f"{name} is missing or changed"
    for name, fit in record["fits"].items():
        path = fitcache.entry_path(fit["key"])
        if not path.is_file():
            return f"the fit of {name} is no longer in the fit cache"
        if _sha256(path) != fit["sha256"]:
            return f"the fit-cache entry of {name} changed"
    return None


def _prune(root: Path) -> None:
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime)
    for old in entries[:-MAX_REPORTS]:
        shutil.rmtree(old, ignore_errors=True)
