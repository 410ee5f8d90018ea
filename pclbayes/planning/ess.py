r"""Effective sample size (ESS) of mixture priors: beta (in patients) and normal (in events).

Three definitions are provided for beta mixtures (see ``docs/planning.md`` for the derivations):

``elir`` (default)
    Expected local-information ratio (Neuenschwander et al. 2020):
    :math:`\mathrm{ESS} = E_{p}\left[ i_p / i_F \right]`, the prior information
    :math:`i_p = -\partial^2 \log p` over the Fisher information :math:`i_F` of one patient,
    on the log-odds scale (see below). It is the only definition that is predictively
    consistent: the expected posterior ESS after ``m`` further patients is ``ESS + m``.
``morita``
    Morita, Thall & Müller (2008) in the form of Neuenschwander et al. (2020, eq. 9):
    the prior curvature at its mode, minus that of a flattened Beta(mode/s, (1-mode)/s),
    divided by the expected information of one observation at the mode. Liberal for mixtures.
``moment``
    ``a + b`` of the single beta with the same mean and variance. Conservative.

For a single Beta(a, b) all three give (essentially) ``a + b``.

Scale of ``elir``. The ELIR is computed on the natural-parameter scale of the binomial model,
the log-odds :math:`\eta = \log(\theta/(1-\theta))`: with :math:`q(\eta)` the prior density
of :math:`\eta`, the Fisher information of one Bernoulli observation is
:math:`\theta(1-\theta)` whatever the outcome, and

.. math:: \mathrm{ELIR} = E_q\left[\frac{-\partial^2_\eta \log q(\eta)}
   {\theta(1-\theta)}\right].

A Beta(a, b) has :math:`-\partial^2_\eta \log q = (a+b)\theta(1-\theta)`, so its ELIR is
exactly ``a + b`` for every ``a, b > 0``. Integration by parts relates this to the rate-scale
integral :math:`E_p[i_p(\theta)\,\theta(1-\theta)]` of Neuenschwander et al.,

.. math:: \mathrm{ELIR}_\theta = \mathrm{ELIR}_\eta - p(0^+) - p(1^-),

so the two agree whenever the prior density vanishes at 0 and 1 (every component with
``a, b > 1``: all fitted MAP mixtures). The rate-scale value is not used: it jumps at ``a = 1``
or ``b = 1`` (Beta(1, 10) would give 1 instead of the limit 11, Beta(1, 1) 0 instead of 2) and
diverges below 1, whereas the logit-scale value is continuous in the shape parameters and
predictively consistent for every beta mixture (the Bernoulli log-likelihood has curvature
:math:`\theta(1-\theta)` in :math:`\eta` for both outcomes, so one more patient adds exactly
one to the expected ESS). RBesT integrates on the rate scale, so for mixtures with a component
``a = 1`` or ``b = 1`` (its uniform robust component) its ELIR is lower by the boundary
densities, e.g. by 0.4 for a robust Beta(1, 1) of weight 0.2.

The integral is finite unless two components have a shape parameter of at most 1 at the same
end (e.g. a uniform Beta(1, 1) and a Beta(0.4, 1.6) together): then a
:class:`~pclbayes.errors.SpecError` says so. Close to that case (a shape just above 1 next to
one below 1) the ELIR is a large negative number made in the far tail; when more than
0.001 patients of it would lie beyond the quadrature's reach, a ``SpecError`` says so too.

Numerical approach for ``elir``: each component's expectation is integrated in its own
quantile space (``u = F_k(θ)``), so sharp and multimodal mixtures and shape parameters below
1 pose no difficulty; the logit-scale information ratio is bounded.

Normal mixtures on a log median survival time (:func:`ess_events`) have an ESS in
events. Under a Weibull model with known shape :math:`k`,
:math:`S(t) = \exp(-(t/\lambda)^k)` and :math:`\mathrm{median} = \lambda(\log 2)^{1/k}`.
Since :math:`T^k` is exponential with rate :math:`\lambda^{-k}`, the MLE of the log rate
from ``d`` events has variance :math:`\approx 1/d`; as
:math:`\log\mathrm{median} = \log\lambda + k^{-1}\log\log 2 = -k^{-1}\log(\lambda^{-k}) + c`,

.. math:: \mathrm{Var}(\widehat{\log\mathrm{median}}) \approx \frac{1}{k^2 d},

i.e. the Fisher information about the log median is :math:`k^2` per event. A prior with
variance :math:`v` on the log median is worth :math:`\mathrm{ESS} = 1/(k^2 v)` events
(exponential: :math:`k = 1`). For mixtures the same three definitions as for beta priors
apply with this constant unit information (ELIR: :math:`E_p[-\partial^2 \log p]/k^2`).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import special

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning.mixture import BetaMixture
from pclbayes.planning.normal import NormalMixture

__all__ = ["ESS_METHODS", "ess", "ess_events", "ess_table", "mixture_modes"]

logger = logging.getLogger(__name__)

#: Supported ESS definitions.
ESS_METHODS: tuple[str, ...] = ("elir", "morita", "moment")

_TINY = 1e-300


def ess(
    prior: Any,
    method: Literal["elir", "morita", "moment"] = "elir",
    *,
    s: float = 100.0,
    location: Literal["mode", "mean"] = "mode",
    **kwargs: Any,
) -> float:
    """Effective sample size of a beta mixture (patients) or a normal mixture (events).

    Parameters
    ----------
    prior : BetaMixture or NormalMixture
        Prior for a response rate, or a normal mixture for a log-median survival time
        (then ``shape`` is passed on to :func:`ess_events`).
    method : {"elir", "morita", "moment"}
        ESS definition; ``elir`` is the default (predictively consistent).
    s : float, default 100
        Flattening constant of the Morita method.
    location : {"mode", "mean"}
        Where the Morita method evaluates the curvature. ``mode`` follows RBesT; ``mean`` is
        Morita et al.'s original choice and gives exactly ``a + b - 1/s`` for a single beta.
    **kwargs
        Passed to :func:`ess_events` for normal mixtures.

    Returns
    -------
    float
        The effective sample size.
    """
    if method not in ESS_METHODS:
        raise SpecError(f"unknown ESS method {method!r}; choose one of {list(ESS_METHODS)}")
    if not isinstance(prior, BetaMixture):
        if isinstance(prior, NormalMixture):
            return ess_events(prior, method=method, s=s, **kwargs)
        raise SpecError(f"ESS needs a BetaMixture or NormalMixture, got {type(prior).__name__}")
    if kwargs:
        raise SpecError(f"unexpected arguments for a beta mixture: {sorted(kwargs)}")
    if method == "moment":
        return _ess_moment(prior)
    if method == "elir":
        return _ess_elir(prior)
    if s <= 0 or not np.isfinite(s):
        raise SpecError(f"s must be a positive number, got {s!r}")
    if location not in ("mode", "mean"):
        raise SpecError(f"location must be 'mode' or 'mean', got {location!r}")
    return _ess_morita(prior, s=s, location=location)


def ess_table(prior: BetaMixture) -> dict[str, float]:
    """Return the ESS by every method as ``{"elir": ..., "morita": ..., "moment": ...}``."""
    return {m: ess(prior, m) for m in ESS_METHODS}


# ---------------------------------------------------------------------------- moment
def _ess_moment(mix: BetaMixture) -> float:
    m, v = mix.mean, mix.var
    return float(m * (1 - m) / v - 1.0)


# ---------------------------------------------------------------------------- ELIR
def _logit_info_ratio(
    mix: BetaMixture, log_t: NDArray[np.float64], log_1mt: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Information ratio on the logit scale at θ given ``log θ`` and ``log(1 - θ)`` arrays."""
    n = mix.a + mix.b
    with np.errstate(divide="ignore"):
        lr = (
            np.log(mix.weights)
            + mix.a * log_t[:, None]
            + mix.b * log_1mt[:, None]
            - special.betaln(mix.a, mix.b)
        )
    resp = np.exp(lr - special.logsumexp(lr, axis=1, keepdims=True))
    grad = mix.a - n * np.exp(log_t)[:, None]
    centred = grad - np.sum(resp * grad, axis=1, keepdims=True)
    var_grad = np.sum(resp * centred**2, axis=1)
    return np.sum(resp * n, axis=1) - var_grad / np.maximum(np.exp(log_t + log_1mt), _TINY)


def _half_unit_rule(order: int = 24) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Composite Gauss-Legendre rule on (0, 1/2] with panels refined geometrically towards 0.

    Panels ``[10^-(j+1), 10^-j]`` resolve integrable endpoint singularities of the form
    ``u^c`` (c > -1) that arise for shape parameters below 1.
    """
    edges = np.concatenate([[0.0], 10.0 ** np.arange(-40.0, 0.0), [0.25, 0.5]])
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = edges[:-1, None], edges[1:, None]
    nodes = (lo + (hi - lo) * (x + 1) / 2).ravel()
    weights = ((hi - lo) / 2 * w).ravel()
    return nodes, weights


_U_NODES, _U_WEIGHTS = _half_unit_rule()


def _beta_ppf_lower(a: float, b: float, u: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Quantiles of Beta(a, b) at the lower-tail probabilities ``u``, safe in the far tail.

    ``scipy.special.betaincinv`` returns NaN for some tiny ``u`` (e.g. a = 1.002, b = 0.998,
    u = 1e-20). There the start :math:`x_0 = (u\,a\,B(a, b))^{1/a}` (from
    :math:`F(x) \approx x^a / (a B(a, b))`) is refined by Newton steps on
    :math:`\log F(x) = \log u` in :math:`\log x`, with slope :math:`x f(x) / F(x)`.
    """
    x = special.betaincinv(a, b, u)
    bad = ~np.isfinite(x)
    if np.any(bad):
        ub = u[bad]
        lx = (np.log(ub) + np.log(a) + special.betaln(a, b)) / a
        for _ in range(8):
            xb = np.exp(lx)
            log_cdf = np.log(special.betainc(a, b, xb))
            log_slope = (a * lx + (b - 1) * np.log1p(-xb) - special.betaln(a, b)) - log_cdf
            lx = lx - (log_cdf - np.log(ub)) / np.exp(log_slope)
        x[bad] = np.exp(lx)
    return np.maximum(x, _TINY)


def _component_expectation(mix: BetaMixture, k: int) -> float:
    """E over component ``k`` of the logit-scale information ratio, in quantile space."""
    a, b = float(mix.a[k]), float(mix.b[k])
    t = _beta_ppf_lower(a, b, _U_NODES)  # lower half of component k
    tc = _beta_ppf_lower(b, a, _U_NODES)  # 1 - θ ~ Beta(b, a): upper half
    lower = _logit_info_ratio(mix, np.log(t), np.log1p(-t))
    upper = _logit_info_ratio(mix, np.log1p(-tc), np.log(tc))
    return float(np.sum(_U_WEIGHTS * (lower + upper)))


def _check_elir_finite(mix: BetaMixture) -> None:
    r"""Raise :class:`SpecError` when the logit-scale ELIR integral diverges.

    Near :math:`\theta = 0` the logit-scale density is
    :math:`q(\eta) \approx c_1 e^{a_1 \eta} + c_2 e^{a_2 \eta}` for the two smallest distinct
    values :math:`a_1 < a_2` of ``a``; its log has curvature :math:`\approx -c\,
    e^{(a_2 - a_1)\eta}`, which weighted by :math:`q / (\theta(1-\theta))` leaves
    :math:`e^{(a_2 - 1)\eta}`: integrable at :math:`\eta \to -\infty` iff :math:`a_2 > 1`.
    The same holds for ``b`` at :math:`\theta = 1`. A single distinct value is always fine.
    """
    active = mix.weights > 0
    for shape, end in ((mix.a[active], "0"), (mix.b[active], "1")):
        distinct = np.unique(shape)
        if distinct.size >= 2 and distinct[1] <= 1:
            name = "a" if end == "0" else "b"
            raise SpecError(
                f"the ELIR of this mixture diverges: two components have {name} <= 1 "
                f"({name} = {distinct[0]:g} and {distinct[1]:g}), so the prior's log-density "
                f"has unbounded negative curvature per unit of information near {end}; use "
                "components with a, b > 1 (e.g. a robust component Beta(1, 1) or one with a "
                "larger n), or another ESS method"
            )


#: Largest ELIR contribution (patients) the quadrature may leave out in a far tail.
_TAIL_TOLERANCE = 1e-3


def _tail_remainder(first: NDArray, second: NDArray, weights: NDArray) -> float:
    r"""ELIR contribution beyond the quadrature's reach at the end θ = 0 (swap a, b for 1).

    With :math:`a_1` the smallest ``first`` shape, each component with :math:`a_k > a_1`
    adds :math:`-w_k (a_k - a_1)^2 \theta^{a_k - 2} / B(a_k, b_k)` to the integrand near 0
    (see :func:`_check_elir_finite`); below the smallest node :math:`\theta_c` (the
    :math:`10^{-40}` quantile of the heaviest component) that integrates to
    :math:`w_k (a_k - a_1)^2 \theta_c^{a_k - 1} / ((a_k - 1) B(a_k, b_k))`.
    """
    k1 = int(np.argmin(first))
    a1 = float(first[k1])
    others = first > a1
    if a1 > 1 or not np.any(others):  # every a_k - 1 > a_1 - 1 > 0: the tail is negligible
        return 0.0
    a_k, b_k, w_k = first[others], second[others], weights[others]
    theta_c = float(_beta_ppf_lower(a1, float(second[k1]), np.array([float(_U_NODES[0])]))[0])
    log_terms = (
        np.log(w_k)
        + 2 * np.log(a_k - a1)
        + (a_k - 1) * np.log(theta_c)
        - np.log(a_k - 1)
        - special.betaln(a_k, b_k)
    )
    return float(np.sum(np.exp(log_terms)))


def _ess_elir(mix: BetaMixture) -> float:
    """ELIR on the logit (natural-parameter) scale; ``a + b`` for a single Beta(a, b)."""
    _check_elir_finite(mix)
    active = mix.weights > 0
    a, b, w = mix.a[active], mix.b[active], mix.weights[active]
    for first, second, end in ((a, b, "0"), (b, a, "1")):
        remainder = _tail_remainder(first, second, w)
        if remainder > _TAIL_TOLERANCE:
            raise SpecError(
                "the ELIR of this mixture is dominated by the far tail of the prior near "
                f"{end} (a component with a shape parameter just above 1 next to one below 1; "
                f"about {remainder:.2g} patients lie beyond 1e-40 quantiles, and the ELIR tends "
                "to -infinity as that shape tends to 1); use components with shapes further "
                "from 1, or another ESS method"
            )
    return float(
        sum(
            float(mix.weights[k]) * _component_expectation(mix, k)
            for k in np.flatnonzero(mix.weights > 0)
        )
    )


# ---------------------------------------------------------------------------- Morita
def _theta_info(mix: BetaMixture, x: float) -> float:
    """Negative second derivative of the mixture log-density at an interior ``x``."""
    a, b = mix.a, mix.b
    with np.errstate(divide="ignore"):
        lr = np.log(mix.weights) + mix._component_logpdf(np.asarray(x))
    resp = np.exp(lr - special.logsumexp(lr))
    grad = (a - 1) / x - (b - 1) / (1 - x)
    hess = -(a - 1) / x**2 - (b - 1) / (1 - x) ** 2
    var_grad = float(np.sum(resp * (grad - np.sum(resp * grad)) ** 2))
    return float(-np.sum(resp * hess) - var_grad)


def mixture_modes(mix: BetaMixture) -> tuple[NDArray[np.float64], bool]:
    """Local maxima of a beta mixture density, highest first.

    Returns
    -------
    modes : ndarray
        Interior local maxima (refined to ~1e-10), sorted by decreasing density.
    boundary_max : bool
        True when the density's supremum is approached at 0 or 1 (e.g. ``a < 1``).
    """
    eta = np.linspace(-30.0, 30.0, 3001)
    pieces = [special.expit(eta)]
    u = np.linspace(0.0005, 0.9995, 401)
    pieces += [special.betaincinv(a, b, u) for a, b in zip(mix.a, mix.b, strict=True)]
    grid = np.unique(np.clip(np.concatenate(pieces), 1e-14, 1 - 1e-14))
    lp = mix.logpdf(grid)
    if np.ptp(lp) < 1e-10:  # flat density (uniform): no distinguished mode
        return np.array([mix.mean]), False
    # A rise on the left beyond rounding noise and no fall on the right: plateaus (e.g. of a
    # uniform component) do not count as modes.
    interior = np.flatnonzero((lp[1:-1] > lp[:-2] + 1e-10) & (lp[1:-1] >= lp[2:]))
    from scipy import optimize

    modes = []
    for i in interior + 1:
        res = optimize.minimize_scalar(
            lambda x: -float(mix.logpdf(x)),
            bounds=(grid[i - 1], grid[i + 1]),
            method="bounded",
            options={"xatol": 1e-12},
        )
        modes.append(float(res.x))
    modes_arr = np.unique(np.round(np.asarray(modes, dtype=float), 9))
    dens = mix.logpdf(modes_arr) if modes_arr.size else np.array([])
    order = np.argsort(-dens)
    modes_arr, dens = modes_arr[order], dens[order]
    top = dens[0] if dens.size else -np.inf
    boundary_max = bool((lp[0] > lp[1] and lp[0] >= top) or (lp[-1] > lp[-2] and lp[-1] >= top))
    return modes_arr, boundary_max


def _ess_morita(mix: BetaMixture, *, s: float, location: str) -> float:
    if location == "mean":
        x = mix.mean
    else:
        modes, boundary_max = mixture_modes(mix)
        if modes.size == 0:
            raise SpecError(
                "the Morita ESS needs an interior mode, but the prior density is largest at "
                "0 or 1; use method='elir'"
            )
        if boundary_max:
            warnings.warn(
                "The prior density is unbounded or largest at 0 or 1; the Morita ESS is "
                f"evaluated at the highest interior mode {modes[0]:.4g}.",
                StatisticalWarning,
                stacklevel=3,
            )
        dens = mix.pdf(modes)
        if modes.size > 1 and dens[1] >= 1e-3 * dens[0]:
            warnings.warn(
                f"The prior has {modes.size} modes; the Morita ESS uses the highest "
                f"({modes[0]:.4g}) and is ill-defined for multimodal priors. Prefer 'elir'.",
                StatisticalWarning,
                stacklevel=3,
            )
        x = float(modes[0])
    if any(np.sum(np.c_[mix.a, mix.b], axis=1) < 10 / s):
        logger.info("a mixture component is wider than the flattened prior; consider larger s")
    info_prior = _theta_info(mix, x)
    a0, b0 = x / s, (1 - x) / s
    info_flat = (a0 - 1) / x**2 + (b0 - 1) / (1 - x) ** 2
    p0 = float(np.sum(mix.weights * mix.b / (mix.a + mix.b)))  # predictive P(y = 0)
    expected_fisher = p0 / (1 - x) ** 2 + (1 - p0) / x**2
    return float((info_prior - info_flat) / expected_fisher)


# ---------------------------------------------------------------------------- events
def _normal_info(mix: NormalMixture, x: NDArray) -> NDArray[np.float64]:
    """``-d²/dx² log p(x)`` of a normal mixture, vectorised over ``x``."""
    from scipy import stats

    xb = np.asarray(x, dtype=float)[:, None]
    prec = 1.0 / mix.sds**2
    lr = np.log(mix.weights) + stats.norm.logpdf(xb, mix.means, mix.sds)
    resp = np.exp(lr - special.logsumexp(lr, axis=1, keepdims=True))
    grad = -(xb - mix.means) * prec
    centred = grad - np.sum(resp * grad, axis=1, keepdims=True)
    return np.sum(resp * prec, axis=1) - np.sum(resp * centred**2, axis=1)


def _normal_modes(mix: NormalMixture) -> NDArray[np.float64]:
    from scipy import optimize

    lo = float(np.min(mix.means - 8 * mix.sds))
    hi = float(np.max(mix.means + 8 * mix.sds))
    grid = np.unique(np.concatenate([np.linspace(lo, hi, 4001), mix.means]))
    lp = mix.logpdf(grid)
    idx = np.flatnonzero((lp[1:-1] > lp[:-2] + 1e-12) & (lp[1:-1] >= lp[2:])) + 1
    modes = [
        optimize.minimize_scalar(
            lambda x: -float(mix.logpdf(x)),
            bounds=(grid[i - 1], grid[i + 1]),
            method="bounded",
            options={"xatol": 1e-12},
        ).x
        for i in idx
    ]
    modes_arr = np.asarray(modes, dtype=float)
    return modes_arr[np.argsort(-mix.logpdf(modes_arr))]


def ess_events(
    prior: NormalMixture,
    shape: float = 1.0,
    method: Literal["elir", "morita", "moment"] = "elir",
    *,
    s: float = 100.0,
) -> float:
    """Effective number of events of a normal-mixture prior on the log median.

    Parameters
    ----------
    prior : NormalMixture
        Prior for ``log(median PFS)``.
    shape : float, default 1
        Weibull shape ``k`` (1 = exponential); the unit information is ``k²`` per event.
    method : {"elir", "morita", "moment"}
        ESS definition (as for beta mixtures).
    s : float, default 100
        Flattening constant of the Morita method (flat prior variance ``s · max sigma_k^2``).

    Returns
    -------
    float
        ESS in events; ``1 / (k² sigma^2)`` for a single normal N(μ, sigma^2) (ELIR and moment).
    """
    if not isinstance(prior, NormalMixture):
        raise SpecError(f"ess_events needs a NormalMixture, got {type(prior).__name__}")
    if not np.isfinite(shape) or shape <= 0:
        raise SpecError(f"Weibull shape must be > 0, got {shape!r}")
    unit_info = float(shape) ** 2
    if method == "moment":
        return 1.0 / (unit_info * prior.var)
    if method == "elir":
        z = special.ndtri(_U_NODES)  # lower half; the upper half is its mirror image
        total = 0.0
        for w, m, sd in zip(prior.weights, prior.means, prior.sds, strict=True):
            vals = _normal_info(prior, m + sd * z) + _normal_info(prior, m - sd * z)
            total += w * float(np.sum(_U_WEIGHTS * vals))
        return total / unit_info
    if method == "morita":
        modes = _normal_modes(prior)
        info_flat = 1.0 / (s * float(np.max(prior.sds**2)))
        return (float(_normal_info(prior, modes[:1])[0]) - info_flat) / unit_info
    raise SpecError(f"unknown ESS method {method!r}; choose elir, morita or moment")
