"""Convergence gate run after every MCMC fit: R-hat, bulk/tail ESS and divergences."""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import xarray as xr

from pclbayes.errors import ConvergenceWarning

logger = logging.getLogger(__name__)

RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass
class ConvergenceReport:
    """Outcome of :func:`check_convergence`.

    ``ok`` is False when R-hat > 1.01, bulk or tail ESS < 400, or any divergence occurred;
    ``messages`` then say what failed and what to do about it.
    """

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    draws: int
    chains: int
    ok: bool
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain-Python dictionary (for JSON output)."""
        d = asdict(self)
        for k in ("max_rhat", "min_ess_bulk", "min_ess_tail"):
            d[k] = None if not np.isfinite(d[k]) else round(float(d[k]), 4)
        return d

    def __str__(self) -> str:
        head = "converged" if self.ok else "NOT converged"
        line = (f"{head}: max R-hat {self.max_rhat:.3f}, min bulk ESS {self.min_ess_bulk:.0f}, "
                f"min tail ESS {self.min_ess_tail:.0f}, divergences {self.divergences} "
                f"({self.chains} chains x {self.draws} draws)")
        return "\n".join([line, *(f"  - {m}" for m in self.messages)])


def _extreme(tree, reducer) -> float:
    ds = tree.to_dataset() if hasattr(tree, "to_dataset") else tree
    values = [np.asarray(v.values, dtype=float).ravel() for v in ds.data_vars.values()]
    values = [v[np.isfinite(v)] for v in values if v.size]
    values = [v for v in values if v.size]
    return float(reducer(np.concatenate(values))) if values else float("nan")


def check_convergence(
    idata: xr.DataTree,
    var_names: list[str] | None = None,
    *,
    label: str = "fit",
    target_accept: float | None = None,
    warn: bool = True,
) -> ConvergenceReport:
    """Check a posterior and warn (``ConvergenceWarning``) with remedies if it fails.

    Parameters
    ----------
    idata : DataTree
        Result with ``posterior`` and ``sample_stats`` groups.
    var_names : list of str, optional
        Variables to check (default: every posterior variable). Deterministic
        transformations of well-mixed parameters need not be listed.
    label : str
        Name of the fit used in messages.
    target_accept : float, optional
        The value used, so the remedy can name the next one to try.
    warn : bool
        Emit a ``ConvergenceWarning`` when the gate fails.
    """
    post = idata["posterior"]
    chains, draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    max_rhat = _extreme(az.rhat(idata, var_names=var_names), np.max) if chains > 1 else np.nan
    min_bulk = _extreme(az.ess(idata, var_names=var_names, method="bulk"), np.min)
    min_tail = _extreme(az.ess(idata, var_names=var_names, method="tail"), np.min)
    divergences = 0
    if "sample_stats" in idata.children and "diverging" in idata["sample_stats"]:
        divergences = int(np.asarray(idata["sample_stats"]["diverging"]).sum())
    msgs = []
    if divergences:
        nxt = 0.99 if target_accept is None or target_accept < 0.99 else 0.999
        msgs.append(f"{divergences} divergent transition(s): raise target_accept to {nxt} "
                    "(sampler.target_accept in the spec) or use a stronger heterogeneity prior")
    if chains > 1 and not max_rhat <= RHAT_MAX:
        msgs.append(f"R-hat {max_rhat:.3f} > {RHAT_MAX}: chains disagree; run more tuning and "
                    "draws (sampler.tune, sampler.draws) and check the trace plot")
    if chains < 2:
        msgs.append("R-hat needs at least 2 chains")
    if not min_bulk >= ESS_MIN or not min_tail >= ESS_MIN:
        msgs.append(f"ESS (bulk {min_bulk:.0f}, tail {min_tail:.0f}) < {ESS_MIN}: increase "
                    "sampler.draws; 95% interval limits are unreliable")
    report = ConvergenceReport(max_rhat, min_bulk, min_tail, divergences, draws, chains,
                               ok=not msgs, messages=msgs)
    if not report.ok:
        logger.warning("%s: %s", label, report)
        if warn:
            warnings.warn(f"{label}: {report}", ConvergenceWarning, stacklevel=2)
    return report


def psis_loo(idata: xr.DataTree, label: str, **kwargs):
    """PSIS-LOO (ArviZ ``loo``, pointwise, with Pareto k) of a fitted model.

    Pareto k above 0.7 (likely when each observation is a whole cohort or a patient) is
    logged once as a warning naming the fit and the k values, and recorded in the result's
    ``warning`` flag; it is not raised.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = az.loo(idata, pointwise=True, **kwargs)
    pareto = False
    for w in caught:
        if "Pareto" in str(w.message):
            pareto = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if pareto:
        k = np.asarray(result.pareto_k, dtype=float).ravel()
        logger.warning("%s: PSIS-LOO is unreliable for %d of %d observations (Pareto k > 0.7; "
                       "k = %s)", label, int(np.sum(k > 0.7)), k.size,
                       np.round(k, 2).tolist())
    return result
