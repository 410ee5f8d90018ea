"""``build_report``: run every specification and write the HTML report and its files."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import multiprocessing
import os
import signal
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pclbayes import fitcache
from pclbayes._interrupts import sigint_deferred
from pclbayes._paths import BUNDLED_MODELS
from pclbayes.data import EvidenceBase, load
from pclbayes.errors import ConvergenceWarning, ReportOutputError, SpecError
from pclbayes.jsonio import dumps
from pclbayes.model import check_seed, model_from_spec
from pclbayes.priors import Prior
from pclbayes.provenance import versions
from pclbayes.report import findings, labels
from pclbayes.report.html import Page, esc
from pclbayes.report.outdir import OutputFolder
from pclbayes.specs import Spec, fit_spec, list_specs, sensitivity_specs

__all__ = ["QUICK", "FitRecord", "Report", "adapt_specs", "build_report", "resolved_spec",
           "run_fits"]

logger = logging.getLogger(__name__)

#: Sampler settings of ``--quick`` (labelled as such in the report).
QUICK = {"draws": 600, "tune": 600, "chains": 4}

Progress = Callable[[str], None]


class StoredFit:
    """The fit of a stored report (:mod:`pclbayes.report.stored`), read when first used.

    Read from the fit cache under ``key`` and verified as :func:`pclbayes.fitcache.load`
    verifies every entry.
    """

    def __init__(self, spec: Spec, key: str, data_hash: str) -> None:
        self.spec, self.key, self.data_hash = spec, key, data_hash

    def load(self) -> Any:
        """The fitted model.

        Raises
        ------
        ReportOutputError
            If the fit is no longer in the fit cache or does not verify there.
        """
        with warnings.catch_warnings():  # the verdict is in model.diagnostics_
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = fitcache.load(self.key, spec=resolved_spec(self.spec),
                                  data_hash=self.data_hash)
        if model is None:
            raise ReportOutputError(
                f"the fit of {self.spec.name} behind this stored report is no longer in the "
                f"fit cache ({fitcache.cache_dir()}); run pclbayes report --refit")
        return model


class _Model:
    """``FitRecord.model``: a :class:`StoredFit` is read on first access, then kept."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, rec: Any, owner: type | None = None) -> Any:
        if rec is None or self.slot not in rec.__dict__:  # no default: the field is required
            raise AttributeError(self.slot)
        value = rec.__dict__[self.slot]
        if isinstance(value, StoredFit):
            value = rec.__dict__[self.slot] = value.load()
        return value

    def __set__(self, rec: Any, value: Any) -> None:
        rec.__dict__[self.slot] = value


@dataclass(repr=False, eq=False)
class FitRecord:
    """One fitted specification (or one prior-sensitivity variant of it).

    ``model`` is the fitted model; in a stored report (``Report.stored``) it is read from
    the fit cache when first used. Records compare by identity (comparing would read the
    models).
    """

    spec: Spec
    model: _Model = _Model()
    seconds: float = 0.0
    variant: str = "default"
    cached: bool = False

    def __repr__(self) -> str:
        return (f"FitRecord({self.spec.name!r}, variant={self.variant!r}, "
                f"seconds={self.seconds:.1f}, cached={self.cached})")


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    out: Path
    html: Path
    fits: list[FitRecord]
    sensitivity: list[FitRecord] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Whether the whole report was copied from a stored one (:mod:`pclbayes.report.stored`).
    stored: bool = False


def _adjust(spec: Spec, *, quick: bool, seed: int | None) -> Spec:
    sampler = spec.sampler
    if quick:
        sampler = dataclasses.replace(sampler, **{k: min(getattr(sampler, k), v)
                                                  for k, v in QUICK.items()})
    return dataclasses.replace(spec, sampler=sampler, seed=spec.seed if seed is None else seed)


def _where(spec: Spec) -> str:
    """How messages name a specification: its file, else its name."""
    return f"{spec.path}: " if spec.path is not None else f"{spec.name}: "


def resolved_spec(spec: Spec) -> dict[str, Any]:
    """Validate ``spec`` completely, without data, and return its resolved specification.

    Every option, every prior (defaults included) and the sampler settings are checked
    as ``pclbayes fit`` checks them, so an invalid specification fails before anything
    is fitted.

    Returns
    -------
    dict
        :meth:`pclbayes.model.Model.resolved_spec` at the specification's seed.

    Raises
    ------
    SpecError
        Naming the specification file (or, without one, its name) and the invalid key.
    """
    where = _where(spec)
    for key, value in spec.priors.items():
        try:
            Prior.parse(value)
        except SpecError as exc:
            raise SpecError(f"{where}[priors] {key}: {str(exc).removeprefix(where)}") from None
    try:
        return model_from_spec(spec).resolved_spec(check_seed(spec.seed))
    except SpecError as exc:
        raise SpecError(where + str(exc).removeprefix(where)) from None


def _identity(resolved: dict[str, Any]) -> str:
    """What makes two fits the same fit: the resolved spec without name, title, reasons."""
    same = {k: v for k, v in resolved.items() if k not in ("name", "title")}
    same["priors"] = {k: {p: v for p, v in prior.items() if p not in ("reason", "reference")}
                      if isinstance(prior, dict) else prior
                      for k, prior in dict(resolved.get("priors") or {}).items()}
    return json.dumps(same, sort_keys=True, default=str)


def adapt_specs(specs: list[Spec], eb: EvidenceBase) -> tuple[list[Spec], list[str]]:
    """Fit the specifications to the data at hand, saying what was changed or skipped.

    A grouping column the data lack (e.g. ``target`` in a user's count file) becomes
    ``by = "none"``; a survival specification without times, or a response specification
    without its endpoint, is skipped. A specification whose resolved form
    (:func:`resolved_spec`: every option, prior, sampler setting and the seed), after
    these changes, equals an earlier one's is skipped: it would be the same fit. Names,
    titles and the reasons given for priors do not make fits differ; an endpoint read
    from generic ``time``/``event`` columns, or from counts without an ``endpoint``
    column, is the same data whatever it is called.

    Raises
    ------
    SpecError
        For an invalid specification (see :func:`resolved_spec`).
    """
    from pclbayes.data._schema import ENDPOINT_COLUMNS

    eps = eb.episodes if not eb.patients.empty else pd.DataFrame()
    agg = eb.aggregates
    pat_cols, agg_cols = set(eps.columns), set(agg.columns)
    agg_endpoints = set(agg["endpoint"].dropna()) if "endpoint" in agg_cols else None
    out, notes, seen = [], [], set()
    for spec in specs:
        resolved = resolved_spec(spec)
        opts = dict(spec.options)
        default_endpoint = "pfs" if spec.family == "survival" else "orr"
        endpoint = str(resolved.get("endpoint", opts.get("endpoint", default_endpoint)))
        if spec.family == "survival":
            own = {f"{endpoint}_months", f"{endpoint}_event"} <= pat_cols
            has = own or {"time", "event"} <= pat_cols
            # generic time/event columns serve any endpoint name: run them once
            cols, key_endpoint = pat_cols, endpoint if own else "time"
        else:
            in_pat = ENDPOINT_COLUMNS.get(endpoint, endpoint) in pat_cols
            in_agg = not agg.empty and (agg_endpoints is None or endpoint in agg_endpoints)
            has, cols = in_pat or in_agg, pat_cols | agg_cols
            # count rows without an 'endpoint' column serve any endpoint name: run them once
            key_endpoint = endpoint if in_pat or agg_endpoints is not None else "counts"
        if not has:
            notes.append(f"{spec.name}: skipped, the data have no {endpoint.upper()} data")
            continue
        by = str(resolved.get("by", opts.get("by", "none")))
        if by != "none" and by not in cols:
            notes.append(f"{spec.name}: the data have no '{by}' column, so it was fitted "
                         "without grouping (by = none)")
            opts["by"] = "none"
        elif by != "none" and _levels(by, eps, agg) < 2:
            notes.append(f"{spec.name}: '{by}' has a single level in these data, so it was "
                         "fitted without grouping (by = none)")
            opts["by"] = "none"
        if spec.family == "survival" and "time_unit" not in opts:
            opts["time_unit"] = eb.time_unit  # the data's unit, stated in every survival fit
        adapted = dataclasses.replace(spec, options=opts)
        resolved = resolved_spec(adapted)
        if "endpoint" in resolved:
            resolved["endpoint"] = key_endpoint
        key = _identity(resolved)
        if key in seen:
            notes.append(f"{spec.name}: skipped, identical to an earlier fit on these data")
            continue
        seen.add(key)
        out.append(adapted)
    return out, notes


def _levels(column: str, *frames: pd.DataFrame) -> int:
    values = set()
    for df in frames:
        if column in df.columns:
            values |= set(df[column].dropna().astype(str))
    return len(values)


Figures = dict[str, tuple[bytes, bytes | None]]


def _fit_one(spec: Spec, eb: EvidenceBase, save_to: Path | None = None,
             cache_key: str | None = None) -> tuple[Any, float]:
    """Fit ``spec``, compute the tables the report reads, write the netCDF if asked.

    With a ``cache_key`` the fit is stored in the fit cache (:mod:`pclbayes.fitcache`).
    """
    from pclbayes.report.sections import precompute

    start = time.perf_counter()
    with warnings.catch_warnings():
        # the gate's verdict is kept in model.diagnostics_ and flagged atop the report
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit_spec(spec, eb)
    precompute(model)
    if save_to is not None:
        model.save(save_to)
    if cache_key is not None:
        fitcache.store(cache_key, model)
    return model, time.perf_counter() - start


def _figures_of(spec: Spec, model: Any, eb: EvidenceBase) -> Figures:
    """The figures of one fit's own sections (results and predictive check), rendered.

    Run in a worker process right after the fit, so the report's process only places
    them (:attr:`pclbayes.report.html.Page.prerendered`). The sections are drawn exactly
    as the report draws them; figures that combine fits (prior sensitivity, the evidence)
    are drawn by the report. Prior-sensitivity variants (``name@variant``) have no
    sections of their own.
    """
    import tempfile

    from pclbayes.report import sections
    from pclbayes.report.html import Page

    if "@" in spec.name:
        return {}
    rec = FitRecord(spec, model, 0.0)
    with tempfile.TemporaryDirectory(prefix="pclbayes-figures-") as tmp:
        page = Page("", Path(tmp))
        if spec.family == "response":
            sections.response_sections(page, [rec])
        else:
            sections.survival_sections(page, [rec], eb)
        sections.checks_section(page, [rec])
    return page.rendered


Job = tuple[Spec, Path | None, str | None, bool]
"""One worker job: the specification, its netCDF file, its fit-cache key and whether a fit
stored under that key may be reused."""


class _Collected(logging.Handler):
    """Keeps the log records of a worker process, to be handled by the report's process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # picklable whatever the args
        record.exc_info = record.exc_text = None
        self.records.append(record)


def _fit_batch(jobs: list[Job], eb: EvidenceBase, draw: bool = False
               ) -> tuple[list[tuple[Any, float, Figures, bool]], list[logging.LogRecord]]:
    """Fit (or read from the fit cache) every job of one batch; with ``draw``, render figures.

    Run in a worker process. A job marked reusable is read from the fit cache when its
    entry verifies (:func:`_from_cache`) and its tables computed here (:func:`precompute`),
    exactly as for a new fit; otherwise it is fitted. Each result is ``(model, seconds,
    figures, cached)``. A figure that cannot be drawn here is left to the report's process,
    which draws every figure not handed to it (the same code either way). The warnings
    logged meanwhile are returned too, for the report's process to show as its own.
    """
    root = logging.getLogger()
    collected = _Collected()
    root.addHandler(collected)
    try:
        return _fit_jobs(jobs, eb, draw), collected.records
    finally:
        root.removeHandler(collected)


def _fit_jobs(jobs: list[Job], eb: EvidenceBase,
              draw: bool) -> list[tuple[Any, float, Figures, bool]]:
    from pclbayes.report.sections import precompute

    out = []
    for spec, save_to, key, reuse in jobs:
        rec = _from_cache(spec, key, save_to, eb) if reuse and key else None
        if rec is None:
            model, seconds = _fit_one(spec, eb, save_to, key)
        else:
            start = time.perf_counter()
            model = rec.model
            precompute(model)
            seconds = rec.seconds + time.perf_counter() - start
        figures: Figures = {}
        if draw:
            start = time.perf_counter()
            try:
                figures = _figures_of(spec, model, eb)
            except Exception:  # the report draws it again itself (and raises there)
                logger.debug("figures of %s left to the report", spec.name, exc_info=True)
            seconds += time.perf_counter() - start
        out.append((model, seconds, figures, rec is not None))
    return out


def _cache_key(spec: Spec, eb: EvidenceBase) -> str:
    return fitcache.fit_key(resolved_spec(spec), eb.data_hash, str(eb.source))


def _from_cache(spec: Spec, key: str, save_to: Path | None,
                eb: EvidenceBase | None = None) -> FitRecord | None:
    start = time.perf_counter()
    with warnings.catch_warnings():  # the verdict is in model.diagnostics_, as for a new fit
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fitcache.load(key, spec=resolved_spec(spec),
                              data_hash=None if eb is None else eb.data_hash, copy_to=save_to)
    if model is None:
        return None
    return FitRecord(spec, model, time.perf_counter() - start, cached=True)


def _compile_group(spec: Spec) -> tuple:
    """Specifications likely to share one compiled model (fitted in the same process).

    Data and prior values are inputs of the compiled graphs (:mod:`pclbayes.nuts`): response
    models share one graph per model type, survival models one per set of options (the
    grouping only matters when the shape differs by group).
    """
    if spec.family == "response":
        return ("response", str(spec.options.get("model", "beta-binomial")))
    skip = {"horizons", "title"} | ({"by"} if spec.options.get("shape", "shared") == "shared"
                                    else set())
    return ("survival", *sorted((k, str(v)) for k, v in spec.options.items() if k not in skip))


#: Rough warm costs (seconds, 2 cores) used to order the work: compiling one model and
#: one fit with its tables and figures, per family (``benchmarks/bench_report.py``); a
#: fit read from the fit cache (group ``("cached", family)``) compiles nothing and costs
#: its reading, tables and figures.
_COMPILE_COST = {"response": 2.0, "survival": 5.0, "cached": 0.0}
_FIT_COST = {"response": 0.5, "survival": 2.0}
_CACHED_COST = {"response": 0.4, "survival": 1.0}


def _schedule(groups: dict[tuple, list[int]], jobs: int = 1) -> list[list[int]]:
    r"""Batches of fits handed to the worker processes, longest first.

    A batch is fitted by one worker, which compiles its model once. A free worker takes
    the next batch, so handing out the longest first keeps the workers finishing together
    (the "longest processing time first" rule). A group's cost is one compilation plus its
    fits, :math:`c_g + k_g f_g`; a group whose fits alone exceed a worker's share of the
    whole, :math:`k_g f_g > T / J` with :math:`T = \sum_g (c_g + k_g f_g)`, is split into
    :math:`\lceil k_g f_g / (T / J) \rceil` batches (at most ``jobs``), each paying the
    compilation again (from the on-disk compile cache) but run side by side. Fits keep
    their order within a batch; every fit has its own seed, so no number depends on the
    batches.
    """
    def fit_cost(g: tuple) -> float:
        return _CACHED_COST[g[1]] if g[0] == "cached" else _FIT_COST[g[0]]

    def cost(g: tuple, k: int) -> float:
        return _COMPILE_COST[g[0]] + fit_cost(g) * k

    total = sum(cost(g, len(idx)) for g, idx in groups.items())
    share = total / max(jobs, 1)
    batches: list[tuple[float, list[int]]] = []
    for g, idx in groups.items():
        fits = fit_cost(g) * len(idx)
        parts = min(len(idx), max(jobs, 1), max(1, math.ceil(fits / share - 1e-9)))
        size = math.ceil(len(idx) / parts)
        for start in range(0, len(idx), size):
            chunk = idx[start:start + size]
            batches.append((cost(g, len(chunk)), chunk))
    batches.sort(key=lambda b: b[0], reverse=True)  # stable: equal costs keep their order
    return [chunk for _, chunk in batches]


def _ignore_sigint() -> None:
    """Worker initialiser: Ctrl-C is for the main process, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _in_workers(batches: list[list[tuple[int, Job]]], eb: EvidenceBase, jobs: int,
                record: Callable[[int, tuple[Any, float, Figures, bool]], None]) -> None:
    """Fit the batches in ``jobs`` worker processes; ``record(i, result)`` each fit.

    Each worker imports pclbayes (and the sampler) once and fits every batch it takes;
    it renders the figures of each fit's own sections too (:func:`_figures_of`).

    ``record`` is called in the main process for every fit of a batch once it completes.

    The workers ignore SIGINT (they are started with it ignored and keep it so): a Ctrl-C
    reaches the main process, which then, as on any error, cancels the waiting batches
    and terminates the workers at once instead of waiting for their fits.
    """
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_ignore_sigint)
    futures: dict[Future, list[int]] = {}
    try:
        with sigint_deferred():  # the workers are started here and inherit SIG_IGN
            for batch in batches:
                fut = pool.submit(_fit_batch, [job for _, job in batch], eb, True)
                futures[fut] = [i for i, _ in batch]
        for fut in as_completed(futures):
            results, logged = fut.result()
            for entry in logged:
                logging.getLogger(entry.name).handle(entry)
            for i, res in zip(futures[fut], results, strict=True):
                record(i, res)
    except BaseException:
        _stop_workers(pool, futures)
        raise
    pool.shutdown()


def _stop_workers(pool: ProcessPoolExecutor, futures: Iterable[Future]) -> None:
    """Cancel the batches not started and end the worker processes now.

    SIGTERM first, SIGKILL to any still alive after a second.
    """
    with sigint_deferred():
        for fut in futures:
            fut.cancel()
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + 1.0
        for proc in processes:
            proc.join(max(deadline - time.monotonic(), 0.01))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)


def run_fits(
    eb: EvidenceBase, specs: list[Spec], *, jobs: int = 1, progress: Progress | None = None,
    save: dict[str, Path] | None = None, cache: bool = False, refit: bool = False,
    figures: Figures | None = None,
) -> list[FitRecord]:
    """Fit every specification, reporting progress as ``[i/n] name ...``.

    With ``jobs > 1`` the fits run in that many worker processes. Most of a small fit's
    time is the one-off compilation of its model, which uses one core; two processes keep
    both cores busy. Every fit has its own seed, so the numbers do not depend on ``jobs``.
    ``save`` maps specification names to the netCDF files their fits are written to.
    With ``cache`` a fit stored in the fit cache (:mod:`pclbayes.fitcache`) under the same
    key is reused (unless ``refit``) and every new fit is stored.

    With ``jobs > 1`` the workers also read the fits stored in the fit cache (and compute
    their tables), so that work is shared by the cores too, and they render the figures of
    each fit's own sections;
    they are added to ``figures`` (by figure key, for
    :attr:`pclbayes.report.html.Page.prerendered`). Fits are batched and ordered by
    their estimated cost, longest first (:func:`_schedule`).

    On an error or an interruption (``KeyboardInterrupt``) the worker processes are
    terminated at once and the exception propagates.
    """
    n = len(specs)
    save = save or {}
    keys = {i: _cache_key(spec, eb) if cache else None for i, spec in enumerate(specs)}
    reuse = cache and not refit
    reused: dict[int, FitRecord] = {}
    in_workers = jobs > 1 and len(specs) > 1
    if reuse and not in_workers:
        for i, spec in enumerate(specs):
            rec = _from_cache(spec, keys[i], save.get(spec.name), eb)
            if rec is not None:
                reused[i] = rec
        if progress and reused:
            progress(f"{len(reused)} of {n} fits reused from the fit cache "
                     f"({fitcache.cache_dir()}; --refit fits them again)")
    todo = [i for i in range(n) if i not in reused]
    results: dict[int, FitRecord] = {}

    def done(i: int, seconds: float, cached: bool = False) -> None:
        if progress:
            how = "read from the fit cache" if cached else "done"
            progress(f"[{len(results)}/{len(todo)}] {specs[i].name} {how} in {seconds:.1f} s")

    if not in_workers:
        for i in todo:
            spec = specs[i]
            if progress:
                progress(f"[{len(results) + 1}/{len(todo)}] fitting {spec.name} ({spec.family})")
            results[i] = FitRecord(spec, *_fit_one(spec, eb, save.get(spec.name), keys[i]))
            done(i, results[i].seconds)
    else:
        stored = {i for i in todo if reuse and fitcache.has(keys[i])}
        if progress:
            new, where = len(todo) - len(stored), (f"{fitcache.cache_dir()}; --refit fits "
                                                   "them again")
            what = (f"fitting {new} models" if not stored else
                    f"reading {len(stored)} fits from the fit cache ({where})" if not new else
                    f"fitting {new} models and reading {len(stored)} from the fit cache "
                    f"({where})")
            progress(f"{what} in {jobs} worker processes")
        groups: dict[tuple, list[int]] = {}
        for i in todo:
            group = ("cached", specs[i].family) if i in stored else _compile_group(specs[i])
            groups.setdefault(group, []).append(i)
        batches = [[(i, (specs[i], save.get(specs[i].name), keys[i], i in stored))
                    for i in idx] for idx in _schedule(groups, jobs)]

        def record(i: int, res: tuple[Any, float, Figures, bool]) -> None:
            model, seconds, drawn, cached = res
            results[i] = FitRecord(specs[i], model, seconds, cached=cached)
            if figures is not None:
                figures.update(drawn)
            done(i, seconds, cached)

        _in_workers(batches, eb, jobs, record)
    return [reused[i] if i in reused else results[i] for i in range(n)]


def build_report(
    data: str | Path | None = None,
    *,
    models: str | Path | None = None,
    out: str | Path = "report",
    seed: int | None = None,
    quick: bool = False,
    jobs: int | None = None,
    cache: bool = True,
    refit: bool = False,
    progress: Progress | None = None,
    time_unit: str | None = None,
) -> Report:
    """Fit every specification in ``models`` and write the report into ``out``.

    Parameters
    ----------
    data : path, optional
        Evidence base (default: bundled).
    models : path, optional
        Directory of TOML specifications (default: the bundled ``models/``).
    out : path
        Output directory: ``report.html``, ``figures/`` (PNG and SVG), ``summary.csv``,
        ``summary.json`` and ``fits/*.nc``. The report is built in a temporary folder
        beside it and replaces it whole only when complete
        (:mod:`pclbayes.report.outdir`): a failed or interrupted run leaves the previous
        report as it was. A folder holding other files is refused, and so is a folder
        another run is writing.
    seed : int, optional
        Overrides every specification's seed.
    quick : bool
        Fewer draws (see :data:`QUICK`); the report says so at the top.
    jobs : int, optional
        Worker processes for the fits (default: 2 if the machine has 2 or more cores).
    cache : bool
        Reuse fits stored in the fit cache by earlier reports and store new ones
        (:mod:`pclbayes.fitcache`: keyed by specification, data, seed and software, so a
        reused fit is the fit this run would make). The report lists the reused fits.
    refit : bool
        Fit everything again (and update the cache).
    progress : callable, optional
        Called with one line of text per step.
    time_unit : {"days", "weeks", "months", "years"}, optional
        Unit of the data's times (default: the unit the data declare, else months); used
        by every survival fit, table, axis and JSON field.

    Returns
    -------
    Report

    Raises
    ------
    SpecError
        Before anything is fitted: no specification in ``models``, an invalid one
        (naming its file and key), two with one name, a name that is not a plain file
        name, or none that fits the data.
    DataValidationError
        If the data do not validate.
    ReportOutputError
        If ``out`` is in use by another run, is not a folder, or holds other files.
    """
    out = Path(out)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SpecError(f"jobs must be an integer >= 1, got {jobs!r}")
    if seed is not None:
        check_seed(seed)
    specs = _read_specs(Path(models or BUNDLED_MODELS), quick=quick, seed=seed)
    with OutputFolder(out) as folder:
        eb = load(data, time_unit=time_unit)
        fitted, notes = adapt_specs(specs, eb)
        if not fitted:
            raise SpecError(f"{models or BUNDLED_MODELS}: none of the {len(specs)} "
                            f"specifications can be fitted to these data ({'; '.join(notes)})")
        for note in notes:
            logger.warning(note)
            if progress:
                progress(note)
        staging = folder.staging()
        with _each_warning_once():
            report, store = _build(staging, eb, fitted, notes, seed=seed, quick=quick,
                                   jobs=min(2, os.cpu_count() or 1) if jobs is None else jobs,
                                   cache=cache, refit=refit, progress=progress)
        folder.commit()
        if store is not None:  # from the committed folder: storing cannot lose the report
            store(out)
    logger.info("wrote %s", out / "report.html")
    return dataclasses.replace(report, out=out, html=out / "report.html")


class _Once(logging.Filter):
    """Lets each distinct (logger, level, message) through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


@contextlib.contextmanager
def _each_warning_once() -> Iterator[None]:
    """Show each distinct log message once while a report is built.

    The same note (e.g. episodes left out of OS for want of a time) is logged by every fit
    that reads those data, in every process; the report's stderr shows it once.
    """
    handlers = [h for h in logging.getLogger().handlers or [logging.lastResort] if h]
    filters = [_Once() for _ in handlers]  # one each: every handler shows a message once
    for handler, once in zip(handlers, filters, strict=True):
        handler.addFilter(once)
    try:
        yield
    finally:
        for handler, once in zip(handlers, filters, strict=True):
            handler.removeFilter(once)


def _read_specs(folder: Path, *, quick: bool, seed: int | None) -> list[Spec]:
    """Every specification in ``folder``, adjusted to the run and validated in full.

    Raises
    ------
    SpecError
        If the folder holds no specification, or one is invalid (naming its file and the
        key), including its prior-sensitivity variants; or two share a name.
    """
    specs = [_adjust(s, quick=quick, seed=seed) for s in list_specs(folder)]
    if not specs:
        raise SpecError(f"{folder}: no model specifications (*.toml files) in this folder")
    names: dict[str, Spec] = {}
    for spec in specs:
        for one in (spec, *sensitivity_specs(spec)):
            _check_name(one)
            resolved_spec(one)
        if spec.name in names:
            raise SpecError(f"{_where(spec)}[model] name: {spec.name!r} is also the name of "
                            f"{names[spec.name].path or 'another specification'}; every "
                            "specification needs a name of its own")
        names[spec.name] = spec
    return specs


def _check_name(spec: Spec) -> None:
    """A specification's name names its files (``fits/<name>.nc``): one plain file name."""
    name = spec.name
    seps = {"/", "\\", "\0", os.sep, os.altsep} - {None}
    if name in ("", ".", "..") or any(sep in name for sep in seps):
        raise SpecError(f"{_where(spec)}[model] name: {name!r} cannot name the report's files "
                        "(fits/<name>.nc); use letters, digits, '_' and '-'")


def _file_in(folder: Path, spec: Spec, suffix: str) -> Path:
    """``folder/<name><suffix>``, checked to lie directly inside ``folder``."""
    path = folder / f"{spec.name}{suffix}"
    if path.resolve().parent != folder.resolve():
        raise SpecError(f"{_where(spec)}[model] name: {spec.name!r} would write outside "
                        f"{folder}")
    return path


def _build(out: Path, eb: EvidenceBase, specs: list[Spec], notes: list[str], *,
           seed: int | None, quick: bool, jobs: int, cache: bool, refit: bool,
           progress: Progress | None) -> tuple[Report, Callable[[Path], None] | None]:
    """Fit ``specs`` and their variants and write every file of the report into ``out``.

    With ``cache``, a report stored by an earlier run with the same inputs
    (:mod:`pclbayes.report.stored`) is copied instead, unless ``refit``. Returns the
    report and, for a report made here with ``cache``, the function that stores it, to be
    called with the report's folder once it is complete.
    """
    from pclbayes.report import stored

    sens_specs = [s for spec in specs for s in sensitivity_specs(spec)
                  if not (quick and spec.family == "survival")]
    # survival models first: they take longest, so the workers finish together
    order = sorted(specs + sens_specs, key=lambda s: s.family != "survival")
    (out / "fits").mkdir()
    save = {s.name: _file_in(out / "fits", s, ".nc") for s in specs}
    keys = {s.name: _cache_key(s, eb) for s in order} if cache else {}
    key = stored.report_key(_report_inputs(eb, specs, keys, notes, quick=quick, seed=seed)
                            ) if cache else None
    if key is not None and not refit:
        restored = stored.restore(key, out)
        if restored is not None:
            if progress:
                progress("every input is unchanged: the report stored by an earlier run is "
                         f"copied ({stored.directory()}; --refit makes it again)")
            return _stored_report(out, eb, specs, sens_specs, keys, notes, *restored,
                                  quick=quick, seed=seed), None
    if progress and sens_specs:
        progress(f"{len(specs)} specifications and {len(sens_specs)} prior-sensitivity variants")
    from pclbayes.report import sections
    from pclbayes.report.evidence import evidence_section

    with _warnings_logged() as logged:
        drawn: Figures = {}
        records = {rec.spec.name: rec
                   for rec in run_fits(eb, order, jobs=jobs, progress=progress, save=save,
                                       cache=cache, refit=refit, figures=drawn)}
        fits = [records[s.name] for s in specs]
        sensitivity = []
        for s in sens_specs:
            rec = records[s.name]
            rec.variant = s.name.split("@", 1)[1]
            sensitivity.append(rec)

        page = Page(sections.page_title(eb), out / "figures", prerendered=drawn)
        flags = sections.flags(fits + sensitivity, eb)
        sections.summary_box(page, fits, eb)
        evidence_section(page, eb)
        sections.results_sections(page, fits, eb)
        sections.checks_section(page, fits)
        sections.sensitivity_section(page, fits, sensitivity, quick=quick)
        sections.diagnostics_section(page, fits + sensitivity, eb, quick=quick)
        sections.methods_section(page, fits, quick=quick)

    reused = [rec.spec.name for rec in fits + sensitivity if rec.cached]
    titles = {r.spec.name: findings.title_of(r) for r in fits}
    header = _header(eb, specs, flags, notes, quick=quick, seed=seed,
                     reused=(len(reused), len(fits) + len(sensitivity)), titles=titles)
    html_path = out / "report.html"
    html_path.write_text(page.render(header), encoding="utf-8")
    _write_summaries(out, fits, sensitivity, eb, seed=seed, quick=quick)
    report = Report(out, html_path, fits, sensitivity, flags, notes)
    if key is None:
        return report, None
    # what the report's fits logged, less what this run's cache said about itself
    said = [w for w in logged if w[0] not in (fitcache.__name__, stored.__name__)]
    meta = {"flags": flags, "titles": titles, "warnings": said,
            "seconds": {rec.spec.name: rec.seconds for rec in fits + sensitivity}}
    template = _page_from_the_cache(page, fits + sensitivity, eb, quick=quick)
    copies = {save[s.name].name: keys[s.name] for s in specs}

    def store(folder: Path) -> None:
        stored.store(key, folder, template, meta, copies, list(keys.values()))

    return report, store


def _page_from_the_cache(page: Page, records: list[FitRecord], eb: EvidenceBase, *,
                         quick: bool) -> str:
    """``page`` as a run reading every fit from the fit cache makes it, header left out.

    Only the diagnostics table says which fits were made in the run (and how long they
    took); it is drawn again with every fit marked as reused, so a stored report is the page
    a later run with the same inputs would make (:data:`pclbayes.report.stored.HEADER`
    stands for the header).
    """
    from pclbayes.report import sections
    from pclbayes.report.stored import HEADER

    scratch = Page(page.title, page.fig_dir)
    sections.diagnostics_section(scratch, [dataclasses.replace(r, cached=True)
                                           for r in records], eb, quick=quick)
    (redrawn,) = scratch.sections
    copy = dataclasses.replace(page, sections=[redrawn if s[0] == redrawn[0] else s
                                               for s in page.sections])
    return copy.render(HEADER)


def _report_inputs(eb: EvidenceBase, specs: list[Spec], keys: dict[str, str],
                   notes: list[str], *, quick: bool, seed: int | None) -> dict[str, Any]:
    """What a report depends on (:func:`pclbayes.report.stored.report_key`).

    Every specification in full (names, titles, variants and their reasons, ``[report]``;
    not the file it was read from, which the page does not show), the fit-cache key of
    every fit (the specification resolved, the data, the seed, the software and pclbayes'
    source), the notes on adapting the specifications to the data, ``quick``, ``seed``, the
    time unit, and matplotlib's version and settings (``rcParams``) with Pillow's version.
    """
    import matplotlib

    shown = [{k: v for k, v in dataclasses.asdict(s).items() if k != "path"} for s in specs]
    return {"specs": shown, "fits": keys, "notes": notes, "quick": quick, "seed": seed,
            "data": [eb.data_hash, str(eb.source)],
            "time_unit": [eb.time_unit, eb.time_unit_source],
            # the figures' software and style (a matplotlibrc, MPLCONFIGDIR)
            "matplotlib": [matplotlib.__version__, _pillow_version(),
                           sorted((k, repr(v)) for k, v in matplotlib.rcParams.items()
                                  if not k.startswith(_NOT_DRAWN))]}


#: matplotlib settings that do not change a saved figure (backends, windows, key bindings).
_NOT_DRAWN = ("backend", "interactive", "webagg.", "toolbar", "keymap.", "savefig.directory",
              "timezone", "tk.", "macosx.")


def _pillow_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pillow")
    except metadata.PackageNotFoundError:
        return "not installed"


def _stored_report(out: Path, eb: EvidenceBase, specs: list[Spec], sens_specs: list[Spec],
                   keys: dict[str, str], notes: list[str], template: str,
                   meta: dict[str, Any], *, quick: bool, seed: int | None) -> Report:
    """The :class:`Report` of a stored report copied into ``out``, with a new header.

    The warnings the stored report's build logged are logged again, so a copied report
    says on stderr what a built one says.
    """
    from pclbayes.report.stored import HEADER

    for name, level, message in meta["warnings"]:
        logging.getLogger(name).log(level, "%s", message)

    def record(spec: Spec) -> FitRecord:
        return FitRecord(spec, StoredFit(spec, keys[spec.name], eb.data_hash),
                         float(meta["seconds"][spec.name]), cached=True,
                         variant=spec.name.split("@", 1)[1] if "@" in spec.name else "default")

    fits, sensitivity = [record(s) for s in specs], [record(s) for s in sens_specs]
    n = len(fits) + len(sensitivity)
    header = _header(eb, specs, meta["flags"], notes, quick=quick, seed=seed,
                     reused=(n, n), titles=meta["titles"], stored=True)
    html_path = out / "report.html"
    html_path.write_text(template.replace(HEADER, header), encoding="utf-8")
    return Report(out, html_path, fits, sensitivity, list(meta["flags"]), notes, stored=True)


@contextlib.contextmanager
def _warnings_logged() -> Iterator[list[tuple[str, int, str]]]:
    """Collect ``(logger, level, message)`` of every distinct warning logged meanwhile."""
    seen: list[tuple[str, int, str]] = []

    class _Keep(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            seen.append((rec.name, rec.levelno, rec.getMessage()))

    handler = _Keep(logging.WARNING)
    handler.addFilter(_Once())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield seen
    finally:
        root.removeHandler(handler)


def _header(eb: EvidenceBase, specs: list[Spec], flags: list[str], notes: list[str], *,
            quick: bool, seed: int | None, reused: tuple[int, int] = (0, 0),
            titles: dict[str, str] | None = None, stored: bool = False) -> str:
    parts = [f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by pclbayes "
             f"{esc(versions()['pclbayes'])}; data {esc(eb.source)} "
             f"(hash <code>{esc(eb.data_hash[:16])}</code>); {len(specs)} model "
             f"specifications; seed {esc(seed if seed is not None else 'from each spec')}.</p>"]
    if quick:
        parts.append('<div class="note"><b>Quick mode:</b> fewer MCMC draws than the '
                     f"specifications ask for ({QUICK['chains']} chains x at most "
                     f"{QUICK['draws']} draws). Numbers are less precise; use the full run "
                     "for anything you report.</div>")
    if stored:
        parts.append('<div class="note"><b>Stored report:</b> every input of this report (the '
                     "specifications, the data, the seed and the software) is that of a report "
                     "made by an earlier run, so its page, figures and summaries are copied "
                     f"from it; its {reused[1]} fits are in the fit cache. Run "
                     "<code>pclbayes report --refit</code> to fit and make it again.</div>")
    elif reused[0]:
        parts.append(f'<div class="note"><b>Reused fits:</b> {reused[0]} of {reused[1]} fits '
                     "come from the fit cache of an earlier report with the same specification, "
                     "data, seed and software (listed under Diagnostics); run "
                     "<code>pclbayes report --refit</code> to fit them again.</div>")
    if notes:
        items = "".join(f"<li>{esc(labels.note(n, titles))}</li>" for n in notes)
        parts.append(f'<div class="note"><b>Specifications adapted to these data:</b>'
                     f"<ul>{items}</ul></div>")
    if flags:
        items = "".join(f"<li>{esc(f)}</li>" for f in flags)
        parts.append(f'<div class="alert"><b>Read with care:</b><ul>{items}</ul></div>')
    else:
        parts.append('<div class="ok">All fits the results rest on passed the convergence checks '
                     "(R-hat &le; 1.01, bulk and tail ESS &ge; 400, no divergent transitions); "
                     "the sensitivity variants are checked under Diagnostics.</div>")
    return "".join(parts)


def _write_summaries(out: Path, fits: list[FitRecord], sensitivity: list[FitRecord],
                     eb: EvidenceBase, *, seed: int | None, quick: bool) -> None:
    frames = []
    for rec in fits + sensitivity:
        df = rec.model.summary().copy()
        df.insert(0, "variant", rec.variant)
        df.insert(0, "fit", rec.spec.name.split("@", 1)[0])
        frames.append(df)
    if frames:
        pd.concat(frames, ignore_index=True).to_csv(out / "summary.csv", index=False)
    payload = {
        "data_hash": eb.data_hash,
        "seed": seed,
        "quick": quick,
        "versions": versions(),
        "fits": {rec.spec.name: rec.model.to_dict() for rec in fits},
        "sensitivity": {rec.spec.name: rec.model.to_dict() for rec in sensitivity},
    }
    (out / "summary.json").write_text(dumps(payload) + "\n", encoding="utf-8")
