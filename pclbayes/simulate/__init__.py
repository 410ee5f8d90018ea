"""Simulation studies (SBC, model-based design evaluation) on one machine or a Dask cluster.

``load_study`` reads a study spec, ``run_study`` runs its tasks on an executor into a
results store (``ResultStore``), and the study's ``summarise`` turns the stored rows into
tables; see ``docs/simulate.md``. Nothing heavy is imported here: Dask, pyarrow and the
models are loaded when a study runs.
"""

from pclbayes.simulate.executors import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
    task_seed,
)
from pclbayes.simulate.runner import RunInterrupted, RunResult, StudyFailed, run_study
from pclbayes.simulate.spec import load_study
from pclbayes.simulate.store import ResultStore, StoreError
from pclbayes.simulate.study import Study, StudySummary

__all__ = [
    "DaskExecutor",
    "ProcessExecutor",
    "ResultStore",
    "RunInterrupted",
    "RunResult",
    "SerialExecutor",
    "StoreError",
    "Study",
    "StudyFailed",
    "StudySummary",
    "load_study",
    "make_executor",
    "run_study",
    "task_seed",
]
