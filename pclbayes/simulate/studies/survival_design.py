r"""Operating characteristics of a single-arm survival trial analysed under a prior on the median.

A task simulates one trial and applies its decision rule:

* **accrual**: ``n`` patients at ``accrual_rate`` patients per time unit, either *uniform*
  (entry times i.i.d. uniform on :math:`[0, n / \text{rate}]`) or *Poisson* (a Poisson
  process: exponential gaps of mean :math:`1/\text{rate}`);
* **data cut**: ``follow_up`` time units after the last patient entered (a minimum
  follow-up), or at the calendar time ``analysis_time`` (time 0 = the first possible entry;
  patients who would enter later are not in the data);
* **true event times** Weibull with shape :math:`k_0` (``true_shape``) and median
  :math:`m_0` (``true_median``) from the ``[grid]``,
  :math:`S(t) = \exp\{-\log 2\,(t / m_0)^{k_0}\}`; a patient's time is censored at the cut.

Analysis (exact, no MCMC)
-------------------------
The analysis model is Weibull with median :math:`m = e^\theta` and shape :math:`k`. With
:math:`d` events, event times :math:`t_i` (:math:`i \in E`) and observed times
:math:`t_1, \dots, t_N` of the :math:`N` enrolled patients, the log-likelihood is

.. math::

    \ell(\theta, k) = d\log k + (k - 1)\sum_{i \in E}\log t_i - d k\theta
    - \log 2\; e^{-k\theta} \sum_{i=1}^N t_i^k + \text{const}.

The prior on :math:`\theta` is a normal mixture (the survival MAP prior of
:func:`pclbayes.planning.survival_map_prior_from_evidence` saved as a prior file, or a
mixture declared inline), optionally made robust by a vague normal component of weight
:math:`w_R` (:func:`pclbayes.planning.survival_map.robustify_log_median`:
:math:`p(\theta) = (1 - w_R)\,p_{MAP}(\theta) + w_R\,N(\theta; \log m_R, 1/(e\,k^2))`, worth
:math:`e` events, default one, at the fixed shape or the shape prior's median), or any
positive prior on the Weibull rate :math:`\rho = \log 2\, e^{-k\theta}` of
:math:`S(t) = \exp(-\rho t^k)` (Gamma: conjugate; with :math:`k = 1`, :math:`\rho` is the
exponential hazard). The shape is fixed, or has its own prior.

The posterior is computed by deterministic quadrature, which is exact to about
:math:`10^{-10}` and costs under a millisecond with a fixed shape (about 15 ms with a shape
prior): no sampler, no Monte-Carlo error inside a task, so thousands of tasks are cheap.

* fixed :math:`k`: the 1-D integrals :math:`\int e^{\log p(\theta) + \ell(\theta, k)}\,d\theta`
  over all of :math:`\theta` and over :math:`\theta > \theta^\star` are composite 8-point
  Gauss-Legendre rules, in two passes: the first over panels covering the prior's and the
  likelihood's ranges (:math:`\pm 12` SDs), the second over 32 panels spanning all but
  :math:`10^{-15}` of the first pass's posterior mass in each tail, with the decision
  threshold :math:`\theta^\star` a panel edge;
* a prior on :math:`k`: the same 1-D integrals at each node of an outer Gauss-Legendre rule
  in :math:`u = \log k` (two passes of 12 panels), i.e. a 2-D tensor rule.

``engine = "mcmc"`` (with an optional ``[survival_design.sampler]`` table of NUTS settings)
fits the same model by NUTS instead (:mod:`pclbayes.simulate.studies._survival_mcmc`), at
seconds per task; its rows carry the sampler's diagnostics.

Decision rules: success if :math:`P(m > m_{null} \mid \text{data}) > c`
(``rule = "median"``, :math:`\theta^\star = \log m_{null}`), or if
:math:`P(S(t^\star) > s_0 \mid \text{data}) > c` (``rule = "survival"``);
:math:`S(t^\star) > s_0` is :math:`\theta > \log t^\star + k^{-1}\log\{\log 2 / (-\log s_0)\}`.

Spec (``[survival_design]`` or ``[design]``; see ``studies/survival_single_arm.toml``)::

    [grid]
    true_median = [6.0, 9.0, 12.0]     # required
    true_shape = [0.8, 1.0, 1.5]       # required
    # n, accrual_rate, follow_up, analysis_time, threshold may also be grid axes

    [survival_design]
    endpoint = "PFS"                   # labels only
    time_unit = "months"
    n = 30
    accrual_rate = 2.0                 # patients per time unit
    accrual = "uniform"                # or "poisson"
    follow_up = 12.0                   # or analysis_time = 30.0 (one of them)
    rule = "median"                    # or "survival" (with landmark, null_survival)
    null_median = 6.0
    threshold = 0.9
    shape = 1.0                        # fixed, or a prior table {dist = "LogNormal", ...}

    [survival_design.prior]            # one of: median + sd_log, components, file, rate
    median = 9.0
    sd_log = 0.5
    robust_weight = 0.2                # optional robust component, centred on robust_median
    robust_median = 6.0                # (default: the prior's mean), worth robust_events
    robust_events = 1.0                # events (default 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.errors import SpecError
from pclbayes.planning.normal import NormalMixture
from pclbayes.priors import Prior
from pclbayes.simulate.studies import _design_common as dc
from pclbayes.simulate.study import Scalar, Study, StudySummary

__all__ = ["SurvivalAnalysis", "SurvivalDesign", "SurvivalDesignStudy", "posterior_prob",
           "simulate_trial"]

LOG2 = math.log(2.0)
LOG2_LOG = math.log(LOG2)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_TAIL = 1e-15          # posterior mass left out of the second pass in each tail
_SPREAD = 12.0         # prior and likelihood ranges: this many SDs either side
_PANELS_1 = 16         # panels per range of the first pass (three ranges)
_PANELS_2 = 32         # panels of the second pass
_SHAPE_PANELS = 12     # panels of each pass of the outer rule in log(shape)
_SHAPE_LIMITS = (0.02, 50.0)

_KEYS = ("endpoint", "time_unit", "n", "accrual_rate", "accrual", "follow_up",
         "analysis_time", "rule", "null_median", "landmark", "null_survival", "threshold",
         "shape", "prior", "engine", "sampler")
_PRIOR_KEYS = ("median", "sd_log", "components", "file", "rate", "robust_weight",
               "robust_median", "robust_events")
_GRID_REQUIRED = ("true_median", "true_shape")
_GRID_DESIGN = ("n", "accrual_rate", "follow_up", "analysis_time", "threshold")


# ---------------------------------------------------------------------- design
@dataclass(frozen=True)
class SurvivalDesign:
    r"""A single-arm trial: accrual, data cut and decision rule.

    Attributes
    ----------
    n : int
        Patients to enrol.
    accrual_rate : float
        Patients per time unit.
    accrual : {"uniform", "poisson"}
    follow_up, analysis_time : float or None
        Exactly one is set: the cut is ``follow_up`` after the last entry, or at
        ``analysis_time``.
    rule : {"median", "survival"}
    null_median : float or None
        :math:`m_{null}` of the median rule.
    landmark, null_survival : float or None
        :math:`t^\star` and :math:`s_0` of the survival rule.
    threshold : float
        :math:`c`: success if the posterior probability exceeds it.
    """

    n: int
    accrual_rate: float
    accrual: str
    follow_up: float | None
    analysis_time: float | None
    rule: str
    null_median: float | None
    landmark: float | None
    null_survival: float | None
    threshold: float

    def theta_cut(self, k: np.ndarray) -> np.ndarray:
        r"""Threshold :math:`\theta^\star(k)` on the log median that the rule compares with."""
        k = np.asarray(k, dtype=float)
        if self.rule == "median":
            return np.full(k.shape, math.log(self.null_median))
        return math.log(self.landmark) + np.log(LOG2 / -math.log(self.null_survival)) / k

    def is_null(self, true_median: float, true_shape: float) -> bool:
        """Whether the truth is at or below the null (the success rate is a type-I error)."""
        if self.rule == "median":
            return bool(true_median <= self.null_median)
        s = math.exp(-LOG2 * (self.landmark / true_median) ** true_shape)
        return bool(s <= self.null_survival)

    def statement(self, endpoint: str, unit: str) -> str:
        """The rule in words."""
        if self.rule == "median":
            target = f"median {endpoint} > {self.null_median:g} {unit}"
        else:
            target = f"{endpoint} at {self.landmark:g} {unit} > {self.null_survival:g}"
        return f"P({target} | data) > {self.threshold:g}"


@dataclass(frozen=True)
class SurvivalAnalysis:
    """Prior of the analysis: log median (normal mixture) or Weibull rate, and the shape.

    Exactly one of ``log_median`` and ``rate`` is set; exactly one of ``shape`` (fixed) and
    ``shape_prior``.
    """

    log_median: NormalMixture | None
    rate: Prior | None
    shape: float | None
    shape_prior: Prior | None

    def log_prior(self, theta: np.ndarray, k: np.ndarray) -> np.ndarray:
        r"""Log prior density of :math:`\theta = \log m` given the shape ``k`` (broadcast)."""
        if self.log_median is not None:
            return _mixture_logpdf(self.log_median, theta)
        log_rho = LOG2_LOG - k * theta
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            rho = np.exp(log_rho)
            if self.rate.dist == "Gamma":  # the conjugate case, without scipy.stats
                a, b = self.rate.params["alpha"], self.rate.params["beta"]
                log_p = (a - 1.0) * log_rho - b * rho + a * math.log(b) - math.lgamma(a)
            else:
                log_p = self.rate.logpdf(rho)
            out = log_p + np.log(k) + log_rho
        return np.where(np.isnan(out), -np.inf, out)

    def _rate_quantiles(self) -> np.ndarray:
        """Quantiles ``1e-13`` and ``1 - 1e-13`` of the rate prior (computed once)."""
        cached = self.__dict__.get("_rate_q")
        if cached is None:
            q = self.rate.frozen().ppf([1e-13, 1 - 1e-13])
            cached = np.clip(np.asarray(q, dtype=float), 1e-300, 1e300)
            object.__setattr__(self, "_rate_q", cached)
        return cached

    def prior_range(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` of the log median holding all but a negligible prior mass, per ``k``."""
        k = np.asarray(k, dtype=float)
        if self.log_median is not None:
            m, s = self.log_median.means, self.log_median.sds
            lo, hi = float(np.min(m - _SPREAD * s)), float(np.max(m + _SPREAD * s))
            return np.full(k.shape, lo), np.full(k.shape, hi)
        q = self._rate_quantiles()
        return (LOG2_LOG - math.log(q[1])) / k, (LOG2_LOG - math.log(q[0])) / k



# ---------------------------------------------------------------------- simulation
def simulate_trial(design: SurvivalDesign, true_median: float, true_shape: float,
                   rng: np.random.Generator) -> dict[str, Any]:
    """One trial's data at the cut: ``times``, ``events`` (bool) and the cut's calendar time.

    Draw order (fixed, so that a seed gives the same trial): entry times, then the event
    times of all ``n`` patients (Weibull by :meth:`numpy.random.Generator.weibull`, scaled).
    """
    n = design.n
    if design.accrual == "uniform":
        entry = np.sort(rng.uniform(0.0, n / design.accrual_rate, size=n))
    else:
        entry = np.cumsum(rng.exponential(1.0 / design.accrual_rate, size=n))
    scale = true_median / LOG2 ** (1.0 / true_shape)
    event_time = scale * rng.weibull(true_shape, size=n)
    cut = (float(entry[-1]) + design.follow_up if design.follow_up is not None
           else float(design.analysis_time))
    enrolled = entry < cut
    window = cut - entry[enrolled]
    x = event_time[enrolled]
    return {"times": np.minimum(x, window), "events": x <= window, "window": window,
            "cut": cut}


# ---------------------------------------------------------------------- quadrature
def _lse(a: np.ndarray, axis: int | tuple[int, ...] = -1, keepdims: bool = False
         ) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis``, stable (``-inf`` where every term is ``-inf``)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _mixture_logpdf(mix: NormalMixture, x: np.ndarray) -> np.ndarray:
    """Log density of a normal mixture (the same as ``mix.logpdf``, without scipy.stats)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        lw = np.log(mix.weights) - np.log(mix.sds) - 0.5 * math.log(2 * math.pi)
    if mix.n_components == 1:
        return lw[0] - 0.5 * ((x - mix.means[0]) / mix.sds[0]) ** 2
    out = lw[0] - 0.5 * ((x - mix.means[0]) / mix.sds[0]) ** 2
    for c in range(1, mix.n_components):
        out = np.logaddexp(out, lw[c] - 0.5 * ((x - mix.means[c]) / mix.sds[c]) ** 2)
    return out


def _panel_rule(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights ``(K, panels, 8)`` of 8-point Gauss-Legendre panels on ``edges``."""
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    half = 0.5 * (hi - lo)
    return lo + half * (1.0 + _GL_X), half * _GL_W


def _mass_span(mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last panel (last axis) of the span holding all but ``_TAIL`` in each tail."""
    cum = np.cumsum(mass, axis=-1)
    cum = cum / cum[..., -1:]
    last_panel = mass.shape[-1] - 1
    first = np.argmax(cum > _TAIL, axis=-1)
    reach = cum >= 1.0 - _TAIL
    last = np.where(reach.any(axis=-1), np.argmax(reach, axis=-1), last_panel)
    return first, np.minimum(last, last_panel)


def _log_joint(analysis: SurvivalAnalysis, theta: np.ndarray, k: np.ndarray, d: int,
               sum_log_t: float, t_k: np.ndarray) -> np.ndarray:
    """Log prior of theta plus the Weibull log-likelihood, on ``theta (K, ...)`` at ``k (K,)``."""
    kk = k.reshape((-1,) + (1,) * (theta.ndim - 1))
    tk = t_k.reshape(kk.shape)
    with np.errstate(over="ignore"):
        lik = d * np.log(kk) + (kk - 1.0) * sum_log_t - d * kk * theta \
            - LOG2 * tk * np.exp(-kk * theta)
    out = analysis.log_prior(theta, kk) + lik
    return np.where(np.isnan(out), -np.inf, out)


def _theta_integrals(analysis: SurvivalAnalysis, k: np.ndarray, d: int, sum_log_t: float,
                     t_k: np.ndarray, cut: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per shape ``k``: the log integral, the share above the cut and the posterior mean.

    Returns :math:`\log\int e^{\log p + \ell}\,d\theta`, the share of that integral above
    ``cut`` and the conditional posterior mean of :math:`\theta`, each of shape ``(K,)``.
    """
    lo_p, hi_p = analysis.prior_range(k)
    if d > 0:
        centre = np.log(LOG2 * t_k / d) / k
        half = _SPREAD / (k * math.sqrt(d))
        lo_l, hi_l = centre - half, centre + half
    else:
        lo_l, hi_l = lo_p, hi_p
    lo, hi = np.minimum(lo_p, lo_l), np.maximum(hi_p, hi_l)
    edges = np.sort(np.concatenate([np.linspace(a, b, _PANELS_1 + 1, axis=-1)
                                    for a, b in ((lo_p, hi_p), (lo_l, hi_l), (lo, hi))],
                                   axis=-1), axis=-1)
    x, w = _panel_rule(edges)
    with np.errstate(divide="ignore"):
        lm = _lse(_log_joint(analysis, x, k, d, sum_log_t, t_k) + np.log(w),
                               axis=-1)                                    # (K, panels)
    total = _lse(lm, axis=-1, keepdims=True)
    if not np.all(np.isfinite(total)):
        raise SpecError("the posterior density is zero everywhere: the prior rules out the "
                        "simulated data (check the prior and the time unit)")
    first, last = _mass_span(np.exp(lm - total))
    rows = np.arange(len(k))
    lo2, hi2 = edges[rows, first], edges[rows, last + 1]
    c = np.clip(cut, lo2, hi2)
    edges2 = np.sort(np.concatenate([np.linspace(lo2, hi2, _PANELS_2 + 1, axis=-1),
                                     c[:, None]], axis=-1), axis=-1)
    x, w = _panel_rule(edges2)
    with np.errstate(divide="ignore"):
        lf = _log_joint(analysis, x, k, d, sum_log_t, t_k) + np.log(w)
    log_m = _lse(lf, axis=(-2, -1))
    above = edges2[:, :-1] >= c[:, None]                                   # (K, panels)
    p = np.exp(lf - log_m[:, None, None])
    share = np.sum(p * above[..., None], axis=(-2, -1))
    share = np.where(cut < lo2, 1.0, np.where(cut > hi2, 0.0, share))
    mean = np.sum(p * x, axis=(-2, -1))
    return log_m, np.clip(share, 0.0, 1.0), mean


def posterior_prob(times: np.ndarray, events: np.ndarray, analysis: SurvivalAnalysis,
                   cut: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    r"""Posterior probability that :math:`\theta = \log m` exceeds ``cut(k)``, by quadrature.

    Parameters
    ----------
    times, events : ndarray
        Observed times (events and censored) and the event indicators.
    analysis : SurvivalAnalysis
        Prior on the log median (or the Weibull rate) and the shape (fixed or a prior).
    cut : callable
        :math:`\theta^\star(k)` for an array of shapes (see :meth:`SurvivalDesign.theta_cut`).

    Returns
    -------
    dict
        ``prob`` (the posterior probability), ``mean_log_median`` and ``mean_shape``
        (posterior means of :math:`\theta` and :math:`k`).
    """
    t = np.maximum(np.asarray(times, dtype=float), 1e-300)  # an event at time 0: log finite
    ev = np.asarray(events, dtype=bool)
    d = int(ev.sum())
    with np.errstate(divide="ignore"):
        sum_log_t = float(np.sum(np.log(t[ev]))) if d else 0.0
    if analysis.shape is not None:
        k = np.array([analysis.shape])
        t_k = np.array([np.sum(t ** analysis.shape)])
        _, share, mean = _theta_integrals(analysis, k, d, sum_log_t, t_k, cut(k))
        return {"prob": float(share[0]), "mean_log_median": float(mean[0]),
                "mean_shape": float(analysis.shape)}
    prior = analysis.shape_prior
    assert prior is not None
    q = np.clip(np.asarray(prior.frozen().ppf([1e-10, 1 - 1e-10]), dtype=float),
                *_SHAPE_LIMITS)
    edges = np.linspace(math.log(q[0]), math.log(q[1]), _SHAPE_PANELS + 1)[None, :]
    for final in (False, True):
        u, wu = _panel_rule(edges)
        u, wu = u.ravel(), wu.ravel()
        k = np.exp(u)
        t_k = np.sum(t[None, :] ** k[:, None], axis=1)
        log_m, share, mean = _theta_integrals(analysis, k, d, sum_log_t, t_k, cut(k))
        with np.errstate(divide="ignore"):
            lg = prior.logpdf(k) + u + log_m + np.log(wu)
        lg = np.where(np.isnan(lg), -np.inf, lg)
        g = np.exp(lg - _lse(lg))
        if final:
            break
        first, last = (int(v) for v in _mass_span(g.reshape(_SHAPE_PANELS, -1).sum(axis=1)))
        edges = np.linspace(edges[0, first], edges[0, last + 1], _SHAPE_PANELS + 1)[None, :]
    return {"prob": float(np.clip(g @ share, 0.0, 1.0)), "mean_log_median": float(g @ mean),
            "mean_shape": float(g @ k)}


# ---------------------------------------------------------------------- spec parsing
def _parse_design(where: dc.Where, name: str, table: Mapping[str, Any]) -> SurvivalDesign:
    key = f"[{name}]"
    n = dc.integer(where, f"{key} n", table.get("n"), 1)
    rate = dc.number(where, f"{key} accrual_rate", table.get("accrual_rate"), low=0,
                     low_open=True)
    accrual = dc.choice(where, f"{key} accrual", table.get("accrual", "uniform"),
                        ("uniform", "poisson"))
    has_fu, has_at = "follow_up" in table, "analysis_time" in table
    if has_fu == has_at:
        raise where(f"{key} follow_up", "give exactly one of follow_up (time after the last "
                    "entry) and analysis_time (calendar time of the data cut)")
    follow_up = dc.number(where, f"{key} follow_up", table["follow_up"], low=0) if has_fu \
        else None
    analysis_time = (dc.number(where, f"{key} analysis_time", table["analysis_time"], low=0,
                               low_open=True) if has_at else None)
    rule = dc.choice(where, f"{key} rule", table.get("rule", "median"), ("median", "survival"))
    null_median = landmark = null_survival = None
    if rule == "median":
        for other in ("landmark", "null_survival"):
            if other in table:
                raise where(f"{key} {other}", "belongs to rule = \"survival\"")
        null_median = dc.number(where, f"{key} null_median", table.get("null_median"), low=0,
                                low_open=True)
    else:
        if "null_median" in table:
            raise where(f"{key} null_median", "belongs to rule = \"median\"")
        landmark = dc.number(where, f"{key} landmark", table.get("landmark"), low=0,
                             low_open=True)
        null_survival = dc.number(where, f"{key} null_survival", table.get("null_survival"),
                                  low=0, high=1, low_open=True, high_open=True)
    threshold = dc.number(where, f"{key} threshold", table.get("threshold"), low=0, high=1,
                          low_open=True, high_open=True)
    return SurvivalDesign(n, rate, accrual, follow_up, analysis_time, rule, null_median,
                          landmark, null_survival, threshold)


def _positive_prior(where: dc.Where, key: str, raw: Any) -> Prior:
    if not isinstance(raw, Mapping):
        raise where(key, f"expected a prior table such as {{dist = \"Gamma\", alpha = 2, "
                    f"beta = 10}}, got {raw!r}")
    try:
        prior = Prior.parse(dict(raw))
    except SpecError as exc:
        raise where(key, str(exc)) from exc
    lower = float(prior.frozen().support()[0])
    if lower < 0:
        raise where(key, f"{prior} allows negative values; use a prior on positive numbers "
                    "(Gamma, LogNormal, HalfNormal, ...)")
    return prior


def _parse_analysis(where: dc.Where, name: str, table: Mapping[str, Any]) -> SurvivalAnalysis:
    key = f"[{name}]"
    raw_shape = table.get("shape", 1.0)
    shape = shape_prior = None
    if isinstance(raw_shape, Mapping):
        shape_prior = _positive_prior(where, f"{key} shape", raw_shape)
    else:
        shape = dc.number(where, f"{key} shape", raw_shape, low=0, low_open=True)
    prior_key = f"[{name}.prior]"
    raw = table.get("prior")
    if not isinstance(raw, Mapping):
        raise where(prior_key, "missing: give the analysis prior (median and sd_log, "
                    "components, file, or rate)")
    dc.no_unknown(where, prior_key, raw, _PRIOR_KEYS)
    sources = [s for s in ("median", "components", "file", "rate") if s in raw]
    if len(sources) != 1:
        raise where(prior_key, "give exactly one of median (with sd_log), components, file, "
                    f"rate; got {', '.join(sources) or 'none'}")
    source = sources[0]
    if ("sd_log" in raw) != (source == "median"):
        raise where(f"{prior_key} sd_log", "goes with median, and only with it")
    mixture: NormalMixture | None = None
    rate: Prior | None = None
    if source == "median":
        m = dc.number(where, f"{prior_key} median", raw["median"], low=0, low_open=True)
        s = dc.number(where, f"{prior_key} sd_log", raw["sd_log"], low=0, low_open=True)
        mixture = NormalMixture([1.0], [math.log(m)], [s], names=["prior"])
    elif source == "components":
        comps = raw["components"]
        if not isinstance(comps, list) or not comps:
            raise where(f"{prior_key} components", "expected a non-empty list of "
                        "{weight, mean, sd} tables (mean and sd of log median)")
        w, mu, sd = [], [], []
        for i, comp in enumerate(comps, start=1):
            ck = f"{prior_key} components[{i}]"
            if not isinstance(comp, Mapping):
                raise where(ck, f"expected a table, got {comp!r}")
            dc.no_unknown(where, ck, comp, ("weight", "mean", "sd"))
            w.append(dc.number(where, f"{ck} weight", comp.get("weight"), low=0))
            mu.append(dc.number(where, f"{ck} mean", comp.get("mean")))
            sd.append(dc.number(where, f"{ck} sd", comp.get("sd"), low=0, low_open=True))
        try:
            mixture = NormalMixture(w, mu, sd)
        except SpecError as exc:
            raise where(f"{prior_key} components", str(exc)) from exc
    elif source == "file":
        from pclbayes.planning.io import load_prior

        path = where.resolve(dc.text(where, f"{prior_key} file", raw["file"]))
        try:
            loaded = load_prior(path)
        except SpecError as exc:
            raise where(f"{prior_key} file", str(exc)) from exc
        if not isinstance(loaded, NormalMixture):
            raise where(f"{prior_key} file", f"{path} holds a beta prior (a response rate); "
                        "a survival design needs a normal prior on the log median")
        mixture = loaded
    else:
        rate = _positive_prior(where, f"{prior_key} rate", raw["rate"])
    robust = {k: raw[k] for k in ("robust_weight", "robust_median", "robust_events")
              if k in raw}
    if robust:
        from pclbayes.planning.survival_map import robustify_log_median

        if mixture is None:
            raise where(f"{prior_key} robust_weight", "a robust component needs a prior on the "
                        "log median (median, components or file), not a rate prior")
        weight = dc.number(where, f"{prior_key} robust_weight", robust.get("robust_weight"),
                           low=0, high=1, low_open=True, high_open=True)
        centre = (dc.number(where, f"{prior_key} robust_median", robust["robust_median"], low=0,
                            low_open=True) if "robust_median" in robust else None)
        events = dc.number(where, f"{prior_key} robust_events", robust.get("robust_events", 1.0),
                           low=0, low_open=True)
        # worth `events` events at the fixed shape, or at the shape prior's median
        k = shape if shape is not None else float(shape_prior.frozen().median())
        try:
            mixture = robustify_log_median(mixture, weight, k, median=centre, events=events)
        except SpecError as exc:
            raise where(f"{prior_key} robust_weight", str(exc)) from exc
    return SurvivalAnalysis(mixture, rate, shape, shape_prior)


# ---------------------------------------------------------------------- the study
class SurvivalDesignStudy(Study):
    """Operating characteristics of a single-arm survival design (see the module docstring).

    Each task simulates one trial under its scenario's true median and shape, computes the
    posterior probability of the rule exactly (quadrature) and returns one row: ``success``,
    ``prob``, ``events``, ``enrolled``, ``exposure`` (total time at risk), ``mean_follow_up``
    (mean time from entry to the cut), ``analysis_time`` (the cut's calendar time),
    ``mean_log_median`` and ``mean_shape`` (posterior means), and the diagnostics columns
    ``max_rhat``, ``min_ess_bulk``, ``divergences`` (NaN with the exact quadrature; the
    sampler's with ``engine = "mcmc"``).
    """

    kind = "survival-design"
    tables = ("design", "survival_design")

    def __init__(self, spec: Mapping[str, Any], path: Path | None = None) -> None:
        super().__init__(spec, path)
        where = dc.Where(path)
        name, table = dc.kind_table(where, spec, self.tables)
        dc.no_unknown(where, f"[{name}]", table, _KEYS)
        self.table_name = name
        self.endpoint = dc.text(where, f"[{name}] endpoint", table.get("endpoint", "PFS"))
        self.time_unit = dc.text(where, f"[{name}] time_unit", table.get("time_unit", "months"))
        self.design = _parse_design(where, name, table)
        self.analysis = _parse_analysis(where, name, table)
        self.engine = dc.choice(where, f"[{name}] engine", table.get("engine", "quadrature"),
                                ("quadrature", "mcmc"))
        raw_sampler = table.get("sampler")
        if raw_sampler is not None and self.engine != "mcmc":
            raise where(f"[{name}.sampler]", "belongs to engine = \"mcmc\"")
        self.sampler = None
        if self.engine == "mcmc":
            from pclbayes.sampling import SamplerSettings

            if raw_sampler is not None and not isinstance(raw_sampler, Mapping):
                raise where(f"[{name}.sampler]", f"expected a table, got {raw_sampler!r}")
            try:
                self.sampler = SamplerSettings.from_dict(dict(raw_sampler or {}))
            except SpecError as exc:
                raise where(f"[{name}.sampler]", str(exc)) from exc
        self.grid_keys = dc.grid_names(where, spec, _GRID_REQUIRED,
                                       _GRID_REQUIRED + _GRID_DESIGN)
        grid = spec.get("grid", {})
        for axis in ("follow_up", "analysis_time"):
            setting = "follow_up" if self.design.follow_up is not None else "analysis_time"
            if axis in grid and axis != setting:
                raise where(f"[grid] {axis}", f"the design cuts the data by {setting}; a grid "
                            f"of {axis} would mix two data cuts")
        self._designs = [self._scenario_design(where, sc) for sc in self.scenarios()]

    def prepare(self) -> None:
        """Compute once what every task reuses (the rate prior's range); no random numbers."""
        if self.analysis.rate is not None:
            self.analysis._rate_quantiles()

    def _scenario_design(self, where: dc.Where, scenario: Mapping[str, Scalar]
                         ) -> SurvivalDesign:
        for axis in _GRID_REQUIRED:
            dc.number(where, f"[grid] {axis}", scenario[axis], low=0, low_open=True)
        changes: dict[str, Any] = {}
        for axis in _GRID_DESIGN:
            if axis not in scenario:
                continue
            key, value = f"[grid] {axis}", scenario[axis]
            if axis == "n":
                changes[axis] = dc.integer(where, key, value, 1)
            elif axis == "threshold":
                changes[axis] = dc.number(where, key, value, low=0, high=1, low_open=True,
                                          high_open=True)
            else:
                changes[axis] = dc.number(where, key, value, low=0,
                                          low_open=axis != "follow_up")
        return replace(self.design, **changes)

    def design_for(self, scenario: Mapping[str, Scalar]) -> SurvivalDesign:
        """The design of one scenario (the spec's, with any grid axes applied)."""
        return self._scenario_design(dc.Where(self.path), scenario)

    def run_task(self, scenario: Mapping[str, Scalar], replicate: int,
                 seed: np.random.SeedSequence) -> dict[str, Scalar]:
        """Simulate one trial and apply the rule (see the class docstring for the row)."""
        design = self.design_for(scenario)
        rng = np.random.default_rng(seed)
        trial = simulate_trial(design, float(scenario["true_median"]),
                               float(scenario["true_shape"]), rng)
        diagnostics = dict.fromkeys(dc.DIAGNOSTIC_COLUMNS, float("nan"))
        if self.engine == "mcmc":
            from pclbayes.simulate.studies._survival_mcmc import mcmc_posterior

            # the sampler's seed: a child of the task's seed, apart from the data's stream
            child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 1))
            post = mcmc_posterior(trial["times"], trial["events"], design.n, self.analysis,
                                  design.theta_cut, self.sampler,
                                  int(child.generate_state(1, np.uint32)[0]))
            diagnostics = {k: post.pop(k) for k in dc.DIAGNOSTIC_COLUMNS}
        else:
            post = posterior_prob(trial["times"], trial["events"], self.analysis,
                                  design.theta_cut)
        enrolled = int(trial["times"].size)
        return {
            "success": bool(post["prob"] > design.threshold),
            "prob": post["prob"],
            "events": int(trial["events"].sum()),
            "enrolled": enrolled,
            "exposure": float(trial["times"].sum()),
            "mean_follow_up": float(trial["window"].mean()) if enrolled else float("nan"),
            "analysis_time": float(trial["cut"]),
            "mean_log_median": post["mean_log_median"],
            "mean_shape": post["mean_shape"],
            **diagnostics,
        }

    def summarise(self, results: pd.DataFrame) -> StudySummary:
        """Per scenario: P(success) with its Monte-Carlo SE, labelled type-I error or power."""
        scenarios = self.scenarios()
        replicates = self.spec.get("study", {}).get("replicates")
        rows = []
        for sc, every, good in dc.scenario_groups(results, self.grid_keys, scenarios):
            design = self.design_for(sc)
            p, se = dc.proportion(good["success"]) if len(good) else (np.nan, np.nan)
            null = design.is_null(float(sc["true_median"]), float(sc["true_shape"]))
            rows.append({
                **sc,
                "estimates": "type-I error" if null else "power",
                "p_success": p,
                "mcse": se,
                "tasks": len(good),
                "errors": len(every) - len(good),
                "mean_events": dc.mean_se(good["events"])[0] if len(good) else np.nan,
                "mean_follow_up": (dc.mean_se(good["mean_follow_up"])[0] if len(good)
                                   else np.nan),
                "mean_enrolled": dc.mean_se(good["enrolled"])[0] if len(good) else np.nan,
                "mean_analysis_time": (dc.mean_se(good["analysis_time"])[0] if len(good)
                                       else np.nan),
            })
        table = pd.DataFrame(rows)
        d = self.design
        unit = self.time_unit
        cut = (f"data cut {d.follow_up:g} {unit} after the last entry" if d.follow_up
               is not None else f"data cut at {d.analysis_time:g} {unit}")
        lines = [
            f"Single-arm {self.endpoint} design: {d.n} patients, {d.accrual} accrual at "
            f"{d.accrual_rate:g} per {unit.rstrip('s')}, {cut}; success if "
            f"{d.statement(self.endpoint, unit)} (posterior by "
            f"{'exact quadrature' if self.engine == 'quadrature' else 'NUTS'}).",
        ]
        done = int(table["tasks"].sum()) if len(table) else 0
        planned = f" of {replicates * len(scenarios)}" if isinstance(replicates, int) else ""
        lines.append(f"Estimates rest on {done}{planned} finished tasks; the Monte-Carlo SE "
                     "is sqrt(p(1 - p)/tasks) per scenario.")
        bounds = dc.boundary_bounds(table, {"p_success": "P(success)"}, self.grid_keys)
        if bounds:
            lines.append(bounds)
        for label in ("type-I error", "power"):
            part = table[(table["estimates"] == label) & (table["tasks"] > 0)] if len(table) \
                else table
            if len(part):
                worst = part.loc[part["p_success"].idxmax() if label == "type-I error"
                                 else part["p_success"].idxmin()]
                what = "Largest type-I error" if label == "type-I error" else "Smallest power"
                at = ", ".join(f"{k} = {worst[k]:g}" if not isinstance(worst[k], str)
                               else f"{k} = {worst[k]}" for k in self.grid_keys)
                lines.append(f"{what}: {worst['p_success']:.3f} (MC SE {worst['mcse']:.3f}) "
                             f"at {at}.")
        errors = int(table["errors"].sum()) if len(table) else 0
        if errors:
            lines.append(f"{errors} task(s) failed and are left out of the estimates.")
        return StudySummary(tables={"operating characteristics": table}, lines=lines,
                            figures=[("Probability of success by true median",
                                      lambda: self._figure(table))])

    def _figure(self, table: pd.DataFrame) -> Any:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        others = [k for k in self.grid_keys if k != "true_median"]
        groups = table.groupby(others, sort=False) if others else [((), table)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{k} = {v}" for k, v in zip(others, key, strict=True))
            part = part.sort_values("true_median")
            ax.errorbar(part["true_median"], part["p_success"], yerr=2 * part["mcse"],
                        marker="o", capsize=3, label=label or None)
        if self.design.rule == "median":
            ax.axvline(self.design.null_median, color="grey", linestyle=":", label="null median")
        ax.set_xlabel(f"true median {self.endpoint} ({self.time_unit})")
        ax.set_ylabel("P(success) (bars: 2 MC SE)")
        ax.set_ylim(-0.02, 1.02)
        if others or self.design.rule == "median":
            ax.legend(fontsize="small")
        return fig
