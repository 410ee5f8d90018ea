r"""Covariate patterns: the likelihood of many episodes with few distinct linear predictors.

Episodes with the same covariate row, cohort and (with one shape per group) reported group
share the log median :math:`\eta_p` and the shape :math:`k_p` of their *pattern* :math:`p`.
Summed over the independent episodes of a pattern, the censored Weibull log-likelihood
(:func:`pclbayes.survival.weibull.episode_loglik`) is

.. math::

    \sum_{i \in p} \ell_i = D_p\,(\log k_p + \log\log 2 - k_p \eta_p) + (k_p - 1)\,L_p
    - \sum_{i \in p} \exp\{k_p(\log t_i - \eta_p) + \log\log 2\},

with the event count :math:`D_p = \sum_{i \in p} \delta_i` and
:math:`L_p = \sum_{i \in p} \delta_i \log t_i` fixed numbers of the data. The last sum,
:math:`\log 2\, e^{-k_p\eta_p} \sum_{i \in p} t_i^{k_p}`, depends on the sampled shape and
stays a sum over episodes; it needs only :math:`\log t_i` and the pattern of each episode.
The linear predictor is evaluated once per pattern instead of once per episode.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pclbayes.survival.design import Design


class Patterns(NamedTuple):
    """The distinct (covariates, cohort, group) rows of a design, in sorted order.

    Attributes
    ----------
    index : int array (episodes,)
        Pattern of every episode.
    X : float array (patterns, terms)
        Covariate row of every pattern.
    cohort, group : int arrays (patterns,)
        Cohort and reported group of every pattern.
    """

    index: np.ndarray
    X: np.ndarray
    cohort: np.ndarray
    group: np.ndarray

    @property
    def size(self) -> int:
        """Number of patterns."""
        return int(self.cohort.size)


class SingleEpisodes(NamedTuple):
    r"""The independent (single-episode-patient) episodes, ordered by pattern.

    Attributes
    ----------
    log_t : float array (episodes,)
        Log times, grouped by pattern (ascending pattern, table order within).
    pattern : int array (episodes,)
        Pattern of each of them (non-decreasing).
    events : float array (patterns,)
        :math:`D_p`, the events among them per pattern.
    event_log_t : float array (patterns,)
        :math:`L_p = \sum_{i \in p} \delta_i \log t_i`.
    """

    log_t: np.ndarray
    pattern: np.ndarray
    events: np.ndarray
    event_log_t: np.ndarray


class ClusterSlots(NamedTuple):
    """Episodes of the patients that share a frailty as ``(slots, patients)`` arrays.

    Padding slots repeat the patient's first episode and have ``mask`` 0
    (:func:`pclbayes.survival.design.frailty_clusters`).
    """

    log_t: np.ndarray
    event: np.ndarray
    pattern: np.ndarray
    mask: np.ndarray


def covariate_patterns(design: Design) -> Patterns:
    """The patterns of ``design`` (the group counts only with one shape per group)."""
    n = design.log_t.size
    group = design.group_index if design.shape_by_group else np.zeros(n, dtype=int)
    keys = np.column_stack([design.X, design.cohort_index, group]).astype(float)
    if n == 0:
        return Patterns(np.zeros(0, dtype=np.int64), np.zeros((0, design.n_terms)),
                        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    rows, index = np.unique(keys, axis=0, return_inverse=True)
    n_terms = design.X.shape[1]
    return Patterns(index.reshape(-1).astype(np.int64), rows[:, :n_terms],
                    rows[:, n_terms].astype(np.int64), rows[:, n_terms + 1].astype(np.int64))


def single_episodes(design: Design, patterns: Patterns) -> SingleEpisodes:
    """The single episodes sorted by pattern, with their per-pattern sufficient statistics."""
    single = np.flatnonzero(design.single)
    order = single[np.argsort(patterns.index[single], kind="stable")]
    pattern = patterns.index[order]
    log_t, event = design.log_t[order], design.event[order]
    events = np.bincount(pattern, weights=event, minlength=patterns.size)
    event_log_t = np.bincount(pattern, weights=event * log_t, minlength=patterns.size)
    return SingleEpisodes(log_t, pattern, events, event_log_t)


def cluster_slots(design: Design, patterns: Patterns) -> ClusterSlots:
    """Log times, events and patterns of the clustered episodes, ``(slots, patients)``.

    Slot-major (row ``s`` is every patient's ``s``-th episode), so that each slot is a
    contiguous vector: a 1-D gather by a contiguous index compiles to a fast loop.
    """
    idx = np.ascontiguousarray(design.cluster_index.T)
    return ClusterSlots(design.log_t[idx], design.event[idx], patterns.index[idx],
                        np.ascontiguousarray(design.cluster_mask.T))
