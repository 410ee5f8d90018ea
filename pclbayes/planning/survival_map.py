r"""MAP-style prior for a new cohort's median survival time, from the pooled survival model.

The Weibull survival model (:mod:`pclbayes.survival`) gives posterior-predictive draws of the
median time :math:`m_\star` (months) of a *new* cohort in one stratum (e.g. BCMA products),
together with the matching Weibull shape draws :math:`k`. This module

1. approximates the draws of :math:`\log m_\star` by a normal mixture (EM, 1 to
   ``max_components`` components; :func:`pclbayes.planning.log_median_prior`), a prior for
   the log median of a new analysis. The number of components is chosen by the penalised
   likelihood ``-2 log L + 6 p`` (parsimony); the predictive log median is heavy-tailed (a
   scale mixture over the between-cohort spread), so when that choice fails the fit-quality
   check (KL divergence, quantile errors) the selection is repeated with the AIC penalty
   ``2 p``, and a ``StatisticalWarning`` is raised only if that fit is poor as well;
2. reports its effective sample size in *events* at the posterior-median shape
   :math:`\tilde k` (:func:`pclbayes.planning.ess_events`; a single normal with variance
   :math:`v` is worth :math:`1/(\tilde k^2 v)` events);
3. optionally robustifies it like the response MAP prior (:func:`robustify_log_median`):
   :math:`(1 - w)\, p_{MAP} + w\, N(m_r, 1/\tilde k^2)`, a vague component worth one event
   at the shape :math:`\tilde k` (the unit information of a log median is :math:`k^2` per
   event), centred at the mixture mean unless another median is given (Schmidli et al. 2014);
4. records provenance (data hash, specification, seed, shape) so the prior can be written
   with :func:`pclbayes.planning.save_prior` and used by ``pclbayes plan events``.

The shape is treated as known at :math:`\tilde k` for the ESS; its uncertainty is reported
(95% interval) but not propagated.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning.ess import ess_events
from pclbayes.planning.fit import MixtureFit
from pclbayes.planning.io import hash_path, make_provenance, save_prior
from pclbayes.planning.normal import NormalMixture
from pclbayes.planning.survival_prior import log_median_prior

__all__ = [
    "SurvivalMapPrior",
    "build_survival_map_prior",
    "robustify_log_median",
    "survival_map_prior_from_evidence",
]

logger = logging.getLogger(__name__)

_ESS_METHODS = ("elir", "morita", "moment")
_ENDPOINTS = ("pfs", "os")
#: Penalties per mixture parameter tried in turn: parsimonious first, then AIC.
_PENALTIES = (6.0, 2.0)


def _check_draws(draws: Mapping[str, Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate ``{"median": ..., "shape": ...}`` and return both as 1-D float arrays."""
    if not isinstance(draws, Mapping):
        raise SpecError(
            f"draws must be a mapping with 'median' and 'shape', got {type(draws).__name__}"
        )
    missing = [k for k in ("median", "shape") if k not in draws]
    if missing:
        raise SpecError(f"draws lack {missing}; expected keys 'median' and 'shape'")
    out = []
    for key in ("median", "shape"):
        x = np.asarray(draws[key], dtype=float)
        if x.ndim != 1 or x.size < 2:
            raise SpecError(f"draws['{key}'] must be 1-D with at least 2 values, got {x.shape}")
        bad = ~np.isfinite(x) | (x <= 0)
        if bad.any():
            raise SpecError(
                f"draws['{key}'] must be finite and positive; {int(bad.sum())} of {x.size} are not"
            )
        out.append(x)
    if out[0].size != out[1].size:
        raise SpecError(
            f"draws['median'] and draws['shape'] differ in length ({out[0].size} vs "
            f"{out[1].size}); they must be matching draws"
        )
    return out[0], out[1]


def _fit_log_median(
    median: NDArray[np.float64], max_components: int, rng: np.random.Generator
) -> tuple[MixtureFit, float]:
    """Fit the log-median mixture, relaxing the selection penalty if the fit is poor."""
    fit: MixtureFit | None = None
    for penalty in _PENALTIES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            fit = log_median_prior(median, max_components=max_components, penalty=penalty, rng=rng)
        if fit.adequate:
            return fit, penalty
        logger.info(
            "log-median mixture with penalty %g (%d components) fails the fit check",
            penalty,
            fit.n_components,
        )
    assert fit is not None
    worst = float(np.max(np.abs(fit.quantile_errors["error"]))) / float(np.std(np.log(median)))
    warnings.warn(
        f"The normal mixture approximates the log-median draws poorly (KL divergence "
        f"{fit.kl_divergence:.3g}, largest quantile error {worst:.3g} sd) even with "
        f"{fit.n_components} component(s). Increase max_components or check the draws.",
        StatisticalWarning,
        stacklevel=3,
    )
    return fit, _PENALTIES[-1]


def _interval(x: NDArray[np.float64]) -> dict[str, float]:
    lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
    return {"median": float(med), "lower": float(lo), "upper": float(hi)}


@dataclass(frozen=True)
class SurvivalMapPrior:
    """Prior for a new cohort's log median time, with its ESS in events.

    Attributes
    ----------
    endpoint, by, level : str or None
        What the prior describes (e.g. ``"pfs"``, ``"target"``, ``"BCMA"``).
    median_summary : dict
        Draws of the new cohort's median (months): ``median``, ``lower``, ``upper`` (95%
        equal-tailed), ``mean_log`` and ``sd_log`` (of ``log(median)``), ``draws``.
    mixture_summary : dict
        ``median``, ``lower``, ``upper`` (months) implied by the fitted mixture.
    shape_summary : dict
        Weibull shape draws: ``median``, ``lower``, ``upper``.
    fit : MixtureFit
        Normal-mixture approximation of ``log(median)`` with fit diagnostics.
    penalty : float
        Selection penalty per parameter of the kept mixture (6, or 2 when the parsimonious
        choice failed the fit-quality check).
    ess : dict
        ESS in events at the posterior-median shape by method (``elir``, ``morita``,
        ``moment``; None when not available).
    provenance : dict
        Data hash, specification, seed, Weibull shape used for the ESS, versions, time.
    """

    endpoint: str
    by: str
    level: str | None
    median_summary: dict[str, float]
    mixture_summary: dict[str, float]
    shape_summary: dict[str, float]
    fit: MixtureFit
    penalty: float
    ess: dict[str, float | None]
    provenance: dict[str, Any]
    robust: NormalMixture | None = None
    robust_ess: dict[str, float | None] | None = None

    @property
    def mixture(self) -> NormalMixture:
        """The (non-robust) normal-mixture approximation of ``log(median)`` (months)."""
        mix = self.fit.mixture
        assert isinstance(mix, NormalMixture)
        return mix

    @property
    def prior(self) -> NormalMixture:
        """The prior to plan with: the robust mixture if present, else the approximation."""
        return self.robust if self.robust is not None else self.mixture

    @property
    def shape(self) -> float:
        """Weibull shape (posterior median) at which the ESS is computed."""
        return self.shape_summary["median"]

    def save(self, path: str | Path) -> Path:
        """Write the prior with its provenance as a pclbayes prior file (JSON)."""
        return save_prior(self.prior, path, provenance=self.provenance)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``median``, ``mixture``, ``shape``, ``ess_events``, ...)."""
        return {
            "endpoint": self.endpoint,
            "by": self.by,
            "level": self.level,
            "median": dict(self.median_summary),
            "mixture_median": dict(self.mixture_summary),
            "mixture": self.mixture.to_dict()["components"],
            "robust": None if self.robust is None else self.robust.to_dict()["components"],
            "robust_ess_events": None if self.robust_ess is None else dict(self.robust_ess),
            "shape": dict(self.shape_summary),
            "ess_events": dict(self.ess),
            "fit": {
                "components": self.fit.n_components,
                "penalty": self.penalty,
                "kl_divergence": self.fit.kl_divergence,
                "adequate": self.fit.adequate,
                "quantile_errors": self.fit.quantile_errors.to_dict(orient="records"),
            },
            "provenance": dict(self.provenance),
        }

    def __str__(self) -> str:
        m, mm, k = self.median_summary, self.mixture_summary, self.shape_summary
        stratum = "" if self.level is None else f" ({self.by} {self.level})"
        ess_text = ", ".join(
            f"{key} {'n/a' if v is None else f'{v:.1f}'}" for key, v in self.ess.items()
        )
        return "\n".join(
            [
                f"Prior for a new cohort's median {self.endpoint.upper()}{stratum}, from "
                f"{int(m['draws'])} predictive draws",
                f"Median of the new-cohort median: {m['median']:.2f} months, 95% interval "
                f"[{m['lower']:.2f}, {m['upper']:.2f}]",
                f"Mixture approximation:           {mm['median']:.2f} months, 95% interval "
                f"[{mm['lower']:.2f}, {mm['upper']:.2f}]",
                f"Normal mixture on log(median months), components chosen with penalty "
                f"{self.penalty:g} per parameter:",
                str(self.fit),
                f"Weibull shape: {k['median']:.3f} (posterior median), 95% interval "
                f"[{k['lower']:.3f}, {k['upper']:.3f}]",
                f"ESS in events at shape {k['median']:.3f}: {ess_text}",
                *self._robust_lines(),
            ]
        )

    def _robust_lines(self) -> list[str]:
        if self.robust is None or self.robust_ess is None:
            return []
        text = ", ".join(f"{key} {'n/a' if v is None else f'{v:.1f}'}"
                         for key, v in self.robust_ess.items())
        return ["Robust prior (vague component worth one event):", str(self.robust),
                f"ESS in events of the robust prior: {text}"]


def robustify_log_median(
    mix: NormalMixture, weight: float, shape: float, *, median: float | None = None,
    events: float = 1.0,
) -> NormalMixture:
    r"""Add a vague ("robust") component to a log-median prior.

    .. math:: (1 - w)\, p(\log m) + w\, N\bigl(\log m_r,\; 1 / (e\, k^2)\bigr),

    a component worth ``events`` (:math:`e`, default one) events at Weibull shape :math:`k`
    (:func:`pclbayes.planning.ess_events`: a normal with variance :math:`v` is worth
    :math:`1/(k^2 v)` events), centred at the mixture mean (``median`` None) or at
    :math:`\log m_r` for a given median :math:`m_r` (months). Under prior-data conflict the
    posterior moves to the vague component, as for the response MAP prior (Schmidli et al.
    2014).

    Parameters
    ----------
    mix : NormalMixture
        Prior of the log median (months).
    weight : float
        Weight of the vague component, in (0, 1).
    shape : float
        Weibull shape (> 0).
    median : float, optional
        Centre of the vague component as a median in months (> 0).
    events : float, default 1
        Information of the vague component in events (> 0).
    """
    from pclbayes.planning._common import check_probability

    w = check_probability(weight, "robust weight")
    if not (np.isfinite(shape) and shape > 0):
        raise SpecError(f"Weibull shape must be > 0, got {shape!r}")
    if not (np.isfinite(events) and events > 0):
        raise SpecError(f"events must be > 0, got {events!r}")
    if median is not None and not (np.isfinite(median) and median > 0):
        raise SpecError(f"the robust median must be > 0 months, got {median!r}")
    if "robust" in mix.names:
        raise SpecError("the mixture already has a component named 'robust'")
    centre = mix.mean if median is None else float(np.log(median))
    sd = 1.0 / (float(shape) * np.sqrt(float(events)))
    return NormalMixture(np.append(mix.weights * (1 - w), w), np.append(mix.means, centre),
                         np.append(mix.sds, sd), names=[*mix.names, "robust"])



def _ess_by_method(prior: Any, shape: float, what: str) -> dict[str, float | None]:
    """ESS in events of ``prior`` by each of :data:`_ESS_METHODS` (None where undefined)."""
    out: dict[str, float | None] = {}
    for method in _ESS_METHODS:
        try:
            out[method] = ess_events(prior, shape, method)
        except SpecError as exc:
            logger.warning("ESS (%s)%s not available: %s", method, what, exc)
            out[method] = None
    return out

def build_survival_map_prior(
    draws: Mapping[str, Any],
    *,
    endpoint: str = "pfs",
    by: str = "target",
    level: str | None = None,
    max_components: int = 3,
    rng: np.random.Generator | None = None,
    provenance: Mapping[str, Any] | None = None,
    robust_weight: float = 0.0,
    robust_median: float | None = None,
) -> SurvivalMapPrior:
    """Summarise new-cohort median draws, fit a normal mixture to the log and compute ESS.

    Parameters
    ----------
    draws : mapping
        ``"median"``: draws of a new cohort's median time (months); ``"shape"``: the
        matching Weibull shape draws.
    endpoint, by, level : str
        Labels stored with the result.
    max_components : int, default 3
        Largest number of normal components tried. Selection uses the penalty 6 per
        parameter, then 2 (AIC) if that fit fails the fit-quality check.
    rng : numpy.random.Generator, optional
        Generator for the EM random starts (default: seed 0).
    provenance : mapping, optional
        Provenance record; the Weibull shape used for the ESS is added as ``weibull_shape``.
    robust_weight : float, default 0
        Weight of the vague component (:func:`robustify_log_median`), in [0, 1); 0 for none.
    robust_median : float, optional
        Centre of the vague component as a median in months (default: the mixture mean).

    Returns
    -------
    SurvivalMapPrior
    """
    if not (np.isfinite(robust_weight) and 0 <= robust_weight < 1):
        raise SpecError(f"robust weight must lie in [0, 1), got {robust_weight!r}")
    median, shape = _check_draws(draws)
    rng = np.random.default_rng(0) if rng is None else rng
    fit, penalty = _fit_log_median(median, max_components, rng)
    mix = fit.mixture
    assert isinstance(mix, NormalMixture)
    log_m = np.log(median)
    median_summary = {
        **_interval(median),
        "mean_log": float(log_m.mean()),
        "sd_log": float(log_m.std(ddof=1)),
        "draws": int(median.size),
    }
    q = np.exp(mix.ppf([0.025, 0.5, 0.975]))
    mixture_summary = {"median": float(q[1]), "lower": float(q[0]), "upper": float(q[2])}
    shape_summary = _interval(shape)
    k = shape_summary["median"]
    ess = _ess_by_method(mix, k, "")
    prov = dict(provenance) if provenance is not None else make_provenance()
    prov["weibull_shape"] = k
    robust = robust_ess = None
    if robust_weight > 0:
        robust = robustify_log_median(mix, robust_weight, k, median=robust_median)
        robust_ess = _ess_by_method(robust, k, " of the robust prior")
        prov["robust_weight"] = float(robust_weight)
        prov["robust_median"] = robust_median
    return SurvivalMapPrior(
        endpoint=endpoint,
        by=by,
        level=level,
        median_summary=median_summary,
        mixture_summary=mixture_summary,
        shape_summary=shape_summary,
        fit=fit,
        penalty=penalty,
        ess=ess,
        provenance=prov,
        robust=robust,
        robust_ess=robust_ess,
    )


def survival_map_prior_from_evidence(
    data_path: str | Path | None = None,
    *,
    endpoint: str = "pfs",
    by: str = "target",
    level: str | None = None,
    seed: int = 0,
    max_components: int = 3,
    draws: Mapping[str, Any] | None = None,
    robust_weight: float = 0.0,
    robust_median: float | None = None,
) -> SurvivalMapPrior:
    """Prior for a new cohort's log median PFS or OS from the evidence base.

    Loads the evidence with :func:`pclbayes.data.load` (``data_path`` None: the bundled
    data), draws the median time of a new cohort in stratum ``level`` of grouping ``by``
    from the pooled Weibull model (:func:`pclbayes.survival.predictive_median_draws`) and
    passes them to :func:`build_survival_map_prior`.

    Parameters
    ----------
    data_path : str or Path, optional
        Evidence data (directory of CSVs or a single CSV).
    endpoint : {"pfs", "os"}
        Survival endpoint.
    by : str, default "target"
        Grouping of the episodes (``"target"`` or ``"strategy"``).
    level : str, optional
        Stratum of ``by`` for the new cohort (e.g. ``"BCMA"``); may be omitted when there is
        a single group.
    seed : int, default 0
        Seed of the survival model's sampler and of the EM starts.
    max_components : int, default 3
        Largest number of normal components tried.
    draws : mapping, optional
        Precomputed ``{"median", "shape"}`` draws to use instead of fitting the survival
        model (e.g. from a saved fit). The data are then not read; the provenance records
        ``draws_source = "supplied"`` and the data hash of ``data_path`` if one is given.
    robust_weight, robust_median : float
        Robustification (:func:`build_survival_map_prior`); weight 0 (default) for none.

    Returns
    -------
    SurvivalMapPrior
    """
    if endpoint not in _ENDPOINTS:
        raise SpecError(f"endpoint must be one of {list(_ENDPOINTS)}, got {endpoint!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise SpecError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    data_hash: str | None = None
    if draws is None:
        from pclbayes import data as data_module
        from pclbayes import survival

        data = data_module.load(data_path)
        data_hash = getattr(data, "data_hash", None)
        logger.info("fitting the %s survival model by %s (seed %d)", endpoint, by, seed)
        draws = survival.predictive_median_draws(
            data, endpoint=endpoint, by=by, level=level, seed=seed
        )
        source = "pclbayes.survival.predictive_median_draws"
    else:
        source = "supplied"
    if data_hash is None and data_path is not None and Path(data_path).exists():
        data_hash = hash_path(data_path)
    spec = {
        "endpoint": endpoint,
        "by": by,
        "level": level,
        "model": "weibull",
        "parameter": "log_median_months",
        "max_components": max_components,
    }
    prov = make_provenance(data_hash=data_hash, spec=spec, seed=seed, draws_source=source)
    return build_survival_map_prior(
        draws,
        endpoint=endpoint,
        by=by,
        level=level,
        max_components=max_components,
        rng=np.random.default_rng(seed),
        provenance=prov,
        robust_weight=robust_weight,
        robust_median=robust_median,
    )
