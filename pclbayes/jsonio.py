"""JSON text of pclbayes results: numpy scalars as Python numbers, NaN and infinities as null.

Strict JSON has no NaN or infinity, and :mod:`json` cannot serialise numpy scalars, yet
summaries hold both (``numpy.float64`` medians, NaN where a quantity is undefined). This
module is the one place where results become JSON text, for the library and the CLI alike.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` with everything :func:`json.dumps` cannot write in strict JSON replaced.

    Dictionaries (keys become ``str``), lists and tuples (both become lists) are converted
    recursively; numpy scalars (anything but ``str`` with an ``item()`` method) become the
    Python scalar; non-finite floats (NaN, +inf, -inf) become ``None``.

    Parameters
    ----------
    obj : Any
        Nested dictionaries, lists, tuples and scalars.

    Returns
    -------
    Any
        The same structure, ready for :func:`json.dumps`.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any) -> str:
    """JSON text of ``obj`` (indented by 2) with numpy scalars converted and NaN/inf as null.

    Parameters
    ----------
    obj : Any
        Nested dictionaries, lists, tuples and scalars (see :func:`to_jsonable`).

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> import numpy as np
    >>> print(dumps({"median": np.float64(1.5), "p": float("nan"), 3: (np.int64(2),)}))
    {
      "median": 1.5,
      "p": null,
      "3": [
        2
      ]
    }
    """
    return json.dumps(to_jsonable(obj), indent=2)
