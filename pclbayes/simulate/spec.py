"""Reading a study specification: the ``[study]`` table and the scenario ``[grid]``.

The kind's own table is checked by its study class (:mod:`pclbayes.simulate.studies`);
this module checks what every study shares. Every error names the file and the key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pclbayes.errors import SpecError

#: Largest number of scenarios a grid may expand to (a typo such as a 10,000-long list
#: should be an error, not a study that never ends).
MAX_SCENARIOS = 10_000


def _where(path: Path | None, key: str, message: str) -> SpecError:
    prefix = f"{path}: " if path is not None else ""
    return SpecError(f"{prefix}{key}: {message}")


def grid_scenarios(grid: Any, path: Path | None = None) -> list[dict[str, Any]]:
    """Expand a ``[grid]`` table into its scenarios (the Cartesian product, in order).

    Parameters
    ----------
    grid : Mapping
        ``{name: list of values}``; a scalar counts as a one-element list. Values must be
        numbers, strings or booleans (finite numbers only).
    path : pathlib.Path or None
        The spec file, for error messages.

    Returns
    -------
    list of dict
        One ``{name: value}`` per scenario; the last key varies fastest. An empty grid
        gives the single scenario ``{}``.

    Raises
    ------
    SpecError
        If the grid is not a table, a list is empty, a value is not a finite scalar, or
        the product has more than :data:`MAX_SCENARIOS` scenarios.
    """
    if not isinstance(grid, Mapping):
        raise _where(path, "[grid]", f"expected a table, got {grid!r}")
    axes: list[list[Any]] = []
    for name, raw in grid.items():
        values = list(raw) if isinstance(raw, list) else [raw]
        if not values:
            raise _where(path, f"[grid] {name}", "empty list: give at least one value")
        for value in values:
            ok = isinstance(value, bool | int | str) or (
                isinstance(value, float) and math.isfinite(value))
            if not ok:
                raise _where(path, f"[grid] {name}",
                             f"{value!r} is not a finite number, string or boolean")
        if len(set(map(repr, values))) != len(values):
            raise _where(path, f"[grid] {name}", f"repeated values in {values!r}")
        axes.append(values)
    count = math.prod(len(a) for a in axes)
    if count > MAX_SCENARIOS:
        raise _where(path, "[grid]", f"{count} scenarios; at most {MAX_SCENARIOS} are allowed")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


# --- the whole study file -----------------------------------------------------------------

#: Largest ``[study] replicates`` a spec may ask for (a typo such as ``replicates = 1e9``
#: should be an error, not a study that never ends).
MAX_REPLICATES = 1_000_000

#: Largest number of tasks (scenarios times replicates) of one study.
MAX_TASKS = 10_000_000

#: Largest ``[study] seed`` plus one: any 63-bit non-negative integer is a seed.
SEED_LIMIT = 2**63

#: Keys of the ``[study]`` table: ``{key: required}``.
STUDY_KEYS: dict[str, bool] = {
    "kind": True, "name": True, "title": True, "seed": True, "replicates": True,
    "description": False,
}

#: Columns the runner adds to every row; neither a grid axis nor a study's row may use them.
RESERVED_COLUMNS = ("scenario_index", "replicate", "seed", "status", "message", "warnings",
                    "seconds")

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_study_table(table: Any, path: Path | None = None) -> dict[str, Any]:
    """Check the ``[study]`` table strictly and return it.

    Parameters
    ----------
    table : Mapping
        The parsed ``[study]`` table.
    path : pathlib.Path or None
        The spec file, for error messages.

    Returns
    -------
    dict
        The table (``description`` defaults to ``""``).

    Raises
    ------
    SpecError
        For a missing or unknown key, or a bad value: ``kind``, ``name`` and ``title`` are
        non-empty strings (``name`` of letters, digits, ``_``, ``-`` and ``.``), ``seed`` is a
        whole number with ``0 <= seed < 2**63``, ``replicates`` a whole number from 1 to
        :data:`MAX_REPLICATES`.
    """
    if not isinstance(table, Mapping):
        raise _where(path, "[study]", "missing: a study file starts with a [study] table")
    for key in table:
        if key not in STUDY_KEYS:
            raise _where(path, f"[study] {key}",
                         f"unknown key; expected one of {', '.join(STUDY_KEYS)}")
    for key, required in STUDY_KEYS.items():
        if required and key not in table:
            raise _where(path, f"[study] {key}", "missing")
    out = dict(table)
    for key in ("kind", "name", "title", "description"):
        value = out.get(key, "")
        if not isinstance(value, str) or (key != "description" and not value.strip()):
            raise _where(path, f"[study] {key}", f"expected a non-empty string, got {value!r}")
    out.setdefault("description", "")
    if not set(out["name"]) <= _NAME_CHARS:
        raise _where(path, "[study] name",
                     f"{out['name']!r}: use letters, digits, '_', '-' and '.' only")
    for key, low, high in (("seed", 0, SEED_LIMIT - 1), ("replicates", 1, MAX_REPLICATES)):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise _where(path, f"[study] {key}", f"expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise _where(path, f"[study] {key}",
                         f"must be from {low} to {high}, got {value}")
    return out


def _import_kind(kind: str, path: Path | None) -> type:
    """The study class a ``kind`` names: a key of ``KINDS`` or ``"module:Class"``."""
    import importlib

    from pclbayes.simulate.studies import KINDS, study_class
    from pclbayes.simulate.study import Study

    if kind in KINDS:
        try:
            return study_class(kind)
        except (ImportError, AttributeError) as exc:
            raise _where(path, "[study] kind", f"{kind!r} is not available ({exc})") from None
    module, sep, name = kind.partition(":")
    if not sep or not module or not name:
        raise _where(path, "[study] kind",
                     f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}, "
                     "or 'module:Class' for your own Study subclass")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise _where(path, "[study] kind",
                     f"cannot import module {module!r} ({exc}); is it on PYTHONPATH?") from None
    except AttributeError:
        raise _where(path, "[study] kind", f"module {module!r} has no {name!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Study)):
        raise _where(path, "[study] kind",
                     f"{kind!r} is not a subclass of pclbayes.simulate.study.Study")
    return cls


def study_from_spec(raw: Mapping[str, Any], path: Path | None = None):
    """Build the :class:`~pclbayes.simulate.study.Study` a parsed study document describes.

    Checks the ``[study]`` table (:func:`check_study_table`), the top-level tables (only
    ``study``, ``grid`` and the kind's :attr:`Study.tables <pclbayes.simulate.study.Study>`),
    the grid (:func:`grid_scenarios`; no axis may be named like a runner column,
    :data:`RESERVED_COLUMNS`) and the number of tasks (at most :data:`MAX_TASKS`); the
    kind's own tables are checked by its constructor.

    Raises
    ------
    SpecError
        Naming ``path`` and the key.
    """
    table = check_study_table(raw.get("study"), path)
    cls = _import_kind(table["kind"], path)
    allowed = {"study", "grid", *cls.tables}
    for key, value in raw.items():
        if key not in allowed:
            known = ", ".join(f"[{name}]" for name in ("study", "grid", *cls.tables))
            raise _where(path, f"[{key}]" if isinstance(value, Mapping) else key,
                         f"unknown top-level {'table' if isinstance(value, Mapping) else 'key'}"
                         f"; a {table['kind']!r} study has {known}")
    spec = dict(raw)
    spec["study"] = table
    for axis in spec.get("grid", {}) if isinstance(spec.get("grid"), Mapping) else ():
        if axis in RESERVED_COLUMNS:
            raise _where(path, f"[grid] {axis}", "is a column the runner adds; rename the axis")
    study = cls(spec, path)
    count = len(study.scenarios()) * table["replicates"]
    if count > MAX_TASKS:
        raise _where(path, "[study] replicates",
                     f"{count} tasks (scenarios x replicates); at most {MAX_TASKS} are allowed")
    return study


def bundled_studies() -> dict[str, Path]:
    """``{file stem: path}`` of the bundled study specs (the repository's ``studies/``)."""
    from pclbayes._paths import BUNDLED_STUDIES

    if not BUNDLED_STUDIES.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUNDLED_STUDIES.glob("*.toml"))}


def resolve_study_path(name: str | Path) -> Path:
    """The spec file ``name`` means: a path to a TOML file, or a bundled study's file stem.

    Raises
    ------
    SpecError
        If ``name`` is neither an existing path nor the stem of a bundled study.
    """
    path = Path(name)
    if path.exists() or path.suffix == ".toml" or len(path.parts) > 1:
        return path
    bundled = bundled_studies()
    if str(name) in bundled:
        return bundled[str(name)]
    known = ", ".join(bundled) or "none"
    raise SpecError(f"{name}: no such study file, and not a bundled study (bundled: {known})")


def load_study(path: str | Path):
    """Read a study spec (TOML) and return its :class:`~pclbayes.simulate.study.Study`.

    Parameters
    ----------
    path : str or Path
        A TOML file, or the file stem of a bundled study (``"sbc_beta_binomial"``).

    Raises
    ------
    SpecError
        For a missing, unreadable, UTF-16 or non-UTF-8 file, invalid TOML, or any invalid
        key (the message names the file and the key).
    """
    from pclbayes.specs import read_toml

    path = resolve_study_path(path)
    return study_from_spec(read_toml(path), path)


def spec_hash(study) -> str:
    """SHA-256 of what decides a study's rows: every table but ``[study] title/description``.

    The hash covers the kind, name, seed and replicates, the scenarios in order (their order
    fixes each task's seed) and the kind's own tables (keys sorted). Two specs with equal
    hashes give equal rows; a results store refuses rows of a spec with another hash.
    """
    import hashlib
    import json

    table = {k: v for k, v in study.spec["study"].items() if k not in ("title", "description")}
    others = {k: v for k, v in study.spec.items() if k not in ("study", "grid")}
    payload = {"study": table, "scenarios": study.scenarios(), "tables": others}
    # Sorting keys is safe: the scenarios stay a list, in the order that fixes the seeds.
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
