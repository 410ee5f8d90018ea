"""Same specification, data and seed: the same numbers, bit for bit.

Whatever PyTensor's numba compile cache holds (``<base_compiledir>/numba``: empty, or
filled by an earlier run), whichever process fits (a fresh CLI process, a report worker,
the report's own process), however many worker processes a report uses, whether a fit was
sampled or read back from the fit cache, and in which order the fits of one process compile
their shared models: the results are the same bytes.

The commands run in fresh processes (``python -m pclbayes``) with ``PYTENSOR_FLAGS`` pointing
``base_compiledir`` at a temporary folder, so a first run compiles everything and a second
run loads the compiled functions from that folder. A cold compile takes 10-40 s per model
structure on two cores, so the runs are made once per module, independent chains of runs
side by side (:func:`runs`), and the tests compare their outputs.

The default suite runs the response model (MCMC) through every route; the survival model,
whose cold compile is the slowest, runs the same checks under the ``slow`` marker (as does
``tests/slow/test_reproducible_full.py`` for every shipped specification at full size).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pclbayes
from pclbayes import nuts
from pclbayes._paths import BUNDLED_MODELS
from pclbayes.data import load
from pclbayes.errors import ConvergenceWarning
from pclbayes.jsonio import dumps
from pclbayes.specs import Spec, fit_spec, load_spec

SURVIVAL = ("fit", "survival", "--endpoint", "pfs", "--by", "target", "--json")
RESPONSE = ("fit", "response", "--endpoint", "cr", "--by", "target", "--method", "mcmc",
            "--json")
#: The report of the default suite: one response specification and its three prior
#: variants (one compiled model); the slow suite adds a survival specification.
REPORT_SPECS = ("response_cr_by_target.toml",)
REPORT_SPECS_SLOW = ("response_cr_by_target.toml", "survival_pfs_by_target.toml")
TIMEOUT = 900  # seconds per command: a cold report on a busy two-core machine


def pytensor_env(compile_dir: Path, fit_cache: Path) -> dict[str, str]:
    """The environment of a run: its own compile cache and its own fit cache."""
    env = dict(os.environ)
    flags = [f for f in env.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir=")]
    env["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={compile_dir}"])
    env["PCLBAYES_CACHE_DIR"] = str(fit_cache)
    return env


def pclbayes_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``python -m pclbayes ARGS`` in a fresh process; its standard output."""
    proc = subprocess.run([sys.executable, "-m", "pclbayes", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, (
        f"pclbayes {' '.join(args)} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def numba_cache_files(compile_dir: Path) -> list[Path]:
    """Index files of the functions PyTensor's numba backend stored under ``compile_dir``."""
    return sorted((compile_dir / "numba").glob("*.nbi"))


def source_digest() -> str:
    """SHA-256 of pclbayes' source files: runs compared must run the same code."""
    package = Path(pclbayes.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def skip_if_source_changed(run: dict[str, object]) -> None:
    """Skip when pclbayes' source files were edited while the runs of ``run`` were made.

    The runs would then compare two versions of the code (and the fit cache, keyed by the
    source, rightly refuses to reuse a fit made by the other).
    """
    if run["source"][0] != run["source"][1]:
        pytest.skip("pclbayes' source files changed between the runs being compared")


def cold_then_warm(args: Sequence[str], compile_dir: Path, fit_cache: Path,
                   cwd: Path) -> dict[str, object]:
    """Run one command on an empty compile cache, then again on the cache it filled."""
    assert not compile_dir.exists()
    env = pytensor_env(compile_dir, fit_cache)
    before = source_digest()
    cold = pclbayes_cli(args, env, cwd)
    stored = numba_cache_files(compile_dir)
    warm = pclbayes_cli(args, env, cwd)
    return {"cold": cold, "warm": warm, "stored": stored, "source": (before, source_digest())}


def report_runs(models: Path, compile_dir: Path, fit_cache: Path, out: Path,
                extra: Sequence[str] = ()) -> dict[str, object]:
    """Three reports of ``models``; the folder each was written to, and their standard output.

    ``cold``: empty compile cache, two worker processes, no fit cache. ``warm``: the compile
    cache the first one filled, fitted in the report's own process (``--jobs 1``), every fit
    sampled again and stored (``--refit``). ``cached``: every fit read from the fit cache
    (the report the second run stored is removed first). ``stored``: the whole report
    copied from the one the third run stored.
    """
    assert not compile_dir.exists()
    env = pytensor_env(compile_dir, fit_cache)
    base = ("report", "--models", str(models), "--quiet", *extra)
    dirs = {name: out / name for name in ("cold", "warm", "cached", "stored")}
    before = source_digest()
    stdout = {
        "cold": pclbayes_cli([*base, "--out", str(dirs["cold"]), "--jobs", "2", "--no-cache"],
                             env, out),
        "warm": pclbayes_cli([*base, "--out", str(dirs["warm"]), "--jobs", "1", "--refit"],
                             env, out),
    }
    shutil.rmtree(fit_cache / "reports")
    stdout["cached"] = pclbayes_cli([*base, "--out", str(dirs["cached"])], env, out)
    stdout["stored"] = pclbayes_cli([*base, "--out", str(dirs["stored"])], env, out)
    return {"dirs": dirs, "stdout": stdout, "stored": numba_cache_files(compile_dir),
            "source": (before, source_digest())}


def small_models(dest: Path, names: Sequence[str]) -> Path:
    """A ``--models`` folder holding copies of the shipped specifications ``names``."""
    dest.mkdir(parents=True)
    for name in names:
        (dest / name).write_text((BUNDLED_MODELS / name).read_text(encoding="utf-8"),
                                 encoding="utf-8")
    return dest


def assert_same_files(dirs: dict[str, Path], names: Sequence[str]) -> None:
    """Every file ``names`` is byte-identical in every folder of ``dirs``."""
    for name in names:
        contents = {run: (d / name).read_bytes() for run, d in dirs.items()}
        first = next(iter(contents.values()))
        differ = [run for run, c in contents.items() if c != first]
        assert not differ, f"{name} differs between runs {sorted(contents)}: {differ}"


def run_chains(root: Path, jobs: dict[str, tuple]) -> dict[str, object]:
    """Run the chains of runs ``jobs`` side by side; each chain's outputs, or its error.

    Each chain has its own compile cache, so "cold" means cold for it; running the chains
    at once keeps both cores busy during the single-threaded compilations.
    """
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job[0], *job[1:]) for name, job in jobs.items()}
        # a failed chain fails only the tests that read it
        return {name: fut.exception() or fut.result() for name, fut in futures.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    """The runs of the default suite, made once: two chains of runs side by side.

    ``response``: ``fit response --method mcmc`` on an empty compile cache, then on the
    filled one. ``report``: :func:`report_runs` on a folder of one response specification
    (with its prior variants), with ``--quick``.
    """
    root = tmp_path_factory.mktemp("reproducible")
    models = small_models(root / "models", REPORT_SPECS)
    return run_chains(root, {
        "response": (cold_then_warm, RESPONSE, root / "compile-response",
                     root / "fits-response", root),
        "report": (report_runs, models, root / "compile-report", root / "fits-report",
                   root, ("--quick",)),
    })


@pytest.fixture(scope="module")
def slow_runs(tmp_path_factory) -> dict[str, object]:
    """The runs of the slow checks: the survival fit, and a report with a survival fit."""
    root = tmp_path_factory.mktemp("reproducible-slow")
    models = small_models(root / "models", REPORT_SPECS_SLOW)
    return run_chains(root, {
        "survival": (cold_then_warm, SURVIVAL, root / "compile-survival",
                     root / "fits-survival", root),
        "report": (report_runs, models, root / "compile-report", root / "fits-report",
                   root, ("--quick",)),
    })


def chain(runs: dict[str, object], name: str) -> dict[str, object]:
    """The outputs of the chain of runs ``name`` (re-raising its error if it failed)."""
    result = runs[name]
    if isinstance(result, BaseException):
        raise result
    return result


@pytest.mark.heavy
@pytest.mark.parametrize("family", [pytest.param("survival", marks=pytest.mark.slow),
                                    "response"])
def test_fit_cli_same_json_on_cold_and_warm_compile_cache(request, family):
    """``pclbayes fit ... --json``: the same text whether the models compile or load.

    With numba's fast-math flags the survival fit failed this: the log density compiled
    afresh and the one loaded from the cache differed in the last bits, and NUTS turned
    that into other draws (posterior median PFS 8.02 vs 8.15 months).
    """
    runs = request.getfixturevalue("slow_runs" if family == "survival" else "runs")
    run = chain(runs, family)
    skip_if_source_changed(run)
    assert run["stored"], "the first run stored no compiled functions: the second is not warm"
    assert run["cold"].lstrip().startswith("{")
    assert run["cold"] == run["warm"]


@pytest.mark.heavy
@pytest.mark.parametrize("specs", [pytest.param(REPORT_SPECS_SLOW, marks=pytest.mark.slow,
                                                id="response-and-survival"),
                                   pytest.param(REPORT_SPECS, id="response")])
def test_report_summaries_same_whatever_cache_state_and_jobs(request, specs):
    """``summary.json`` and ``summary.csv``: the same bytes from three different routes.

    A cold compile cache with two worker processes and no fit cache; a warm compile cache
    with the fits sampled again in one process; and every fit read from the fit cache.
    """
    runs = request.getfixturevalue("slow_runs" if specs == REPORT_SPECS_SLOW else "runs")
    run = chain(runs, "report")
    skip_if_source_changed(run)
    assert run["stored"]
    counts = re.search(r"\((\d+) fits, (\d+) sensitivity fits, (\d+) reused",
                       run["stdout"]["cached"])
    assert counts, run["stdout"]["cached"]
    fits, variants, reused = map(int, counts.groups())
    assert fits == len(specs) and variants >= 3 and reused == fits + variants, (
        "the third report sampled instead of reusing the fits the second stored: "
        f"{run['stdout']['cached']!r}")
    assert "reused" not in run["stdout"]["warm"]
    assert "copied from the report of an earlier run" in run["stdout"]["stored"]
    assert_same_files(run["dirs"], ["summary.json", "summary.csv"])


# --- in-process: the order in which one process compiles its shared models ---------------

#: per family, a shipped specification and a variant of it that shares its compiled model:
#: other data or other grouping, and other prior values, hence another starting point
#: (the initial point comes from the prior values held by the model that was compiled)
ORDER_SPECS = {
    "response": ("response_cr_by_target", {}, {}),
    "survival": ("survival_pfs_by_target", {}, {}),
    "response-variant": ("response_cr_by_target", {"endpoint": "orr"},
                         {"mu": {"dist": "Beta", "alpha": 5, "beta": 2}}),
    "survival-variant": ("survival_pfs_by_target", {"by": "none"},
                         {"effect": {"dist": "Normal", "mu": 0.5, "sigma": 2},
                          "sigma_cohort": {"dist": "HalfNormal", "sigma": 1}}),
}
ORDER_DRAWS = 300


def order_spec(label: str) -> Spec:
    """The specification ``label`` of :data:`ORDER_SPECS`, with fewer draws.

    Fewer draws: the test compares bits, not precision.
    """
    name, options, priors = ORDER_SPECS[label]
    spec = load_spec(BUNDLED_MODELS / f"{name}.toml")
    sampler = dataclasses.replace(spec.sampler, draws=ORDER_DRAWS, tune=ORDER_DRAWS)
    return dataclasses.replace(spec, name=f"{name}-{label}", sampler=sampler,
                               options={**spec.options, **options},
                               priors={**spec.priors, **priors})


def fit_in_order(labels: Sequence[str], caplog) -> tuple[dict[str, object], int]:
    """Fit the specifications ``labels`` (:func:`order_spec`) one after another in this process.

    Starts from an empty compiled-model cache (:func:`pclbayes.nuts.clear_cache`). Returns
    each fit, by label, and how many models were compiled.
    """
    eb = load()
    nuts.clear_cache()
    fitted = {}
    with caplog.at_level(logging.INFO, logger="pclbayes.nuts"):
        caplog.clear()
        for label in labels:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # short chains
                fitted[label] = fit_spec(order_spec(label), eb)
        compiled = sum(r.getMessage().startswith("compiled ") for r in caplog.records)
    nuts.clear_cache()
    return fitted, compiled


def assert_same_fit(name: str, a, b) -> None:
    """Two fits with the same draws (every posterior variable) and the same summaries."""
    post_a, post_b = a.idata_["posterior"].to_dataset(), b.idata_["posterior"].to_dataset()
    assert sorted(post_a.data_vars) == sorted(post_b.data_vars)
    for var in post_a.data_vars:
        assert np.array_equal(post_a[var].values, post_b[var].values), f"{name}: {var}"
    assert dumps(a.to_dict()) == dumps(b.to_dict()), name
    assert a.summary().to_csv() == b.summary().to_csv(), name


@pytest.mark.heavy
@pytest.mark.parametrize("family", [pytest.param("survival", marks=pytest.mark.slow),
                                    "response"])
def test_fit_order_in_one_process_does_not_change_the_draws(caplog, family):
    """Fits sharing a compiled model: the same draws whichever of them compiled it.

    The second fit of a structure reuses the model the first compiled, with its own data
    and prior values swapped in. Fitting A and its variant B, then B and A, gives each fit
    once as the compiling one and once as the reusing one.
    """
    labels = [family, f"{family}-variant"]
    forward, n_forward = fit_in_order(labels, caplog)
    backward, n_backward = fit_in_order(labels[::-1], caplog)
    assert n_forward == n_backward == 1, (
        "the specification of this test and its variant should share one compiled model")
    for label in labels:
        assert_same_fit(label, forward[label], backward[label])
