"""``SurvivalModel``: pooled Weibull model of PFS or OS episodes with censoring."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pclbayes import provenance
from pclbayes._memo import per_fit
from pclbayes._tables import frame_from_json, frame_to_json
from pclbayes.checks import ALPHA
from pclbayes.diagnostics import ConvergenceReport, check_convergence, psis_loo
from pclbayes.errors import SpecError
from pclbayes.model import Model, check_seed, prior_record
from pclbayes.priors import Prior, parse_priors
from pclbayes.sampling import SamplerSettings
from pclbayes.survival import checks, report
from pclbayes.survival.data import (
    Estimand,
    SurvivalData,
    apply_estimand,
    later_reinfusion_note,
    prepare_data,
)
from pclbayes.survival.defaults import (
    DEFAULT_HORIZONS_BY_UNIT,
    DEFAULT_PRIOR_DRAWS,
    DEFAULT_SAMPLER,
    POSITIVE,
    REAL,
    SUPPORT,
    default_priors,
    prior_in_unit,
)
from pclbayes.survival.derived import (
    SAMPLE_DIMS,
    Draws,
    draws_from_posterior,
    draws_from_prior,
    pointwise_loglik,
    predictive_times,
    reported,
    thin_step,
    thinned,
)
from pclbayes.survival.design import Design, build_design, coords, free_parameters

logger = logging.getLogger(__name__)

#: Random streams derived from the seed (sampler, new cohort, prior, predictive draws).
_STREAM_NEW, _STREAM_PRIOR, _STREAM_PPC, _STREAM_PRIOR_PPC = 1, 2, 3, 4


class SurvivalModel(Model):
    """Weibull model of time to progression (or death) after a CAR T infusion.

    The log median time of each episode is
    ``log_median + target + strategy + PCL type (+ by column) + cohort effect``; the shape
    is shared (or one per reported group); the episodes of a patient share a
    positive-stable frailty, so every episode is marginally Weibull while a patient's
    first and re-infusion times are dependent (Kendall's tau). See ``docs/survival.md``.

    Parameters
    ----------
    endpoint : str, default "pfs"
        ``"pfs"`` or ``"os"`` (or the prefix of a user's ``<endpoint>_months`` column).
    by : str, default "none"
        Column whose levels are reported (``"none"``: one group; ``"target"``,
        ``"strategy"`` or any column). The model still adjusts for the other covariates.
    covariates : sequence of str, optional
        Columns of the linear predictor (default ``target, strategy, pcl_type`` where
        present). Missing values form the level ``unknown``.
    reference : mapping, optional
        Reference level per covariate (default BCMA, first, primary).
    at : mapping, optional
        Covariate levels fixed in the reported profiles (default: a first infusion).
    shape : {"shared", "by_group"}
        One Weibull shape, or one per reported group.
    fixed_shape : float, optional
        Fix the shape (``1.0`` gives the exponential model).
    cohort_effect : {"auto", True, False}
        Cohort random effect (``auto``: when there are two or more cohorts).
    frailty : {"auto", "stable", "none"}
        Positive-stable patient frailty for patients with several episodes.
    cohort_parametrisation : {"auto", "noncentred", "centred"}
        Sampling form of the cohort effect (the model is the same). ``auto`` centres it
        only when every cohort's own data pin down its level (large cohorts).
    episodes : {"all", "first"}, optional
        Which episodes enter. Default: ``first`` (first infusions only), except for PFS
        reported ``by="strategy"``, which needs the re-infusion episodes. A target-switched
        re-infusion is the same patient at a later line, selected by relapse, survival and
        fitness for re-infusion, and the switch is made because of antigen escape: pooling
        it with first infusions under additive target and strategy effects treats it as a
        crossover without carry-over, so contrasts between first-infusion groups use first
        infusions (``episodes="all"`` is a sensitivity analysis). For OS a re-infusion's
        time is the rest of the same patient's OS and ends with the same death: it is not
        a second outcome.
    pfs_coding : {"progression_or_death", "progression"}
        PFS event: progression or death from any cause (the source's definition), or
        progression only (deaths without progression censored at the death, from the
        ``progression`` column).
    censor_at : str or sequence of str, optional
        Censor follow-up at later events: ``"subsequent_therapy"`` (e.g. an allo-HSCT, from
        ``subsequent_therapy_months``) and/or ``"reinfusion"`` (a first infusion's follow-up
        ends at the target-switched re-infusion: the hypothetical estimand). Default: none
        (the treatment-policy estimand: follow-up regardless of later therapy).
    censor_cohort_events : str or sequence of str, optional
        Cohorts whose events are all censored at their times.
    exclude_cohorts : str or sequence of str, optional
        Cohorts left out (leave-one-cohort-out, or without press-release data).
    priors : mapping, optional
        Overrides of :func:`pclbayes.survival.defaults.default_priors` by name
        (``log_median, effect, shape, sigma_cohort, kendall_tau``).
    horizons : sequence of float, optional
        Times (in ``time_unit``) at which survival probabilities are reported. Default:
        about six months and a year (:data:`~pclbayes.survival.defaults.DEFAULT_HORIZONS_BY_UNIT`:
        6 and 12 months, 26 and 52 weeks, 180 and 365 days, 0.5 and 1 year).
    time_unit : {"days", "weeks", "months", "years"}, optional
        Unit of the data's times and of every reported time. Default: the unit the data
        declare (:attr:`pclbayes.data.EvidenceBase.time_unit`), else months. Priors are
        stated in months whatever the unit (the ``log_median`` location is shifted:
        :func:`pclbayes.survival.defaults.prior_in_unit`).
    sampler : SamplerSettings, optional
        Default: 4 chains x 1000 draws, ``target_accept=0.99``.
    prior_draws : int
        Draws of the prior-predictive check.
    name : str, optional
        Label used in messages and saved files.
    """

    family = "survival"

    def __init__(
        self,
        endpoint: str = "pfs",
        by: str = "none",
        *,
        covariates: Sequence[str] | None = None,
        reference: Mapping[str, str] | None = None,
        at: Mapping[str, str] | None = None,
        shape: str = "shared",
        fixed_shape: float | None = None,
        cohort_effect: bool | str = "auto",
        frailty: str = "auto",
        episodes: str | None = None,
        pfs_coding: str = "progression_or_death",
        censor_at: str | Sequence[str] | None = None,
        censor_cohort_events: str | Sequence[str] | None = None,
        exclude_cohorts: str | Sequence[str] | None = None,
        cohort_parametrisation: str = "auto",
        priors: Mapping[str, Any] | None = None,
        horizons: Sequence[float] | None = None,
        time_unit: str | None = None,
        sampler: SamplerSettings | None = None,
        prior_draws: int = DEFAULT_PRIOR_DRAWS,
        name: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.by = by
        self.covariates = covariates
        self.reference = reference
        self.at = at
        self.shape = shape
        self.fixed_shape = fixed_shape
        self.cohort_effect = cohort_effect
        self.frailty = frailty
        self.episodes = episodes
        self.pfs_coding = pfs_coding
        self.censor_at = censor_at
        self.censor_cohort_events = censor_cohort_events
        self.exclude_cohorts = exclude_cohorts
        self.cohort_parametrisation = cohort_parametrisation
        self.priors = priors
        self.horizons = horizons
        self.time_unit = time_unit
        self.sampler = sampler
        self.prior_draws = prior_draws
        self.name = name

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able; used for provenance)."""
        return {
            "endpoint": self.endpoint, "by": self.by,
            "covariates": None if self.covariates is None else list(self.covariates),
            "reference": dict(self.reference or {}), "at": dict(self.at or {}),
            "shape": self.shape, "fixed_shape": self.fixed_shape,
            "cohort_effect": self.cohort_effect, "frailty": self.frailty,
            "episodes": self.episodes, "cohort_parametrisation": self.cohort_parametrisation,
            **self._estimand_params(),
            "priors": {k: Prior.parse(v).to_dict() for k, v in dict(self.priors or {}).items()},
            "horizons": None if self.horizons is None else [float(h) for h in self.horizons],
            "time_unit": self.time_unit,
            "sampler": dict((self.sampler or DEFAULT_SAMPLER).__dict__),
            "prior_draws": self.prior_draws, "name": self.name,
        }

    def _estimand_params(self) -> dict[str, Any]:
        """The estimand options, canonical when valid (as given otherwise)."""
        try:
            est = self._estimand()
        except SpecError:
            return {"pfs_coding": self.pfs_coding, "censor_at": self.censor_at,
                    "censor_cohort_events": self.censor_cohort_events,
                    "exclude_cohorts": self.exclude_cohorts}
        return {"pfs_coding": est.pfs_coding, "censor_at": list(est.censor_at),
                "censor_cohort_events": list(est.censor_cohort_events),
                "exclude_cohorts": list(est.exclude_cohorts)}

    def _estimand(self) -> Estimand:
        """How episodes are coded before the fit (see :class:`Estimand`)."""
        return Estimand.from_options(
            self.endpoint, pfs_coding=self.pfs_coding, censor_at=self.censor_at,
            censor_cohort_events=self.censor_cohort_events,
            exclude_cohorts=self.exclude_cohorts)

    def _resolved_options(self, unit: str | None = None) -> dict[str, Any]:
        unit = self._unit(None) if unit is None else unit
        priors, sampler, horizons = self._validated(unit)
        return {**self.get_params(), "priors": prior_record(priors, self.priors),
                "sampler": dict(sampler.__dict__), "horizons": list(horizons),
                "time_unit": unit}

    def _unit(self, sdata: SurvivalData | None) -> str:
        """The time unit: the option, else the data's declared unit, else months.

        Raises
        ------
        SpecError
            For an unknown unit, or one that contradicts the unit the data declare.
        """
        from pclbayes.data._schema import DEFAULT_TIME_UNIT, TIME_UNITS

        given = self.time_unit
        if given is not None and given not in TIME_UNITS:
            raise SpecError(f"time_unit must be one of {', '.join(TIME_UNITS)}, got {given!r}")
        declared = None if sdata is None else sdata.time_unit
        if given is not None and declared is not None and given != declared:
            raise SpecError(f"time_unit {given!r} contradicts the data ({sdata.source}), "
                            f"whose times are in {declared}")
        return given or declared or DEFAULT_TIME_UNIT

    @classmethod
    def from_resolved(cls, spec: dict[str, Any]) -> SurvivalModel:
        """An unfitted model configured by a resolved specification."""
        options = {k: v for k, v in spec.items() if k not in ("family", "seed")}
        options["sampler"] = SamplerSettings.from_dict(options.get("sampler"))
        return cls(**options)

    @classmethod
    def from_spec_options(cls, spec: Any) -> SurvivalModel:
        """The unfitted model of a :class:`pclbayes.specs.Spec` (``[model]`` keys checked)."""
        from pclbayes.survival.spec import OPTION_KEYS

        options = dict(spec.options)
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise SpecError(f"unknown [model] key(s) {unknown}; a survival specification "
                            f"accepts: {', '.join(OPTION_KEYS)}")
        kind = options.pop("model", "weibull")
        if kind != "weibull":
            raise SpecError(f"[model] model: a survival model must be 'weibull', got {kind!r}")
        return cls(**options, priors=spec.priors, sampler=spec.sampler, name=spec.name)

    @property
    def label(self) -> str:
        """Name used in messages: ``name`` or ``<endpoint>_by_<by>``."""
        return self.name or f"{self.endpoint}_by_{self.by}"

    def _validated(self, unit: str | None = None
                   ) -> tuple[dict[str, Prior], SamplerSettings, tuple[float, ...]]:
        unit = self._unit(None) if unit is None else unit
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise SpecError(f"endpoint must be a non-empty string, got {self.endpoint!r}")
        if not isinstance(self.by, str) or not self.by:
            raise SpecError(f"by must be a column name or 'none', got {self.by!r}")
        priors = parse_priors(self.priors, default_priors(self.endpoint))
        for name, prior in priors.items():
            _check_support(name, prior)
        priors = {name: prior_in_unit(name, prior, unit) for name, prior in priors.items()}
        sampler = self.sampler or DEFAULT_SAMPLER
        if not isinstance(sampler, SamplerSettings):
            raise SpecError("sampler must be a pclbayes.sampling.SamplerSettings")
        try:
            horizons = (DEFAULT_HORIZONS_BY_UNIT[unit] if self.horizons is None
                        else tuple(float(h) for h in self.horizons))
        except (TypeError, ValueError):
            raise SpecError(f"horizons must be numbers of {unit}, got {self.horizons!r}") from None
        if not horizons or not all(np.isfinite(h) and h > 0 for h in horizons):
            raise SpecError(f"horizons must be positive numbers of {unit}, got {horizons!r}")
        if self.fixed_shape is not None and not (
                isinstance(self.fixed_shape, int | float) and 0 < self.fixed_shape < np.inf):
            raise SpecError(f"fixed_shape must be a positive number, got {self.fixed_shape!r}")
        if self.fixed_shape is not None and self.shape != "shared":
            raise SpecError("fixed_shape needs shape = 'shared'")
        if not isinstance(self.prior_draws, int) or self.prior_draws < 10:
            raise SpecError(f"prior_draws must be an integer >= 10, got {self.prior_draws!r}")
        _check_choices(self)
        self._estimand()
        return priors, sampler, horizons

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Any = None, *, seed: int = 1) -> SurvivalModel:
        """Validate everything, sample the posterior and compute every reported quantity.

        Parameters
        ----------
        data : EvidenceBase, path, DataFrame or None
            ``None`` uses the bundled evidence base (see :func:`prepare_data`).
        seed : int
            Seed of the sampler and of every predictive draw.

        Returns
        -------
        SurvivalModel
            ``self``, with ``idata_``, ``diagnostics_``, ``design_``, ``data_`` and
            ``priors_`` set.
        """
        seed = check_seed(seed)
        self._validated()
        sdata = apply_estimand(prepare_data(data, self.endpoint), self._estimand())
        unit = self._unit(sdata)
        priors, sampler, horizons = self._validated(unit)
        spec = {"family": self.family, **self._resolved_options(unit), "seed": seed}
        design = self._design(sdata)
        for note in design.notes:
            logger.info("%s: %s", self.label, note)
        # PyMC only where a model is sampled: a fit read back from a file needs none
        from pclbayes.nuts import run_nuts
        from pclbayes.survival.build import build_model, graph_key, inputs

        idata = run_nuts(
            graph_key(design, priors, self.fixed_shape),
            lambda containers: build_model(design, priors, self.fixed_shape, containers),
            inputs(design, priors, self.fixed_shape).data(), sampler, seed)
        # a compiled model shared with another fit of the same structure carries that fit's
        # coordinate labels: label the draws with this design's
        post = idata["posterior"].to_dataset()
        idata["posterior"] = post.assign_coords(
            {dim: list(labels) for dim, labels in coords(design).items() if dim in post.dims})
        rngs = {s: np.random.default_rng([seed, s]) for s in
                (_STREAM_NEW, _STREAM_PRIOR, _STREAM_PPC, _STREAM_PRIOR_PPC)}
        post = idata["posterior"].to_dataset()
        draws = draws_from_posterior(post, design, priors, self.fixed_shape,
                                     rngs[_STREAM_NEW])
        prior_draws = draws_from_prior(priors, design, self.fixed_shape, self.prior_draws,
                                       rngs[_STREAM_PRIOR])
        self.design_, self.data_, self.priors_ = design, sdata, priors
        self.horizons_, self.sampler_, self.seed_ = horizons, sampler, seed
        self.time_unit_ = unit
        tree = self._assemble(idata, post, draws, prior_draws, rngs)
        recorded = {"data": _data_to_json(sdata)}
        provenance.stamp(tree, family=self.family, spec=spec, data_hash=sdata.data_hash,
                         seed=seed, inputs=recorded)
        self._restore(tree, recorded)
        return self

    def _design(self, sdata: SurvivalData) -> Design:
        table, note = _select_episodes(sdata.table, self.episodes, self.endpoint, self.by)
        design = build_design(
            table, by=self.by, covariates=self.covariates, reference=self.reference,
            at=self.at, frailty=self.frailty, cohort_effect=self.cohort_effect,
            shape=self.shape, cohort_parametrisation=self.cohort_parametrisation)
        later = later_reinfusion_note(sdata.table, self.endpoint)
        notes = (*sdata.notes, *(n for n in (note, later) if n), *design.notes)
        return replace(design, notes=notes)

    def _inputs(self) -> dict[str, Any]:
        self._check_fitted()
        return {"data": _data_to_json(self.data_)}

    def _restore(self, tree: xr.DataTree, inputs: dict[str, Any]) -> None:
        """Set every fitted attribute from the DataTree and the recorded episodes."""
        sdata = _data_from_json(inputs["data"])
        unit = self._unit(sdata)
        priors, sampler, horizons = self._validated(unit)
        design = self._design(sdata)
        self.design_, self.data_, self.priors_ = design, sdata, priors
        self.horizons_, self.sampler_, self.time_unit_ = horizons, sampler, unit
        self.seed_ = int(tree.attrs["pclbayes_seed"])
        self.data_hash_ = str(tree.attrs["pclbayes_data_hash"])
        self.idata_ = tree
        self.diagnostics_: ConvergenceReport = check_convergence(
            tree, var_names=free_parameters(design, self.fixed_shape), label=self.label,
            target_accept=sampler.target_accept)

    def _assemble(self, idata: xr.DataTree, post: xr.Dataset, draws: Draws, prior: Draws,
                  rngs: dict[int, np.random.Generator]) -> xr.DataTree:
        d = self.design_
        if d.cohort_effect and "z_cohort" not in post:
            post["z_cohort"] = ((*SAMPLE_DIMS, "cohort"), draws.z_cohort)
        post = post.merge(reported(draws, d, self.horizons_), compat="override")
        post = post.assign_coords(horizon=("horizon", np.asarray(self.horizons_)))
        idata["posterior"] = post
        idata["prior"] = _prior_dataset(prior, d, self.horizons_, self.fixed_shape)
        episode = {"episode": list(d.episode_labels)}
        n = d.log_t.size
        step, prior_step = thin_step(draws.lead, n), thin_step(prior.lead, n)
        if step > 1:
            logger.info("%s: %d episodes: predictive times and log-likelihood keep every "
                        "%d-th draw", self.label, n, step)
        kept, prior_kept = thinned(draws, step), thinned(prior, prior_step)
        idata["posterior_predictive"] = xr.Dataset(
            {"time": ((*SAMPLE_DIMS, "episode"), predictive_times(kept, d, rngs[_STREAM_PPC]))},
            coords=episode)
        idata["prior_predictive"] = xr.Dataset(
            {"time": ((*SAMPLE_DIMS, "episode"),
                      predictive_times(prior_kept, d, rngs[_STREAM_PRIOR_PPC]))}, coords=episode)
        times = np.exp(d.log_t)
        idata["observed_data"] = xr.Dataset({"time": ("episode", times)}, coords=episode)
        eps = d.episodes
        idata["constant_data"] = xr.Dataset(
            {
                "time": ("episode", d.event.astype(np.int64)),
                "cohort_of_episode": ("episode", eps["cohort"].to_numpy(dtype=str)),
                "group_of_episode": ("episode", np.asarray(d.groups)[d.group_index]),
                "design_matrix": (("episode", "term"), d.X),
                "group_profile": (("group", "term"), d.profile),
            },
            coords={**episode, "term": list(d.term_labels), "group": list(d.groups)})
        dim, labels = d.units
        idata["log_likelihood"] = xr.Dataset(
            {"time": ((*SAMPLE_DIMS, dim), pointwise_loglik(kept, d))},
            coords={dim: list(labels)})
        for name, every, lead in (("posterior_predictive", step, draws.lead),
                                  ("prior_predictive", prior_step, prior.lead),
                                  ("log_likelihood", step, draws.lead)):
            idata[name] = idata[name].to_dataset().assign_coords(
                chain=np.arange(lead[0]), draw=np.arange(lead[1])[::every])
        return idata

    # ------------------------------------------------------------------ results
    @per_fit
    def summary(self) -> pd.DataFrame:
        """Tidy table: ``quantity, level, mean, median, lower, upper`` (95% equal-tailed).

        The columns of :data:`pclbayes.model.SUMMARY_COLUMNS` (``prob_gt`` = P(> 1) for
        time and hazard ratios; ``source`` is ``posterior``, ``prior`` or ``observed`` for
        the Kaplan-Meier medians of the data), then ``n`` and ``events`` (Kaplan-Meier
        rows). ``prior_sd_ratio`` (posterior rows) is the posterior SD over the SD of the
        same quantity's prior draws (``idata_["prior"]``), taken on the log scale for
        times, time and hazard ratios and the shape (whose priors are normal on that scale)
        and on the natural scale for probabilities, ``sigma_cohort`` and ``kendall_tau``;
        ``mostly_prior`` flags a ratio above :data:`pclbayes.checks.MOSTLY_PRIOR_RATIO`.
        """
        self._check_fitted()
        return report.summary_table(self)

    @per_fit
    def to_dict(self) -> dict[str, Any]:
        """JSON-able result (the ``--json`` layout, see ``docs/survival.md``)."""
        self._check_fitted()
        return report.to_dict(self)

    def prior_summary(self) -> str:
        """The priors used, each with its reason."""
        priors = getattr(self, "priors_", None)
        if priors is None:
            priors, _, _ = self._validated()
        return report.prior_lines(priors, getattr(self, "design_", None), self.fixed_shape,
                                  getattr(self, "time_unit_", self.time_unit or "months"))

    @property
    def time_unit_source(self) -> str:
        """Where the fitted time unit came from, in words."""
        from pclbayes.data._load import time_unit_note

        self._check_fitted()
        src = "option" if self.time_unit is not None and self.data_.time_unit is None \
            else self.data_.time_unit_source
        return time_unit_note(self.time_unit_, src).split(" (", 1)[1].rstrip(")")

    def describe(self) -> str:
        """A methods paragraph generated from the options, data and priors."""
        self._check_fitted()
        return report.methods_text(self)

    def __str__(self) -> str:
        if not hasattr(self, "idata_"):
            return f"SurvivalModel({self.label}, not fitted)"
        return report.model_card(self)

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "idata_") else "not fitted"
        return f"SurvivalModel(endpoint={self.endpoint!r}, by={self.by!r}, {state})"

    # ------------------------------------------------------------------ checks
    def precompute(self) -> None:
        """Every table a report reads (see :meth:`pclbayes.model.Model.precompute`)."""
        super().precompute()
        self.check_table()
        self.km_table()
        self.survival_curves()

    @per_fit
    def km_table(self) -> pd.DataFrame:
        """Kaplan-Meier medians (95% CI) per cohort, per target and per reported group."""
        self._check_fitted()
        return checks.km_cross_check(self)

    @per_fit
    def survival_curves(self, times: Sequence[float] | None = None) -> pd.DataFrame:
        """Posterior S(t) bands per group (typical and new cohort) and the data's KM curve.

        Returns a long table ``group, time, source, mean, median, lower, upper`` with
        ``source`` in ``posterior``, ``new_cohort`` and ``kaplan_meier`` (for which
        ``median`` is the KM estimate and ``lower``/``upper`` its 95% band).
        """
        self._check_fitted()
        return checks.survival_curves(self, times)

    @per_fit
    def ppc_table(self) -> pd.DataFrame:
        """Observed versus expected events per cohort, with a predictive p-value."""
        self._check_fitted()
        return checks.ppc_table(self)

    @per_fit
    def check_table(self, p_method: str = "mid", alpha: float = ALPHA) -> pd.DataFrame:
        """Checks of each cohort's events that its own fitted effect did not shape.

        Per cohort: ``check == "loo_predictive"`` (its events given the other cohorts: a
        fresh cohort effect under the posterior draws reweighted by Pareto-smoothed
        importance sampling to leave it out) and ``"prior_conflict"``
        (its events under the prior). The maths is in :mod:`pclbayes.survival.checks`.

        Parameters
        ----------
        p_method : {"mid", "standard"}
            Mid-p (default) or the standard, conservative p-value of a count
            (:mod:`pclbayes.checks`).
        alpha : float
            Flag threshold of the two-sided p-value.

        Returns
        -------
        DataFrame
            The columns of :data:`pclbayes.checks.CHECK_COLUMNS`.
        """
        self._check_fitted()
        return checks.check_table(self, p_method, alpha)

    def prior_predictive_check(self) -> pd.DataFrame:
        """Prior-implied median times per group, with the share below 2 weeks / above 5 years."""
        self._check_fitted()
        return checks.prior_median_check(self)

    @per_fit
    def loo(self) -> Any:
        """PSIS-LOO (ArviZ) over patients (episodes without the frailty), with Pareto k.

        Pareto k above 0.7 (likely with so few patients) is logged as a warning and visible
        in ``result.pareto_k``; it is not raised.
        """
        self._check_fitted()
        return psis_loo(self.idata_, self.label, var_name="time")


#: Allowed values of the options that take one of a fixed set (checked before any data).
_CHOICES = {"shape": ("shared", "by_group"), "frailty": ("auto", "stable", "none"),
            "cohort_effect": ("auto", True, False),
            "cohort_parametrisation": ("auto", "noncentred", "centred"),
            "episodes": (None, "all", "first")}


def _check_choices(model: SurvivalModel) -> None:
    """Raise a :class:`SpecError` naming the option for a value outside its choices."""
    for name, allowed in _CHOICES.items():
        value = getattr(model, name)
        if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
            shown = ", ".join(repr(a).lower() if isinstance(a, bool) else repr(a)
                              for a in allowed if a is not None)
            raise SpecError(f"[model] {name} must be one of {shown}, got {value!r}")


def _data_to_json(sdata: SurvivalData) -> dict[str, Any]:
    excluded = sdata.excluded if sdata.excluded is not None else pd.DataFrame()
    return {"table": frame_to_json(sdata.table), "endpoint": sdata.endpoint,
            "source": sdata.source, "data_hash": sdata.data_hash,
            "excluded": frame_to_json(excluded),
            "cohorts_without_data": list(sdata.cohorts_without_data),
            "notes": list(sdata.notes), "time_unit": sdata.time_unit,
            "time_unit_source": sdata.time_unit_source}


def _data_from_json(obj: dict[str, Any]) -> SurvivalData:
    return SurvivalData(table=frame_from_json(obj["table"]), endpoint=obj["endpoint"],
                        source=obj["source"], data_hash=obj["data_hash"],
                        excluded=frame_from_json(obj["excluded"]),
                        cohorts_without_data=list(obj["cohorts_without_data"]),
                        notes=tuple(obj.get("notes", ())),
                        time_unit=obj.get("time_unit"),
                        time_unit_source=obj.get("time_unit_source", "default"))


def _select_episodes(table: pd.DataFrame, episodes: str | None, endpoint: str,
                     by: str = "none") -> tuple[pd.DataFrame, str]:
    choice = episodes or ("all" if endpoint != "os" and by == "strategy" else "first")
    if choice not in ("all", "first"):
        raise SpecError(f"episodes must be 'all' or 'first', got {episodes!r}")
    if "strategy" not in table.columns:
        return table, ""
    if choice == "all":
        n_switch = int((table["strategy"].astype(str) == "switch").sum())
        note = (f"{n_switch} target-switched re-infusion episode(s) pooled with the first "
                "infusions (additive target and strategy effects): the same patients at a "
                "later line, selected by relapse, survival and fitness for re-infusion"
                ) if n_switch else ""
        return table, note
    keep = (table["strategy"].astype(str) == "first").to_numpy()
    if not keep.any():
        raise SpecError("episodes = 'first' but no episode has strategy 'first'")
    dropped = int((~keep).sum())
    why = (" (an OS time from a re-infusion is the rest of the same patient's OS)"
           if endpoint == "os" else "")
    note = f"first infusions only: {dropped} re-infusion episode(s) not used{why}" \
        if dropped else ""
    return table.loc[keep].reset_index(drop=True), note


def _check_support(name: str, prior: Prior) -> None:
    support = SUPPORT[name]
    ok = {
        "real": prior.dist in REAL or prior.dist == "Uniform",
        "positive": prior.dist in POSITIVE or (prior.dist == "Uniform"
                                                and prior.params["lower"] >= 0),
        "unit": prior.dist == "Beta" or (prior.dist == "Uniform" and prior.params["lower"] >= 0
                                         and prior.params["upper"] < 1),
    }[support]
    if not ok:
        where = {"real": "the real line", "positive": "positive values",
                 "unit": "values in (0, 1) (a Beta, or a Uniform below 1)"}[support]
        raise SpecError(f"prior {name} = {prior} must put its mass on {where}")


def _prior_dataset(prior: Draws, design: Design, horizons: tuple[float, ...],
                   fixed_shape: float | None) -> xr.Dataset:
    data: dict[str, Any] = {"log_median": (SAMPLE_DIMS, prior.log_median)}
    if design.n_terms:
        data["beta"] = ((*SAMPLE_DIMS, "term"), prior.beta)
    if fixed_shape is None:
        dims = SAMPLE_DIMS + (("group",) if design.shape_by_group else ())
        data["shape"] = (dims, prior.shape)
    data["sigma_cohort"] = (SAMPLE_DIMS, prior.sigma_cohort)
    if design.cohort_effect:
        data["z_cohort"] = ((*SAMPLE_DIMS, "cohort"), prior.z_cohort)
    if design.frailty:
        data["kendall_tau"] = (SAMPLE_DIMS, prior.tau)
    ds = xr.Dataset(data, coords={"term": list(design.term_labels),
                                  "cohort": list(design.cohorts), "group": list(design.groups)})
    ds = ds.assign_coords(chain=[0], draw=np.arange(prior.lead[1]))
    return ds.merge(reported(prior, design, horizons), compat="override")
