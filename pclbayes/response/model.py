"""``ResponseModel``: pooled response rates of small cohorts, by stratum."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pclbayes import provenance
from pclbayes._memo import per_fit
from pclbayes.checks import ALPHA
from pclbayes.diagnostics import ConvergenceReport, check_convergence, psis_loo
from pclbayes.errors import SpecError
from pclbayes.model import Model, check_seed, prior_record
from pclbayes.priors import Prior, parse_priors
from pclbayes.response import beta_binomial, checks, logit_normal
from pclbayes.response import results as res
from pclbayes.response.counts import CountData, prepare
from pclbayes.response.defaults import (
    HETEROGENEITY,
    METHODS,
    MODELS,
    PRIORS,
    check_support,
    default_priors,
)
from pclbayes.response.exact import fit_exact
from pclbayes.sampling import SamplerSettings

logger = logging.getLogger(__name__)

_MODULES = {"beta-binomial": beta_binomial, "logit-normal": logit_normal}
_ENDPOINT_NAMES = {"orr": "ORR (PR or better)", "cr": "CR or better"}


class ResponseModel(Model):
    """Hierarchical model of response rates pooled over cohorts, one population per stratum.

    Parameters
    ----------
    endpoint : str
        ``"orr"`` (PR or better), ``"cr"`` (CR or better), or a 0/1 outcome column.
    by : str
        ``"none"``, ``"target"`` (first infusions only), ``"strategy"`` (first infusions and
        target-switched re-infusions) or another grouping column.
    model : {"beta-binomial", "logit-normal"}
        Beta population of cohort rates with the rates integrated out (default), or normal
        random effects on the log-odds (non-centred).
    method : {"auto", "mcmc", "exact"}
        ``"auto"`` (default): the exact engine where the model allows it (the beta-binomial
        model, shared or stratum heterogeneity), NUTS otherwise (the logit-normal model);
        :attr:`engine` is the one chosen, and the resolved specification records it.
        ``"mcmc"``: NUTS; ``"exact"``: deterministic numerical integration (beta-binomial
        only).
    heterogeneity : {"shared", "stratum"}
        One between-cohort heterogeneity parameter for all strata (default), or one per
        stratum. Shared is the default because a stratum with a single cohort (GPRC5D,
        switch) carries no information about its own heterogeneity: with a
        stratum-specific parameter its spread would be the prior's alone.
    priors : dict, optional
        Overrides of the default priors by parameter name: ``Prior`` objects, strings such
        as ``"Gamma(alpha=2, beta=0.1)"`` or TOML-style tables (see
        :mod:`pclbayes.response.defaults`).
    sampler : SamplerSettings or dict, optional
        NUTS settings (default :class:`~pclbayes.sampling.SamplerSettings`). With
        ``method="exact"``, ``draws * chains`` independent draws fill the DataTree.
    include_codata : bool
        Add aggregate rows flagged as non-PCL co-data (off by default).
    reference : str, optional
        Reference level of the contrasts (default ``BCMA`` for target, ``first`` for
        strategy, else the level with most patients).
    resolution : (int, int)
        Cells of the exact engine's final grid along ``logit(mu)`` and ``log(kappa)``.

    Attributes
    ----------
    idata_ : xarray.DataTree
        ``posterior``, ``posterior_predictive``, ``prior``, ``prior_predictive``,
        ``observed_data``, ``constant_data``, ``log_likelihood`` (and ``sample_stats`` for
        MCMC), dims ``cohort``, the stratum dimension (``target``, ``strategy``, ``group``
        for none) and ``contrast``; provenance-stamped.
    counts_ : CountData
    priors_ : dict of Prior
    diagnostics_ : ConvergenceReport
    exact_ : ExactPosterior or None
    seed_ : int

    Examples
    --------
    >>> from pclbayes.data import load
    >>> fit = ResponseModel(endpoint="cr", by="target").fit(load(), seed=1)  # doctest: +SKIP
    >>> fit.summary().query("quantity == 'pooled_rate'")                      # doctest: +SKIP
    """

    family = "response"

    def __init__(self, endpoint: str = "orr", by: str = "none", model: str = "beta-binomial",
                 method: str = "auto", heterogeneity: str = "shared",
                 priors: dict[str, Any] | None = None,
                 sampler: SamplerSettings | dict | None = None, include_codata: bool = False,
                 reference: str | None = None, resolution: tuple[int, int] = (96, 80),
                 name: str | None = None) -> None:
        self.endpoint = endpoint
        self.by = by
        self.model = model
        self.method = method
        self.heterogeneity = heterogeneity
        self.priors = priors
        self.sampler = sampler
        self.include_codata = include_codata
        self.reference = reference
        self.resolution = resolution
        self.name = name

    # ------------------------------------------------------------------ configuration
    def validate(self) -> tuple[dict[str, Prior], SamplerSettings]:
        """Check every option; return the priors in use and the sampler settings.

        Raises
        ------
        SpecError
            Naming the option that is wrong and the valid choices.
        """
        if self.model not in MODELS:
            raise SpecError(f"unknown model '{self.model}'; choose one of {', '.join(MODELS)}")
        if self.method not in METHODS:
            raise SpecError(f"unknown method '{self.method}'; choose one of {', '.join(METHODS)}")
        if self.method == "exact" and self.model != "beta-binomial":
            raise SpecError("method 'exact' is available for the beta-binomial model only; use "
                            "method='mcmc' or 'auto' with the logit-normal model")
        if self.heterogeneity not in HETEROGENEITY:
            raise SpecError(f"unknown heterogeneity '{self.heterogeneity}'; choose one of "
                            f"{', '.join(HETEROGENEITY)}")
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise SpecError("endpoint must be a non-empty string such as 'orr' or 'cr'")
        if not isinstance(self.by, str) or not self.by:
            raise SpecError("by must be 'none', 'target', 'strategy' or a column name")
        overrides = dict(self.priors or {})
        if not isinstance(self.priors or {}, dict):
            raise SpecError("priors must be a dict of parameter name -> prior")
        priors = parse_priors(overrides, default_priors(self.model))
        check_support(self.model, priors)
        if self.sampler is None:
            settings = SamplerSettings()
        elif isinstance(self.sampler, SamplerSettings):
            settings = self.sampler
        elif isinstance(self.sampler, dict):
            settings = SamplerSettings.from_dict(self.sampler)
        else:
            raise SpecError("sampler must be a SamplerSettings or a dict of settings")
        res_ok = (isinstance(self.resolution, tuple | list) and len(self.resolution) == 2
                  and all(isinstance(v, int) and v >= 16 for v in self.resolution))
        if not res_ok:
            raise SpecError(f"resolution must be two integers >= 16, got {self.resolution!r}")
        return priors, settings

    @property
    def engine(self) -> str:
        """The engine a fit uses: ``method``, with ``"auto"`` resolved.

        ``"auto"`` is ``"exact"`` for the beta-binomial model (either heterogeneity: the
        exact engine integrates two hyperparameters per stratum) and ``"mcmc"`` for the
        logit-normal model, which has no exact engine.
        """
        if self.method != "auto":
            return self.method
        return "exact" if self.model == "beta-binomial" else "mcmc"

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as given (priors as written)."""
        priors = {k: (v.to_dict() if isinstance(v, Prior) else v)
                  for k, v in dict(self.priors or {}).items()}
        sampler = (self.sampler.__dict__ if isinstance(self.sampler, SamplerSettings)
                   else self.sampler)
        return {"endpoint": self.endpoint, "by": self.by, "model": self.model,
                "method": self.method, "heterogeneity": self.heterogeneity, "priors": priors,
                "sampler": sampler, "include_codata": self.include_codata,
                "reference": self.reference, "resolution": list(self.resolution),
                "name": self.name}

    def _resolved_options(self) -> dict[str, Any]:
        priors, settings = self.validate()
        return {**self.get_params(), "method": self.engine,
                "priors": prior_record(priors, self.priors), "sampler": dict(settings.__dict__)}

    @classmethod
    def from_resolved(cls, spec: dict[str, Any]) -> ResponseModel:
        """An unfitted model configured by a resolved specification."""
        options = {k: v for k, v in spec.items() if k not in ("family", "seed")}
        options["resolution"] = tuple(options.get("resolution", (96, 80)))
        return cls(**options)

    @classmethod
    def from_spec_options(cls, spec: Any) -> ResponseModel:
        """The unfitted model of a :class:`pclbayes.specs.Spec` (``[model]`` keys checked)."""
        from pclbayes.response.spec import OPTIONS

        unknown = sorted(set(spec.options) - set(OPTIONS))
        if unknown:
            raise SpecError(f"unknown [model] key(s) {unknown}; valid keys: "
                            f"family, name, title, {', '.join(OPTIONS)}")
        return cls(**spec.options, priors=dict(spec.priors), sampler=spec.sampler,
                   name=spec.name)

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Any = None, *, seed: int = 1) -> ResponseModel:
        """Fit to an :class:`~pclbayes.data.EvidenceBase` or a DataFrame of counts.

        Everything is validated before sampling. ``None`` uses the bundled evidence base;
        a DataFrame needs ``cohort, n, responders`` (and the ``by`` column unless
        ``by="none"``).

        Returns
        -------
        ResponseModel
            ``self``, with the fitted attributes set.
        """
        priors, settings = self.validate()
        seed = check_seed(seed)
        spec = self.resolved_spec(seed)
        if data is None:
            from pclbayes.data import load

            data = load()
        counts = prepare(data.copy() if isinstance(data, pd.DataFrame) else data,
                         endpoint=self.endpoint, by=self.by,
                         include_codata=self.include_codata, reference=self.reference)
        module = _MODULES[self.model]
        rng = np.random.default_rng([seed, 1])
        exact = None
        sample_stats = None
        if self.engine == "mcmc":
            from pclbayes.nuts import run_nuts

            tree = run_nuts(module.cache_key(counts, priors, self.heterogeneity),
                            lambda containers: module.build(counts, priors,
                                                            self.heterogeneity, containers),
                            module.inputs(counts, priors).data(), settings, seed)
            post = tree["posterior"].to_dataset()
            params = {k: post[k].values for k in post.data_vars}
            sample_stats = tree["sample_stats"].to_dataset()
        else:
            exact = fit_exact(counts, priors, self.heterogeneity,
                              resolution=tuple(self.resolution))
            params = exact.draws(settings.draws * settings.chains, rng)
        derived = res.with_contrast(module.derive(params, counts, rng, conditional=True), counts)
        size = max(settings.draws * settings.chains, 1000)
        prng = np.random.default_rng([seed, 2])
        prior_params = module.prior_parameters(priors, counts, self.heterogeneity, size, prng)
        prior_derived = res.with_contrast(
            module.derive(prior_params, counts, prng, conditional=False), counts)
        tree = self._tree(counts, module, params, derived, prior_params, prior_derived,
                          sample_stats)
        tree.attrs.update(pclbayes_model=self.model,
                          pclbayes_engine="exact" if exact is not None else settings.sampler)
        recorded = {"counts": counts.to_json()}
        provenance.stamp(tree, family=self.family, spec=spec,
                         data_hash=_data_hash(data, counts), seed=seed, inputs=recorded)
        self._restore(tree, recorded, exact=exact)
        logger.info("%s fitted", self._label())
        return self

    def _inputs(self) -> dict[str, Any]:
        self._check_fitted()
        return {"counts": self.counts_.to_json()}

    def _restore(self, tree: xr.DataTree, inputs: dict[str, Any], exact: Any = None) -> None:
        """Set the fitted attributes from the DataTree and the recorded counts.

        The exact engine's grid posterior is computed again from the counts and priors
        (deterministic, a fraction of a second) unless the fit passes it in.
        """
        priors, settings = self.validate()
        counts = CountData.from_json(inputs["counts"])
        if self.engine == "exact" and exact is None:
            exact = fit_exact(counts, priors, self.heterogeneity,
                              resolution=tuple(self.resolution))
        self.idata_ = tree
        self.counts_, self.priors_, self.sampler_, self.exact_ = counts, priors, settings, exact
        self.seed_ = int(tree.attrs["pclbayes_seed"])
        self.data_hash_ = str(tree.attrs["pclbayes_data_hash"])
        if exact is None:
            free = [v for v in _MODULES[self.model].FREE if v in tree["posterior"]]
            self.diagnostics_ = check_convergence(
                tree, var_names=free, label=self._label(),
                target_accept=settings.target_accept)
        else:
            n = settings.draws * settings.chains
            self.diagnostics_ = ConvergenceReport(
                float("nan"), float("nan"), float("nan"), 0, n, 1, ok=True,
                messages=["exact engine (numerical integration): no sampler diagnostics "
                          f"apply; the DataTree holds {n} independent draws from the grid"])
        self.summary_ = self._summarise()

    def _tree(self, counts: CountData, module, params, derived, prior_params, prior_derived,
              sample_stats) -> xr.DataTree:
        pdims = {**module.dims(self.heterogeneity), **res.DERIVED_DIMS}
        post_vars = {k: v for k, v in {**params, **derived}.items()
                     if k not in ("y_rep", "log_lik")}
        prior_vars = {k: v for k, v in {**prior_params, **prior_derived}.items()
                      if k not in ("y_rep", "log_lik")}
        labels = res.coords(counts)

        def counts_ds(values, name):
            return xr.Dataset({name: xr.DataArray(values, dims=("cohort",),
                                                  coords={"cohort": labels["cohort"]})})

        groups = {
            "posterior": res.dataset(post_vars, pdims, counts),
            "posterior_predictive": res.dataset({"responders": derived["y_rep"]},
                                                {"responders": ("unit",)}, counts),
            "log_likelihood": res.dataset({"responders": derived["log_lik"]},
                                          {"responders": ("unit",)}, counts),
            "prior": res.dataset(prior_vars, pdims, counts),
            "prior_predictive": res.dataset({"responders": prior_derived["y_rep"]},
                                            {"responders": ("unit",)}, counts),
            "observed_data": counts_ds(counts.r.astype(np.int64), "responders"),
            "constant_data": counts_ds(counts.n.astype(np.int64), "n"),
        }
        if sample_stats is not None:
            groups["sample_stats"] = sample_stats
        return xr.DataTree.from_dict(groups)

    # ------------------------------------------------------------------ summaries
    def _heterogeneity_name(self) -> str:
        return "kappa" if self.model == "beta-binomial" else "sigma"

    def _summarise(self) -> pd.DataFrame:
        counts, het = self.counts_, self._heterogeneity_name()
        post = self.idata_["posterior"].to_dataset()
        rows: list[dict] = []
        if self.exact_ is not None:
            rows += self._exact_rows()
        else:
            names = {"pooled_rate": "pooled_rate", "predictive_rate": "predictive_rate",
                     "cohort_rate": "cohort_rate", "rate_difference": "contrast", het: het,
                     "between_cohort_sd": "between_cohort_sd"}
            if self.model == "logit-normal":
                names.update(mu_logit="mu_logit", effect="log_odds_ratio")
            names = {k: v for k, v in names.items() if k in post}
            diag = res.mcmc_diagnostics(post[list(names)])
            for var, quantity in names.items():
                rows += res.rows_from_draws(post, var, quantity, diag)
        dist = self.priors_[het].distribution()
        levels = ["shared"] if self.heterogeneity == "shared" else list(counts.strata)
        rows += [res.prior_row(het, lv, dist) for lv in levels]
        prior = self.idata_["prior"].to_dataset() if "prior" in self.idata_.children else None
        return res.finish(rows, counts, self.diagnostics_.ok, prior)

    def _exact_rows(self) -> list[dict]:
        ex, counts = self.exact_, self.counts_
        rows = []
        for s, level in enumerate(counts.strata):
            rows.append({"quantity": "pooled_rate", "level": level, **ex.mu_summary(s)})
        for s, level in enumerate(counts.strata):
            rows.append({"quantity": "predictive_rate", "level": level,
                         **ex.predictive_summary(s)})
        for j, unit in enumerate(counts.units):
            rows.append({"quantity": "cohort_rate", "level": unit, **ex.cohort_summary(j)})
        for label, s, ref in counts.contrasts:
            rows.append({"quantity": "contrast", "level": label,
                         **ex.contrast_summary(s, ref)})
        if self.heterogeneity == "shared":
            rows.append({"quantity": "kappa", "level": "shared", **ex.kappa_summary(0)})
        else:
            rows += [{"quantity": "kappa", "level": lv, **ex.kappa_summary(s)}
                     for s, lv in enumerate(counts.strata)]
        for s, level in enumerate(counts.strata):
            rows.append({"quantity": "between_cohort_sd", "level": level,
                         **ex.function_summary(lambda m, k: np.sqrt(m * (1 - m) / (k + 1)), s)})
        for row in rows:
            row["source"] = "exact"
            if "prob_gt_0" in row:
                row["prob_gt"], row["prob_gt_value"] = row.pop("prob_gt_0"), 0.0
        return rows

    def summary(self) -> pd.DataFrame:
        """Tidy table: one row per reported quantity, 95% equal-tailed intervals.

        The columns of :data:`pclbayes.model.SUMMARY_COLUMNS`, then ``cohort, group, n,
        responders, observed`` (cohort rows) and ``converged`` (the convergence gate's
        outcome, on every row). ``source`` is ``posterior`` (MCMC draws), ``exact``
        (numerical integration) or ``prior`` (exact prior quantiles).

        Quantities: ``pooled_rate`` (population-mean rate per stratum),
        ``predictive_rate`` (rate of a new cohort), ``cohort_rate`` (shrunken, next to the
        ``observed`` rate), ``contrast`` (pooled-rate difference against the reference level,
        with ``prob_gt`` = P(> 0)), the heterogeneity (``kappa`` or ``sigma``; its prior in
        the row with ``source == "prior"``), ``between_cohort_sd`` (SD of cohort rates on
        the rate scale), and for the logit-normal model ``mu_logit`` and ``log_odds_ratio``.

        ``prior_sd_ratio`` compares each posterior (or exact) row's SD with the SD of the
        same quantity under the prior (the draws in ``idata_["prior"]``); ``mostly_prior``
        flags a ratio above :data:`pclbayes.checks.MOSTLY_PRIOR_RATIO` (0.7: the prior
        supplies about half the information or more). An SD ratio measures spread only: where
        every patient responded, the *upper* limit of a rate comes from the prior even when
        the ratio is small (the data rule out low rates, not rates near 1).
        """
        self._check_fitted()
        return self.summary_.copy()

    def to_dict(self) -> dict:
        """JSON-able result (the ``--json`` layout of ``pclbayes fit response``)."""
        self._check_fitted()
        frame = self.summary_
        keys = ("mean", "median", "lower", "upper")

        def block(quantity: str, extra: tuple[str, ...] = (), prior: bool = False) -> dict:
            is_prior = frame["source"] == "prior"
            sub = frame[(frame["quantity"] == quantity) & (is_prior if prior else ~is_prior)]
            return {r["level"]: {k: _num(r[k]) for k in (*keys, *extra)}
                    for _, r in sub.iterrows()}

        cohorts = {}
        for _, r in frame[frame["quantity"] == "cohort_rate"].iterrows():
            cohorts[r["level"]] = {"cohort": r["cohort"], "group": r["group"],
                                   "n": int(r["n"]), "responders": int(r["responders"]),
                                   "observed": _num(r["observed"]),
                                   **{k: _num(r[k]) for k in keys}}
        het = self._heterogeneity_name()
        het_block = block(het)
        het_value = het_block["shared"] if self.heterogeneity == "shared" else het_block
        if self.model == "beta-binomial":
            hyper = {"mean": block("pooled_rate"), "kappa": het_value}
        else:
            hyper = {"mu": block("mu_logit"), "sigma": het_value,
                     "log_odds_ratio": block("log_odds_ratio")}
        prior_block = block(het, prior=True)
        return {
            "endpoint": self.counts_.endpoint, "by": self.by, "model": self.model,
            "method": self.engine,
            "sampler": None if self.exact_ is not None else self.sampler_.sampler,
            "heterogeneity": self.heterogeneity, "reference": self.counts_.strata[0],
            "groups": block("pooled_rate"), "predictive": block("predictive_rate"),
            "cohorts": cohorts, "contrasts": block("contrast", ("prob_gt",)),
            "hyper": hyper,
            "heterogeneity_prior": next(iter(prior_block.values())),
            "between_cohort_sd": block("between_cohort_sd"),
            "priors": {k: {"prior": str(p), "reason": p.reason}
                       for k, p in self.priors_.items()},
            "diagnostics": self.diagnostics_.to_dict(),
            "data": {"source": self.counts_.source, "data_hash": self.data_hash_,
                     "patients": int(self.counts_.n.sum()),
                     "responders": int(self.counts_.r.sum()),
                     "cohort_units": self.counts_.n_units},
            "seed": self.seed_,
        }

    # ------------------------------------------------------------------ checks and output
    @per_fit
    def ppc_table(self, kind: str = "posterior") -> pd.DataFrame:
        """Observed against predicted responders per cohort unit.

        Parameters
        ----------
        kind : {"posterior", "mixed"}
            ``posterior``: replicate each cohort from its own posterior rate (uses the
            cohort's data twice, so it is conservative). ``mixed``: replicate it from a new
            cohort's rate in its stratum (Marshall & Spiegelhalter's mixed predictive check;
            more sensitive to a cohort that does not fit its stratum).

        Returns
        -------
        DataFrame
            The shared ``ppc_table`` schema (:data:`pclbayes.model.PPC_COLUMNS`):
            ``cohort, n, statistic`` (``"responders"``), ``observed``, ``predicted_mean``,
            ``lower, upper`` (95% interval of replicated responders) and ``p_value``
            (two-sided predictive p-value, ``2 min(P(y_rep <= y), P(y_rep >= y))`` capped
            at 1), then ``group``.

        Notes
        -----
        A p-value near 1 means that the observed count lies in the middle of its
        replicates. With ``kind="posterior"`` that is what a cohort of a few patients
        gives by construction (each replicate reuses the cohort's own posterior rate; a
        cohort where every patient responded gets p = 1), so a value near 1 is *not*
        evidence that the model fits: this check can hardly fail. ``kind="mixed"``
        is more sensitive but still uses the cohort's data in the hyperparameters; the
        checks that can flag a cohort are in :meth:`check_table`.
        """
        self._check_fitted()
        counts = self.counts_
        if kind == "posterior":
            rep = self.idata_["posterior_predictive"]["responders"].values
            rep = rep.reshape(-1, counts.n_units)
        elif kind == "mixed":
            pred = self.idata_["posterior"]["predictive_rate"].values
            pred = pred.reshape(-1, counts.n_strata)[:, counts.stratum_index]
            rep = np.random.default_rng([self.seed_, 3]).binomial(counts.n, pred)
        else:
            raise SpecError(f"kind must be 'posterior' or 'mixed', got {kind!r}")
        lo, hi = np.quantile(rep, [0.025, 0.975], axis=0)
        p_le = (rep <= counts.r).mean(axis=0)
        p_ge = (rep >= counts.r).mean(axis=0)
        return pd.DataFrame({
            "cohort": counts.units, "n": counts.n, "statistic": "responders",
            "observed": counts.r, "predicted_mean": rep.mean(axis=0), "lower": lo,
            "upper": hi, "p_value": np.minimum(1.0, 2 * np.minimum(p_le, p_ge)),
            "group": counts.groups,
        })

    def precompute(self) -> None:
        """Every table a report reads (see :meth:`pclbayes.model.Model.precompute`)."""
        super().precompute()
        self.check_table()

    @per_fit
    def check_table(self, p_method: str = "mid", alpha: float = ALPHA) -> pd.DataFrame:
        """Predictive checks that can flag a cohort: cross-validated, dispersion, prior conflict.

        The maths of each check is in :mod:`pclbayes.response.checks`; the p-values in
        :mod:`pclbayes.checks`.

        Parameters
        ----------
        p_method : {"mid", "standard"}
            Mid-p (default: close to nominal size with a few patients) or the standard,
            conservative p-value of a count.
        alpha : float
            Flag threshold (``flag = p_value < alpha``), two-sided for counts and upper-tail
            for the dispersion statistic.

        Returns
        -------
        DataFrame
            The columns of :data:`pclbayes.checks.CHECK_COLUMNS`, then ``group``. Per cohort
            unit: ``check == "loo_predictive"`` (its responders given the other cohorts:
            an exact refit without it for the beta-binomial model, importance-reweighted
            posterior draws for the logit-normal one) and ``"prior_conflict"`` (its
            responders under the prior predictive); one ``"dispersion"`` row (cohort
            ``"all"``: Pearson's X^2 of the cohort rates against posterior-predictive
            replicates with fresh cohort rates) and one ``"dispersion_prior"`` row (the
            same statistic against its prior-predictive distribution: a conflict check of
            the heterogeneity prior).
        """
        self._check_fitted()
        return checks.check_table(self, p_method, alpha)

    def new_cohort_check(self, n: int, responders: int, level: str | None = None,
                         p_method: str = "mid", alpha: float = ALPHA) -> pd.DataFrame:
        """A new cohort's count against the meta-analytic-predictive (MAP) distribution.

        Parameters
        ----------
        n, responders : int
            Patients and responders of the new cohort.
        level : str, optional
            Its stratum level (required with more than one stratum).
        p_method, alpha
            As in :meth:`check_table`.

        Returns
        -------
        DataFrame
            One row (``check == "map_conflict"``, cohort ``"new"``) in the
            :data:`pclbayes.checks.CHECK_COLUMNS` schema, then ``group``: the two-sided
            p-value of ``responders`` under the predictive distribution of a new cohort of
            ``n`` patients of that level.
        """
        self._check_fitted()
        return checks.new_cohort_check(self, n, responders, level, p_method, alpha)

    @per_fit
    def loo(self):
        """PSIS leave-one-cohort-out cross-validation (ArviZ ``loo``, with Pareto k).

        Pareto k above 0.7 is logged as a warning and flagged in ``result.warning``.
        """
        self._check_fitted()
        return psis_loo(self.idata_, self._label())

    def prior_summary(self) -> str:
        """The priors used, what each parameter means, why, and the reference."""
        priors = getattr(self, "priors_", None)
        if priors is None:
            priors, _ = self.validate()
        info = PRIORS[self.model]
        default = default_priors(self.model)
        lines = [f"Priors of the {self.model} model (heterogeneity {self.heterogeneity}):"]
        width = max(len(k) for k in priors)
        for name, prior in priors.items():
            tag = "default" if prior == default[name] else "user"
            lines.append(f"  {name:<{width}} ~ {prior}  [{tag}]")
            lines.append(f"  {'':<{width}}   {info[name].meaning}")
            if prior.reason:
                lines.append(f"  {'':<{width}}   why: {prior.reason}")
            raw = (self.priors or {}).get(name)
            ref = raw.get("reference") if isinstance(raw, dict) else None
            if ref is None and tag == "default":
                ref = info[name].reference
            if ref:
                lines.append(f"  {'':<{width}}   ref: {ref}")
            q = prior.distribution().ppf([0.025, 0.975])
            lines.append(f"  {'':<{width}}   95% prior interval {q[0]:.3g} to {q[1]:.3g}")
        return "\n".join(lines)

    def _label(self) -> str:
        what = f"response {self.endpoint} by {self.by} ({self.model}, {self.engine})"
        return f"{self.name}: {what}" if self.name else what

    def __repr__(self) -> str:
        return (f"ResponseModel(endpoint={self.endpoint!r}, by={self.by!r}, "
                f"model={self.model!r}, method={self.method!r}, "
                f"heterogeneity={self.heterogeneity!r})")

    def __str__(self) -> str:
        if not hasattr(self, "idata_"):
            return repr(self) + " (not fitted)"
        from pclbayes.response.card import model_card

        return model_card(self)


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _data_hash(data: Any, counts: CountData) -> str:
    if hasattr(data, "data_hash"):
        return str(data.data_hash)
    return provenance.canonical_hash(counts.frame().to_dict(orient="list"))

