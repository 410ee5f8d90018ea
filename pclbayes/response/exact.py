r"""Exact engine: the beta-binomial posterior by deterministic numerical integration.

Each stratum :math:`s` has two hyperparameters, put on the real line as
:math:`x_s = \operatorname{logit}\mu_s` and :math:`y = \log\kappa` (or :math:`y_s` when the
heterogeneity is stratum-specific). Their posterior density is evaluated on a grid,

.. math::

    p(x, y \mid r) \propto p_\mu(\operatorname{expit} x)\,\mu(1-\mu)\;
    p_\kappa(e^y)\,e^y \prod_j \binom{n_j}{r_j}
    \frac{B(\mu\kappa + r_j, (1-\mu)\kappa + n_j - r_j)}{B(\mu\kappa, (1-\mu)\kappa)},

(the factors :math:`\mu(1-\mu)` and :math:`e^y` are the Jacobians of the transformations), with
the beta-function ratio computed as a product of rising factorials, exact for any counts,
including every patient responding (15/15): no continuity correction is needed or used.
With a shared :math:`\kappa` the strata are independent given :math:`y`, so the joint posterior
over all strata is handled exactly as :math:`p(y \mid r) \prod_s p(x_s \mid y, r)` on 2-D grids.

The grid adapts: a first pass covers the prior range (prior quantiles :math:`10^{-12}` to
:math:`1 - 10^{-12}`); two more passes place the cells where the posterior is (cell density
proportional to the cube root of the marginal posterior density, plus a floor, over the range
that holds all but :math:`10^{-12}` of the mass in each tail), the last with 96 x 80 cells
by default. Cell masses use the midpoint rule; quantiles come from the interpolated CDF on
the cell edges; cohort and new-cohort rates are exact beta mixtures over the grid
(conjugacy), inverted by safeguarded Newton iterations.

The cost does not grow with the cohorts one by one: the log-likelihood of all cohorts on the
grid is a weighted sum of :math:`\max_j n_j` rising-factorial terms
(:func:`log_likelihood`); cohort units of one stratum with equal counts share their summary;
the mixtures' means come from column sums, and their quantiles from compressed mixtures of
a few dozen Gauss nodes, checked against each other and replaced by the full mixture where
they disagree (:meth:`ExactPosterior._rate_quantiles`). Every array is built in blocks of
about :data:`_BLOCK` values, so memory stays bounded whatever the number of cohorts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from scipy.interpolate import CubicSpline, PchipInterpolator

from pclbayes.errors import SpecError
from pclbayes.response.counts import CountData

PROBS = (0.025, 0.5, 0.975)
#: Hard limits of the grid: logit(mu) and log(kappa).
X_LIMITS = (-30.0, 30.0)
Y_LIMITS = (-12.0, 25.0)
_TAIL = 1e-12  # prior tail probability left out of the first pass
_T_MAX = 36.0  # |logit| beyond which a rate is 0 or 1 in double precision
_RISING_MAX = 500  # cohorts up to this size: rising factorials; larger: log-gamma differences
_BLOCK = 1 << 20  # values held at once by the blocked computations (8 MB of doubles)
_FTOL = 1e-9  # a quantile is found when its CDF is within this of its probability
#: Nodes per axis of the successive compressed mixtures of a rate (see _compressed_rule).
_LADDER = (4, 6, 8, 12, 16)
_QTOL = 1e-7  # two successive compressed mixtures agreeing to this: their quantile is used
_GIVE_UP = 1e-3  # two successive compressed mixtures further apart: use the full mixture
_INNER = (float(special.expit(-35.0)), float(special.expit(35.0)))  # else: full mixture


@dataclass(frozen=True)
class Axis:
    """Cells of one grid axis: ``edges`` (m + 1), midpoints ``mid`` and ``widths`` (m)."""

    edges: np.ndarray

    @classmethod
    def span(cls, lo: float, hi: float, m: int) -> Axis:
        """``m`` equal cells from ``lo`` to ``hi``."""
        return cls(np.linspace(lo, hi, m + 1))

    @property
    def mid(self) -> np.ndarray:
        """Cell midpoints."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def widths(self) -> np.ndarray:
        """Cell widths."""
        return np.diff(self.edges)

    def locate(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell index of each value and its position within the cell (0-1, clipped)."""
        idx = np.clip(np.searchsorted(self.edges, v, side="right") - 1, 0, len(self.mid) - 1)
        frac = np.clip((v - self.edges[idx]) / self.widths[idx], 0.0, 1.0)
        return idx, np.where(np.isnan(frac), 0.0, frac)

    def refine(self, p: np.ndarray, m: int) -> Axis:
        """``m`` cells placed where the probabilities ``p`` (one per cell) are.

        The new cell density is proportional to (posterior density)^(1/3) plus a floor,
        over the range that holds all but 1e-12 of the mass in each tail: narrow cells where
        the posterior is, wide ones in its tails.
        """
        p = np.clip(p, 0.0, None) / p.sum()
        cum = np.cumsum(p)
        lo = max(int(np.searchsorted(cum, _TAIL)) - 1, 0)
        hi = min(int(np.searchsorted(cum, 1 - _TAIL)) + 2, len(p))
        edges = self.edges[lo:hi + 1]
        dens = p[lo:hi] / self.widths[lo:hi]
        rho = (dens / dens.max()) ** (1 / 3) + 0.05
        cell = np.concatenate([[0.0], np.cumsum(rho * np.diff(edges))])
        return Axis(np.interp(np.linspace(0.0, 1.0, m + 1), cell / cell[-1], edges))


def _log_expit(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def log_prior_x(prior: Any, x: np.ndarray) -> np.ndarray:
    """Log density of ``x = logit(mu)`` when ``mu`` has prior ``prior`` (Jacobian included)."""
    if getattr(prior, "dist", None) == "Beta":
        a, b = prior.params["alpha"], prior.params["beta"]
        return a * _log_expit(x) + b * _log_expit(-x) - special.betaln(a, b)
    with np.errstate(divide="ignore"):
        return prior.logpdf(special.expit(x)) + _log_expit(x) + _log_expit(-x)


def log_prior_y(prior: Any, y: np.ndarray) -> np.ndarray:
    """Log density of ``y = log(kappa)`` when ``kappa`` has prior ``prior``."""
    with np.errstate(divide="ignore", over="ignore"):
        return prior.logpdf(np.exp(y)) + y


def log_likelihood(x: np.ndarray, y: np.ndarray, n: ArrayLike, r: ArrayLike) -> np.ndarray:
    r"""Beta-binomial log-pmf of ``r`` of ``n`` on the grid ``x[:, None], y[None, :]``.

    ``n`` and ``r`` may be arrays (one entry per cohort): the result is then the sum over
    cohorts, the log-likelihood of all of them. With :math:`a = \mu\kappa`,
    :math:`b = (1-\mu)\kappa`,

    .. math::

        \sum_j \log p(r_j \mid n_j) = \sum_j \log\binom{n_j}{r_j}
        + \sum_{i \ge 0} A_i \log(a + i) + \sum_{i \ge 0} B_i \log(b + i)
        - \sum_{i \ge 0} N_i \log(\kappa + i),

    where :math:`A_i = \#\{j: r_j > i\}`, :math:`B_i = \#\{j: n_j - r_j > i\}` and
    :math:`N_i = \#\{j: n_j > i\}` (rising factorials: exact, no cancellation for huge
    :math:`\kappa`). The cost is that of ``max(n)`` terms however many cohorts there are.
    Cohorts with more than 500 patients use log-gamma differences instead, once per distinct
    ``(n, r)``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    r = np.atleast_1d(np.asarray(r, dtype=np.int64))
    log_a = _log_expit(x)[:, None] + y[None, :]
    log_b = _log_expit(-x)[:, None] + y[None, :]
    a, b, kappa = np.exp(log_a), np.exp(log_b), np.exp(y)
    const = special.gammaln(n + 1.0) - special.gammaln(r + 1.0) - special.gammaln(n - r + 1.0)
    out = np.full(a.shape, float(np.sum(const)))
    small = n <= _RISING_MAX
    out += _log_rising_sum(a, r[small])
    out += _log_rising_sum(b, n[small] - r[small])
    out -= _log_rising_sum(kappa, n[small])[None, :]
    pairs, mult = np.unique(np.stack([n[~small], r[~small]], axis=1), axis=0,
                            return_counts=True)
    for (nn, rr), m in zip(pairs, mult, strict=True):
        out += m * (special.gammaln(a + rr) - special.gammaln(a) + special.gammaln(b + nn - rr)
                    - special.gammaln(b) - special.gammaln(kappa + nn)
                    + special.gammaln(kappa))
    return out


def _log_rising_sum(base: np.ndarray, k: np.ndarray) -> np.ndarray:
    r"""``sum_j log(base (base + 1) ... (base + k_j - 1))`` elementwise, for counts ``k_j``.

    Equal to :math:`\sum_i C_i \log(\text{base} + i)` with :math:`C_i = \#\{j: k_j > i\}`,
    evaluated in blocks of ``i`` so that memory stays at about :data:`_BLOCK` values.
    """
    out = np.zeros(base.shape)
    if k.size == 0 or k.max() == 0:
        return out
    reach = len(k) - np.cumsum(np.bincount(k, minlength=int(k.max()) + 1))[:-1]  # C_i
    terms = np.flatnonzero(reach)
    flat = base.reshape(-1, 1)
    step = max(1, _BLOCK // max(flat.shape[0], 1))
    acc = out.reshape(-1)
    for start in range(0, len(terms), step):
        i = terms[start:start + step]
        acc += np.log(flat + i[None, :].astype(float)) @ reach[i].astype(float)
    return out


def _prior_range(prior: Any, transform, limits: tuple[float, float]) -> tuple[float, float]:
    if not hasattr(prior, "distribution"):
        raise SpecError("the exact engine needs grid bounds for a prior without quantiles; "
                        "pass bounds=((xlo, xhi), (ylo, yhi))")
    lo, hi = prior.distribution().ppf([_TAIL, 1 - _TAIL])
    with np.errstate(divide="ignore"):
        lo, hi = transform(np.clip([lo, hi], 1e-300, None))
    lo = limits[0] if not np.isfinite(lo) else max(limits[0], float(lo))
    hi = limits[1] if not np.isfinite(hi) else min(limits[1], float(hi))
    return lo, hi


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-np.minimum(p, 1 - 1e-16))


@dataclass
class ExactPosterior:
    """Grid posterior of the beta-binomial hyperparameters (see the module docstring).

    Attributes
    ----------
    data : CountData
    heterogeneity : {"shared", "stratum"}
    x : list of Axis
        ``logit(mu)`` cells of each stratum.
    y : list of Axis
        ``log(kappa)`` cells of each stratum (the same object for all when shared).
    joint : list of ndarray
        ``joint[s][i, k]``: posterior probability of cell ``(x_i, y_k)`` of stratum ``s``.
    cond : list of ndarray
        ``cond[s][i, k]``: probability of ``x_i`` given ``y_k`` (columns sum to 1).
    log_evidence : float
        Log marginal likelihood of the counts (for model comparison).
    """

    data: CountData
    heterogeneity: str
    x: list[Axis]
    y: list[Axis]
    joint: list[np.ndarray]
    cond: list[np.ndarray] = field(repr=False)
    log_evidence: float
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ marginals
    def mu_marginal(self, s: int) -> np.ndarray:
        """Posterior cell probabilities of ``logit(mu_s)``."""
        return self.joint[s].sum(axis=1)

    def kappa_marginal(self, s: int = 0) -> np.ndarray:
        """Posterior cell probabilities of ``log(kappa)`` (of stratum ``s`` if not shared)."""
        return self.joint[s].sum(axis=0)

    def expect(self, fn, s: int = 0) -> float:
        """Posterior mean of ``fn(mu, kappa)`` for stratum ``s`` (midpoint rule)."""
        mu = special.expit(self.x[s].mid)[:, None]
        kappa = np.exp(self.y[s].mid)[None, :]
        return float(np.sum(self.joint[s] * fn(mu, kappa)))

    # ------------------------------------------------------------------ summaries
    def mu_summary(self, s: int) -> dict[str, float]:
        """Mean and quantiles of the population-mean rate ``mu_s``."""
        p = self.mu_marginal(s)
        q = special.expit(_cell_quantiles(self.x[s], p, PROBS))
        m = special.expit(self.x[s].mid)
        return _stats(float(p @ m), q, float(p @ m**2))

    def kappa_summary(self, s: int = 0) -> dict[str, float]:
        """Mean and quantiles of ``kappa`` (of stratum ``s`` if not shared)."""
        w = self.kappa_marginal(s)
        q = np.exp(_cell_quantiles(self.y[s], w, PROBS))
        k = np.exp(self.y[s].mid)
        return _stats(float(w @ k), q, float(w @ k**2))

    def function_summary(self, fn, s: int) -> dict[str, float]:
        """Mean and weighted-cell quantiles of ``fn(mu, kappa)`` for stratum ``s``."""
        mu = special.expit(self.x[s].mid)[:, None]
        kappa = np.exp(self.y[s].mid)[None, :]
        values = np.broadcast_to(fn(mu, kappa), self.joint[s].shape).ravel()
        w = self.joint[s].ravel()
        order = np.argsort(values)
        cum = np.cumsum(w[order]) - 0.5 * w[order]
        q = np.interp(PROBS, cum, values[order])
        return _stats(float(w @ values), q, float(w @ values**2))

    def _mixture(self, s: int, r: int = 0, n: int = 0, block: int = 1):
        """Beta mixture ``(w, a, b)`` of a rate given ``r`` of ``n`` over stratum ``s``'s grid.

        ``block > 1`` merges ``block x block`` cells (weights summed, ``a`` and ``b`` averaged
        with the weights): a cheaper mixture used only to start the root finder.
        """
        mu = special.expit(self.x[s].mid)[:, None]
        kappa = np.exp(self.y[s].mid)[None, :]
        w = self.joint[s]
        a = np.broadcast_to(mu * kappa, w.shape)
        b = np.broadcast_to((1 - mu) * kappa, w.shape)
        ni, nk = (m // block * block for m in w.shape)
        if block > 1 and ni and nk:
            def merge(v: np.ndarray) -> np.ndarray:
                return v[:ni, :nk].reshape(ni // block, block, nk // block, block).sum((1, 3))

            wb = merge(w)
            safe = np.maximum(wb, 1e-300)
            w, a, b = wb, merge(w * a) / safe, merge(w * b) / safe
        keep = w > 1e-14 * w.max()
        return w[keep] / w[keep].sum(), a[keep] + r, b[keep] + (n - r)

    def _rate_summaries(self, s: int, r: np.ndarray, n: np.ndarray) -> list[dict[str, float]]:
        r"""Mean, SD and quantiles of a rate given ``r[u]`` of ``n[u]``, for each ``u``.

        The rate's posterior is the beta mixture :math:`\sum_c w_c\,\mathrm{Beta}(a_c + r,
        b_c + n - r)` over stratum ``s``'s cells. Its mean and second moment are sums over
        all cells (in blocks of rows); its quantiles come from :meth:`_rate_quantiles`.
        """
        r, n = np.asarray(r, dtype=float), np.asarray(n, dtype=float)
        mean, second = self._rate_moments(s, r, n)
        q = self._rate_quantiles(s, r, n).reshape(len(r), len(PROBS))
        return [_stats(m, qu, sec) for m, qu, sec in zip(mean, q, second, strict=True)]

    def _rate_moments(self, s: int, r: np.ndarray, n: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        r"""First two moments of each rate of :meth:`_rate_summaries`, summed by column.

        ``kappa`` is constant along a column :math:`k` of the grid, so with
        :math:`W_k = \sum_i w_{ik}`, :math:`M_k = \sum_i w_{ik}\mu_i` and
        :math:`S_k = \sum_i w_{ik}\mu_i^2`,

        .. math::

            E[p] = \sum_k \frac{\kappa_k M_k + r W_k}{\kappa_k + n}, \qquad
            E[p^2] = \sum_k \frac{\kappa_k^2 S_k + (2r + 1)\kappa_k M_k + r(r+1) W_k}
            {(\kappa_k + n)(\kappa_k + n + 1)}.
        """
        mu, kappa = special.expit(self.x[s].mid), np.exp(self.y[s].mid)
        joint = self.joint[s]
        col, m1, m2 = joint.sum(axis=0), mu @ joint, (mu * mu) @ joint
        mean, second = np.empty(len(r)), np.empty(len(r))
        step = max(1, _BLOCK // len(kappa))
        for i in range(0, len(r), step):
            rr, kn = r[i:i + step, None], kappa[None, :] + n[i:i + step, None]
            mean[i:i + step] = np.sum((kappa * m1 + rr * col) / kn, axis=1)
            second[i:i + step] = np.sum((kappa**2 * m2 + (2 * rr + 1) * kappa * m1
                                         + rr * (rr + 1) * col) / (kn * (kn + 1)), axis=1)
        return mean, second

    def _rate_quantiles(self, s: int, r: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Quantiles ``PROBS`` of each rate of :meth:`_rate_summaries`, flattened.

        The full mixture has one component per cell (thousands); the quantiles are found
        first on compressed mixtures of ``m x m`` nodes (:func:`_compressed_rule`,
        ``m`` in :data:`_LADDER`), each started from the previous one's answer. A quantile is
        accepted when two successive mixtures agree to :data:`_QTOL` (their error falls
        geometrically with ``m``, so the finer one is the more accurate by far). A quantile
        that no pair confirms, whose mixtures disagree by more than :data:`_GIVE_UP` (a
        posterior too wide or skewed for a few nodes, as with a handful of cohorts), or that
        lies within ``expit(-35)`` of 0 or 1 is found on the full mixture, started from the
        last compressed answer.
        """
        rr = np.repeat(r, len(PROBS))
        ss = np.repeat(n - r, len(PROBS))
        q = np.tile(PROBS, len(r))
        result = np.full(len(q), np.nan)
        pending = np.arange(len(q))
        previous = None
        full: list[tuple[np.ndarray, np.ndarray | None]] = []  # for the full mixture
        for m in _LADDER:
            if not pending.size:
                break
            w, xs, ys = self._rule(s, m)
            mu, kappa = special.expit(xs), np.exp(ys)
            est = self._solve_blocks(w, mu * kappa, (1 - mu) * kappa, rr[pending],
                                     ss[pending], q[pending], previous)
            if previous is None:
                previous = est
                continue
            diff = np.abs(est - previous)
            inner = (np.minimum(est, previous) > _INNER[0]) & (np.maximum(est, previous)
                                                                < _INNER[1])
            ok = (diff <= _QTOL) & inner
            result[pending[ok]] = est[ok]
            hopeless = ~ok & ((diff > _GIVE_UP) | ~inner)
            full.append((pending[hopeless], est[hopeless]))
            keep = ~ok & ~hopeless
            pending, previous = pending[keep], est[keep]
        full.append((pending, previous))
        idx = np.concatenate([i for i, _ in full])
        if idx.size:
            start = np.concatenate([e for i, e in full if e is not None and i.size]
                                   or [np.empty(0)])
            result[idx] = self._full_quantiles(s, rr[idx], ss[idx], q[idx], start)
        return result

    def _full_quantiles(self, s: int, r: np.ndarray, n_r: np.ndarray, q: np.ndarray,
                        start: np.ndarray) -> np.ndarray:
        """Quantiles on the full mixture of stratum ``s``, from the compressed ``start``.

        A mixture of ``2 x 2`` merged cells (a quarter of the components) first brings the
        start within ``1e-6`` in CDF and decides which quantiles lie beyond ``expit(+-30)``;
        only those are tested against the limits on the full mixture.
        """
        w, a, b = self._mixture(s, block=2)
        start = self._solve_blocks(w, a, b, r, n_r, q, start, edges=True, tol=1e-6)
        w, a, b = self._mixture(s)
        near = np.abs(_clipped_logit(start)) > 30.0
        out = np.empty(len(q))
        for sel, edges in ((near, True), (~near, False)):
            if sel.any():
                out[sel] = self._solve_blocks(w, a, b, r[sel], n_r[sel], q[sel], start[sel],
                                              edges=edges)
        return out

    @staticmethod
    def _solve_blocks(w: np.ndarray, a: np.ndarray, b: np.ndarray, r: np.ndarray,
                      s: np.ndarray, q: np.ndarray, start: np.ndarray | None,
                      edges: bool = False, tol: float = _FTOL) -> np.ndarray:
        """:func:`_solve` for the mixtures ``Beta(a + r[p], b + s[p])``, in blocks of rows."""
        out = np.empty(len(q))
        step = max(1, _BLOCK // len(w))
        for i in range(0, len(q), step):
            sl = slice(i, i + step)
            shape = (len(q[sl]), len(w))
            t0 = None if start is None else _clipped_logit(start[sl])
            out[sl] = _solve(np.broadcast_to(w, shape), a[None, :] + r[sl, None],
                             b[None, :] + s[sl, None], q[sl], t0, tol, edges)
        return out

    def _rule(self, s: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``m x m``-node compressed grid of stratum ``s`` (computed once)."""
        key = ("rule", s, m)
        if key not in self._cache:
            self._cache[key] = _compressed_rule(self.x[s].mid, self.y[s].mid, self.joint[s], m)
        return self._cache[key]

    def _mixture_summary(self, s: int, r: int = 0, n: int = 0) -> dict[str, float]:
        return self._rate_summaries(s, np.array([r]), np.array([n]))[0]

    def cohort_summaries(self) -> list[dict[str, float]]:
        """:meth:`cohort_summary` of every cohort unit, computed together (and once).

        Units of the same stratum with the same counts share their summary, so the work
        grows with the number of distinct ``(stratum, n, r)``, not of units.
        """
        if "cohorts" not in self._cache:
            d = self.data
            keys = np.stack([d.stratum_index, d.n, d.r], axis=1).astype(np.int64)
            distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
            rows: list[dict[str, float]] = [{}] * len(distinct)
            for s in np.unique(distinct[:, 0]):
                idx = np.flatnonzero(distinct[:, 0] == s)
                out = self._rate_summaries(int(s), distinct[idx, 2], distinct[idx, 1])
                for i, row in zip(idx, out, strict=True):
                    rows[i] = row
            self._cache["cohorts"] = [rows[i] for i in np.ravel(inverse)]
        return self._cache["cohorts"]

    def cohort_summary(self, j: int) -> dict[str, float]:
        """Mean and quantiles of cohort unit ``j``'s rate (a beta mixture over the grid)."""
        return dict(self.cohort_summaries()[j])

    def predictive_summary(self, s: int) -> dict[str, float]:
        """Mean and quantiles of a new cohort's rate in stratum ``s``."""
        key = ("predictive", s)
        if key not in self._cache:
            self._cache[key] = self._mixture_summary(s)
        return dict(self._cache[key])

    def contrast_summary(self, s: int, ref: int) -> dict[str, float]:
        """``mu_s - mu_ref``: mean, quantiles and the posterior probability it is > 0."""
        cdf = self._difference_cdf(s, ref)
        lo, hi = np.full(len(PROBS), -1.0), np.full(len(PROBS), 1.0)
        target = np.asarray(PROBS)
        for _ in range(46):
            mid = 0.5 * (lo + hi)
            below = cdf(mid) < target
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        ma, mb = special.expit(self.x[ref].mid), special.expit(self.x[s].mid)
        if self.heterogeneity == "shared":  # independent given kappa
            ea = self.joint[ref].T @ ma / np.maximum(self.kappa_marginal(ref), 1e-300)
            eb = self.cond[s].T @ mb
            cross = float(np.sum(self.kappa_marginal(ref) * ea * eb))
        else:
            cross = float((self.mu_marginal(ref) @ ma) * (self.mu_marginal(s) @ mb))
        sa, sb = self.mu_summary(ref), self.mu_summary(s)
        second = (sa["sd"] ** 2 + sa["mean"] ** 2) + (sb["sd"] ** 2 + sb["mean"] ** 2) - 2 * cross
        out = _stats(sb["mean"] - sa["mean"], 0.5 * (lo + hi), second)
        out["prob_gt_0"] = float(1.0 - cdf(np.zeros(1))[0])
        return out

    def _difference_cdf(self, s: int, ref: int):
        """CDF of ``mu_s - mu_ref``; ``mu_s`` piecewise uniform in logit, ``mu_ref`` at midpoints.

        With a shared ``kappa`` the two are independent given ``kappa`` only, so the CDF is
        summed over the ``kappa`` cells; otherwise they are independent.
        """
        if self.heterogeneity == "shared":
            pa, pb = self.joint[ref], self.cond[s]
        else:
            pa, pb = self.mu_marginal(ref)[:, None], self.mu_marginal(s)[:, None]
        cum = np.vstack([np.zeros((1, pb.shape[1])), np.cumsum(pb, axis=0)])
        mu_a = special.expit(self.x[ref].mid)
        axis_b = self.x[s]

        def cdf(d: np.ndarray) -> np.ndarray:
            v = mu_a[None, :] + np.asarray(d, dtype=float)[:, None]
            xv = np.where(v <= 0, -np.inf, np.where(v >= 1, np.inf, _logit(np.clip(v, 1e-300,
                                                                                  1.0))))
            idx, frac = axis_b.locate(xv)
            fb = cum[idx] + frac[..., None] * pb[idx]          # (nd, Ia, K)
            return np.einsum("dik,ik->d", fb, pa)

        return cdf

    # ------------------------------------------------------------------ draws
    def draws(self, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Independent posterior draws of ``mu`` and ``kappa`` (uniform within cells).

        Returns arrays shaped like a one-chain MCMC result: ``mu`` ``(1, size, stratum)``,
        ``kappa`` ``(1, size)`` (shared) or ``(1, size, stratum)``.
        """
        n_s = self.data.n_strata
        mu = np.empty((size, n_s))

        def jitter(axis: Axis, idx: np.ndarray) -> np.ndarray:
            return axis.edges[idx] + axis.widths[idx] * rng.random(len(idx))

        if self.heterogeneity == "shared":
            k = _draw_index(self.kappa_marginal(0), rng.random(size))
            kappa = np.exp(jitter(self.y[0], k))
            for s in range(n_s):
                mu[:, s] = jitter(self.x[s], _draw_columns(self.cond[s], k, rng.random(size)))
        else:
            kappa = np.empty((size, n_s))
            for s in range(n_s):
                cells = _draw_index(self.joint[s].ravel(), rng.random(size))
                i, k = np.unravel_index(cells, self.joint[s].shape)
                mu[:, s] = jitter(self.x[s], i)
                kappa[:, s] = np.exp(jitter(self.y[s], k))
        return {"mu": special.expit(mu)[None], "kappa": kappa[None]}


def _draw_index(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn from probabilities ``p`` by inversion of the uniforms ``u``."""
    cum = np.cumsum(p)
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(p) - 1)


def _draw_columns(p: np.ndarray, k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row indices drawn from column ``k[n]`` of ``p`` for each uniform ``u[n]``."""
    cum = np.cumsum(p, axis=0)[:, k]
    return np.minimum((u[None, :] * cum[-1][None, :] >= cum).sum(axis=0), p.shape[0] - 1)


def _stats(mean: float, q: np.ndarray, second: float) -> dict[str, float]:
    """Summary from the mean, the quantiles ``PROBS`` and the second moment."""
    return {"mean": float(mean), "median": float(q[1]), "lower": float(q[0]),
            "upper": float(q[2]), "sd": float(np.sqrt(max(second - mean**2, 0.0)))}


def _cell_quantiles(axis: Axis, p: np.ndarray, probs) -> np.ndarray:
    """Quantiles of a density piecewise uniform over the cells of ``axis`` (PCHIP-smoothed)."""
    cum = np.concatenate([[0.0], np.cumsum(p)])
    cum /= cum[-1]
    keep = np.concatenate([[True], np.diff(cum) > 0])
    return PchipInterpolator(cum[keep], axis.edges[keep])(np.asarray(probs))


def _mixture_quantiles(w: np.ndarray, a: np.ndarray, b: np.ndarray, probs,
                       start: np.ndarray | None = None, tol: float = _FTOL) -> np.ndarray:
    """Quantiles ``probs`` of one mixture ``sum_c w_c Beta(a_c, b_c)`` (see :func:`_solve`)."""
    q = np.asarray(probs, dtype=float)
    t0 = None if start is None else _clipped_logit(np.asarray(start, dtype=float))
    shape = (len(q), len(w))
    return _solve(np.broadcast_to(w, shape), np.broadcast_to(a, shape),
                  np.broadcast_to(b, shape), q, t0, tol)


def _clipped_logit(p: np.ndarray) -> np.ndarray:
    return np.clip(_logit(np.clip(p, 1e-15, 1 - 1e-15)), -_T_MAX, _T_MAX)


def _mixture_cdf(w: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """CDF at ``expit(t[p])`` of mixture ``p`` (rows of ``w, a, b``), accurate in both tails.

    ``1 - x`` is never formed: for ``t > 0`` the upper tail ``I_{expit(-t)}(b, a)`` is used.
    """
    out = np.empty(len(t))
    neg = t <= 0
    if neg.any():
        x = special.expit(t[neg])[:, None]
        out[neg] = np.sum(w[neg] * special.betainc(a[neg], b[neg], x), axis=1)
    pos = ~neg
    if pos.any():
        x = special.expit(-t[pos])[:, None]
        out[pos] = 1.0 - np.sum(w[pos] * special.betainc(b[pos], a[pos], x), axis=1)
    return out


def _solve(w: np.ndarray, a: np.ndarray, b: np.ndarray, q: np.ndarray,
           t0: np.ndarray | None = None, tol: float = _FTOL, edges: bool = True
           ) -> np.ndarray:
    r"""Quantile ``q[p]`` of each mixture ``sum_c w[p, c] Beta(a[p, c], b[p, c])``.

    Safeguarded Newton iterations on the logit scale :math:`t`, where
    :math:`dF/dt = \sum_c w_c\, e^{a_c \log\operatorname{expit}t + b_c\log\operatorname{expit}(-t)}
    / B(a_c, b_c)`, started from ``t0`` (the quantiles of a cheaper mixture), else from the
    quantiles of the beta distribution with each mixture's mean and variance. A bracket is
    kept: each step is Newton's where that stays inside the bracket and a bisection
    otherwise, until the CDF is within ``tol`` of its target. A quantile beyond
    ``expit(+-36)`` (closer to 0 or 1 than double precision resolves, as happens for rates
    near 100% with a small ``kappa``) is returned as exactly 0 or 1. ``edges=False`` (with a
    start ``t0``) skips that test, which costs two CDF evaluations: a quantile beyond the
    limits then comes out as ``expit(+-36)``.
    """
    q = np.asarray(q, dtype=float)
    out = np.ones(len(q))
    inside = np.arange(len(q))
    if edges or t0 is None:
        edge_lo = _mixture_cdf(w, a, b, np.full(len(q), -_T_MAX))
        edge_hi = _mixture_cdf(w, a, b, np.full(len(q), _T_MAX))
        out = np.where(q < edge_lo, 0.0, 1.0)
        inside = np.flatnonzero((q >= edge_lo) & (q <= edge_hi))
        if not inside.size:
            return out
    w, a, b, q = w[inside], a[inside], b[inside], q[inside]
    if t0 is not None:
        t = np.clip(np.asarray(t0, dtype=float)[inside], -_T_MAX, _T_MAX)
    else:
        t = _clipped_logit(_moment_start(w, a, b, q))
    lo, hi = np.full_like(q, -_T_MAX), np.full_like(q, _T_MAX)
    log_b = special.betaln(a, b)
    active = np.arange(len(q))
    for _ in range(100):
        ta = t[active]
        f = _mixture_cdf(w[active], a[active], b[active], ta) - q[active]
        lo[active] = np.where(f < 0, ta, lo[active])
        hi[active] = np.where(f > 0, ta, hi[active])
        done = (np.abs(f) < tol) | (hi[active] - lo[active] < 1e-10)
        tc = ta[:, None]
        with np.errstate(all="ignore"):
            dens = np.sum(w[active] * np.exp(a[active] * _log_expit(tc)
                                             + b[active] * _log_expit(-tc) - log_b[active]),
                          axis=1)
            step = ta - f / dens
        ok = np.isfinite(step) & (step > lo[active]) & (step < hi[active])
        t[active] = np.where(done, ta, np.where(ok, step, 0.5 * (lo + hi)[active]))
        active = active[~done]
        if not active.size:
            break
    out[inside] = special.expit(t)
    return out


def _moment_start(w: np.ndarray, a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles of the beta distribution with each mixture's mean and variance."""
    mean = np.sum(w * (a / (a + b)), axis=1)
    second = np.sum(w * (a * (a + 1) / ((a + b) * (a + b + 1))), axis=1)
    var = np.maximum(second - mean**2, 1e-12)
    nu = np.maximum(mean * (1 - mean) / var - 1, 1e-6)
    with np.errstate(all="ignore"):
        return special.betaincinv(np.maximum(mean * nu, 1e-8),
                                  np.maximum((1 - mean) * nu, 1e-8), q)


def _gauss_rules(points: np.ndarray, weights: np.ndarray, m: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""``m``-node Gauss rules of the discrete measures ``weights[p]`` on ``points``.

    Row ``p`` of the result holds nodes :math:`\xi_l` and weights :math:`\omega_l` with
    :math:`\sum_l \omega_l g(\xi_l) = \sum_i w_{pi}\, g(z_i)` for every polynomial
    :math:`g` of degree below :math:`2m` (the Stieltjes procedure for the recurrence of the
    orthonormal polynomials of the measure, then the eigenvalues of its Jacobi matrix:
    Golub & Welsch, Math Comp 1969;23:221-30). A measure on fewer than ``m`` points gets
    zero-weight nodes beyond its support.
    """
    w = np.atleast_2d(weights)
    total = w.sum(axis=1, keepdims=True)
    p = w / np.where(total > 0, total, 1.0)
    centre = np.sum(p * points, axis=1, keepdims=True)
    z = points - centre
    scale2 = np.maximum(np.sum(p * z * z, axis=1), 1e-300)
    alpha, beta = np.zeros((len(w), m)), np.zeros((len(w), m))
    q_prev, q = np.zeros_like(p), np.ones_like(p)
    for k in range(m):
        alpha[:, k] = np.sum(p * z * q * q, axis=1)
        if k + 1 == m:
            break
        nxt = (z - alpha[:, k:k + 1]) * q - np.sqrt(beta[:, k:k + 1]) * q_prev
        nb = np.sum(p * nxt * nxt, axis=1)
        alive = nb > 1e-13 * scale2       # the measure has no more support points
        beta[:, k + 1] = np.where(alive, nb, 0.0)
        q_prev = q
        q = np.where(alive[:, None], nxt / np.sqrt(np.where(alive, nb, 1.0))[:, None], 0.0)
    jacobi = np.zeros((len(w), m, m))
    i = np.arange(m)
    jacobi[:, i, i] = alpha
    off = np.sqrt(beta[:, 1:])
    jacobi[:, i[:-1], i[1:]] = off
    jacobi[:, i[1:], i[:-1]] = off
    nodes, vectors = np.linalg.eigh(jacobi)
    return nodes + centre, total * vectors[:, 0, :] ** 2


def _compressed_rule(x: np.ndarray, y: np.ndarray, joint: np.ndarray, m: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""An ``m x m``-node cubature for the grid measure ``joint`` on ``(x_i, y_k)``.

    In each column :math:`k` an ``m``-node Gauss rule in ``x`` replaces the column's cells
    (exact for polynomials of degree below :math:`2m` in :math:`x`); its ``l``-th nodes
    :math:`\xi_l(y_k)` trace a smooth curve, interpolated by a cubic spline, and the weights
    along each curve are replaced by an ``m``-node Gauss rule in ``y``. For a smooth
    integrand the error falls geometrically with ``m``; :meth:`ExactPosterior._rate_quantiles`
    checks it by comparing successive ``m``.

    Returns
    -------
    weights, xs, ys : ndarray
        Nodes with positive weight (the weights sum to the mass of ``joint``).
    """
    live = joint.sum(axis=0) > 1e-300
    xi, omega = _gauss_rules(x, joint[:, live].T, m)        # (live columns, m): x rules
    yl = y[live]
    nodes, weights = _gauss_rules(yl, omega.T, m)             # (m curves, m): y rules
    nodes = np.clip(nodes, yl[0], yl[-1])
    if len(yl) > 3:
        curves = CubicSpline(yl, xi, axis=0)(nodes)           # (m, m nodes, m curves)
        xs = curves[np.arange(m), :, np.arange(m)]
    else:
        xs = np.stack([np.interp(nodes[c], yl, xi[:, c]) for c in range(m)])
    w, xs, ys = weights.ravel(), xs.ravel(), nodes.ravel()
    keep = w > 0
    return w[keep], xs[keep], ys[keep]


# ---------------------------------------------------------------------- fitting
def _grid_logs(data: CountData, priors: dict[str, Any], xs: list[Axis], ys: list[Axis]):
    """Per stratum: log cell mass of x (prior x width) + log-lik, and log cell mass of y."""
    logg, logy = [], []
    for s in range(data.n_strata):
        x, y = xs[s], ys[s]
        g = log_prior_x(priors["mu"], x.mid) + np.log(x.widths)
        sel = data.stratum_index == s
        g = g[:, None] + log_likelihood(x.mid, y.mid, data.n[sel], data.r[sel])
        logg.append(np.where(np.isfinite(g), g, -np.inf))
        ly = log_prior_y(priors["kappa"], y.mid) + np.log(y.widths)
        logy.append(np.where(np.isfinite(ly), ly, -np.inf))
    return logg, logy


def _posterior(data: CountData, heterogeneity: str, xs: list[Axis], ys: list[Axis],
               logg: list[np.ndarray], logy: list[np.ndarray]) -> ExactPosterior:
    joint, cond = [], []
    if heterogeneity == "shared":
        lm = [special.logsumexp(g, axis=0) for g in logg]
        ly = logy[0] + np.sum(lm, axis=0)
        evidence = special.logsumexp(ly)
        if not np.isfinite(evidence):
            raise SpecError("the posterior density is zero everywhere on the grid: check that "
                            "the priors allow the observed counts")
        w = np.exp(ly - evidence)
        for g, m in zip(logg, lm, strict=True):
            c = np.exp(np.where(np.isfinite(m)[None, :], g - m[None, :], -np.inf))
            cond.append(c)
            joint.append(c * w[None, :])
    else:
        evidence = 0.0
        for g, y in zip(logg, logy, strict=True):
            lj = g + y[None, :]
            log_z = special.logsumexp(lj)
            if not np.isfinite(log_z):
                raise SpecError("the posterior density is zero everywhere on the grid: check "
                                "that the priors allow the observed counts")
            evidence += log_z
            j = np.exp(lj - log_z)
            joint.append(j)
            cond.append(j / np.maximum(j.sum(axis=0, keepdims=True), 1e-300))
    return ExactPosterior(data, heterogeneity, xs, ys, joint, cond, float(evidence))


def fit_exact(data: CountData, priors: dict[str, Any], heterogeneity: str = "shared", *,
              resolution: tuple[int, int] = (96, 80),
              bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
              ) -> ExactPosterior:
    """Posterior of the beta-binomial hyperparameters by numerical integration.

    Parameters
    ----------
    data : CountData
    priors : dict
        ``mu`` and ``kappa`` priors: :class:`~pclbayes.priors.Prior` objects, or any object
        with ``logpdf`` (then ``bounds`` are required).
    heterogeneity : {"shared", "stratum"}
    resolution : (int, int)
        Final cells along ``logit(mu)`` and ``log(kappa)``.
    bounds : ((xlo, xhi), (ylo, yhi)), optional
        A fixed, uniform grid on ``logit(mu)`` and ``log(kappa)`` (no adaptation).
    """
    n_s = data.n_strata
    if bounds is not None:
        xs = [Axis.span(*bounds[0], resolution[0])] * n_s
        ys = [Axis.span(*bounds[1], resolution[1])] * n_s
        return _posterior(data, heterogeneity, xs, ys, *_grid_logs(data, priors, xs, ys))
    xs = [Axis.span(*_prior_range(priors["mu"], _logit, X_LIMITS), 200)] * n_s
    ys = [Axis.span(*_prior_range(priors["kappa"], np.log, Y_LIMITS), 120)] * n_s
    for mx, my in ((120, 80), resolution):
        post = _posterior(data, heterogeneity, xs, ys, *_grid_logs(data, priors, xs, ys))
        xs = [xs[s].refine(post.mu_marginal(s), mx) for s in range(n_s)]
        if heterogeneity == "shared":
            ys = [ys[0].refine(post.kappa_marginal(0), my)] * n_s
        else:
            ys = [ys[s].refine(post.kappa_marginal(s), my) for s in range(n_s)]
    return _posterior(data, heterogeneity, xs, ys, *_grid_logs(data, priors, xs, ys))
