r"""The simulate-and-fit step of simulation-based calibration, one class per model family.

Each class draws the parameters from the priors of the shipped model (resolved by the
model class itself, so they are the priors its fit uses), simulates one data set from the
model's likelihood, fits it with the real pclbayes model and returns the posterior draws
of the parameters that SBC ranks.

Simulated data sets (the design is fixed by the study; only the outcomes are random):

* **beta-binomial** (cohorts :math:`j` of size :math:`n_j` in strata :math:`s(j)`):
  :math:`\mu_s \sim p(\mu)`, :math:`\kappa \sim p(\kappa)` (one, or one per stratum),
  :math:`p_j \sim \mathrm{Beta}(\mu_{s}\kappa, (1-\mu_{s})\kappa)`,
  :math:`r_j \sim \mathrm{Binomial}(n_j, p_j)`.
* **logit-normal**: :math:`\alpha \sim p(\alpha)`, :math:`\beta_s \sim p(\beta)` for every
  non-reference stratum, :math:`\sigma \sim p(\sigma)`, :math:`z_j \sim N(0, 1)`,
  :math:`p_j = \operatorname{expit}(\alpha + \beta_{s(j)} + \sigma z_j)`, binomial counts.
* **weibull** (patients of ``cohorts`` cohorts, the covariate ``target`` alternating over
  the listed levels): log median :math:`\eta_i = \mu + x_i^\top\beta + \sigma_c z_{c(i)}`,
  shape :math:`k`, event time :math:`T_i = e^{\eta_i} (E_i / \log 2)^{1/k}` with
  :math:`E_i \sim \mathrm{Exp}(1)` (the inverse of :math:`S(t) = 2^{-(t/m)^k}`),
  administrative censoring at :math:`C_i = F + A U_i` (follow-up :math:`F` after the
  last entry, entry uniform over the accrual period :math:`A`, :math:`U_i \sim U(0,1)`).
* **weibull-frailty**: as ``weibull``, and the first ``reinfused_share`` of each cohort's
  patients have a second episode (``strategy = switch``, its own effect); a patient's
  episodes share a positive-stable frailty :math:`Z` with :math:`E e^{-sZ} = e^{-s^\alpha}`,
  :math:`\alpha = 1 - \tau`, and :math:`T_i = e^{\eta_i} ((E_i/Z)^{\alpha} / \log 2)^{1/k}`
  (conditional cumulative hazard :math:`Z H_i(t)^{1/\alpha} = E_i`), so that each episode
  is marginally Weibull and Kendall's tau between them is :math:`\tau`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from pclbayes.errors import ConvergenceWarning
from pclbayes.priors import Prior
from pclbayes.sampling import SamplerSettings

#: Model families SBC covers (``[sbc] model``).
MODELS = ("beta-binomial", "logit-normal", "weibull", "weibull-frailty")


@dataclass(frozen=True)
class FitOutcome:
    """Posterior draws (``(chain, draw)`` arrays) by parameter and the fit's diagnostics."""

    draws: dict[str, np.ndarray]
    max_rhat: float
    min_ess_bulk: float
    divergences: float


def _priors(record: Mapping[str, Any]) -> dict[str, Prior]:
    """Priors from a resolved specification's ``priors`` record (exact values)."""
    return {name: Prior.parse({k: v for k, v in table.items() if k != "reason"})
            for name, table in record.items()}


class _QuietGate(logging.Filter):
    """Drops the convergence gate's log record in a thread that runs an SBC fit."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "active", False)


_GATE_FILTER = _QuietGate()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the convergence gate (its warning and its log record) in this thread.

    SBC runs short chains on purpose, hundreds of them; every row records the diagnostics
    instead, and the summary reports them. Other threads' records still pass.
    """
    gate = logging.getLogger("pclbayes.diagnostics")
    if _GATE_FILTER not in gate.filters:
        gate.addFilter(_GATE_FILTER)
    _QuietGate.local.active = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            yield
    finally:
        _QuietGate.local.active = False


def _quiet_fit(model: Any, data: pd.DataFrame, seed: int) -> Any:
    """``model.fit(data, seed=seed)`` with the convergence gate silenced (:func:`_quiet`)."""
    with _quiet():
        return model.fit(data, seed=seed)


def _diagnostics(fit: Any, exact: bool) -> tuple[float, float, float]:
    """``max_rhat, min_ess_bulk, divergences`` of a NUTS fit; NaN for the exact engine."""
    if exact:
        return float("nan"), float("nan"), float("nan")
    d = fit.diagnostics_
    return float(d.max_rhat), float(d.min_ess_bulk), float(d.divergences)


class ResponseSBC:
    """SBC of :class:`pclbayes.response.ResponseModel` (beta-binomial or logit-normal).

    Parameters
    ----------
    model : {"beta-binomial", "logit-normal"}
    n : list of int
        Patients per cohort.
    groups : list of str or None
        Stratum of each cohort (``None``: one stratum); the first listed stratum is the
        reference level.
    method, heterogeneity : str
        As in :class:`~pclbayes.response.ResponseModel`.
    priors, fit_priors : dict
        Prior overrides of the data-generating model (used by the fit too) and of the fit
        only (a deliberately wrong prior).
    sampler : SamplerSettings
    """

    def __init__(self, model: str, n: list[int], groups: list[str] | None, method: str,
                 heterogeneity: str, priors: Mapping[str, Any],
                 fit_priors: Mapping[str, Any], sampler: SamplerSettings) -> None:
        self.model, self.n, self.groups = model, np.asarray(n, dtype=np.int64), groups
        self.method, self.heterogeneity, self.sampler = method, heterogeneity, sampler
        self.strata = list(dict.fromkeys(groups)) if groups else ["all"]
        self.cohorts = [f"c{j + 1}" for j in range(len(n))]
        self.gen_priors = dict(priors)
        self.fit_priors = {**dict(priors), **dict(fit_priors)}
        self.gen = self._model(self.gen_priors)
        self.fit_model = self._model(self.fit_priors)
        self.truth_priors = _priors(self.gen.resolved_spec(0)["priors"])
        self.exact = self.fit_model.engine == "exact"
        self.index = (np.array([self.strata.index(g) for g in groups]) if groups
                      else np.zeros(len(n), dtype=int))

    def _model(self, priors: Mapping[str, Any]) -> Any:
        from pclbayes.response import ResponseModel

        by = "arm" if self.groups else "none"
        model = ResponseModel(by=by, model=self.model, method=self.method,
                              heterogeneity=self.heterogeneity, priors=dict(priors),
                              sampler=self.sampler,
                              reference=self.strata[0] if self.groups else None)
        model.validate()
        return model

    @property
    def parameters(self) -> list[str]:
        """The ranked parameters: hyperparameters of every stratum and cohort ``c1``'s rate."""
        s = self.strata
        if self.model == "beta-binomial":
            kappa = ([f"kappa[{g}]" for g in s] if self.heterogeneity == "stratum"
                     else ["kappa"])
            return [f"mu[{g}]" for g in s] + kappa + ["cohort_rate[c1]"]
        sigma = [f"sigma[{g}]" for g in s] if self.heterogeneity == "stratum" else ["sigma"]
        return ["intercept", *(f"effect[{g}]" for g in s[1:]), *sigma, "cohort_rate[c1]"]

    def simulate(self, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
        """Draw the parameters from the prior and one data set of counts given them."""
        pr, k = self.truth_priors, len(self.strata)
        per_stratum = self.heterogeneity == "stratum"
        truth: dict[str, float] = {}
        if self.model == "beta-binomial":
            mu = np.asarray(pr["mu"].rvs(k, rng), dtype=float)
            kappa = np.asarray(pr["kappa"].rvs(k if per_stratum else 1, rng), dtype=float)
            kap = kappa if per_stratum else np.repeat(kappa, k)
            m, c = mu[self.index], kap[self.index]
            p = rng.beta(m * c, (1 - m) * c)
            truth.update({f"mu[{g}]": float(mu[i]) for i, g in enumerate(self.strata)})
            if per_stratum:
                truth.update({f"kappa[{g}]": float(kappa[i]) for i, g in enumerate(self.strata)})
            else:
                truth["kappa"] = float(kappa[0])
        else:
            alpha = float(pr["intercept"].rvs(1, rng)[0])
            effect = np.asarray(pr["effect"].rvs(k - 1, rng), dtype=float) if k > 1 \
                else np.zeros(0)
            sigma = np.asarray(pr["sigma"].rvs(k if per_stratum else 1, rng), dtype=float)
            sig = sigma if per_stratum else np.repeat(sigma, k)
            z = rng.standard_normal(len(self.n))
            mu = alpha + np.concatenate([[0.0], effect])
            p = special.expit(mu[self.index] + sig[self.index] * z)
            truth["intercept"] = alpha
            truth.update({f"effect[{g}]": float(effect[i])
                          for i, g in enumerate(self.strata[1:])})
            if per_stratum:
                truth.update({f"sigma[{g}]": float(sigma[i]) for i, g in enumerate(self.strata)})
            else:
                truth["sigma"] = float(sigma[0])
        truth["cohort_rate[c1]"] = float(p[0])
        r = rng.binomial(self.n, p)
        frame = pd.DataFrame({"cohort": self.cohorts, "n": self.n, "responders": r})
        if self.groups:
            frame["arm"] = self.groups
        return frame, truth

    def fit(self, frame: pd.DataFrame, seed: int) -> FitOutcome:
        """Fit the simulated counts with the real model; draws of :attr:`parameters`.

        NUTS: :meth:`ResponseModel.fit <pclbayes.response.ResponseModel.fit>` itself (its
        compiled model is reused across tasks by :mod:`pclbayes.nuts`). Exact engine: the
        same draws as ``ResponseModel.fit`` (:meth:`exact_draws`) without its summary
        tables, which take four fifths of an exact fit's time.
        """
        if self.exact:
            return FitOutcome(self.exact_draws(frame, seed), *_diagnostics(None, True))
        fit = _quiet_fit(self.fit_model, frame, seed)
        post = fit.idata_["posterior"]
        dim = "arm" if self.groups else "group"
        draws: dict[str, np.ndarray] = {}
        if self.model == "beta-binomial":
            for g in self.strata:
                draws[f"mu[{g}]"] = post["mu"].sel({dim: g}).values
                if self.heterogeneity == "stratum":
                    draws[f"kappa[{g}]"] = post["kappa"].sel({dim: g}).values
            if self.heterogeneity != "stratum":
                draws["kappa"] = post["kappa"].values
        else:
            draws["intercept"] = post["intercept"].values
            order = list(post["mu_logit"].coords[dim].values)
            for j, g in enumerate(order[1:]):
                draws[f"effect[{g}]"] = post["effect"].values[..., j]
            for g in self.strata:
                if self.heterogeneity == "stratum":
                    draws[f"sigma[{g}]"] = post["sigma"].values[..., order.index(g)]
            if self.heterogeneity != "stratum":
                draws["sigma"] = post["sigma"].values
        labels = [str(c) for c in post["cohort_rate"].coords["cohort"].values]
        first = next(c for c in labels if c == "c1" or c.startswith("c1/"))
        draws["cohort_rate[c1]"] = post["cohort_rate"].sel(cohort=first).values
        return FitOutcome(draws, *_diagnostics(fit, self.exact))

    def exact_draws(self, frame: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        r"""The exact engine's draws of :attr:`parameters`, as ``ResponseModel.fit`` makes them.

        The steps of the fit that make its posterior draws: the counts
        (:func:`pclbayes.response.counts.prepare`), the grid posterior
        (:func:`pclbayes.response.exact.fit_exact`), ``draws * chains`` draws of
        :math:`(\mu, \kappa)` and the conjugate cohort rates from the stream
        ``default_rng([seed, 1])``; ``tests/unit/test_sbc_study.py`` checks that they equal
        the fitted model's draws bit for bit.
        """
        from pclbayes.response import beta_binomial
        from pclbayes.response.counts import prepare
        from pclbayes.response.exact import fit_exact

        model = self.fit_model
        priors, settings = model.validate()
        counts = prepare(frame.copy(), endpoint=model.endpoint, by=model.by,
                         include_codata=model.include_codata, reference=model.reference)
        exact = fit_exact(counts, priors, model.heterogeneity,
                          resolution=tuple(model.resolution))
        rng = np.random.default_rng([seed, 1])
        params = exact.draws(settings.draws * settings.chains, rng)
        derived = beta_binomial.derive(params, counts, rng, conditional=True)
        strata = list(counts.strata)
        draws: dict[str, np.ndarray] = {}
        for g in self.strata:
            draws[f"mu[{g}]"] = params["mu"][..., strata.index(g)]
            if self.heterogeneity == "stratum":
                draws[f"kappa[{g}]"] = params["kappa"][..., strata.index(g)]
        if self.heterogeneity != "stratum":
            draws["kappa"] = params["kappa"]
        draws["cohort_rate[c1]"] = derived["cohort_rate"][..., _unit_index(counts.units)]
        return draws

    def warm_up(self) -> None:
        """Compile the NUTS model of this design once (no effect on any task's draws)."""
        if self.exact:
            return
        frame = pd.DataFrame({"cohort": self.cohorts, "n": self.n,
                              "responders": self.n // 2})
        if self.groups:
            frame["arm"] = self.groups
        tiny = _tiny(self.fit_model, self.sampler)
        with _quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tiny.fit(frame, seed=0)


def _unit_index(units: Any) -> int:
    """Position of cohort ``c1`` among the count units (labelled ``c1`` or ``c1/<group>``)."""
    labels = [str(u) for u in units]
    return next(i for i, u in enumerate(labels) if u == "c1" or u.startswith("c1/"))


def _tiny(model: Any, sampler: SamplerSettings) -> Any:
    """The same model with a 1 x 5 draws sampler (same compiled graph)."""
    params = model.get_params()
    params["sampler"] = replace(sampler, draws=5, tune=5, chains=1)
    return type(model)(**params)


class SurvivalSBC:
    """SBC of :class:`pclbayes.survival.SurvivalModel` (PFS Weibull, with or without frailty).

    Parameters
    ----------
    frailty : bool
        Patients with a second episode sharing a positive-stable frailty.
    cohorts, patients : int
        Number of cohorts and patients per cohort.
    groups : list of str
        Levels of the covariate ``target`` (patients alternate over them; the first is
        the reference). One level: no covariate.
    accrual, follow_up : float
        Accrual period and follow-up after the last entry (months).
    reinfused_share : float
        Share of each cohort's patients with a second episode (frailty only).
    priors, fit_priors : dict
        Prior overrides of the data-generating model and of the fit only.
    sampler : SamplerSettings
    shared_graph : bool
        Fit through one compiled graph per process (see :meth:`fit`).
    """

    def __init__(self, frailty: bool, cohorts: int, patients: int, groups: list[str],
                 accrual: float, follow_up: float, reinfused_share: float,
                 priors: Mapping[str, Any], fit_priors: Mapping[str, Any],
                 sampler: SamplerSettings, shared_graph: bool = True) -> None:
        self.frailty, self.n_cohorts, self.patients = frailty, cohorts, patients
        self.shared_graph = shared_graph
        self.groups, self.accrual, self.follow_up = list(groups), accrual, follow_up
        self.reinfused = round(reinfused_share * patients) if frailty else 0
        self.sampler = sampler
        self.layout = self._layout()
        self.gen = self._model(dict(priors))
        self.fit_model = self._model({**dict(priors), **dict(fit_priors)})
        self.truth_priors = _priors(self.gen.resolved_spec(0)["priors"])
        self.fit_prior_objects = _priors(self.fit_model.resolved_spec(0)["priors"])

    def _covariates(self) -> list[str]:
        return (["target"] if len(self.groups) > 1 else []) + (["strategy"] if self.frailty
                                                                else [])

    def _terms(self) -> list[str]:
        terms = [f"target[{g}]" for g in self.groups[1:]]
        return terms + (["strategy[switch]"] if self.frailty else [])

    def _model(self, priors: dict[str, Any]) -> Any:
        from pclbayes.survival import SurvivalModel

        reference = {"target": self.groups[0]} if len(self.groups) > 1 else None
        model = SurvivalModel(
            endpoint="pfs", by="none", covariates=self._covariates(), reference=reference,
            episodes="all", frailty="stable" if self.frailty else "none",
            cohort_effect=self.n_cohorts > 1, cohort_parametrisation="noncentred",
            priors=priors, sampler=self.sampler, prior_draws=10, horizons=(12.0,))
        model.resolved_spec(0)  # validates every option and prior
        return model

    def _layout(self) -> pd.DataFrame:
        """The episodes without outcomes: cohort, patient, episode and covariates."""
        rows = []
        for c in range(self.n_cohorts):
            for p in range(self.patients):
                base = {"cohort": f"c{c + 1}", "patient_id": f"c{c + 1}p{p + 1}"}
                if len(self.groups) > 1:
                    base["target"] = self.groups[p % len(self.groups)]
                rows.append({**base, "episode": 1, "strategy": "first"})
                if p < self.reinfused:
                    rows.append({**base, "episode": 2, "strategy": "switch"})
        frame = pd.DataFrame(rows)
        return frame if self.frailty else frame.drop(columns="strategy")

    @property
    def parameters(self) -> list[str]:
        """The ranked parameters: hyperparameters and cohort ``c1``'s effect."""
        names = ["log_median", *(f"beta[{t}]" for t in self._terms()), "shape"]
        if self.n_cohorts > 1:
            names += ["sigma_cohort", "cohort_effect[c1]"]
        if self.frailty:
            names.append("kendall_tau")
        return names

    def simulate(self, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
        """Draw the parameters from the prior and one censored data set given them."""
        from pclbayes.survival.weibull import positive_stable

        pr, lay = self.truth_priors, self.layout
        terms = self._terms()
        mu = float(pr["log_median"].rvs(1, rng)[0])
        beta = np.asarray(pr["effect"].rvs(len(terms), rng), dtype=float) if terms \
            else np.zeros(0)
        shape = float(pr["shape"].rvs(1, rng)[0])
        sigma = float(pr["sigma_cohort"].rvs(1, rng)[0])
        z = rng.standard_normal(self.n_cohorts)
        tau = float(pr["kendall_tau"].rvs(1, rng)[0]) if self.frailty else 0.0
        x = np.zeros((len(lay), len(terms)))
        for j, term in enumerate(terms):
            col, level = term[:-1].split("[")
            x[:, j] = (lay[col] == level).to_numpy(dtype=float)
        cohort = lay["cohort"].str[1:].astype(int).to_numpy() - 1
        eta = mu + x @ beta + sigma * z[cohort]
        e = rng.exponential(size=len(lay))
        if self.frailty:
            patient = pd.factorize(lay["patient_id"])[0]
            alpha = 1.0 - tau
            frail = positive_stable(alpha, patient.max() + 1, rng)[patient]
            cum = (e / frail) ** alpha
        else:
            cum = e
        t = np.exp(eta) * (cum / np.log(2.0)) ** (1.0 / shape)
        c = self.follow_up + self.accrual * rng.uniform(size=len(lay))
        frame = lay.assign(time=np.minimum(t, c), event=(t <= c).astype(int))
        truth = {"log_median": mu, "shape": shape}
        truth.update({f"beta[{t}]": float(b) for t, b in zip(terms, beta, strict=True)})
        if self.n_cohorts > 1:
            truth.update({"sigma_cohort": sigma, "cohort_effect[c1]": sigma * float(z[0])})
        if self.frailty:
            truth["kendall_tau"] = tau
        return frame, truth

    def fit(self, frame: pd.DataFrame, seed: int) -> FitOutcome:
        """Fit the simulated episodes with the real model; draws of :attr:`parameters`.

        ``shared_graph`` (default): the model's own data preparation, design, PyMC graph,
        priors and NUTS settings, through one compiled graph per process, with the sampler
        started at the prior median of ``log_median`` (:meth:`_fit_shared`). Otherwise
        :meth:`SurvivalModel.fit <pclbayes.survival.SurvivalModel.fit>` itself, whose
        graph starts at the data's median time and so compiles anew for every data set
        (about 5 s a fit on 2 cores, against 0.3 s).
        """
        if self.shared_graph:
            return self._fit_shared(frame, seed)
        fit = _quiet_fit(self.fit_model, frame, seed)
        post = fit.idata_["posterior"]
        draws = {"log_median": post["log_median"].values, "shape": post["shape"].values}
        for t in self._terms():
            draws[f"beta[{t}]"] = post["beta"].sel(term=t).values
        if self.n_cohorts > 1:
            draws["sigma_cohort"] = post["sigma_cohort"].values
            draws["cohort_effect[c1]"] = post["cohort_effect"].sel(cohort="c1").values
        if self.frailty:
            draws["kendall_tau"] = post["kendall_tau"].values
        return FitOutcome(draws, *_diagnostics(fit, exact=False))

    def _fit_shared(self, frame: pd.DataFrame, seed: int) -> FitOutcome:
        """NUTS on the model's graph compiled once per process (see :meth:`fit`).

        The graph is built from the data's design with every log time set to the prior
        median :math:`m_0` of ``log_median``, so that its starting value, the one part of
        :func:`pclbayes.survival.build.graph_key` that depends on the data, is the same for
        every task; the data are then swapped into its inputs as in every pclbayes fit
        (:mod:`pclbayes.nuts`). Only the chains' starting point differs from
        ``SurvivalModel.fit``: the target distribution, the sampler and its settings are
        the same.
        """
        from pclbayes.diagnostics import check_convergence
        from pclbayes.nuts import run_nuts
        from pclbayes.survival import build
        from pclbayes.survival.data import apply_estimand, prepare_data
        from pclbayes.survival.design import free_parameters

        model, priors = self.fit_model, self.fit_prior_objects
        sdata = apply_estimand(prepare_data(frame, model.endpoint), model._estimand())
        design = model._design(sdata)
        start = float(priors["log_median"].frozen().median())
        canonical = replace(design, log_t=np.full_like(design.log_t, start))
        key = ("sbc", *build.graph_key(canonical, priors, None))
        tree = run_nuts(key, lambda containers: build.build_model(canonical, priors, None,
                                                                  containers),
                        build.inputs(design, priors, None).data(), self.sampler, seed)
        with _quiet():
            report = check_convergence(tree, var_names=free_parameters(design, None),
                                       label="sbc", target_accept=self.sampler.target_accept,
                                       warn=False)
        post = tree["posterior"].to_dataset()
        draws = {"log_median": post["log_median"].values, "shape": post["shape"].values}
        terms = list(design.term_labels)
        for t in self._terms():
            draws[f"beta[{t}]"] = post["beta"].values[..., terms.index(t)]
        if self.n_cohorts > 1:
            z = post["z_cohort"].values[..., list(design.cohorts).index("c1")]
            draws["sigma_cohort"] = post["sigma_cohort"].values
            draws["cohort_effect[c1]"] = post["sigma_cohort"].values * z
        if self.frailty:
            draws["kendall_tau"] = post["kendall_tau"].values
        return FitOutcome(draws, float(report.max_rhat), float(report.min_ess_bulk),
                          float(report.divergences))

    def warm_up(self) -> None:
        """Compile the shared graph once (a few draws with a fixed seed and fixed data).

        Without ``shared_graph`` there is nothing to compile ahead: the graph of
        ``SurvivalModel.fit`` holds the data's median time, so each data set compiles its
        own.
        """
        if not self.shared_graph:
            return
        frame = self.layout.assign(time=10.0, event=1)
        with _quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved, self.sampler = self.sampler, replace(self.sampler, draws=5, tune=5,
                                                          chains=1)
            try:
                self._fit_shared(frame, 0)
            finally:
                self.sampler = saved
