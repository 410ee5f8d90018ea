"""``build_report``: run every specification and write the HTML report and its files."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pclbayes import fitcache
from pclbayes._paths import BUNDLED_MODELS
from pclbayes.data import EvidenceBase, load
from pclbayes.errors import ConvergenceWarning
from pclbayes.provenance import versions
from pclbayes.report.html import Page, esc
from pclbayes.specs import Spec, fit_spec, list_specs

logger = logging.getLogger(__name__)

#: Sampler settings of ``--quick`` (labelled as such in the report).
QUICK = {"draws": 600, "tune": 600, "chains": 4}

Progress = Callable[[str], None]


@dataclass
class FitRecord:
    """One fitted specification (or one prior-sensitivity variant of it)."""

    spec: Spec
    model: Any
    seconds: float
    variant: str = "default"
    cached: bool = False


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    out: Path
    html: Path
    fits: list[FitRecord]
    sensitivity: list[FitRecord] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _adjust(spec: Spec, *, quick: bool, seed: int | None) -> Spec:
    sampler = spec.sampler
    if quick:
        sampler = dataclasses.replace(sampler, **{k: min(getattr(sampler, k), v)
                                                  for k, v in QUICK.items()})
    return dataclasses.replace(spec, sampler=sampler, seed=spec.seed if seed is None else seed)


def adapt_specs(specs: list[Spec], eb: EvidenceBase) -> tuple[list[Spec], list[str]]:
    """Fit the specifications to the data at hand, saying what was changed or skipped.

    A grouping column the data lack (e.g. ``target`` in a user's count file) becomes
    ``by = "none"``; a survival specification without times, or a response specification
    without its endpoint, is skipped; specifications that become identical run once.
    """
    from pclbayes.data._schema import ENDPOINT_COLUMNS

    eps = eb.episodes if not eb.patients.empty else pd.DataFrame()
    agg = eb.aggregates
    pat_cols, agg_cols = set(eps.columns), set(agg.columns)
    agg_endpoints = set(agg["endpoint"].dropna()) if "endpoint" in agg_cols else None
    out, notes, seen = [], [], set()
    for spec in specs:
        opts = dict(spec.options)
        endpoint = str(opts.get("endpoint", "pfs" if spec.family == "survival" else "orr"))
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
        by = str(opts.get("by", "none"))
        if by != "none" and by not in cols:
            notes.append(f"{spec.name}: the data have no '{by}' column, so it was fitted "
                         "without grouping (by = none)")
            opts["by"] = by = "none"
        elif by != "none" and _levels(by, eps, agg) < 2:
            notes.append(f"{spec.name}: '{by}' has a single level in these data, so it was "
                         "fitted without grouping (by = none)")
            opts["by"] = by = "none"
        key = (spec.family, key_endpoint, by,
               tuple(sorted((k, str(v)) for k, v in opts.items() if k not in ("by", "endpoint"))))
        if key in seen:
            notes.append(f"{spec.name}: skipped, identical to an earlier fit on these data")
            continue
        seen.add(key)
        out.append(dataclasses.replace(spec, options=opts))
    return out, notes


def _levels(column: str, *frames: pd.DataFrame) -> int:
    values = set()
    for df in frames:
        if column in df.columns:
            values |= set(df[column].dropna().astype(str))
    return len(values)


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
        fitcache.store(cache_key, model, netcdf=save_to)
    return model, time.perf_counter() - start


def _fit_batch(jobs: list[tuple[Spec, Path | None, str | None]], eb: EvidenceBase
               ) -> list[tuple[Any, float]]:
    return [_fit_one(spec, eb, save_to, key) for spec, save_to, key in jobs]


def _cache_key(spec: Spec, eb: EvidenceBase) -> str:
    return fitcache.fit_key(spec.to_dict(), eb.data_hash, str(eb.source))


def _from_cache(spec: Spec, key: str, save_to: Path | None) -> FitRecord | None:
    start = time.perf_counter()
    model = fitcache.load(key)
    if model is None:
        return None
    if save_to is not None and not fitcache.copy_netcdf(key, save_to):
        model.save(save_to)
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
#: one fit with its tables, per family (measured with ``benchmarks/bench_report.py``).
_COMPILE_COST = {"response": 2.0, "survival": 5.0}
_FIT_COST = {"response": 0.35, "survival": 1.5}


def _schedule(groups: dict[tuple, list[int]]) -> list[list[int]]:
    """Order of the groups handed to the worker processes: longest first.

    A free worker takes the next group, so handing out the longest jobs first keeps the
    workers finishing together (the "longest processing time first" rule). A group's cost
    is one compilation plus its fits.
    """
    def cost(g: tuple) -> float:
        return _COMPILE_COST[g[0]] + _FIT_COST[g[0]] * len(groups[g])

    return [groups[g] for g in sorted(groups, key=cost, reverse=True)]


def run_fits(
    eb: EvidenceBase, specs: list[Spec], *, jobs: int = 1, progress: Progress | None = None,
    save: dict[str, Path] | None = None, cache: bool = False, refit: bool = False,
) -> list[FitRecord]:
    """Fit every specification, reporting progress as ``[i/n] name ...``.

    With ``jobs > 1`` the fits run in that many worker processes. Most of a small fit's
    time is the one-off compilation of its model, which uses one core; two processes keep
    both cores busy. Every fit has its own seed, so the numbers do not depend on ``jobs``.
    ``save`` maps specification names to the netCDF files their fits are written to.
    With ``cache`` a fit stored in the fit cache (:mod:`pclbayes.fitcache`) under the same
    key is reused (unless ``refit``) and every new fit is stored.
    """
    n = len(specs)
    save = save or {}
    keys = {i: _cache_key(spec, eb) if cache else None for i, spec in enumerate(specs)}
    reused: dict[int, FitRecord] = {}
    if cache and not refit:
        for i, spec in enumerate(specs):
            rec = _from_cache(spec, keys[i], save.get(spec.name))
            if rec is not None:
                reused[i] = rec
        if progress and reused:
            progress(f"{len(reused)} of {n} fits reused from the fit cache "
                     f"({fitcache.cache_dir()}; --refit fits them again)")
    todo = [i for i in range(n) if i not in reused]
    results: dict[int, tuple[Any, float]] = {}

    def done(i: int, seconds: float) -> None:
        if progress:
            progress(f"[{len(results)}/{len(todo)}] {specs[i].name} done in {seconds:.1f} s")

    if jobs <= 1 or len(todo) <= 1:
        for i in todo:
            spec = specs[i]
            if progress:
                progress(f"[{len(results) + 1}/{len(todo)}] fitting {spec.name} ({spec.family})")
            results[i] = _fit_one(spec, eb, save.get(spec.name), keys[i])
            done(i, results[i][1])
    else:
        if progress:
            progress(f"fitting {len(todo)} models in {jobs} worker processes")
        groups: dict[tuple, list[int]] = {}
        for i in todo:
            groups.setdefault(_compile_group(specs[i]), []).append(i)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_fit_batch, [(specs[i], save.get(specs[i].name), keys[i])
                                                for i in idx], eb): idx
                       for idx in _schedule(groups)}
            for fut in as_completed(futures):
                for i, res in zip(futures[fut], fut.result(), strict=True):
                    results[i] = res
                    done(i, res[1])
    return [reused[i] if i in reused else FitRecord(spec, *results[i])
            for i, spec in enumerate(specs)]


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
        ``summary.json`` and ``fits/*.nc``.
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
    """
    from pclbayes.report import sections
    from pclbayes.report.evidence import evidence_section

    out = Path(out)
    for stale in [*out.glob("fits/*.nc"), *out.glob("figures/*.png"), *out.glob("figures/*.svg")]:
        stale.unlink()  # files of an earlier report in the same folder
    (out / "fits").mkdir(parents=True, exist_ok=True)
    eb = load(data)
    specs = [_adjust(s, quick=quick, seed=seed) for s in list_specs(models or BUNDLED_MODELS)]
    specs, notes = adapt_specs(specs, eb)
    for note in notes:
        logger.warning(note)
        if progress:
            progress(note)
    sens_specs = [s for spec in specs for s in sections.sensitivity_specs(spec)
                  if not (quick and spec.family == "survival")]
    if progress and sens_specs:
        progress(f"{len(specs)} specifications and {len(sens_specs)} prior-sensitivity variants")
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1)
    # survival models first: they take longest, so the workers finish together
    order = sorted(specs + sens_specs, key=lambda s: s.family != "survival")
    save = {s.name: out / "fits" / f"{s.name}.nc" for s in specs}
    records = {rec.spec.name: rec
               for rec in run_fits(eb, order, jobs=jobs, progress=progress, save=save,
                                   cache=cache, refit=refit)}
    fits = [records[s.name] for s in specs]
    sensitivity = []
    for s in sens_specs:
        rec = records[s.name]
        rec.variant = s.name.split("@", 1)[1]
        sensitivity.append(rec)

    page = Page("pclbayes report: CAR T-cell therapy in plasma cell leukemia", out / "figures")
    flags = sections.flags(fits + sensitivity, eb)
    evidence_section(page, eb)
    sections.response_sections(page, [r for r in fits if r.spec.family == "response"])
    sections.survival_sections(page, [r for r in fits if r.spec.family == "survival"], eb)
    sections.checks_section(page, fits)
    sections.sensitivity_section(page, fits, sensitivity, quick=quick)
    sections.diagnostics_section(page, fits + sensitivity, eb, quick=quick)
    sections.methods_section(page, fits, quick=quick)

    reused = [rec.spec.name for rec in fits + sensitivity if rec.cached]
    header = _header(eb, specs, flags, notes, quick=quick, seed=seed,
                     reused=(len(reused), len(fits) + len(sensitivity)))
    html_path = out / "report.html"
    html_path.write_text(page.render(header), encoding="utf-8")
    _write_summaries(out, fits, sensitivity, eb, seed=seed, quick=quick)
    logger.info("wrote %s", html_path)
    return Report(out, html_path, fits, sensitivity, flags, notes)


def _header(eb: EvidenceBase, specs: list[Spec], flags: list[str], notes: list[str], *,
            quick: bool, seed: int | None, reused: tuple[int, int] = (0, 0)) -> str:
    parts = [f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by pclbayes "
             f"{esc(versions()['pclbayes'])}; data {esc(eb.source)} "
             f"(hash <code>{esc(eb.data_hash[:16])}</code>); {len(specs)} model "
             f"specifications; seed {esc(seed if seed is not None else 'from each spec')}.</p>"]
    if quick:
        parts.append('<div class="note"><b>Quick mode:</b> fewer MCMC draws than the '
                     f"specifications ask for ({QUICK['chains']} chains x at most "
                     f"{QUICK['draws']} draws). Numbers are less precise; use the full run "
                     "for anything you report.</div>")
    if reused[0]:
        parts.append(f'<div class="note"><b>Reused fits:</b> {reused[0]} of {reused[1]} fits '
                     "come from the fit cache of an earlier report with the same specification, "
                     "data, seed and software (listed under Diagnostics); run "
                     "<code>pclbayes report --refit</code> to fit them again.</div>")
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        parts.append(f'<div class="note"><b>Specifications adapted to these data:</b>'
                     f"<ul>{items}</ul></div>")
    if flags:
        items = "".join(f"<li>{esc(f)}</li>" for f in flags)
        parts.append(f'<div class="alert"><b>Read with care:</b><ul>{items}</ul></div>')
    else:
        parts.append('<div class="ok">All fits passed the convergence checks (R-hat &le; 1.01, '
                     "bulk and tail ESS &ge; 400, no divergent transitions).</div>")
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
    from pclbayes.cli._output import dumps

    payload = {
        "data_hash": eb.data_hash,
        "seed": seed,
        "quick": quick,
        "versions": versions(),
        "fits": {rec.spec.name: rec.model.to_dict() for rec in fits},
        "sensitivity": {rec.spec.name: rec.model.to_dict() for rec in sensitivity},
    }
    (out / "summary.json").write_text(dumps(payload) + "\n", encoding="utf-8")
