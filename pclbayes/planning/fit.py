"""Parametric mixture approximations of Monte-Carlo draws by expectation-maximisation (EM).

A MAP prior is available as draws from a hierarchical model; conjugate updating, ESS and
exact operating characteristics need a parametric form. :func:`fit_beta_mixture` fits beta
mixtures with 1..``max_components`` components and keeps the one with the lowest penalised
log-likelihood ``-2 log L + penalty · n_parameters`` (AIC with ``penalty = 6`` by default,
which favours fewer components, as suggested by Collett 2003 and used by RBesT).

EM for a beta mixture: the E-step computes responsibilities in log space; the M-step is the
exact weighted maximum-likelihood estimate of each Beta(a, b), i.e. the root of
``ψ(a) - ψ(a + b) = E_w[log x]``, ``ψ(b) - ψ(a + b) = E_w[log(1 - x)]``, found by Newton's
method on the concave log-likelihood (started from the previous iterate; the first start is
the weighted method of moments).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning.mixture import BetaMixture
from pclbayes.planning.normal import NormalMixture

__all__ = ["FIT_PROBS", "MixtureFit", "fit_beta_mixture", "fit_normal_mixture"]

logger = logging.getLogger(__name__)

#: Quantiles compared between draws and fitted mixture.
FIT_PROBS: tuple[float, ...] = (0.025, 0.25, 0.5, 0.75, 0.975)


@dataclass(frozen=True)
class MixtureFit:
    """Result of a mixture fit to draws, with fit-quality diagnostics.

    Attributes
    ----------
    mixture : BetaMixture or NormalMixture
        Selected mixture.
    loglik : float
        Log-likelihood of the draws under ``mixture``.
    candidates : pandas.DataFrame
        One row per number of components tried (index ``components``): ``loglik``,
        ``criterion``, ``converged``, ``kl_divergence`` and ``adequate``.
    kl_divergence : float
        Kullback-Leibler divergence from the histogram of the draws (equal-probability bins)
        to the mixture; about ``(bins - 1) / (2 · n_draws)`` is Monte-Carlo noise.
    quantile_errors : pandas.DataFrame
        Draw quantiles, mixture quantiles and their difference at :data:`FIT_PROBS`.
    n_draws : int
        Number of draws fitted.
    converged : bool
        Whether EM met its tolerance for the selected model.
    adequate : bool
        False when KL or quantile errors exceed the tolerances (a warning was raised).
    alternatives : dict
        The best mixture found for every number of components in ``candidates`` (keyed by
        that number), so that quantities such as the ESS can be compared across them;
        ``candidates`` also gives each one's ``kl_divergence`` and ``adequate``.
    """

    mixture: BetaMixture | NormalMixture
    loglik: float
    candidates: pd.DataFrame
    kl_divergence: float
    quantile_errors: pd.DataFrame
    n_draws: int
    converged: bool
    adequate: bool = field(default=True)
    alternatives: dict[int, BetaMixture | NormalMixture] = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        """Number of components of the selected mixture."""
        return self.mixture.n_components

    def __str__(self) -> str:
        qe = self.quantile_errors.to_string(float_format=lambda v: f"{v:.4g}")
        status = "adequate" if self.adequate else "POOR - see warning"
        return (
            f"EM mixture fit to {self.n_draws} draws: {self.n_components} component(s), "
            f"log-likelihood {self.loglik:.2f}, converged: {self.converged}\n"
            f"{self.mixture}\n"
            f"Fit quality ({status}): KL divergence {self.kl_divergence:.4f}\n{qe}"
        )


# ============================================================================ beta EM
# Arrays are laid out (components, draws) so that reductions over components are fast.
def _logsumexp_cols(lli: NDArray) -> NDArray:
    """Log-sum-exp over components (axis 0) of a matrix with a finite maximum per column."""
    top = lli.max(axis=0)
    return top + np.log(np.exp(lli - top).sum(axis=0))


def _trigamma(x: NDArray) -> NDArray:
    return special.zeta(2.0, x)


def _beta_loglik_unit(a: NDArray, b: NDArray, s1: NDArray, s2: NDArray) -> NDArray:
    return (a - 1) * s1 + (b - 1) * s2 - special.betaln(a, b)


def _beta_mle(
    s1: NDArray, s2: NDArray, a: NDArray, b: NDArray, lower: float, iters: int = 50
) -> tuple[NDArray, NDArray]:
    """Weighted beta MLE from sufficient statistics, vectorised over components.

    Newton steps on the concave log-likelihood, shortened to stay above ``lower`` (fraction
    to the boundary 0.9) and halved until the objective does not decrease.
    """
    a, b = a.copy(), b.copy()
    for _ in range(iters):
        ab = a + b
        tri_ab = _trigamma(ab)
        dig_ab = special.digamma(ab)
        ga = s1 - special.digamma(a) + dig_ab
        gb = s2 - special.digamma(b) + dig_ab
        haa = tri_ab - _trigamma(a)
        hbb = tri_ab - _trigamma(b)
        det = haa * hbb - tri_ab**2
        da = -(hbb * ga - tri_ab * gb) / det
        db = -(haa * gb - tri_ab * ga) / det
        step = np.ones_like(a)
        for d, x in ((da, a), (db, b)):
            shrink = d < 0
            step[shrink] = np.minimum(step[shrink], 0.9 * (x[shrink] - lower) / -d[shrink])
        old = _beta_loglik_unit(a, b, s1, s2)
        na, nb = a + step * da, b + step * db
        for _halving in range(40):
            bad = _beta_loglik_unit(na, nb, s1, s2) < old - 1e-12 * np.abs(old)
            if not np.any(bad):
                break
            step[bad] /= 2
            na, nb = a + step * da, b + step * db
        move = np.maximum(np.abs(na - a) / a, np.abs(nb - b) / b)
        a, b = na, nb
        if np.all(move < 1e-10):
            break
    return a, b


def _beta_moments(x: NDArray, resp: NDArray, lower: float) -> tuple[NDArray, NDArray]:
    """Weighted method-of-moments beta parameters per component (starting values)."""
    tot = resp.sum(axis=1)
    m = resp @ x / tot
    v = (resp * (x[None, :] - m[:, None]) ** 2).sum(axis=1) / tot
    n = np.maximum(m * (1 - m) / np.maximum(v, 1e-12) - 1, 2 * lower + 0.1)
    a = np.maximum(m * n, lower + 0.05)
    b = np.maximum((1 - m) * n, lower + 0.05)
    return a, b


def _em_beta(
    x: NDArray,
    lx: NDArray,
    l1x: NDArray,
    start: NDArray | BetaMixture,
    lower: float,
    max_iter: int,
    tol: float,
) -> tuple[BetaMixture, float, bool]:
    """EM from initial responsibilities (K, N) or from a mixture; returns (mix, loglik, conv)."""
    if isinstance(start, BetaMixture):
        w = start.weights.copy()
        a = np.maximum(start.a, lower + 1e-9)
        b = np.maximum(start.b, lower + 1e-9)
    else:
        w = start.mean(axis=1)
        a, b = _beta_moments(x, start, lower)
    last, ll, converged = -np.inf, -np.inf, False
    for _ in range(max_iter):
        with np.errstate(divide="ignore"):
            lw = np.log(w)
        lli = (lw - special.betaln(a, b))[:, None] + np.outer(a - 1, lx) + np.outer(b - 1, l1x)
        norm = _logsumexp_cols(lli)
        ll = float(norm.sum())
        if abs(ll - last) < tol * x.size:
            converged = True
            break
        last = ll
        resp = np.exp(lli - norm)
        tot = resp.sum(axis=1)
        keep = tot > 1e-8 * x.size
        resp, tot, a, b = resp[keep], tot[keep], a[keep], b[keep]
        w = tot / tot.sum()
        a, b = _beta_mle(resp @ lx / tot, resp @ l1x / tot, a, b, lower)
    order = np.argsort(-w)
    return BetaMixture(w[order], a[order], b[order]), ll, converged


# ============================================================================ normal EM
def _em_normal(
    x: NDArray, start: NDArray | NormalMixture, max_iter: int, tol: float
) -> tuple[NormalMixture, float, bool]:
    """EM for a normal mixture from responsibilities (K, N) or a mixture."""
    floor = 1e-6 * max(float(np.std(x)), 1e-12)
    if isinstance(start, NormalMixture):
        resp = _responsibilities(x, start, np.ones(start.n_components, dtype=bool))
    else:
        resp = start
    last, ll, converged = -np.inf, -np.inf, False
    tot = resp.sum(axis=1)
    w = m = s = np.empty(0)
    for _ in range(max_iter):
        keep = tot > 1e-8 * x.size
        resp, tot = resp[keep], tot[keep]
        w = tot / tot.sum()
        m = resp @ x / tot
        s = np.sqrt(np.maximum((resp * (x[None, :] - m[:, None]) ** 2).sum(axis=1) / tot, floor**2))
        lli = (np.log(w) - np.log(s) - 0.5 * np.log(2 * np.pi))[:, None] - 0.5 * (
            (x[None, :] - m[:, None]) / s[:, None]
        ) ** 2
        norm = _logsumexp_cols(lli)
        ll = float(norm.sum())
        resp = np.exp(lli - norm)
        tot = resp.sum(axis=1)
        if abs(ll - last) < tol * x.size:
            converged = True
            break
        last = ll
    order = np.argsort(-w)
    return NormalMixture(w[order], m[order], s[order]), ll, converged


# ============================================================================ shared
def _initial_responsibilities(
    z: NDArray, k: int, n_init: int, rng: np.random.Generator
) -> list[NDArray]:
    """Hard initial assignments (K, N): quantile blocks of ``z``, then random centres."""
    n = z.size
    inits = []
    ranks = np.empty(n, dtype=int)
    ranks[np.argsort(z, kind="stable")] = np.arange(n)
    labels = np.minimum(ranks * k // n, k - 1)
    inits.append((labels[None, :] == np.arange(k)[:, None]).astype(float))
    for _ in range(max(n_init - 1, 0)):
        centres = rng.choice(z, size=k, replace=False)
        labels = np.argmin(np.abs(z[:, None] - centres[None, :]), axis=1)
        if np.unique(labels).size < k:
            continue
        inits.append((labels[None, :] == np.arange(k)[:, None]).astype(float))
    return inits


def _check_draws(draws: ArrayLike, *, unit: bool) -> NDArray[np.float64]:
    x = np.asarray(draws, dtype=float).ravel()
    if x.size < 20:
        raise SpecError(f"at least 20 draws are needed to fit a mixture, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise SpecError("draws contain NaN or infinite values")
    if unit and (np.any(x < 0) or np.any(x > 1)):
        raise SpecError("draws of a rate must lie in [0, 1]")
    if np.ptp(x) == 0:
        raise SpecError("all draws are identical; a mixture cannot be fitted")
    return x


def _quality(
    x: NDArray,
    mix: BetaMixture | NormalMixture,
    kl_tol: float,
    quantile_tol: float,
) -> tuple[float, pd.DataFrame, bool, str]:
    n_bins = int(np.clip(x.size // 100, 10, 50))
    edges = np.quantile(x, np.linspace(0, 1, n_bins + 1))
    counts = np.histogram(x, bins=edges)[0]
    cdf = mix.cdf(edges)
    cdf[0], cdf[-1] = 0.0, 1.0  # open outer bins cover the whole support
    q = np.maximum(np.diff(cdf), 1e-300)
    p = counts / counts.sum()
    kl = float(np.sum(special.rel_entr(p, q)))
    probs = np.asarray(FIT_PROBS)
    q_draws = np.quantile(x, probs)
    q_mix = mix.ppf(probs)
    table = pd.DataFrame(
        {"prob": probs, "draws": q_draws, "mixture": q_mix, "error": q_mix - q_draws}
    )
    scale = float(np.std(x))
    worst = float(np.max(np.abs(table["error"]))) / scale
    problems = []
    if kl > kl_tol:
        problems.append(f"KL divergence {kl:.3g} > {kl_tol:g}")
    if worst > quantile_tol:
        problems.append(f"largest quantile error {worst:.3g} sd > {quantile_tol:g} sd")
    return kl, table, not problems, "; ".join(problems)


FitFn = Callable[
    [NDArray | BetaMixture | NormalMixture, int], tuple[BetaMixture | NormalMixture, float, bool]
]


def _select(
    x: NDArray,
    fit_k: FitFn,
    z: NDArray,
    max_components: int,
    *,
    penalty: float,
    min_weight: float,
    n_init: int,
    max_iter: int,
    rng: np.random.Generator,
) -> tuple[
    BetaMixture | NormalMixture, float, bool, pd.DataFrame, dict[int, BetaMixture | NormalMixture]
]:
    """Fit 1..max_components; each start runs 20 EM steps, the best start runs to the end.

    Returns the selected mixture, its log-likelihood and EM convergence flag, the table of
    candidates and the best mixture for every distinct number of components.
    """
    rows = []
    fitted: dict[int, BetaMixture | NormalMixture] = {}
    best: tuple[float, BetaMixture | NormalMixture, float, bool] | None = None
    seen: set[int] = set()
    for k in range(1, max_components + 1):
        starts = _initial_responsibilities(z, k, n_init if k > 1 else 1, rng)
        short = [fit_k(r, min(20, max_iter)) for r in starts]
        mix, ll, conv = max(short, key=lambda f: f[1])
        if not conv:
            mix, ll, conv = fit_k(mix, max_iter)
        small = mix.weights < min_weight
        if np.any(small) and mix.n_components > 1:
            logger.debug("dropping %d negligible component(s) at k=%d", small.sum(), k)
            mix, ll, conv = fit_k(_responsibilities(x, mix, ~small), max_iter)
        kk = mix.n_components
        if kk in seen:
            continue
        seen.add(kk)
        fitted[kk] = mix
        crit = -2 * ll + penalty * (3 * kk - 1)
        rows.append({"components": kk, "loglik": ll, "criterion": crit, "converged": conv})
        if best is None or crit < best[0]:
            best = (crit, mix, ll, conv)
    assert best is not None
    table = pd.DataFrame(rows).set_index("components")
    return best[1], best[2], best[3], table, fitted


def _responsibilities(x: NDArray, mix: BetaMixture | NormalMixture, keep: NDArray) -> NDArray:
    """Responsibilities (K_kept, N) of the kept components of ``mix`` for the draws ``x``."""
    if isinstance(mix, BetaMixture):
        comp = mix._component_logpdf(x).T
    else:
        from scipy import stats

        comp = stats.norm.logpdf(x[None, :], mix.means[:, None], mix.sds[:, None])
    lli = np.log(mix.weights[keep])[:, None] + comp[keep]
    return np.exp(lli - _logsumexp_cols(lli))


def _check_common(max_components: int, penalty: float, min_weight: float, n_init: int) -> None:
    if int(max_components) != max_components or not 1 <= max_components <= 6:
        raise SpecError(f"max_components must be an integer in 1..6, got {max_components!r}")
    if not np.isfinite(penalty) or penalty < 0:
        raise SpecError(f"penalty must be >= 0, got {penalty!r}")
    if not 0 <= min_weight < 0.5:
        raise SpecError(f"min_weight must lie in [0, 0.5), got {min_weight!r}")
    if int(n_init) != n_init or n_init < 1:
        raise SpecError(f"n_init must be a positive integer, got {n_init!r}")


def _finish(
    x: NDArray,
    mix: BetaMixture | NormalMixture,
    ll: float,
    conv: bool,
    table: pd.DataFrame,
    fitted: dict[int, BetaMixture | NormalMixture],
    kl_tol: float,
    quantile_tol: float,
    what: str,
) -> MixtureFit:
    if not conv:
        logger.info("EM reached the iteration limit before meeting its tolerance")
    table = table.copy()
    for k, alt in fitted.items():
        kl_k, _, ok_k, _ = _quality(x, alt, kl_tol, quantile_tol)
        table.loc[k, "kl_divergence"] = kl_k
        table.loc[k, "adequate"] = ok_k
    table["adequate"] = table["adequate"].astype(bool)
    kl, qtable, ok, why = _quality(x, mix, kl_tol, quantile_tol)
    if not ok:
        warnings.warn(
            f"The {what} mixture approximates the draws poorly ({why}). Increase "
            "max_components, check the draws for outliers or multimodality, or use more draws.",
            StatisticalWarning,
            stacklevel=3,
        )
    return MixtureFit(
        mixture=mix,
        loglik=ll,
        candidates=table,
        kl_divergence=kl,
        quantile_errors=qtable,
        n_draws=int(x.size),
        converged=conv,
        adequate=ok,
        alternatives=dict(fitted),
    )


def fit_beta_mixture(
    draws: ArrayLike,
    max_components: int = 4,
    *,
    penalty: float = 6.0,
    min_weight: float = 0.01,
    constrain_gt1: bool = True,
    n_init: int = 3,
    max_iter: int = 1000,
    tol: float = 1e-8,
    rng: np.random.Generator | None = None,
    kl_tol: float = 0.02,
    quantile_tol: float = 0.1,
) -> MixtureFit:
    """Fit a beta mixture to draws of a rate, choosing the number of components.

    Parameters
    ----------
    draws : array_like
        Monte-Carlo draws in [0, 1] (e.g. the predictive rate of a new cohort).
    max_components : int, default 4
        Mixtures with 1..``max_components`` components are fitted.
    penalty : float, default 6
        Penalty per parameter of the selection criterion ``-2 log L + penalty · (3K - 1)``;
        2 is the AIC, ``log(len(draws))`` the BIC.
    min_weight : float, default 0.01
        Components with a smaller weight are dropped and the mixture refitted.
    constrain_gt1 : bool, default True
        Keep ``a, b >= 1`` so that the density is bounded and the ELIR ESS is finite.
    n_init : int, default 3
        EM starts per number of components (quantile split plus random partitions).
    max_iter, tol : int, float
        EM stops after ``max_iter`` iterations or when the log-likelihood per draw changes by
        less than ``tol``.
    rng : numpy.random.Generator, optional
        Generator for the random starts (default ``numpy.random.default_rng(0)``).
    kl_tol, quantile_tol : float
        A :class:`~pclbayes.errors.StatisticalWarning` is raised if the KL divergence exceeds
        ``kl_tol`` or a quantile error exceeds ``quantile_tol`` standard deviations of the draws.

    Returns
    -------
    MixtureFit
        The selected mixture (``.mixture``) and diagnostics.
    """
    _check_common(max_components, penalty, min_weight, n_init)
    x = _check_draws(draws, unit=True)
    rng = np.random.default_rng(0) if rng is None else rng
    xc = np.clip(x, 1e-12, 1 - 1e-12)
    lx, l1x = np.log(xc), np.log1p(-xc)
    lower = 1.0 if constrain_gt1 else 1e-4

    def fit_k(start: NDArray | BetaMixture, iters: int) -> tuple[BetaMixture, float, bool]:
        return _em_beta(xc, lx, l1x, start, lower, iters, tol)

    mix, ll, conv, table, fitted = _select(
        xc,
        fit_k,
        lx - l1x,
        max_components,
        penalty=penalty,
        min_weight=min_weight,
        n_init=n_init,
        max_iter=max_iter,
        rng=rng,
    )
    return _finish(xc, mix, ll, conv, table, fitted, kl_tol, quantile_tol, "beta")


def fit_normal_mixture(
    draws: ArrayLike,
    max_components: int = 3,
    *,
    penalty: float = 6.0,
    min_weight: float = 0.01,
    n_init: int = 3,
    max_iter: int = 1000,
    tol: float = 1e-8,
    rng: np.random.Generator | None = None,
    kl_tol: float = 0.02,
    quantile_tol: float = 0.1,
) -> MixtureFit:
    """Fit a normal mixture to draws, choosing 1..``max_components`` components.

    Arguments as in :func:`fit_beta_mixture`; the draws are on the real line (e.g. log
    median PFS).
    """
    _check_common(max_components, penalty, min_weight, n_init)
    x = _check_draws(draws, unit=False)
    rng = np.random.default_rng(0) if rng is None else rng

    def fit_k(start: NDArray | NormalMixture, iters: int) -> tuple[NormalMixture, float, bool]:
        return _em_normal(x, start, iters, tol)

    mix, ll, conv, table, fitted = _select(
        x,
        fit_k,
        x,
        max_components,
        penalty=penalty,
        min_weight=min_weight,
        n_init=n_init,
        max_iter=max_iter,
        rng=rng,
    )
    return _finish(x, mix, ll, conv, table, fitted, kl_tol, quantile_tol, "normal")
