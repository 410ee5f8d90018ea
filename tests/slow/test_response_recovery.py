"""Parameter recovery: both models find known hyperparameters in simulated cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from pclbayes.response import ResponseModel

pytestmark = pytest.mark.slow

REPS = 10


def _frame(n, r, arm):
    return pd.DataFrame({"cohort": [f"c{i}" for i in range(len(n))], "n": n, "responders": r,
                         "arm": arm})


def _covered(summary: pd.DataFrame, quantity: str, level: str, value: float) -> bool:
    row = summary[(summary["quantity"] == quantity) & (summary["level"] == level)].iloc[0]
    return bool(row["lower"] <= value <= row["upper"])


def test_beta_binomial_recovers_rates_and_concentration() -> None:
    rng = np.random.default_rng(1)
    mu, kappa = {"A": 0.55, "B": 0.8}, 15.0
    hits = {"A": 0, "B": 0, "kappa": 0}
    for rep in range(REPS):
        arm = np.repeat(["A", "B"], [18, 12])
        n = rng.integers(10, 40, size=arm.size)
        m = np.array([mu[a] for a in arm])
        r = rng.binomial(n, rng.beta(m * kappa, (1 - m) * kappa))
        s = ResponseModel(by="arm", method="mcmc").fit(_frame(n, r, arm), seed=rep).summary()
        hits["A"] += _covered(s, "pooled_rate", "A", mu["A"])
        hits["B"] += _covered(s, "pooled_rate", "B", mu["B"])
        hits["kappa"] += _covered(s, "kappa", "shared", kappa)
        con = s[s["quantity"] == "contrast"].iloc[0]
        assert con["level"] == "B - A" and con["prob_gt"] > 0.9
    # P(fewer than 8 of 10 covered) = 1.2% for calibrated 95% intervals
    assert all(v >= 8 for v in hits.values()), hits


def test_logit_normal_recovers_intercept_effect_and_sigma() -> None:
    rng = np.random.default_rng(2)
    alpha, beta, sigma = 0.2, 1.0, 0.5
    hits = {"alpha": 0, "effect": 0, "sigma": 0}
    for rep in range(REPS):
        arm = np.repeat(["A", "B"], [18, 12])
        n = rng.integers(10, 40, size=arm.size)
        eta = alpha + beta * (arm == "B") + sigma * rng.standard_normal(arm.size)
        r = rng.binomial(n, special.expit(eta))
        s = ResponseModel(by="arm", model="logit-normal",
                          reference="A").fit(_frame(n, r, arm), seed=rep).summary()
        hits["alpha"] += _covered(s, "mu_logit", "A", alpha)
        hits["effect"] += _covered(s, "log_odds_ratio", "B - A", beta)
        hits["sigma"] += _covered(s, "sigma", "shared", sigma)
    assert all(v >= 8 for v in hits.values()), hits
