"""Run a simulation study: tasks to an executor, finished rows to the results store.

A study of ``S`` scenarios and ``R`` replicates has ``S * R`` tasks; task ``(s, r)`` gets
the seed ``SeedSequence(study_seed, spawn_key=(s, r))``, so its row is the same whatever
the executor, the number of workers, the batching or the order of execution. The runner

1. creates (or, with ``resume``, reopens) the store, refusing a store of another spec,
   before any worker starts;
2. lists the tasks not yet stored, replicate by replicate (so a partial study covers every
   scenario evenly);
3. sends them to the executor in batches sized to about two seconds of work
   (:func:`~pclbayes.simulate.executors.chunk_size`), keeping every worker busy;
4. appends each finished batch to the store at once (an interruption loses at most the
   batches in flight), and reports progress;
5. merges the partitions into one file when every task is stored.

A task that raises is stored as an ``error`` row with its message; the run goes on. Only a
run whose first finished tasks all failed, at least :data:`ALL_FAIL_AFTER` of them (or
every task of a smaller run), stops, as :class:`StudyFailed`: such a study has a bug, not
bad luck.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pclbayes.errors import PclBayesError
from pclbayes.simulate.executors import Executor, Task, chunk_size, make_executor
from pclbayes.simulate.progress import RunProgress
from pclbayes.simulate.store import ResultStore

if TYPE_CHECKING:
    from pclbayes.simulate.study import Study

#: A run stops once at least this many finished tasks all failed (and none passed).
ALL_FAIL_AFTER = 20


class StudyFailed(PclBayesError):
    """Every task of a run failed (the error rows are stored)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; what had finished is stored. ``result`` says how much."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.interrupted_text())
        self.result = result


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    store : ResultStore
        The store written.
    total : int
        Tasks of the study.
    stored : int
        Tasks stored now (this run and earlier ones).
    ran : int
        Tasks this run finished.
    errors : int
        Tasks of this run that raised (stored as ``error`` rows).
    seconds : float
        Wall time of this run (start of the executor to the last write).
    executor : str
        Where the tasks ran, in words.
    """

    store: ResultStore
    total: int
    stored: int
    ran: int
    errors: int
    seconds: float
    executor: str

    @property
    def complete(self) -> bool:
        """Whether every task of the study is stored."""
        return self.stored >= self.total

    def interrupted_text(self) -> str:
        """The one line printed after Ctrl-C."""
        return (f"interrupted: {self.stored} of {self.total} tasks stored in {self.store.path}; "
                "run the same command with --resume to finish")


@contextlib.contextmanager
def _sigint_postponed() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block until the block is done (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def pending_tasks(study: Study, done: set[tuple[int, int]]) -> list[Task]:
    """Tasks not in ``done``, replicate by replicate, scenarios in order within each."""
    scenarios = study.scenarios()
    replicates = int(study.spec["study"]["replicates"])
    return [(s, r, scenarios[s]) for r in range(replicates) for s in range(len(scenarios))
            if (s, r) not in done]


def run_study(
    study: Study | str | Path,
    out: str | Path,
    *,
    executor: Executor | None = None,
    resume: bool = False,
    quiet: bool = True,
    progress: RunProgress | None = None,
) -> RunResult:
    """Run every task of ``study`` not yet in the store ``out``.

    Parameters
    ----------
    study : Study, str or Path
        A study, or its spec file (or bundled study name) for
        :func:`~pclbayes.simulate.spec.load_study`.
    out : str or Path
        The results store folder.
    executor : Executor, optional
        Where tasks run (default: local processes, :func:`make_executor`).
    resume : bool
        Continue an existing store of the same spec (without it, an existing store is an
        error).
    quiet : bool, default True
        No progress display (the CLI shows it unless ``--quiet``).
    progress : RunProgress, optional
        A progress display to use instead of the default one.

    Returns
    -------
    RunResult

    Raises
    ------
    StoreError
        If ``out`` is unusable (checked before any worker starts).
    StudyFailed
        If the run's first finished tasks, at least :data:`ALL_FAIL_AFTER`, all failed.
    RunInterrupted
        On Ctrl-C, after storing every finished batch (a ``KeyboardInterrupt``).
    """
    from pclbayes.simulate.spec import load_study, spec_hash

    spec_path = None
    if not hasattr(study, "run_task"):
        spec_path = Path(study)
        study = load_study(study)
        spec_path = study.path or spec_path
    else:
        spec_path = study.path
    store = ResultStore.create(out, study, resume=resume, spec_path=spec_path)
    with store.locked():
        return _run(study, store, executor or make_executor(), spec_hash(study),
                    progress or RunProgress(study.spec["study"]["name"], store.tasks,
                                            quiet=quiet))


def _run(study: Study, store: ResultStore, executor: Executor, key: str,
         progress: RunProgress) -> RunResult:
    total = store.tasks
    done = store.finished()
    todo = deque(pending_tasks(study, done))
    stored = len(done)
    progress.already = progress.done = stored
    start = time.perf_counter()
    result = RunResult(store, total, stored, 0, 0, 0.0, executor.describe())
    if not todo:
        store.compact()
        return result
    seed = int(study.spec["study"]["seed"])
    pending: dict[Any, list[Task]] = {}
    timing = [0.0, 0]  # seconds, tasks
    first_error: list[str] = []

    def record(rows: list[dict[str, Any]]) -> None:
        with _sigint_postponed():
            store.append(rows)
        result.ran += len(rows)
        result.stored += len(rows)
        bad = [r for r in rows if r["status"] != "ok"]
        result.errors += len(bad)
        if bad and not first_error:
            first_error.append(str(bad[0]["message"]))
        timing[0] += sum(float(r["seconds"]) for r in rows)
        timing[1] += len(rows)
        progress.update(result.stored)

    def fill() -> None:
        limit = 1 if executor.name == "serial" else 2 * executor.workers
        while todo and len(pending) < limit:
            mean = timing[0] / timing[1] if timing[1] else None
            size = chunk_size(mean, len(todo), executor.workers)
            batch = [todo.popleft() for _ in range(min(size, len(todo)))]
            pending[executor.submit(batch)] = batch

    try:
        try:
            with _sigint_postponed():  # a half-started cluster could not be closed
                executor.start(study, key, seed)
            progress.start = time.monotonic()  # the rate counts the tasks' time only
            progress.message(f"{study.spec['study']['name']}: {len(todo)} of {total} tasks to "
                             f"run on {executor.describe()}; results in {store.path}")
            fill()
            while pending:
                for future in executor.wait(pending):
                    pending.pop(future)
                    record(executor.result(future))
                if result.ran - result.errors == 0 and result.errors >= min(
                        ALL_FAIL_AFTER, result.ran + len(todo) + _count(pending)):
                    raise StudyFailed(
                        f"{study.spec['study']['name']}: the first {result.errors} tasks all "
                        f"failed, so the run stopped (their error rows are in {store.path}); "
                        f"first error: {first_error[0] if first_error else '?'}")
                fill()
        except KeyboardInterrupt:
            with _sigint_postponed():
                for future, _ in list(pending.items()):
                    if future.done():
                        with contextlib.suppress(Exception):
                            record(executor.result(future))
                executor.close(cancel=True)
            result.seconds = time.perf_counter() - start
            progress.finish()
            raise RunInterrupted(result) from None
        except BaseException:
            with _sigint_postponed():
                executor.close(cancel=True)
            raise
        with _sigint_postponed():
            executor.close()
            if result.complete:
                store.compact()
    finally:
        result.seconds = time.perf_counter() - start
    progress.finish()
    return result


def _count(pending: dict[Any, list[Task]]) -> int:
    return sum(len(b) for b in pending.values())
