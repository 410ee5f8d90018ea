"""Shared validation and numerical utilities of the planning toolkit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes.errors import SpecError

#: Quantiles reported in mixture summaries and fit-quality tables.
SUMMARY_PROBS: tuple[float, ...] = (0.025, 0.5, 0.975)


def as_float_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return ``values`` as a finite 1-D float array or raise :class:`SpecError`."""
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise SpecError(
            f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise SpecError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def check_weights(weights: ArrayLike) -> NDArray[np.float64]:
    """Validate mixture weights (non-negative, summing to one within 1e-6) and renormalise."""
    w = as_float_vector(weights, "weights")
    if np.any(w < 0):
        raise SpecError(f"mixture weights must be non-negative, got {w.tolist()}")
    total = float(w.sum())
    if abs(total - 1.0) > 1e-6:
        raise SpecError(f"mixture weights must sum to 1, they sum to {total:.8g}")
    return w / total


def component_names(names: Sequence[str] | None, k: int) -> tuple[str, ...]:
    """Return ``names`` as a tuple of ``k`` unique strings (default ``comp1..compk``)."""
    if names is None:
        return tuple(f"comp{i + 1}" for i in range(k))
    out = tuple(str(n) for n in names)
    if len(out) != k:
        raise SpecError(f"{k} components need {k} names, got {len(out)}: {list(out)}")
    if len(set(out)) != k:
        raise SpecError(f"component names must be unique, got {list(out)}")
    return out


def check_probability(value: float, name: str, *, open_interval: bool = True) -> float:
    """Validate a probability in (0, 1) (or [0, 1] when ``open_interval`` is false)."""
    v = float(value)
    ok = (0.0 < v < 1.0) if open_interval else (0.0 <= v <= 1.0)
    if not np.isfinite(v) or not ok:
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise SpecError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_count(value: int, name: str, *, minimum: int = 0) -> int:
    """Validate an integer count ``>= minimum``."""
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def log_binom_coef(n: int | NDArray, r: NDArray) -> NDArray[np.float64]:
    """Return ``log(n choose r)`` elementwise."""
    return special.gammaln(n + 1.0) - special.gammaln(r + 1.0) - special.gammaln(n - r + 1.0)


def beta_binomial_logpmf(
    r: NDArray, n: int | NDArray, a: NDArray, b: NDArray
) -> NDArray[np.float64]:
    """Return the beta-binomial log-pmf ``log P(R = r | n, a, b)`` with broadcasting."""
    return log_binom_coef(n, r) + special.betaln(a + r, b + n - r) - special.betaln(a, b)


def binomial_pmf_matrix(n: int, rates: NDArray) -> NDArray[np.float64]:
    """Return the matrix ``P[i, r] = Binomial(r | n, rates[i])`` for ``r = 0..n``.

    Computed in log space, exact at the edges ``rate = 0`` and ``rate = 1``.
    """
    rates = np.asarray(rates, dtype=float)
    r = np.arange(n + 1, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (
            log_binom_coef(n, r)[None, :]
            + special.xlogy(r[None, :], rates[:, None])
            + special.xlog1py(n - r[None, :], -rates[:, None])
        )
    return np.exp(logp)
