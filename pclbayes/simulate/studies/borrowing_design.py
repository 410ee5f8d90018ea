r"""Operating characteristics of a new cohort analysed together with the evidence base.

A task simulates the responders of one new PCL cohort, :math:`r \sim \mathrm{Binomial}(n,
p_{true})` with :math:`p_{true}` from the ``[grid]``, and analyses it three ways:

* **borrowing**: the new cohort is one more cohort unit of its stratum ``level`` in the
  hierarchical beta-binomial response model fitted to the evidence (the bundled evidence
  base, or the user's ``data``), by the exact engine (:func:`pclbayes.response.exact.fit_exact`:
  deterministic integration over :math:`(\operatorname{logit}\mu, \log\kappa)`, no MCMC).
  The new cohort's rate has the posterior
  :math:`\sum_c w_c\,\mathrm{Beta}(\mu_c\kappa_c + r, (1 - \mu_c)\kappa_c + n - r)` over the
  grid cells :math:`c`, with :math:`w_c` the posterior of the hyperparameters given *all*
  cohorts, the new one included; success if :math:`P(p_{new} > p_0 \mid \text{all data}) > c`.
* **no borrowing**: the new cohort alone under the stated prior
  :math:`\mathrm{Beta}(a_0, b_0)` (``alone_prior``); success if
  :math:`P(p > p_0 \mid r) = 1 - I_{p_0}(a_0 + r, b_0 + n - r) > c`.
* **prior-data conflict**: the new cohort's count against the meta-analytic-predictive
  (MAP) distribution of a new cohort of its stratum given the evidence alone (the
  ``map_conflict`` check of :func:`pclbayes.response.checks.new_cohort_check`: a
  beta-binomial mixture over the exact grid), two-sided mid-p by default; flagged when
  :math:`p < \alpha` (``conflict_alpha``, default 0.05).

The analysis depends on the data only through :math:`r`, so each process computes the
posterior of a responder count at most once (about 40 ms for the bundled evidence) and
reuses it; a task otherwise costs microseconds. Because of that the exact operating
characteristic is the finite sum :math:`\sum_{r=0}^n \binom{n}{r} p^r (1-p)^{n-r}
\,1\{\text{success at } r\}`, which the tests use as the independent check of the simulation.

Spec (``[borrowing_design]`` or ``[design]``; see ``studies/borrowing_new_cohort.toml``)::

    [grid]
    true_rate = [0.5, 0.7, 0.9]        # required; n may also be a grid axis

    [borrowing_design]
    endpoint = "orr"                   # the evidence's endpoint: orr, cr or a 0/1 column
    by = "target"
    level = "BCMA"                     # the new cohort's stratum
    n = 20
    null_rate = 0.6                    # p0
    threshold = 0.9                    # c
    data = "my_evidence/"              # optional: default the bundled evidence base
    label = "ORR"                      # optional: the outcome's name in the summary
    priors = { kappa = { dist = "Gamma", alpha = 2, beta = 0.1 } }  # optional overrides
    heterogeneity = "shared"           # or "stratum"
    include_codata = false
    alone_prior = { dist = "Beta", alpha = 1, beta = 1 }
    conflict_alpha = 0.05
    conflict_method = "mid"            # or "standard"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.errors import PclBayesError, SpecError
from pclbayes.simulate.studies import _design_common as dc
from pclbayes.simulate.study import Scalar, Study, StudySummary

__all__ = ["BorrowingDesignStudy", "add_new_cohort"]

_KEYS = ("endpoint", "by", "level", "n", "null_rate", "threshold", "data", "label", "priors",
         "heterogeneity", "include_codata", "alone_prior", "conflict_alpha",
         "conflict_method", "resolution")
_GRID_REQUIRED = ("true_rate",)
_GRID_DESIGN = ("n",)
_ENDPOINT_LABELS = {"orr": "ORR", "cr": "CR"}
#: Unit label of the simulated cohort.
NEW_UNIT = "new cohort"


def add_new_cohort(counts: Any, level_index: int, n: int, r: int) -> Any:
    """The counts with one more cohort unit (``r`` of ``n``) in stratum ``level_index``."""
    level = counts.strata[level_index]
    unit = NEW_UNIT if counts.by == "none" else f"{NEW_UNIT}/{level}"
    return replace(counts, units=(*counts.units, unit), cohorts=(*counts.cohorts, NEW_UNIT),
                   groups=(*counts.groups, level), n=np.append(counts.n, n),
                   r=np.append(counts.r, r),
                   stratum_index=np.append(counts.stratum_index, level_index))


class BorrowingDesignStudy(Study):
    """A new cohort analysed with and without the evidence base (see the module docstring).

    Row of a task: ``responders``; ``success``, ``prob`` and ``post_mean`` (borrowing);
    ``success_alone``, ``prob_alone`` and ``post_mean_alone`` (new cohort alone);
    ``conflict`` and ``conflict_p`` (the MAP prior-data conflict check); and the
    diagnostics columns ``max_rhat``, ``min_ess_bulk``, ``divergences`` (NaN: exact engine).
    """

    kind = "borrowing-design"
    tables = ("design", "borrowing_design")

    def __init__(self, spec: Mapping[str, Any], path: Path | None = None) -> None:
        super().__init__(spec, path)
        from pclbayes.checks import check_alpha, check_method
        from pclbayes.priors import Prior
        from pclbayes.response.model import ResponseModel

        where = dc.Where(path)
        name, table = dc.kind_table(where, spec, self.tables)
        key = f"[{name}]"
        dc.no_unknown(where, key, table, _KEYS)
        self.table_name = name
        self.endpoint = dc.text(where, f"{key} endpoint", table.get("endpoint", "orr"))
        self.by = dc.text(where, f"{key} by", table.get("by", "target"))
        self.level = (dc.text(where, f"{key} level", table["level"]) if "level" in table
                      else None)
        self.label = dc.text(where, f"{key} label", table.get(
            "label", _ENDPOINT_LABELS.get(self.endpoint, self.endpoint)))
        self.n = dc.integer(where, f"{key} n", table.get("n"), 1)
        self.null_rate = dc.number(where, f"{key} null_rate", table.get("null_rate"), low=0,
                                   high=1, low_open=True, high_open=True)
        self.threshold = dc.number(where, f"{key} threshold", table.get("threshold"), low=0,
                                   high=1, low_open=True, high_open=True)
        self.data_path: Path | None = None
        if "data" in table:
            self.data_path = where.resolve(dc.text(where, f"{key} data", table["data"]))
            if not self.data_path.exists():
                raise where(f"{key} data", f"{self.data_path} does not exist")
        include = table.get("include_codata", False)
        if not isinstance(include, bool):
            raise where(f"{key} include_codata", f"expected true or false, got {include!r}")
        self.include_codata = include
        resolution = table.get("resolution", [96, 80])
        priors = table.get("priors", {})
        if not isinstance(priors, Mapping):
            raise where(f"{key} priors", f"expected a table of priors by parameter, got "
                        f"{priors!r}")
        self.model = ResponseModel(
            endpoint=self.endpoint, by=self.by, model="beta-binomial", method="exact",
            heterogeneity=table.get("heterogeneity", "shared"), priors=dict(priors),
            include_codata=include,
            resolution=tuple(resolution) if isinstance(resolution, list) else resolution)
        try:
            self.priors, _ = self.model.validate()
        except SpecError as exc:
            raise where(f"{key} priors/heterogeneity/resolution", str(exc)) from exc
        raw_alone = table.get("alone_prior", {"dist": "Beta", "alpha": 1.0, "beta": 1.0})
        if not isinstance(raw_alone, Mapping):
            raise where(f"{key} alone_prior", f"expected a table such as {{dist = \"Beta\", "
                        f"alpha = 1, beta = 1}}, got {raw_alone!r}")
        try:
            self.alone_prior = Prior.parse(dict(raw_alone))
        except SpecError as exc:
            raise where(f"{key} alone_prior", str(exc)) from exc
        if self.alone_prior.dist != "Beta":
            raise where(f"{key} alone_prior", f"expected a Beta prior (conjugate), got "
                        f"{self.alone_prior}")
        try:
            self.conflict_alpha = check_alpha(table.get("conflict_alpha", 0.05))
            self.conflict_method = check_method(table.get("conflict_method", "mid"))
        except SpecError as exc:
            raise where(f"{key} conflict_alpha/conflict_method", str(exc)) from exc
        self.grid_keys = dc.grid_names(where, spec, _GRID_REQUIRED,
                                       _GRID_REQUIRED + _GRID_DESIGN)
        for sc in self.scenarios():
            self._scenario_n(where, sc)
            dc.number(where, "[grid] true_rate", sc["true_rate"], low=0, high=1)
        self._state: dict[str, Any] = {}

    # ------------------------------------------------------------------ set-up
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = {}  # rebuilt by prepare() in each process
        return state

    def _scenario_n(self, where: dc.Where, scenario: Mapping[str, Scalar]) -> int:
        if "n" in scenario:
            return dc.integer(where, "[grid] n", scenario["n"], 1)
        return self.n

    def prepare(self) -> None:
        """Load the evidence, fit the exact posterior without the new cohort (once)."""
        if self._state:
            return
        from pclbayes.data import load
        from pclbayes.response.counts import prepare
        from pclbayes.response.exact import fit_exact

        where = dc.Where(self.path)
        key = f"[{self.table_name}]"
        evidence = load(self.data_path)
        counts = prepare(evidence, endpoint=self.endpoint, by=self.by,
                         include_codata=self.include_codata)
        level = self.level
        if level is None:
            if counts.n_strata > 1:
                raise where(f"{key} level", "missing: name the new cohort's stratum, one of "
                            f"{', '.join(counts.strata)}")
            level = counts.strata[0]
        if level not in counts.strata:
            raise where(f"{key} level", f"{level!r} is not a level of {self.by!r} in the "
                        f"evidence; levels: {', '.join(counts.strata)}")
        s = counts.strata.index(level)
        try:
            historical = fit_exact(counts, self.priors, self.model.heterogeneity,
                                   resolution=tuple(self.model.resolution))
        except PclBayesError as exc:
            raise where(f"{key} priors", str(exc)) from exc
        self._state = {"counts": counts, "s": s, "level": level, "historical": historical,
                       "by_r": {}, "conflict": {}}

    def _borrowing(self, n: int, r: int) -> tuple[float, float]:
        """``P(p_new > p0 | all data)`` and the posterior mean of ``p_new`` (cached by r)."""
        cache = self._state["by_r"]
        if (n, r) not in cache:
            from scipy import special

            from pclbayes.response.exact import fit_exact

            st = self._state
            post = fit_exact(add_new_cohort(st["counts"], st["s"], n, r), self.priors,
                             self.model.heterogeneity, resolution=tuple(self.model.resolution))
            w, a, b = post._mixture(st["s"], r, n)
            prob = float(np.sum(w * special.betainc(b, a, 1.0 - self.null_rate)))
            cache[(n, r)] = (min(max(prob, 0.0), 1.0), float(np.sum(w * a / (a + b))))
        return cache[(n, r)]

    def _conflict(self, n: int, r: int) -> float:
        """Mid-p (or standard) p-value of ``r`` of ``n`` against the MAP predictive."""
        table = self._state["conflict"]
        if n not in table:
            from pclbayes.checks import two_sided_p
            from pclbayes.response.checks import beta_binomial_mixture_pmf

            hist = self._state["historical"]
            pmf = beta_binomial_mixture_pmf(n, *hist._mixture(self._state["s"]))
            table[n] = [two_sided_p(pmf, k, self.conflict_method) for k in range(n + 1)]
        return table[n][r]

    # ------------------------------------------------------------------ tasks
    def run_task(self, scenario: Mapping[str, Scalar], replicate: int,
                 seed: np.random.SeedSequence) -> dict[str, Scalar]:
        """Simulate the new cohort's responders and analyse them (class docstring: the row)."""
        from scipy import special

        self.prepare()
        n = self._scenario_n(dc.Where(self.path), scenario)
        rng = np.random.default_rng(seed)
        r = int(rng.binomial(n, float(scenario["true_rate"])))
        prob, mean = self._borrowing(n, r)
        a0, b0 = self.alone_prior.params["alpha"], self.alone_prior.params["beta"]
        prob_alone = float(special.betainc(b0 + n - r, a0 + r, 1.0 - self.null_rate))
        p_conflict = self._conflict(n, r)
        return {
            "responders": r,
            "success": bool(prob > self.threshold),
            "prob": prob,
            "post_mean": mean,
            "success_alone": bool(prob_alone > self.threshold),
            "prob_alone": prob_alone,
            "post_mean_alone": float((a0 + r) / (a0 + b0 + n)),
            "conflict": bool(p_conflict < self.conflict_alpha),
            "conflict_p": float(p_conflict),
            "max_rhat": float("nan"),
            "min_ess_bulk": float("nan"),
            "divergences": float("nan"),
        }

    def exact_oc(self, n: int, true_rate: float) -> tuple[float, float, float]:
        r"""Exact P(success), P(success alone) and P(conflict flag) at one true rate.

        Each task's decisions depend on its data only through the responder count
        :math:`r`, so the operating characteristic is the finite sum
        :math:`\sum_{r=0}^{n} \binom{n}{r} p^r (1-p)^{n-r}\, 1\{\text{decision}(r)\}`
        over the same analyses :meth:`run_task` makes (one exact fit per count, cached).
        """
        from scipy import special, stats

        self.prepare()
        a0, b0 = self.alone_prior.params["alpha"], self.alone_prior.params["beta"]
        weights = stats.binom.pmf(np.arange(n + 1), n, true_rate)
        success = np.array([self._borrowing(n, r)[0] > self.threshold for r in range(n + 1)])
        alone = np.array([special.betainc(b0 + n - r, a0 + r, 1.0 - self.null_rate)
                          > self.threshold for r in range(n + 1)])
        conflict = np.array([self._conflict(n, r) < self.conflict_alpha
                             for r in range(n + 1)])
        return tuple(float(weights @ flag) for flag in (success, alone, conflict))

    # ------------------------------------------------------------------ summary
    def summarise(self, results: pd.DataFrame) -> StudySummary:
        """Per true rate: P(success) with and without borrowing, and P(conflict), with MC SEs."""
        scenarios = self.scenarios()
        replicates = self.spec.get("study", {}).get("replicates")
        rows = []
        for sc, every, good in dc.scenario_groups(results, self.grid_keys, scenarios):
            empty = not len(good)
            p, se = (np.nan, np.nan) if empty else dc.proportion(good["success"])
            pa, sea = (np.nan, np.nan) if empty else dc.proportion(good["success_alone"])
            pc, sec = (np.nan, np.nan) if empty else dc.proportion(good["conflict"])
            rows.append({
                **sc,
                "estimates": ("type-I error" if float(sc["true_rate"]) <= self.null_rate
                              else "power"),
                "p_success": p, "mcse": se,
                "p_success_alone": pa, "mcse_alone": sea,
                "p_conflict": pc, "mcse_conflict": sec,
                "mean_post_mean": np.nan if empty else dc.mean_se(good["post_mean"])[0],
                "tasks": len(good), "errors": len(every) - len(good),
            })
        table = pd.DataFrame(rows)
        if len(table):
            exact = [self.exact_oc(self._scenario_n(dc.Where(self.path), sc),
                                   float(sc["true_rate"])) for sc in scenarios]
            for i, name in enumerate(("p_success_exact", "p_success_alone_exact",
                                      "p_conflict_exact")):
                table.insert(table.columns.get_loc("tasks"), name, [e[i] for e in exact])
        level = self.level or "the only stratum"
        source = "the bundled evidence base" if self.data_path is None else str(self.data_path)
        a0, b0 = self.alone_prior.params["alpha"], self.alone_prior.params["beta"]
        lines = [
            f"New {level} cohort of {self.n} patients analysed with {source} (hierarchical "
            f"beta-binomial, {self.endpoint} by {self.by}, exact engine); success if "
            f"P({self.label} rate > {self.null_rate:g} | data) > {self.threshold:g}. "
            f"No borrowing: the new cohort alone under Beta({a0:g}, {b0:g}).",
            f"Conflict flag: the new cohort's responders against the MAP predictive of a new "
            f"{level} cohort, {'mid-p' if self.conflict_method == 'mid' else 'standard'} "
            f"two-sided p < {self.conflict_alpha:g}.",
        ]
        done = int(table["tasks"].sum()) if len(table) else 0
        planned = f" of {replicates * len(scenarios)}" if isinstance(replicates, int) else ""
        lines.append(f"Estimates rest on {done}{planned} finished tasks; each Monte-Carlo SE "
                     "is sqrt(p(1 - p)/tasks).")
        lines.append("Columns *_exact: the same probabilities by enumeration over the n + 1 "
                     "possible responder counts (a task depends on its data only through "
                     "them), a check on the Monte-Carlo columns beside them.")
        bounds = dc.boundary_bounds(
            table, {"p_success": "P(success)", "p_success_alone": "P(success) alone",
                    "p_conflict": "P(conflict)"}, self.grid_keys)
        if bounds:
            lines.append(bounds)
        nulls = table[(table["estimates"] == "type-I error") & (table["tasks"] > 0)] \
            if len(table) else table
        if len(nulls):
            worst = nulls.loc[nulls["p_success"].idxmax()]
            lines.append(f"Largest type-I error with borrowing: {worst['p_success']:.3f} (MC SE "
                         f"{worst['mcse']:.3f}) at true rate {worst['true_rate']:g}; alone: "
                         f"{worst['p_success_alone']:.3f} (MC SE {worst['mcse_alone']:.3f}).")
        errors = int(table["errors"].sum()) if len(table) else 0
        if errors:
            lines.append(f"{errors} task(s) failed and are left out of the estimates.")
        return StudySummary(tables={"operating characteristics": table}, lines=lines,
                            figures=[("Probability of success and of a conflict flag",
                                      lambda: self._figure(table))])

    def _figure(self, table: pd.DataFrame) -> Any:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        others = [k for k in self.grid_keys if k != "true_rate"]
        groups = table.groupby(others, sort=False) if others else [((), table)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            tag = ", ".join(f"{k} = {v}" for k, v in zip(others, key, strict=True))
            tag = f" ({tag})" if tag else ""
            part = part.sort_values("true_rate")
            for col, se, label, style in (("p_success", "mcse", "borrowing", "-o"),
                                          ("p_success_alone", "mcse_alone", "alone", "--s"),
                                          ("p_conflict", "mcse_conflict", "conflict flag",
                                           ":^")):
                ax.errorbar(part["true_rate"], part[col], yerr=2 * part[se], fmt=style,
                            capsize=3, label=f"{label}{tag}")
        ax.axvline(self.null_rate, color="grey", linestyle=":")
        ax.set_xlabel(f"true {self.label} rate of the new cohort")
        ax.set_ylabel("probability (bars: 2 MC SE)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize="small")
        return fig
