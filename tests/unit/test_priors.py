"""Prior distributions against independent numerical integration and against scipy.stats."""

from __future__ import annotations

import pytest


def test_half_student_t_prior_mean_against_quadrature():
    import numpy as np
    from scipy import integrate

    from pclbayes.priors import Prior

    for nu, sigma in ((3, 1.0), (5, 2.5)):
        dist = Prior.parse(f"HalfStudentT(nu={nu}, sigma={sigma})").frozen()
        expected = integrate.quad(lambda x, d=dist: x * d.pdf(x), 0, np.inf)[0]
        assert dist.mean() == pytest.approx(expected, rel=1e-8)


# Beta and Gamma priors answer without scipy.stats: the same numbers as scipy.stats, bit for bit
SCIPY_FREE = [("Beta", {"alpha": a, "beta": b})
              for a, b in ((1, 1), (0.5, 0.5), (2, 3), (0.01, 50), (300, 0.2), (1, 7), (7, 1))]
SCIPY_FREE += [("Gamma", {"alpha": a, "beta": b})
               for a, b in ((2, 0.1), (2, 0.05), (0.3, 3), (1, 1), (50, 0.001), (1e-3, 10))]


def _same(a, b) -> bool:
    import numpy as np

    return (type(a) is type(b) and np.shape(a) == np.shape(b)
            and np.array_equal(a, b, equal_nan=True))


def _logpdf(dist, x):
    """``dist.logpdf(x)`` and the warnings it gives (inf - inf at x = inf for a Gamma)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = dist.logpdf(x)
    return out, [str(w.message) for w in caught]


@pytest.mark.parametrize(("dist", "params"), SCIPY_FREE,
                         ids=[f"{d}({p['alpha']:g},{p['beta']:g})" for d, p in SCIPY_FREE])
def test_beta_and_gamma_priors_give_the_scipy_numbers_without_scipy_stats(dist, params):
    import numpy as np

    from pclbayes.priors import Prior

    prior = Prior(dist, {k: float(v) for k, v in params.items()})
    ref, own = prior.frozen(), prior.distribution()
    assert own is not ref and type(own).__module__ == "pclbayes.priors"
    rng = np.random.default_rng(5)
    edges = np.array([-1.0, -0.0, 0.0, 1e-300, 1e-12, 0.3, 1 - 1e-12, 1.0, 1.5, 20.0, 1e300,
                      np.inf, -np.inf, np.nan])
    for x in (edges, rng.uniform(0, 1, (7, 9)), np.exp(rng.uniform(-20, 8, 500)),
              np.array(0.4), 0.25, 3, np.arange(5)):
        (got, said), (want, warned) = _logpdf(own, x), _logpdf(ref, x)
        assert _same(got, want) and said == warned, x
        assert _same(_logpdf(prior, x)[0], want), x
    probs = np.array([-0.1, 0.0, 1e-300, 1e-12, 0.025, 0.5, 0.975, 1 - 1e-12, 1.0, 1.1, np.nan])
    for q in (probs, [1e-12, 1 - 1e-12], (0.025, 0.5, 0.975), 0.3, rng.uniform(0, 1, (4, 5)),
              [0, 1]):
        assert _same(own.ppf(q), ref.ppf(q)), q
    assert _same(own.mean(), ref.mean()) and _same(own.std(), ref.std())
    for size in (1, 1000, (100, 3), (2, 50, 4)):
        draws = own.rvs(size=size, random_state=np.random.default_rng(11))
        assert _same(draws, ref.rvs(size=size, random_state=np.random.default_rng(11)))
        assert _same(prior.rvs(size, np.random.default_rng(11)), draws)


def test_other_priors_use_the_frozen_scipy_distribution():
    from pclbayes.priors import Prior

    for text in ("Normal(mu=0, sigma=1)", "HalfNormal(sigma=1)", "Uniform(lower=0, upper=1)",
                 "HalfStudentT(nu=3, sigma=1)"):
        prior = Prior.parse(text)
        assert prior.distribution() is prior.frozen()


@pytest.mark.parametrize(("text", "message"), [
    ("Gamma(alpha=0, beta=1)", "Gamma(alpha=0, beta=1): Gamma alpha = 0 must be > 0"),
    ("Beta(alpha=1, beta=-2)", "Beta(alpha=1, beta=-2): Beta beta = -2 must be > 0"),
    ("Uniform(lower=1, upper=1)",
     "Uniform(lower=1, upper=1): Uniform upper = 1 must be > lower = 1"),
])
def test_invalid_parameters_are_rejected_when_parsed(text, message):
    from pclbayes.errors import SpecError
    from pclbayes.priors import Prior

    with pytest.raises(SpecError) as info:
        Prior.parse(text)
    assert str(info.value) == message
