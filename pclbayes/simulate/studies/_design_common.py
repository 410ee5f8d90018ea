"""Shared pieces of the design-evaluation studies: strict spec checks and OC tables.

Every check raises :class:`pclbayes.errors.SpecError` naming the spec file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.errors import SpecError

#: Diagnostics columns every row carries (NaN where the analysis is exact, not MCMC).
DIAGNOSTIC_COLUMNS = ("max_rhat", "min_ess_bulk", "divergences")


class Where:
    """Builds :class:`SpecError` messages that name the spec file (if any) and the key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.prefix = f"{path}: " if path is not None else ""

    def __call__(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.prefix}{key}: {message}")

    def resolve(self, value: str) -> Path:
        """A path from the spec: relative paths are taken from the spec file's folder."""
        p = Path(value).expanduser()
        if not p.is_absolute() and self.path is not None:
            p = Path(self.path).parent / p
        return p


def kind_table(where: Where, spec: Mapping[str, Any], names: Sequence[str]) -> tuple[str, dict]:
    """The kind's own table: exactly one of ``names`` (e.g. ``design``, ``survival_design``)."""
    present = [n for n in names if n in spec]
    if len(present) != 1:
        listed = " or ".join(f"[{n}]" for n in names)
        got = ", ".join(f"[{n}]" for n in present) if present else "none"
        raise where(listed, f"give exactly one of these tables (got {got})")
    name = present[0]
    table = spec[name]
    if not isinstance(table, Mapping):
        raise where(f"[{name}]", f"expected a table, got {table!r}")
    return name, dict(table)


def no_unknown(where: Where, key: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Refuse keys of ``table`` that are not in ``allowed``."""
    for k in table:
        if k not in allowed:
            raise where(f"{key} {k}", f"unknown key; allowed: {', '.join(allowed)}")


def number(where: Where, key: str, value: Any, *, low: float | None = None,
           high: float | None = None, low_open: bool = False, high_open: bool = False) -> float:
    """A finite number inside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise where(key, f"expected a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise where(key, f"must be {'>' if low_open else '>='} {low:g}, got {v:g}")
    if high is not None and (v > high or (high_open and v == high)):
        raise where(key, f"must be {'<' if high_open else '<='} {high:g}, got {v:g}")
    return v


def integer(where: Where, key: str, value: Any, minimum: int) -> int:
    """An integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise where(key, f"expected an integer, got {value!r}")
    if value < minimum:
        raise where(key, f"must be >= {minimum}, got {value}")
    return int(value)


def text(where: Where, key: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise where(key, f"expected a non-empty string, got {value!r}")
    return value


def choice(where: Where, key: str, value: Any, options: Sequence[str]) -> str:
    """One of ``options``."""
    if value not in options:
        raise where(key, f"expected one of {', '.join(map(repr, options))}, got {value!r}")
    return str(value)


def grid_names(where: Where, spec: Mapping[str, Any], required: Sequence[str],
               allowed: Sequence[str]) -> list[str]:
    """The ``[grid]`` keys, checked: every ``required`` one present, none outside ``allowed``."""
    grid = spec.get("grid", {})
    if not isinstance(grid, Mapping):
        raise where("[grid]", f"expected a table, got {grid!r}")
    for name in grid:
        if name not in allowed:
            raise where(f"[grid] {name}", f"unknown key; allowed: {', '.join(allowed)}")
    missing = [n for n in required if n not in grid]
    if missing:
        raise where("[grid]", f"missing {', '.join(missing)} (the true values to simulate)")
    return list(grid)


def ok_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of finished tasks (``status == "ok"``; all rows when there is no status)."""
    if "status" in results.columns:
        return results[results["status"] == "ok"]
    return results


def proportion(values: pd.Series) -> tuple[float, float]:
    """Mean of 0/1 values and its Monte-Carlo SE ``sqrt(p (1 - p) / R)`` (NaN if empty)."""
    v = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if v.empty:
        return float("nan"), float("nan")
    p = float(v.mean())
    return p, float(math.sqrt(max(p * (1 - p), 0.0) / len(v)))


def mean_se(values: pd.Series) -> tuple[float, float]:
    """Mean and its Monte-Carlo SE ``sd / sqrt(R)`` (NaN where undefined)."""
    v = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if v.empty:
        return float("nan"), float("nan")
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se


def scenario_groups(results: pd.DataFrame, names: Sequence[str],
                    scenarios: Sequence[Mapping[str, Any]]):
    """``(scenario, all rows, ok rows)`` for each scenario in spec order."""
    good = ok_rows(results)
    for sc in scenarios:
        mask_all = np.ones(len(results), dtype=bool)
        mask_ok = np.ones(len(good), dtype=bool)
        for name in names:
            if name not in results.columns:
                mask_all &= False
                mask_ok &= False
                continue
            mask_all &= _equal(results[name], sc[name])
            mask_ok &= _equal(good[name], sc[name])
        yield sc, results[mask_all], good[mask_ok]


def _equal(column: pd.Series, value: Any) -> np.ndarray:
    if isinstance(value, bool | str):
        return (column == value).to_numpy()
    return np.isclose(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float),
                      float(value), rtol=1e-12, atol=0.0)


def boundary_bounds(table: pd.DataFrame, columns: Mapping[str, str], keys: Sequence[str],
                    level: float = 0.95) -> str | None:
    r"""A line giving exact one-sided bounds for the estimates of 0 or 1 in an OC table.

    An estimate :math:`\hat p = 0` (or 1) from :math:`R` tasks has the Monte-Carlo SE
    :math:`\sqrt{\hat p(1-\hat p)/R} = 0`, which says nothing about its precision. The
    one-sided Clopper-Pearson bound at ``level`` is the closed form
    :math:`1 - (1 - \text{level})^{1/R}` above 0 (3/R, the rule of three, at 95%) and
    :math:`(1 - \text{level})^{1/R}` below 1.

    Parameters
    ----------
    table : DataFrame
        One row per scenario with a ``tasks`` column and the estimate columns.
    columns : mapping
        Estimate column -> its name in the line (e.g. ``{"p_success": "P(success)"}``).
    keys : sequence of str
        The scenario columns that name a row.
    level : float, default 0.95
        One-sided confidence level.

    Returns
    -------
    str or None
        The line, or None when no estimate is 0 or 1.
    """
    alpha = 1.0 - level
    parts = []
    for _, row in table.iterrows():
        tasks = int(row["tasks"]) if pd.notna(row["tasks"]) else 0
        if tasks <= 0:
            continue
        at = ", ".join(f"{k} = {row[k]:g}" if not isinstance(row[k], str)
                       else f"{k} = {row[k]}" for k in keys)
        for column, label in columns.items():
            p = row[column]
            if p == 0:
                parts.append(f"{label} < {1.0 - alpha ** (1.0 / tasks):.3g} at {at}")
            elif p == 1:
                parts.append(f"{label} > {alpha ** (1.0 / tasks):.3g} at {at}")
    if not parts:
        return None
    return (f"Estimates of 0 or 1 have a Monte-Carlo SE of 0, which does not measure their "
            f"precision; exact one-sided {100 * level:g}% bounds (Clopper-Pearson): "
            + "; ".join(parts) + ".")
