"""OC across robust weights: success sets by quadrature of each robust prior, binomial sums."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import integrate, stats

from pclbayes.cli import main
from pclbayes.errors import SpecError
from pclbayes.planning import (
    BetaMixture,
    decision_rule,
    informative_part,
    oc_by_robust_weight,
    robustify,
    save_prior,
)

MAP = BetaMixture([0.6, 0.4], [12.0, 3.0], [20.0, 5.0])  # informative, mean about 0.38


def _prob_success(w: float, n: int, theta: float, thr: float = 0.3, c: float = 0.9) -> float:
    """P(success) with the prior (1-w) MAP + w Beta(1, 1): posterior tail by quadrature."""
    def prior(t: float) -> float:
        return float((1 - w) * np.dot(MAP.weights, stats.beta.pdf(t, MAP.a, MAP.b)) + w)
    ok = []
    for r in range(n + 1):
        def dens(t: float, r: int = r) -> float:
            return prior(t) * t**r * (1 - t) ** (n - r)
        z = integrate.quad(dens, 0, 1, epsabs=0, limit=200)[0]
        ok.append(integrate.quad(dens, thr, 1, epsabs=0, limit=200)[0] / z > c)
    r = np.arange(n + 1)
    return float(stats.binom.pmf(r, n, theta)[np.array(ok)].sum())


@pytest.mark.heavy
def test_oc_by_robust_weight_matches_quadrature():
    n, rates = 15, [0.2, 0.3, 0.5]
    res = oc_by_robust_weight(robustify(MAP, 0.2), n, decision_rule(0.3, 0.9), rates)
    assert res.weights == (0.0, 0.1, 0.2, 0.5) and res.robust_mean == 0.5
    for w in res.weights:
        for i, theta in enumerate(rates):
            assert res.table[f"w={w:g}"][i] == pytest.approx(_prob_success(w, n, theta),
                                                             abs=1e-12)
    # the type-I error at the null rate does not grow with the robust weight here
    null = res.table.iloc[1, 1:].to_numpy()
    assert np.all(np.diff(null) <= 1e-12)


def test_informative_part_drops_the_robust_component():
    base, mean = informative_part(robustify(MAP, 0.3, mean=0.2))
    assert base.weights == pytest.approx(MAP.weights, abs=1e-15)
    assert list(base.a) == list(MAP.a) and list(base.b) == list(MAP.b)
    assert mean == pytest.approx(0.2)
    assert informative_part(MAP) == (MAP, None)
    with pytest.raises(SpecError, match="robust weights must lie in"):
        oc_by_robust_weight(MAP, 10, decision_rule(0.3, 0.9), [0.3], [0.2, 1.0])


def test_plan_oc_robust_weights_cli(tmp_path, capsys):
    path = tmp_path / "map.json"
    save_prior(robustify(MAP, 0.2), path)
    code = main(["plan", "oc", "--prior", str(path), "--n", "15", "--threshold", "0.3",
                 "--prob", "0.9", "--true", "0.3", "--robust-weights", "0,0.5", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["weights"] == [0.0, 0.5]
    assert res["oc"][0]["w=0.5"] == pytest.approx(_prob_success(0.5, 15, 0.3), abs=1e-12)
    code = main(["plan", "oc", "--prior", str(path), "--n", "15", "--threshold", "0.3",
                 "--prob", "0.9", "--robust-mean", "0.3"])
    assert code == 2 and "--robust-weights" in capsys.readouterr().err
    code = main(["plan", "oc", "--prior", str(path), "--n", "15", "--threshold", "0.3",
                 "--prob", "0.9", "--robust-weights", "0.1,0.1"])
    assert code == 2
    assert "--robust-weights: each weight once, got 0.1,0.1" in capsys.readouterr().err
