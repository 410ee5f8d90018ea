"""The bundled report runs the mean-rate prior variants and shows the prior of marked rows."""

import csv
import json
import re


def test_mean_rate_variants_in_the_sensitivity_table_and_summary(quick_report):
    summary = json.loads((quick_report / "summary.json").read_text(encoding="utf-8"))
    for name in ("response_orr_by_target", "response_cr_by_target",
                 "response_orr_by_strategy", "response_cr_by_strategy"):
        assert f"{name}@jeffreys-mean" in summary["sensitivity"], name
    assert "response_orr_by_target_logit_normal@wider-intercept" in summary["sensitivity"]
    html = (quick_report / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="sensitivity">'):]
    section = section[:section.index("</section>")]
    assert "jeffreys mean" in section and "wider intercept" in section
    assert "mu ~ Beta(alpha=0.5, beta=0.5) (was Beta(alpha=1, beta=1))" in section
    assert "intercept ~ Normal(mu=0, sigma=3) (was Normal(mu=0, sigma=1.5))" in section
    # the headline table of each response fit has a column for the variant
    assert len(re.findall(r"<th[^>]*>jeffreys mean</th>", section)) == 4


def test_summary_csv_carries_the_prior_of_each_row(quick_report):
    with (quick_report / "summary.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"prior_median", "prior_lower", "prior_upper"} <= set(rows[0])
    kappa = [r for r in rows if r["quantity"] == "kappa" and r["source"] != "prior"
             and r["variant"] == "default"]
    assert kappa
    for r in kappa:
        # Gamma(2, rate 0.1) prior: median 16.8, 95% 2.4 to 55.7 (within Monte-Carlo error)
        assert 14 < float(r["prior_median"]) < 20
        assert 1.8 < float(r["prior_lower"]) < 3.2 and 48 < float(r["prior_upper"]) < 64
