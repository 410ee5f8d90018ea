r"""Meta-analytic-predictive (MAP) prior for the response rate of a new cohort.

The MAP prior (Neuenschwander et al. 2010) is the predictive distribution of the rate
:math:`\theta_\star` of a new cohort under a random-effects model fitted to the historical
cohorts, e.g. :math:`\mathrm{logit}\,\theta_j \sim N(\mu, \tau^2)`:

.. math:: p(\theta_\star \mid \text{data}) = \int N(\mathrm{logit}\,\theta_\star \mid \mu,
   \tau^2)\, p(\mu, \tau \mid \text{data})\, d\mu\, d\tau .

It is available as Monte-Carlo draws; :func:`build_map_prior` approximates them with a beta
mixture (EM), robustifies it and reports ESS. :func:`map_prior_from_evidence` connects this to
the bundled evidence base and the logit-normal response model, and records whether its MCMC
fit passed the convergence gate.

Which ESS to quote. The ELIR of a mixture depends on how sharply the mixture reproduces the
peak of the MAP distribution, and so on the number of components (e.g. 17, 36 and 43 patients
for 1, 2 and 3 components on the four ulcerative-colitis control arms of Neuenschwander et al.
2010). The result therefore reports, besides the ESS of the selected mixture (the prior that is
actually used), the ESS of the fits with every number of components with their fit quality,
and the moment ESS of the draws themselves, which needs no mixture:

.. math:: \mathrm{ESS}_{\text{moment}} = \frac{\bar\theta(1-\bar\theta)}{s^2} - 1,

with the mean :math:`\bar\theta` and variance :math:`s^2` of the draws. The ESS also depends
on the priors of the meta-analysis (above all the heterogeneity prior when there are few
cohorts): :func:`map_prior_ess_range` refits the MAP prior over a grid of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from pclbayes.errors import SpecError
from pclbayes.planning.ess import ESS_METHODS, ess
from pclbayes.planning.fit import MixtureFit, fit_beta_mixture
from pclbayes.planning.io import hash_path, make_provenance
from pclbayes.planning.mixture import BetaMixture, robustify

__all__ = [
    "DEFAULT_INTERCEPT_PRIORS",
    "DEFAULT_TAU_PRIORS",
    "MapPrior",
    "build_map_prior",
    "draws_ess",
    "map_prior_ess_range",
    "map_prior_from_evidence",
]

logger = logging.getLogger(__name__)

#: Heterogeneity (tau) priors of :func:`map_prior_ess_range`: substantial, large and very
#: large between-cohort heterogeneity on the log-odds scale (Neuenschwander et al. 2010).
DEFAULT_TAU_PRIORS: tuple[str, ...] = (
    "HalfNormal(sigma=0.5)",
    "HalfNormal(sigma=1)",
    "HalfNormal(sigma=2)",
)
#: Intercept (mean log-odds) priors of :func:`map_prior_ess_range`: the response model's
#: default and a wider one.
DEFAULT_INTERCEPT_PRIORS: tuple[str, ...] = ("Normal(mu=0, sigma=1.5)", "Normal(mu=0, sigma=3)")


def _components(mix: BetaMixture) -> list[dict[str, Any]]:
    return [
        {"name": n, "weight": float(w), "a": float(a), "b": float(b)}
        for n, w, a, b in zip(mix.names, mix.weights, mix.a, mix.b, strict=True)
    ]


def _all_ess(mix: BetaMixture) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for method in ESS_METHODS:
        try:
            out[method] = ess(mix, method)
        except SpecError as exc:  # e.g. Morita without an interior mode
            logger.warning("ESS (%s) not available: %s", method, exc)
            out[method] = None
    return out


def draws_ess(draws: ArrayLike) -> dict[str, float]:
    r"""ESS computed from MAP draws without a mixture approximation.

    ``moment``: :math:`\bar\theta(1-\bar\theta)/s^2 - 1` with the mean and the variance
    (``ddof=1``) of the draws, i.e. ``a + b`` of the beta with the draws' mean and variance.

    Parameters
    ----------
    draws : array_like
        Draws of a rate in [0, 1].

    Returns
    -------
    dict
        ``{"moment": ...}``.
    """
    x = np.asarray(draws, dtype=float).ravel()
    if x.size < 2 or np.ptp(x) == 0:
        raise SpecError("the moment ESS of draws needs at least two distinct draws")
    m, v = float(x.mean()), float(x.var(ddof=1))
    return {"moment": m * (1 - m) / v - 1.0}


def _ess_or_none(mix: BetaMixture, method: str) -> float | None:
    try:
        return ess(mix, method)  # type: ignore[arg-type]
    except SpecError:
        return None


def _components_table(fit: MixtureFit) -> pd.DataFrame:
    """ESS (ELIR, moment) and fit quality of the best mixture with each number of components."""
    rows = []
    for k, mix in sorted(fit.alternatives.items()):
        assert isinstance(mix, BetaMixture)
        cand = fit.candidates.loc[k]
        rows.append(
            {
                "components": int(k),
                "criterion": float(cand["criterion"]),
                "kl_divergence": float(cand["kl_divergence"]),
                "adequate": bool(cand["adequate"]),
                "selected": k == fit.n_components,
                "elir": _ess_or_none(mix, "elir"),
                "moment": _ess_or_none(mix, "moment"),
            }
        )
    return pd.DataFrame(rows)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _span(values: Sequence[float | None]) -> str:
    """``"lo-hi"`` of the finite values (one value if they agree to the shown digit)."""
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return "n/a"
    lo, hi = _fmt(min(finite)), _fmt(max(finite))
    return lo if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True)
class MapPrior:
    """A MAP prior: draw summary, mixture approximation, robust version and ESS.

    Attributes
    ----------
    draw_summary : dict
        ``mean``, ``sd``, ``lower`` and ``upper`` (95% equal-tailed) of the MAP draws.
    fit : MixtureFit
        Beta-mixture approximation of the draws with diagnostics.
    robust : BetaMixture or None
        Robustified mixture (None when ``robust_weight`` is 0).
    ess : dict
        ESS of the selected mixture by method (``elir``, ``morita``, ``moment``).
    robust_ess : dict or None
        ESS of the robust mixture.
    provenance : dict
        Data hash, specification, seed, version and time.
    ess_draws : dict
        ESS of the draws themselves, without a mixture (:func:`draws_ess`): ``moment``.
    ess_by_components : pandas.DataFrame
        One row per number of mixture components fitted: ``components``, ``criterion``,
        ``kl_divergence``, ``adequate``, ``selected``, ``elir`` and ``moment``; shows how far
        the ESS hinges on the mixture.
    convergence : dict or None
        Convergence gate of the MCMC fit that produced the draws (``converged`` and the
        diagnostics of :class:`pclbayes.diagnostics.ConvergenceReport`); None when the draws
        were given directly.
    sensitivity : pandas.DataFrame or None
        ESS over heterogeneity and intercept priors (:func:`map_prior_ess_range`), if asked.
    """

    draw_summary: dict[str, float]
    fit: MixtureFit
    robust: BetaMixture | None
    ess: dict[str, float | None]
    robust_ess: dict[str, float | None] | None
    provenance: dict[str, Any]
    ess_draws: dict[str, float] = field(default_factory=dict)
    ess_by_components: pd.DataFrame = field(default_factory=pd.DataFrame)
    convergence: dict[str, Any] | None = None
    sensitivity: pd.DataFrame | None = None

    @property
    def mixture(self) -> BetaMixture:
        """The (non-robust) mixture approximation."""
        mix = self.fit.mixture
        assert isinstance(mix, BetaMixture)
        return mix

    @property
    def prior(self) -> BetaMixture:
        """The prior to use for planning: the robust mixture if present."""
        return self.robust if self.robust is not None else self.mixture

    @property
    def converged(self) -> bool | None:
        """Whether the MCMC fit passed the convergence gate (None without a fit)."""
        return None if self.convergence is None else bool(self.convergence["converged"])

    def elir_range(self) -> tuple[float, float] | None:
        """Smallest and largest ELIR of the mixture over :attr:`sensitivity` (None if absent)."""
        if self.sensitivity is None or self.sensitivity.empty:
            return None
        values = pd.to_numeric(self.sensitivity["elir"], errors="coerce").dropna()
        return None if values.empty else (float(values.min()), float(values.max()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``map``, ``mixture``, ``robust``, ``ess``, ...)."""
        table = self.ess_by_components
        return {
            "map": dict(self.draw_summary),
            "mixture": _components(self.mixture),
            "robust": None if self.robust is None else _components(self.robust),
            "ess": dict(self.ess),
            "robust_ess": None if self.robust_ess is None else dict(self.robust_ess),
            "ess_draws": dict(self.ess_draws),
            "ess_by_components": _records(table),
            "convergence": None if self.convergence is None else dict(self.convergence),
            "sensitivity": None if self.sensitivity is None else _records(self.sensitivity),
            "fit": {
                "components": self.fit.n_components,
                "kl_divergence": self.fit.kl_divergence,
                "adequate": self.fit.adequate,
                "quantile_errors": self.fit.quantile_errors.to_dict(orient="records"),
            },
            "provenance": dict(self.provenance),
        }

    def _ess_lines(self) -> list[str]:
        """How much the ESS hinges on the mixture: the table by components and the draws."""
        k = self.fit.n_components
        lines = [f"ESS of the selected {k}-component mixture: {_fmt_dict(self.ess)}"]
        table = self.ess_by_components
        if not table.empty:
            shown = table.assign(
                kl_divergence=table["kl_divergence"].map(lambda v: f"{v:.4f}"),
                elir=table["elir"].map(_fmt),
                moment=table["moment"].map(_fmt),
                criterion=table["criterion"].map(lambda v: f"{v:.1f}"),
                selected=table["selected"].map(lambda v: "*" if v else ""),
            )
            lines += [
                "ESS by number of mixture components (a mixture that misses the peak of the "
                "MAP distribution understates its ELIR; trust the adequate fits):",
                shown.to_string(index=False),
            ]
            adequate = table[table["adequate"]]
            if not adequate.empty:
                lines.append(
                    f"ELIR over the adequate fits: {_span(list(adequate['elir']))} patients"
                )
        if self.ess_draws:
            lines.append(
                f"Moment ESS of the MAP draws (no mixture): {_fmt(self.ess_draws['moment'])} "
                "patients (a mixture-free, conservative figure)"
            )
        return lines

    def _sensitivity_lines(self) -> list[str]:
        table = self.sensitivity
        if table is None or table.empty:
            return []
        shown = table.copy()
        for col in ("elir", "moment", "draws_moment", "robust_elir"):
            if col in shown:
                shown[col] = shown[col].map(_fmt)
        return [
            "ESS over the priors of the meta-analysis (one MAP fit each):",
            shown.to_string(index=False),
            self.range_line(),
        ]

    def range_line(self) -> str:
        """One line: the ELIR range over :attr:`sensitivity` (empty without it)."""
        table = self.sensitivity
        if table is None or table.empty:
            return ""
        line = f"ESS (ELIR) {_span(list(table['elir']))} patients across the heterogeneity priors"
        if "robust_elir" in table and table["robust_elir"].notna().any():
            line += f" (robust prior {_span(list(table['robust_elir']))})"
        return line

    def __str__(self) -> str:
        s = self.draw_summary
        lines = [
            f"MAP prior from {self.fit.n_draws} draws: mean {s['mean']:.3f}, sd {s['sd']:.3f}, "
            f"95% interval [{s['lower']:.3f}, {s['upper']:.3f}]",
        ]
        if self.convergence is not None:
            lines.append(f"MCMC fit of the meta-analysis: {_convergence_line(self.convergence)}")
        lines += [str(self.fit), *self._ess_lines()]
        if self.robust is not None and self.robust_ess is not None:
            lines += ["Robust prior:", str(self.robust), f"ESS: {_fmt_dict(self.robust_ess)}"]
        lines += self._sensitivity_lines()
        return "\n".join(lines)


def _fmt_dict(d: Mapping[str, float | None]) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in d.items())


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as JSON-ready dictionaries (NaN becomes None)."""
    out = []
    for row in table.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, np.bool_ | bool):
                clean[str(key)] = bool(value)
            elif isinstance(value, np.integer):
                clean[str(key)] = int(value)
            elif isinstance(value, float | np.floating):
                clean[str(key)] = float(value) if np.isfinite(value) else None
            else:
                clean[str(key)] = value
        out.append(clean)
    return out


def _convergence_line(conv: Mapping[str, Any]) -> str:
    head = "converged" if conv.get("converged") else "NOT converged"

    def num(key: str, spec: str) -> str:
        value = conv.get(key)
        return "n/a" if value is None else format(value, spec)

    return (
        f"{head} (max R-hat {num('max_rhat', '.3f')}, min bulk ESS {num('min_ess_bulk', '.0f')}, "
        f"min tail ESS {num('min_ess_tail', '.0f')}, divergences {conv.get('divergences')}; "
        f"{conv.get('chains')} chains x {conv.get('draws')} draws)"
    )


def build_map_prior(
    draws: ArrayLike,
    *,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    max_components: int = 4,
    rng: np.random.Generator | None = None,
    provenance: dict[str, Any] | None = None,
    convergence: Mapping[str, Any] | None = None,
) -> MapPrior:
    """Summarise MAP draws, fit a beta mixture, robustify it and compute ESS.

    Parameters
    ----------
    draws : array_like
        Draws of the new cohort's response rate (the MAP prior).
    robust_weight : float, default 0.2
        Weight of the robust component (0 for none). 0.2 is a common choice that keeps most
        of the historical information while bounding the effect of prior-data conflict.
    robust_mean : float, optional
        Mean of the robust component (default 0.5, giving a uniform Beta(1, 1)).
    max_components : int, default 4
        Largest number of beta components tried.
    rng : numpy.random.Generator, optional
        Generator for the EM random starts.
    provenance : dict, optional
        Provenance record stored with the result.
    convergence : dict, optional
        Convergence gate of the fit that produced the draws (must hold ``converged``).

    Returns
    -------
    MapPrior
        With the ESS of the selected mixture, of the fits with every number of components
        (``ess_by_components``) and of the draws (``ess_draws``).
    """
    x = np.asarray(draws, dtype=float).ravel()
    if x.size and (np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x > 1)):
        raise SpecError("MAP draws must be finite rates in [0, 1]")
    if not 0 <= robust_weight < 1:
        raise SpecError(f"robust weight must lie in [0, 1), got {robust_weight!r}")
    if convergence is not None and "converged" not in convergence:
        raise SpecError("convergence must hold a 'converged' entry")
    fit = fit_beta_mixture(x, max_components=max_components, rng=rng)
    mix = fit.mixture
    assert isinstance(mix, BetaMixture)
    lo, hi = np.quantile(x, [0.025, 0.975])
    summary = {
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "lower": float(lo),
        "upper": float(hi),
    }
    robust = robustify(mix, weight=robust_weight, mean=robust_mean) if robust_weight > 0 else None
    return MapPrior(
        draw_summary=summary,
        fit=fit,
        robust=robust,
        ess=_all_ess(mix),
        robust_ess=None if robust is None else _all_ess(robust),
        provenance=dict(provenance) if provenance is not None else make_provenance(),
        ess_draws=draws_ess(x),
        ess_by_components=_components_table(fit),
        convergence=None if convergence is None else dict(convergence),
    )


# ---------------------------------------------------------------------------- evidence
def _sampler(sampler: Any) -> Any:
    """Sampler settings of the MAP fit: target acceptance 0.99 unless given otherwise.

    Few cohorts put the logit-normal posterior near its funnel, so it is sampled carefully.
    """
    from pclbayes.sampling import SamplerSettings

    if sampler is None:
        return SamplerSettings(target_accept=0.99)
    if isinstance(sampler, SamplerSettings):
        return sampler
    if isinstance(sampler, Mapping):
        return SamplerSettings.from_dict({"target_accept": 0.99, **dict(sampler)})
    raise SpecError("sampler must be a SamplerSettings or a dict of settings")


def _map_draws(
    data: Any,
    *,
    endpoint: str,
    by: str,
    level: str | None,
    tau_prior: str | None,
    intercept_prior: str | None,
    seed: int,
    sampler: Any,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Draws of a new cohort's rate from the logit-normal model, and its convergence gate.

    As :func:`pclbayes.response.predictive_draws`, keeping the fit's diagnostics.
    """
    from pclbayes.response import ResponseModel
    from pclbayes.response.counts import prepare

    priors: dict[str, Any] = {}
    if tau_prior is not None:
        priors["sigma"] = tau_prior
    if intercept_prior is not None:
        priors["intercept"] = intercept_prior
    model = ResponseModel(
        endpoint=endpoint, by=by, model="logit-normal", priors=priors, sampler=_sampler(sampler)
    )
    model.validate()
    strata = prepare(data, endpoint=endpoint, by=by).strata
    if level is None:
        if len(strata) != 1:
            raise SpecError(
                f"by='{by}' has levels {', '.join(strata)}: name the new cohort's level"
            )
        level = strata[0]
    if level not in strata:
        raise SpecError(f"level '{level}' is not a level of '{by}'; levels: {', '.join(strata)}")
    model.fit(data, seed=seed)
    rate = model.idata_["posterior"]["predictive_rate"].sel({model.counts_.dim: level})
    report = model.diagnostics_
    convergence = {"converged": bool(report.ok), **report.to_dict()}
    return np.asarray(rate.values, dtype=float).ravel(), convergence


def _load(data_path: str | Path | None) -> tuple[Any, str | None]:
    from pclbayes import data as data_module

    data = data_module.load(data_path)
    data_hash = getattr(data, "data_hash", None)
    if data_hash is None and data_path is not None and Path(data_path).exists():
        data_hash = hash_path(data_path)
    return data, data_hash


def map_prior_from_evidence(
    data_path: str | Path | None = None,
    *,
    endpoint: str = "orr",
    by: str = "target",
    level: str | None = None,
    tau_prior: str | None = None,
    intercept_prior: str | None = None,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    seed: int = 0,
    max_components: int = 4,
    sampler: Any = None,
    sensitivity: bool = False,
) -> MapPrior:
    """MAP prior of a new cohort's response rate from the evidence base.

    Loads the cohorts with :func:`pclbayes.data.load`, samples the logit-normal random-effects
    model (:class:`pclbayes.response.ResponseModel`), takes the draws of the new-cohort rate in
    stratum ``level`` of grouping ``by`` and passes them, with the fit's convergence gate, to
    :func:`build_map_prior`. ``data_path`` of None means the bundled evidence base.

    Parameters
    ----------
    data_path : str or Path, optional
        Evidence data (default: bundled).
    endpoint, by, level : str
        Response endpoint, grouping and stratum of the new cohort.
    tau_prior, intercept_prior : str, optional
        Priors of the between-cohort SD ``sigma`` (tau) and of the mean log-odds of the
        reference stratum (``intercept``), e.g. ``"HalfNormal(sigma=0.5)"``; default: the
        response model's defaults.
    robust_weight, robust_mean : float
        Robust component (see :func:`build_map_prior`).
    seed : int
        Seed of the MCMC fit and of the EM starts.
    max_components : int
        Largest mixture size.
    sampler : SamplerSettings or dict, optional
        NUTS settings (default 4 chains x 1000 draws, target acceptance 0.99); ``draws`` per
        chain sets the number of MAP draws.
    sensitivity : bool, default False
        Also compute :func:`map_prior_ess_range` into ``.sensitivity`` (one MCMC fit per pair
        of priors on its grid, five more with the default priors, whose fit is reused).
    """
    data, data_hash = _load(data_path)
    draws, convergence = _map_draws(
        data,
        endpoint=endpoint,
        by=by,
        level=level,
        tau_prior=tau_prior,
        intercept_prior=intercept_prior,
        seed=seed,
        sampler=sampler,
    )
    settings = _sampler(sampler)
    spec = {
        "endpoint": endpoint,
        "by": by,
        "level": level,
        "model": "logit-normal",
        "tau_prior": tau_prior,
        "intercept_prior": intercept_prior,
        "robust_weight": robust_weight,
        "robust_mean": robust_mean,
        "max_components": max_components,
        "sampler": dict(settings.__dict__),
    }
    prov = make_provenance(data_hash=data_hash, spec=spec, seed=seed)
    res = build_map_prior(
        draws,
        robust_weight=robust_weight,
        robust_mean=robust_mean,
        max_components=max_components,
        rng=np.random.default_rng(seed),
        provenance=prov,
        convergence=convergence,
    )
    if not sensitivity:
        return res
    table = _ess_range(
        data,
        endpoint=endpoint,
        by=by,
        level=level,
        robust_weight=robust_weight,
        robust_mean=robust_mean,
        seed=seed,
        max_components=max_components,
        sampler=sampler,
        known={_prior_key(tau_prior, intercept_prior): (draws, convergence)},
    )
    return replace(res, sensitivity=table)


def _prior_key(tau_prior: str | None, intercept_prior: str | None) -> tuple[str, str]:
    """Canonical text of the (tau, intercept) priors, defaults filled in."""
    from pclbayes.priors import Prior
    from pclbayes.response.defaults import PRIORS

    defaults = PRIORS["logit-normal"]
    tau = defaults["sigma"].default if tau_prior is None else Prior.parse(tau_prior)
    intercept = (
        defaults["intercept"].default if intercept_prior is None else Prior.parse(intercept_prior)
    )
    return str(tau), str(intercept)


def _ess_range(
    data: Any,
    *,
    endpoint: str,
    by: str,
    level: str | None,
    tau_priors: Sequence[str] = DEFAULT_TAU_PRIORS,
    intercept_priors: Sequence[str] = DEFAULT_INTERCEPT_PRIORS,
    robust_weight: float,
    robust_mean: float | None,
    seed: int,
    max_components: int,
    sampler: Any,
    known: Mapping[tuple[str, str], tuple[NDArray[np.float64], dict[str, Any]]] | None = None,
) -> pd.DataFrame:
    """The table of :func:`map_prior_ess_range`; fits in ``known`` (by prior key) are reused."""
    if not tau_priors or not intercept_priors:
        raise SpecError("the ESS range needs at least one tau prior and one intercept prior")
    known = dict(known or {})
    rows = []
    for intercept in intercept_priors:
        for tau in tau_priors:
            key = _prior_key(tau, intercept)
            if key not in known:
                known[key] = _map_draws(
                    data,
                    endpoint=endpoint,
                    by=by,
                    level=level,
                    tau_prior=tau,
                    intercept_prior=intercept,
                    seed=seed,
                    sampler=sampler,
                )
            draws, conv = known[key]
            fit = fit_beta_mixture(draws, max_components=max_components,
                                   rng=np.random.default_rng(seed))
            mix = fit.mixture
            assert isinstance(mix, BetaMixture)
            rob = robustify(mix, robust_weight, mean=robust_mean) if robust_weight > 0 else None
            rows.append(
                {
                    "tau_prior": tau,
                    "intercept_prior": intercept,
                    "converged": bool(conv["converged"]),
                    "components": mix.n_components,
                    "elir": _ess_or_none(mix, "elir"),
                    "moment": _ess_or_none(mix, "moment"),
                    "draws_moment": draws_ess(draws)["moment"],
                    "robust_elir": None if rob is None else _ess_or_none(rob, "elir"),
                }
            )
    return pd.DataFrame(rows)


def map_prior_ess_range(
    data_path: str | Path | None = None,
    *,
    endpoint: str = "orr",
    by: str = "target",
    level: str | None = None,
    tau_priors: Sequence[str] = DEFAULT_TAU_PRIORS,
    intercept_priors: Sequence[str] = DEFAULT_INTERCEPT_PRIORS,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    seed: int = 0,
    max_components: int = 4,
    sampler: Any = None,
) -> pd.DataFrame:
    """ESS of the MAP prior over heterogeneity (tau) and intercept priors.

    One MCMC fit of the logit-normal model per pair of priors (crossed), each followed by the
    mixture fit of :func:`build_map_prior`.

    Parameters
    ----------
    data_path, endpoint, by, level, robust_weight, robust_mean, seed, max_components, sampler
        As in :func:`map_prior_from_evidence`.
    tau_priors : sequence of str
        Priors of the between-cohort SD (default :data:`DEFAULT_TAU_PRIORS`).
    intercept_priors : sequence of str
        Priors of the mean log-odds (default :data:`DEFAULT_INTERCEPT_PRIORS`).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``tau_prior``, ``intercept_prior``, ``converged`` (MCMC gate),
        ``components`` (of the selected mixture), ``elir`` and ``moment`` (of the mixture),
        ``draws_moment`` (moment ESS of the draws) and ``robust_elir``.
    """
    data, _ = _load(data_path)
    return _ess_range(
        data,
        endpoint=endpoint,
        by=by,
        level=level,
        tau_priors=tau_priors,
        intercept_priors=intercept_priors,
        robust_weight=robust_weight,
        robust_mean=robust_mean,
        seed=seed,
        max_components=max_components,
        sampler=sampler,
    )
