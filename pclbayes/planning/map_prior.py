r"""Meta-analytic-predictive (MAP) prior for the response rate of a new cohort.

The MAP prior (Neuenschwander et al. 2010) is the predictive distribution of the rate
:math:`\theta_\star` of a new cohort under a random-effects model fitted to the historical
cohorts, e.g. :math:`\mathrm{logit}\,\theta_j \sim N(\mu, \tau^2)`:

.. math:: p(\theta_\star \mid \text{data}) = \int N(\mathrm{logit}\,\theta_\star \mid \mu,
   \tau^2)\, p(\mu, \tau \mid \text{data})\, d\mu\, d\tau .

It is available as Monte-Carlo draws; :func:`build_map_prior` approximates them with a beta
mixture (EM), robustifies it and reports ESS. :func:`map_prior_from_evidence` connects this to
the bundled evidence base and the hierarchical response model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pclbayes.errors import SpecError
from pclbayes.planning.ess import ESS_METHODS, ess
from pclbayes.planning.fit import MixtureFit, fit_beta_mixture
from pclbayes.planning.io import hash_path, make_provenance
from pclbayes.planning.mixture import BetaMixture, robustify

__all__ = ["MapPrior", "build_map_prior", "map_prior_from_evidence"]

logger = logging.getLogger(__name__)


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
        ESS of the mixture by method (``elir``, ``morita``, ``moment``).
    robust_ess : dict or None
        ESS of the robust mixture.
    provenance : dict
        Data hash, specification, seed, version and time.
    """

    draw_summary: dict[str, float]
    fit: MixtureFit
    robust: BetaMixture | None
    ess: dict[str, float | None]
    robust_ess: dict[str, float | None] | None
    provenance: dict[str, Any]

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``map``, ``mixture``, ``robust``, ``ess``, ...)."""
        return {
            "map": dict(self.draw_summary),
            "mixture": _components(self.mixture),
            "robust": None if self.robust is None else _components(self.robust),
            "ess": dict(self.ess),
            "robust_ess": None if self.robust_ess is None else dict(self.robust_ess),
            "fit": {
                "components": self.fit.n_components,
                "kl_divergence": self.fit.kl_divergence,
                "adequate": self.fit.adequate,
                "quantile_errors": self.fit.quantile_errors.to_dict(orient="records"),
            },
            "provenance": dict(self.provenance),
        }

    def __str__(self) -> str:
        s = self.draw_summary

        def fmt(d: dict[str, float | None]) -> str:
            return ", ".join(f"{k} {'n/a' if v is None else f'{v:.1f}'}" for k, v in d.items())

        lines = [
            f"MAP prior from {self.fit.n_draws} draws: mean {s['mean']:.3f}, sd {s['sd']:.3f}, "
            f"95% interval [{s['lower']:.3f}, {s['upper']:.3f}]",
            str(self.fit),
            f"ESS: {fmt(self.ess)}",
        ]
        if self.robust is not None and self.robust_ess is not None:
            lines += ["Robust prior:", str(self.robust), f"ESS: {fmt(self.robust_ess)}"]
        return "\n".join(lines)


def build_map_prior(
    draws: ArrayLike,
    *,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    max_components: int = 4,
    rng: np.random.Generator | None = None,
    provenance: dict[str, Any] | None = None,
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
    """
    x = np.asarray(draws, dtype=float).ravel()
    if x.size and (np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x > 1)):
        raise SpecError("MAP draws must be finite rates in [0, 1]")
    if not 0 <= robust_weight < 1:
        raise SpecError(f"robust weight must lie in [0, 1), got {robust_weight!r}")
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
    )


def map_prior_from_evidence(
    data_path: str | Path | None = None,
    *,
    endpoint: str = "orr",
    by: str = "target",
    level: str | None = None,
    tau_prior: str | None = None,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    seed: int = 0,
    max_components: int = 4,
) -> MapPrior:
    """MAP prior of a new cohort's response rate from the evidence base.

    Loads the cohorts with :func:`pclbayes.data.load`, draws the new-cohort rate in stratum
    ``level`` of grouping ``by`` from the logit-normal random-effects model
    (:func:`pclbayes.response.predictive_draws`) and passes the draws to
    :func:`build_map_prior`. ``data_path`` of None means the bundled evidence base.
    """
    from pclbayes import data as data_module
    from pclbayes import response

    data = data_module.load(data_path)
    draws = response.predictive_draws(
        data,
        endpoint=endpoint,
        by=by,
        level=level,
        model="logit-normal",
        tau_prior=tau_prior,
        seed=seed,
    )
    spec = {
        "endpoint": endpoint,
        "by": by,
        "level": level,
        "model": "logit-normal",
        "tau_prior": tau_prior,
        "robust_weight": robust_weight,
        "robust_mean": robust_mean,
        "max_components": max_components,
    }
    data_hash = getattr(data, "data_hash", None)
    if data_hash is None and data_path is not None and Path(data_path).exists():
        data_hash = hash_path(data_path)
    prov = make_provenance(data_hash=data_hash, spec=spec, seed=seed)
    return build_map_prior(
        draws,
        robust_weight=robust_weight,
        robust_mean=robust_mean,
        max_components=max_components,
        rng=np.random.default_rng(seed),
        provenance=prov,
    )
