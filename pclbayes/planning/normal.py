"""Normal mixtures, used as priors for a log-scale parameter (e.g. log median PFS)."""

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

__all__ = ["NormalMixture"]


class NormalMixture:
    """Mixture of normal distributions ``Σ_k w_k N(μ_k, sigma_k^2)``.

    Parameters
    ----------
    weights : array_like
        Non-negative weights summing to one.
    means : array_like
        Component means.
    sds : array_like
        Positive component standard deviations.
    names : sequence of str, optional
        Component labels (default ``comp1``, ``comp2``, ...).
    """

    __slots__ = ("_m", "_names", "_s", "_w")

    def __init__(
        self,
        weights: ArrayLike,
        means: ArrayLike,
        sds: ArrayLike,
        names: Sequence[str] | None = None,
    ) -> None:
        w = check_weights(weights)
        m = as_float_vector(means, "means")
        s = as_float_vector(sds, "sds")
        if not (w.size == m.size == s.size):
            raise SpecError(
                f"weights, means and sds must have the same length, got {w.size}, {m.size}, "
                f"{s.size}"
            )
        if np.any(s <= 0):
            raise SpecError(f"standard deviations must be > 0, got {s.tolist()}")
        for arr in (w, m, s):
            arr.setflags(write=False)
        self._w, self._m, self._s = w, m, s
        self._names = component_names(names, w.size)

    @property
    def weights(self) -> NDArray[np.float64]:
        """Component weights (read-only)."""
        return self._w

    @property
    def means(self) -> NDArray[np.float64]:
        """Component means (read-only)."""
        return self._m

    @property
    def sds(self) -> NDArray[np.float64]:
        """Component standard deviations (read-only)."""
        return self._s

    @property
    def names(self) -> tuple[str, ...]:
        """Component labels."""
        return self._names

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(self._w.size)

    @property
    def mean(self) -> float:
        """Mixture mean."""
        return float(np.sum(self._w * self._m))

    @property
    def var(self) -> float:
        """Mixture variance ``Σ w_k (sigma_k^2 + μ_k²) - mean²``."""
        return float(max(np.sum(self._w * (self._s**2 + self._m**2)) - self.mean**2, 0.0))

    @property
    def sd(self) -> float:
        """Mixture standard deviation."""
        return float(np.sqrt(self.var))

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density."""
        from scipy import stats  # here: importing scipy.stats takes a fraction of a second

        xb = np.asarray(x, dtype=float)[..., None]
        with np.errstate(divide="ignore"):
            lw = np.log(self._w)
        return special.logsumexp(lw + stats.norm.logpdf(xb, self._m, self._s), axis=-1)

    def pdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Density."""
        return np.exp(self.logpdf(x))

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Cumulative distribution function."""
        xb = np.asarray(x, dtype=float)[..., None]
        return np.sum(self._w * special.ndtr((xb - self._m) / self._s), axis=-1)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function by root finding on the cdf."""
        q_arr = np.asarray(q, dtype=float)
        if np.any((q_arr <= 0) | (q_arr >= 1)) or not np.all(np.isfinite(q_arr)):
            raise SpecError(f"probabilities must lie in (0, 1), got {q_arr.tolist()}")
        out = np.empty_like(q_arr, dtype=float)
        from scipy import optimize

        for idx, qi in np.ndenumerate(q_arr):
            comp = self._m + self._s * special.ndtri(qi)
            lo, hi = float(comp.min()), float(comp.max())
            if hi - lo < 1e-14 * max(1.0, abs(hi)):
                out[idx] = lo
                continue
            out[idx] = optimize.brentq(
                lambda x, qi=qi: float(self.cdf(x)) - qi, lo, hi, xtol=1e-13, rtol=1e-13
            )
        return out

    def interval(self, prob: float = 0.95) -> tuple[float, float]:
        """Equal-tailed interval with coverage ``prob``."""
        p = check_probability(prob, "prob")
        lo, hi = self.ppf([(1 - p) / 2, (1 + p) / 2])
        return float(lo), float(hi)

    def sample(self, size: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """Draw ``size`` values with the generator ``rng``."""
        comp = rng.choice(self.n_components, size=size, p=self._w)
        return rng.normal(self._m[comp], self._s[comp])

    def to_frame(self) -> pd.DataFrame:
        """Components as a table (weight, mean, sd)."""
        import pandas as pd

        return pd.DataFrame(
            {"weight": self._w, "mean": self._m, "sd": self._s},
            index=pd.Index(self._names, name="component"),
        )

    def summary(self, probs: Sequence[float] = SUMMARY_PROBS) -> pd.DataFrame:
        """One-row table with mean, sd and quantiles."""
        import pandas as pd

        qs = self.ppf(np.asarray(probs, dtype=float))
        row: dict[str, float] = {"mean": self.mean, "sd": self.sd}
        row.update({f"q{100 * p:g}": float(v) for p, v in zip(probs, qs, strict=True)})
        return pd.DataFrame([row], index=pd.Index(["x"], name="parameter"))

    def __str__(self) -> str:
        table = self.to_frame().T
        lo, hi = self.interval(0.95)
        return (
            f"Normal mixture ({self.n_components} component{'s' * (self.n_components > 1)})\n"
            f"{table.to_string(float_format=lambda v: f'{v:.4g}')}\n"
            f"mean {self.mean:.4g}, sd {self.sd:.4g}, 95% interval [{lo:.4g}, {hi:.4g}]"
        )

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{n}=({w:.6g}, {m:.6g}, {s:.6g})"
            for n, w, m, s in zip(self._names, self._w, self._m, self._s, strict=True)
        )
        return f"NormalMixture({parts})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalMixture):
            return NotImplemented
        return (
            self._names == other._names
            and np.array_equal(self._w, other._w)
            and np.array_equal(self._m, other._m)
            and np.array_equal(self._s, other._s)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Register this prior as the random variable ``name`` in the current PyMC model.

        ``pm.Normal`` for one component, else ``pm.NormalMixture``. Extra keyword arguments
        (e.g. ``dims``) are passed to PyMC. Call it inside a ``with pm.Model():`` block;
        :func:`pclbayes.planning.to_pymc` is the same for any prior.
        """
        import pymc as pm

        if self.n_components == 1:
            return pm.Normal(name, mu=float(self._m[0]), sigma=float(self._s[0]), **kwargs)
        return pm.NormalMixture(
            name,
            w=np.asarray(self._w),
            mu=np.asarray(self._m),
            sigma=np.asarray(self._s),
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form used in JSON files."""
        return {
            "family": "normal",
            "components": [
                {"name": n, "weight": float(w), "mean": float(m), "sd": float(s)}
                for n, w, m, s in zip(self._names, self._w, self._m, self._s, strict=True)
            ],
        }
