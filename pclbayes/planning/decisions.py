r"""Decision rules for a single-arm response-rate trial and their exact operating characteristics.

A *criterion* is :math:`P(\theta > t \mid \text{data}) > c` (or :math:`P(\theta < t \mid
\text{data}) > c`); a *rule* declares success when all its criteria hold. With ``r``
responders in ``n`` patients the posterior is an exact beta mixture, so the success indicator
:math:`s(r)` is computed once for ``r = 0..n``; the probability of success at a true rate
:math:`\theta` is then the binomial sum

.. math:: \mathrm{PoS}(\theta) = \sum_{r=0}^{n} \binom{n}{r}\theta^r(1-\theta)^{n-r}\, s(r),

evaluated for many rates at once as a (rates x responders) pmf matrix times ``s``. No
simulation is involved. An optional interim look after ``n1`` patients stops the trial for
futility when a futility rule holds; the two-stage probabilities are exact sums over the
stage-1 and stage-2 responder counts.

Memory stays bounded whatever the sample size: the binomial sums and the two-stage sums are
computed in blocks of at most :data:`CHUNK_CELLS` values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes._text import text_table
from pclbayes.errors import SpecError
from pclbayes.planning._common import (
    as_float_vector,
    binomial_pmf_matrix,
    check_count,
    check_probability,
    log_binom_coef,
)
from pclbayes.planning.mixture import BetaMixture
from pclbayes.planning.update import posterior_prob, predictive

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Criterion",
    "DecisionRule",
    "InterimFutility",
    "OperatingCharacteristics",
    "SampleSizeResult",
    "assurance",
    "decision_boundary",
    "decision_rule",
    "operating_characteristics",
    "sample_size",
]

Direction = Literal[">", "<"]

CHUNK_CELLS = 2**21
"""Values of a pmf matrix (or of a two-stage sum) computed at once (16 MB of floats)."""


def _pmf_dot(n: int, rates: NDArray, vec: NDArray) -> NDArray[np.float64]:
    """``binomial_pmf_matrix(n, rates) @ vec``, computed a block of rates at a time."""
    rows = max(1, CHUNK_CELLS // (n + 1))
    vec = np.asarray(vec, dtype=float)
    if rates.size <= rows:
        return binomial_pmf_matrix(n, rates) @ vec
    return np.concatenate(
        [binomial_pmf_matrix(n, rates[i : i + rows]) @ vec for i in range(0, rates.size, rows)]
    )


def _r1_blocks(n1: int, cells_per_r1: int) -> list[slice]:
    """Blocks of stage-1 responder counts ``0..n1`` of at most :data:`CHUNK_CELLS` values."""
    rows = max(1, CHUNK_CELLS // max(cells_per_r1, 1))
    return [slice(i, min(i + rows, n1 + 1)) for i in range(0, n1 + 1, rows)]


@dataclass(frozen=True)
class Criterion:
    """One posterior criterion ``P(θ > threshold | data) > prob`` (``direction=">"``).

    With ``direction="<"`` the criterion reads ``P(θ < threshold | data) > prob`` (a futility
    or "low rate" statement).
    """

    threshold: float
    prob: float
    direction: Direction = ">"

    def __post_init__(self) -> None:
        check_probability(self.threshold, "threshold")
        check_probability(self.prob, "prob")
        if self.direction not in (">", "<"):
            raise SpecError(f"direction must be '>' or '<', got {self.direction!r}")

    def posterior_prob(self, prior: BetaMixture, r: ArrayLike, n: int) -> NDArray[np.float64]:
        """Posterior probability in the criterion for responders ``r`` out of ``n``."""
        return posterior_prob(prior, r, n, self.threshold, upper=self.direction == ">")

    def met(self, prior: BetaMixture, r: ArrayLike, n: int) -> NDArray[np.bool_]:
        """Whether the criterion holds for responders ``r`` out of ``n``."""
        return self.posterior_prob(prior, r, n) > self.prob

    def __str__(self) -> str:
        return f"P(rate {self.direction} {self.threshold:g} | data) > {self.prob:g}"


@dataclass(frozen=True)
class DecisionRule:
    """Success when every criterion holds (dual criteria combine significance and relevance)."""

    criteria: tuple[Criterion, ...]

    def __post_init__(self) -> None:
        if not self.criteria:
            raise SpecError("a decision rule needs at least one criterion")
        if not all(isinstance(c, Criterion) for c in self.criteria):
            raise SpecError("criteria must be Criterion objects")

    def indicator(self, prior: BetaMixture, n: int) -> NDArray[np.bool_]:
        """Success indicator ``s(r)`` for ``r = 0..n`` responders out of ``n``."""
        n = check_count(n, "n")
        r = np.arange(n + 1)
        out = np.ones(n + 1, dtype=bool)
        for c in self.criteria:
            out &= c.met(prior, r, n)
        return out

    def evaluate(self, prior: BetaMixture, r: int, n: int) -> bool:
        """Decision for an observed ``r`` out of ``n`` (True = success)."""
        r, n = check_count(r, "r"), check_count(n, "n")
        if r > n:
            raise SpecError(f"responders r={r} cannot exceed patients n={n}")
        return bool(self.indicator(prior, n)[r])

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.criteria)


def decision_rule(
    threshold: float | Sequence[float],
    prob: float | Sequence[float],
    direction: Direction | Sequence[Direction] = ">",
) -> DecisionRule:
    """Build a rule from thresholds and probabilities (scalars or equal-length sequences).

    Examples
    --------
    >>> str(decision_rule([0.2, 0.3], [0.95, 0.5]))
    'P(rate > 0.2 | data) > 0.95 and P(rate > 0.3 | data) > 0.5'
    """
    t = np.atleast_1d(np.asarray(threshold, dtype=float))
    p = np.atleast_1d(np.asarray(prob, dtype=float))
    d = [direction] * t.size if isinstance(direction, str) else list(direction)
    if not (t.size == p.size == len(d)):
        raise SpecError(
            f"threshold, prob and direction need equal lengths, got {t.size}, {p.size}, {len(d)}"
        )
    return DecisionRule(
        tuple(Criterion(float(ti), float(pi), di) for ti, pi, di in zip(t, p, d, strict=True))
    )


@dataclass(frozen=True)
class InterimFutility:
    """Interim look after ``n1`` patients: stop for futility when ``rule`` holds."""

    n1: int
    rule: DecisionRule

    def __post_init__(self) -> None:
        check_count(self.n1, "n1", minimum=1)

    def __str__(self) -> str:
        return f"stop after {self.n1} patients if {self.rule}"


def decision_boundary(prior: BetaMixture, n: int, rule: DecisionRule) -> int | None:
    """Smallest number of responders out of ``n`` that meets ``rule`` (None if none does).

    For rules made of ``>`` criteria success is monotone in the responders (the binomial
    likelihood has a monotone likelihood ratio), so success holds exactly for
    ``r >= boundary``.
    """
    s = rule.indicator(prior, n)
    idx = np.flatnonzero(s)
    return int(idx[0]) if idx.size else None


def _stop_boundary(stop: NDArray[np.bool_]) -> int | None:
    idx = np.flatnonzero(stop)
    return int(idx[-1]) if idx.size else None


@dataclass(frozen=True)
class OperatingCharacteristics:
    """Exact operating characteristics of a one- or two-stage single-arm design.

    Attributes
    ----------
    n : int
        Final sample size.
    rule : DecisionRule
        Success rule at the final analysis.
    true_rates : ndarray
        Assumed true response rates.
    prob_success : ndarray
        Probability of declaring success at each true rate.
    boundary : int or None
        Minimum responders out of ``n`` for success (single-stage meaning).
    interim : InterimFutility or None
        Interim futility look, if any.
    prob_stop_early : ndarray or None
        Probability of stopping for futility at the interim.
    expected_n : ndarray or None
        Expected number of patients.
    futility_boundary : int or None
        Largest stage-1 responder count that stops the trial (None: never stops).
    """

    n: int
    rule: DecisionRule
    true_rates: NDArray[np.float64]
    prob_success: NDArray[np.float64]
    boundary: int | None
    interim: InterimFutility | None = None
    prob_stop_early: NDArray[np.float64] | None = None
    expected_n: NDArray[np.float64] | None = None
    futility_boundary: int | None = None

    def _columns(self) -> dict[str, NDArray[np.float64]]:
        cols = {"true_rate": self.true_rates, "prob_success": self.prob_success}
        if self.prob_stop_early is not None and self.expected_n is not None:
            cols["prob_stop_early"] = self.prob_stop_early
            cols["expected_n"] = self.expected_n
        return cols

    def to_frame(self) -> pd.DataFrame:
        """Table with ``true_rate``, ``prob_success`` (and interim columns if any)."""
        import pandas as pd

        return pd.DataFrame(self._columns())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``oc`` rows, boundaries, rule and design)."""
        cols = self._columns()
        out: dict[str, Any] = {
            "n": self.n,
            "rule": str(self.rule),
            "decision_boundary": self.boundary,
            "oc": [{k: float(v[i]) for k, v in cols.items()}
                   for i in range(np.size(self.true_rates))],
        }
        if self.interim is not None:
            out["interim"] = {
                "n1": self.interim.n1,
                "rule": str(self.interim.rule),
                "futility_boundary": self.futility_boundary,
            }
        return out

    def __str__(self) -> str:
        head = [f"Operating characteristics, n = {self.n}", f"Success if {self.rule}"]
        if self.boundary is None:
            head.append("Success is impossible at this sample size.")
        else:
            head.append(f"Decision boundary: success iff responders >= {self.boundary}")
        if self.interim is not None:
            fb = self.futility_boundary
            stop = "never stops" if fb is None else f"stops if stage-1 responders <= {fb}"
            head.append(f"Interim: {self.interim} ({stop})")
        table = text_table({k: [f"{x:.4f}" for x in v] for k, v in self._columns().items()})
        return "\n".join([*head, table])


def _futility_stop(prior: BetaMixture, futility: InterimFutility | None, n: int) -> NDArray | None:
    if futility is None:
        return None
    if futility.n1 >= n:
        raise SpecError(f"interim n1={futility.n1} must be smaller than the final n={n}")
    return futility.rule.indicator(prior, futility.n1)


def _two_stage_success(
    s: NDArray[np.bool_], stop: NDArray[np.bool_], n1: int, n: int, rates: NDArray
) -> tuple[NDArray, NDArray]:
    n2 = n - n1
    b1 = binomial_pmf_matrix(n1, rates)  # (T, n1 + 1)
    b2 = binomial_pmf_matrix(n2, rates)  # (T, n2 + 1)
    cont = (~stop).astype(float)
    pos = np.zeros(rates.size)
    for blk in _r1_blocks(n1, (n2 + 1) * max(rates.size, 1)):
        r1 = np.arange(n1 + 1)[blk]
        hankel = s[r1[:, None] + np.arange(n2 + 1)[None, :]].astype(float)
        inner = b2 @ hankel.T  # (T, block): P(final success | r1)
        pos += (b1[:, blk] * inner) @ cont[blk]
    return pos, b1 @ stop.astype(float)


def operating_characteristics(
    prior: BetaMixture,
    n: int,
    rule: DecisionRule,
    true_rates: ArrayLike,
    *,
    futility: InterimFutility | None = None,
) -> OperatingCharacteristics:
    """Exact probability of success at each true response rate.

    Parameters
    ----------
    prior : BetaMixture
        Analysis prior (e.g. a robust MAP prior).
    n : int
        Final number of patients.
    rule : DecisionRule
        Success rule at the final analysis.
    true_rates : array_like
        True response rates at which to evaluate the design.
    futility : InterimFutility, optional
        Interim futility look after ``futility.n1 < n`` patients.

    Returns
    -------
    OperatingCharacteristics
        Printable result; ``.to_frame()`` gives the table.
    """
    n = check_count(n, "n", minimum=1)
    rates = as_float_vector(true_rates, "true_rates")
    if np.any((rates < 0) | (rates > 1)):
        raise SpecError(f"true rates must lie in [0, 1], got {rates.tolist()}")
    s = rule.indicator(prior, n)
    stop = _futility_stop(prior, futility, n)
    if stop is None or futility is None:
        pos = _pmf_dot(n, rates, s)
        return OperatingCharacteristics(
            n=n,
            rule=rule,
            true_rates=rates,
            prob_success=pos,
            boundary=decision_boundary(prior, n, rule),
        )
    pos, p_stop = _two_stage_success(s, stop, futility.n1, n, rates)
    return OperatingCharacteristics(
        n=n,
        rule=rule,
        true_rates=rates,
        prob_success=pos,
        boundary=int(np.flatnonzero(s)[0]) if s.any() else None,
        interim=futility,
        prob_stop_early=p_stop,
        expected_n=futility.n1 + (1 - p_stop) * (n - futility.n1),
        futility_boundary=_stop_boundary(stop),
    )


def assurance(
    prior: BetaMixture,
    n: int,
    rule: DecisionRule,
    *,
    design_prior: BetaMixture | None = None,
    futility: InterimFutility | None = None,
) -> float:
    """Probability of success averaged over a design prior (default: the analysis prior).

    Single stage: ``Σ_r P_pred(r) s(r)`` with the beta-binomial mixture predictive of the
    design prior. With an interim look, stage-1 and stage-2 responders are dependent through
    the rate; the joint predictive ``P_k(r1, r2) = C(n1, r1) C(n2, r2) B(a_k + r1 + r2,
    b_k + n - r1 - r2) / B(a_k, b_k)`` is summed exactly.
    """
    n = check_count(n, "n", minimum=1)
    design = prior if design_prior is None else design_prior
    s = rule.indicator(prior, n)
    stop = _futility_stop(prior, futility, n)
    if stop is None or futility is None:
        return float(predictive(design, n).pmf() @ s)
    n1 = futility.n1
    n2 = n - n1
    r2 = np.arange(n2 + 1, dtype=float)[None, :, None]
    a, b = design.a[None, None, :], design.b[None, None, :]
    total = 0.0
    for blk in _r1_blocks(n1, (n2 + 1) * design.a.size):
        r1 = np.arange(n1 + 1, dtype=float)[blk][:, None, None]
        logp = (
            log_binom_coef(n1, r1)
            + log_binom_coef(n2, r2)
            + special.betaln(a + r1 + r2, b + n - r1 - r2)
            - special.betaln(a, b)
        )
        joint = np.exp(logp) @ design.weights  # (block, n2 + 1)
        hankel = s[np.arange(n1 + 1)[blk][:, None] + np.arange(n2 + 1)[None, :]]
        total += float(np.sum(joint * hankel * (~stop[blk])[:, None]))
    return total


@dataclass(frozen=True)
class SampleSizeResult:
    """Result of :func:`sample_size`.

    Attributes
    ----------
    n : int or None
        Smallest ``n`` meeting both requirements (None if none up to ``n_max``).
    n_stable : int or None
        Smallest ``n`` from which every larger ``n`` up to ``n_max`` also meets them (the
        binomial "saw-tooth" can make a slightly larger ``n`` fail).
    table : pandas.DataFrame
        ``n``, ``boundary``, ``type1_error``, ``power`` and ``ok`` for every ``n`` searched.
    """

    n: int | None
    n_stable: int | None
    rule: DecisionRule
    null: float
    alt: float
    power: float
    alpha: float
    table: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        row = None if self.n is None else self.table.loc[self.table["n"] == self.n].iloc[0]
        return {
            "n": self.n,
            "n_stable": self.n_stable,
            "rule": str(self.rule),
            "null": self.null,
            "alt": self.alt,
            "required_power": self.power,
            "alpha": self.alpha,
            "decision_boundary": None if row is None else _opt_int(row["boundary"]),
            "type1_error": None if row is None else float(row["type1_error"]),
            "power": None if row is None else float(row["power"]),
        }

    def __str__(self) -> str:
        req = (
            f"Success if {self.rule}\nRequire P(success | rate {self.null:g}) <= {self.alpha:g} "
            f"and P(success | rate {self.alt:g}) >= {self.power:g}"
        )
        if self.n is None:
            return f"{req}\nNo sample size up to {int(self.table['n'].max())} meets both."
        row = self.table.loc[self.table["n"] == self.n].iloc[0]
        n_max = int(self.table["n"].max())
        stable = (
            f"every n from {self.n_stable} to {n_max} qualifies"
            if self.n_stable is not None
            else f"some larger n up to {n_max} fail (saw-tooth); check the table"
        )
        return (
            f"{req}\nSmallest n: {self.n} (boundary {_opt_int(row['boundary'])} responders, "
            f"type-I error {row['type1_error']:.4f}, power {row['power']:.4f}); {stable}."
        )


def _opt_int(value: float) -> int | None:
    import pandas as pd

    return None if pd.isna(value) else int(value)


def sample_size(
    prior: BetaMixture,
    rule: DecisionRule,
    *,
    null: float,
    alt: float,
    power: float = 0.8,
    alpha: float = 0.1,
    n_min: int = 1,
    n_max: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> SampleSizeResult:
    """Search ``n`` in ``n_min..n_max`` for type-I error <= ``alpha`` and power >= ``power``.

    Type-I error is the probability of success at the ``null`` rate and power the probability
    of success at the ``alt`` rate, both exact (binomial sums). Every ``n`` evaluates the
    rule's posterior probabilities for ``r = 0..n``, so the work grows like
    :math:`(n_{max}^2 - n_{min}^2)/2` times the number of criteria and mixture components.
    ``progress(done, total)`` is called after each ``n`` (``total = n_max - n_min + 1``).
    """
    import pandas as pd

    null = check_probability(null, "null", open_interval=False)
    alt = check_probability(alt, "alt", open_interval=False)
    power = check_probability(power, "power")
    alpha = check_probability(alpha, "alpha")
    n_min = check_count(n_min, "n_min", minimum=1)
    n_max = check_count(n_max, "n_max", minimum=n_min)
    rates = np.array([null, alt])
    rows = []
    for n in range(n_min, n_max + 1):
        s = rule.indicator(prior, n)
        t1, pw = _pmf_dot(n, rates, s)
        idx = np.flatnonzero(s)
        rows.append(
            {
                "n": n,
                "boundary": float(idx[0]) if idx.size else np.nan,
                "type1_error": t1,
                "power": pw,
                "ok": bool(t1 <= alpha and pw >= power),
            }
        )
        if progress is not None:
            progress(n - n_min + 1, n_max - n_min + 1)
    table = pd.DataFrame(rows)
    table["boundary"] = table["boundary"].astype("Int64")
    ok = table["ok"].to_numpy()
    first = int(table["n"].iloc[np.argmax(ok)]) if ok.any() else None
    stable = None
    if ok[-1]:
        fails = np.flatnonzero(~ok)
        stable = int(table["n"].iloc[fails[-1] + 1]) if fails.size else n_min
    return SampleSizeResult(
        n=first,
        n_stable=stable,
        rule=rule,
        null=null,
        alt=alt,
        power=power,
        alpha=alpha,
        table=table,
    )
