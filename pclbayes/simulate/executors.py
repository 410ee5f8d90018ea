"""Where a study's tasks run: in this process, in local worker processes, or on Dask.

Every executor runs *batches* of tasks with one function, :func:`run_batch`, in its
workers; it differs only in how batches reach the workers. A worker prepares the study once
(:meth:`Study.prepare <pclbayes.simulate.study.Study.prepare>`, e.g. compiling a model) and
reuses it for every later batch: the prepared study is kept in a per-process memo keyed by
the study's spec hash.

Executors
    :class:`SerialExecutor`
        In the calling process; no start-up cost, one core.
    :class:`ProcessExecutor` (the default)
        ``N`` local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`).
        Started with the ``forkserver`` method where the platform has it (Linux, macOS),
        else ``spawn``. ``fork`` is not used: the workers compile PyTensor and numba code
        and use their thread pools, which a fork of a process that already runs threads
        (pyarrow's, Dask's) can deadlock. The fork server is a fresh single-threaded process
        that imports the study's module once (``set_forkserver_preload``) and forks every
        worker from it, so the import cost is paid once, not once per worker: starting 2
        workers that import PyMC took 1.3 s with ``forkserver`` against 3.1 s with ``spawn``
        (2 shared CPUs). Workers ignore SIGINT: Ctrl-C reaches the runner, which stores what
        has finished and stops them.
    :class:`DaskExecutor`
        A ``dask.distributed`` cluster: an existing one (``scheduler="tcp://host:8786"``) or
        a :class:`distributed.LocalCluster` of ``N`` single-threaded worker processes that
        the executor starts and closes. The study (its spec, a few kB) travels with every
        batch, so a worker that joins late needs nothing from its peers. Workers need
        pclbayes (and the module of a ``module:Class`` study) installed.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from typing import TYPE_CHECKING, Any

from pclbayes._interrupts import sigint_deferred
from pclbayes.errors import PclBayesError
from pclbayes.simulate.spec import RESERVED_COLUMNS

if TYPE_CHECKING:
    from pclbayes.simulate.study import Study

#: One task: ``(scenario_index, replicate, scenario)``.
Task = tuple[int, int, Mapping[str, Any]]

#: Default number of local worker processes at most (more rarely pays on one machine:
#: each worker holds its own compiled models).
MAX_DEFAULT_WORKERS = 16


class ExecutorError(PclBayesError):
    """An executor cannot run: the cluster is unreachable, a worker failed to prepare."""


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """The default ``--workers``: the usable CPUs, at most :data:`MAX_DEFAULT_WORKERS`."""
    return min(available_cpus(), MAX_DEFAULT_WORKERS)


def task_seed(study_seed: int, scenario_index: int, replicate: int):
    """The task's :class:`numpy.random.SeedSequence`.

    ``SeedSequence(study_seed, spawn_key=(scenario_index, replicate))``: a function of the
    study seed and the task's place in the study only, never of the executor or the order.
    """
    import numpy as np

    return np.random.SeedSequence(study_seed, spawn_key=(scenario_index, replicate))


def seed_id(seed) -> int:
    """A stable integer that identifies a task's seed (stored in the ``seed`` column).

    The first 64-bit word of ``seed.generate_state``, halved to fit a signed 64-bit column:
    ``generate_state`` depends on the entropy and spawn key only, and draws nothing.
    """
    import numpy as np

    return int(seed.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _scalar(name: str, value: Any) -> bool | int | float | str:
    """``value`` as a Python scalar, or ``TypeError`` naming the column."""
    if hasattr(value, "item") and not isinstance(value, str):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"run_task returned {type(value).__name__} for column {name!r}; "
                    "rows hold scalars only")


def execute_task(study: Study, study_seed: int, task: Task) -> dict[str, Any]:
    """Run one task and return its stored row (an exception becomes an ``error`` row).

    The row is the task's keys (``scenario_index``, ``replicate``, the scenario), ``seed``
    (:func:`seed_id`), ``status`` (``"ok"`` or ``"error"``), ``message`` (``""`` or
    ``"ExceptionType: text"``), ``warnings`` (the distinct warnings the task raised,
    ``"Category: text"`` joined by ``" | "``, or ``""``: recorded in the row instead of
    printed, so thousands of tasks do not flood stderr), ``seconds`` (wall time of
    ``run_task``) and the study's own columns (absent from an error row).
    """
    scenario_index, replicate, scenario = task
    seed = task_seed(study_seed, scenario_index, replicate)
    row: dict[str, Any] = {"scenario_index": scenario_index, "replicate": replicate,
                           **scenario, "seed": seed_id(seed)}
    start = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = study.run_task(scenario, replicate, seed)
        if not isinstance(result, Mapping):
            raise TypeError(f"run_task returned {type(result).__name__}, not a dict")
        values = {}
        for name, value in result.items():
            if name in RESERVED_COLUMNS or name in scenario:
                raise ValueError(f"run_task returned column {name!r}, which is a runner "
                                 "column or a scenario key")
            values[str(name)] = _scalar(name, value)
    except Exception as exc:  # recorded, not fatal: the store says what went wrong
        message = " ".join(str(exc).split())
        row.update(status="error", message=f"{type(exc).__name__}: {message}"[:2000],
                   warnings=_warning_text(caught), seconds=time.perf_counter() - start)
        return row
    row.update(status="ok", message="", warnings=_warning_text(caught),
               seconds=time.perf_counter() - start, **values)
    return row


def _warning_text(caught: Sequence[warnings.WarningMessage]) -> str:
    """Distinct warnings as ``"Category: text | ..."`` in order, at most 2000 characters."""
    texts = dict.fromkeys(f"{w.category.__name__}: {' '.join(str(w.message).split())}"
                          for w in caught)
    return " | ".join(texts)[:2000]


_PREPARED: dict[str, Study] = {}
"""The prepared study of this process, by spec hash (one entry in practice)."""
_PREPARE_LOCK = threading.Lock()
_WORKER_STUDY: dict[str, tuple[Study, int]] = {}
"""Set by :func:`_init_process_worker`: the study a process worker runs, by spec hash."""


class PrepareError(Exception):
    """``Study.prepare`` raised in a worker (carries the message across processes)."""


def prepared(study: Study, key: str) -> Study:
    """The study prepared in this process (``prepare()`` is called once per key)."""
    found = _PREPARED.get(key)
    if found is not None:
        return found
    with _PREPARE_LOCK:  # Dask workers may run batches in several threads
        found = _PREPARED.get(key)
        if found is None:
            try:
                study.prepare()
            except Exception as exc:
                raise PrepareError(f"{type(study).__name__}.prepare() failed: "
                                   f"{type(exc).__name__}: {exc}") from None
            _PREPARED[key] = found = study
    return found


def run_batch(study: Study, key: str, study_seed: int,
              tasks: Sequence[Task]) -> list[dict[str, Any]]:
    """Run ``tasks`` with the study prepared in this process; one row per task."""
    ready = prepared(study, key)
    return [execute_task(ready, study_seed, task) for task in tasks]


def _init_process_worker(study: Study, key: str, study_seed: int) -> None:
    """Process-pool initialiser: ignore Ctrl-C, remember the study (prepared lazily)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_STUDY[key] = (study, study_seed)


def _run_batch_in_process(key: str, tasks: Sequence[Task]) -> list[dict[str, Any]]:
    study, study_seed = _WORKER_STUDY[key]
    return run_batch(study, key, study_seed, tasks)


class Executor:
    """Runs batches of tasks; subclasses say where.

    Use as ``start(study, key, seed)``, then ``submit``/``wait``/``result``, then
    ``close()``.
    """

    name = "executor"
    workers = 1

    def start(self, study: Study, key: str, study_seed: int) -> None:
        """Get ready to run tasks of ``study`` (start workers, ship the study)."""
        self._study, self._key, self._seed = study, key, study_seed

    def submit(self, tasks: Sequence[Task]) -> Any:
        """Start a batch; returns a future of its rows."""
        raise NotImplementedError

    def wait(self, pending: Iterable[Any], timeout: float | None = None) -> set[Any]:
        """The futures of ``pending`` that are done (waits for at least one, or ``timeout``)."""
        done, _ = futures_wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done)

    def result(self, future: Any) -> list[dict[str, Any]]:
        """The rows of a finished batch."""
        try:
            return future.result()
        except PrepareError as exc:
            raise ExecutorError(str(exc)) from None

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers (``cancel``: at once, dropping batches in flight)."""

    def describe(self) -> str:
        """One line for the progress display, e.g. ``"2 local processes"``."""
        return self.name


class SerialExecutor(Executor):
    """Every task in the calling process, one after the other."""

    name = "serial"

    def submit(self, tasks: Sequence[Task]) -> Future:
        """Run the batch now; returns a finished future."""
        future: Future = Future()
        try:
            future.set_result(run_batch(self._study, self._key, self._seed, tasks))
        except PrepareError as exc:
            future.set_exception(exc)
        return future

    def describe(self) -> str:
        """``"serial (this process)"``."""
        return "serial (this process)"


def _mp_context(study: Study):
    """``forkserver`` (preloading the study's module) where available, else ``spawn``."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["pclbayes.simulate.executors", type(study).__module__])
        return ctx
    return multiprocessing.get_context("spawn")


class ProcessExecutor(Executor):
    """``workers`` local processes (see the module docstring for the start method)."""

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else int(workers)
        if self.workers < 1:
            raise ExecutorError(f"--workers must be >= 1, got {self.workers}")
        self._pool = None

    def start(self, study: Study, key: str, study_seed: int) -> None:
        """Start the pool; every worker gets the study once."""
        from concurrent.futures import ProcessPoolExecutor

        super().start(study, key, study_seed)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=_mp_context(study),
            initializer=_init_process_worker, initargs=(study, key, study_seed))

    def submit(self, tasks: Sequence[Task]) -> Future:
        """Queue a batch on the pool."""
        return self._pool.submit(_run_batch_in_process, self._key, list(tasks))

    def result(self, future: Future) -> list[dict[str, Any]]:
        """The rows of a finished batch (a dead worker is an :class:`ExecutorError`)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return super().result(future)
        except BrokenProcessPool as exc:
            raise ExecutorError(f"a worker process died ({exc}); the finished tasks are "
                                "stored, run again with --resume") from None

    def close(self, *, cancel: bool = False) -> None:
        """Shut the pool down; with ``cancel`` terminate the workers at once."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not cancel:
            pool.shutdown(wait=True)
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + 2.0
        for proc in processes:
            proc.join(max(deadline - time.monotonic(), 0.01))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)

    def describe(self) -> str:
        """``"N local processes"``."""
        return f"{self.workers} local process{'es' if self.workers != 1 else ''}"


class DaskExecutor(Executor):
    """A ``dask.distributed`` cluster: ``scheduler`` address, or a local cluster it owns.

    Parameters
    ----------
    scheduler : str or None
        Address of a running scheduler (``tcp://host:8786``); or None to start a
        :class:`distributed.LocalCluster` of ``local_workers`` processes, one thread each.
    local_workers : int or None
        Workers of the local cluster (default :func:`default_workers`).
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, local_workers: int | None = None) -> None:
        self.scheduler = scheduler
        self.local_workers = default_workers() if local_workers is None else int(local_workers)
        self.workers = self.local_workers
        self._client = None
        self._cluster = None

    def start(self, study: Study, key: str, study_seed: int) -> None:
        """Connect to the scheduler, or start the local cluster."""
        import logging

        from distributed import Client, LocalCluster

        super().start(study, key, study_seed)
        for name in ("distributed", "bokeh", "tornado"):  # no INFO chatter on stderr
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < logging.WARNING:
                logger.setLevel(logging.WARNING)
        try:
            if self.scheduler is None:
                with sigint_deferred():  # the worker processes inherit the ignored signal
                    self._cluster = LocalCluster(
                        n_workers=self.local_workers, threads_per_worker=1, processes=True,
                        dashboard_address=None, scheduler_kwargs={"dashboard": False},
                        silence_logs=logging.ERROR)
                self._client = Client(self._cluster, set_as_default=False)
            else:
                self._client = Client(self.scheduler, timeout="20s", set_as_default=False)
        except (OSError, ValueError) as exc:  # ValueError: a malformed address
            self.close()
            raise ExecutorError(f"--scheduler {self.scheduler}: cannot connect ({exc})") from None
        info = self._client.scheduler_info()
        self.workers = max(1, sum(int(w.get("nthreads", 1))
                                  for w in info.get("workers", {}).values()))

    def submit(self, tasks: Sequence[Task]) -> Any:
        """Submit a batch as one Dask task.

        The study travels with every batch (a spec: a few kB), not scattered once, so a
        worker that joins late or replaces a lost one needs nothing from its peers; each
        worker process still prepares it only once (the memo of :func:`prepared`).
        """
        return self._client.submit(run_batch, self._study, self._key, self._seed,
                                   list(tasks), pure=False)

    def result(self, future: Any) -> list[dict[str, Any]]:
        """The rows of a finished batch (a batch Dask gave up on is an ExecutorError)."""
        try:
            return super().result(future)
        except ExecutorError:
            raise
        except Exception as exc:  # KilledWorker, CancelledError, a lost scheduler, ...
            message = " ".join(str(exc).split())[:500]
            raise ExecutorError(f"the Dask cluster failed a batch ({type(exc).__name__}: "
                                f"{message}); the finished tasks are stored, run again with "
                                "--resume") from None

    def wait(self, pending: Iterable[Any], timeout: float | None = None) -> set[Any]:
        """Done futures of ``pending`` (``distributed.wait``, first completed)."""
        from distributed import wait
        from distributed.client import FIRST_COMPLETED as DASK_FIRST

        try:
            with self._client.as_current():  # the run's client, never the process default
                done, _ = wait(list(pending), timeout=timeout, return_when=DASK_FIRST)
        except TimeoutError:
            return set()
        return set(done)

    def close(self, *, cancel: bool = False) -> None:
        """Close the client, and the local cluster if this executor started it."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def describe(self) -> str:
        """``"Dask cluster at ADDRESS (N threads)"`` or ``"local Dask cluster (N workers)"``."""
        if self.scheduler is None:
            return f"local Dask cluster ({self.local_workers} workers)"
        return f"Dask cluster at {self.scheduler} ({self.workers} worker threads)"


def make_executor(*, workers: int | None = None, scheduler: str | None = None,
                  dask_local: int | None = None, serial: bool = False) -> Executor:
    """The executor for the CLI's options (at most one of them may be given).

    ``serial`` or ``workers == 1`` give :class:`SerialExecutor`; ``scheduler`` or
    ``dask_local`` a :class:`DaskExecutor`; otherwise a :class:`ProcessExecutor`.
    """
    given = [n for n, v in (("--workers", workers), ("--scheduler", scheduler),
                            ("--dask-local", dask_local)) if v is not None]
    if len(given) > 1:
        raise ExecutorError(f"{' and '.join(given)}: give one of them, not both")
    if serial or workers == 1:
        return SerialExecutor()
    if scheduler is not None:
        return DaskExecutor(scheduler=scheduler)
    if dask_local is not None:
        return DaskExecutor(local_workers=dask_local)
    return ProcessExecutor(workers)


def chunk_size(mean_seconds: float | None, remaining: int, workers: int, *,
               target_seconds: float = 2.0, max_tasks: int = 1000) -> int:
    """Tasks in the next batch.

    One task until a task's cost is known; then enough tasks for about ``target_seconds``
    of work (so the per-batch overhead, a few milliseconds, stays small), at most
    ``max_tasks``, and never more than a fair share ``ceil(remaining / (2 workers))`` so
    that the last batches spread over every worker. A batch is also what an interruption
    can lose: at most ``workers`` batches are running at a time.
    """
    if mean_seconds is None or remaining <= 0:
        return 1
    size = int(target_seconds / max(mean_seconds, 1e-6))
    fair = math.ceil(remaining / (2 * max(workers, 1)))
    return max(1, min(size, max_tasks, fair))
