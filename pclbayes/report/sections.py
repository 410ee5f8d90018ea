"""The model sections of the report: results, checks, prior sensitivity, diagnostics, methods.

Every number in the prose is formatted from the same summary tables that are printed, so
text and tables cannot disagree.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pclbayes.data import EvidenceBase, survival_table
from pclbayes.provenance import versions
from pclbayes.report.html import Page, esc, para, table
from pclbayes.specs import Spec

if TYPE_CHECKING:
    from pclbayes.report.builder import FitRecord


def pct(x: float) -> str:
    """Format a probability as a percentage."""
    return f"{100 * x:.0f}%"


def ci(row: pd.Series, fmt=pct) -> str:
    """``median (lower to upper)`` of a summary row."""
    return f"{fmt(row['median'])} (95% interval {fmt(row['lower'])} to {fmt(row['upper'])})"


def flags(fits: list[FitRecord], eb: EvidenceBase) -> list[str]:
    """Problems a reader must see first: failed convergence checks, cohorts without data."""
    out = []
    for rec in fits:
        diag = getattr(rec.model, "diagnostics_", None)
        if diag is not None and not diag.ok:
            out.append(f"{rec.spec.name} ({rec.variant} priors): " + "; ".join(diag.messages))
    seen = set()
    for rec in fits:
        if rec.spec.family != "survival":
            continue
        endpoint = rec.spec.options.get("endpoint", "pfs")
        if endpoint in seen:
            continue
        seen.add(endpoint)
        tab = survival_table(eb, endpoint)
        for cohort in tab.attrs.get("cohorts_without_data", []):
            out.append(f"cohort '{cohort}' has no {endpoint.upper()} data and is left out of the "
                       f"{endpoint.upper()} models")
    return out


def diagnostics_section(page: Page, fits: list[FitRecord], eb: EvidenceBase, *,
                        quick: bool) -> None:
    """Convergence table per fit, software versions, seed and data hash."""
    parts = page.section("diagnostics", "Diagnostics and reproducibility")
    rows = []
    for rec in fits:
        d = rec.model.diagnostics_
        rows.append({
            "fit": rec.spec.name.split("@", 1)[0], "priors": rec.variant,
            "method": getattr(rec.model, "method", rec.spec.options.get("method", "mcmc")),
            "sampler": rec.spec.sampler.sampler,
            "chains x draws": f"{d.chains} x {d.draws}" if d.chains else "exact",
            "max R-hat": d.max_rhat, "min bulk ESS": d.min_ess_bulk,
            "min tail ESS": d.min_ess_tail, "divergences": d.divergences,
            "passed": "yes" if d.ok else "NO", "seconds": rec.seconds,
            "seed": rec.spec.seed,
        })
    parts.append(para("A fit passes when R-hat is at most 1.01, bulk and tail effective sample "
                      "sizes are at least 400 and there are no divergent transitions. Failed "
                      "fits are also listed at the top of the report."))
    parts.append(table(pd.DataFrame(rows), caption="Convergence diagnostics per fit", digits=3))
    ver = pd.DataFrame(sorted(versions().items()), columns=["software", "version"])
    parts.append(table(ver, caption="Software versions"))
    parts.append(para(f"Data hash {eb.data_hash}. Each fit's netCDF file in fits/ records its "
                      "specification, seed, data hash and versions; the same seed and data give "
                      "the same numbers." + (" Quick mode was used." if quick else "")))


def methods_section(page: Page, fits: list[FitRecord], *, quick: bool) -> None:
    """A methods paragraph per fit, generated from its specification and priors."""
    parts = page.section("methods", "Methods")
    for rec in fits:
        spec = rec.spec
        s = spec.sampler
        desc = getattr(rec.model, "describe", None)
        text = desc() if callable(desc) else ""
        parts.append(f"<h3>{esc(spec.title)} <small>({esc(spec.name)})</small></h3>")
        if text:
            parts.append(para(text))
        method = getattr(rec.model, "method", spec.options.get("method", "mcmc"))
        if method == "exact":
            parts.append(para("Posterior computed by deterministic numerical integration."))
        else:
            parts.append(para(
                f"Posterior sampled with the No-U-Turn sampler ({s.sampler}): {s.chains} chains, "
                f"{s.tune} tuning and {s.draws} retained draws each, target acceptance "
                f"{s.target_accept}, seed {spec.seed}." + (" (Quick mode.)" if quick else "")))
        parts.append(f"<pre>{esc(rec.model.prior_summary())}</pre>")


def variant(spec: Spec, label: str, priors: dict) -> Spec:
    """A copy of ``spec`` with some priors replaced, named ``name@label``."""
    merged = {**spec.priors, **priors}
    return dataclasses.replace(spec, name=f"{spec.name}@{label}", priors=merged)


def _interval_plot_data(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (df["median"].to_numpy(float), df["lower"].to_numpy(float),
            df["upper"].to_numpy(float))
