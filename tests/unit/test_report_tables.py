"""Report tables built from specifications and PSIS-LOO results, without fitting a model.

* "Prior variants": each specification's own declared variants, what each changed, and why.
* "Model comparison": the same elpd values as the PSIS-LOO table above it.
"""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.report import labels, sections
from pclbayes.report.builder import FitRecord
from pclbayes.report.html import Page
from pclbayes.specs import list_specs, parse_spec, sensitivity_specs


# ---------------------------------------------------------------- helpers
class _Tables(HTMLParser):
    """Collect ``{caption: [[cell, ...], ...]}`` from rendered HTML (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption" and self._caption is not None:
            self.tables[-1] = ("".join(self._caption), self.tables[-1][1])
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def _tables(html: str) -> dict[str, pd.DataFrame]:
    parser = _Tables()
    parser.feed(html)
    return {cap: pd.DataFrame(rows[1:], columns=rows[0]) for cap, rows in parser.tables}


def _table(html: str, starts: str) -> pd.DataFrame:
    found = [t for cap, t in _tables(html).items() if cap.startswith(starts)]
    assert len(found) == 1, list(_tables(html))
    return found[0]


def _summary_stub(family: str) -> pd.DataFrame:
    rows = ([("pooled_rate", "BCMA"), ("predictive_rate", "BCMA")] if family == "response"
            else [("median_time", "BCMA"), ("hazard_ratio", "GPRC5D vs BCMA")])
    return pd.DataFrame([{"quantity": q, "level": lev, "median": 0.5, "lower": 0.2,
                          "upper": 0.8, "source": "posterior"} for q, lev in rows])


def _record(spec) -> FitRecord:
    model = SimpleNamespace(summary=lambda: _summary_stub(spec.family))
    return FitRecord(spec, model, 0.0)


def _shipped_records():
    specs = list_specs(BUNDLED_MODELS)
    fits = [_record(s) for s in specs]
    sens = []
    for s in specs:
        for d in sensitivity_specs(s):
            rec = _record(d)
            rec.variant = d.name.split("@", 1)[1]
            sens.append(rec)
    return specs, fits, sens


# ---------------------------------------------------------------- prior variants
@pytest.mark.heavy
def test_prior_variants_table_shows_each_specs_own_priors(tmp_path) -> None:
    """The beta-binomial specs were refitted with kappa ~ Gamma(2, 0.4) / Gamma(2, 0.025):
    the table must say so, not list the logit-normal sigma priors for them."""
    _, fits, sens = _shipped_records()
    page = Page("t", tmp_path)
    sections.sensitivity_section(page, fits, sens)
    html = "".join(page.sections[0][2])
    tab = _table(html, "Prior variants")
    text = " | ".join(tab.astype(str).agg(" ".join, axis=1))
    assert "kappa ~ Gamma(alpha=2, beta=0.4)" in text, text
    assert "kappa ~ Gamma(alpha=2, beta=0.025)" in text, text
    spec_col, variant_col, changed_col = (tab.columns[i] for i in range(3))
    # the page names specifications by their titles and variants in words
    title = {f.spec.name: labels.fit_title(f.spec) for f in fits}
    # a variant declared alike by several specifications is one row naming all of them
    rows = {(spec, r[variant_col]): r for _, r in tab.iterrows()
            for spec in r[spec_col].split("; ")}
    assert len(rows) > len(tab)
    more_v, less_v = labels.variant("more-heterogeneity"), labels.variant("less-heterogeneity")
    for name in ("response_orr_by_target", "response_cr_by_target",
                 "response_orr_by_strategy", "response_cr_by_strategy"):
        more = rows[(title[name], more_v)][changed_col]
        less = rows[(title[name], less_v)][changed_col]
        assert "kappa ~ Gamma(alpha=2, beta=0.4)" in more and "sigma" not in more
        assert "kappa ~ Gamma(alpha=2, beta=0.025)" in less and "sigma" not in less
    ln = title["response_orr_by_target_logit_normal"]
    assert "sigma ~ HalfNormal(sigma=2)" in rows[(ln, more_v)][changed_col]
    assert "sigma ~ HalfNormal(sigma=0.5)" in rows[(ln, less_v)][changed_col]
    assert "kappa" not in rows[(ln, more_v)][changed_col]


def test_prior_variants_table_from_specs() -> None:
    specs, _, _ = _shipped_records()
    tab = sections.prior_variants_table(specs)
    assert list(tab.columns) == ["specification", "variant", "changed", "reason"]
    # one row per declared variant, in declaration order per specification
    declared = [(s.name, v.name) for s in specs for v in s.sensitivity]
    assert list(zip(tab["specification"], tab["variant"], strict=True)) == declared
    assert tab["reason"].str.len().min() > 20
    row = tab[(tab["specification"] == "survival_pfs_by_target")
              & (tab["variant"] == "sceptical")].iloc[0]
    # what changed, and from what: only the priors that differ from the spec's own
    assert row["changed"] == ("effect ~ Normal(mu=0, sigma=0.5) (was Normal(mu=0, sigma=1)); "
                              "sigma_cohort ~ HalfNormal(sigma=0.25) (was HalfNormal(sigma=0.5))")
    vague = tab[(tab["specification"] == "survival_pfs_by_target")
                & (tab["variant"] == "vague")].iloc[0]["changed"]
    assert "log_median ~ Normal(mu=1.8, sigma=2.5)" in vague
    assert "shape ~ LogNormal(mu=0, sigma=1)" in vague


def test_prior_variants_table_lists_only_what_changed() -> None:
    raw = {"model": {"family": "survival", "name": "s", "episodes": "all"},
           "priors": {"effect": {"dist": "Normal", "mu": 0, "sigma": 1}},
           "sensitivity": {
               "first-only": {"reason": "first infusions only",
                              "options": {"episodes": "first"},
                              # the same prior as the spec's own: not a change
                              "priors": {"effect": {"dist": "Normal", "mu": 0, "sigma": 1}}},
               "new-prior": {"reason": "a prior the spec leaves at its default",
                             "priors": {"shape": "LogNormal(mu=0, sigma=1)"}}}}
    tab = sections.prior_variants_table([parse_spec(raw)]).set_index("variant")
    assert tab.loc["first-only", "changed"] == "episodes = 'first' (was 'all')"
    assert tab.loc["new-prior", "changed"] == "shape ~ LogNormal(mu=0, sigma=1) (was the default)"
    assert tab.loc["first-only", "reason"] == "first infusions only"


def test_prior_variants_table_only_lists_variants_that_were_run() -> None:
    specs, _, _ = _shipped_records()
    tab = sections.prior_variants_table(specs, run={"response_cr_by_target@more-heterogeneity"})
    assert tab[["specification", "variant"]].values.tolist() == [
        ["response_cr_by_target", "more-heterogeneity"]]


def test_sensitivity_specs_are_the_declared_variants() -> None:
    specs = {s.name: s for s in list_specs(BUNDLED_MODELS)}
    derived = sensitivity_specs(specs["response_orr_by_target"])
    assert [d.name for d in derived] == ["response_orr_by_target@more-heterogeneity",
                                         "response_orr_by_target@less-heterogeneity",
                                         "response_orr_by_target@jeffreys-mean"]
    assert derived[0].priors["kappa"] == {"dist": "Gamma", "alpha": 2, "beta": 0.4}
    assert derived[0].priors["mu"] == specs["response_orr_by_target"].priors["mu"]
    assert derived[0].sensitivity == ()
    ln = sensitivity_specs(specs["response_orr_by_target_logit_normal"])
    assert {d.name.split("@")[1]: d.priors["sigma"]["sigma"] for d in ln} == {
        "less-heterogeneity": 0.5, "more-heterogeneity": 2, "wider-intercept": 1}
    os_variants = sensitivity_specs(specs["survival_os"])
    assert [d.name.split("@")[1] for d in os_variants] == ["reinfusion-censored"]
    assert os_variants[0].options["censor_at"] == "reinfusion"
    pfs = sensitivity_specs(specs["survival_pfs_by_target"])
    assert [d.name.split("@")[1] for d in pfs] == [
        "vague", "sceptical", "with-reinfusions", "progression-only", "censor-at-hsct",
        "tongji-censored", "without-carsgen", "without-tongji"]
    off = parse_spec({"model": {"family": "response"}, "report": {"sensitivity": False},
                      "sensitivity": {"wide": {"reason": "wider", "priors": {
                          "kappa": "Gamma(alpha=2, beta=0.4)"}}}})
    assert sensitivity_specs(off) == []


# ---------------------------------------------------------------- model comparison
def _idata(means: list[float], seed: int):
    """Pointwise log-likelihood ``means[i] + 0.05 z`` for 4 chains x 500 draws."""
    rng = np.random.default_rng(seed)
    ll = np.asarray(means) + 0.05 * rng.standard_normal((4, 500, len(means)))
    return az.from_dict({"posterior": {"a": rng.standard_normal((4, 500))},
                         "log_likelihood": {"y": ll},
                         "observed_data": {"y": np.zeros(len(means))}}), ll


def _elpd_by_hand(ll: np.ndarray) -> float:
    """Importance-sampling LOO: p(y_i | y_-i) = 1 / E_post[1 / p(y_i | theta)]."""
    draws = ll.reshape(-1, ll.shape[-1])
    return float(np.sum(-np.log(np.mean(np.exp(-draws), axis=0))))


@pytest.fixture(scope="module")
def loo_fits():
    from pclbayes.diagnostics import psis_loo

    # cohort-level observations far apart: large se, so ArviZ's display rounding of elpd
    # (to the precision its se supports) would print -3 for -2.7
    bb, ll_bb = _idata([-0.2, -0.9, -1.6], 1)
    ln, ll_ln = _idata([-0.5, -0.6, -0.7], 2)
    fits = []
    for kind, idata in (("beta-binomial", bb), ("logit-normal", ln)):
        spec = parse_spec({"model": {"family": "response", "name": f"orr_{kind}",
                                     "endpoint": "orr", "by": "target", "model": kind}})
        model = SimpleNamespace(endpoint="orr", by="target", idata_=idata,
                                loo=lambda i=idata, k=kind: psis_loo(i, k))
        fits.append(FitRecord(spec, model, 0.0))
    return fits, {"beta-binomial": _elpd_by_hand(ll_bb), "logit-normal": _elpd_by_hand(ll_ln)}


def test_comparison_table_uses_unrounded_elpd(loo_fits) -> None:
    fits, by_hand = loo_fits
    tab = sections.comparison_table({f.spec.options["model"]: f.model.loo() for f in fits})
    elpd = tab.set_index("model")["elpd"]
    for kind, value in by_hand.items():
        assert elpd[kind] == pytest.approx(value, abs=2e-3)
    diff = tab.set_index("model")["elpd_diff"]
    assert diff["beta-binomial"] == pytest.approx(by_hand["beta-binomial"]
                                                  - by_hand["logit-normal"], abs=4e-3)
    assert diff["logit-normal"] == 0.0


def test_comparison_agrees_with_loo_table(loo_fits) -> None:
    """The rendered comparison prints the elpd of the PSIS-LOO table, to the same digits."""
    fits, by_hand = loo_fits
    html = sections._comparison(fits)
    cmp = _table(html, "Model comparison").set_index("model")
    loo = pd.DataFrame([sections._loo_row(f.spec.name, f.model) for f in fits])
    for f, (_, row) in zip(fits, loo.iterrows(), strict=True):
        kind = f.spec.options["model"]
        assert cmp.loc[kind, "elpd"] == f"{row['elpd_loo']:.2f}" == f"{by_hand[kind]:.2f}"
        assert cmp.loc[kind, "se"] == f"{row['se']:.2f}"
