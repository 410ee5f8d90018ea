r"""Convergence gate run after every MCMC fit, and PSIS-LOO with a short Pareto-k warning.

The gate checks, with ArviZ (``arviz_stats``) doing the statistics:

* rank-normalised split :math:`\hat R` (Vehtari et al. 2021; the larger of the bulk and
  the folded value) of every checked parameter, at most :data:`RHAT_MAX`;
* bulk and tail effective sample sizes, at least :data:`ESS_MIN`;
* divergent transitions: none;
* tree-depth saturation: the share of draws whose trajectory stopped at the sampler's
  maximum tree depth, at most :data:`TREEDEPTH_SHARE_MAX`;
* E-BFMI of each chain, at least :data:`BFMI_MIN`, where for the Hamiltonian energies
  :math:`E_1, \dots, E_S` of one chain

  .. math:: \mathrm{E\text{-}BFMI} = \frac{\frac{1}{S-1}\sum_{s=2}^{S}(E_s - E_{s-1})^2}
            {\frac{1}{S-1}\sum_{s=1}^{S}(E_s - \bar E)^2}

  (Betancourt 2016): how well the momentum resampling moves the sampler between energy
  levels; small values mean the chain explores the tails of the posterior slowly.

Each failed check adds a message naming its remedy in the specification.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import xarray as xr

from pclbayes.errors import ConvergenceWarning

logger = logging.getLogger(__name__)

#: Largest acceptable rank-normalised split R-hat.
RHAT_MAX = 1.01
#: Smallest acceptable bulk and tail ESS (whole posterior, all chains together).
ESS_MIN = 400
#: Largest acceptable share of draws at the maximum tree depth. Saturation costs efficiency,
#: not validity (Stan's guidance): a truncated trajectory is still a valid transition, and the
#: ESS check catches the loss of efficiency. A few saturated draws are therefore tolerated;
#: ArviZ's and CmdStan's ``diagnose`` flag any.
TREEDEPTH_SHARE_MAX = 0.01
#: Smallest acceptable E-BFMI of a chain (the usual rule of thumb; ArviZ's ``diagnose`` too).
BFMI_MIN = 0.3

#: sample_stats names of the per-draw "stopped at the maximum tree depth" flag: nutpie,
#: then PyMC's own NUTS.
_SATURATION_FLAGS = ("maxdepth_reached", "reached_max_treedepth")
#: sample_stats names of the tree depth of each draw (nutpie, PyMC).
_DEPTH_VARS = ("depth", "tree_depth")


@dataclass
class ConvergenceReport:
    """Outcome of :func:`check_convergence`.

    ``ok`` is False when R-hat > 1.01, bulk or tail ESS < 400, any divergence occurred, more
    than 1% of the draws hit the maximum tree depth, or a chain has E-BFMI < 0.3;
    ``messages`` then say what failed and what to do about it.

    Attributes
    ----------
    max_rhat, min_ess_bulk, min_ess_tail : float
        Worst rank-normalised split R-hat and bulk/tail ESS over the checked parameters
        (NaN when not computable, e.g. R-hat of a single chain).
    divergences : int
        Number of divergent transitions after tuning.
    draws, chains : int
        Draws per chain and number of chains.
    ok : bool
        Whether every check passed.
    messages : list of str
        One message per failed check, each with its remedy.
    treedepth_share : float
        Share of draws that stopped at the maximum tree depth (NaN when the sampler did
        not record it).
    treedepth_limit : int or None
        That maximum tree depth, when known.
    bfmi : list of float
        E-BFMI of each chain (empty when no energies were recorded).
    """

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    draws: int
    chains: int
    ok: bool
    messages: list[str] = field(default_factory=list)
    treedepth_share: float = math.nan
    treedepth_limit: int | None = None
    bfmi: list[float] = field(default_factory=list)

    @property
    def min_bfmi(self) -> float:
        """Smallest E-BFMI over the chains (NaN without energies)."""
        finite = [b for b in self.bfmi if np.isfinite(b)]
        return min(finite) if finite else math.nan

    def to_dict(self) -> dict:
        """Plain-Python dictionary (for JSON output); NaN becomes None."""
        d = asdict(self)
        for k in ("max_rhat", "min_ess_bulk", "min_ess_tail", "treedepth_share"):
            d[k] = _rounded(d[k])
        d["bfmi"] = [_rounded(b) for b in self.bfmi]
        d["min_bfmi"] = _rounded(self.min_bfmi)
        return d

    def __str__(self) -> str:
        head = "converged" if self.ok else "NOT converged"
        line = (f"{head}: max R-hat {self.max_rhat:.3f}, min bulk ESS {self.min_ess_bulk:.0f}, "
                f"min tail ESS {self.min_ess_tail:.0f}, divergences {self.divergences}")
        if np.isfinite(self.treedepth_share):
            line += f", max tree depth in {100 * self.treedepth_share:.1f}% of draws"
        if self.bfmi:
            line += f", min E-BFMI {self.min_bfmi:.2f}"
        line += f" ({self.chains} chains x {self.draws} draws)"
        return "\n".join([line, *(f"  - {m}" for m in self.messages)])


def _rounded(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


# ----------------------------------------------------------------- per-parameter checks
def _extreme(result, pick) -> tuple[float, str | None]:
    """Extreme finite value over every variable and element of an ArviZ result.

    ``pick`` is ``max`` or ``min``; returns the value and the name of its variable
    (NaN and None when nothing is finite).
    """
    ds = result.to_dataset() if hasattr(result, "to_dataset") else result
    found = []
    for var, da in ds.data_vars.items():
        v = np.asarray(da.values, dtype=float).ravel()
        v = v[np.isfinite(v)]
        if v.size:
            found.append((float(pick(v)), str(var)))
    if not found:
        return math.nan, None
    return pick(found, key=lambda item: item[0])


# ----------------------------------------------------------------- sampler statistics
def _sample_stats(idata: xr.DataTree) -> xr.Dataset | None:
    if "sample_stats" not in idata.children:
        return None
    return idata["sample_stats"].to_dataset()


def _divergences(stats: xr.Dataset | None) -> int:
    # a plain sum: ArviZ counts divergences only inside ``diagnose`` (see check_convergence);
    # nutpie and PyMC 6 both write a boolean ``diverging`` per draw
    if stats is None or "diverging" not in stats:
        return 0
    return int(np.asarray(stats["diverging"]).sum())


def _treedepth_limit(stats: xr.Dataset) -> int | None:
    """The sampler's maximum tree depth: nutpie records its settings; PyMC does not."""
    settings = stats.attrs.get("inference_library_settings")
    if isinstance(settings, str):
        try:
            depth = json.loads(settings).get("settings", {}).get("maxdepth")
        except (ValueError, AttributeError):
            depth = None
        if depth is not None:
            return int(depth)
    for flag in _SATURATION_FLAGS:
        for var in _DEPTH_VARS:
            if flag in stats and var in stats and bool(np.any(stats[flag])):
                return int(np.asarray(stats[var])[np.asarray(stats[flag], dtype=bool)].max())
    return None


def _treedepth(stats: xr.Dataset | None) -> tuple[float, int | None]:
    """Share of draws at the maximum tree depth, and that depth.

    Own code, not ArviZ's: ``arviz_stats.diagnose`` reads only PyMC's
    ``reached_max_treedepth``, so it would never see the saturation of nutpie (the default
    sampler), which writes ``maxdepth_reached``.
    """
    if stats is None:
        return math.nan, None
    limit = _treedepth_limit(stats)
    for flag in _SATURATION_FLAGS:
        if flag in stats:
            return float(np.asarray(stats[flag], dtype=bool).mean()), limit
    if limit is not None:
        for var in _DEPTH_VARS:
            if var in stats:
                return float((np.asarray(stats[var]) >= limit).mean()), limit
    return math.nan, limit


def _bfmi(idata: xr.DataTree, stats: xr.Dataset | None) -> list[float]:
    """E-BFMI of each chain (``arviz_stats.bfmi`` on the recorded energies)."""
    if stats is None or "energy" not in stats:
        return []
    import arviz_stats as azs

    values = azs.bfmi(idata, group="sample_stats", var_names="energy")
    values = values.to_dataset() if hasattr(values, "to_dataset") else values
    return [float(b) for b in np.atleast_1d(np.asarray(values["energy"], dtype=float))]


# ----------------------------------------------------------------- remedies
def _next_target_accept(target_accept: float | None) -> float:
    return 0.99 if target_accept is None or target_accept < 0.99 else 0.999


def _messages(rep: ConvergenceReport, worst: dict[str, str | None],
              target_accept: float | None) -> list[str]:
    """One message per failed check, with what to change in the specification."""
    msgs = []
    if rep.divergences:
        msgs.append(f"{rep.divergences} divergent transition(s): raise target_accept to "
                    f"{_next_target_accept(target_accept)} (sampler.target_accept in the spec) "
                    "or use a stronger heterogeneity prior")
    if rep.chains > 1 and not rep.max_rhat <= RHAT_MAX:
        msgs.append(f"R-hat {rep.max_rhat:.3f} > {RHAT_MAX} ({worst['rhat']}): chains "
                    "disagree; run more tuning and draws (sampler.tune, sampler.draws) and "
                    "check the trace plot")
    if rep.chains < 2:
        msgs.append("R-hat needs at least 2 chains: set sampler.chains to 4 in the spec")
    if not rep.min_ess_bulk >= ESS_MIN or not rep.min_ess_tail >= ESS_MIN:
        msgs.append(f"ESS (bulk {rep.min_ess_bulk:.0f}, tail {rep.min_ess_tail:.0f}) < "
                    f"{ESS_MIN} ({worst['ess']}): increase sampler.draws; 95% interval limits "
                    "are unreliable")
    if rep.treedepth_share > TREEDEPTH_SHARE_MAX:
        limit = "" if rep.treedepth_limit is None else f" {rep.treedepth_limit}"
        msgs.append(f"{100 * rep.treedepth_share:.1f}% of draws stopped at the maximum tree "
                    f"depth{limit} (> {100 * TREEDEPTH_SHARE_MAX:.0f}%): the posterior is "
                    "poorly scaled for the sampler; raise sampler.tune so the step size and "
                    "mass matrix adapt, or use more informative priors in the spec")
    low = [(c, b) for c, b in enumerate(rep.bfmi) if b < BFMI_MIN]
    if low:
        which = ", ".join(f"chain {c}: {b:.2f}" for c, b in low)
        msgs.append(f"E-BFMI < {BFMI_MIN} ({which}): the sampler moves between energy levels "
                    "too slowly to explore the tails (typical of a funnel in a hierarchical "
                    "model); use a stronger heterogeneity prior and raise sampler.tune in the "
                    "spec")
    return msgs


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
        Result with ``posterior`` and ``sample_stats`` groups (``diverging``, ``energy``
        and the tree-depth statistics of nutpie or PyMC are read when present).
    var_names : list of str, optional
        Variables to check for R-hat and ESS (default: every posterior variable).
        Deterministic transformations of well-mixed parameters need not be listed.
    label : str
        Name of the fit used in messages.
    target_accept : float, optional
        The value used, so the remedy can name the next one to try.
    warn : bool
        Emit a ``ConvergenceWarning`` when the gate fails.

    Returns
    -------
    ConvergenceReport
        The worst value of each diagnostic, and a message per failed check.
    """
    # ArviZ's statistics (rhat, ess, bfmi), not ``arviz_stats.diagnose``: diagnose returns
    # only the names of failing parameters, not the worst values this report keeps, misses
    # nutpie's tree-depth statistic, and judges ESS by 100 per chain, not ESS_MIN
    import arviz_stats as azs  # here, not at module level: importing it takes seconds

    post = idata["posterior"]
    chains, draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    max_rhat, rhat_var = (_extreme(azs.rhat(idata, var_names=var_names), max)
                          if chains > 1 else (math.nan, None))
    min_bulk, bulk_var = _extreme(azs.ess(idata, var_names=var_names, method="bulk"), min)
    min_tail, tail_var = _extreme(azs.ess(idata, var_names=var_names, method="tail"), min)
    stats = _sample_stats(idata)
    share, limit = _treedepth(stats)
    report = ConvergenceReport(max_rhat, min_bulk, min_tail, _divergences(stats), draws, chains,
                               ok=True, treedepth_share=share, treedepth_limit=limit,
                               bfmi=_bfmi(idata, stats))
    worst = {"rhat": rhat_var, "ess": bulk_var if min_bulk <= min_tail else tail_var}
    report.messages = _messages(report, worst, target_accept)
    report.ok = not report.messages
    if not report.ok:
        logger.warning("%s: %s", label, report)
        if warn:
            warnings.warn(f"{label}: {report}", ConvergenceWarning, stacklevel=2)
    return report


# ----------------------------------------------------------------- PSIS-LOO
def _is_pareto_warning(message: Warning | str) -> bool:
    """ArviZ's paragraph on large Pareto k (replaced by one short log line)."""
    return str(message).startswith("Estimated shape parameter of Pareto distribution")


def psis_loo(idata: xr.DataTree, label: str, **kwargs):
    r"""PSIS-LOO (``arviz_stats.loo``, pointwise, with Pareto k) of a fitted model.

    ArviZ judges each Pareto :math:`\hat k` against a threshold that depends on the number
    of draws :math:`S`, :math:`k_{good} = \min(1 - 1/\log_{10} S,\ 0.7)` (0.7 from about
    2,200 draws on; 0.5 at 100 draws), kept in the result as ``good_k``. When some
    :math:`\hat k` exceed it (likely when each observation is a whole cohort or a patient),
    one warning naming the fit, the threshold used and the k values is logged instead of
    ArviZ's paragraph, and ``result.warning`` is True; it is not raised.

    Parameters
    ----------
    idata : DataTree
        Fit with ``posterior`` and ``log_likelihood`` groups.
    label : str
        Name of the fit used in the warning.
    **kwargs
        Passed to ``arviz_stats.loo`` (e.g. ``var_name``).

    Returns
    -------
    ELPDDataLOO
        ArviZ's result, with ``pareto_k``, ``good_k`` and ``warning``.
    """
    import arviz_stats as azs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = azs.loo(idata, pointwise=True, **kwargs)
    for w in caught:
        if not _is_pareto_warning(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if result.warning:
        k = np.asarray(result.pareto_k, dtype=float).ravel()
        good_k = float(result.good_k)
        logger.warning("%s: PSIS-LOO is unreliable for %d of %d observations (Pareto k > %.2f, "
                       "ArviZ's threshold for %d draws; k = %s)", label,
                       int(np.sum(k > good_k)), k.size, good_k, int(result.n_samples),
                       np.round(k, 2).tolist())
    return result
