"""Reported quantities, pointwise log-likelihood and predictive draws, computed from draws.

All arrays carry leading ``(chain, draw)`` axes. The same functions serve the posterior
and the prior (prior draws come straight from the prior distributions), so the
prior-predictive check and the posterior summaries use identical formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import xarray as xr

from pclbayes.priors import Prior
from pclbayes.survival.design import Design
from pclbayes.survival.weibull import (
    cluster_loglik,
    draw_times,
    episode_loglik,
    log_cumhaz,
    survival_at,
)

SAMPLE_DIMS = ("chain", "draw")

#: At most this many (draw x episode) values are stored per pointwise group (predictive
#: times, log-likelihood; 80 MB each); with more episodes every k-th draw is kept (large
#: data), which bounds what a fit keeps in memory.
MAX_POINTWISE = 10_000_000

#: Per-episode work on draws runs over blocks of at most this many (draw x episode) values,
#: so that its temporaries stay small (tens of MB) however many episodes there are.
CHUNK_VALUES = 2_000_000


@dataclass(frozen=True)
class Draws:
    """Parameter draws, each with leading ``(chain, draw)`` axes.

    ``sigma_new`` and ``z_new`` give a new cohort's effect ``sigma_new * z_new``: the
    posterior between-cohort SD when the cohort effect is fitted, prior draws otherwise.
    """

    log_median: np.ndarray
    beta: np.ndarray
    shape: np.ndarray
    z_cohort: np.ndarray
    sigma_cohort: np.ndarray
    tau: np.ndarray
    sigma_new: np.ndarray
    z_new: np.ndarray

    @property
    def lead(self) -> tuple[int, int]:
        """``(chains, draws)``."""
        return self.log_median.shape  # type: ignore[return-value]


def thin_step(lead: tuple[int, int], units: int) -> int:
    """Keep every ``step``-th draw so that ``draws x units <= MAX_POINTWISE``."""
    return max(1, int(np.ceil(lead[0] * lead[1] * max(units, 1) / MAX_POINTWISE)))


def draw_blocks(lead: tuple[int, int], units: int) -> list[tuple[int, slice]]:
    """``(chain, draw slice)`` blocks of at most :data:`CHUNK_VALUES` values each.

    A single block (all chains and draws at once, returned as ``[]``) when everything fits.
    """
    if lead[0] * lead[1] * max(units, 1) <= CHUNK_VALUES:
        return []
    size = max(1, CHUNK_VALUES // max(units, 1))
    return [(c, slice(start, min(start + size, lead[1])))
            for c in range(lead[0]) for start in range(0, lead[1], size)]


def block(d: Draws, chain: int, draws: slice) -> Draws:
    """The draws ``draws`` of chain ``chain`` (keeping a chain axis of length 1)."""
    return Draws(**{f.name: getattr(d, f.name)[chain:chain + 1, draws] for f in fields(d)})


def blockwise(fn: Callable[[Draws], np.ndarray], d: Draws, units: int) -> np.ndarray:
    """``fn(d)`` (an array ``(chain, draw, ...)``) evaluated block by block.

    ``units`` is the number of values ``fn`` works on per draw (its temporaries' size),
    which sets the block size (:func:`draw_blocks`). Without blocks this is exactly
    ``fn(d)``; otherwise the result is filled in place and no temporary larger than a
    block is made. Every draw is computed alone, so the blocks do not change its value.
    """
    blocks = draw_blocks(d.lead, units)
    if not blocks:
        return fn(d)
    out: np.ndarray | None = None
    for chain, draws in blocks:
        part = fn(block(d, chain, draws))
        if out is None:
            out = np.empty((*d.lead, *part.shape[2:]), dtype=part.dtype)
        out[chain:chain + 1, draws] = part
    assert out is not None
    return out


def thinned(d: Draws, step: int) -> Draws:
    """Every ``step``-th draw of each chain."""
    if step == 1:
        return d
    return Draws(**{f.name: getattr(d, f.name)[:, ::step] for f in fields(d)})


def draws_from_posterior(post: xr.Dataset, design: Design, priors: dict[str, Prior],
                         fixed_shape: float | None, rng: np.random.Generator) -> Draws:
    """Collect posterior draws (and the new-cohort draws) into :class:`Draws`."""
    mu = post["log_median"].values
    lead = mu.shape
    beta = post["beta"].values if design.n_terms else np.zeros((*lead, 0))
    shape = _shape(post, design, fixed_shape, lead)
    if design.cohort_effect:
        sigma = post["sigma_cohort"].values
        z = cohort_z(post)
        sigma_new = sigma
    else:
        z = np.zeros((*lead, len(design.cohorts)))
        sigma = np.zeros(lead)
        sigma_new = priors["sigma_cohort"].rvs(int(np.prod(lead)), rng).reshape(lead)
    tau = post["kendall_tau"].values if design.frailty else np.zeros(lead)
    z_new = rng.standard_normal(lead)
    return Draws(mu, beta, shape, z, sigma, tau, sigma_new, z_new)


def cohort_z(post: xr.Dataset) -> np.ndarray:
    """Standardised cohort effects ``z_c`` from either parametrisation."""
    if "z_cohort" in post:
        return post["z_cohort"].values
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((post["cohort_log_median"] - post["log_median"]) / post["sigma_cohort"]).values


def draws_from_prior(priors: dict[str, Prior], design: Design, fixed_shape: float | None,
                     n: int, rng: np.random.Generator) -> Draws:
    """Draw ``n`` parameter sets from the priors (one chain)."""
    lead = (1, n)

    def rvs(name: str, *extra: int) -> np.ndarray:
        size = int(np.prod(lead + extra))
        return np.asarray(priors[name].rvs(size, rng), dtype=float).reshape(lead + extra)

    mu = rvs("log_median")
    beta = rvs("effect", design.n_terms) if design.n_terms else np.zeros((*lead, 0))
    if fixed_shape is not None:
        shape = np.full(lead, float(fixed_shape))
    elif design.shape_by_group:
        shape = rvs("shape", len(design.groups))
    else:
        shape = rvs("shape")
    sigma = rvs("sigma_cohort")
    z = rng.standard_normal((*lead, len(design.cohorts)))
    if not design.cohort_effect:
        z = np.zeros_like(z)
    tau = rvs("kendall_tau") if design.frailty else np.zeros(lead)
    return Draws(mu, beta, shape, z, sigma, tau, sigma, rng.standard_normal(lead))


def _shape(post: xr.Dataset, design: Design, fixed_shape: float | None,
           lead: tuple[int, ...]) -> np.ndarray:
    if fixed_shape is not None:
        return np.full(lead, float(fixed_shape))
    return post["shape"].values


def group_shapes(d: Draws, design: Design) -> np.ndarray:
    """Shape per reported group, ``(chain, draw, group)``."""
    if design.shape_by_group:
        return d.shape
    return np.repeat(d.shape[..., None], len(design.groups), axis=-1)


def episode_predictors(d: Draws, design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Log medians and shapes of every episode, ``(chain, draw, episode)``."""
    eta = d.log_median[..., None] + d.beta @ design.X.T
    eta = eta + (d.sigma_cohort[..., None] * d.z_cohort)[..., design.cohort_index]
    if design.shape_by_group:
        shape = d.shape[..., design.group_index]
    else:
        shape = np.broadcast_to(d.shape[..., None], eta.shape)
    return eta, shape


def reported(d: Draws, design: Design, horizons: Sequence[float], *,
             with_cohorts: bool = True) -> xr.Dataset:
    """Medians, survival probabilities, time and hazard ratios and the cohort effects."""
    h = np.asarray(horizons, dtype=float)
    eta_g = d.log_median[..., None] + d.beta @ design.profile.T
    k_g = group_shapes(d, design)
    eta_new = eta_g + (d.sigma_new * d.z_new)[..., None]
    with np.errstate(over="ignore", under="ignore"):
        med, med_new = np.exp(eta_g), np.exp(eta_new)
        surv = survival_at(h, med[..., None], k_g[..., None])
        surv_new = survival_at(h, med_new[..., None], k_g[..., None])
        tr = np.exp(d.beta)
    gh = (*SAMPLE_DIMS, "group", "horizon")
    data = {
        "median_time": ((*SAMPLE_DIMS, "group"), med),
        "survival": (gh, surv),
        "median_time_new_cohort": ((*SAMPLE_DIMS, "group"), med_new),
        "survival_new_cohort": (gh, surv_new),
        "time_ratio": ((*SAMPLE_DIMS, "contrast"), tr),
    }
    if not design.shape_by_group:
        with np.errstate(over="ignore", under="ignore"):
            data["hazard_ratio"] = ((*SAMPLE_DIMS, "contrast"), np.exp(-d.shape[..., None]
                                                                      * d.beta))
    if with_cohorts and design.cohort_effect:
        data["cohort_effect"] = ((*SAMPLE_DIMS, "cohort"),
                                 d.sigma_cohort[..., None] * d.z_cohort)
    coords = {"group": list(design.groups), "horizon": h,
              "contrast": list(design.contrast_labels), "cohort": list(design.cohorts)}
    ds = xr.Dataset(data, coords=coords)
    return ds.assign_coords(chain=np.arange(d.lead[0]), draw=np.arange(d.lead[1]))


def pointwise_loglik(d: Draws, design: Design) -> np.ndarray:
    """Log-likelihood of every unit (:attr:`Design.units`), ``(chain, draw, unit)``.

    Evaluated in blocks of draws (:func:`blockwise`): the values do not depend on them.
    """
    units = len(design.units[1])
    return blockwise(lambda b: _pointwise_loglik(b, design), d, units)


def _pointwise_loglik(d: Draws, design: Design) -> np.ndarray:
    eta, shape = episode_predictors(d, design)
    single = np.flatnonzero(design.single)
    parts = [episode_loglik(design.log_t[single], design.event[single], eta[..., single],
                            shape[..., single])]
    if design.frailty:
        parts.append(cluster_loglik(design.log_t, design.event, eta, shape, d.tau[..., None],
                                    design.cluster_index, design.cluster_mask))
    return np.concatenate(parts, axis=-1)


def predictive_times(d: Draws, design: Design, rng: np.random.Generator) -> np.ndarray:
    """Uncensored predictive times of every episode, ``(chain, draw, episode)``.

    Each draw uses the episode's own covariates and cohort effect and a fresh patient
    frailty shared by the episodes of a patient. Large arrays are drawn in blocks of
    draws (:func:`blockwise`, consuming ``rng`` block after block); data that fit in one
    block are drawn in one call.
    """
    def times(b: Draws) -> np.ndarray:
        eta, shape = episode_predictors(b, design)
        with np.errstate(over="ignore", under="ignore"):
            return draw_times(eta, shape, b.tau, design.patient_index, rng)

    return blockwise(times, d, design.log_t.size)


def expected_events(d: Draws, design: Design) -> np.ndarray:
    """Cumulative hazard :math:`H_i(t_i)` at every observed time, ``(chain, draw, episode)``.

    Summed over a cohort it is the number of events the model expects over the observed
    follow-up (the observed-versus-expected, Cox-Snell, check). Evaluated in blocks of
    draws (:func:`blockwise`).
    """
    def cumhaz(b: Draws) -> np.ndarray:
        eta, shape = episode_predictors(b, design)
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(log_cumhaz(design.log_t, eta, shape))

    return blockwise(cumhaz, d, design.log_t.size)
