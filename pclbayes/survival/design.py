"""Design of the Weibull model: covariate coding, reported groups, cohorts and patients.

Covariates are treatment-coded against a reference level; a missing value is its own
level ``unknown`` (never dropped and never the reference). The reported groups are the
levels of the ``by`` column. A group's *profile* fixes the ``by`` column at the group's
level, fixes the columns in ``at`` (by default a first infusion) and sets every other
covariate to its observed proportions among the profile's episodes (known levels only),
averaged on the log-time scale as emmeans does with proportional weights.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from pclbayes.data import Problem
from pclbayes.errors import DataValidationError, SpecError
from pclbayes.survival.defaults import (
    CENTRE_INFORMATION,
    DEFAULT_COVARIATES,
    DEFAULT_REFERENCE,
    MAX_LEVELS,
    UNKNOWN,
)
from pclbayes.survival.weibull import MAX_EVENTS_PER_PATIENT

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Term:
    """A categorical covariate: its reference level and all levels (reference first)."""

    column: str
    reference: str
    levels: tuple[str, ...]

    @property
    def contrasts(self) -> tuple[str, ...]:
        """Non-reference levels, one coefficient each."""
        return self.levels[1:]


@dataclass(frozen=True)
class Design:
    """Everything the model, the summaries and the checks need about the data."""

    episodes: pd.DataFrame
    episode_labels: tuple[str, ...]
    log_t: np.ndarray
    event: np.ndarray
    terms: tuple[Term, ...]
    term_labels: tuple[str, ...]
    contrast_labels: tuple[str, ...]
    X: np.ndarray
    by: str
    groups: tuple[str, ...]
    group_index: np.ndarray
    profile: np.ndarray
    at: dict[str, str]
    profile_mask: np.ndarray
    cohorts: tuple[str, ...]
    cohort_index: np.ndarray
    patient_labels: tuple[str, ...]
    patient_index: np.ndarray
    cluster_index: np.ndarray
    cluster_mask: np.ndarray
    single: np.ndarray
    frailty: bool
    cohort_effect: bool
    shape_by_group: bool
    cohort_centred: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_terms(self) -> int:
        """Number of covariate coefficients."""
        return len(self.term_labels)

    @property
    def units(self) -> tuple[str, tuple[str, ...]]:
        """Dimension name and labels of the likelihood units (pointwise log-likelihood).

        Without the frailty every episode is a unit (dimension ``episode``); with it the
        units are patients (dimension ``patient``): single-episode patients first, then
        the patients whose episodes share a frailty.
        """
        if not self.frailty:
            return "episode", self.episode_labels
        single = [self.patient_labels[i] for i in self.patient_index[self.single]]
        clustered = [self.patient_labels[i] for i in self.patient_index[self.cluster_index[:, 0]]]
        return "patient", tuple(single + clustered)


def levels_of(series: pd.Series) -> pd.Series:
    """Column values as level names; missing values become ``unknown``."""
    s = series.astype(object)
    out = []
    for v in s:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            out.append(UNKNOWN)
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v))
    return pd.Series(out, index=series.index, dtype=object)


class Coding(NamedTuple):
    """Treatment coding of the covariate terms: one column of ``X`` per contrast."""

    X: np.ndarray
    term_labels: tuple[str, ...]
    contrast_labels: tuple[str, ...]


class Units(NamedTuple):
    """Cohort and patient of every episode, as labels and integer codes (first seen first)."""

    cohorts: tuple[str, ...]
    cohort_index: np.ndarray
    patient_labels: tuple[str, ...]
    patient_index: np.ndarray
    episode_labels: tuple[str, ...]


class Clusters(NamedTuple):
    """Episodes of the patients that share a frailty, one row per such patient."""

    index: np.ndarray
    mask: np.ndarray
    single: np.ndarray


def build_design(
    table: pd.DataFrame,
    *,
    by: str = "target",
    covariates: Sequence[str] | None = None,
    reference: Mapping[str, str] | None = None,
    at: Mapping[str, str] | None = None,
    frailty: str = "auto",
    cohort_effect: bool | str = "auto",
    shape: str = "shared",
    cohort_parametrisation: str = "auto",
) -> Design:
    """Code covariates, groups, cohorts and patients of a checked episode table.

    Each step is a function of its own: :func:`covariate_columns`, :func:`code_term`,
    :func:`design_matrix`, :func:`profile_mask`, :func:`reported_groups`,
    :func:`profile_matrix`, :func:`index_units` and :func:`frailty_clusters`. Every
    decision the data forced (a column missing, a level ``unknown``, no frailty, ...) is
    recorded in ``Design.notes``.

    Raises
    ------
    SpecError
        Unknown ``by`` column, covariate or level, or an invalid option.
    DataValidationError
        A patient with more events than the shared frailty supports.
    """
    notes: list[str] = []
    eps = table.reset_index(drop=True).copy()
    check_by(by, list(eps.columns))
    wanted = covariate_columns(list(eps.columns), by, covariates, notes)
    reference = check_reference(reference, wanted)
    terms = []
    for col in wanted:
        eps[col] = levels_of(eps[col])
        terms.append(code_term(eps[col], reference, notes))
    by_term = next((t for t in terms if t.column == by), None)
    terms_in_x = [t for t in terms if len(t.levels) >= 2]
    coding = design_matrix(eps, terms_in_x)

    fixed = _profile_levels(terms_in_x, by, at)
    mask = profile_mask(eps, fixed)
    if not mask.any():
        notes.append("no episode matches the profile " + _fmt(fixed) + "; covariate "
                     "proportions are taken over all episodes")
    groups, group_index = reported_groups(eps, by, by_term)
    profile = profile_matrix(eps, terms_in_x, groups, by=by, fixed=fixed,
                             base=mask if mask.any() else np.ones(len(eps), dtype=bool))

    units = index_units(eps)
    counts = np.bincount(units.patient_index, minlength=len(units.patient_labels))
    use_frailty = _use_frailty(frailty, counts, notes)
    multi = np.flatnonzero(counts > 1) if use_frailty else np.zeros(0, dtype=int)
    if multi.size:
        _check_events(eps, units.patient_index, multi, units.patient_labels)
    clusters = frailty_clusters(units.patient_index, multi)

    use_cohort = _use_cohort_effect(cohort_effect, len(units.cohorts), notes)
    centred = use_cohort and _centre(cohort_parametrisation, eps, units.cohort_index,
                                     len(units.cohorts), notes)
    return Design(
        episodes=eps, episode_labels=units.episode_labels,
        log_t=np.log(eps["time"].to_numpy(dtype=float)),
        event=eps["event"].to_numpy(dtype=float),
        terms=tuple(terms_in_x), term_labels=coding.term_labels,
        contrast_labels=coding.contrast_labels, X=coding.X, by=by, groups=groups,
        group_index=group_index, profile=profile, at=fixed, profile_mask=mask,
        cohorts=units.cohorts, cohort_index=units.cohort_index,
        patient_labels=units.patient_labels, patient_index=units.patient_index,
        cluster_index=clusters.index, cluster_mask=clusters.mask, single=clusters.single,
        frailty=bool(multi.size), cohort_effect=use_cohort,
        shape_by_group=_shape_by_group(shape, by, groups), cohort_centred=centred,
        notes=tuple(notes),
    )


def check_by(by: str, columns: Sequence[str]) -> None:
    """Refuse a reporting column ``by`` that is ``cohort`` or not a column (``none`` is fine).

    Raises
    ------
    SpecError
        With the columns one could report by.
    """
    if by == "cohort":
        raise SpecError("by = 'cohort' is not supported: cohorts enter as a random effect (see "
                        "'cohort_time_ratio' in the summary and the Kaplan-Meier table)")
    if by != "none" and by not in columns:
        raise SpecError(f"cannot report by '{by}': no such column; use 'none' or one of: "
                        f"{', '.join(c for c in columns if c not in ('time', 'event'))}")


def covariate_columns(columns: Sequence[str], by: str, covariates: Sequence[str] | None,
                      notes: list[str]) -> list[str]:
    """The columns the model adjusts for, in order, the ``by`` column last if not among them.

    Without ``covariates`` the defaults (:data:`DEFAULT_COVARIATES`) that the data has are
    used, with a note for each one it lacks; a covariate asked for by name must exist.

    Raises
    ------
    SpecError
        An explicit covariate that is not a column.
    """
    wanted = list(DEFAULT_COVARIATES if covariates is None else covariates)
    for c in wanted:
        if c not in columns:
            if covariates is not None:
                raise SpecError(f"covariate '{c}' is not a column of the data "
                                f"(columns: {', '.join(columns)})")
            notes.append(f"no '{c}' column: the model does not adjust for it")
    wanted = [c for c in wanted if c in columns]
    if by != "none" and by not in wanted:
        wanted.append(by)
    return wanted


def check_reference(reference: Mapping[str, str] | None, wanted: Sequence[str]) -> dict[str, str]:
    """The reference levels asked for, as a dict; each must name a covariate.

    Raises
    ------
    SpecError
        A reference level for a column that is not a covariate.
    """
    reference = dict(reference or {})
    for col in reference:
        if col not in wanted:
            raise SpecError(f"reference given for '{col}', which is not a covariate "
                            f"(covariates: {', '.join(wanted) or 'none'})")
    return reference


def code_term(values: pd.Series, reference: Mapping[str, str], notes: list[str]) -> Term:
    """The levels of one covariate (``values``: its level names, see :func:`levels_of`).

    The reference is, in this order, the level given in ``reference``, the default of
    :data:`DEFAULT_REFERENCE`, else the first level in sorted order (``unknown`` if no level
    is known). The other known levels follow sorted, and ``unknown``, if present, comes
    last: it has its own coefficient but is never the reference unless nothing is known.

    Raises
    ------
    SpecError
        More than :data:`MAX_LEVELS` levels, or a requested reference not in the data.
    """
    col = str(values.name)
    present = set(values)
    found = sorted(present - {UNKNOWN})
    if len(found) > MAX_LEVELS:
        raise SpecError(f"column '{col}' has {len(found)} levels (more than {MAX_LEVELS}); "
                        "group or adjust by a categorical column")
    ref = reference.get(col, DEFAULT_REFERENCE.get(col))
    if col in reference and ref not in found:
        raise SpecError(f"reference level '{ref}' of '{col}' is not in the data "
                        f"(levels: {', '.join(found) or 'none'})")
    if ref not in found:
        ref = found[0] if found else UNKNOWN
    levels = (ref, *[v for v in found if v != ref],
              *([UNKNOWN] if UNKNOWN in present and ref != UNKNOWN else []))
    if UNKNOWN in present:
        n_unknown = int((values == UNKNOWN).sum())
        notes.append(f"'{col}' is missing for {n_unknown} episode(s): kept as level "
                     f"'{UNKNOWN}' with its own coefficient")
    if len(levels) < 2:
        notes.append(f"'{col}' has the single level '{levels[0]}': no coefficient")
    return Term(col, ref, levels)


def design_matrix(eps: pd.DataFrame, terms: Sequence[Term]) -> Coding:
    r"""Treatment (dummy) coding of ``terms``: :math:`X_{ij} = 1` if episode ``i`` has level ``j``.

    One column per non-reference level, labelled ``column[level]``; the contrast labels read
    ``level vs reference`` (prefixed by ``column:`` when two terms would share a label).
    """
    x_cols, term_labels, contrast_labels = [], [], []
    for t in terms:
        for lev in t.contrasts:
            x_cols.append((eps[t.column] == lev).to_numpy(dtype=float))
            term_labels.append(f"{t.column}[{lev}]")
            contrast_labels.append(f"{lev} vs {t.reference}")
    if len(set(contrast_labels)) < len(contrast_labels):
        contrast_labels = [f"{t.column}: {lev} vs {t.reference}" for t in terms
                           for lev in t.contrasts]
    X = np.column_stack(x_cols) if x_cols else np.zeros((len(eps), 0))
    return Coding(X, tuple(term_labels), tuple(contrast_labels))


def profile_mask(eps: pd.DataFrame, fixed: Mapping[str, str]) -> np.ndarray:
    """Episodes whose covariates take every level fixed by the profile (all, if none fixed)."""
    mask = np.ones(len(eps), dtype=bool)
    for col, lev in fixed.items():
        mask &= (eps[col] == lev).to_numpy()
    return mask


def reported_groups(eps: pd.DataFrame, by: str,
                    by_term: Term | None) -> tuple[tuple[str, ...], np.ndarray]:
    """The reported groups (the levels of ``by``, reference first) and each episode's group.

    With ``by = "none"`` there is one group, ``all``.
    """
    if by == "none":
        return ("all",), np.zeros(len(eps), dtype=int)
    groups = by_term.levels if by_term is not None else tuple(sorted(set(eps[by])))
    lookup = {g: i for i, g in enumerate(groups)}
    return groups, eps[by].map(lookup).to_numpy(dtype=int)


def profile_matrix(eps: pd.DataFrame, terms: Sequence[Term], groups: Sequence[str], *,
                   by: str, fixed: Mapping[str, str], base: np.ndarray) -> np.ndarray:
    r"""Covariate rows :math:`x_g` of the reported groups, one column per column of ``X``.

    For group ``g`` the ``by`` column is set to ``g`` and the columns in ``fixed`` to their
    level; any other term's column for level ``l`` is the share of ``l`` among the
    ``base`` episodes whose level is known, :math:`\#\{i \in B: x_i = l\} / \#\{i \in B:
    x_i \ne \mathrm{unknown}\}` (0 when none is known), so that the group's log-time
    location :math:`x_g^\top\beta` averages over the observed mix (proportional weights).
    """
    n_cols = sum(len(t.contrasts) for t in terms)
    profile = np.zeros((len(groups), n_cols))
    for g, level in enumerate(groups):
        j = 0
        for t in terms:
            for lev in t.contrasts:
                if t.column == by:
                    profile[g, j] = float(level == lev)
                elif t.column in fixed:
                    profile[g, j] = float(fixed[t.column] == lev)
                else:
                    known = base & (eps[t.column] != UNKNOWN).to_numpy()
                    share = (eps.loc[known, t.column] == lev).mean() if known.any() else 0.0
                    profile[g, j] = float(share)
                j += 1
    return profile


def index_units(eps: pd.DataFrame) -> Units:
    """Integer codes of cohorts and patients (``cohort/patient_id``), in order of appearance.

    Episode labels are ``cohort/patient_id/episode``.
    """
    codes, uniques = pd.factorize(eps["cohort"])
    cohorts, cohort_index = tuple(uniques), codes.astype(int)
    keys = eps["cohort"] + "/" + eps["patient_id"]
    codes, uniques = pd.factorize(keys)
    episode_labels = tuple(keys + "/" + eps["episode"].astype(str))
    return Units(cohorts, cohort_index, tuple(uniques), codes.astype(int), episode_labels)


def frailty_clusters(patient_index: np.ndarray, multi: np.ndarray) -> Clusters:
    """Episodes of each patient in ``multi`` (the patients that share a frailty), padded.

    Row ``r`` of ``index`` lists the episodes of patient ``multi[r]`` in table order; rows
    are padded to the largest patient with that patient's first episode, and ``mask`` is 1
    for real entries and 0 for padding. ``single`` marks the episodes of all other patients.
    Without clustered patients ``index`` and ``mask`` have shape ``(0, 1)``.
    """
    single = ~np.isin(patient_index, multi)
    if not len(multi):
        return Clusters(np.zeros((0, 1), dtype=int), np.zeros((0, 1)), single)
    members = [np.flatnonzero(patient_index == p) for p in multi]
    slots = max(len(m) for m in members)
    index = np.zeros((len(members), slots), dtype=int)
    mask = np.zeros((len(members), slots))
    for r, m in enumerate(members):
        index[r] = m[0]
        index[r, : len(m)] = m
        mask[r, : len(m)] = 1.0
    return Clusters(index, mask, single)


def _profile_levels(terms: list[Term], by: str, at: Mapping[str, str] | None) -> dict[str, str]:
    names = {t.column: t for t in terms}
    fixed = {}
    if "strategy" in names and by != "strategy" and "first" in names["strategy"].levels:
        fixed["strategy"] = "first"
    for col, lev in dict(at or {}).items():
        if col == by:
            raise SpecError(f"'at' cannot fix '{col}': it is the reporting column 'by'")
        if col not in names:
            raise SpecError(f"'at' names '{col}', which is not a covariate with two or more "
                            f"levels (covariates: {', '.join(names) or 'none'})")
        if str(lev) not in names[col].levels:
            raise SpecError(f"'at' level '{lev}' of '{col}' is not in the data "
                            f"(levels: {', '.join(names[col].levels)})")
        fixed[col] = str(lev)
    return fixed


def _use_frailty(frailty: str, counts: np.ndarray, notes: list[str]) -> bool:
    if frailty not in ("auto", "stable", "none"):
        raise SpecError(f"frailty must be 'auto', 'stable' or 'none', got {frailty!r}")
    if frailty == "none":
        if (counts > 1).any():
            notes.append(f"{int((counts > 1).sum())} patient(s) contribute two or more "
                         "episodes, treated as independent (frailty = 'none')")
        return False
    if not (counts > 1).any():
        if frailty == "stable":
            notes.append("no patient has two episodes: the patient frailty is not used")
        return False
    return True


def _use_cohort_effect(option: bool | str, n_cohorts: int, notes: list[str]) -> bool:
    if option not in ("auto", True, False):
        raise SpecError(f"cohort_effect must be 'auto', true or false, got {option!r}")
    if option == "auto":
        if n_cohorts < 2:
            notes.append("one cohort: no cohort random effect; a new cohort's predictions "
                         "draw the between-cohort SD from its prior")
        return n_cohorts >= 2
    return bool(option)


def _centre(option: str, eps: pd.DataFrame, cohort_index: np.ndarray, n_cohorts: int,
            notes: list[str]) -> bool:
    """Whether to centre the cohort effect (see :data:`CENTRE_INFORMATION`)."""
    if option not in ("auto", "centred", "noncentred"):
        raise SpecError("cohort_parametrisation must be 'auto', 'centred' or 'noncentred', "
                        f"got {option!r}")
    if option != "auto":
        return option == "centred"
    events = np.bincount(cohort_index, weights=eps["event"].to_numpy(float), minlength=n_cohorts)
    k = pooled_shape(eps["time"].to_numpy(float), eps["event"].to_numpy(int))
    centred = bool(np.all(k ** 2 * events >= CENTRE_INFORMATION))
    if centred:
        notes.append(f"every cohort has at least {int(events.min())} events (pooled shape "
                     f"about {k:.1f}): cohort effects use the centred parametrisation")
    return centred


def pooled_shape(time: np.ndarray, event: np.ndarray) -> float:
    r"""Maximum-likelihood Weibull shape of all episodes pooled.

    With right-censored times :math:`t_i`, event indicators :math:`\delta_i` and
    :math:`d = \sum_i \delta_i` events, the scale's maximum given the shape :math:`k` is
    :math:`\lambda^k = \sum_i t_i^k / d`, and the shape's profile score

    .. math::

        g(k) = \frac{d}{k} + \sum_i \delta_i \log t_i
               - d\,\frac{\sum_i t_i^k \log t_i}{\sum_i t_i^k}

    falls strictly in :math:`k` (its derivative is :math:`-d/k^2 - d\,\mathrm{Var}_w
    (\log t)`, a weighted variance), so its one root is the maximum. It is found by
    bisection in :math:`\log k` on :math:`[10^{-3}, 10^{3}]`, to a relative precision of
    :math:`10^{-12}`, with the times divided by the longest (no overflow). A root beyond the
    bracket gives its end: :math:`10^3` when the likelihood still rises there (every event
    at, or within a hair of, the longest time, where no finite maximum may exist). With
    fewer than two events, or times that are not all positive and finite, the shape is 1.

    The same maximum as lifelines' ``WeibullFitter`` and SciPy's censored
    ``weibull_min.fit`` (tests), in numpy: the shape only chooses the cohort effects'
    parametrisation (:func:`_centre`), and lifelines' general optimiser took about a quarter
    of a second for it. Computed once per distinct ``(time, event)`` in a process: a fit and
    its reloading (and the sensitivity variants of one data set) ask for it again.
    """
    time = np.ascontiguousarray(time, dtype=float)
    event = np.ascontiguousarray(np.asarray(event) != 0)
    return _pooled_shape(time.tobytes(), event.tobytes())


@functools.lru_cache(maxsize=64)
def _pooled_shape(time_bytes: bytes, event_bytes: bytes) -> float:
    time = np.frombuffer(time_bytes, dtype=float)
    event = np.frombuffer(event_bytes, dtype=bool)
    d = int(event.sum())
    if d < 2 or not np.all(np.isfinite(time)) or np.any(time <= 0):
        return 1.0
    s = np.log(time) - np.log(time.max())          # <= 0
    events_s = float(s[event].sum())

    def score(log_k: float) -> float:
        k = float(np.exp(log_k))
        w = np.exp(k * s)
        return d / k + events_s - d * float(w @ s) / float(w.sum())

    lo, hi = np.log(1e-3), np.log(1e3)
    if score(hi) >= 0:
        return 1e3
    if score(lo) <= 0:
        return 1e-3
    while hi - lo > 1e-12:
        mid = 0.5 * (lo + hi)
        if score(mid) > 0:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def free_parameters(design: Design, fixed_shape: float | None) -> list[str]:
    """Names of the sampled parameters (checked by the convergence gate)."""
    names = ["log_median"]
    if design.n_terms:
        names.append("beta")
    if fixed_shape is None:
        names.append("shape")
    if design.cohort_effect:
        names += ["sigma_cohort", "cohort_log_median" if design.cohort_centred else "z_cohort"]
    if design.frailty:
        names.append("kendall_tau")
    return names


def coords(design: Design) -> dict[str, tuple[str, ...]]:
    """Named coordinates of the model's dimensions."""
    out = {"term": design.term_labels, "cohort": design.cohorts}
    if design.shape_by_group:
        out["group"] = design.groups
    return out


def _shape_by_group(shape: str, by: str, groups: tuple[str, ...]) -> bool:
    if shape not in ("shared", "by_group"):
        raise SpecError(f"shape must be 'shared' or 'by_group', got {shape!r}")
    if shape == "by_group" and (by == "none" or len(groups) < 2):
        raise SpecError("shape = 'by_group' needs a 'by' column with two or more levels")
    return shape == "by_group"


def _check_events(eps: pd.DataFrame, patient_index: np.ndarray, multi: np.ndarray,
                  labels: tuple[str, ...]) -> None:
    events = np.bincount(patient_index, weights=eps["event"].to_numpy(float),
                         minlength=len(labels))
    bad = [p for p in multi if events[p] > MAX_EVENTS_PER_PATIENT]
    if bad:
        raise DataValidationError([Problem(
            "data", None, "event",
            f"patient '{labels[p]}' has {int(events[p])} episodes ending in an event; the "
            f"shared patient frailty supports at most {MAX_EVENTS_PER_PATIENT} (use "
            "frailty = 'none')") for p in bad])


def _fmt(fixed: Mapping[str, str]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in fixed.items()) or "(none)"
