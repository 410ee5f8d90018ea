"""Figures of pclbayes. Every function returns a matplotlib Figure and never shows it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

TARGET_COLORS = {"BCMA": "#1f77b4", "GPRC5D": "#d62728"}
_FALLBACK = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def color_for(level: str, levels: Sequence[str]) -> str:
    """A stable colour for a group level (BCMA blue, GPRC5D red, others from a palette)."""
    if level in TARGET_COLORS:
        return TARGET_COLORS[level]
    others = [lv for lv in levels if lv not in TARGET_COLORS]
    return _FALLBACK[others.index(level) % len(_FALLBACK)] if level in others else "#555555"


def _is1(value: object) -> bool:
    return bool(pd.notna(value) and value == 1)


def swimmer(episodes: pd.DataFrame) -> Figure:
    """Swimmer plot of each patient's course from the first infusion.

    One lane per patient (grouped by cohort): the bar runs to the last known time (OS
    time, or PFS time where OS is missing) and is coloured by the target of the infusion
    in effect; markers show the best response label, progression (x), the target-switched
    re-infusion (triangle), death (black square) and being alive at last contact (arrow).
    """
    first = episodes[episodes["strategy"] == "first"].reset_index(drop=True)
    switch = episodes[episodes["strategy"] == "switch"].set_index(["cohort", "patient_id"])
    levels = sorted(set(episodes["target"].dropna().astype(str)))
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(first) + 1.6))
    labels = []
    for y, row in enumerate(first.itertuples(index=False)):
        key = (row.cohort, row.patient_id)
        os_t = row.os_months if pd.notna(row.os_months) else np.nan
        end = os_t if np.isfinite(os_t) else row.pfs_months
        sw = switch.loc[key] if key in switch.index else None
        split = sw["start_months"] if sw is not None else end
        ax.barh(y, split, color=color_for(str(row.target), levels), height=0.6, alpha=0.85)
        if sw is not None:
            ax.barh(y, end - split, left=split, color=color_for(str(sw["target"]), levels),
                    height=0.6, alpha=0.85, hatch="//", edgecolor="white")
            ax.plot(split, y, marker="v", color="black", markersize=8)
            if _is1(sw["pfs_event"]) and _is1(sw.get("progression", 1)):
                ax.plot(split + sw["pfs_months"], y, marker="x", color="black", markersize=8,
                        mew=2)
        if _is1(row.progression):
            ax.plot(row.pfs_months, y, marker="x", color="black", markersize=8, mew=2)
        if _is1(row.os_event):
            ax.plot(end, y, marker="s", color="black", markersize=6)
        elif np.isfinite(os_t):
            ax.annotate("", xy=(end + 0.8, y), xytext=(end, y),
                        arrowprops={"arrowstyle": "->", "color": "black"})
        else:
            ax.text(end + 0.2, y, "OS not reported", va="center", fontsize=7, color="#555")
        ax.text(0.15, y, str(row.best_response), va="center", fontsize=7, color="white",
                fontweight="bold")
        labels.append(f"{row.cohort} {row.patient_id}")
    ax.set_yticks(range(len(first)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("months since first CAR T infusion")
    handles = [Line2D([], [], color=color_for(t, levels), lw=8, label=f"{t} CAR T")
               for t in levels]
    handles += [
        Line2D([], [], marker="v", color="black", ls="", label="target-switched re-infusion"),
        Line2D([], [], marker="x", color="black", ls="", mew=2, label="progression"),
        Line2D([], [], marker="s", color="black", ls="", label="death"),
        Line2D([], [], marker=r"$\rightarrow$", color="black", ls="",
               label="alive at last contact"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=True)
    ax.set_title("Patient courses (bar label: best response to the first infusion)")
    fig.tight_layout()
    return fig
