"""The convergence gate and PSIS-LOO on hand-built DataTrees with known defects (no sampling).

Each check is shown to fire on the defect it claims to detect and to stay quiet on iid draws;
R-hat, ESS and E-BFMI are compared with values computed here independently of ArviZ.
"""

from __future__ import annotations

import json
import logging
import math
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from pclbayes.diagnostics import (
    BFMI_MIN,
    ESS_MIN,
    RHAT_MAX,
    ConvergenceReport,
    check_convergence,
    psis_loo,
)
from pclbayes.errors import ConvergenceWarning

CHAINS, DRAWS = 4, 1000
DIMS = ("chain", "draw")
NUTPIE_SETTINGS = json.dumps({"sampler": "nuts", "settings": {"maxdepth": 10, "mindepth": 0}})


# --------------------------------------------------------------------------- builders
def ar1(rng: np.random.Generator, rho: float, chains: int = CHAINS, draws: int = DRAWS,
        ) -> np.ndarray:
    """Stationary Gaussian AR(1) chains, x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.normal(size=chains)
    e = rng.normal(size=(chains, draws)) * np.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + e[:, t]
    return x


def nutpie_stats(rng: np.random.Generator, *, diverging: np.ndarray | None = None,
                 saturated: np.ndarray | None = None, energy: np.ndarray | None = None,
                 ) -> xr.Dataset:
    """sample_stats with nutpie's names: healthy unless a defect is passed in."""
    shape = (CHAINS, DRAWS)
    saturated = np.zeros(shape, bool) if saturated is None else saturated
    ds = xr.Dataset({
        "diverging": (DIMS, np.zeros(shape, bool) if diverging is None else diverging),
        "maxdepth_reached": (DIMS, saturated),
        "depth": (DIMS, np.where(saturated, 10, 3).astype(np.uint64)),
        "energy": (DIMS, rng.normal(size=shape) if energy is None else energy),
    })
    ds.attrs["inference_library"] = "nutpie"
    ds.attrs["inference_library_settings"] = NUTPIE_SETTINGS
    return ds


def tree(posterior: dict[str, np.ndarray], sample_stats: xr.Dataset | None = None,
         ) -> xr.DataTree:
    post = xr.Dataset({name: (DIMS + tuple(f"{name}_dim_{i}" for i in range(v.ndim - 2)), v)
                       for name, v in posterior.items()})
    groups = {"posterior": post}
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    return xr.DataTree.from_dict(groups)


def iid_tree(seed: int = 0) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    return tree({"mu": rng.normal(size=(CHAINS, DRAWS)),
                 "theta": rng.normal(2.0, 0.5, size=(CHAINS, DRAWS, 3))}, nutpie_stats(rng))


def quiet_check(idata: xr.DataTree, **kwargs) -> ConvergenceReport:
    """check_convergence with warnings recorded, not raised."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return check_convergence(idata, **kwargs)


# --------------------------------------------------------------------------- references
def z_rank(x: np.ndarray) -> np.ndarray:
    """Rank-normalise over all chains: Phi^-1((r - 3/8) / (S + 1/4)), Blom's offsets."""
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 0.375) / (x.size + 0.25))


def classic_rhat(x: np.ndarray) -> float:
    """Gelman-Rubin R-hat of (chain, draw) draws: sqrt(((n-1)/n W + B/n) / W)."""
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(ddof=1)
    return float(np.sqrt(((n - 1) / n * w + b / n) / w))


def rank_split_rhat(x: np.ndarray) -> float:
    """Vehtari et al. (2021): split each chain in two, then max(bulk, folded) rank R-hat."""
    half = x.shape[1] // 2
    split = np.vstack([x[:, :half], x[:, -half:]])
    folded = np.abs(split - np.median(split))
    return max(classic_rhat(z_rank(split)), classic_rhat(z_rank(folded)))


def ebfmi(energy: np.ndarray) -> np.ndarray:
    """Per chain: mean squared energy change over the energy variance (Betancourt 2016)."""
    return (np.diff(energy, axis=1) ** 2).mean(axis=1) / energy.var(axis=1, ddof=1)


# --------------------------------------------------------------------------- quiet on iid
def test_gate_is_quiet_on_iid_normal_draws() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = check_convergence(iid_tree(), label="iid", target_accept=0.9)
    assert caught == []
    assert rep.ok and rep.messages == [], str(rep)
    assert rep.max_rhat <= RHAT_MAX and min(rep.min_ess_bulk, rep.min_ess_tail) >= ESS_MIN
    assert rep.divergences == 0 and rep.treedepth_share == 0.0 and rep.treedepth_limit == 10
    assert len(rep.bfmi) == CHAINS and rep.min_bfmi > BFMI_MIN
    assert (rep.chains, rep.draws) == (CHAINS, DRAWS)


def test_rhat_of_iid_draws_matches_an_independent_computation() -> None:
    idata = iid_tree(seed=3)
    rep = check_convergence(idata, var_names=["mu"])
    x = idata["posterior"]["mu"].values
    assert rep.max_rhat == pytest.approx(rank_split_rhat(x), rel=1e-10)


# --------------------------------------------------------------------------- (a) R-hat
def test_chains_stuck_at_different_values_fail_rhat() -> None:
    rng = np.random.default_rng(1)
    stuck = rng.normal(size=(CHAINS, DRAWS)) + np.array([0.0, 0.0, 0.0, 2.0])[:, None]
    idata = tree({"mu": rng.normal(size=(CHAINS, DRAWS)), "sigma": stuck}, nutpie_stats(rng))
    with pytest.warns(ConvergenceWarning, match=r"stuck fit: NOT converged"):
        rep = check_convergence(idata, label="stuck fit")
    assert rep.max_rhat == pytest.approx(rank_split_rhat(stuck), rel=1e-10)
    assert rep.max_rhat > 1.2
    # the classic (unsplit, unranked) R-hat of these chains says the same, independently
    assert classic_rhat(stuck) > 1.2
    assert not rep.ok
    [msg] = [m for m in rep.messages if m.startswith("R-hat")]
    assert f"R-hat {rep.max_rhat:.3f} > 1.01 (sigma)" in msg and "sampler.tune" in msg
    # the stuck parameter is only checked when listed
    assert quiet_check(idata, var_names=["mu"]).max_rhat <= RHAT_MAX


def test_one_chain_cannot_be_checked_for_rhat() -> None:
    rng = np.random.default_rng(2)
    idata = tree({"mu": rng.normal(size=(1, 4000))})
    rep = quiet_check(idata)
    assert math.isnan(rep.max_rhat) and not rep.ok
    assert any("at least 2 chains" in m for m in rep.messages)


# --------------------------------------------------------------------------- (b) ESS
def test_strongly_autocorrelated_draws_fail_ess() -> None:
    rng = np.random.default_rng(5)
    rho = 0.9
    idata = tree({"mu": ar1(rng, rho)}, nutpie_stats(rng))
    rep = quiet_check(idata)
    # ESS of a stationary AR(1) chain: N (1 - rho) / (1 + rho) = 210.5 for 4 x 1000 draws
    expected = CHAINS * DRAWS * (1 - rho) / (1 + rho)
    assert rep.min_ess_bulk == pytest.approx(expected, rel=0.3)
    assert rep.min_ess_bulk < ESS_MIN and not rep.ok
    [msg] = rep.messages                # R-hat (1.009) passes: only the ESS check fails
    assert "< 400 (mu)" in msg and "increase sampler.draws" in msg


def test_iid_draws_have_ess_near_the_number_of_draws() -> None:
    rep = check_convergence(iid_tree(seed=4))
    assert rep.min_ess_bulk == pytest.approx(CHAINS * DRAWS, rel=0.15)


# --------------------------------------------------------------------------- (c) divergences
@pytest.mark.parametrize(("target_accept", "next_value"), [(0.9, 0.99), (None, 0.99),
                                                           (0.99, 0.999)])
def test_divergences_fail_with_the_next_target_accept(target_accept, next_value) -> None:
    rng = np.random.default_rng(6)
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[[0, 2, 2], [10, 500, 900]] = True
    idata = tree({"mu": rng.normal(size=(CHAINS, DRAWS))}, nutpie_stats(rng, diverging=diverging))
    rep = quiet_check(idata, target_accept=target_accept)
    assert rep.divergences == 3 and not rep.ok
    assert rep.messages == [f"3 divergent transition(s): raise target_accept to {next_value} "
                            "(sampler.target_accept in the spec) or use a stronger "
                            "heterogeneity prior"]


# --------------------------------------------------------------------------- (d) tree depth
def saturated_draws(share: float) -> np.ndarray:
    flat = np.zeros(CHAINS * DRAWS, bool)
    flat[:: round(1 / share)] = True
    return flat.reshape(CHAINS, DRAWS)


def test_saturated_tree_depth_fails_with_nutpie_names() -> None:
    rng = np.random.default_rng(7)
    idata = tree({"mu": rng.normal(size=(CHAINS, DRAWS))},
                 nutpie_stats(rng, saturated=saturated_draws(0.05)))
    rep = quiet_check(idata)
    assert rep.treedepth_share == pytest.approx(0.05) and rep.treedepth_limit == 10
    assert not rep.ok
    [msg] = rep.messages
    assert msg.startswith("5.0% of draws stopped at the maximum tree depth 10 (> 1%)")
    assert "sampler.tune" in msg


def test_saturated_tree_depth_fails_with_pymc_names() -> None:
    rng = np.random.default_rng(8)
    sat = saturated_draws(0.1)
    ss = xr.Dataset({"diverging": (DIMS, np.zeros(sat.shape, bool)),
                     "reached_max_treedepth": (DIMS, sat),
                     "tree_depth": (DIMS, np.where(sat, 8, 2)),
                     "energy": (DIMS, rng.normal(size=sat.shape))})
    rep = quiet_check(tree({"mu": rng.normal(size=(CHAINS, DRAWS))}, ss))
    assert rep.treedepth_share == pytest.approx(0.1) and rep.treedepth_limit == 8
    assert [m[:48] for m in rep.messages] == ["10.0% of draws stopped at the maximum tree depth"]


def test_a_few_saturated_draws_are_tolerated_but_reported() -> None:
    rng = np.random.default_rng(9)
    idata = tree({"mu": rng.normal(size=(CHAINS, DRAWS))},
                 nutpie_stats(rng, saturated=saturated_draws(0.005)))
    rep = check_convergence(idata)
    assert rep.ok and rep.treedepth_share == pytest.approx(0.005)
    assert "max tree depth in 0.5% of draws" in str(rep)


# --------------------------------------------------------------------------- (e) E-BFMI
def test_low_ebfmi_chain_is_flagged_by_number() -> None:
    rng = np.random.default_rng(10)
    energy = rng.normal(size=(CHAINS, DRAWS))
    # an AR(1) energy with rho = 0.95 has E-BFMI close to 2 (1 - rho) = 0.1
    energy[2] = ar1(rng, 0.95, chains=1)[0]
    idata = tree({"mu": rng.normal(size=(CHAINS, DRAWS))}, nutpie_stats(rng, energy=energy))
    rep = quiet_check(idata)
    expected = ebfmi(energy)
    np.testing.assert_allclose(rep.bfmi, expected, rtol=1e-12)
    assert expected[2] == pytest.approx(0.1, abs=0.05)
    assert rep.min_bfmi == pytest.approx(expected[2])
    assert not rep.ok
    [msg] = rep.messages
    assert msg.startswith(f"E-BFMI < 0.3 (chain 2: {expected[2]:.2f}):")
    assert "chain 0" not in msg and "heterogeneity prior" in msg


# --------------------------------------------------------------------------- report object
def test_to_dict_keeps_the_old_keys_and_adds_the_new_ones() -> None:
    d = check_convergence(iid_tree()).to_dict()
    assert {"max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "draws", "chains", "ok",
            "messages"} <= set(d)
    assert {"treedepth_share", "treedepth_limit", "bfmi", "min_bfmi"} <= set(d)
    assert d["min_bfmi"] == min(d["bfmi"]) and len(d["bfmi"]) == CHAINS
    json.dumps(d, allow_nan=False)


def test_report_built_without_sampler_statistics_still_serialises() -> None:
    rep = ConvergenceReport(math.nan, math.nan, math.nan, 0, 4000, 1, ok=True,
                            messages=["exact engine"])
    d = rep.to_dict()
    assert d["max_rhat"] is None and d["treedepth_share"] is None and d["min_bfmi"] is None
    assert d["bfmi"] == [] and d["treedepth_limit"] is None
    json.dumps(d, allow_nan=False)
    assert str(rep).startswith("converged: max R-hat nan")


def test_no_sample_stats_means_no_sampler_checks() -> None:
    rng = np.random.default_rng(11)
    rep = check_convergence(tree({"mu": rng.normal(size=(CHAINS, DRAWS))}))
    assert rep.ok and rep.divergences == 0 and rep.bfmi == []
    assert math.isnan(rep.treedepth_share) and rep.treedepth_limit is None


def test_warn_false_logs_but_does_not_warn(caplog) -> None:
    rng = np.random.default_rng(12)
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[0, 0] = True
    idata = tree({"mu": rng.normal(size=(CHAINS, DRAWS))}, nutpie_stats(rng, diverging=diverging))
    with warnings.catch_warnings(record=True) as caught, \
            caplog.at_level(logging.WARNING, logger="pclbayes.diagnostics"):
        warnings.simplefilter("always")
        rep = check_convergence(idata, label="quiet fit", warn=False)
    assert caught == [] and not rep.ok
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["quiet fit"]


# --------------------------------------------------------------------------- PSIS-LOO
def loo_tree(draws: int, chains: int, k_true: float) -> xr.DataTree:
    """Four observations; the importance ratios of the first have a Pareto tail of shape k.

    Ratios 1 / p(y_0 | theta_s) = u_s^(-k) with u_s evenly spaced in (0, 1) have a
    generalised-Pareto tail of shape k; the other observations barely vary.
    """
    rng = np.random.default_rng(13)
    n = chains * draws
    u = rng.permutation((np.arange(n) + 0.5) / n)
    ll = np.column_stack([k_true * np.log(u), rng.normal(-1.0, 0.05, size=(n, 3))])
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"mu": (DIMS, rng.normal(size=(chains, draws)))}),
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"),
                                            ll.reshape(chains, draws, 4))}),
    })


def loo_logged(idata: xr.DataTree, caplog) -> tuple[object, list[str]]:
    caplog.clear()
    with warnings.catch_warnings(record=True) as caught, \
            caplog.at_level(logging.WARNING, logger="pclbayes.diagnostics"):
        warnings.simplefilter("always")
        res = psis_loo(idata, "loo fit")
    assert caught == []                  # ArviZ's own paragraph is not passed on
    return res, [r.getMessage() for r in caplog.records]


def test_loo_uses_arviz_sample_size_dependent_threshold(caplog) -> None:
    # 100 draws: ArviZ's good_k = min(1 - 1/log10(100), 0.7) = 0.5
    res, logged = loo_logged(loo_tree(100, 1, 0.6), caplog)
    k = np.asarray(res.pareto_k).ravel()
    assert res.good_k == pytest.approx(0.5)
    assert 0.5 < k[0] < 0.7 and np.all(k[1:] < 0.5)     # flagged only by the draw-based limit
    assert res.warning
    assert logged == [f"loo fit: PSIS-LOO is unreliable for 1 of 4 observations (Pareto k > "
                      f"0.50, ArviZ's threshold for 100 draws; k = "
                      f"{np.round(k, 2).tolist()})"]


def test_loo_threshold_is_07_for_many_draws(caplog) -> None:
    res, logged = loo_logged(loo_tree(1000, 4, 0.9), caplog)
    assert res.good_k == pytest.approx(0.7) and res.warning
    assert len(logged) == 1 and "(Pareto k > 0.70, ArviZ's threshold for 4000 draws;" in logged[0]


def test_loo_is_silent_when_every_k_is_good(caplog) -> None:
    res, logged = loo_logged(loo_tree(1000, 4, 0.3), caplog)
    assert not res.warning and logged == []
    assert np.all(np.asarray(res.pareto_k) < res.good_k)
