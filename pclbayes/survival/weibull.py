r"""Weibull parametrisation, the exact censored likelihood and the positive-stable frailty.

Parametrisation
---------------
pclbayes writes the Weibull model on the **log-median** scale (an accelerated failure time,
AFT, form). For an episode with linear predictor :math:`\eta` (log median time, months) and
shape :math:`k`:

.. math::

    S(t) = \exp\{-(t/\lambda)^k\} = 2^{-(t/m)^k}, \qquad
    m = e^{\eta} = \lambda (\log 2)^{1/k}, \qquad
    H(t) = \log 2\,(t/m)^k, \qquad h(t) = k H(t) / t.

A covariate with coefficient :math:`\beta` multiplies every quantile, the median included,
by the **time ratio** :math:`\mathrm{TR} = e^{\beta}`; because the Weibull is also a
proportional-hazards model, the same covariate multiplies the hazard by the **hazard ratio**
:math:`\mathrm{HR} = \mathrm{TR}^{-k} = e^{-k\beta}` (a longer time means a lower hazard).

Censored likelihood
-------------------
With :math:`\log H = k(\log t - \eta) + \log\log 2`, an event contributes
:math:`\log f = \log k - \log t + \log H - H` and a right-censored time contributes
:math:`\log S = -H`. Both are evaluated from :math:`\log H`, so nothing overflows or loses
precision for very short or very long times.

Patient frailty
---------------
Episodes of one patient (first infusion and a target-switched re-infusion) share a
positive-stable frailty :math:`Z` with Laplace transform :math:`E e^{-sZ} = e^{-s^\alpha}`,
:math:`0 < \alpha \le 1` (Hougaard 1986). Conditionally on :math:`Z` the cumulative hazard
of episode *i* is :math:`Z\,H_i(t)^{1/\alpha}`, so

* every single episode is **exactly** Weibull with the shape :math:`k` and median
  :math:`m` above (the frailty integrates out), and
* the episodes of one patient have the joint survival function
  :math:`S(t_1, \dots) = \exp\{-(\sum_i u_i)^\alpha\}`, :math:`u_i = H_i(t_i)^{1/\alpha}`:
  a Gumbel-Hougaard copula with Kendall's :math:`\tau = 1 - \alpha`.

The joint likelihood of a patient with :math:`d` events among their episodes is
:math:`(-1)^d \partial^d S / \partial t_{i_1} \cdots \partial t_{i_d}`, written with
:math:`A = \sum_i u_i` as

.. math::

    \log L = -A^\alpha + \sum_{i\,\text{event}} \log\frac{k_i u_i}{\alpha t_i} + \log P_d(A),
    \quad P_0 = 1,\; P_1 = \alpha A^{\alpha - 1},\;
    P_2 = \alpha A^{\alpha - 2} (\alpha A^\alpha + 1 - \alpha).

Every function here takes an array namespace ``xp`` (``numpy`` or ``pytensor.tensor``) so
the sampler and the post-processing evaluate the very same expressions.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

LOG_LOG2 = float(np.log(np.log(2.0)))

#: Largest number of events one patient may contribute under the shared frailty.
MAX_EVENTS_PER_PATIENT = 2


# ------------------------------------------------------------------ parametrisation helpers
def scale_from_median(median: ArrayLike, shape: ArrayLike) -> NDArray[np.float64]:
    r"""Weibull scale :math:`\lambda = m / (\log 2)^{1/k}` from the median and shape."""
    return np.asarray(median, dtype=float) / np.log(2.0) ** (1.0 / np.asarray(shape, float))


def median_from_scale(scale: ArrayLike, shape: ArrayLike) -> NDArray[np.float64]:
    r"""Weibull median :math:`m = \lambda (\log 2)^{1/k}` from the scale and shape."""
    return np.asarray(scale, dtype=float) * np.log(2.0) ** (1.0 / np.asarray(shape, float))


def survival_at(t: ArrayLike, median: ArrayLike, shape: ArrayLike) -> NDArray[np.float64]:
    """Survival probability :math:`S(t) = 2^{-(t/m)^k}` (broadcasting)."""
    t, m, k = (np.asarray(a, dtype=float) for a in (t, median, shape))
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        return np.exp(-np.log(2.0) * np.exp(k * (np.log(t) - np.log(m))))


def hazard_ratio(time_ratio: ArrayLike, shape: ArrayLike) -> NDArray[np.float64]:
    r"""Hazard ratio :math:`\mathrm{TR}^{-k}` implied by a time ratio under a shared shape."""
    return np.asarray(time_ratio, dtype=float) ** (-np.asarray(shape, dtype=float))


def log_cumhaz(log_t: Any, eta: Any, shape: Any, xp: ModuleType = np) -> Any:
    r""":math:`\log H(t) = k(\log t - \eta) + \log\log 2` with ``eta`` the log median."""
    return shape * (log_t - eta) + LOG_LOG2


# ------------------------------------------------------------------ likelihood
def episode_loglik(log_t: Any, event: Any, eta: Any, shape: Any, xp: ModuleType = np) -> Any:
    """Independent censored Weibull log-likelihood of each episode.

    Events contribute the log density, censored episodes the log survival function.
    """
    log_h = log_cumhaz(log_t, eta, shape, xp)
    cum = xp.exp(log_h)
    return event * (xp.log(shape) - log_t + log_h) - cum


def pattern_loglik(
    log_t: Any,
    pattern: Any,
    events: Any,
    event_log_t: Any,
    eta: Any,
    shape: Any,
    xp: ModuleType = np,
    shape_per_pattern: bool = False,
) -> Any:
    r"""Summed censored Weibull log-likelihood of independent episodes grouped by pattern.

    With :math:`D_p` events and :math:`L_p = \sum_{i \in p} \delta_i \log t_i` in pattern
    :math:`p` (log median :math:`\eta_p`, shape :math:`k_p`):

    .. math::

        \sum_p \bigl[D_p(\log k_p + \log\log 2 - k_p\eta_p) + (k_p - 1) L_p\bigr]
        - \sum_i \exp\{k_{p(i)}(\log t_i - \eta_{p(i)}) + \log\log 2\},

    which equals ``episode_loglik(...).sum()`` over the same episodes
    (:mod:`pclbayes.survival.patterns`). Only the last sum runs over episodes: one fused
    elementwise expression with one gather of the pattern values.

    Parameters
    ----------
    log_t, pattern : arrays over episodes
        Log times and the pattern of each episode.
    events, event_log_t : arrays over patterns
        :math:`D_p` and :math:`L_p`.
    eta : array over patterns
        Log median of every pattern.
    shape : scalar or array over patterns
        The shape (shared), or one per pattern with ``shape_per_pattern``.
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    """
    per_event = xp.sum(events * (xp.log(shape) + LOG_LOG2 - shape * eta)
                       + (shape - 1.0) * event_log_t)
    k_i = shape[pattern] if shape_per_pattern else shape
    return per_event - xp.sum(xp.exp(k_i * (log_t - eta[pattern]) + LOG_LOG2))


def cluster_loglik(
    log_t: Any,
    event: Any,
    eta: Any,
    shape: Any,
    tau: Any,
    index: NDArray[np.int64],
    mask: NDArray[np.float64],
    xp: ModuleType = np,
    slots: int | None = None,
) -> Any:
    """Joint log-likelihood of patients with several episodes under the shared frailty.

    Parameters
    ----------
    log_t, event : arrays over episodes
        Log times and event indicators (1 event, 0 censored).
    eta, shape : arrays (..., episodes)
        Log medians and shapes (leading draw axes allowed).
    tau : scalar or array
        Kendall's tau of the within-patient dependence, ``1 - alpha`` (``0 <= tau < 1``);
        with leading draw axes pass shape ``(..., 1)``.
    index : int array (patients x slots)
        Episode indices of each patient; unused slots repeat a valid index.
    mask : float array (patients x slots)
        1 for used slots, 0 for padding.
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    slots : int, optional
        Number of columns of ``index`` (needed when ``index`` is a symbolic tensor).

    Returns
    -------
    array over patients
        Each patient's joint log-likelihood (at most two events per patient), from
        :func:`cluster_loglik_slots`.
    """
    slots = range(index.shape[1] if slots is None else slots)
    # One 1-D gather per slot (cheap to compile and differentiate) instead of a 2-D gather.
    cols = [index[:, s] for s in slots]
    return cluster_loglik_slots(
        [log_t[c] for c in cols], [event[c] * mask[:, s] for s, c in zip(slots, cols, strict=True)],
        [eta[..., c] for c in cols], [shape[..., c] for c in cols], tau,
        [mask[:, s] for s in slots], xp)


def cluster_loglik_slots(
    log_t: Sequence[Any],
    event: Sequence[Any],
    eta: Sequence[Any],
    shape: Sequence[Any],
    tau: Any,
    mask: Sequence[Any],
    xp: ModuleType = np,
) -> Any:
    r"""The frailty log-likelihood of :func:`cluster_loglik` from per-slot arrays.

    Slot ``s`` holds the ``s``-th episode of every clustered patient: ``log_t[s]``,
    ``event[s]`` (0 for padding), ``eta[s]`` and ``shape[s]`` (leading draw axes allowed)
    and ``mask[s]`` (1 used, 0 padding), so that the caller decides how the episode values
    are gathered (by episode for the draws, by pattern in the sampled graph).

    Returns
    -------
    array over patients
        :math:`-A^\alpha + \sum_{i\,\text{event}} \log\{k_i u_i / (\alpha t_i)\} + \log P_d(A)`
        (module docstring).
    """
    log_alpha = xp.log1p(-tau)
    alpha = 1.0 - tau
    lu = [log_cumhaz(lt, e, k, xp) / alpha for lt, e, k in zip(log_t, eta, shape, strict=True)]
    top = lu[0]
    for u in lu[1:]:
        top = xp.maximum(top, u)
    log_a = top + xp.log(sum(m * xp.exp(u - top) for m, u in zip(mask, lu, strict=True)))
    d = sum(event)
    own_sum = sum(e * (xp.log(k) + u - lt - log_alpha)
                  for e, k, u, lt in zip(event, shape, lu, log_t, strict=True))
    p1 = log_alpha + (alpha - 1.0) * log_a
    p2 = (log_alpha + (alpha - 2.0) * log_a
          + xp.logaddexp(log_alpha + alpha * log_a, xp.log(tau)))
    # d is 0, 1 or 2: d(2 - d) selects one event, d(d - 1)/2 selects two.
    log_p = d * (2.0 - d) * p1 + 0.5 * d * (d - 1.0) * p2
    return -xp.exp(alpha * log_a) + own_sum + log_p


def joint_survival(t: ArrayLike, eta: ArrayLike, shape: ArrayLike, tau: float) -> float:
    r"""Joint survival :math:`P(T_1 > t_1, \dots)` of one patient's episodes (numpy)."""
    log_h = log_cumhaz(np.log(np.asarray(t, float)), np.asarray(eta, float),
                       np.asarray(shape, float))
    alpha = 1.0 - tau
    log_a = np.logaddexp.reduce(log_h / alpha)
    return float(np.exp(-np.exp(alpha * log_a)))


# ------------------------------------------------------------------ simulation
def positive_stable(alpha: ArrayLike, size: Any, rng: np.random.Generator) -> NDArray:
    r"""Draw positive-stable variates with Laplace transform :math:`e^{-s^\alpha}`.

    Kanter's (1975) representation: with :math:`U \sim U(0, \pi)` and
    :math:`E \sim \mathrm{Exp}(1)`,
    :math:`Z = (A(U)/E)^{(1-\alpha)/\alpha}` and
    :math:`A(U) = [\sin(\alpha U)/\sin U]^{1/(1-\alpha)}
    \sin((1-\alpha)U)/\sin(\alpha U)`. ``alpha = 1`` gives :math:`Z = 1`.
    """
    alpha = np.asarray(alpha, dtype=float)
    u = rng.uniform(0.0, np.pi, size=size)
    e = rng.exponential(size=size)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_z = ((np.log(np.sin(alpha * u)) - np.log(np.sin(u))) / alpha
                 + (1.0 - alpha) / alpha
                 * (np.log(np.sin((1.0 - alpha) * u)) - np.log(np.sin(alpha * u)) - np.log(e)))
        z = np.exp(log_z)
    return np.where(alpha >= 1.0 - 1e-12, 1.0, z)


def draw_times(
    eta: NDArray, shape: NDArray, tau: NDArray | float, cluster: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    r"""Draw uncensored episode times given log medians, shapes and the frailty.

    Parameters
    ----------
    eta, shape : arrays (..., episodes)
        Log medians and shapes (broadcast together).
    tau : array (...,) or float
        Kendall's tau per draw (0 = independent episodes).
    cluster : int array (episodes,)
        Patient index of every episode (episodes of a patient share a frailty).
    rng : numpy Generator

    Returns
    -------
    array (..., episodes)
        Times :math:`m\,(E/(Z\log 2))^{\alpha/k}` with :math:`E \sim` Exp(1) per episode
        and :math:`Z` positive stable per patient (:math:`Z = 1`, not drawn, when every
        ``tau`` is 0).
    """
    eta, shape = np.broadcast_arrays(np.asarray(eta, float), np.asarray(shape, float))
    lead = eta.shape[:-1]
    alpha = 1.0 - np.broadcast_to(np.asarray(tau, dtype=float), lead)
    e_shape = eta.shape
    if np.all(alpha >= 1.0 - 1e-12):  # no frailty: Z = 1 (no positive-stable draws)
        log_cum = np.log(rng.exponential(size=e_shape))
    else:
        n_clusters = int(cluster.max()) + 1 if cluster.size else 0
        z = positive_stable(alpha[..., None], (*lead, n_clusters), rng)[..., cluster]
        e = rng.exponential(size=e_shape)
        log_cum = alpha[..., None] * (np.log(e) - np.log(z))
    return np.exp(eta + (log_cum - LOG_LOG2) / shape)
