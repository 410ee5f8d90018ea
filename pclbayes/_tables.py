"""Exact JSON encoding of small data frames (the model inputs recorded in a saved fit).

A saved fit carries the prepared table its model was fitted to, so that
:func:`pclbayes.load_fit` can rebuild the fitted model from the file alone. JSON keeps
every float bit (Python writes the shortest repr that reads back to the same double) and,
with the dtype recorded per column, pandas' nullable types (``Int64``, ``string``)
come back as they were.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _cell(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return str(value)


def frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    """``{"columns": [...], "dtypes": [...], "data": [[...], ...]}`` with missing as null."""
    frame = frame.reset_index(drop=True)
    return {"columns": [str(c) for c in frame.columns],
            "dtypes": [str(t) for t in frame.dtypes],
            "data": [[_cell(v) for v in frame[c].tolist()] for c in frame.columns]}


def frame_from_json(obj: dict[str, Any]) -> pd.DataFrame:
    """Inverse of :func:`frame_to_json`."""
    out = {}
    for name, dtype, values in zip(obj["columns"], obj["dtypes"], obj["data"], strict=True):
        if dtype.startswith("float"):
            col = pd.Series(np.array([np.nan if v is None else v for v in values],
                                     dtype=dtype))
        elif dtype.startswith(("int", "uint", "bool")):
            col = pd.Series(np.array(values, dtype=dtype))
        elif dtype == "object":
            col = pd.Series(values, dtype=object)
        else:  # pandas extension dtypes: Int64, string, boolean, ...
            col = pd.Series(pd.array(values, dtype=dtype))
        out[name] = col
    return pd.DataFrame(out, columns=obj["columns"])
