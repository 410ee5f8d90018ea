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
