r"""Predictive checks shared by every model family: the table schema and the p-values.

Every family's ``check_table()`` returns one tidy frame with the columns of
:data:`CHECK_COLUMNS`, one row per (cohort, check). The p-values of counts come from the
exact probability mass function of the reference (predictive) distribution, so they carry
no Monte Carlo noise beyond that of the stored draws the distribution averages over.

p-values of a discrete statistic
--------------------------------
For an observed count :math:`y` and a reference distribution with mass function :math:`f`,
write :math:`F^-(y) = P(Y < y)`, :math:`f(y) = P(Y = y)` and :math:`F^+(y) = P(Y > y)`.

* ``mid`` (the default): the two-sided **mid-p** value
  :math:`p = \min\{1,\; 2\min(F^-(y) + \tfrac12 f(y),\; F^+(y) + \tfrac12 f(y))\}`
  (Lancaster 1961). It counts half the probability of the observed value, so that under the
  reference distribution its mean is 1/2 and its size is close to nominal even for a cohort
  of two patients.
* ``standard``: :math:`p = \min\{1,\; 2\min(P(Y \le y), P(Y \ge y))\}`. It never exceeds its
  nominal size, but with a few patients it is very conservative: for a cohort of two it
  cannot fall below :math:`2\min(f(0), f(2))`.

A p-value near 1 means that the observed value sits in the middle of the reference
distribution (nothing unusual); a small one, that it sits in a tail. A check flags a row
when :math:`p <` :data:`ALPHA` (two-sided 5%). With several cohorts and checks some flags
are expected by chance (about one in twenty rows under a correct model).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.errors import SpecError

#: Columns of every ``check_table()``: the cohort (``"all"`` for a statistic over all
#: cohorts) and its patients or episodes ``n``; the ``check`` and the checked ``statistic``;
#: the ``observed`` value, the mean (``expected``) and the 95% interval (``lower``,
#: ``upper``) of its reference distribution; the ``p_value``, how it was computed
#: (``p_method``), whether it is flagged (``flag``: ``p_value <`` :data:`ALPHA`) and a
#: ``note`` (what the reference distribution is, and its limits).
CHECK_COLUMNS = ("cohort", "n", "check", "statistic", "observed", "expected", "lower",
                 "upper", "p_value", "p_method", "flag", "note")

#: Flag threshold of every check (two-sided, or upper-tail for a dispersion statistic).
ALPHA = 0.05

#: Ways to compute the p-value of a discrete statistic (see the module docstring).
P_METHODS = ("mid", "standard")

#: ``prior_sd_ratio`` above which a summary row is flagged ``mostly_prior``.
#:
#: Under a normal approximation the posterior precision is the prior precision plus the
#: data's, so :math:`r^2 = \mathrm{SD}^2_{\text{post}} / \mathrm{SD}^2_{\text{prior}}` is the
#: share of the posterior information that comes from the prior. :math:`r > 0.7` means
#: :math:`r^2 > 0.49`: the prior supplies about half of what is known or more, i.e. the data
#: weigh no more than the prior does.
MOSTLY_PRIOR_RATIO = 0.7


def check_method(method: str) -> str:
    """Validate a p-value method name (one of :data:`P_METHODS`)."""
    if method not in P_METHODS:
        raise SpecError(f"p-value method must be one of {', '.join(P_METHODS)}, got {method!r}")
    return method


def check_alpha(alpha: Any) -> float:
    """Validate a flag threshold: a number strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise SpecError(f"alpha must be a number between 0 and 1, got {alpha!r}")
    return float(alpha)


def tails(pmf: np.ndarray, y: int) -> tuple[float, float, float]:
    """``P(Y < y), P(Y = y), P(Y > y)`` of a mass function on ``0, 1, ..., len(pmf) - 1``."""
    pmf = np.clip(np.asarray(pmf, dtype=float), 0.0, None)
    pmf = pmf / pmf.sum()
    y = int(y)
    below = float(pmf[:max(y, 0)].sum())
    equal = float(pmf[y]) if 0 <= y < pmf.size else 0.0
    return below, equal, max(0.0, 1.0 - below - equal)


def two_sided_p(pmf: np.ndarray, y: int, method: str = "mid") -> float:
    """Two-sided p-value of the count ``y`` under the mass function ``pmf``.

    Parameters
    ----------
    pmf : ndarray
        ``pmf[k] = P(Y = k)``, ``k = 0, ..., K`` (normalised here).
    y : int
        Observed count.
    method : {"mid", "standard"}
        Mid-p or the standard (conservative) p-value; see the module docstring.
    """
    return p_from_tails(*tails(pmf, y), method)


def p_from_tails(below: float, equal: float, above: float, method: str = "mid") -> float:
    """Two-sided p-value from ``P(Y < y), P(Y = y), P(Y > y)`` (see the module docstring)."""
    if check_method(method) == "mid":
        lo, hi = below + 0.5 * equal, above + 0.5 * equal
    else:
        lo, hi = below + equal, above + equal
    return float(min(1.0, 2.0 * min(lo, hi)))


def upper_tail_p(replicates: np.ndarray, observed: float, method: str = "mid") -> float:
    """One-sided p-value ``P(T_rep > T) (+ P(T_rep = T) / 2 or whole)`` over replicates.

    Ties are decided after rounding to 9 significant digits, so that replicated data
    sets equal to the observed one give exactly the observed statistic.
    """
    rep = _round(np.asarray(replicates, dtype=float).ravel())
    obs = float(_round(np.asarray([observed], dtype=float))[0])
    above, equal = float(np.mean(rep > obs)), float(np.mean(rep == obs))
    return above + (0.5 if check_method(method) == "mid" else 1.0) * equal


def _round(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = 8 - np.floor(np.log10(np.abs(np.where(v == 0, 1.0, v))))
    return np.round(v * 10.0**digits) / 10.0**digits


def pmf_summary(pmf: np.ndarray, probs: Sequence[float] = (0.025, 0.975)
                ) -> tuple[float, float, float]:
    """Mean and equal-tailed interval (smallest ``k`` with ``P(Y <= k) >= q``) of a pmf."""
    pmf = np.clip(np.asarray(pmf, dtype=float), 0.0, None)
    pmf = pmf / pmf.sum()
    cdf = np.cumsum(pmf)
    k = np.arange(pmf.size)
    lo, hi = (int(np.searchsorted(cdf, q - 1e-12)) for q in probs)
    return float(pmf @ k), float(min(lo, pmf.size - 1)), float(min(hi, pmf.size - 1))


def p_method_label(method: str, sided: str = "two-sided") -> str:
    """Text of the ``p_method`` column, e.g. ``"mid-p, two-sided"``."""
    return f"{'mid-p' if method == 'mid' else 'standard'}, {sided}"


def count_row(cohort: str, n: int, check: str, statistic: str, observed: int,
              pmf: np.ndarray, method: str, alpha: float, note: str) -> dict[str, Any]:
    """A :data:`CHECK_COLUMNS` row of a count checked against the mass function ``pmf``."""
    mean, lo, hi = pmf_summary(pmf)
    p = two_sided_p(pmf, observed, method)
    return {"cohort": cohort, "n": int(n), "check": check, "statistic": statistic,
            "observed": float(observed), "expected": mean, "lower": lo, "upper": hi,
            "p_value": p, "p_method": p_method_label(method), "flag": bool(p < alpha),
            "note": note}


def check_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Tidy frame of check rows with the columns of :data:`CHECK_COLUMNS`, in order."""
    frame = pd.DataFrame(list(rows))
    for col in CHECK_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    frame = frame[list(CHECK_COLUMNS)].reset_index(drop=True)
    frame["flag"] = frame["flag"].astype(bool)
    frame["n"] = frame["n"].astype(np.int64)
    return frame


def sd_ratio(posterior_sd: float, prior_draws: np.ndarray | None,
             transform: str = "identity") -> float:
    """Posterior SD over prior SD (``prior_sd_ratio``; NaN where either is unavailable).

    Parameters
    ----------
    posterior_sd : float
        SD of the quantity's posterior on the ``transform`` scale.
    prior_draws : ndarray or None
        Draws of the same quantity under the prior (natural scale).
    transform : {"identity", "log"}
        Scale on which both SDs are taken.
    """
    if prior_draws is None or not np.isfinite(posterior_sd):
        return float("nan")
    v = np.asarray(prior_draws, dtype=float).ravel()
    if transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(v)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    prior_sd = float(v.std(ddof=1))
    return float(posterior_sd / prior_sd) if prior_sd > 0 else float("nan")


def draws_sd(values: np.ndarray, transform: str = "identity") -> float:
    """SD of draws on the ``transform`` scale (``identity`` or ``log``), NaN if undefined."""
    v = np.asarray(values, dtype=float).ravel()
    if transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(v)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def mostly_prior(ratio: float, threshold: float = MOSTLY_PRIOR_RATIO) -> bool:
    """Whether a ``prior_sd_ratio`` exceeds :data:`MOSTLY_PRIOR_RATIO` (NaN: False)."""
    return bool(np.isfinite(ratio) and ratio > threshold)
