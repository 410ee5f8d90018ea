r"""Borrowing from non-PCL co-data with an explicit discount: robust MAP, power prior, EXNEX.

PCL cohorts are small; cohorts of related diseases (e.g. the whole myeloma cohort of a CAR T
trial, the bundled Tongji counts with ``is_pcl = 0``) are larger but may respond differently.
This module borrows from such *co-data* into a PCL analysis, always next to the PCL-only
answer and a check of prior-data conflict, with the discount stated and varied.

Notation: PCL cohorts :math:`j = 1..J` with :math:`r_j` responders of :math:`n_j`, co-data
sources :math:`k = 1..K` with :math:`r^c_k` of :math:`n^c_k`;
:math:`x = \mathrm{logit}\,\theta`.

Power prior (Ibrahim and Chen 2000), pooled
    One response rate :math:`\theta` for all PCL patients, co-data likelihood raised to
    :math:`a_0 \in [0, 1]`:

    .. math:: \theta \sim \mathrm{Beta}\bigl(a + a_0 \textstyle\sum_k r^c_k,\;
       b + a_0 \sum_k (n^c_k - r^c_k)\bigr),

    a prior worth :math:`a + b + a_0 \sum_k n^c_k` patients, updated with the pooled PCL counts
    in closed form. :math:`a_0 = 0` is the PCL-only answer, :math:`a_0 = 1` full pooling;
    :func:`power_prior_sensitivity` tabulates the posterior over a grid of :math:`a_0`.

Hierarchical (meta-analytic) model, and the power prior inside it
    :math:`x_j, x^c_k \sim N(\mu, \tau^2)`, :math:`\mu \sim` ``mu_prior``,
    :math:`\tau \sim` ``tau_prior``. Each co-data binomial kernel may be raised to
    :math:`a_0`. The cohort rates are integrated out exactly given :math:`(\mu, \tau)`,

    .. math:: I_j(\mu, \tau) = \int \theta^{r_j} (1 - \theta)^{n_j - r_j}\,
       N(x \mid \mu, \tau^2)\, dx ,

    and :math:`p(\mu, \tau \mid \text{data}) \propto p(\mu)\, p(\tau) \prod_j I_j
    \prod_k I^{(a_0)}_k` is computed on a grid (:class:`LogitGrid`: midpoint rule in
    :math:`\mu` and :math:`\tau`, exact normal cell probabilities in :math:`x`, open-ended
    outer cells so that all-responder cohorts lose no tail mass). The MAP prior of a new
    cohort is :math:`\int N(x_\star \mid \mu, \tau^2)\, p(\mu, \tau \mid \text{data})`
    (Neuenschwander et al. 2010); :func:`codata_map` draws from it, fits a beta mixture and
    robustifies it (:func:`pclbayes.planning.build_map_prior`, Schmidli et al. 2014).

EXNEX (Neuenschwander, Wandel, Roychoudhury and Bailey 2016)
    Co-data cohorts are exchangeable (EX); each PCL cohort is EX with prior probability
    :math:`p_{ex}` and otherwise non-exchangeable (NEX), with its own weakly-informative prior
    :math:`x_j \sim N(m, s^2)` (default :math:`N(0, 2^2)`, worth about one patient at
    :math:`\theta = 1/2`). Marginalising the memberships :math:`\delta_j`:

    .. math:: p(\mu, \tau \mid \text{data}) \propto p(\mu)\, p(\tau) \prod_k I_k(\mu, \tau)
       \prod_j \bigl[p_{ex} I_j(\mu, \tau) + (1 - p_{ex}) J_j\bigr],
       \qquad J_j = \int \theta^{r_j}(1-\theta)^{n_j-r_j} N(x \mid m, s^2)\,dx,

    .. math:: P(\delta_j = \mathrm{EX} \mid \text{data}) = \mathrm{E}\Bigl[
       \frac{p_{ex} I_j}{p_{ex} I_j + (1 - p_{ex}) J_j}\Bigm|\text{data}\Bigr],

    and the posterior of :math:`x_j` given :math:`(\mu, \tau)` is the two-component mixture
    :math:`[p_{ex} L_j(x) N(x \mid \mu, \tau^2) + (1 - p_{ex}) L_j(x) N(x \mid m, s^2)] /
    [p_{ex} I_j + (1 - p_{ex}) J_j]`, averaged over the grid. Exact to quadrature error for
    any number of cohorts (the only free dimensions are :math:`\mu` and :math:`\tau`).
    :math:`p_{ex} = 1` is the hierarchical model, :math:`p_{ex} = 0` analyses each PCL
    cohort on its own.

Prior-data conflict
    :func:`conflict_check`: the prior-predictive distribution of the PCL counts under the
    co-data MAP prior (no discount), :math:`p(y) = \int \mathrm{Bin}(y \mid n, \theta)\,
    p_{MAP}(\theta)\, d\theta`, and Box's (1980) p-value
    :math:`\sum_{y:\,p(y) \le p(r)} p(y)`, for each PCL cohort and for the pooled PCL
    counts. Small values say the co-data predicted the PCL data badly: borrow little.

References
----------
Box GEP. J R Stat Soc A 1980;143:383-430. Ibrahim JG, Chen MH. Stat Sci 2000;15:46-60.
Neuenschwander B et al. Clin Trials 2010;7:5-18. Schmidli H et al. Biometrics
2014;70:1023-32. Neuenschwander B, Wandel S, Roychoudhury S, Bailey S. Pharm Stat
2016;15:123-34.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from pclbayes.errors import SpecError
from pclbayes.planning.mixture import BetaMixture, robustify

__all__ = [
    "BORROW_METHODS",
    "BUNDLED_CODATA_POPULATION",
    "BorrowedMapPrior",
    "BorrowingResult",
    "CellDistribution",
    "LogitGrid",
    "borrow_response",
    "borrowed_map_prior",
    "codata_map",
    "codata_rows",
    "conflict_check",
    "exnex",
    "hierarchical_posterior",
    "load_codata",
    "power_prior",
    "power_prior_sensitivity",
]

#: Ways to borrow: none (PCL only, with the conflict check), robust MAP, power prior, EXNEX.
BORROW_METHODS: tuple[str, ...] = ("none", "robust-map", "power", "exnex")
#: Default priors of the hierarchical model: those of the logit-normal response model.
DEFAULT_MU_PRIOR = "Normal(mu=0, sigma=1.5)"
DEFAULT_TAU_PRIOR = "HalfNormal(sigma=1)"
#: Weakly-informative NEX prior of a PCL cohort's log-odds (about one patient at 1/2).
DEFAULT_NEX_PRIOR = "Normal(mu=0, sigma=2)"
#: Power-prior weights of the sensitivity curve.
DEFAULT_A0_GRID: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
#: Robust weights of the robust-MAP sensitivity table.
DEFAULT_ROBUST_GRID: tuple[float, ...] = (0.0, 0.1, 0.2, 0.5)
#: Co-data row of the bundled evidence base used by default: Tongji's whole cohort minus the
#: two primary PCL patients (derived = 1), so that no patient is counted twice.
BUNDLED_CODATA_POPULATION = "30 minus the 2 primary PCL"
TAU_MAX = 10.0
"""Largest heterogeneity on the grid (log-odds scale); the tau prior is truncated there."""


# ---------------------------------------------------------------------------- co-data
def load_codata(
    path: str | Path | None = None,
    *,
    endpoint: str = "orr",
    population: str | None = None,
    by: str = "none",
    level: str | None = None,
) -> pd.DataFrame:
    """Co-data count rows: ``cohort, population, n, responders`` (and ``group``).

    Parameters
    ----------
    path : str or Path, optional
        A CSV of aggregate rows (``cohort, n, responders`` at least) or a folder with
        ``aggregates.csv``; None for the bundled evidence base. Rows flagged ``is_pcl = 1``
        are PCL data, not co-data, and are dropped; a file without ``is_pcl`` is all co-data.
    endpoint : str
        Rows of this endpoint when the file has an ``endpoint`` column.
    population : str, optional
        Keep rows whose ``population`` contains this text (case-insensitive). For the
        bundled data the default is :data:`BUNDLED_CODATA_POPULATION`.
    by, level : str
        When the file has the grouping column ``by``, keep rows of stratum ``level``.

    Raises
    ------
    SpecError
        Naming the file: no co-data rows, or one cohort with several rows (overlapping
        populations; choose one with ``population``).
    """
    from pclbayes.data import load

    if population is None and path is None:
        population = BUNDLED_CODATA_POPULATION
    return codata_rows(load(path), endpoint=endpoint, population=population, by=by,
                       level=level)


def codata_rows(eb: Any, *, endpoint: str = "orr", population: str | None = None,
                by: str = "none", level: str | None = None) -> pd.DataFrame:
    """The co-data rows of a loaded evidence base (:func:`load_codata` without reading).

    Parameters are those of :func:`load_codata`; ``population`` has no default here.
    """
    where = str(eb.source / "aggregates.csv") if eb.source.is_dir() else str(eb.source)
    agg = eb.aggregates.copy()
    if agg.empty:
        raise SpecError(f"{where}: no aggregate count rows to borrow from (co-data needs "
                        "columns cohort, n, responders)")
    if "is_pcl" in agg.columns:
        agg = agg[agg["is_pcl"].fillna(0) == 0]
    if "endpoint" in agg.columns:
        agg = agg[agg["endpoint"] == endpoint]
    if "population" not in agg.columns:
        agg = agg.assign(population="")
    if population is not None:
        agg = agg[agg["population"].astype(str).str.lower().str.contains(population.lower(),
                                                                         regex=False)]
    if by != "none" and level is not None and by in agg.columns:
        agg = agg[agg[by].astype(str) == str(level)]
    group = agg[by].astype(str).to_numpy() if by != "none" and by in agg.columns else None
    if agg.empty:
        what = f"endpoint '{endpoint}'" + ("" if population is None
                                           else f", population containing '{population}'")
        raise SpecError(f"{where}: no co-data rows (is_pcl = 0 or no is_pcl column) for {what}")
    dup = agg["cohort"].astype(str).duplicated(keep=False)
    if dup.any():
        cohort = str(agg.loc[dup, "cohort"].iloc[0])
        pops = "; ".join(f"'{p}'" for p in agg.loc[agg["cohort"].astype(str) == cohort,
                                                   "population"].astype(str))
        raise SpecError(
            f"{where}: co-data cohort '{cohort}' has several rows for endpoint '{endpoint}' "
            f"(populations {pops}); they overlap, so choose one with population=TEXT "
            "(--codata-population TEXT)")
    out = pd.DataFrame({
        "cohort": agg["cohort"].astype(str).to_numpy(),
        "population": agg["population"].astype(str).to_numpy(),
        "n": agg["n"].astype(int).to_numpy(),
        "responders": agg["responders"].astype(int).to_numpy(),
    })
    if group is not None:
        out["group"] = group
    out.attrs.update(source=where, endpoint=endpoint)
    return out


def _counts(table: pd.DataFrame | Sequence[tuple[int, int]], name: str) -> tuple[
        NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Responders, patients and labels of a count table (or ``[(r, n), ...]``)."""
    if isinstance(table, pd.DataFrame):
        r = table["responders"].to_numpy(dtype=float)
        n = table["n"].to_numpy(dtype=float)
        labels = [str(c) for c in table["cohort"]] if "cohort" in table else \
            [f"{name}{i + 1}" for i in range(len(r))]
    else:
        pairs = list(table)
        r = np.array([float(p[0]) for p in pairs])
        n = np.array([float(p[1]) for p in pairs])
        labels = [f"{name}{i + 1}" for i in range(len(r))]
    if r.size and (np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(n < 1) or np.any(r > n)
                   or np.any(r != np.round(r)) or np.any(n != np.round(n))):
        raise SpecError(f"{name} counts need whole numbers 0 <= responders <= n, n >= 1")
    return r, n, labels


# ---------------------------------------------------------------------------- grid
def _prior(spec: Any, name: str) -> Any:
    from pclbayes.priors import Prior

    try:
        return Prior.parse(spec)
    except SpecError as exc:
        raise SpecError(f"{name}: {exc}") from None


@dataclass(frozen=True, eq=False)
class LogitGrid:
    r"""Quadrature grid of the hierarchical model on the log-odds scale.

    Attributes
    ----------
    mu, tau : ndarray
        Midpoint nodes of :math:`\mu` and :math:`\tau` (one node when tau is fixed).
    log_prior : ndarray
        Log prior mass of each :math:`(\mu, \tau)` cell, flattened ``mu``-major, normalised.
    edges, centres : ndarray
        Cells of :math:`x` (outer edges at :math:`\pm\infty`) and their centres.
    mass : ndarray
        ``mass[i, c] = P(x in cell c | mu_i, tau_i)`` (exact normal probabilities).
    """

    mu: NDArray[np.float64]
    tau: NDArray[np.float64]
    log_prior: NDArray[np.float64]
    edges: NDArray[np.float64]
    centres: NDArray[np.float64]
    mass: NDArray[np.float64]
    d_mu: float
    d_tau: float

    @property
    def mu_flat(self) -> NDArray[np.float64]:
        r""":math:`\mu` of each flattened cell."""
        return np.repeat(self.mu, self.tau.size)

    @property
    def tau_flat(self) -> NDArray[np.float64]:
        r""":math:`\tau` of each flattened cell."""
        return np.tile(self.tau, self.mu.size)

    def normal_mass(self, mean: float, sd: float) -> NDArray[np.float64]:
        r"""Cell probabilities of :math:`N(\text{mean}, \text{sd}^2)`."""
        return np.diff(special.ndtr((self.edges - mean) / sd))

    def log_kernel(self, r: float, n: float, power: float = 1.0) -> NDArray[np.float64]:
        r""":math:`a_0 [r \log\theta + (n - r)\log(1 - \theta)]` at the cell centres."""
        x = self.centres
        return power * (r * special.log_expit(x) + (n - r) * special.log_expit(-x))

    def log_marginal(self, logk: NDArray[np.float64]) -> NDArray[np.float64]:
        r""":math:`\log I(\mu, \tau)` for each grid cell, given a log kernel over :math:`x`."""
        top = float(logk.max())
        with np.errstate(divide="ignore"):
            return np.log(self.mass @ np.exp(logk - top)) + top


@functools.lru_cache(maxsize=2)  # a grid holds about 50 MB
def _grid(mu_prior: str, tau: str, n_mu: int, n_tau: int, x_limit: float,
          n_x: int) -> LogitGrid:
    mu_p = _prior(mu_prior, "mu prior").frozen()
    lo, hi = (float(v) for v in mu_p.ppf([1e-7, 1 - 1e-7]))
    lo, hi = max(lo, -x_limit), min(hi, x_limit)
    d_mu = (hi - lo) / n_mu
    mu = lo + d_mu * (np.arange(n_mu) + 0.5)
    if tau.startswith("fixed:"):
        tau_nodes = np.array([float(tau[6:])])
        log_tau = np.zeros(1)
        d_tau = 0.0
    else:
        tau_p = _prior(tau, "tau prior").frozen()
        if float(tau_p.cdf(0.0)) > 0:
            raise SpecError(f"tau prior {tau} must live on tau > 0")
        top = min(float(tau_p.ppf(1 - 1e-6)), TAU_MAX)
        d_tau = top / n_tau
        tau_nodes = d_tau * (np.arange(n_tau) + 0.5)
        log_tau = tau_p.logpdf(tau_nodes)
    with np.errstate(divide="ignore"):
        lp = (mu_p.logpdf(mu)[:, None] + log_tau[None, :]).ravel()
    lp = lp - special.logsumexp(lp)
    inner = np.linspace(-x_limit, x_limit, n_x - 1)
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    centres = np.concatenate([[inner[0] - (inner[1] - inner[0]) / 2],
                              (inner[:-1] + inner[1:]) / 2,
                              [inner[-1] + (inner[1] - inner[0]) / 2]])
    m = np.repeat(mu, tau_nodes.size)[:, None]
    t = np.tile(tau_nodes, mu.size)[:, None]
    mass = np.diff(special.ndtr((edges[None, :] - m) / t), axis=1)
    for arr in (mu, tau_nodes, lp, edges, centres, mass):
        arr.setflags(write=False)  # shared by every caller of the cached grid
    return LogitGrid(mu, tau_nodes, lp, edges, centres, mass, d_mu, d_tau)


def make_grid(mu_prior: Any = DEFAULT_MU_PRIOR, tau_prior: Any = DEFAULT_TAU_PRIOR, *,
              n_mu: int = 121, n_tau: int = 60, x_limit: float = 10.0,
              n_x: int = 801) -> LogitGrid:
    """The :class:`LogitGrid` for the priors (``tau_prior`` a number fixes tau there)."""
    if isinstance(tau_prior, int | float) and not isinstance(tau_prior, bool):
        if not (np.isfinite(tau_prior) and tau_prior > 0):
            raise SpecError(f"a fixed tau must be a finite number > 0, got {tau_prior!r}")
        tau_key = f"fixed:{float(tau_prior)!r}"
    else:
        tau_key = _exact(tau_prior, "tau prior")
    mu_key = _exact(mu_prior, "mu prior")
    return _grid(mu_key, tau_key, int(n_mu), int(n_tau), float(x_limit), int(n_x))


def _exact(spec: Any, name: str) -> str:
    """Prior text that keeps every digit (the display form rounds)."""
    p = _prior(spec, name)
    args = ", ".join(f"{k}={float(v)!r}" for k, v in p.params.items())
    return f"{p.dist}({args})"


# ---------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class CellDistribution:
    """A distribution of a rate given as probabilities of log-odds cells.

    Attributes
    ----------
    edges : ndarray
        Cell edges of the log-odds (outer ones infinite).
    centres : ndarray
        Cell centres.
    prob : ndarray
        Cell probabilities (sum 1).
    """

    edges: NDArray[np.float64]
    centres: NDArray[np.float64]
    prob: NDArray[np.float64]

    @property
    def mean(self) -> float:
        """Mean of the rate (midpoint rule)."""
        return float(self.prob @ special.expit(self.centres))

    @property
    def sd(self) -> float:
        """Standard deviation of the rate."""
        theta = special.expit(self.centres)
        return float(np.sqrt(max(self.prob @ theta**2 - self.mean**2, 0.0)))

    def ppf(self, q: float) -> float:
        """Quantile of the rate (linear in the log-odds within a cell)."""
        cum = np.concatenate([[0.0], np.cumsum(self.prob)])
        c = int(np.clip(np.searchsorted(cum, q, side="left") - 1, 0, self.prob.size - 1))
        lo, hi = self.edges[c], self.edges[c + 1]
        if not (np.isfinite(lo) and np.isfinite(hi)) or self.prob[c] == 0:
            return float(special.expit(self.centres[c]))
        frac = (q - cum[c]) / self.prob[c]
        return float(special.expit(lo + frac * (hi - lo)))

    def interval(self, prob: float = 0.95) -> tuple[float, float]:
        """Equal-tailed interval of the rate."""
        return self.ppf((1 - prob) / 2), self.ppf((1 + prob) / 2)

    def prob_gt(self, threshold: float) -> float:
        r""":math:`P(\theta > t)` (linear in the log-odds within the cell holding t)."""
        xt = float(special.logit(threshold))
        lo, hi = self.edges[:-1], self.edges[1:]
        above = self.prob[lo >= xt].sum()
        part = (lo < xt) & (hi > xt)
        for c in np.flatnonzero(part):
            if np.isfinite(lo[c]) and np.isfinite(hi[c]):
                above += self.prob[c] * (hi[c] - xt) / (hi[c] - lo[c])
            elif self.centres[c] > xt:
                above += self.prob[c]
        return float(min(max(above, 0.0), 1.0))

    def moment_ess(self) -> float:
        r""":math:`\bar\theta(1-\bar\theta)/s^2 - 1`: the ESS of the beta with these moments."""
        m, s = self.mean, self.sd
        return m * (1 - m) / s**2 - 1 if s > 0 else float("inf")

    def summary(self, threshold: float | None = None, prob: float = 0.95) -> dict[str, float]:
        """``mean, sd, lower, upper`` (and ``prob_gt``)."""
        lo, hi = self.interval(prob)
        out = {"mean": self.mean, "sd": self.sd, "lower": lo, "upper": hi}
        if threshold is not None:
            out["prob_gt"] = self.prob_gt(threshold)
        return out


def _beta_summary(mix: BetaMixture, threshold: float | None, prob: float = 0.95
                  ) -> dict[str, float]:
    lo, hi = mix.interval(prob)
    out = {"mean": mix.mean, "sd": mix.sd, "lower": float(lo), "upper": float(hi)}
    if threshold is not None:
        out["prob_gt"] = float(mix.sf(threshold))
    return out


# ---------------------------------------------------------------------------- hierarchical
@dataclass(frozen=True, eq=False)
class HierarchicalPosterior:
    r"""Posterior of :math:`(\mu, \tau)` on a :class:`LogitGrid` and the cohort pieces.

    Attributes
    ----------
    grid : LogitGrid
    log_w : ndarray
        Normalised log posterior mass of each :math:`(\mu, \tau)` cell.
    pcl_labels : list of str
    p_exchangeable : ndarray
        :math:`P(\delta_j = EX \mid \text{data})` per PCL cohort (1 without EXNEX).
    cohorts : list of CellDistribution
        Posterior of each PCL cohort's rate.
    p_ex : float or None
        Prior probability of exchangeability (None: all PCL cohorts exchangeable).
    nex_mass : ndarray or None
        Cell probabilities of the NEX prior.
    """

    grid: LogitGrid
    log_w: NDArray[np.float64]
    pcl_labels: list[str]
    p_exchangeable: NDArray[np.float64]
    cohorts: list[CellDistribution]
    p_ex: float | None = None
    nex_mass: NDArray[np.float64] | None = None
    nex_prior: tuple[float, float] | None = None

    @property
    def weights(self) -> NDArray[np.float64]:
        """Posterior mass of each grid cell."""
        return np.exp(self.log_w)

    def predictive(self) -> CellDistribution:
        """Rate of a new exchangeable cohort (the MAP prior) as cell probabilities."""
        g = self.grid
        return CellDistribution(g.edges, g.centres, self.weights @ g.mass)

    def new_cohort(self) -> CellDistribution:
        """Rate of a new PCL cohort: EX with probability ``p_ex``, else NEX (EXNEX)."""
        ex = self.predictive()
        if self.p_ex is None or self.nex_mass is None:
            return ex
        return CellDistribution(ex.edges, ex.centres,
                                self.p_ex * ex.prob + (1 - self.p_ex) * self.nex_mass)

    def mu_tau_summary(self) -> dict[str, float]:
        r"""Posterior means of :math:`\mu` and :math:`\tau`."""
        w = self.weights
        return {"mu_mean": float(w @ self.grid.mu_flat), "tau_mean": float(w @ self.grid.tau_flat)}

    def sample(self, size: int, rng: np.random.Generator, *, new_pcl: bool = False
               ) -> NDArray[np.float64]:
        r"""Draws of a new cohort's rate from the grid posterior.

        ``(mu, tau)`` cells are drawn by weight and jittered inside the cell, then
        :math:`x \sim N(\mu, \tau^2)`; with ``new_pcl`` the EXNEX mixture (NEX with
        probability :math:`1 - p_{ex}`).
        """
        g = self.grid
        w = self.weights
        idx = rng.choice(w.size, size=size, p=w / w.sum())
        mu = g.mu_flat[idx] + g.d_mu * (rng.random(size) - 0.5)
        tau = g.tau_flat[idx] + g.d_tau * (rng.random(size) - 0.5)
        x = mu + tau * rng.standard_normal(size)
        if new_pcl and self.p_ex is not None and self.nex_prior is not None:
            nex = rng.random(size) >= self.p_ex
            m, s = self.nex_prior
            x = np.where(nex, m + s * rng.standard_normal(size), x)
        return special.expit(x)


def _nex(spec: Any) -> tuple[float, float]:
    p = _prior(spec, "NEX prior")
    if p.dist != "Normal":
        raise SpecError(f"the NEX prior must be Normal(mu=..., sigma=...) on the log-odds, "
                        f"got {p}")
    return float(p.params["mu"]), float(p.params["sigma"])


def hierarchical_posterior(
    pcl: pd.DataFrame | Sequence[tuple[int, int]],
    codata: pd.DataFrame | Sequence[tuple[int, int]] = (),
    *,
    a0: float = 1.0,
    p_exchangeable: float | None = None,
    mu_prior: Any = DEFAULT_MU_PRIOR,
    tau_prior: Any = DEFAULT_TAU_PRIOR,
    nex_prior: Any = DEFAULT_NEX_PRIOR,
    grid: LogitGrid | None = None,
) -> HierarchicalPosterior:
    r"""Exact (quadrature) posterior of the logit-normal model of PCL cohorts and co-data.

    Parameters
    ----------
    pcl : DataFrame or sequence of (r, n)
        PCL cohorts (``cohort, n, responders``).
    codata : DataFrame or sequence of (r, n)
        Co-data cohorts; always exchangeable, their likelihood raised to ``a0``.
    a0 : float, default 1
        Power-prior weight of the co-data in [0, 1] (0 drops them).
    p_exchangeable : float, optional
        EXNEX: prior probability that each PCL cohort is exchangeable, in [0, 1]; None means
        all PCL cohorts are exchangeable (the plain hierarchical model).
    mu_prior, tau_prior : str or Prior
        Priors of the mean log-odds and the heterogeneity (a number fixes tau).
    nex_prior : str
        ``Normal(mu=m, sigma=s)``: the NEX prior of a PCL cohort's log-odds.
    grid : LogitGrid, optional
        Quadrature grid (default :func:`make_grid` of the priors).

    Returns
    -------
    HierarchicalPosterior
        Grid posterior, each PCL cohort's rate and its probability of exchangeability.
    """
    a0 = _unit(a0, "a0")
    p = None if p_exchangeable is None else _unit(p_exchangeable, "p_exchangeable")
    g = make_grid(mu_prior, tau_prior) if grid is None else grid
    r, n, labels = _counts(pcl, "PCL")
    rc, nc, _ = _counts(codata, "co-data")
    log_w = g.log_prior.copy()
    if a0 > 0:
        for rk, nk in zip(rc, nc, strict=True):
            log_w = log_w + g.log_marginal(g.log_kernel(rk, nk, a0))
    m_nex, s_nex = _nex(nex_prior)
    nex_mass = g.normal_mass(m_nex, s_nex)
    kernels = [g.log_kernel(rj, nj) for rj, nj in zip(r, n, strict=True)]
    tops = [float(k.max()) for k in kernels]
    log_i = [g.log_marginal(k - t) for k, t in zip(kernels, tops, strict=True)]
    with np.errstate(divide="ignore"):
        log_j = [float(np.log(nex_mass @ np.exp(k - t))) for k, t in
                 zip(kernels, tops, strict=True)]
    log_d = []
    for li, lj in zip(log_i, log_j, strict=True):
        if p is None or p == 1:
            d = li
        elif p == 0:
            d = np.full_like(li, lj)
        else:
            d = np.logaddexp(np.log(p) + li, np.log1p(-p) + lj)
        log_d.append(d)
        log_w = log_w + d
    log_w = log_w - special.logsumexp(log_w)
    w = np.exp(log_w)
    p_ex, cohorts = [], []
    for k, t, li, d in zip(kernels, tops, log_i, log_d, strict=True):
        lik = np.exp(k - t)
        if p is None or p == 1:
            share_ex = np.ones_like(li)
        elif p == 0:
            share_ex = np.zeros_like(li)
        else:
            share_ex = np.exp(np.log(p) + li - d)
        p_ex.append(float(w @ share_ex))
        ex_part = (w * np.exp(-d)) @ g.mass if (p is None or p > 0) else 0.0
        nex_part = float(w @ np.exp(-d)) * nex_mass if (p is not None and p < 1) else 0.0
        dens = lik * ((1.0 if p is None else p) * ex_part
                      + (0.0 if p is None else 1 - p) * nex_part)
        cohorts.append(CellDistribution(g.edges, g.centres, dens / dens.sum()))
    return HierarchicalPosterior(g, log_w, labels, np.array(p_ex), cohorts, p,
                                 None if p is None else nex_mass, (m_nex, s_nex))


def _unit(value: float, name: str) -> float:
    v = float(value)
    if not (np.isfinite(v) and 0 <= v <= 1):
        raise SpecError(f"{name} must lie in [0, 1], got {value!r}")
    return v


# ---------------------------------------------------------------------------- power prior
def power_prior(codata: pd.DataFrame | Sequence[tuple[int, int]], a0: float, *,
                a: float = 1.0, b: float = 1.0) -> BetaMixture:
    r"""Pooled power prior :math:`\mathrm{Beta}(a + a_0 \sum r^c, b + a_0 \sum (n^c - r^c))`.

    Parameters
    ----------
    codata : DataFrame or sequence of (r, n)
        Co-data sources, pooled.
    a0 : float
        Weight of the co-data likelihood, in [0, 1].
    a, b : float, default 1
        Initial beta prior (default uniform).
    """
    a0 = _unit(a0, "a0")
    if not (a > 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
        raise SpecError(f"the initial Beta(a, b) needs a, b > 0, got {a!r}, {b!r}")
    rc, nc, _ = _counts(codata, "co-data")
    return BetaMixture.single(a + a0 * rc.sum(), b + a0 * (nc - rc).sum(), name="power")


def _box_p(pmf: NDArray[np.float64], r: int) -> float:
    """Box's p-value: the predictive mass of outcomes no more likely than the observed one."""
    return float(min(pmf[pmf <= pmf[r] * (1 + 1e-9)].sum(), 1.0))


def power_prior_sensitivity(
    pcl_r: int, pcl_n: int, codata: pd.DataFrame | Sequence[tuple[int, int]], *,
    a0_grid: Sequence[float] = DEFAULT_A0_GRID, threshold: float = 0.5, prob: float = 0.95,
    a: float = 1.0, b: float = 1.0,
) -> pd.DataFrame:
    r"""Posterior of the pooled PCL rate over power-prior weights :math:`a_0`.

    Returns
    -------
    pandas.DataFrame
        One row per ``a0``: ``prior_mean``, ``prior_ess`` (:math:`a + b + a_0 \sum n^c`),
        posterior ``mean, lower, upper, prob_gt`` (:math:`P(\theta > t \mid \text{data})`)
        and ``conflict_p``: Box's p-value of the pooled PCL count under the beta-binomial
        predictive of that power prior.
    """
    from pclbayes.planning.update import posterior, predictive

    rows = []
    for a0 in a0_grid:
        prior = power_prior(codata, a0, a=a, b=b)
        post = posterior(prior, int(pcl_r), int(pcl_n))
        pmf = predictive(prior, int(pcl_n)).pmf()
        lo, hi = post.interval(prob)
        rows.append({"a0": float(a0), "prior_mean": prior.mean,
                     "prior_ess": float(prior.a[0] + prior.b[0]), "mean": post.mean,
                     "lower": float(lo), "upper": float(hi),
                     "prob_gt": float(post.sf(threshold)), "conflict_p": _box_p(pmf, pcl_r)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- conflict
def conflict_check(
    pcl: pd.DataFrame | Sequence[tuple[int, int]],
    codata: pd.DataFrame | Sequence[tuple[int, int]] | HierarchicalPosterior, *,
    mu_prior: Any = DEFAULT_MU_PRIOR, tau_prior: Any = DEFAULT_TAU_PRIOR,
) -> pd.DataFrame:
    r"""Predictive p-values of the PCL counts under the co-data MAP prior (no discount).

    For each PCL cohort and for the pooled PCL counts (one rate for all PCL patients):
    :math:`p(y) = \sum_c q_c\, \mathrm{Bin}(y \mid n, \mathrm{expit}\, x_c)` with the MAP
    cell probabilities :math:`q_c` of the co-data (:meth:`HierarchicalPosterior.predictive`).

    Returns
    -------
    pandas.DataFrame
        ``cohort, n, responders, expected`` (predictive mean count), ``p_lower``
        (:math:`P(Y \le r)`), ``p_upper`` (:math:`P(Y \ge r)`) and ``p_value`` (Box).
    """
    from scipy import stats

    post = codata if isinstance(codata, HierarchicalPosterior) else hierarchical_posterior(
        codata, (), mu_prior=mu_prior, tau_prior=tau_prior)
    q = post.predictive()
    theta = special.expit(q.centres)
    r, n, labels = _counts(pcl, "PCL")
    items = [*zip(labels, r, n, strict=True)]
    if len(items) > 1:
        items.append(("pooled PCL", r.sum(), n.sum()))
    rows = []
    for label, rj, nj in items:
        y = np.arange(int(nj) + 1)
        pmf = stats.binom.pmf(y[:, None], int(nj), theta[None, :]) @ q.prob
        rows.append({"cohort": label, "n": int(nj), "responders": int(rj),
                     "expected": float(y @ pmf), "p_lower": float(pmf[: int(rj) + 1].sum()),
                     "p_upper": float(pmf[int(rj):].sum()), "p_value": _box_p(pmf, int(rj))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- MAP from co-data
def codata_map(
    codata: pd.DataFrame | Sequence[tuple[int, int]],
    *,
    pcl: pd.DataFrame | Sequence[tuple[int, int]] = (),
    a0: float = 1.0,
    p_exchangeable: float | None = None,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    mu_prior: Any = DEFAULT_MU_PRIOR,
    tau_prior: Any = DEFAULT_TAU_PRIOR,
    nex_prior: Any = DEFAULT_NEX_PRIOR,
    n_draws: int = 10_000,
    max_components: int = 3,
    seed: int = 0,
) -> tuple[Any, HierarchicalPosterior]:
    """MAP prior of a new (PCL) cohort from the co-data (and PCL cohorts), as a beta mixture.

    The exact grid posterior (:func:`hierarchical_posterior`) is sampled ``n_draws`` times
    (seeded), and the draws go through :func:`pclbayes.planning.build_map_prior` (beta-mixture
    fit, robustification with ``robust_weight``, ESS). With ``p_exchangeable`` the new cohort
    follows the EXNEX mixture (EX with that probability, else the NEX prior).

    Returns
    -------
    (MapPrior, HierarchicalPosterior)
    """
    from pclbayes.planning.io import make_provenance
    from pclbayes.planning.map_prior import build_map_prior

    if not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise SpecError(f"the number of predictive draws must be an integer >= 100, got "
                        f"{n_draws!r}")
    post = hierarchical_posterior(pcl, codata, a0=a0, p_exchangeable=p_exchangeable,
                                  mu_prior=mu_prior, tau_prior=tau_prior, nex_prior=nex_prior)
    rng = np.random.default_rng([seed, 13])
    draws = post.sample(int(n_draws), rng, new_pcl=p_exchangeable is not None)
    draws = np.clip(draws, 1e-12, 1 - 1e-12)
    spec = {"source": "co-data", "a0": a0, "p_exchangeable": p_exchangeable,
            "mu_prior": str(mu_prior), "tau_prior": str(tau_prior), "nex_prior": str(nex_prior),
            "n_draws": int(n_draws), "robust_weight": robust_weight, "robust_mean": robust_mean}
    res = build_map_prior(draws, robust_weight=robust_weight, robust_mean=robust_mean,
                          max_components=max_components, rng=np.random.default_rng(seed),
                          provenance=make_provenance(spec=spec, seed=seed))
    return res, post


# ---------------------------------------------------------------------------- result
def _records(table: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if table is None:
        return None
    out = []
    for row in table.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, float | np.floating):
                v = float(v) if np.isfinite(v) else None
            elif isinstance(v, np.bool_):
                v = bool(v)
            clean[str(k)] = v
        out.append(clean)
    return out


def _fmt_table(table: pd.DataFrame, digits: int = 3) -> str:
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "n/a" if pd.isna(v) else f"{v:.{digits}f}")
    return shown.to_string(index=False)


@dataclass(frozen=True)
class BorrowingResult:
    """PCL-only and borrowed answers side by side, with the discount and the conflict check.

    Attributes
    ----------
    method : str
        One of :data:`BORROW_METHODS`.
    settings : dict
        Endpoint, grouping, discount parameters, priors, threshold.
    comparison : pandas.DataFrame
        One row per quantity (pooled PCL rate, or each PCL cohort for EXNEX): ``stratum,
        quantity, n, responders``, then ``pcl_mean, pcl_lower, pcl_upper, pcl_prob_gt`` and
        ``borrowed_mean, borrowed_lower, borrowed_upper, borrowed_prob_gt`` (and
        ``p_exchangeable`` for EXNEX), and ``codata_rows``: co-data rows of the stratum
        (0: nothing to borrow, the borrowed answer is the PCL-only one).
    conflict : pandas.DataFrame
        :func:`conflict_check` per stratum.
    sensitivity : pandas.DataFrame or None
        Over ``a0`` (power) or the robust weight (robust MAP).
    codata : pandas.DataFrame
        The co-data rows used.
    priors : dict
        Borrowed prior of each stratum (beta mixture as a dict) when there is one.
    """

    method: str
    settings: dict[str, Any]
    comparison: pd.DataFrame
    conflict: pd.DataFrame
    sensitivity: pd.DataFrame | None
    codata: pd.DataFrame
    priors: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"method": self.method, "settings": dict(self.settings),
                "codata": _records(self.codata), "comparison": _records(self.comparison),
                "conflict": _records(self.conflict),
                "sensitivity": _records(self.sensitivity), "priors": dict(self.priors)}

    def __str__(self) -> str:
        s = self.settings
        what = {"none": "no borrowing (PCL only; the co-data enter only the conflict check)",
                "robust-map": f"robust MAP prior from the co-data, robust weight "
                              f"{s.get('robust_weight')}",
                "power": f"power prior, a0 = {s.get('a0')}",
                "exnex": f"EXNEX, prior P(exchangeable) = {s.get('p_exchangeable')}, NEX "
                         f"{s.get('nex_prior')}"}[self.method]
        co = ", ".join(f"{c} [{p}] {r}/{n}" if p else f"{c} {r}/{n}" for c, p, n, r in
                       self.codata[["cohort", "population", "n", "responders"]].itertuples(
                           index=False))
        t = s.get("threshold")
        lines = [f"Borrowing from co-data ({s.get('endpoint')}): {what}",
                 f"Co-data: {co}",
                 f"PCL-only vs borrowed posterior of the response rate ({s.get('prob', 0.95):g} "
                 f"intervals; prob_gt = P(rate > {t:g})):",
                 _fmt_table(self.comparison)]
        if self.sensitivity is not None:
            lines += ["Discount sensitivity:", _fmt_table(self.sensitivity)]
        lines += ["Prior-data conflict: PCL counts under the co-data MAP prior (Box p-value; "
                  "small = the co-data predicted the PCL data badly, borrow little):",
                  _fmt_table(self.conflict)]
        return "\n".join(lines)


def _stratum_codata(codata: pd.DataFrame, by: str, level: str) -> pd.DataFrame:
    if by != "none" and "group" in codata.columns:
        return codata[codata["group"].astype(str) == str(level)]
    return codata


def borrow_response(
    pcl: pd.DataFrame,
    codata: pd.DataFrame,
    method: str = "robust-map",
    *,
    a0: float = 0.5,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    p_exchangeable: float = 0.5,
    threshold: float = 0.5,
    prob: float = 0.95,
    mu_prior: Any = DEFAULT_MU_PRIOR,
    tau_prior: Any = DEFAULT_TAU_PRIOR,
    nex_prior: Any = DEFAULT_NEX_PRIOR,
    base_prior: tuple[float, float] = (1.0, 1.0),
    a0_grid: Sequence[float] = DEFAULT_A0_GRID,
    robust_grid: Sequence[float] = DEFAULT_ROBUST_GRID,
    n_draws: int = 10_000,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
) -> BorrowingResult:
    r"""Borrow co-data into the PCL response analysis, next to the PCL-only answer.

    Each stratum (``group`` of ``pcl``) is analysed on its own, with the co-data of the same
    stratum when ``codata`` has a ``group`` column, else all co-data; a stratum without
    co-data rows gets its PCL-only answer in both columns (``codata_rows`` 0).

    * ``none``, ``power``, ``robust-map``: one rate for the stratum's PCL patients (pooled
      counts). PCL only: :math:`\mathrm{Beta}(a, b)` prior (``base_prior``, uniform).
      ``power``: the power prior with ``a0`` (:func:`power_prior`) and the sensitivity curve
      over ``a0_grid``. ``robust-map``: the co-data MAP prior (:func:`codata_map`)
      robustified with ``robust_weight``, updated exactly (:func:`pclbayes.planning.posterior`),
      with a table over ``robust_grid``.
    * ``exnex``: each PCL cohort's rate; PCL only = each cohort under the NEX prior alone
      (:math:`p_{ex} = 0`), borrowed = EXNEX with ``p_exchangeable``, and
      :math:`P(\text{EX} \mid \text{data})` per cohort.

    Parameters
    ----------
    pcl : DataFrame
        ``cohort, group, n, responders`` (:func:`pclbayes.data.views.response_counts`).
    codata : DataFrame
        :func:`load_codata` rows.
    method : str
        One of :data:`BORROW_METHODS`.
    a0, robust_weight, robust_mean, p_exchangeable : float
        The discount of each method.
    threshold, prob : float
        :math:`P(\theta > t)` and the interval probability reported.
    mu_prior, tau_prior, nex_prior
        Priors of the hierarchical model (co-data MAP, EXNEX).
    n_draws, seed : int
        Predictive draws of the co-data MAP (robust MAP) and their seed.
    settings : dict, optional
        Extra entries for :attr:`BorrowingResult.settings` (e.g. endpoint, by).
    """
    from pclbayes.planning.update import posterior

    if method not in BORROW_METHODS:
        raise SpecError(f"borrow must be one of {', '.join(BORROW_METHODS)}, got {method!r}")
    a0 = _unit(a0, "a0")
    p_ex = _unit(p_exchangeable, "p_exchangeable")
    if not 0 <= robust_weight < 1:
        raise SpecError(f"robust weight must lie in [0, 1), got {robust_weight!r}")
    if not 0 < threshold < 1:
        raise SpecError(f"threshold must lie in (0, 1), got {threshold!r}")
    groups = pcl["group"].astype(str) if "group" in pcl.columns else pd.Series(
        ["all"] * len(pcl))
    by = str((settings or {}).get("by", "none"))
    rows, conflicts, sens, priors = [], [], [], {}
    base = BetaMixture.single(*base_prior, name="base")
    for level in dict.fromkeys(groups):
        part = pcl[groups.to_numpy() == level]
        cod = _stratum_codata(codata, by, level)
        r_tot, n_tot = int(part["responders"].sum()), int(part["n"].sum())
        if cod.empty:  # nothing to borrow in this stratum: the PCL-only answer twice
            only_rows = _pcl_only_rows(part, level, method, base, threshold, prob, nex_prior,
                                       mu_prior, tau_prior)
            rows += only_rows
            continue
        co_post = hierarchical_posterior(cod, (), mu_prior=mu_prior, tau_prior=tau_prior)
        conflicts.append(conflict_check(part, co_post).assign(stratum=level))
        if method == "exnex":
            only = hierarchical_posterior(part, cod, p_exchangeable=0.0, mu_prior=mu_prior,
                                          tau_prior=tau_prior, nex_prior=nex_prior)
            ex = hierarchical_posterior(part, cod, p_exchangeable=p_ex, mu_prior=mu_prior,
                                        tau_prior=tau_prior, nex_prior=nex_prior)
            for j, (label, rj, nj) in enumerate(zip(ex.pcl_labels, part["responders"],
                                                    part["n"], strict=True)):
                rows.append({"stratum": level, "quantity": label, "n": int(nj),
                             "responders": int(rj),
                             **_prefixed(only.cohorts[j].summary(threshold, prob), "pcl"),
                             **_prefixed(ex.cohorts[j].summary(threshold, prob), "borrowed"),
                             "p_exchangeable": float(ex.p_exchangeable[j]),
                             "codata_rows": len(cod)})
            continue
        pcl_only = posterior(base, r_tot, n_tot)
        row = {"stratum": level, "quantity": "pooled PCL rate", "n": n_tot,
               "responders": r_tot, **_prefixed(_beta_summary(pcl_only, threshold, prob), "pcl")}
        if method == "none":
            borrowed = pcl_only
        elif method == "power":
            prior = power_prior(cod, a0, a=base_prior[0], b=base_prior[1])
            borrowed = posterior(prior, r_tot, n_tot)
            priors[level] = prior.to_dict()
            sens.append(power_prior_sensitivity(
                r_tot, n_tot, cod, a0_grid=sorted({*a0_grid, a0}), threshold=threshold,
                prob=prob, a=base_prior[0], b=base_prior[1]).assign(stratum=level))
        else:
            mix = _draws_mixture(co_post, n_draws, seed)
            prior = robustify(mix, robust_weight, mean=robust_mean) if robust_weight > 0 else mix
            borrowed = posterior(prior, r_tot, n_tot)
            priors[level] = prior.to_dict()
            table = []
            for w in sorted({*robust_grid, robust_weight}):
                pw = robustify(mix, w, mean=robust_mean) if w > 0 else mix
                post_w = posterior(pw, r_tot, n_tot)
                rob = post_w.weights[-1] if w > 0 else 0.0
                table.append({"stratum": level, "robust_weight": float(w),
                              **_beta_summary(post_w, threshold, prob),
                              "posterior_robust_weight": float(rob)})
            sens.append(pd.DataFrame(table))
        rows.append({**row, **_prefixed(_beta_summary(borrowed, threshold, prob), "borrowed"),
                     "codata_rows": len(cod)})
    if not conflicts:
        raise SpecError("no stratum has co-data rows to borrow from (the co-data file's "
                        f"'{by}' values match no PCL stratum)")
    conflict = pd.concat(conflicts, ignore_index=True)
    conflict = conflict[["stratum", *[c for c in conflict.columns if c != "stratum"]]]
    sensitivity = None
    if sens:
        sensitivity = pd.concat(sens, ignore_index=True)
        sensitivity = sensitivity[["stratum",
                                   *[c for c in sensitivity.columns if c != "stratum"]]]
    out_settings = {**dict(settings or {}), "method": method, "threshold": threshold,
                    "prob": prob, "mu_prior": str(mu_prior), "tau_prior": str(tau_prior)}
    if method == "power":
        out_settings["a0"] = a0
        out_settings["base_prior"] = list(base_prior)
    elif method == "robust-map":
        out_settings.update(robust_weight=robust_weight, robust_mean=robust_mean,
                            n_draws=n_draws, seed=seed)
    elif method == "exnex":
        out_settings.update(p_exchangeable=p_ex, nex_prior=str(nex_prior))
    else:
        out_settings["base_prior"] = list(base_prior)
    return BorrowingResult(method, out_settings, pd.DataFrame(rows), conflict, sensitivity,
                           codata.reset_index(drop=True), priors)


def _draws_mixture(post: HierarchicalPosterior, n_draws: int, seed: int) -> BetaMixture:
    """Beta mixture fitted to seeded draws of the MAP distribution (as :func:`codata_map`)."""
    from pclbayes.planning.fit import fit_beta_mixture

    if not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise SpecError(f"the number of predictive draws must be an integer >= 100, got "
                        f"{n_draws!r}")
    draws = np.clip(post.sample(int(n_draws), np.random.default_rng([seed, 13])),
                    1e-12, 1 - 1e-12)
    mix = fit_beta_mixture(draws, max_components=3, rng=np.random.default_rng(seed)).mixture
    assert isinstance(mix, BetaMixture)
    return mix


def _pcl_only_rows(part: pd.DataFrame, level: str, method: str, base: BetaMixture,
                   threshold: float, prob: float, nex_prior: Any, mu_prior: Any,
                   tau_prior: Any) -> list[dict[str, Any]]:
    """Rows of a stratum without co-data: borrowed = PCL only, ``codata_rows`` 0."""
    from pclbayes.planning.update import posterior

    if method == "exnex":
        only = hierarchical_posterior(part, (), p_exchangeable=0.0, mu_prior=mu_prior,
                                      tau_prior=tau_prior, nex_prior=nex_prior)
        out = []
        for j, (label, rj, nj) in enumerate(zip(only.pcl_labels, part["responders"],
                                                part["n"], strict=True)):
            summ = only.cohorts[j].summary(threshold, prob)
            out.append({"stratum": level, "quantity": label, "n": int(nj),
                        "responders": int(rj), **_prefixed(summ, "pcl"),
                        **_prefixed(summ, "borrowed"), "p_exchangeable": float("nan"),
                        "codata_rows": 0})
        return out
    summ = _beta_summary(posterior(base, int(part["responders"].sum()), int(part["n"].sum())),
                         threshold, prob)
    return [{"stratum": level, "quantity": "pooled PCL rate", "n": int(part["n"].sum()),
             "responders": int(part["responders"].sum()), **_prefixed(summ, "pcl"),
             **_prefixed(summ, "borrowed"), "codata_rows": 0}]


def _prefixed(summary: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in summary.items() if k != "sd"}


def exnex(
    pcl: pd.DataFrame | Sequence[tuple[int, int]],
    codata: pd.DataFrame | Sequence[tuple[int, int]],
    p_exchangeable: float = 0.5,
    **kwargs: Any,
) -> HierarchicalPosterior:
    """EXNEX posterior: :func:`hierarchical_posterior` with ``p_exchangeable`` given."""
    return hierarchical_posterior(pcl, codata, p_exchangeable=p_exchangeable, **kwargs)


# ---------------------------------------------------------------------------- MAP with co-data
#: Prior probabilities of exchangeability of the EXNEX sensitivity table.
DEFAULT_PEX_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


def _exact_row(label: str, dist: CellDistribution, prob: float = 0.95) -> dict[str, Any]:
    lo, hi = dist.interval(prob)
    return {"prior": label, "mean": dist.mean, "sd": dist.sd, "lower": lo, "upper": hi,
            "moment_ess": dist.moment_ess()}


@dataclass(frozen=True)
class BorrowedMapPrior:
    """MAP prior of a new PCL cohort with co-data borrowed, next to the PCL-only MAP prior.

    Attributes
    ----------
    method : str
        One of :data:`BORROW_METHODS`.
    settings : dict
        Discount parameters, priors, number of predictive draws, seed.
    comparison : pandas.DataFrame
        Exact (quadrature) summaries of the PCL-only and the borrowed MAP distribution:
        ``prior, mean, sd, lower, upper, moment_ess``.
    map_prior : MapPrior
        The borrowed MAP prior as a (robust) beta mixture, from ``n_draws`` draws of the exact
        distribution (:func:`pclbayes.planning.build_map_prior`).
    conflict : pandas.DataFrame
        :func:`conflict_check` of the PCL cohorts under the co-data MAP prior.
    sensitivity : pandas.DataFrame or None
        Exact MAP summaries over ``a0`` (power) or ``p_exchangeable`` (EXNEX).
    exchangeability : pandas.DataFrame or None
        EXNEX: ``cohort, n, responders, p_exchangeable`` (posterior).
    codata : pandas.DataFrame
        The co-data rows used.
    """

    method: str
    settings: dict[str, Any]
    comparison: pd.DataFrame
    map_prior: Any
    conflict: pd.DataFrame
    sensitivity: pd.DataFrame | None
    exchangeability: pd.DataFrame | None
    codata: pd.DataFrame

    @property
    def prior(self) -> BetaMixture:
        """The prior to plan with (robust mixture if robustified)."""
        return self.map_prior.prior

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the borrowed MAP prior under ``map_prior``)."""
        return {"method": self.method, "settings": dict(self.settings),
                "codata": _records(self.codata), "comparison": _records(self.comparison),
                "map_prior": self.map_prior.to_dict(), "conflict": _records(self.conflict),
                "sensitivity": _records(self.sensitivity),
                "exchangeability": _records(self.exchangeability)}

    def __str__(self) -> str:
        s = self.settings
        what = {"none": "none (PCL cohorts only; the co-data enter only the conflict check)",
                "robust-map": "co-data as one more exchangeable cohort, then robustified",
                "power": f"power prior, co-data likelihood ^ a0 = {s.get('a0')}",
                "exnex": f"EXNEX, prior P(exchangeable) = {s.get('p_exchangeable')}"}
        co = ", ".join(f"{c} {r}/{n}" for c, n, r in
                       self.codata[["cohort", "n", "responders"]].itertuples(index=False))
        lines = [f"MAP prior of a new PCL cohort, borrowing: {what[self.method]}",
                 f"Co-data: {co}; robust weight {s.get('robust_weight')}",
                 "PCL-only vs borrowed MAP distribution (exact quadrature, before the "
                 "mixture fit):", _fmt_table(self.comparison)]
        if self.exchangeability is not None:
            lines += ["Posterior probability that each PCL cohort is exchangeable with the "
                      "co-data:", _fmt_table(self.exchangeability)]
        if self.sensitivity is not None:
            lines += ["Discount sensitivity of the borrowed MAP distribution:",
                      _fmt_table(self.sensitivity)]
        lines += ["Prior-data conflict: PCL counts under the co-data MAP prior (Box p-value):",
                  _fmt_table(self.conflict), "Borrowed MAP prior as a beta mixture:",
                  str(self.map_prior)]
        return "\n".join(lines)


def borrowed_map_prior(
    pcl: pd.DataFrame | Sequence[tuple[int, int]],
    codata: pd.DataFrame,
    method: str = "robust-map",
    *,
    a0: float = 0.5,
    p_exchangeable: float = 0.5,
    robust_weight: float = 0.2,
    robust_mean: float | None = None,
    mu_prior: Any = DEFAULT_MU_PRIOR,
    tau_prior: Any = DEFAULT_TAU_PRIOR,
    nex_prior: Any = DEFAULT_NEX_PRIOR,
    n_draws: int = 10_000,
    max_components: int = 4,
    seed: int = 0,
    a0_grid: Sequence[float] = DEFAULT_A0_GRID,
    pex_grid: Sequence[float] = DEFAULT_PEX_GRID,
    settings: Mapping[str, Any] | None = None,
) -> BorrowedMapPrior:
    r"""MAP prior of a new PCL cohort from the PCL cohorts and discounted co-data.

    The PCL cohorts and the co-data share the logit-normal model of
    :func:`hierarchical_posterior`; the discount is

    * ``none``: co-data left out (PCL-only MAP; the co-data enter the conflict check only);
    * ``robust-map``: co-data as exchangeable cohorts, the MAP prior robustified;
    * ``power``: co-data likelihood raised to ``a0`` (table over ``a0_grid``);
    * ``exnex``: PCL cohorts EX with probability ``p_exchangeable`` (table over
      ``pex_grid``); the new PCL cohort is EX with that probability, else NEX.

    ``robust_weight`` robustifies every borrowed prior (0 for none). The PCL-only MAP prior
    is the same model without co-data.
    """
    from pclbayes.planning.io import make_provenance
    from pclbayes.planning.map_prior import build_map_prior

    if method not in BORROW_METHODS:
        raise SpecError(f"borrow must be one of {', '.join(BORROW_METHODS)}, got {method!r}")
    a0 = _unit(a0, "a0")
    p_ex = _unit(p_exchangeable, "p_exchangeable")
    if not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise SpecError(f"the number of predictive draws must be an integer >= 100, got "
                        f"{n_draws!r}")
    kw = {"mu_prior": mu_prior, "tau_prior": tau_prior, "nex_prior": nex_prior}
    only = hierarchical_posterior(pcl, (), **kw)
    co_post = hierarchical_posterior(codata, (), **kw)
    if method == "none":
        post = only
    elif method == "exnex":
        post = hierarchical_posterior(pcl, codata, p_exchangeable=p_ex, **kw)
    else:
        post = hierarchical_posterior(pcl, codata, a0=a0 if method == "power" else 1.0, **kw)
    comparison = pd.DataFrame([_exact_row("PCL only", only.predictive()),
                               _exact_row("borrowed", post.new_cohort())])
    sensitivity = exchangeability = None
    if method == "power":
        sensitivity = pd.DataFrame([
            {"a0": float(v), **_exact_row("", hierarchical_posterior(
                pcl, codata, a0=v, **kw).predictive())} for v in sorted({*a0_grid, a0})
        ]).drop(columns="prior")
    elif method == "exnex":
        sensitivity = pd.DataFrame([
            {"p_exchangeable": float(v), **_exact_row("", hierarchical_posterior(
                pcl, codata, p_exchangeable=v, **kw).new_cohort())}
            for v in sorted({*pex_grid, p_ex})]).drop(columns="prior")
        r, n, labels = _counts(pcl, "PCL")
        exchangeability = pd.DataFrame({"cohort": labels, "n": n.astype(int),
                                        "responders": r.astype(int),
                                        "p_exchangeable": post.p_exchangeable})
    rng = np.random.default_rng([seed, 13])
    draws = np.clip(post.sample(int(n_draws), rng, new_pcl=method == "exnex"),
                    1e-12, 1 - 1e-12)
    out_settings = {**dict(settings or {}), "method": method, "robust_weight": robust_weight,
                    "robust_mean": robust_mean, "mu_prior": str(mu_prior),
                    "tau_prior": str(tau_prior), "n_draws": int(n_draws), "seed": seed}
    if method == "power":
        out_settings["a0"] = a0
    if method == "exnex":
        out_settings.update(p_exchangeable=p_ex, nex_prior=str(nex_prior))
    spec = {**out_settings, "codata": _records(codata)}
    mp = build_map_prior(draws, robust_weight=robust_weight, robust_mean=robust_mean,
                         max_components=max_components, rng=np.random.default_rng(seed),
                         provenance=make_provenance(data_hash=(settings or {}).get(
                             "data_hash"), spec=spec, seed=seed))
    return BorrowedMapPrior(method, out_settings, comparison, mp,
                            conflict_check(pcl, co_post), sensitivity, exchangeability,
                            codata.reset_index(drop=True))
