"""The task interface of a simulation study: what every study type implements.

A study is a grid of *scenarios* (true parameter values, design settings) times a number
of *replicates*. One task is one (scenario, replicate) pair: simulate a data set, analyse
it, and return one flat row of results. The runner (:mod:`pclbayes.simulate.runner`)
schedules tasks on an executor, stores the rows and makes the study resumable; a study
type only says how to simulate, analyse and summarise.

Reproducibility: the runner gives each task its own :class:`numpy.random.SeedSequence`,
``SeedSequence(study_seed, spawn_key=(scenario_index, replicate))``; a task draws every
random number (simulation and the fit's seed) from it and from nothing else, so a task's
row does not depend on the executor, the number of workers or the order of execution.

Study specification (TOML, one file per study; see ``docs/simulate.md``)::

    [study]
    kind = "sbc"              # a key of pclbayes.simulate.studies.KINDS
    name = "sbc_beta_binomial"
    title = "Simulation-based calibration of the beta-binomial model"
    seed = 20261201
    replicates = 200

    [grid]                    # optional: the scenarios are the Cartesian product
    true_rate = [0.3, 0.5]    # of these lists, in the order written

    [sbc]                     # the kind's own settings, checked by the study type
    model = "beta-binomial"
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: A value that may appear in a result row: the store keeps one typed column per key.
Scalar = bool | int | float | str

#: ``(figure title, function that draws it on a new matplotlib Figure and returns it)``.
FigureMaker = tuple[str, Callable[[], Any]]


@dataclass
class StudySummary:
    """What ``pclbayes simulate summary`` shows for a finished (or partial) study.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        Named result tables (e.g. ``"operating characteristics"``), in display order;
        Monte-Carlo standard errors are columns of these tables, never omitted.
    lines : list of str
        Plain-text findings, each a full sentence that says what it estimates.
    passed : bool or None
        The study's verdict where it has one (SBC pass/fail), else ``None``.
    figures : list of FigureMaker
        Figures drawn on request (``--plots DIR``), never at import.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    passed: bool | None = None
    figures: list[FigureMaker] = field(default_factory=list)


class Study(abc.ABC):
    """One study type: simulate, analyse and summarise one (scenario, replicate) task.

    Subclasses set :attr:`kind` and implement :meth:`run_task` and :meth:`summarise`.
    The constructor receives the whole parsed TOML document and must check the kind's
    own table strictly (unknown keys and bad values are :class:`pclbayes.errors.SpecError`
    naming ``path`` and the key). A study object must be picklable: the runner sends it
    to worker processes and Dask workers.

    Parameters
    ----------
    spec : Mapping
        The parsed study TOML (``[study]``, ``[grid]`` and the kind's own table).
    path : pathlib.Path or None
        Where the spec was read from, for error messages.
    """

    kind: ClassVar[str]
    """The ``[study] kind`` this class implements."""

    #: Top-level TOML tables this kind accepts besides ``study`` and ``grid``.
    tables: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: Mapping[str, Any], path: Path | None = None) -> None:
        self.spec = spec
        self.path = path

    def scenarios(self) -> list[dict[str, Scalar]]:
        """The scenarios, in a fixed order (default: the ``[grid]`` product, or one ``{}``)."""
        from pclbayes.simulate.spec import grid_scenarios

        return grid_scenarios(self.spec.get("grid", {}), self.path)

    def prepare(self) -> None:  # noqa: B027 (optional hook with a no-op default)
        """Per-process set-up before the first task (compile models once); idempotent.

        Called by the runner in every worker before its first task, and may be called more
        than once; anything it builds must be reused by later :meth:`run_task` calls in the
        same process. It must not draw random numbers.
        """

    @abc.abstractmethod
    def run_task(
        self, scenario: Mapping[str, Scalar], replicate: int, seed: np.random.SeedSequence
    ) -> dict[str, Scalar]:
        """Simulate one data set under ``scenario``, analyse it and return one flat row.

        Every random number (the simulated data and the analysis's sampler seed) must come
        from ``seed``. The row holds scalars only, with the same keys for every task of a
        study (use NaN, not a missing key, for a value that does not exist); it should
        include the fit's diagnostics (``max_rhat``, ``min_ess_bulk``, ``divergences``,
        with NaN where an engine has none). The runner adds ``scenario``, ``replicate``,
        ``seed`` and the timing columns itself.
        """

    @abc.abstractmethod
    def summarise(self, results: pd.DataFrame) -> StudySummary:
        """Summarise the stored rows (all or some of the tasks) of this study.

        ``results`` has one row per finished task: the scenario's keys, ``replicate``,
        ``seed``, ``status`` (``"ok"`` or ``"error"``) and the columns :meth:`run_task`
        returned. A partial study must be summarised honestly (say how many tasks of how
        many each estimate rests on).
        """
