r"""Simulation-based calibration (SBC) of every shipped model family.

One task draws the parameters :math:`\tilde\theta \sim p(\theta)` from the model's own
prior, simulates a data set :math:`\tilde y \sim p(y \mid \tilde\theta)` with the model's
likelihood, fits it with the real pclbayes model and records, for each ranked parameter,
the rank of the true value among :math:`L` (thinned) posterior draws,

.. math:: r = \#\{\ell \le L : \theta^{(\ell)} < \tilde\theta\} \in \{0, \dots, L\}.

If the fit computes the posterior of the model that generated the data, :math:`r` is
uniform on :math:`\{0, \dots, L\}` (Talts et al. 2018, arXiv:1804.06788) for independent
draws; MCMC draws are thinned (``thin``) towards independence. Each row also holds the
randomised PIT :math:`u = (r + V)/(L + 1)`, :math:`V \sim U(0, 1)` drawn from the task's
seed, which is exactly :math:`U(0, 1)` under calibration, so that the continuous-uniform
ECDF bands apply without a discreteness correction.

Verdict (:meth:`SBCStudy.summarise`): with :math:`K` ranked parameters and
:math:`N` finished tasks, parameter :math:`k` passes when the ECDF of its :math:`N` PIT
values lies, at every evaluation point :math:`i/N`, inside the simultaneous
:math:`1 - \alpha/K` band for the ECDF of :math:`N` uniform values (Säilynoja, Bürkner
and Vehtari 2022, Stat Comput 32:32; the simulation method of ``arviz_stats.ecdf_utils``,
see :func:`_band`); the
study passes when every parameter does. By Bonferroni's inequality a calibrated model
fails with probability at most :math:`\alpha` (default 0.01), whatever the dependence
between the ranks of one task.

Study specification (``studies/sbc_*.toml``)::

    [study]
    kind = "sbc"
    name = "sbc_beta_binomial"
    title = "..."
    seed = 20261201
    replicates = 400                 # number of simulated data sets

    [sbc]
    model = "beta-binomial"          # beta-binomial | logit-normal | weibull | weibull-frailty
    method = "auto"                  # response models: auto | exact | mcmc
    heterogeneity = "shared"         # response models: shared | stratum
    shared_graph = true              # Weibull models: one compiled graph per process
    thin = 1                         # keep every thin-th draw (default 8 for MCMC, 1 exact)
    alpha = 0.01                     # study-wise false-failure rate of the verdict

    [sbc.design]                     # response: n (patients per cohort), groups (optional)
    n = [8, 12, 20, 15, 10, 25]      # survival: cohorts, patients, groups, accrual_months,
    groups = ["A", "A", "A", "B", "B", "B"]   # follow_up_months, reinfused_share (frailty)

    [sbc.sampler]                    # draws, tune, chains, target_accept, sampler
    draws = 400

    [sbc.priors]                     # optional: the model's priors (data and fit)
    [sbc.fit_priors]                 # optional: the fit's priors only (a mis-specified fit)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pclbayes.errors import SpecError
from pclbayes.simulate.studies._sbc_models import MODELS
from pclbayes.simulate.study import Scalar, Study, StudySummary

#: Keys of the ``[sbc]`` table.
SBC_KEYS = ("model", "method", "heterogeneity", "shared_graph", "thin", "alpha", "design",
            "sampler", "priors", "fit_priors")
#: ``[sbc.design]`` keys of the response and the survival models, with their defaults.
RESPONSE_DESIGN = {"n": [8, 12, 20, 15, 10, 25], "groups": None}
SURVIVAL_DESIGN = {"cohorts": 3, "patients": 30, "groups": ["BCMA", "GPRC5D"],
                   "accrual_months": 12.0, "follow_up_months": 12.0, "reinfused_share": 0.5}
SAMPLER_KEYS = ("draws", "tune", "chains", "target_accept", "sampler")
#: Fewest finished tasks a verdict rests on (fewer: ``passed`` is None).
MIN_TASKS = 20
#: Simulations behind the simultaneous band, and the seed of that simulation.
BAND_SIMULATIONS = 20_000
BAND_SEED = 20220501


def _err(path: Path | None, key: str, message: str) -> SpecError:
    prefix = f"{path}: " if path is not None else ""
    return SpecError(f"{prefix}{key}: {message}")


def _whole(value: Any, path: Path | None, key: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _err(path, key, f"expected a whole number >= {low}, got {value!r}")
    return value


def _number(value: Any, path: Path | None, key: str, low: float, high: float,
            open_low: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        side = "(" if open_low else "["
        raise _err(path, key, f"expected a number in {side}{low:g}, {high:g}], got {value!r}")
    return float(value)


class SBCStudy(Study):
    """Simulation-based calibration of one model family (``[study] kind = "sbc"``).

    Parameters
    ----------
    spec : Mapping
        The parsed study TOML; ``[sbc]`` is checked strictly here (see the module
        docstring for its keys).
    path : pathlib.Path or None
        The spec file, named in every error message.

    Raises
    ------
    SpecError
        For a missing or unknown key, a bad value, a prior the model rejects, or a
        ``[grid]`` (SBC draws every parameter from the prior: it has no scenarios).
    """

    kind: ClassVar[str] = "sbc"
    tables: ClassVar[tuple[str, ...]] = ("sbc",)

    def __init__(self, spec: Mapping[str, Any], path: Path | None = None) -> None:
        super().__init__(spec, path)
        if spec.get("grid"):
            raise _err(path, "[grid]", "an SBC study has no scenarios: every parameter is "
                                       "drawn from the prior; remove [grid]")
        table = spec.get("sbc")
        if not isinstance(table, Mapping):
            raise _err(path, "[sbc]", "missing: an SBC study needs an [sbc] table with model")
        for key in table:
            if key not in SBC_KEYS:
                raise _err(path, f"[sbc] {key}",
                           f"unknown key; expected one of {', '.join(SBC_KEYS)}")
        model = table.get("model")
        if model not in MODELS:
            raise _err(path, "[sbc] model", f"expected one of {', '.join(MODELS)}, got {model!r}")
        self.model = model
        self.response = model in ("beta-binomial", "logit-normal")
        for key in ("method", "heterogeneity"):
            if key in table and not self.response:
                raise _err(path, f"[sbc] {key}", f"applies to the response models only, "
                                                 f"not to {model!r}")
        if "shared_graph" in table and self.response:
            raise _err(path, "[sbc] shared_graph", "applies to the Weibull models only (a "
                                                   "response fit reuses its graph anyway)")
        self.shared_graph = table.get("shared_graph", True)
        if not isinstance(self.shared_graph, bool):
            raise _err(path, "[sbc] shared_graph",
                       f"expected true or false, got {self.shared_graph!r}")
        self.method = table.get("method", "auto")
        self.heterogeneity = table.get("heterogeneity", "shared")
        for key, value, allowed in (("method", self.method, ("auto", "exact", "mcmc")),
                                    ("heterogeneity", self.heterogeneity,
                                     ("shared", "stratum"))):
            if value not in allowed:
                raise _err(path, f"[sbc] {key}",
                           f"expected one of {', '.join(allowed)}, got {value!r}")
        self.alpha = _number(table.get("alpha", 0.01), path, "[sbc] alpha", 0.0, 0.5,
                             open_low=True)
        self.design = self._design(table.get("design", {}))
        self.sampler = self._sampler(table.get("sampler", {}))
        self.priors = self._prior_table(table, "priors")
        self.fit_priors = self._prior_table(table, "fit_priors")
        helper = self._build()  # every option and prior checked by the model class itself
        self.exact = getattr(helper, "exact", False)
        self.thin = _whole(table.get("thin", 1 if self.exact else 8), path, "[sbc] thin")
        if self.thin > self.sampler.draws:
            raise _err(path, "[sbc] thin", f"{self.thin} is more than the "
                                           f"{self.sampler.draws} draws per chain")
        self.parameters: list[str] = helper.parameters
        self._helper: Any = helper

    # ------------------------------------------------------------------ spec checks
    def _design(self, raw: Any) -> dict[str, Any]:
        path = self.path
        if not isinstance(raw, Mapping):
            raise _err(path, "[sbc.design]", f"expected a table, got {raw!r}")
        defaults = RESPONSE_DESIGN if self.response else SURVIVAL_DESIGN
        for key in raw:
            if key not in defaults:
                raise _err(path, f"[sbc.design] {key}",
                           f"unknown key for {self.model!r}; expected one of "
                           f"{', '.join(defaults)}")
        out = {**defaults, **raw}
        if self.response:
            n = out["n"]
            if not isinstance(n, list) or len(n) < 2:
                raise _err(path, "[sbc.design] n", f"expected a list of at least two cohort "
                                                   f"sizes, got {n!r}")
            for v in n:
                _whole(v, path, "[sbc.design] n")
            groups = out["groups"]
            if groups is not None:
                if (not isinstance(groups, list) or len(groups) != len(n)
                        or not all(isinstance(g, str) and g.strip() for g in groups)):
                    raise _err(path, "[sbc.design] groups",
                               f"expected one non-empty string per cohort ({len(n)}), "
                               f"got {groups!r}")
                if len(set(groups)) < 2:
                    raise _err(path, "[sbc.design] groups",
                               "name at least two groups, or leave groups out")
            return out
        _whole(out["cohorts"], path, "[sbc.design] cohorts")
        _whole(out["patients"], path, "[sbc.design] patients", low=2)
        groups = out["groups"]
        if (not isinstance(groups, list) or not groups
                or not all(isinstance(g, str) and g.strip() for g in groups)
                or len(set(groups)) != len(groups)):
            raise _err(path, "[sbc.design] groups",
                       f"expected a list of distinct target levels, got {groups!r}")
        _number(out["accrual_months"], path, "[sbc.design] accrual_months", 0.0, 1e4)
        _number(out["follow_up_months"], path, "[sbc.design] follow_up_months", 0.0, 1e4,
                open_low=True)
        share = _number(out["reinfused_share"], path, "[sbc.design] reinfused_share", 0.0, 1.0)
        if self.model == "weibull-frailty" and round(share * out["patients"]) < 1:
            raise _err(path, "[sbc.design] reinfused_share",
                       "no patient would have a second episode: the frailty needs some")
        if self.model == "weibull" and "reinfused_share" in raw:
            raise _err(path, "[sbc.design] reinfused_share",
                       "applies to 'weibull-frailty' only")
        return out

    def _sampler(self, raw: Any) -> Any:
        from pclbayes.sampling import SamplerSettings

        if not isinstance(raw, Mapping):
            raise _err(self.path, "[sbc.sampler]", f"expected a table, got {raw!r}")
        for key in raw:
            if key not in SAMPLER_KEYS:
                raise _err(self.path, f"[sbc.sampler] {key}",
                           f"unknown key; expected one of {', '.join(SAMPLER_KEYS)}")
        values = {"draws": 400, "tune": 400, "chains": 2,
                  "target_accept": 0.9 if self.response else 0.99, **raw}
        for key in ("draws", "tune", "chains"):
            _whole(values[key], self.path, f"[sbc.sampler] {key}")
        try:
            return SamplerSettings(**values)
        except (SpecError, TypeError) as exc:
            raise _err(self.path, "[sbc.sampler]", str(exc)) from None

    def _prior_table(self, table: Mapping[str, Any], key: str) -> dict[str, Any]:
        raw = table.get(key, {})
        if not isinstance(raw, Mapping):
            raise _err(self.path, f"[sbc.{key}]", f"expected a table, got {raw!r}")
        return dict(raw)

    def _build(self) -> Any:
        """The family's simulator and fit; errors name the table that caused them.

        Built first with the model's priors alone (an error there is in ``[sbc.priors]``
        or an option), then with the fit's overrides (``[sbc.fit_priors]``).
        """
        try:
            self._make({})
        except SpecError as exc:
            where = "[sbc.priors]" if "prior" in str(exc) else "[sbc]"
            raise _err(self.path, where, str(exc)) from None
        try:
            return self._make(self.fit_priors)
        except SpecError as exc:
            raise _err(self.path, "[sbc.fit_priors]", str(exc)) from None

    def _make(self, fit_priors: Mapping[str, Any]) -> Any:
        from pclbayes.simulate.studies._sbc_models import ResponseSBC, SurvivalSBC

        d = self.design
        if self.response:
            return ResponseSBC(self.model, d["n"], d["groups"], self.method,
                               self.heterogeneity, self.priors, fit_priors, self.sampler)
        return SurvivalSBC(self.model == "weibull-frailty", d["cohorts"], d["patients"],
                           d["groups"], float(d["accrual_months"]),
                           float(d["follow_up_months"]), float(d["reinfused_share"]),
                           self.priors, fit_priors, self.sampler, self.shared_graph)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_helper"] = None  # rebuilt in the worker (cheap; no compiled state inside)
        return state

    def _model_helper(self) -> Any:
        if self._helper is None:
            self._helper = self._make(self.fit_priors)
        return self._helper

    # ------------------------------------------------------------------ tasks
    def prepare(self) -> None:
        """Build the simulator and compile the NUTS model of the design once per process.

        The compiled model lives in :mod:`pclbayes.nuts`'s cache, keyed by the model's
        structure; every task's fit swaps its own data in, so the warm-up fit (fixed seed,
        a few draws) changes no task's draws. The Weibull models share one graph only
        with ``shared_graph`` (the default; see
        :meth:`~pclbayes.simulate.studies._sbc_models.SurvivalSBC.fit`).
        """
        self._model_helper().warm_up()

    def run_task(self, scenario: Mapping[str, Scalar], replicate: int,
                 seed: np.random.SeedSequence) -> dict[str, Scalar]:
        """Simulate, fit and rank one data set.

        The data (and the PIT jitter) come from ``SeedSequence(entropy, spawn_key + (0,))``
        and the fit's seed from ``spawn_key + (1,)`` of ``seed``: the same seed gives the
        same row, and ``seed`` is not advanced.

        Returns
        -------
        dict
            ``rank[p]`` (0 to ``n_ranks``), ``pit[p]`` and ``true[p]`` for every ranked
            parameter ``p``, ``n_ranks``, ``fit_seed``, ``max_rhat``, ``min_ess_bulk`` and
            ``divergences`` (NaN for the exact engine).
        """
        helper = self._model_helper()
        data_ss = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 0))
        fit_ss = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 1))
        rng = np.random.default_rng(data_ss)
        fit_seed = int(fit_ss.generate_state(1, dtype=np.uint32)[0])
        frame, truth = helper.simulate(rng)
        outcome = helper.fit(frame, fit_seed)
        row: dict[str, Scalar] = {}
        n_ranks = 0
        for name in self.parameters:
            kept = np.asarray(outcome.draws[name], dtype=float)[:, ::self.thin].ravel()
            n_ranks = kept.size
            rank = int(np.sum(kept < truth[name]))
            row[f"rank[{name}]"] = rank
            row[f"pit[{name}]"] = (rank + float(rng.uniform())) / (n_ranks + 1)
            row[f"true[{name}]"] = float(truth[name])
        row.update(n_ranks=n_ranks, fit_seed=fit_seed, max_rhat=outcome.max_rhat,
                   min_ess_bulk=outcome.min_ess_bulk, divergences=outcome.divergences)
        return row

    # ------------------------------------------------------------------ summary
    def summarise(self, results: pd.DataFrame) -> StudySummary:
        """Rank statistics, the band test per parameter, the verdict and the ΔECDF figure.

        Tables: ``rank statistics`` (per parameter: tasks, mean normalised rank with its
        Monte-Carlo SE, the shares of ranks at 0 and at ``L``, the largest ECDF excursion,
        its band at that point and ``passed``) and ``fit diagnostics``. ``passed`` is None
        when fewer than :data:`MIN_TASKS` tasks finished.
        """
        total = len(results)
        ok = results
        if "status" in results.columns:
            ok = results[results["status"] == "ok"]
        n = len(ok)
        errors = total - n
        k = len(self.parameters)
        level = 1 - self.alpha / k
        lines = [f"SBC of the {self.model} model rests on {n} finished task(s) of {total} "
                 f"stored" + (f" ({errors} failed and are left out: a fit that fails only "
                              f"for some parameter values biases SBC)" if errors else "")
                 + "."]
        summary = StudySummary(lines=lines)
        if n == 0:
            lines.append("No task finished: there is nothing to test.")
            return summary
        n_ranks = sorted(set(int(v) for v in ok["n_ranks"]))
        ev, lo, hi = _band(n, level)
        rows, curves = [], {}
        for name in self.parameters:
            pit = ok[f"pit[{name}]"].to_numpy(dtype=float)
            rank = ok[f"rank[{name}]"].to_numpy(dtype=float)
            big = ok["n_ranks"].to_numpy(dtype=float)
            ecdf = _ecdf(pit, ev)
            diff = ecdf - ev
            worst = int(np.argmax(np.abs(diff)))
            inside = bool(np.all((ecdf >= lo - 1e-12) & (ecdf <= hi + 1e-12)))
            frac = rank / big
            # var of r / L for r uniform on {0..L}: ((L+1)^2 - 1) / (12 L^2)
            sd = np.sqrt(np.mean(((big + 1) ** 2 - 1) / (12 * big**2)))
            rows.append({
                "parameter": name, "tasks": n, "ranks": "/".join(str(v) for v in n_ranks),
                "mean_rank": float(frac.mean()), "mean_rank_mcse": float(sd / np.sqrt(n)),
                "share_rank_0": float(np.mean(rank == 0)),
                "share_rank_L": float(np.mean(rank == big)),
                "expected_share_each": float(np.mean(1 / (big + 1))),
                "max_ecdf_diff": float(diff[worst]), "at_pit": float(ev[worst]),
                "band_lower": float(lo[worst] - ev[worst]),
                "band_upper": float(hi[worst] - ev[worst]),
                "band_level": level, "passed": inside,
            })
            curves[name] = (diff, inside)
        table = pd.DataFrame(rows)
        summary.tables["rank statistics"] = table
        summary.tables["fit diagnostics"] = _diagnostics_table(ok)
        enough = n >= MIN_TASKS
        failed = [r["parameter"] for r in rows if not r["passed"]]
        summary.passed = (not failed) if enough else None
        rule = (f"Rule: a parameter passes when the ECDF of its {n} PIT values stays inside "
                f"the simultaneous {level:.2%} band for {n} uniform values; the study "
                f"passes when all {k} do (Bonferroni: a calibrated model fails with "
                f"probability at most {self.alpha:g}).")
        if not enough:
            lines.append(f"No verdict: {n} finished task(s), fewer than the {MIN_TASKS} a "
                         "verdict needs.")
        elif failed:
            lines.append(f"FAIL: the ranks of {', '.join(failed)} are not uniform; the fitted "
                         "model is not calibrated for the model that simulated the data.")
        else:
            lines.append(f"PASS: the ranks of all {k} parameters are consistent with "
                         "uniformity.")
        lines.append(rule)
        div = ok["divergences"].to_numpy(dtype=float)
        if np.isfinite(div).any():
            lines.append(f"{int(np.sum(div > 0))} of {n} fits had divergent transitions "
                         f"({int(np.nansum(div))} in all).")
        title = (f"SBC {self.model}: ECDF difference of the ranks, {level:.2%} bands "
                 f"({n} tasks)")
        summary.figures.append((title, lambda: _figure(ev, lo, hi, curves, title)))
        return summary


@functools.lru_cache(maxsize=32)
def _band(n: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Evaluation points ``0, 1/n, ..., 1`` and the simultaneous ``level`` ECDF band.

    The simulation method of Säilynoja, Bürkner and Vehtari (2022), as in
    ``arviz_stats.ecdf_utils.simulate_confidence_bands``: for each of
    :data:`BAND_SIMULATIONS` samples of ``n`` uniform values with ECDF counts
    :math:`c_i` at :math:`x_i = i/n`, the statistic

    .. math:: \gamma = 1 - 2 \min\bigl(\min_i F_{n,x_i}(c_i),\;
              \min_i [1 - F_{n,x_i}(c_i - 1)]\bigr)

    (:math:`F_{n,x}` the binomial CDF); its ``level`` quantile is the pointwise level
    whose binomial intervals (``arviz_stats.ecdf_utils.get_pointwise_confidence_band``)
    hold a uniform sample's whole ECDF with probability ``level``. The simulation is
    vectorised here (arviz_stats loops over the samples in Python: about 1 ms each, too
    slow for the 20,000 samples that a 99.75% quantile needs), the upper tail
    :math:`P(X \ge c)` of a count of 0 is 1 (arviz_stats 1.3 evaluates it as
    ``1 - bdtr(-1, ...)``, NaN, and then drops the upper tail of that sample), and the
    quantile is the next simulated value up (conservative); its seed is fixed, so a
    summary is the same every time.
    """
    from arviz_stats.ecdf_utils import get_pointwise_confidence_band
    from scipy.special import bdtr

    inner = np.arange(1, n) / n
    # binomial CDF F(c; n, x_i) for every point and count, then looked up per sample
    cdf = bdtr(np.arange(n + 1)[None, :], n, inner[:, None])  # (n - 1, n + 1)
    sf = np.concatenate([np.ones((n - 1, 1)), 1.0 - cdf[:, :-1]], axis=1)  # P(X >= c)
    point = np.arange(n - 1)[None, :]
    rng = np.random.default_rng(BAND_SEED)
    gammas = []
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, BAND_SIMULATIONS, chunk):
        size = min(chunk, BAND_SIMULATIONS - start)
        cells = np.minimum((rng.uniform(size=(size, n)) * n).astype(np.int64), n - 1)
        flat = (np.arange(size)[:, None] * n + cells).ravel()
        per_cell = np.bincount(flat, minlength=size * n).reshape(size, n)
        counts = np.cumsum(per_cell, axis=1)[:, :-1]  # #(u <= i/n), i = 1 .. n-1
        lower = np.min(cdf[point, counts], axis=1)
        upper = np.min(sf[point, counts], axis=1)
        gammas.append(1.0 - 2.0 * np.minimum(lower, upper))
    prob = float(np.quantile(np.concatenate(gammas), level, method="higher"))
    # gamma has atoms: a hair above the atom keeps a sample at the quantile inside the
    # band that get_pointwise_confidence_band computes from (1 - prob) / 2
    prob = min(prob + 1e-9, 1.0)
    lo, hi = get_pointwise_confidence_band(prob, n, inner)
    ev = np.concatenate(([0.0], inner, [1.0]))
    return ev, np.concatenate(([0.0], lo, [1.0])), np.concatenate(([0.0], hi, [1.0]))


def _ecdf(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """ECDF of ``values`` at ``points`` (the share of values at or below each point)."""
    from arviz_stats.ecdf_utils import compute_ecdf

    return compute_ecdf(values, points)


def _diagnostics_table(ok: pd.DataFrame) -> pd.DataFrame:
    rhat = ok["max_rhat"].to_numpy(dtype=float)
    ess = ok["min_ess_bulk"].to_numpy(dtype=float)
    div = ok["divergences"].to_numpy(dtype=float)
    if not np.isfinite(ess).any():
        return pd.DataFrame([{"fits": len(ok), "engine": "exact (no sampler diagnostics)"}])
    with np.errstate(invalid="ignore"):
        return pd.DataFrame([{
            "fits": len(ok), "engine": "NUTS",
            "median_max_rhat": float(np.nanmedian(rhat)),
            "share_rhat_above_1.01": float(np.mean(rhat > 1.01)),
            "median_min_ess_bulk": float(np.nanmedian(ess)),
            "min_ess_bulk": float(np.nanmin(ess)),
            "share_with_divergences": float(np.mean(div > 0)),
            "divergences": int(np.nansum(div)),
        }])


def _figure(ev: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            curves: dict[str, tuple[np.ndarray, bool]], title: str) -> Any:
    """One panel per parameter: ECDF minus the uniform CDF, inside its simultaneous band."""
    from matplotlib.figure import Figure

    k = len(curves)
    cols = min(k, 3)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for ax, (name, (diff, inside)) in zip(axes, curves.items(), strict=False):
        ax.fill_between(ev, lo - ev, hi - ev, step="post", color="#1f77b4", alpha=0.2,
                        linewidth=0, label="simultaneous band")
        ax.step(ev, diff, where="post", color="#1f77b4" if inside else "#d62728",
                linewidth=1.2)
        ax.axhline(0.0, color="#555555", linewidth=0.6, linestyle="--")
        ax.set_title(f"{name}: {'pass' if inside else 'FAIL'}", fontsize=10)
        ax.set_xlim(0, 1)
    for ax in axes[k:]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[:k]):
        if i + cols >= k:  # the lowest visible panel of its column
            ax.set_xlabel("PIT (normalised rank)")
            ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[::cols]:
        ax.set_ylabel("ECDF - uniform CDF")
    fig.suptitle(title, fontsize=11)
    return fig
