r"""Two-arm (randomised) binary designs: decisions on the difference of response rates.

A treatment arm with its own beta-mixture prior is compared with a control arm whose prior is
typically a (robust) MAP prior from historical controls. A *criterion* reads

.. math:: P\{g(\theta_t) - g(\theta_c) > \delta \mid y_t, y_c\} > c,

with :math:`g` the identity (risk difference), the logit (log odds ratio) or the log (log
risk ratio); a *rule* declares success when all its criteria hold (a dual criterion combines
significance, :math:`\delta = 0`, with clinical relevance, :math:`\delta > 0` at
:math:`c = 0.5`). This is RBesT's ``decision2S(pc, qc, lower.tail = FALSE, link)``.

Posterior probability of a difference
    The two posteriors are independent beta mixtures (exact conjugate updates). With
    :math:`h(x) = g^{-1}(g(x) + \delta)` (``x + δ``, ``expit(logit x + δ)`` or ``x e^δ``),

    .. math:: P = \int_0^1 f_c(x \mid y_c)\, S_t(h(x) \mid y_t)\, dx,

    where :math:`f_c` is the control posterior density and :math:`S_t(u) = P(\theta_t > u)`
    the treatment posterior survival function (a sum of regularised incomplete beta
    functions). The integral is a composite Gauss-Legendre rule on a fixed set of nodes
    :math:`x_g` shared by every outcome: panels uniform in :math:`\varphi =
    \arcsin\sqrt{x}` (where a beta density is nearly normal with sd
    :math:`1/(2\sqrt{a+b})`) about two sd wide for the most concentrated posterior,
    graded edges towards 0 and 1 down to :math:`10^{-12}`, and the mass of the last
    :math:`10^{-12}` at either end (exact, by the incomplete beta function) as one more
    node, which keeps densities with a shape below 1 (unbounded at 0 or 1) accurate. Where
    :math:`h(x)` leaves [0, 1] (e.g. :math:`x = 1 - \delta`) the integrand has a kink; that
    rate is a panel edge with panels graded towards it. The
    probabilities for *all* outcomes are then one matrix product,

    .. math:: P[y_t, y_c] = \sum_g S_t(h(x_g) \mid y_t)\; \omega_g f_c(x_g \mid y_c),

    with no loop over outcomes.

Decision boundary
    :math:`P` increases with :math:`y_t` and decreases with :math:`y_c` (the binomial
    likelihood has a monotone likelihood ratio, so each posterior is stochastically
    increasing in its responders). For every control outcome the rule therefore holds
    exactly for :math:`y_t \ge b(y_c)`, and :math:`b` is non-decreasing.

Operating characteristics
    Exact, by enumeration of both arms' outcomes through the boundary:

    .. math:: \mathrm{PoS}(\theta_t, \theta_c) = \sum_{y_c=0}^{n_c}
       \mathrm{Bin}(y_c; n_c, \theta_c)\, P(Y_t \ge b(y_c); n_t, \theta_t),

    for a whole grid of :math:`(\theta_t, \theta_c)` as one matrix product. The assurance
    replaces each binomial by the beta-binomial predictive of a design prior.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes.errors import SpecError
from pclbayes.planning._common import (
    as_float_vector,
    binomial_pmf_matrix,
    check_count,
    check_probability,
)
from pclbayes.planning.mixture import BetaMixture
from pclbayes.planning.update import posterior_weights, predictive

__all__ = [
    "SCALES",
    "DifferenceCriterion",
    "TwoArmDesign",
    "TwoArmOC",
    "TwoArmRule",
    "TwoArmSampleSize",
    "prob_difference",
    "quadrature_size",
    "two_arm_assurance",
    "two_arm_boundary",
    "two_arm_oc",
    "two_arm_prob_matrix",
    "two_arm_rule",
    "two_arm_sample_size",
]

Scale = Literal["difference", "log_odds_ratio", "log_risk_ratio"]
SCALES: tuple[str, ...] = ("difference", "log_odds_ratio", "log_risk_ratio")
"""Scales of the comparison: risk difference, log odds ratio, log risk ratio."""

_SCALE_LABEL = {
    "difference": "rate_t - rate_c",
    "log_odds_ratio": "log OR",
    "log_risk_ratio": "log RR",
}

QUAD_ORDER = 12
"""Gauss-Legendre nodes per panel."""

TAIL_EPS = 1e-12
"""Innermost graded panel edge; the mass beyond it is one node evaluated exactly."""

CHUNK_CELLS = 2**21
"""Values of a (outcomes x nodes) matrix computed at once (16 MB of floats)."""


# ---------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class DifferenceCriterion:
    r"""One criterion :math:`P\{g(\theta_t) - g(\theta_c) > \delta \mid \text{data}\} > c`.

    Parameters
    ----------
    delta : float, default 0
        Margin on the chosen scale (rate difference in (-1, 1); log odds ratio or log risk
        ratio: any finite number).
    prob : float, default 0.95
        Critical probability ``c`` in (0, 1).
    scale : {"difference", "log_odds_ratio", "log_risk_ratio"}
        Scale of the comparison.
    """

    delta: float = 0.0
    prob: float = 0.95
    scale: Scale = "difference"

    def __post_init__(self) -> None:
        check_probability(self.prob, "prob")
        if self.scale not in SCALES:
            raise SpecError(f"scale must be one of {', '.join(SCALES)}; got {self.scale!r}")
        if not np.isfinite(self.delta):
            raise SpecError(f"delta must be finite, got {self.delta!r}")
        if self.scale == "difference" and not -1.0 < self.delta < 1.0:
            raise SpecError(f"a rate difference delta must lie in (-1, 1), got {self.delta!r}")

    def __str__(self) -> str:
        return f"P({_SCALE_LABEL[self.scale]} > {self.delta:g} | data) > {self.prob:g}"


@dataclass(frozen=True)
class TwoArmRule:
    """Success when every :class:`DifferenceCriterion` holds."""

    criteria: tuple[DifferenceCriterion, ...]

    def __post_init__(self) -> None:
        if not self.criteria:
            raise SpecError("a decision rule needs at least one criterion")
        if not all(isinstance(c, DifferenceCriterion) for c in self.criteria):
            raise SpecError("criteria must be DifferenceCriterion objects")

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.criteria)


def two_arm_rule(
    delta: float | Sequence[float] = 0.0,
    prob: float | Sequence[float] = 0.95,
    scale: Scale | Sequence[Scale] = "difference",
) -> TwoArmRule:
    """Build a two-arm rule from margins and probabilities (scalars or equal-length lists).

    Examples
    --------
    >>> str(two_arm_rule([0, 0.15], [0.95, 0.5]))
    'P(rate_t - rate_c > 0 | data) > 0.95 and P(rate_t - rate_c > 0.15 | data) > 0.5'
    """
    d = np.atleast_1d(np.asarray(delta, dtype=float))
    p = np.atleast_1d(np.asarray(prob, dtype=float))
    s = [scale] * d.size if isinstance(scale, str) else list(scale)
    if not (d.size == p.size == len(s)):
        raise SpecError(
            f"delta, prob and scale need equal lengths, got {d.size}, {p.size}, {len(s)}"
        )
    return TwoArmRule(
        tuple(
            DifferenceCriterion(float(di), float(pi), si)  # type: ignore[arg-type]
            for di, pi, si in zip(d, p, s, strict=True)
        )
    )


# ---------------------------------------------------------------------------- quadrature
@lru_cache(maxsize=64)
def _nodes(per_unit: int, kink: float | None = None) -> tuple[NDArray, NDArray, NDArray]:
    """Nodes ``x``, complements ``1 - x`` and weights of the composite rule (no end masses).

    The panels are uniform in the variance-stabilising angle ``φ = arcsin(sqrt(x))``, in
    which a Beta(a, b) density is close to normal with sd ``1 / (2 sqrt(a + b))``: panels
    of width ``1 / per_unit`` (about two such sd for ``per_unit = sqrt(max(a + b))``),
    refined further by graded edges at ``x = 1e-12, 1e-11, ..., 1e-2`` towards 0 and their
    mirror images towards 1. ``x = sin² φ`` and ``1 - x = cos² φ`` keep full relative
    precision at both ends. ``kink``: a rate at which the integrand is not smooth (where
    the shifted rate ``h(x)`` leaves [0, 1]); it becomes an edge, with panels graded towards
    it on both sides (``10^-1 .. 10^-8`` in angle).
    """
    t, wt = np.polynomial.legendre.leggauss(QUAD_ORDER)
    t, wt = (t + 1) / 2, wt / 2
    width = 1.0 / per_unit
    graded = np.arcsin(np.sqrt(10.0 ** np.arange(np.log10(TAIL_EPS), -1.0)))
    coarse = np.append(graded, np.pi / 4)
    pieces = [
        np.linspace(lo, hi, int(np.ceil((hi - lo) / width)) + 1)[:-1]
        for lo, hi in itertools.pairwise(coarse)
    ]
    left = np.append(np.concatenate(pieces), np.pi / 4)
    edges = np.concatenate([left, np.pi / 2 - left[-2::-1]])
    if kink is not None:
        phi_k = float(np.arcsin(np.sqrt(kink)))
        offsets = 10.0 ** -np.arange(1, 9)
        extra = np.concatenate([[phi_k], phi_k - offsets, phi_k + offsets])
        inside = (extra > edges[0]) & (extra < edges[-1])
        edges = np.unique(np.concatenate([edges, extra[inside]]))
    lo, hi = edges[:-1, None], edges[1:, None]
    phi = (lo + (hi - lo) * t).ravel()
    w = ((hi - lo) * wt).ravel() * np.sin(2 * phi)  # dx = sin(2φ) dφ
    x, xc = np.sin(phi) ** 2, np.cos(phi) ** 2
    for arr in (x, xc, w):
        arr.setflags(write=False)
    return x, xc, w


def _per_unit(*priors_and_sizes: tuple[BetaMixture, int]) -> int:
    """Panels per unit angle: ``sqrt`` of the largest posterior ``a + b`` (at least 10)."""
    size = max(float(np.max(p.a + p.b)) + n for p, n in priors_and_sizes)
    return max(10, int(np.ceil(np.sqrt(size))))


def quadrature_size(prior_t: BetaMixture, n_t: int, prior_c: BetaMixture, n_c: int) -> int:
    """Number of quadrature nodes per criterion for these priors and sample sizes.

    The cost of a decision matrix is about ``(n_t + 1)`` times this many incomplete beta
    functions per criterion and treatment-prior component.
    """
    per_unit = _per_unit((prior_t, n_t), (prior_c, n_c))
    return int(_nodes(per_unit, 0.5)[0].size) + 2


def _kink(delta: float, scale: str) -> float | None:
    """Control rate at which ``h(x)`` reaches 0 or 1 (None if inside (0, 1) throughout)."""
    if scale == "difference" and delta != 0:
        return 1.0 - delta if delta > 0 else -delta
    if scale == "log_risk_ratio" and delta > 0:
        return float(np.exp(-delta))
    return None


def _transform(x: NDArray, xc: NDArray, delta: float, scale: str) -> tuple[NDArray, NDArray]:
    """``h(x) = g^{-1}(g(x) + delta)`` and ``1 - h(x)``, each clipped to [0, 1]."""
    if scale == "difference":
        h, hc = x + delta, xc - delta
    elif scale == "log_odds_ratio":
        e = np.exp(delta)
        den = xc + x * e
        h, hc = x * e / den, xc / den
    else:
        e = np.exp(delta)
        h = x * e
        hc = xc - x * np.expm1(delta)
    return np.clip(h, 0.0, 1.0), np.clip(hc, 0.0, 1.0)


def _control_weights(
    prior: BetaMixture, n: int, y: NDArray, x: NDArray, xc: NDArray, w: NDArray
) -> NDArray:
    """Matrix ``M[i, g]``: quadrature weight times control posterior density at node ``g``.

    Two extra columns carry the posterior mass below ``TAIL_EPS`` and above
    ``1 - TAIL_EPS`` (exact incomplete beta functions); they are evaluated at the
    midpoints of those end intervals.
    """
    yb = y[:, None].astype(float)
    pw = posterior_weights(prior, y, n)  # (m, K)
    a, b = prior.a + yb, prior.b + n - yb  # (m, K)
    logc = -special.betaln(a, b)
    lx, lxc = np.log(x), np.log(xc)
    out = np.zeros((y.size, x.size + 2))
    for k in range(prior.n_components):
        dens = np.exp(
            logc[:, k, None] + (a[:, k, None] - 1) * lx + (b[:, k, None] - 1) * lxc
        )
        out[:, :-2] += pw[:, k, None] * dens * w
        out[:, -2] += pw[:, k] * special.betainc(a[:, k], b[:, k], TAIL_EPS)
        out[:, -1] += pw[:, k] * special.betainc(b[:, k], a[:, k], TAIL_EPS)
    return out


def _treatment_sf(
    prior: BetaMixture, n: int, y: NDArray, h: NDArray, hc: NDArray
) -> NDArray:
    """Matrix ``S[i, g] = P(theta_t > h_g | y[i] responders of n)``."""
    yb = y[:, None].astype(float)
    pw = posterior_weights(prior, y, n)
    a, b = prior.a + yb, prior.b + n - yb
    out = np.zeros((y.size, h.size))
    for k in range(prior.n_components):
        # P(Beta(a, b) > h) = P(Beta(b, a) <= 1 - h): accurate in the upper tail
        out += pw[:, k, None] * special.betainc(b[:, k, None], a[:, k, None], hc)
    return out


def _outcomes(y: ArrayLike | None, n: int, name: str) -> NDArray[np.int64]:
    if y is None:
        return np.arange(n + 1)
    arr = np.atleast_1d(np.asarray(y))
    if arr.ndim != 1 or not np.all(arr == np.round(arr)) or np.any((arr < 0) | (arr > n)):
        raise SpecError(f"{name} must be integers in 0..{n}, got {arr.tolist()}")
    return arr.astype(np.int64)


def two_arm_prob_matrix(
    prior_t: BetaMixture,
    n_t: int,
    prior_c: BetaMixture,
    n_c: int,
    criterion: DifferenceCriterion,
    *,
    y_t: ArrayLike | None = None,
    y_c: ArrayLike | None = None,
) -> NDArray[np.float64]:
    r"""Posterior probabilities :math:`P\{g(\theta_t) - g(\theta_c) > \delta \mid y_t, y_c\}`.

    Parameters
    ----------
    prior_t, prior_c : BetaMixture
        Priors of the treatment and control response rates.
    n_t, n_c : int
        Patients per arm (``n_c = 0`` uses the control prior alone).
    criterion : DifferenceCriterion
        Margin and scale (its ``prob`` is not used here).
    y_t, y_c : array_like of int, optional
        Responder counts (default all of ``0..n_t`` and ``0..n_c``).

    Returns
    -------
    ndarray
        Matrix of shape ``(len(y_t), len(y_c))``.
    """
    n_t, n_c = check_count(n_t, "n_t"), check_count(n_c, "n_c")
    yt, yc = _outcomes(y_t, n_t, "y_t"), _outcomes(y_c, n_c, "y_c")
    return _prob_matrices(prior_t, n_t, prior_c, n_c, (criterion,), yt, yc)[0]


def _prob_matrices(
    prior_t: BetaMixture,
    n_t: int,
    prior_c: BetaMixture,
    n_c: int,
    criteria: Sequence[DifferenceCriterion],
    yt: NDArray[np.int64],
    yc: NDArray[np.int64],
) -> list[NDArray[np.float64]]:
    """One probability matrix per criterion; criteria with the same nodes share them."""
    per_unit = _per_unit((prior_t, n_t), (prior_c, n_c))
    cache: dict[float | None, tuple[NDArray, NDArray, NDArray]] = {}
    out = []
    for crit in criteria:
        kink = _kink(crit.delta, crit.scale)
        if kink not in cache:
            x, xc, w = _nodes(per_unit, kink)
            ctrl = _control_weights(prior_c, n_c, yc, x, xc, w)  # (m_c, G + 2)
            x_all = np.concatenate([x, [TAIL_EPS / 2, 1 - TAIL_EPS / 2]])
            xc_all = np.concatenate([xc, [1 - TAIL_EPS / 2, TAIL_EPS / 2]])
            cache[kink] = (ctrl, x_all, xc_all)
        ctrl, x_all, xc_all = cache[kink]
        rows = max(1, CHUNK_CELLS // x_all.size)
        h, hc = _transform(x_all, xc_all, crit.delta, crit.scale)
        mat = np.empty((yt.size, yc.size))
        for i in range(0, yt.size, rows):
            sf = _treatment_sf(prior_t, n_t, yt[i : i + rows], h, hc)
            mat[i : i + rows] = sf @ ctrl.T
        out.append(np.clip(mat, 0.0, 1.0))
    return out


def prob_difference(
    mix_t: BetaMixture, mix_c: BetaMixture, delta: float = 0.0, scale: Scale = "difference"
) -> float:
    r"""``P(g(θ_t) - g(θ_c) > delta)`` for two independent beta mixtures (e.g. posteriors).

    The analysis of a completed trial: pass the posteriors of both arms (RBesT's
    ``pmixdiff(post_t, post_c, delta, lower.tail = FALSE)`` for the identity scale).
    """
    crit = DifferenceCriterion(delta, 0.5, scale)
    return float(two_arm_prob_matrix(mix_t, 0, mix_c, 0, crit)[0, 0])


# ---------------------------------------------------------------------------- boundary
def two_arm_decisions(
    prior_t: BetaMixture, prior_c: BetaMixture, n_t: int, n_c: int, rule: TwoArmRule
) -> NDArray[np.bool_]:
    """Success indicator for every outcome: boolean matrix ``(n_t + 1, n_c + 1)``."""
    n_t, n_c = check_count(n_t, "n_t"), check_count(n_c, "n_c")
    yt, yc = np.arange(n_t + 1), np.arange(n_c + 1)
    out = np.ones((n_t + 1, n_c + 1), dtype=bool)
    mats = _prob_matrices(prior_t, n_t, prior_c, n_c, rule.criteria, yt, yc)
    for crit, mat in zip(rule.criteria, mats, strict=True):
        out &= mat > crit.prob
    return out


def two_arm_boundary(
    prior_t: BetaMixture, prior_c: BetaMixture, n_t: int, n_c: int, rule: TwoArmRule
) -> NDArray[np.int64]:
    """Smallest treatment responder count that succeeds, for each control outcome.

    Returns an integer array ``b`` of length ``n_c + 1``; success holds exactly for
    ``y_t >= b[y_c]``, and ``b[y_c] = n_t + 1`` means that no ``y_t`` succeeds.
    """
    n_t = check_count(n_t, "n_t", minimum=1)
    n_c = check_count(n_c, "n_c")
    dec = two_arm_decisions(prior_t, prior_c, n_t, n_c, rule)
    # monotone in y_t: the boundary is the number of failing outcomes below it
    first = np.where(dec.any(axis=0), np.argmax(dec, axis=0), n_t + 1)
    return first.astype(np.int64)


def _tail_matrix(n: int, rates: NDArray) -> NDArray:
    """``T[i, k] = P(Y >= k)`` for ``Y ~ Bin(n, rates[i])``, ``k = 0..n + 1``."""
    pmf = binomial_pmf_matrix(n, rates)
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    return np.concatenate([tail, np.zeros((rates.size, 1))], axis=1)


def _check_rates(values: ArrayLike, name: str) -> NDArray[np.float64]:
    rates = as_float_vector(values, name)
    if np.any((rates < 0) | (rates > 1)):
        raise SpecError(f"{name} must lie in [0, 1], got {rates.tolist()}")
    return rates


# ---------------------------------------------------------------------------- design
@dataclass(frozen=True)
class TwoArmDesign:
    """A two-arm design: priors, sample sizes and rule, with its decision boundary.

    Attributes
    ----------
    boundary : ndarray of int
        ``boundary[y_c]``: treatment responders needed for success (``n_t + 1``: never).
    """

    prior_t: BetaMixture
    prior_c: BetaMixture
    n_t: int
    n_c: int
    rule: TwoArmRule
    boundary: NDArray[np.int64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("prior_t", "prior_c"):
            if not isinstance(getattr(self, name), BetaMixture):
                raise SpecError(f"{name} must be a BetaMixture")
        if not isinstance(self.rule, TwoArmRule):
            raise SpecError("rule must be a TwoArmRule (see two_arm_rule)")
        b = two_arm_boundary(self.prior_t, self.prior_c, self.n_t, self.n_c, self.rule)
        b.setflags(write=False)
        object.__setattr__(self, "boundary", b)

    def prob_success(
        self, theta_t: ArrayLike, theta_c: ArrayLike, *, grid: bool = False
    ) -> NDArray[np.float64]:
        """Exact probability of success at true rates (paired, or a grid when ``grid``).

        Paired: ``theta_t`` and ``theta_c`` broadcast to one vector of scenarios. Grid:
        a matrix ``(len(theta_t), len(theta_c))``.
        """
        tt, tc = _check_rates(theta_t, "theta_t"), _check_rates(theta_c, "theta_c")
        if not grid:
            tt, tc = np.broadcast_arrays(tt, tc)
        s_t = _tail_matrix(self.n_t, tt)[:, self.boundary]  # (Tt, n_c + 1)
        p_c = binomial_pmf_matrix(self.n_c, tc)  # (Tc, n_c + 1)
        if grid:
            return s_t @ p_c.T
        return np.sum(s_t * p_c, axis=1)

    def assurance(
        self, design_t: BetaMixture | None = None, design_c: BetaMixture | None = None
    ) -> float:
        """Probability of success under design priors (default: the analysis priors).

        ``Σ_{y_c} P_c(y_c) P_t(Y_t >= b(y_c))`` with the beta-binomial mixture predictive
        ``P_t``, ``P_c`` of each arm's design prior.
        """
        dt = self.prior_t if design_t is None else design_t
        dc = self.prior_c if design_c is None else design_c
        pt = predictive(dt, self.n_t).pmf()
        tail = np.append(np.cumsum(pt[::-1])[::-1], 0.0)
        pc = predictive(dc, self.n_c).pmf()
        return float(pc @ tail[self.boundary])

    def boundary_frame(self) -> pd.DataFrame:
        """Table of control responders and the treatment responders needed for success."""
        need = pd.array(self.boundary_list(), dtype="Int64")  # <NA>: success impossible
        return pd.DataFrame(
            {"control_responders": np.arange(self.n_c + 1), "treatment_needed": need}
        )

    def boundary_list(self) -> list[int | None]:
        """The boundary with ``None`` where success is impossible (JSON form)."""
        return [None if v > self.n_t else int(v) for v in self.boundary]

    def __str__(self) -> str:
        return (
            f"Two-arm design: {self.n_t} treatment, {self.n_c} control patients\n"
            f"Success if {self.rule}"
        )


@dataclass(frozen=True)
class TwoArmOC:
    """Operating characteristics of a :class:`TwoArmDesign` at true rate scenarios."""

    design: TwoArmDesign
    theta_t: NDArray[np.float64]
    theta_c: NDArray[np.float64]
    prob_success: NDArray[np.float64]
    grid: bool

    def to_frame(self) -> pd.DataFrame:
        """Long table ``theta_t``, ``theta_c``, ``prob_success`` (one row per scenario)."""
        if self.grid:
            tt, tc = np.meshgrid(self.theta_t, self.theta_c, indexing="ij")
            return pd.DataFrame(
                {
                    "theta_t": tt.ravel(),
                    "theta_c": tc.ravel(),
                    "prob_success": self.prob_success.ravel(),
                }
            )
        tt, tc = np.broadcast_arrays(self.theta_t, self.theta_c)
        return pd.DataFrame({"theta_t": tt, "theta_c": tc, "prob_success": self.prob_success})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (design, boundary and ``oc`` rows)."""
        d = self.design
        return {
            "n_t": d.n_t,
            "n_c": d.n_c,
            "rule": str(d.rule),
            "decision_boundary": d.boundary_list(),
            "oc": self.to_frame().to_dict(orient="records"),
        }

    def __str__(self) -> str:
        d = self.design
        head = [f"Operating characteristics, n_t = {d.n_t}, n_c = {d.n_c}", f"Success if {d.rule}"]
        if self.grid:
            table = pd.DataFrame(
                self.prob_success,
                index=pd.Index(np.round(self.theta_t, 4), name="theta_t"),
                columns=pd.Index(np.round(self.theta_c, 4), name="theta_c"),
            ).to_string(float_format=lambda v: f"{v:.4f}")
        else:
            table = self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4f}")
        return "\n".join([*head, _boundary_text(d), table])


def _boundary_text(d: TwoArmDesign) -> str:
    parts = []
    for yc, b in enumerate(d.boundary):
        parts.append(f"{yc}:{'-' if b > d.n_t else int(b)}")
    return "Treatment responders needed for success, by control responders: " + " ".join(parts)


def two_arm_oc(
    prior_t: BetaMixture,
    prior_c: BetaMixture,
    n_t: int,
    n_c: int,
    rule: TwoArmRule,
    theta_t: ArrayLike,
    theta_c: ArrayLike,
    *,
    grid: bool = False,
) -> TwoArmOC:
    """Exact operating characteristics of a two-arm design (RBesT's ``oc2S``).

    Parameters
    ----------
    prior_t, prior_c : BetaMixture
        Analysis priors of treatment and control.
    n_t, n_c : int
        Patients per arm (``n_t >= 1``, ``n_c >= 0``).
    rule : TwoArmRule
        Success rule.
    theta_t, theta_c : array_like
        True rates: paired scenarios (broadcast), or the axes of a grid when ``grid``.
    grid : bool, default False
        Evaluate every combination of ``theta_t`` and ``theta_c``.
    """
    design = TwoArmDesign(prior_t, prior_c, n_t, n_c, rule)
    tt, tc = _check_rates(theta_t, "theta_t"), _check_rates(theta_c, "theta_c")
    if not grid:
        try:
            tt, tc = (np.array(v) for v in np.broadcast_arrays(tt, tc))
        except ValueError as exc:
            raise SpecError(
                f"theta_t and theta_c need equal lengths (or one value), got {tt.size} and "
                f"{tc.size}; use grid=True for all combinations"
            ) from exc
    return TwoArmOC(design, tt, tc, design.prob_success(tt, tc, grid=grid), grid)


def two_arm_assurance(
    prior_t: BetaMixture,
    prior_c: BetaMixture,
    n_t: int,
    n_c: int,
    rule: TwoArmRule,
    *,
    design_t: BetaMixture | None = None,
    design_c: BetaMixture | None = None,
) -> float:
    """Probability of success under design priors (RBesT's ``pos2S``).

    See :meth:`TwoArmDesign.assurance`.
    """
    return TwoArmDesign(prior_t, prior_c, n_t, n_c, rule).assurance(design_t, design_c)


# ---------------------------------------------------------------------------- sample size
@dataclass(frozen=True)
class TwoArmSampleSize:
    """Result of :func:`two_arm_sample_size`.

    Attributes
    ----------
    n_t, n_c : int or None
        Smallest treatment size (and its control size) meeting both requirements.
    n_t_stable : int or None
        Smallest ``n_t`` from which every larger one searched also qualifies.
    table : pandas.DataFrame
        ``n_t``, ``n_c``, ``type1_error`` (largest over the null rates), ``worst_null``,
        ``power`` and ``ok`` for every size searched.
    control_ess : float or None
        ESS of the control prior used by ``allocation="ess"``.
    seconds : float
        Run time of the search.
    """

    n_t: int | None
    n_c: int | None
    n_t_stable: int | None
    rule: TwoArmRule
    null: tuple[float, ...]
    alt_t: float
    alt_c: float
    power: float
    alpha: float
    allocation: str
    control_ess: float | None
    table: pd.DataFrame
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with the searched table."""
        row = None if self.n_t is None else self.table.loc[self.table["n_t"] == self.n_t].iloc[0]
        return {
            "n_t": self.n_t,
            "n_c": self.n_c,
            "n_t_stable": self.n_t_stable,
            "rule": str(self.rule),
            "null": list(self.null),
            "alt_t": self.alt_t,
            "alt_c": self.alt_c,
            "required_power": self.power,
            "alpha": self.alpha,
            "allocation": self.allocation,
            "control_ess": self.control_ess,
            "type1_error": None if row is None else float(row["type1_error"]),
            "power": None if row is None else float(row["power"]),
            "seconds": self.seconds,
            "table": self.table.to_dict(orient="records"),
        }

    def __str__(self) -> str:
        nulls = ", ".join(f"{v:g}" for v in self.null)
        head = (
            f"Success if {self.rule}\nAllocation: {self.allocation}"
            + ("" if self.control_ess is None else f" (control prior ESS {self.control_ess:.1f})")
            + f"\nRequire P(success | rate_t = rate_c = theta) <= {self.alpha:g} for theta in "
            f"{{{nulls}}} and P(success | rate_t {self.alt_t:g}, rate_c {self.alt_c:g}) >= "
            f"{self.power:g}"
        )
        table = self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        if self.n_t is None:
            return f"{head}\n{table}\nNo sample size searched meets both."
        row = self.table.loc[self.table["n_t"] == self.n_t].iloc[0]
        stable = (
            f"every n_t from {self.n_t_stable} on qualifies"
            if self.n_t_stable is not None
            else "some larger n_t fail (saw-tooth); check the table"
        )
        return (
            f"{head}\n{table}\nSmallest design: n_t = {self.n_t}, n_c = {self.n_c} (type-I "
            f"error {row['type1_error']:.4f}, power {row['power']:.4f}); {stable}. "
            f"Search took {self.seconds:.1f} s."
        )


def control_size(
    n_t: int, allocation: float | str, *, control_ess: float | None = None, n_c_min: int = 1
) -> int:
    """Control patients for ``n_t`` treatment patients.

    ``allocation`` a number ``k > 0``: ``n_c = round(k n_t)`` (``1`` is 1:1). ``"ess"``:
    ``n_c = n_t - round(ESS)`` of the control prior (the historical controls replace about
    ESS concurrent ones). Never fewer than ``n_c_min``.
    """
    if allocation == "ess":
        if control_ess is None:
            raise SpecError("allocation 'ess' needs the ESS of the control prior")
        n_c = n_t - round(control_ess)
    else:
        k = float(allocation)
        if not np.isfinite(k) or k <= 0:
            raise SpecError(f"allocation must be a ratio > 0 or 'ess', got {allocation!r}")
        n_c = round(k * n_t)
    return max(n_c, n_c_min)


def two_arm_sample_size(
    prior_t: BetaMixture,
    prior_c: BetaMixture,
    rule: TwoArmRule,
    *,
    null: ArrayLike,
    alt_t: float,
    alt_c: float,
    power: float = 0.8,
    alpha: float = 0.05,
    n_t_min: int = 5,
    n_t_max: int = 100,
    step: int = 1,
    allocation: float | str = 1.0,
    n_c_min: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TwoArmSampleSize:
    """Search treatment sizes ``n_t`` (control size by ``allocation``) for error and power.

    The type-I error of a two-arm design depends on the common rate: it is taken as the
    largest probability of success over ``rate_t = rate_c = theta`` for every ``theta`` in
    ``null`` (for a MAP control prior give the plausible range of control rates, the
    inflation is largest where the prior and the data conflict). Power is the probability of
    success at ``(alt_t, alt_c)``. Both are exact. Each size computes one decision matrix
    of ``(n_t + 1)`` by quadrature nodes incomplete beta functions per criterion;
    ``progress(done, total)`` is called after each size.

    Parameters
    ----------
    allocation : float or "ess", default 1
        ``n_c = round(allocation * n_t)``, or ``"ess"``: ``n_c = n_t - round(ESS)`` with the
        ELIR ESS of ``prior_c``, at least ``n_c_min``.
    """
    from pclbayes.planning.ess import ess

    nulls = _check_rates(null, "null")
    alt_t = check_probability(alt_t, "alt_t", open_interval=False)
    alt_c = check_probability(alt_c, "alt_c", open_interval=False)
    power = check_probability(power, "power")
    alpha = check_probability(alpha, "alpha")
    n_t_min = check_count(n_t_min, "n_t_min", minimum=1)
    n_t_max = check_count(n_t_max, "n_t_max", minimum=n_t_min)
    step = check_count(step, "step", minimum=1)
    n_c_min = check_count(n_c_min, "n_c_min")
    control_ess = float(ess(prior_c)) if allocation == "ess" else None
    sizes = list(range(n_t_min, n_t_max + 1, step))
    theta_t = np.append(nulls, alt_t)
    theta_c = np.append(nulls, alt_c)
    rows = []
    start = time.perf_counter()
    for i, n_t in enumerate(sizes):
        n_c = control_size(n_t, allocation, control_ess=control_ess, n_c_min=n_c_min)
        design = TwoArmDesign(prior_t, prior_c, n_t, n_c, rule)
        pos = design.prob_success(theta_t, theta_c)
        worst = int(np.argmax(pos[:-1]))
        rows.append(
            {
                "n_t": n_t,
                "n_c": n_c,
                "type1_error": float(pos[worst]),
                "worst_null": float(nulls[worst]),
                "power": float(pos[-1]),
                "ok": bool(pos[worst] <= alpha and pos[-1] >= power),
            }
        )
        if progress is not None:
            progress(i + 1, len(sizes))
    table = pd.DataFrame(rows)
    ok = table["ok"].to_numpy()
    first = int(np.argmax(ok)) if ok.any() else None
    stable = None
    if ok[-1]:
        fails = np.flatnonzero(~ok)
        stable = int(table["n_t"].iloc[fails[-1] + 1]) if fails.size else n_t_min
    return TwoArmSampleSize(
        n_t=None if first is None else int(table["n_t"].iloc[first]),
        n_c=None if first is None else int(table["n_c"].iloc[first]),
        n_t_stable=stable,
        rule=rule,
        null=tuple(float(v) for v in nulls),
        alt_t=alt_t,
        alt_c=alt_c,
        power=power,
        alpha=alpha,
        allocation=(
            "n_c = n_t - round(ESS of the control prior)"
            if allocation == "ess"
            else f"n_c = {float(allocation):g} n_t"
        ),
        control_ess=control_ess,
        table=table,
        seconds=time.perf_counter() - start,
    )

