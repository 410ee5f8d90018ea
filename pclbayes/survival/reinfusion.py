"""Target-switched re-infusion as its own, descriptive estimand.

A re-infusion is not a randomised second arm: it is given to the same patients at a later
line, after their disease progressed on the first infusion, and only to those who survived
and were fit for it. Comparing its PFS with first-infusion PFS in a model (``switch vs
first``) therefore mixes line of therapy, selection and the switch itself. This module
describes re-infusion on its own time scale, from the second infusion, and states the
selection in words generated from the data. It estimates no treatment effect.

Three tables and a paragraph (:func:`reinfusion_summary`):

- :func:`relapse_table`: every patient whose disease progressed after the first infusion
  (in the cohorts that report re-infusions), re-infused or not, with the outcome after
  progression;
- :func:`pfs_after_reinfusion`: Kaplan-Meier PFS from the second infusion (lifelines);
- :func:`paired_pfs_table`: per re-infused patient, PFS after the first infusion (PFS1)
  and after the re-infusion (PFS2) and the ratio PFS2/PFS1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.data import EvidenceBase, Problem, episodes, load
from pclbayes.errors import DataValidationError
from pclbayes.survival.km import km_median

#: Columns of :func:`relapse_table`.
RELAPSE_COLUMNS = ("cohort", "patient_id", "first_target", "pfs1_months", "progression",
                   "reinfused", "reinfusion_target", "months_to_reinfusion", "os_months",
                   "os_event", "months_after_progression", "outcome")
#: Columns of :func:`pfs_after_reinfusion`.
KM_COLUMNS = ("time_origin", "n", "events", "censored", "median", "lower", "upper")
#: Columns of :func:`paired_pfs_table`.
PAIRED_COLUMNS = ("cohort", "patient_id", "first_target", "reinfusion_target", "pfs1_months",
                  "pfs1_event", "pfs2_months", "pfs2_event", "pfs2_pfs1_ratio", "ratio_bound")


@dataclass(frozen=True)
class ReinfusionSummary:
    """The descriptive summary of target-switched re-infusions.

    Attributes
    ----------
    relapses : DataFrame
        :func:`relapse_table`.
    pfs_after_reinfusion : DataFrame
        :func:`pfs_after_reinfusion`.
    paired : DataFrame
        :func:`paired_pfs_table`.
    text : str
        :func:`summary_text`: what the tables show and how the re-infused were selected.
    """

    relapses: pd.DataFrame
    pfs_after_reinfusion: pd.DataFrame
    paired: pd.DataFrame
    text: str


def reinfusion_summary(data: EvidenceBase | str | Path | None = None, *,
                       time_unit: str | None = None) -> ReinfusionSummary:
    """Describe who was re-infused after progression, and what followed.

    Parameters
    ----------
    data : EvidenceBase, path or None
        ``None`` loads the bundled evidence base; a path is read with
        :func:`pclbayes.data.load`.
    time_unit : str, optional
        Unit of the times in the paragraph (default: the data's, else months).

    Returns
    -------
    ReinfusionSummary
        Three tables and a paragraph; empty tables (and a paragraph saying so) when the
        data record no re-infusion.
    """
    unit = time_unit or str(getattr(data, "time_unit", None) or "months")
    eps = _episodes(data)
    relapses = relapse_table(eps, unit=unit)
    km = pfs_after_reinfusion(eps)
    paired = paired_pfs_table(eps)
    return ReinfusionSummary(relapses, km, paired,
                             summary_text(relapses, km, paired, unit=unit))


def _episodes(data: EvidenceBase | str | Path | pd.DataFrame | None) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if data is None or isinstance(data, str | Path):
        data = load(data)
    if not isinstance(data, EvidenceBase):
        raise DataValidationError([Problem(
            "data", None, None, f"cannot describe re-infusions in data of type "
            f"{type(data).__name__}; give an EvidenceBase or a path")])
    return episodes(data)


def _split(eps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First infusions of the cohorts that report re-infusions, and the re-infusions."""
    if "strategy" not in eps.columns:
        return eps.iloc[0:0], eps.iloc[0:0]
    strategy = eps["strategy"].astype(str)
    switch = eps[strategy == "switch"]
    first = eps[(strategy == "first") & eps["cohort"].isin(set(switch["cohort"]))]
    return first.reset_index(drop=True), switch.reset_index(drop=True)


def _float(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _key(df: pd.DataFrame) -> pd.Series:
    return df["cohort"].astype(str) + "/" + df["patient_id"].astype(str)


def relapse_table(data: Any = None, *, unit: str = "months") -> pd.DataFrame:
    """Patients whose disease progressed after the first infusion, re-infused or not.

    Only cohorts that report at least one re-infusion are described (elsewhere, whether a
    patient was re-infused is not known). A patient counts as relapsing when the first
    infusion's ``progression`` is 1, or when the patient was re-infused.

    Parameters
    ----------
    data : EvidenceBase, path, episodes DataFrame or None

    Returns
    -------
    DataFrame
        :data:`RELAPSE_COLUMNS`: ``pfs1_months`` is the time of progression after the
        first infusion; ``months_to_reinfusion`` = re-infusion start - ``pfs1_months``;
        ``months_after_progression`` = ``os_months - pfs1_months`` (to death when
        ``os_event = 1``, else to the last follow-up); ``outcome`` says it in words.
    """
    first, switch = _split(_episodes(data))
    progressed = (_float(first.get("progression")) == 1) if len(first) else np.zeros(0, bool)
    reinfused = _key(first).isin(set(_key(switch))).to_numpy(dtype=bool)
    rel = first[progressed | reinfused].reset_index(drop=True)
    if rel.empty:
        return pd.DataFrame(columns=list(RELAPSE_COLUMNS))
    sw = switch.assign(_key=_key(switch)).drop_duplicates("_key").set_index("_key")
    keys = _key(rel)
    pfs1, os_m = _float(rel["pfs_months"]), _float(rel.get("os_months"))
    start = _float(keys.map(sw["start_months"]) if len(sw) else [np.nan] * len(rel))
    after = os_m - pfs1
    out = pd.DataFrame({
        "cohort": rel["cohort"].astype(str), "patient_id": rel["patient_id"].astype(str),
        "first_target": rel["target"].astype(str),
        "pfs1_months": pfs1, "progression": _float(rel.get("progression")),
        "reinfused": keys.isin(set(sw.index)).to_numpy(dtype=bool),
        "reinfusion_target": keys.map(sw["target"]).astype(object) if len(sw) else None,
        "months_to_reinfusion": start - pfs1,
        "os_months": os_m, "os_event": _float(rel.get("os_event")),
        "months_after_progression": after,
    })
    out["outcome"] = [_outcome(e, a, unit) for e, a in zip(out["os_event"], after, strict=True)]
    return out[list(RELAPSE_COLUMNS)]


def _outcome(os_event: float, after: float, unit: str = "months") -> str:
    if not np.isfinite(after):
        return "survival not reported"
    if os_event == 1:
        return f"died {after:g} {unit} after progression"
    return f"alive at last follow-up, {after:g} {unit} after progression"


def pfs_after_reinfusion(data: Any = None) -> pd.DataFrame:
    """Kaplan-Meier PFS of the re-infusions, time origin the second infusion.

    Returns
    -------
    DataFrame
        One row, :data:`KM_COLUMNS`: ``n`` re-infusions, ``events`` (progression or death
        after the re-infusion), the Kaplan-Meier median and its 95% CI (lifelines,
        log-log band; ``inf`` = not reached). Zero rows when there is no re-infusion.
    """
    _, switch = _split(_episodes(data))
    t, e = _float(switch.get("pfs_months")), _float(switch.get("pfs_event"))
    keep = np.isfinite(t) & np.isfinite(e)
    if not keep.any():
        return pd.DataFrame(columns=list(KM_COLUMNS))
    km = km_median(t[keep], e[keep].astype(int))
    return pd.DataFrame([{"time_origin": "second (target-switched) infusion",
                          "n": int(km["n"]), "events": int(km["events"]),
                          "censored": int(km["n"] - km["events"]), "median": km["median"],
                          "lower": km["lower"], "upper": km["upper"]}],
                        columns=list(KM_COLUMNS))


def paired_pfs_table(data: Any = None) -> pd.DataFrame:
    r"""PFS after the first infusion (PFS1) and after the re-infusion (PFS2), per patient.

    The ratio :math:`\mathrm{PFS2}/\mathrm{PFS1}` compares the same patient's two lines
    (as PFS2/PFS1 summaries of sequential therapies do). With censoring it is a bound:
    ``ratio_bound`` is ``"exact"`` (both times end in an event), ``"at least"`` (PFS2
    censored), ``"at most"`` (PFS1 censored) or ``"unknown"`` (both censored).

    Returns
    -------
    DataFrame
        :data:`PAIRED_COLUMNS`, one row per re-infusion.
    """
    first, switch = _split(_episodes(data))
    if switch.empty:
        return pd.DataFrame(columns=list(PAIRED_COLUMNS))
    fi = first.assign(_key=_key(first)).set_index("_key")
    keys = _key(switch)
    pfs1, ev1 = _float(keys.map(fi["pfs_months"])), _float(keys.map(fi["pfs_event"]))
    pfs2, ev2 = _float(switch["pfs_months"]), _float(switch["pfs_event"])
    out = pd.DataFrame({
        "cohort": switch["cohort"].astype(str), "patient_id": switch["patient_id"].astype(str),
        "first_target": keys.map(fi["target"]).astype(str),
        "reinfusion_target": switch["target"].astype(str),
        "pfs1_months": pfs1, "pfs1_event": ev1, "pfs2_months": pfs2, "pfs2_event": ev2,
        "pfs2_pfs1_ratio": pfs2 / pfs1,
        "ratio_bound": [_bound(a, b) for a, b in zip(ev1, ev2, strict=True)],
    })
    return out[list(PAIRED_COLUMNS)]


def _bound(pfs1_event: float, pfs2_event: float) -> str:
    return {(1, 1): "exact", (1, 0): "at least", (0, 1): "at most"}.get(
        (int(pfs1_event == 1), int(pfs2_event == 1)), "unknown")


# ---------------------------------------------------------------- text
def _months(values: np.ndarray, unit: str = "months") -> str:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "unknown"
    if values.size == 1:
        return f"{values[0]:g} {unit}"
    return f"a median of {np.median(values):g} {unit} (range {values.min():g}-{values.max():g})"


def _patients(df: pd.DataFrame) -> str:
    ids = list(df["patient_id"].astype(str))
    if len(ids) == 1:
        return f"patient {ids[0]}"
    return f"patients {', '.join(ids[:-1])} and {ids[-1]}"


def _switches(paired: pd.DataFrame) -> str:
    pairs = paired.groupby(["first_target", "reinfusion_target"], sort=True).size()
    return ", ".join(f"{a} to {b}: {n}" for (a, b), n in pairs.items())


def _not_reinfused_text(rel: pd.DataFrame, unit: str = "months") -> str:
    no = rel[~rel["reinfused"]]
    if no.empty:
        return "every one of them was re-infused."
    died = no[no["os_event"] == 1]
    alive = no[no["os_event"] == 0]
    bits = [f"{len(no)} {'was' if len(no) == 1 else 'were'} not ({_patients(no)})"]
    if len(died) == len(no):
        bits.append(f"{'both' if len(no) == 2 else 'all'} died"
                    if len(no) > 1 else "and died")
        bits[-1] += (f" within {died['months_after_progression'].max():g} {unit} of "
                     "progression")
    else:
        if len(died):
            bits.append(f"{len(died)} died, {_months(died['months_after_progression'], unit)} "
                        "after progression")
        if len(alive):
            bits.append(f"{len(alive)} were alive at last follow-up, "
                        f"{_months(alive['months_after_progression'], unit)} after progression")
    return "; ".join(bits[:1]) + (", and " + "; ".join(bits[1:]) if len(bits) > 1 else "") + "."


def _km_text(km: pd.DataFrame, unit: str = "months") -> str:
    r = km.iloc[0]
    med = "not reached" if not np.isfinite(r["median"]) else f"{r['median']:g} {unit}"
    hi = "not reached" if not np.isfinite(r["upper"]) else f"{r['upper']:g}"
    lo = "-" if not np.isfinite(r["lower"]) else f"{r['lower']:g}"
    return (f"PFS counted from the second infusion: {r['n']} re-infusions, {r['events']} "
            f"events (progression or death), {r['censored']} censored; Kaplan-Meier median "
            f"{med} (95% CI {lo} to {hi}).")


def _paired_text(paired: pd.DataFrame) -> str:
    marks = {"exact": "", "at least": ">= ", "at most": "<= ", "unknown": "? "}
    each = ", ".join(f"patient {p} {marks[b]}{x:.2f}" for p, x, b in zip(
        paired["patient_id"], paired["pfs2_pfs1_ratio"], paired["ratio_bound"], strict=True))
    longer = paired[(paired["pfs2_pfs1_ratio"] >= 1)
                    & paired["ratio_bound"].isin(["exact", "at least"])]
    censored = int((longer["ratio_bound"] == "at least").sum())
    return (f"PFS2/PFS1 (PFS after the re-infusion over PFS after the first infusion, same "
            f"patient): {each}; {len(longer)} of {len(paired)} at least 1"
            + (f" ({censored} of them still censored)" if censored else "") + ".")


def summary_text(relapses: pd.DataFrame, km: pd.DataFrame, paired: pd.DataFrame, *,
                 unit: str = "months") -> str:
    """One paragraph: the selection into re-infusion, then what followed, from the data.

    Parameters
    ----------
    relapses, km, paired : DataFrame
        :func:`relapse_table`, :func:`pfs_after_reinfusion`, :func:`paired_pfs_table`.
    unit : str
        Unit of the times (the data's time unit).
    """
    if paired.empty:
        return "No target-switched re-infusion is recorded in the data."
    cohorts = sorted(set(paired["cohort"]))
    rel = relapses
    n_re = int(rel["reinfused"].sum())
    first = (f"Re-infusions are reported by {', '.join(cohorts)} only. Of the {len(rel)} "
             f"patients there whose disease progressed after the first infusion, {n_re} "
             f"received a target-switched re-infusion ({_switches(paired)}), "
             f"{_months(rel.loc[rel['reinfused'], 'months_to_reinfusion'], unit)} after "
             f"progression; {_not_reinfused_text(rel, unit)}")
    selection = ("The re-infused patients were thus selected by having relapsed, survived "
                 "and been fit for a second infusion, and were treated at a later line: "
                 "what follows describes them and is not an effect of switching the target; "
                 "PFS2/PFS1 compares each patient's two lines, not two treatments.")
    return " ".join([first, selection, _km_text(km, unit), _paired_text(paired)])
