r"""MAP-style prior for a new cohort's log median progression-free survival (PFS).

The survival model provides posterior-predictive draws of a new cohort's median PFS (months).
On the log scale these are approximated by a normal mixture (EM, 1-3 components), which is
a convenient prior for ``log(median)`` in a new analysis (see :mod:`pclbayes.planning.io` for
the PyMC export).

The effective sample size of such a prior, in events, is
:func:`pclbayes.planning.ess_events` (module :mod:`pclbayes.planning.ess`, with the
derivation). This module also gives the predictive number of events of a planned trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes.errors import SpecError
from pclbayes.planning._common import binomial_pmf_matrix, check_count
from pclbayes.planning.fit import MixtureFit, fit_normal_mixture
from pclbayes.planning.normal import NormalMixture

__all__ = [
    "EventCountPredictive",
    "event_probability",
    "log_median_prior",
    "predictive_events",
]


def log_median_prior(
    median_draws: ArrayLike, max_components: int = 3, **fit_kwargs: Any
) -> MixtureFit:
    """Fit a normal mixture to ``log(median_draws)``.

    Parameters
    ----------
    median_draws : array_like
        Posterior-predictive draws of a new cohort's median PFS (positive, e.g. months).
    max_components : int, default 3
        Largest number of normal components tried.
    **fit_kwargs
        Passed to :func:`pclbayes.planning.fit_normal_mixture` (e.g. ``rng``, ``penalty``).

    Returns
    -------
    MixtureFit
        ``.mixture`` is a :class:`NormalMixture` for the log median.
    """
    x = np.asarray(median_draws, dtype=float).ravel()
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise SpecError("median draws must be finite and positive")
    return fit_normal_mixture(np.log(x), max_components=max_components, **fit_kwargs)


CHUNK_CELLS = 2**20
"""Binomial pmf values computed at once by :func:`predictive_events` (8 MB of floats)."""

DRAW_CHUNK = 1_000_000
"""Prior draws made at once by :func:`predictive_events`."""


# ---------------------------------------------------------------------------- events
def event_probability(
    median: ArrayLike, *, shape: float, accrual: float, analysis_time: float
) -> NDArray[np.float64]:
    r"""Probability that a planned patient has progressed by the analysis.

    Patients enter uniformly over ``[0, accrual]`` months; the analysis is at
    ``analysis_time``. With Weibull survival :math:`S(u) = \exp(-(u/\lambda)^k)`,
    :math:`\lambda = \mathrm{median}/(\log 2)^{1/k}`,

    .. math:: p = \frac{1}{A}\int_{\max(T-A,0)}^{T} \{1 - S(u)\}\,du, \qquad
       \int_0^x S(u)\,du = \lambda\,\Gamma(1 + 1/k)\,P(1/k, (x/\lambda)^k),

    with :math:`P` the regularised lower incomplete gamma function. Patients not yet enrolled
    at ``analysis_time`` count as event-free. Drop-out is ignored.
    """
    med = np.asarray(median, dtype=float)
    if np.any(med <= 0) or not np.all(np.isfinite(med)):
        raise SpecError("medians must be finite and positive")
    for name, value, ok, rule in (("shape", shape, shape > 0, "> 0"),
                                  ("accrual", accrual, accrual >= 0, ">= 0 (0: all at once)"),
                                  ("analysis_time", analysis_time, analysis_time > 0, "> 0")):
        if not (ok and np.isfinite(value)):
            raise SpecError(f"{name} must be {rule}, got {value!r}")
    k = float(shape)
    lam = med / np.log(2.0) ** (1.0 / k)
    if accrual == 0:
        return -np.expm1(-((analysis_time / lam) ** k))

    def int_surv(x: float) -> NDArray:
        return lam * special.gamma(1 + 1 / k) * special.gammainc(1 / k, (x / lam) ** k)

    upper = float(analysis_time)
    lower = max(analysis_time - accrual, 0.0)
    integral_f = (upper - lower) - (int_surv(upper) - int_surv(lower))
    return np.clip(integral_f / accrual, 0.0, 1.0)


@dataclass(frozen=True)
class EventCountPredictive:
    """Predictive distribution of the number of progressions at the analysis.

    Attributes
    ----------
    pmf : ndarray
        ``P(events = e)`` for ``e = 0..n``.
    n, accrual, analysis_time, shape : int, float, float, float
        Design inputs.
    n_draws : int
        Prior draws averaged over.
    """

    pmf: NDArray[np.float64]
    n: int
    accrual: float
    analysis_time: float
    shape: float
    n_draws: int

    @property
    def mean(self) -> float:
        """Expected number of events."""
        return float(np.arange(self.n + 1) @ self.pmf)

    def ppf(self, q: float) -> int:
        """Smallest event count with cumulative probability ``>= q``."""
        return int(min(np.searchsorted(np.cumsum(self.pmf), q - 1e-12), self.n))

    def prob_at_least(self, events: int) -> float:
        """``P(events >= e)``."""
        return float(self.pmf[max(int(events), 0) :].sum())

    def to_frame(self) -> pd.DataFrame:
        """Table of ``events``, ``pmf`` and ``cdf``."""
        return pd.DataFrame(
            {"events": np.arange(self.n + 1), "pmf": self.pmf, "cdf": np.cumsum(self.pmf)}
        )

    def __str__(self) -> str:
        return (
            f"Predictive number of progressions: {self.n} patients accrued over "
            f"{self.accrual:g} months, analysis at month {self.analysis_time:g}, Weibull shape "
            f"{self.shape:g}\nmean {self.mean:.2f}, median {self.ppf(0.5)}, 90% interval "
            f"[{self.ppf(0.05)}, {self.ppf(0.95)}] ({self.n_draws} prior draws)"
        )


def predictive_events(
    prior: NormalMixture,
    *,
    n: int,
    accrual: float,
    analysis_time: float,
    shape: float = 1.0,
    n_draws: int = 10_000,
    rng: np.random.Generator,
    progress: Callable[[int, int], None] | None = None,
) -> EventCountPredictive:
    r"""Predictive pmf of the number of progressions by ``analysis_time``.

    For each of ``n_draws`` draws :math:`m_j` of the median from ``prior`` the per-patient
    event probability :math:`p_j` is exact (:func:`event_probability`) and the count is
    Binomial(n, :math:`p_j`); the pmf is the average of these binomial pmfs (Monte-Carlo only
    over the prior),

    .. math:: P(E = e) = \frac{1}{M} \sum_{j=1}^{M} \binom{n}{e} p_j^e (1 - p_j)^{n-e}.

    The sum is accumulated in chunks: the medians are drawn :data:`DRAW_CHUNK` at a time and
    the binomial pmfs computed :data:`CHUNK_CELLS` values at a time, so memory stays
    proportional to ``n`` whatever ``n_draws`` is. ``progress(done, n_draws)`` is called
    after each chunk.
    """
    n = check_count(n, "n", minimum=1)
    n_draws = check_count(n_draws, "n_draws", minimum=1)
    rows = max(1, CHUNK_CELLS // (n + 1))
    total = np.zeros(n + 1)
    done = 0
    while done < n_draws:
        size = min(DRAW_CHUNK, n_draws - done)
        medians = np.exp(prior.sample(size, rng))
        p = event_probability(medians, shape=shape, accrual=accrual, analysis_time=analysis_time)
        for start in range(0, size, rows):
            total += binomial_pmf_matrix(n, p[start : start + rows]).sum(axis=0)
            if progress is not None:
                progress(done + min(start + rows, size), n_draws)
        done += size
    pmf = total / n_draws
    return EventCountPredictive(
        pmf=pmf / pmf.sum(),
        n=n,
        accrual=float(accrual),
        analysis_time=float(analysis_time),
        shape=float(shape),
        n_draws=n_draws,
    )
