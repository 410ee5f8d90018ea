"""Figures of pclbayes. Every function returns a matplotlib Figure and never shows it.

Importing this module leaves the matplotlib backend alone: in a notebook or a desktop session
the figures appear as usual, and the ``pclbayes report`` command selects the non-interactive
Agg backend for itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

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
    in effect; markers show the best response label, progression (x; grey where the source
    gives a PFS event without saying progression or death), the target-switched re-infusion
    (triangle), death (black square) and being alive at last contact (arrow).
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
        elif pd.isna(row.progression) and _is1(row.pfs_event):
            ax.plot(row.pfs_months, y, marker="x", color="#888888", markersize=8, mew=2)
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
        Line2D([], [], marker="x", color="#888888", ls="", mew=2,
               label="PFS event, progression or death not stated"),
        Line2D([], [], marker="s", color="black", ls="", label="death"),
        Line2D([], [], marker=r"$\rightarrow$", color="black", ls="",
               label="alive at last contact"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=True)
    ax.set_title("Patient courses (bar label: best response to the first infusion)")
    fig.tight_layout()
    return fig


def _same(value: object) -> str:
    return str(value)


def forest(summary: pd.DataFrame, *, title: str,
           xlabel: str = "response rate (proportion of patients)",
           level_label: Callable[[object], str] = _same) -> Figure:
    """Forest plot of a response fit: raw and shrunken cohort rates, pooled and predictive.

    ``summary`` is :meth:`ResponseModel.summary`. Raw rates are drawn as open circles with
    exact (Clopper-Pearson) 95% intervals for reference; posterior quantities as filled
    points with 95% credible intervals. ``level_label`` spells a group level for the axis.
    """
    from scipy import stats

    rows: list[tuple[str, float, float, float, str, str]] = []
    levels = list(dict.fromkeys(summary.loc[summary.quantity == "pooled_rate", "level"]))
    for level in levels:
        for _, r in summary[(summary.quantity == "cohort_rate")
                            & (summary.group == level)].iterrows():
            n, k = int(r["n"]), int(r["responders"])
            lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
            hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
            name = level_label(r["cohort"])
            rows.append((f"{name}: raw {k}/{n}", k / n, lo, hi, "raw", level))
            rows.append((f"{name}: shrunken", r["median"], r["lower"], r["upper"],
                         "cohort", level))
        for quantity, label in (("pooled_rate", "pooled mean"), ("predictive_rate",
                                                                 "new cohort")):
            sel = summary[(summary.quantity == quantity) & (summary.level == level)]
            if not sel.empty:
                r = sel.iloc[0]
                rows.append((f"{level_label(level)}: {label}", r["median"], r["lower"],
                             r["upper"], quantity, level))
    fig, ax = plt.subplots(figsize=(8, 0.34 * len(rows) + 1.4))
    style = {"raw": ("o", "none", 0.6), "cohort": ("o", None, 1.0),
             "pooled_rate": ("D", None, 1.0), "predictive_rate": ("s", None, 1.0)}
    for y, (_, med, lo, hi, kind, level) in enumerate(rows):
        marker, face, alpha = style[kind]
        col = color_for(level, levels)
        ax.plot([lo, hi], [y, y], color=col, alpha=alpha,
                lw=3 if kind in ("pooled_rate", "predictive_rate") else 1.5)
        ax.plot(med, y, marker=marker, color=col, markerfacecolor=face or col, markersize=7)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def prior_posterior(posterior: np.ndarray, prior, *, label: str, title: str) -> Figure:
    """Posterior draws (histogram) of a parameter against its prior density (line)."""
    draws = np.asarray(posterior, dtype=float).ravel()
    hi = float(np.quantile(draws, 0.995))
    dist = prior.frozen()
    hi = max(hi, float(dist.ppf(0.99)))
    grid = np.linspace(1e-6, hi, 400)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(draws[draws <= hi], bins=60, density=True, color="#7f9fbf", alpha=0.7,
            label="posterior")
    ax.plot(grid, np.exp(prior.logpdf(grid)), color="black", lw=1.5, label=f"prior {prior}")
    ax.set_xlabel(label)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def km_bands(data: pd.DataFrame, curves: pd.DataFrame, *, group_col: str, title: str,
             time_label: str = "months", survival_label: str = "probability event-free",
             level_label: Callable[[object], str] = _same) -> Figure:
    r"""Kaplan-Meier curves of the data with posterior-predictive survival bands per group.

    ``data`` has ``time``, ``event`` and ``group_col``; ``curves`` has ``group, time,
    median, lower, upper`` (posterior S(t) of each group, 95% band). The Kaplan-Meier
    estimates come from lifelines. Under the axes, the numbers at risk of each group at
    the x ticks: episodes with a time at or after the tick, :math:`n(t) = \#\{i: t_i \ge t\}`.
    """
    from lifelines import KaplanMeierFitter

    levels = list(dict.fromkeys(curves["group"]))
    n_rows = len(levels)
    fig, ax = plt.subplots(figsize=(7, 4 + 0.22 * (n_rows + 1)))
    for level in levels:
        col = color_for(str(level), [str(v) for v in levels])
        c = curves[curves["group"] == level]
        ax.fill_between(c["time"], c["lower"], c["upper"], color=col, alpha=0.18, lw=0)
        ax.plot(c["time"], c["median"], color=col, lw=1.2, ls="--")
        d = data[data[group_col].astype(str) == str(level)]
        if len(d):
            km = KaplanMeierFitter().fit(d["time"], d["event"], label=str(level))
            sf = km.survival_function_
            ax.step(sf.index, sf.iloc[:, 0], where="post", color=col, lw=2,
                    label=f"{level_label(level)}: Kaplan-Meier (n={len(d)}, "
                          f"{int(d['event'].sum())} events)")
            cens = d[d["event"] == 0]
            ax.plot(cens["time"], km.survival_function_at_times(cens["time"]).to_numpy(), "|",
                    color=col, markersize=10, mew=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(time_label)
    ax.set_ylabel(survival_label)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, fontsize=10)
    _at_risk(ax, data, group_col, levels, level_label)
    fig.tight_layout()
    return fig


def at_risk(times: Sequence[float], ticks: Sequence[float]) -> list[int]:
    """Numbers at risk at each tick: how many times are at or after it."""
    t = np.asarray(times, dtype=float)
    return [int(np.sum(t >= tick)) for tick in ticks]


def _at_risk(ax, data: pd.DataFrame, group_col: str, levels: Sequence[object],
             level_label: Callable[[object], str]) -> None:
    """A numbers-at-risk table under ``ax``, one row per group, at the x ticks."""
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    ax.set_xticks(ticks)
    trans = ax.get_xaxis_transform()
    names = blended_transform_factory(ax.transAxes, ax.transAxes)
    ax.text(-0.05, -0.25, "at risk", transform=names, ha="right", va="top", fontsize=7,
            fontweight="bold")
    for i, level in enumerate(levels):
        d = data[data[group_col].astype(str) == str(level)]
        y = -0.25 - 0.075 * (i + 1)
        col = color_for(str(level), [str(v) for v in levels])
        ax.text(-0.05, y, level_label(level), transform=names, ha="right", va="top",
                fontsize=7, color=col)
        for tick, n in zip(ticks, at_risk(d["time"], ticks), strict=True):
            ax.text(tick, y, str(n), transform=trans, ha="center", va="top", fontsize=7,
                    color=col)


def ppc_counts(ppc: pd.DataFrame, *, observed: str, mean: str, lower: str, upper: str,
               label: str, title: str,
               level_label: Callable[[object], str] = _same) -> Figure:
    """Observed count per cohort (cross) against its posterior-predictive 95% interval."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ppc) + 1.3))
    y = np.arange(len(ppc))
    ax.hlines(y, ppc[lower], ppc[upper], color="#7f9fbf", lw=6, alpha=0.7,
              label="95% predictive interval")
    ax.plot(ppc[mean], y, "o", color="#1f4f7f", label="predictive mean")
    ax.plot(ppc[observed], y, "x", color="#d62728", markersize=10, mew=2, label="observed")
    ax.set_yticks(y, [level_label(c) for c in ppc["cohort"]], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def sensitivity(table: pd.DataFrame, *, title: str, xlabel: str,
                baseline: str = "default") -> Figure:
    """Headline estimates (median, 95% interval) under each variant, per level.

    The ``baseline`` variant (the specification's own setting) is drawn in black.
    """
    rows = list(table.itertuples(index=False))
    variants = list(dict.fromkeys(table["variant"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.3))
    for y, r in enumerate(rows):
        col = _FALLBACK[variants.index(r.variant) % len(_FALLBACK)] \
            if r.variant != baseline else "black"
        ax.plot([r.lower, r.upper], [y, y], color=col, lw=2)
        ax.plot(r.median, y, "o", color=col)
    ax.set_yticks(range(len(rows)), [f"{r.label} | {r.variant}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
