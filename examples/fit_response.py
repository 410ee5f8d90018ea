"""Pooled response rates of the bundled PCL cohorts, by antigen target.

Run:  python examples/fit_response.py
"""

from pclbayes.data import load
from pclbayes.response import ResponseModel, predictive_draws

eb = load()  # bundled evidence base: 3 cohorts, 15 PCL patients

# CR or better by target (first infusions only), default hierarchical beta-binomial (NUTS)
fit = ResponseModel(endpoint="cr", by="target").fit(eb, seed=1)
print(fit)                       # model card: data, priors, pooling, estimates, diagnostics
print(fit.prior_summary())

table = fit.summary()            # tidy: quantity, level, mean, median, lower, upper, ...
print(table.query("quantity in ['pooled_rate', 'contrast']")
      [["quantity", "level", "median", "lower", "upper", "prob_gt"]])

# the same model by deterministic numerical integration (no Monte Carlo error)
exact = ResponseModel(endpoint="cr", by="target", method="exact").fit(eb)
print(exact.summary().query("quantity == 'pooled_rate'")[["level", "median", "lower", "upper"]])

# sensitivity: the logit-normal random-effects model, and a wider heterogeneity prior
ln = ResponseModel(endpoint="cr", by="target", model="logit-normal").fit(eb, seed=1)
wide = ResponseModel(endpoint="cr", by="target",
                     priors={"kappa": "Gamma(alpha=2, beta=0.2)"}).fit(eb, seed=1)
for name, f in (("logit-normal", ln), ("kappa ~ Gamma(2, 0.2)", wide)):
    row = f.summary().query("quantity == 'pooled_rate' and level == 'BCMA'").iloc[0]
    print(f"{name}: BCMA pooled CR {row['median']:.2f} ({row['lower']:.2f}, {row['upper']:.2f})")

# posterior-predictive check per cohort, and draws of a new GPRC5D cohort's CR rate
print(fit.ppc_table(kind="mixed"))
draws = predictive_draws(eb, endpoint="cr", by="target", level="GPRC5D", seed=1)
print(f"new GPRC5D cohort: {len(draws)} draws, median CR rate {sorted(draws)[len(draws) // 2]:.2f}")

fit.save("response_cr_by_target.nc")  # netCDF with provenance (data hash, spec, seed)
