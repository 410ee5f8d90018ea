r"""Exact conjugate updating of beta mixtures and beta-binomial predictive distributions.

For a prior :math:`\sum_k w_k \mathrm{Beta}(a_k, b_k)` and ``r`` responders in ``n`` patients,
the posterior is :math:`\sum_k w_k' \mathrm{Beta}(a_k + r, b_k + n - r)` with
:math:`w_k' \propto w_k \, \mathrm{BetaBin}(r \mid n, a_k, b_k)`: each component is re-weighted
by how well it predicted the data (its marginal likelihood).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes.errors import SpecError
from pclbayes.planning._common import beta_binomial_logpmf, check_count
from pclbayes.planning.mixture import BetaMixture

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BetaBinomialMixture",
    "posterior",
    "posterior_prob",
    "posterior_weights",
    "predictive",
]


def _check_data(r: int, n: int) -> tuple[int, int]:
    n = check_count(n, "n")
    r = check_count(r, "r")
    if r > n:
        raise SpecError(f"responders r={r} cannot exceed patients n={n}")
    return r, n


def posterior_weights(prior: BetaMixture, r: ArrayLike, n: int) -> NDArray[np.float64]:
    """Posterior component weights for responders ``r`` (scalar or array) out of ``n``.

    Returns an array of shape ``r.shape + (K,)``; computed in log space so that components
    with negligible marginal likelihood do not underflow to NaN.
    """
    r_arr = np.asarray(r, dtype=float)[..., None]
    with np.errstate(divide="ignore"):
        logw = np.log(prior.weights) + beta_binomial_logpmf(r_arr, n, prior.a, prior.b)
    return np.exp(logw - special.logsumexp(logw, axis=-1, keepdims=True))


def posterior(prior: BetaMixture, r: int, n: int) -> BetaMixture:
    """Return the exact posterior beta mixture after ``r`` responders in ``n`` patients.

    Parameters
    ----------
    prior : BetaMixture
        Prior for the response rate.
    r, n : int
        Responders and patients (``0 <= r <= n``).

    Returns
    -------
    BetaMixture
        Components ``Beta(a_k + r, b_k + n - r)`` with re-weighted ``w_k'``.
    """
    r, n = _check_data(r, n)
    w = posterior_weights(prior, r, n)
    return BetaMixture(w, prior.a + r, prior.b + n - r, names=prior.names)


def posterior_prob(
    prior: BetaMixture, r: ArrayLike, n: int, threshold: float, *, upper: bool = True
) -> NDArray[np.float64]:
    """Posterior probability ``P(θ > threshold | r, n)`` (or ``<`` when ``upper`` is false).

    Vectorised over ``r``; this is the quantity compared with the critical probability in a
    decision criterion.
    """
    r_arr = np.asarray(r, dtype=float)
    w = posterior_weights(prior, r_arr, n)
    a = prior.a + r_arr[..., None]
    b = prior.b + n - r_arr[..., None]
    # upper tail via the symmetry P(Beta(a, b) > t) = P(Beta(b, a) <= 1 - t)
    tail = special.betainc(b, a, 1.0 - threshold) if upper else special.betainc(a, b, threshold)
    return np.sum(w * tail, axis=-1)


class BetaBinomialMixture:
    """Predictive distribution of responders in ``n`` patients under a beta mixture.

    ``P(R = r) = Σ_k w_k BetaBin(r | n, a_k, b_k)`` for ``r = 0..n``.

    Parameters
    ----------
    mix : BetaMixture
        Distribution of the response rate (prior or posterior).
    n : int
        Number of future patients.
    """

    def __init__(self, mix: BetaMixture, n: int) -> None:
        self.mixture = mix
        self.n = check_count(n, "n")
        r = np.arange(self.n + 1, dtype=float)
        with np.errstate(divide="ignore"):
            logp = np.log(mix.weights) + beta_binomial_logpmf(r[:, None], self.n, mix.a, mix.b)
        self._pmf = np.exp(special.logsumexp(logp, axis=1))
        self._pmf.setflags(write=False)

    @property
    def support(self) -> NDArray[np.int64]:
        """Possible responder counts ``0..n``."""
        return np.arange(self.n + 1)

    def pmf(self, r: ArrayLike | None = None) -> NDArray[np.float64]:
        """Probability mass at ``r`` (all of ``0..n`` when omitted; 0 outside the support)."""
        if r is None:
            return self._pmf.copy()
        r_arr = np.asarray(r)
        inside = (r_arr >= 0) & (r_arr <= self.n) & (r_arr == np.round(r_arr))
        idx = np.where(inside, r_arr, 0).astype(int)
        return np.where(inside, self._pmf[idx], 0.0)

    def cdf(self, r: ArrayLike) -> NDArray[np.float64]:
        """``P(R <= r)``."""
        cum = np.cumsum(self._pmf)
        idx = np.floor(np.asarray(r, dtype=float))
        return np.where(idx < 0, 0.0, cum[np.clip(idx, 0, self.n).astype(int)])

    def ppf(self, q: float) -> int:
        """Smallest ``r`` with ``P(R <= r) >= q``."""
        cum = np.cumsum(self._pmf)
        return int(min(np.searchsorted(cum, q - 1e-12), self.n))

    @property
    def mean(self) -> float:
        """Expected number of responders."""
        return float(np.sum(self.support * self._pmf))

    @property
    def sd(self) -> float:
        """Standard deviation of the number of responders."""
        return float(np.sqrt(np.sum((self.support - self.mean) ** 2 * self._pmf)))

    def sample(self, size: int, rng: np.random.Generator) -> NDArray[np.int64]:
        """Draw ``size`` responder counts."""
        return rng.choice(self.n + 1, size=size, p=self._pmf / self._pmf.sum())

    def to_frame(self) -> pd.DataFrame:
        """Table of ``responders``, ``pmf`` and ``cdf``."""
        import pandas as pd

        return pd.DataFrame(
            {"responders": self.support, "pmf": self._pmf, "cdf": np.cumsum(self._pmf)}
        )

    def __str__(self) -> str:
        return (
            f"Beta-binomial mixture predictive (n = {self.n}): mean {self.mean:.3g}, "
            f"sd {self.sd:.3g}, median {self.ppf(0.5)}"
        )


def predictive(mix: BetaMixture, n: int) -> BetaBinomialMixture:
    """Return the predictive (beta-binomial mixture) distribution of responders in ``n``."""
    return BetaBinomialMixture(mix, n)


def posterior_summary(prior: BetaMixture, r: Sequence[int], n: int) -> pd.DataFrame:
    """Posterior mean, sd and weight of each component for several responder counts."""
    import pandas as pd

    rows = []
    for ri in r:
        post = posterior(prior, int(ri), n)
        row = {"responders": int(ri), "mean": post.mean, "sd": post.sd}
        row.update({f"w_{name}": w for name, w in zip(post.names, post.weights, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows)
