"""Results files of the benchmarks (``benchmarks/results/<name>.json``).

Every file has one layout, read by ``readme_table.py``::

    {"benchmark": name, "repeat": runs per row, "baseline": label of the baseline row,
     "machine": {"nproc", "load_average", "load_average_after", "python", "platform"},
     "date": UTC time, "results": {label: {"median": seconds, ...}}}

A row may name its own baseline row (``"baseline": label``, e.g. the same case on a cold
cache), and a case that could not be run holds ``{"not measured": reason}`` instead of a
median. The baseline is measured in the same run as the other rows, so the ratios
:math:`\\tilde t / \\tilde t_0` compare times taken under the same load.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """CPU count, load average (1, 5, 15 min) and the interpreter."""
    return {"nproc": os.cpu_count(), "load_average": list(os.getloadavg()),
            "python": platform.python_version(), "platform": platform.platform()}


def write(name: str, *, baseline: str, results: dict[str, dict[str, Any]], repeat: int,
          before: dict[str, Any], note: str = "", path: Path | None = None) -> Path:
    """Write ``results`` (each with its ``median`` seconds) and their ratios to the baseline.

    ``before`` is :func:`machine` taken before the first measurement; the load average is
    read again now. Each measured row gets ``ratio``: its median over that of its own
    ``baseline`` row if it names one, else over that of ``baseline``.
    """
    for row in results.values():
        if "median" in row:
            base = results[row.get("baseline", baseline)]["median"]
            row["ratio"] = row["median"] / base if base > 0 else float("nan")
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "repeat": repeat, "baseline": baseline,
               "machine": {**before, "load_average_after": list(os.getloadavg())},
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "note": note,
               "results": results}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    return path
