"""Per-fit memoisation of a fitted model's derived tables."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any


def per_fit[F: Callable[..., Any]](method: F) -> F:
    """Compute ``method(self, ...)`` once per fit and hand out copies.

    The result is kept with the fitted ``idata_`` it was computed from, so a refit (a new
    ``idata_``) recomputes it. The memo travels with the model when it is pickled, so a
    table computed in a worker process is not computed again by the report.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        idata = getattr(self, "idata_", None)
        if idata is None:
            return method(self, *args, **kwargs)
        memo = self.__dict__.get("_per_fit")
        if memo is None or memo[0] is not idata:
            memo = self.__dict__["_per_fit"] = (idata, {})
        key = (method.__name__, args, tuple(sorted(kwargs.items())))
        try:
            hash(key)
        except TypeError:  # e.g. a list of times: computed afresh
            return method(self, *args, **kwargs)
        if key not in memo[1]:
            memo[1][key] = method(self, *args, **kwargs)
        return copy.deepcopy(memo[1][key])

    return wrapper  # type: ignore[return-value]
