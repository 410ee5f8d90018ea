"""Beta mixture priors for a response rate, and their robustification.

A beta mixture ``p(θ) = Σ_k w_k Beta(θ | a_k, b_k)`` is conjugate to the binomial likelihood:
the posterior after ``r`` responders in ``n`` patients is again a beta mixture (see
:mod:`pclbayes.planning.update`). Parametric mixtures approximate a meta-analytic-predictive
(MAP) prior given as Monte-Carlo draws (see :func:`pclbayes.planning.fit_beta_mixture`).

This module is the bottom layer of the planning toolkit: the distribution itself, with no
import of the modules built on it. Updating (:func:`pclbayes.planning.posterior`), prediction
(:func:`pclbayes.planning.predictive`) and the effective sample size
(:func:`pclbayes.planning.ess`) are functions of those modules that take a mixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes.errors import SpecError
from pclbayes.planning._common import (
    SUMMARY_PROBS,
    as_float_vector,
    check_probability,
    check_weights,
    component_names,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BetaMixture", "robustify"]


class BetaMixture:
    """Mixture of beta distributions for a probability ``θ`` in (0, 1).

    Parameters
    ----------
    weights : array_like
        Non-negative component weights summing to one.
    a, b : array_like
        Positive shape parameters of each component (``a`` ~ responders, ``b`` ~
        non-responders of a Beta(a, b) "pseudo-sample" of size ``a + b``).
    names : sequence of str, optional
        Component labels (default ``comp1``, ``comp2``, ...).

    Examples
    --------
    >>> prior = BetaMixture([0.8, 0.2], [10, 1], [2, 1], names=["inf", "robust"])
    >>> round(prior.mean, 4)
    0.7667
    """

    __slots__ = ("_a", "_b", "_names", "_w")

    def __init__(
        self,
        weights: ArrayLike,
        a: ArrayLike,
        b: ArrayLike,
        names: Sequence[str] | None = None,
    ) -> None:
        w = check_weights(weights)
        a_arr = as_float_vector(a, "a")
        b_arr = as_float_vector(b, "b")
        if not (w.size == a_arr.size == b_arr.size):
            raise SpecError(
                f"weights, a and b must have the same length, got {w.size}, {a_arr.size}, "
                f"{b_arr.size}"
            )
        if np.any(a_arr <= 0) or np.any(b_arr <= 0):
            raise SpecError(
                f"beta shape parameters must be > 0, got a={a_arr.tolist()}, b={b_arr.tolist()}"
            )
        for arr in (w, a_arr, b_arr):
            arr.setflags(write=False)
        self._w, self._a, self._b = w, a_arr, b_arr
        self._names = component_names(names, w.size)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def single(cls, a: float, b: float, name: str = "comp1") -> BetaMixture:
        """Return a one-component mixture Beta(a, b)."""
        return cls([1.0], [a], [b], names=[name])

    @classmethod
    def from_mean_n(
        cls, weights: ArrayLike, mean: ArrayLike, n: ArrayLike, names: Sequence[str] | None = None
    ) -> BetaMixture:
        """Build a mixture from component means and pseudo-sample sizes ``n = a + b``."""
        m = as_float_vector(mean, "mean")
        size = as_float_vector(n, "n")
        if np.any((m <= 0) | (m >= 1)) or np.any(size <= 0):
            raise SpecError("component means must lie in (0, 1) and sizes n must be > 0")
        return cls(weights, m * size, (1 - m) * size, names=names)

    # ------------------------------------------------------------------ parameters
    @property
    def weights(self) -> NDArray[np.float64]:
        """Component weights (read-only)."""
        return self._w

    @property
    def a(self) -> NDArray[np.float64]:
        """First shape parameters (read-only)."""
        return self._a

    @property
    def b(self) -> NDArray[np.float64]:
        """Second shape parameters (read-only)."""
        return self._b

    @property
    def names(self) -> tuple[str, ...]:
        """Component labels."""
        return self._names

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(self._w.size)

    # ------------------------------------------------------------------ moments
    @property
    def mean(self) -> float:
        """Mixture mean ``Σ w_k a_k / (a_k + b_k)``."""
        return float(np.sum(self._w * self._a / (self._a + self._b)))

    @property
    def var(self) -> float:
        """Mixture variance ``E[θ²] - E[θ]²`` from the component second moments."""
        a, b = self._a, self._b
        second = a * (a + 1) / ((a + b) * (a + b + 1))
        return float(max(np.sum(self._w * second) - self.mean**2, 0.0))

    @property
    def sd(self) -> float:
        """Mixture standard deviation."""
        return float(np.sqrt(self.var))

    # ------------------------------------------------------------------ densities
    def _component_logpdf(self, x: NDArray) -> NDArray[np.float64]:
        from scipy import stats  # here: importing scipy.stats takes a fraction of a second

        xb = np.asarray(x, dtype=float)[..., None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = stats.beta.logpdf(xb, self._a, self._b)
        return np.where((xb < 0) | (xb > 1), -np.inf, out)

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density at ``x`` (``-inf`` outside [0, 1])."""
        with np.errstate(divide="ignore"):
            lw = np.log(self._w)
        return special.logsumexp(self._component_logpdf(np.asarray(x)) + lw, axis=-1)

    def pdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Density at ``x``."""
        return np.exp(self.logpdf(x))

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Cumulative distribution function ``P(θ <= x)``."""
        xb = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)[..., None]
        return np.sum(self._w * special.betainc(self._a, self._b, xb), axis=-1)

    def sf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Survival function ``P(θ > x)``, accurate in the upper tail."""
        xb = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)[..., None]
        # P(X > x) for X ~ Beta(a, b) equals P(Y <= 1 - x) for Y ~ Beta(b, a): accurate in the
        # upper tail and much faster than the complemented incomplete beta function.
        return np.sum(self._w * special.betainc(self._b, self._a, 1.0 - xb), axis=-1)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function, by root finding on the mixture cdf (absolute tolerance 1e-12)."""
        q_arr = np.asarray(q, dtype=float)
        if np.any((q_arr < 0) | (q_arr > 1)) or not np.all(np.isfinite(q_arr)):
            raise SpecError(f"probabilities must lie in [0, 1], got {q_arr.tolist()}")
        out = np.empty_like(q_arr, dtype=float)
        from scipy import optimize

        # Bracket each quantile between the extreme component quantiles.
        for idx, qi in np.ndenumerate(q_arr):
            if qi <= 0.0 or qi >= 1.0:
                out[idx] = qi
                continue
            lo = float(np.min(special.betaincinv(self._a, self._b, qi)))
            hi = float(np.max(special.betaincinv(self._a, self._b, qi)))
            if hi - lo < 1e-15:
                out[idx] = lo
                continue
            out[idx] = optimize.brentq(
                lambda x, qi=qi: float(self.cdf(x)) - qi, lo, hi, xtol=1e-13, rtol=1e-13
            )
        return out

    def interval(self, prob: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval with coverage ``prob``."""
        p = check_probability(prob, "prob")
        lo, hi = self.ppf([(1 - p) / 2, (1 + p) / 2])
        return float(lo), float(hi)

    def sample(self, size: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """Draw ``size`` values using the generator ``rng``."""
        comp = rng.choice(self.n_components, size=size, p=self._w)
        return rng.beta(self._a[comp], self._b[comp])

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """Components as a table: weight, a, b, component mean and size ``n = a + b``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "weight": self._w,
                "a": self._a,
                "b": self._b,
                "mean": self._a / (self._a + self._b),
                "n": self._a + self._b,
            },
            index=pd.Index(self._names, name="component"),
        )

    def summary(self, probs: Sequence[float] = SUMMARY_PROBS) -> pd.DataFrame:
        """One-row table with mean, sd and the quantiles ``probs`` of the mixture."""
        import pandas as pd

        qs = self.ppf(np.asarray(probs, dtype=float))
        row: dict[str, float] = {"mean": self.mean, "sd": self.sd}
        row.update({f"q{100 * p:g}": float(v) for p, v in zip(probs, qs, strict=True)})
        return pd.DataFrame([row], index=pd.Index(["theta"], name="parameter"))

    def __str__(self) -> str:
        table = self.to_frame()[["weight", "a", "b"]].T
        lo, hi = self.interval(0.95)
        return (
            f"Beta mixture ({self.n_components} component{'s' * (self.n_components > 1)})\n"
            f"{table.to_string(float_format=lambda v: f'{v:.4g}')}\n"
            f"mean {self.mean:.4g}, sd {self.sd:.4g}, 95% interval [{lo:.4g}, {hi:.4g}]"
        )

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{n}=({w:.6g}, {a:.6g}, {b:.6g})"
            for n, w, a, b in zip(self._names, self._w, self._a, self._b, strict=True)
        )
        return f"BetaMixture({parts})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BetaMixture):
            return NotImplemented
        return (
            self._names == other._names
            and np.array_equal(self._w, other._w)
            and np.array_equal(self._a, other._a)
            and np.array_equal(self._b, other._b)
        )

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ verbs
    def robustify(
        self, weight: float = 0.2, mean: float | None = None, n: float = 1
    ) -> BetaMixture:
        """Add a weakly-informative component; see :func:`robustify`."""
        return robustify(self, weight=weight, mean=mean, n=n)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Register this prior as the random variable ``name`` in the current PyMC model.

        ``pm.Beta`` for one component, else ``pm.Mixture`` of ``pm.Beta`` components. Extra
        keyword arguments (e.g. ``dims``) are passed to PyMC. Call it inside a
        ``with pm.Model():`` block; :func:`pclbayes.planning.to_pymc` is the same for any prior.
        """
        import pymc as pm

        if self.n_components == 1:
            return pm.Beta(name, alpha=float(self._a[0]), beta=float(self._b[0]), **kwargs)
        comps = [
            pm.Beta.dist(alpha=float(a), beta=float(b))
            for a, b in zip(self._a, self._b, strict=True)
        ]
        return pm.Mixture(name, w=np.asarray(self._w), comp_dists=comps, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form used in JSON files (see :mod:`pclbayes.planning.io`)."""
        return {
            "family": "beta",
            "components": [
                {"name": n, "weight": float(w), "a": float(a), "b": float(b)}
                for n, w, a, b in zip(self._names, self._w, self._a, self._b, strict=True)
            ],
        }


def robustify(
    mix: BetaMixture, weight: float = 0.2, mean: float | None = None, n: float = 1
) -> BetaMixture:
    """Add a weakly-informative ("robust") component to a beta mixture.

    The robust prior is ``(1 - weight) · mix + weight · Beta(mean·(n+1), (1-mean)·(n+1))``
    (Schmidli et al. 2014). Under prior-data conflict the posterior weight of the robust
    component grows and the posterior follows the new data instead of the historical
    evidence, which bounds the type-I error inflation of borrowing.

    Choice of the component: a *unit-information* prior is worth about one patient. As in
    RBesT, the pseudo-sample size is ``n + 1`` so that the default (``n = 1``, ``mean = 0.5``)
    is the uniform Beta(1, 1) rather than the strict unit-information Beta(1/2, 1/2), whose
    density is unbounded at 0 and 1. Set ``mean`` to the null response rate of the planned
    trial, so the robust component is centred where conflict matters; with ``mean`` far from
    1/2 and ``n = 1`` one shape parameter falls below 1 (e.g. mean 0.2 → Beta(0.4, 1.6)).

    Parameters
    ----------
    mix : BetaMixture
        Informative (e.g. MAP) prior.
    weight : float, default 0.2
        Prior weight of the robust component, in (0, 1). The informative weights are scaled by
        ``1 - weight``.
    mean : float, optional
        Mean of the robust component (default 0.5).
    n : float, default 1
        Information of the robust component in patients (pseudo-sample ``n + 1``).

    Returns
    -------
    BetaMixture
        Mixture with an extra component named ``robust``.
    """
    w = check_probability(weight, "weight")
    m = 0.5 if mean is None else check_probability(mean, "mean")
    if not np.isfinite(n) or n <= 0:
        raise SpecError(f"n must be > 0, got {n!r}")
    if "robust" in mix.names:
        raise SpecError("the mixture already has a component named 'robust'")
    size = float(n) + 1.0
    return BetaMixture(
        np.append(mix.weights * (1 - w), w),
        np.append(mix.a, m * size),
        np.append(mix.b, (1 - m) * size),
        names=[*mix.names, "robust"],
    )
