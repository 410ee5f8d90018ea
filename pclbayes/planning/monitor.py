r"""Predictive-probability interim monitoring of a single-arm response-rate trial.

The final analysis after :math:`N` patients applies a single-arm
:class:`~pclbayes.planning.DecisionRule`; its success indicator :math:`s_N(R)` is computed once
for :math:`R = 0..N`. At an interim look after :math:`n < N` patients with :math:`r`
responders the *predictive probability* of final success is

.. math:: \mathrm{PP}(r, n) = \sum_{s=0}^{N-n} P(S = s \mid r, n)\, s_N(r + s),

with the beta-binomial mixture predictive of the :math:`N - n` remaining patients under the
exact posterior after :math:`r` of :math:`n` (Lee and Liu 2008). At each planned look
:math:`n_1 < n_2 < \dots < n_K < N` the trial

* stops for futility when :math:`\mathrm{PP} < p_F` (the futility threshold),
* optionally stops for efficacy (success) when :math:`\mathrm{PP} \ge p_E`,
* continues otherwise.

The decision at a look depends on :math:`r` alone, so the exact operating characteristics
follow from a forward recursion over the responder count: with :math:`q_k(r)` the probability
of being at look :math:`k` with :math:`r` responders and still running,

.. math:: q_{k+1}(r') = \sum_r q_k(r)\, c_k(r)\,
   \mathrm{Bin}(r' - r;\, n_{k+1} - n_k, \theta),

where :math:`c_k(r)` is 1 when the trial continues. Early-stopping probabilities per look,
the probability of success (efficacy stops plus final successes) and the expected sample
size are sums over :math:`q_k`. The work is :math:`O(K N^2)` per true rate instead of the
:math:`2^N` response sequences.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from pclbayes.errors import SpecError
from pclbayes.planning._common import (
    as_float_vector,
    beta_binomial_logpmf,
    binomial_pmf_matrix,
    check_count,
    check_probability,
)
from pclbayes.planning.decisions import DecisionRule
from pclbayes.planning.mixture import BetaMixture
from pclbayes.planning.update import posterior_weights

__all__ = [
    "InterimLook",
    "MonitoredDesign",
    "MonitoringOC",
    "TwoArmInterim",
    "monitored_design",
    "monitoring_oc",
    "predictive_probability",
    "two_arm_interim",
    "two_arm_interim_oc",
]

CHUNK_CELLS = 2**21
"""Values of a (responders x remaining outcomes x components) array computed at once."""


def predictive_probability(
    prior: BetaMixture, n: int, final_n: int, rule: DecisionRule, r: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Predictive probability that the final analysis at ``final_n`` succeeds.

    Parameters
    ----------
    prior : BetaMixture
        Analysis prior (the same at the interim and the final analysis).
    n : int
        Patients observed at the interim (``0 <= n <= final_n``).
    final_n : int
        Final number of patients.
    rule : DecisionRule
        Success rule of the final analysis.
    r : array_like of int, optional
        Interim responder counts (default all of ``0..n``).

    Returns
    -------
    ndarray
        ``PP(r, n)`` for each ``r``.
    """
    final_n = check_count(final_n, "final_n", minimum=1)
    n = check_count(n, "n")
    if n > final_n:
        raise SpecError(f"interim n={n} cannot exceed the final n={final_n}")
    success = rule.indicator(prior, final_n).astype(float)
    r_arr = np.arange(n + 1) if r is None else np.atleast_1d(np.asarray(r))
    if np.any((r_arr < 0) | (r_arr > n)) or not np.all(r_arr == np.round(r_arr)):
        raise SpecError(f"responders must be integers in 0..{n}, got {r_arr.tolist()}")
    return _pp(prior, n, final_n, success, r_arr.astype(np.int64))


def _pp(
    prior: BetaMixture, n: int, final_n: int, success: NDArray, r: NDArray[np.int64]
) -> NDArray[np.float64]:
    m = final_n - n
    if m == 0:
        return success[r].astype(float)
    s = np.arange(m + 1, dtype=float)
    rows = max(1, CHUNK_CELLS // ((m + 1) * prior.n_components))
    out = np.empty(r.size)
    for i in range(0, r.size, rows):
        rb = r[i : i + rows].astype(float)
        w = posterior_weights(prior, rb, n)  # (B, K)
        a = prior.a + rb[:, None]
        b = prior.b + n - rb[:, None]
        logp = beta_binomial_logpmf(s[None, :, None], m, a[:, None, :], b[:, None, :])
        pred = np.einsum("bsk,bk->bs", np.exp(logp), w)  # (B, m + 1)
        hankel = success[rb.astype(int)[:, None] + np.arange(m + 1)[None, :]]
        pp = np.sum(pred * hankel, axis=1)
        # the predictive has full support: PP is exactly 1 (0) when every (no) final
        # outcome reachable from r succeeds, whatever the rounding of the sum
        pp[hankel.all(axis=1)] = 1.0
        pp[~hankel.any(axis=1)] = 0.0
        out[i : i + rows] = pp
    return np.clip(out, 0.0, 1.0)


def _first(mask: NDArray[np.bool_]) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


@dataclass(frozen=True)
class InterimLook:
    """Decisions at one interim look after ``n`` patients.

    Attributes
    ----------
    n : int
        Patients at the look.
    pp : ndarray
        Predictive probability of final success for ``0..n`` responders.
    stop_futility, stop_efficacy : ndarray of bool
        Decision for each responder count.
    continue_min : int or None
        Fewest responders to avoid the futility stop (None: the trial always stops).
    efficacy_min : int or None
        Fewest responders for an efficacy stop (None: never).
    """

    n: int
    pp: NDArray[np.float64] = field(repr=False)
    stop_futility: NDArray[np.bool_] = field(repr=False)
    stop_efficacy: NDArray[np.bool_] = field(repr=False)
    continue_min: int | None
    efficacy_min: int | None
    monotone: bool


@dataclass(frozen=True)
class MonitoredDesign:
    """A single-arm design with predictive-probability looks (see :func:`monitored_design`)."""

    prior: BetaMixture
    n: int
    rule: DecisionRule
    looks: tuple[InterimLook, ...]
    futility: float
    efficacy: float | None
    final_boundary: int | None

    def boundary_frame(self) -> pd.DataFrame:
        """One row per look: patients, responders needed to continue, for efficacy."""
        rows = [
            {
                "n": lk.n,
                "continue_if_responders_at_least": lk.continue_min,
                "stop_for_efficacy_if_at_least": lk.efficacy_min,
            }
            for lk in self.looks
        ]
        rows.append(
            {
                "n": self.n,
                "continue_if_responders_at_least": None,
                "stop_for_efficacy_if_at_least": self.final_boundary,
            }
        )
        return pd.DataFrame(rows).astype({"n": int})

    def __str__(self) -> str:
        eff = (
            "no efficacy stop"
            if self.efficacy is None
            else f"efficacy stop if PP >= {self.efficacy:g}"
        )
        lines = [
            f"Monitored single-arm design, final n = {self.n}",
            f"Final success if {self.rule}",
            f"Looks at n = {', '.join(str(lk.n) for lk in self.looks)}: futility stop if "
            f"PP < {self.futility:g}, {eff}",
        ]
        for lk in self.looks:
            go = (
                "always stops"
                if lk.continue_min is None
                else f"continue if r >= {lk.continue_min}"
            )
            ef = "" if lk.efficacy_min is None else f", stop for efficacy if r >= {lk.efficacy_min}"
            lines.append(f"  n = {lk.n}: {go}{ef}")
        fb = "success impossible" if self.final_boundary is None else f"r >= {self.final_boundary}"
        lines.append(f"  n = {self.n} (final): success if {fb}")
        return "\n".join(lines)


def monitored_design(
    prior: BetaMixture,
    n: int,
    rule: DecisionRule,
    looks: Sequence[int],
    *,
    futility: float = 0.1,
    efficacy: float | None = None,
) -> MonitoredDesign:
    """Go/no-go boundaries of predictive-probability monitoring.

    Parameters
    ----------
    prior : BetaMixture
        Analysis prior.
    n : int
        Final number of patients.
    rule : DecisionRule
        Success rule of the final analysis.
    looks : sequence of int
        Interim sample sizes, strictly increasing, each in ``1..n - 1``.
    futility : float, default 0.1
        Stop for futility when the predictive probability is below this, in [0, 1)
        (0: no futility stop).
    efficacy : float, optional
        Stop for efficacy when the predictive probability is at least this, in (0, 1] and
        above ``futility`` (default: no efficacy stop).
    """
    n = check_count(n, "n", minimum=2)
    if not isinstance(rule, DecisionRule):
        raise SpecError("rule must be a DecisionRule (see decision_rule)")
    futility = check_probability(futility, "futility", open_interval=False)
    if futility >= 1:
        raise SpecError(f"futility must lie in [0, 1), got {futility!r}")
    if efficacy is not None:
        efficacy = check_probability(efficacy, "efficacy", open_interval=False)
        if not futility < efficacy:
            raise SpecError(
                f"efficacy threshold {efficacy:g} must exceed the futility threshold {futility:g}"
            )
    ns = [check_count(v, "look", minimum=1) for v in looks]
    if not ns:
        raise SpecError("at least one interim look is needed")
    if any(b <= a for a, b in itertools.pairwise(ns)) or ns[-1] >= n:
        raise SpecError(f"looks must increase strictly and stay below n={n}, got {ns}")
    success = rule.indicator(prior, n)
    out = []
    for n_k in ns:
        pp = _pp(prior, n_k, n, success.astype(float), np.arange(n_k + 1))
        fut = pp < futility
        eff = pp >= efficacy if efficacy is not None else np.zeros(n_k + 1, dtype=bool)
        eff &= ~fut
        cont_min = _first(~fut)
        eff_min = _first(eff)
        monotone = bool(np.all(np.diff(pp) >= -1e-12))
        for arr in (pp, fut, eff):
            arr.setflags(write=False)
        out.append(InterimLook(n_k, pp, fut, eff, cont_min, eff_min, monotone))
    return MonitoredDesign(prior, n, rule, tuple(out), futility, efficacy, _first(success))


@dataclass(frozen=True)
class MonitoringOC:
    """Exact operating characteristics of a :class:`MonitoredDesign`.

    Attributes
    ----------
    true_rates : ndarray
        True response rates.
    prob_success : ndarray
        Probability of declaring success (efficacy stops plus final success).
    prob_stop_futility, prob_stop_efficacy : ndarray
        Shape ``(rates, looks)``: probability of stopping at each look.
    expected_n : ndarray
        Expected number of patients.
    """

    design: MonitoredDesign
    true_rates: NDArray[np.float64]
    prob_success: NDArray[np.float64]
    prob_stop_futility: NDArray[np.float64]
    prob_stop_efficacy: NDArray[np.float64]
    expected_n: NDArray[np.float64]

    def to_frame(self) -> pd.DataFrame:
        """One row per true rate: success, early stop (total and per look), expected n."""
        data: dict[str, Any] = {
            "true_rate": self.true_rates,
            "prob_success": self.prob_success,
            "prob_stop_early": self.prob_stop_futility.sum(1) + self.prob_stop_efficacy.sum(1),
            "expected_n": self.expected_n,
        }
        for j, lk in enumerate(self.design.looks):
            data[f"futility_n{lk.n}"] = self.prob_stop_futility[:, j]
            if self.design.efficacy is not None:
                data[f"efficacy_n{lk.n}"] = self.prob_stop_efficacy[:, j]
        return pd.DataFrame(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: design, boundaries and ``oc`` rows."""
        d = self.design
        return {
            "n": d.n,
            "rule": str(d.rule),
            "futility": d.futility,
            "efficacy": d.efficacy,
            "looks": [
                {
                    "n": lk.n,
                    "continue_if_responders_at_least": lk.continue_min,
                    "stop_for_efficacy_if_at_least": lk.efficacy_min,
                    "predictive_probability": [float(v) for v in lk.pp],
                }
                for lk in d.looks
            ],
            "final_boundary": d.final_boundary,
            "oc": self.to_frame().to_dict(orient="records"),
        }

    def __str__(self) -> str:
        table = self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4f}")
        return f"{self.design}\n{table}"


def monitoring_oc(design: MonitoredDesign, true_rates: ArrayLike) -> MonitoringOC:
    """Exact operating characteristics by a forward recursion over the responder count.

    Parameters
    ----------
    design : MonitoredDesign
        From :func:`monitored_design`.
    true_rates : array_like
        True response rates in [0, 1] (type-I error at a null rate, power at an alternative).
    """
    rates = as_float_vector(true_rates, "true_rates")
    if np.any((rates < 0) | (rates > 1)):
        raise SpecError(f"true rates must lie in [0, 1], got {rates.tolist()}")
    looks = design.looks
    fut = np.zeros((rates.size, len(looks)))
    eff = np.zeros((rates.size, len(looks)))
    q = np.ones((rates.size, 1))  # zero patients, zero responders, still running
    n_prev = 0
    for j, lk in enumerate(looks):
        q = _advance(q, lk.n - n_prev, rates)
        fut[:, j] = q @ lk.stop_futility
        eff[:, j] = q @ lk.stop_efficacy
        q = q * ~(lk.stop_futility | lk.stop_efficacy)
        n_prev = lk.n
    q = _advance(q, design.n - n_prev, rates)
    success = design.rule.indicator(design.prior, design.n)
    pos = eff.sum(1) + q @ success
    sizes = np.array([lk.n for lk in looks], dtype=float)
    stopped = fut + eff
    expected = stopped @ sizes + (1 - stopped.sum(1)) * design.n
    return MonitoringOC(design, rates, pos, fut, eff, expected)


def _advance(q: NDArray, m: int, rates: NDArray) -> NDArray:
    """Add ``m`` patients: convolve each row of ``q`` with ``Bin(m, rate)``."""
    step = binomial_pmf_matrix(m, rates)  # (T, m + 1)
    out = np.zeros((q.shape[0], q.shape[1] + m))
    for s in range(m + 1):
        out[:, s : s + q.shape[1]] += q * step[:, s : s + 1]
    return out



# ---------------------------------------------------------------------------- two arms
def _predictive_matrix(prior: BetaMixture, m: int, rest: int) -> NDArray[np.float64]:
    """Predictive matrix ``P[x, s]`` of ``s`` responders in ``rest`` more patients.

    After ``x`` of ``m`` responders: a beta-binomial mixture under the exact posterior.
    """
    x = np.arange(m + 1, dtype=float)
    s = np.arange(rest + 1, dtype=float)
    w = posterior_weights(prior, x, m)  # (m + 1, K)
    a = prior.a + x[:, None]
    b = prior.b + m - x[:, None]
    logp = beta_binomial_logpmf(s[None, :, None], rest, a[:, None, :], b[:, None, :])
    return np.einsum("xsk,xk->xs", np.exp(logp), w)


def _tail_columns(pmf: NDArray) -> NDArray:
    """``T[..., k] = Σ_{s >= k} pmf[..., s]`` for ``k = 0..len + 1`` (last column 0)."""
    tail = np.cumsum(pmf[..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([tail, np.zeros((*pmf.shape[:-1], 1))], axis=-1)


def _conditional_success(
    boundary: NDArray[np.int64], tail_t: NDArray, pred_c: NDArray, m_t: int
) -> NDArray[np.float64]:
    """``Σ_{s_c} pred_c[x_c, s_c] · tail_t[x_t, b(x_c + s_c) - x_t]`` for every interim outcome.

    ``tail_t`` is ``(m_t + 1, r_t + 2)`` (or ``(1, r_t + 2)`` when it does not depend on
    ``x_t``), ``pred_c`` is ``(m_c + 1, r_c + 1)``.
    """
    m_c, r_c = pred_c.shape[0] - 1, pred_c.shape[1] - 1
    r_t = tail_t.shape[1] - 2
    x_t = np.arange(m_t + 1)
    need = boundary[np.arange(m_c + 1)[:, None] + np.arange(r_c + 1)[None, :]]  # (m_c+1, r_c+1)
    k = np.clip(need[None, :, :] - x_t[:, None, None], 0, r_t + 1)  # (m_t+1, m_c+1, r_c+1)
    rows = x_t[:, None, None] if tail_t.shape[0] > 1 else np.zeros((1, 1, 1), dtype=int)
    return np.einsum("tcs,cs->tc", tail_t[rows, k], pred_c)


@dataclass(frozen=True)
class TwoArmInterim:
    """A two-arm design with one interim look for futility (see :func:`two_arm_interim`).

    Attributes
    ----------
    pp : ndarray
        ``(m_t + 1, m_c + 1)``: predictive probability of final success for each interim
        outcome ``(x_t, x_c)``.
    stop : ndarray of bool
        Futility stop (``pp < futility``).
    """

    design: Any
    m_t: int
    m_c: int
    futility: float
    pp: NDArray[np.float64] = field(repr=False)
    stop: NDArray[np.bool_] = field(repr=False)

    def continue_boundary(self) -> list[int | None]:
        """For each interim control count, fewest treatment responders to continue."""
        out = []
        for col in (~self.stop).T:
            out.append(_first(col))
        return out

    def __str__(self) -> str:
        parts = " ".join(
            f"{xc}:{'-' if v is None else v}" for xc, v in enumerate(self.continue_boundary())
        )
        return (
            f"{self.design}\nInterim after {self.m_t} treatment and {self.m_c} control patients: "
            f"stop for futility if PP < {self.futility:g}\nTreatment responders needed to "
            f"continue, by control responders: {parts}"
        )


def two_arm_interim(design: Any, m_t: int, m_c: int, *, futility: float = 0.1) -> TwoArmInterim:
    r"""Predictive-probability futility look of a two-arm design.

    At the interim with :math:`x_t` of :math:`m_t` and :math:`x_c` of :math:`m_c` responders,

    .. math:: \mathrm{PP} = \sum_{s_c} P(s_c \mid x_c)\, P(S_t \ge b(x_c + s_c) - x_t
       \mid x_t),

    with the beta-binomial mixture predictives of the remaining patients of each arm under
    the exact posteriors and :math:`b` the final decision boundary. The trial stops for
    futility when ``PP < futility``.

    Parameters
    ----------
    design : TwoArmDesign
        Final design (priors, sizes, rule).
    m_t, m_c : int
        Interim sizes, ``1 <= m_t < n_t`` and ``0 <= m_c <= n_c``.
    futility : float, default 0.1
        Futility threshold in [0, 1).
    """
    from pclbayes.planning.two_arm import TwoArmDesign

    if not isinstance(design, TwoArmDesign):
        raise SpecError("design must be a TwoArmDesign")
    m_t = check_count(m_t, "m_t", minimum=1)
    m_c = check_count(m_c, "m_c")
    if m_t >= design.n_t or m_c > design.n_c:
        raise SpecError(
            f"interim sizes ({m_t}, {m_c}) must be below the final sizes ({design.n_t}, "
            f"{design.n_c}) (the control arm may be complete)"
        )
    futility = check_probability(futility, "futility", open_interval=False)
    if futility >= 1:
        raise SpecError(f"futility must lie in [0, 1), got {futility!r}")
    tail_t = _tail_columns(_predictive_matrix(design.prior_t, m_t, design.n_t - m_t))
    pred_c = _predictive_matrix(design.prior_c, m_c, design.n_c - m_c)
    pp = np.clip(_conditional_success(design.boundary, tail_t, pred_c, m_t), 0.0, 1.0)
    stop = pp < futility
    pp.setflags(write=False)
    stop.setflags(write=False)
    return TwoArmInterim(design, m_t, m_c, futility, pp, stop)


def two_arm_interim_oc(
    interim: TwoArmInterim, theta_t: ArrayLike, theta_c: ArrayLike
) -> pd.DataFrame:
    """Exact operating characteristics of a two-arm design with its futility look.

    Paired scenarios ``(theta_t, theta_c)`` (broadcast). Columns ``prob_success``,
    ``prob_stop`` (at the interim) and ``expected_n`` (both arms).
    """
    tt = as_float_vector(theta_t, "theta_t")
    tc = as_float_vector(theta_c, "theta_c")
    if np.any((tt < 0) | (tt > 1)) or np.any((tc < 0) | (tc > 1)):
        raise SpecError("true rates must lie in [0, 1]")
    try:
        tt, tc = (np.array(v) for v in np.broadcast_arrays(tt, tc))
    except ValueError as exc:
        raise SpecError("theta_t and theta_c need equal lengths (or one value)") from exc
    d = interim.design
    r_t, r_c = d.n_t - interim.m_t, d.n_c - interim.m_c
    rows = []
    for a, c in zip(tt, tc, strict=True):
        tail = _tail_columns(binomial_pmf_matrix(r_t, np.array([a])))  # (1, r_t + 2)
        rest_c = np.repeat(binomial_pmf_matrix(r_c, np.array([c])), interim.m_c + 1, axis=0)
        cp = _conditional_success(d.boundary, tail, rest_c, interim.m_t)
        joint = np.outer(
            binomial_pmf_matrix(interim.m_t, np.array([a]))[0],
            binomial_pmf_matrix(interim.m_c, np.array([c]))[0],
        )
        p_stop = float(np.sum(joint * interim.stop))
        rows.append(
            {
                "theta_t": float(a),
                "theta_c": float(c),
                "prob_success": float(np.sum(joint * ~interim.stop * cp)),
                "prob_stop": p_stop,
                "expected_n": interim.m_t + interim.m_c + (1 - p_stop) * (r_t + r_c),
            }
        )
    return pd.DataFrame(rows)
