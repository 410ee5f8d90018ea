"""Kaplan-Meier cross-checks (lifelines): medians with 95% confidence intervals and curves.

The Kaplan-Meier median is the first time the estimated survival curve reaches 0.5; its
confidence interval comes from the pointwise 95% band (log-log transform, lifelines'
default). ``inf`` means "not reached" (fewer than half had an event, or the band never
falls below 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times


def _fit(time: np.ndarray, event: np.ndarray) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(np.asarray(time, float), np.asarray(event, int), alpha=0.05)


def km_median(time: np.ndarray, event: np.ndarray) -> dict[str, float]:
    """Kaplan-Meier median and its 95% CI, with the numbers of episodes and events."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    out = {"n": float(time.size), "events": float(event.sum()), "median": np.nan,
           "lower": np.nan, "upper": np.nan}
    if time.size == 0:
        return out
    kmf = _fit(time, event)
    ci = median_survival_times(kmf.confidence_interval_).to_numpy(dtype=float).ravel()
    out.update(median=float(kmf.median_survival_time_), lower=float(ci[0]), upper=float(ci[1]))
    return out


def km_table(episodes: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Kaplan-Meier medians per level of each column (rows ``level = "column: value"``)."""
    rows = []
    for col in columns:
        if col not in episodes.columns:
            continue
        for level, g in episodes.groupby(col, sort=True):
            res = km_median(g["time"].to_numpy(), g["event"].to_numpy())
            rows.append({"column": col, "value": str(level), **res})
    return pd.DataFrame(rows, columns=["column", "value", "n", "events", "median", "lower",
                                       "upper"])


def km_curve(time: np.ndarray, event: np.ndarray, grid: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier estimate and 95% band at the times in ``grid``."""
    grid = np.asarray(grid, dtype=float)
    if np.asarray(time).size == 0:
        nan = np.full(grid.size, np.nan)
        return pd.DataFrame({"time": grid, "estimate": nan, "lower": nan, "upper": nan})
    kmf = _fit(time, event)
    est = kmf.survival_function_at_times(grid).to_numpy(dtype=float)
    band = kmf.confidence_interval_survival_function_
    pos = np.searchsorted(band.index.to_numpy(dtype=float), grid, side="right") - 1
    pos = np.clip(pos, 0, len(band) - 1)
    lower = band.iloc[pos, 0].to_numpy(dtype=float)
    upper = band.iloc[pos, 1].to_numpy(dtype=float)
    return pd.DataFrame({"time": grid, "estimate": est, "lower": lower, "upper": upper})
