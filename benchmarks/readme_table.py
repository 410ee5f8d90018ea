"""Markdown table of the benchmark results in ``benchmarks/results/*.json``.

Run with ``python benchmarks/readme_table.py [DIR]``; the output is the README's timings
table, quoted verbatim. Each results file holds ``{"benchmark": name, "baseline": label,
"machine": {...}, "results": {label: {"median": seconds, ...}}}`` (``_results.py``); a row
shows a command's median wall time, its ratio to the baseline of the same file
(:math:`\\tilde t / \\tilde t_0`, both measured in one run, under the same load) and the
aim, if one is set in :data:`AIMS`. The lines under the table name the machine and its
load average when each file was measured. Files of another layout are skipped with a
note on stderr.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: The order of the benchmarks in the table (files not listed follow, by name).
ORDER = ("startup", "engines", "response", "response_scale", "survival", "survival_scale",
         "report", "oc", "tests")

AIMS: dict[str, float] = {
    "pclbayes --help": 0.3,
    "pclbayes plan oc": 0.5,
    "pclbayes fit response": 1.5,
    "pclbayes fit response --method mcmc": 4.0,
    "pclbayes fit survival": 6.0,
    "exact engine, 3,000 cohorts (in process)": 1.0,
    "Weibull fit and tables, 150,000 patients (fresh process)": 60.0,
    "pclbayes report (cold)": 25.0,
    "pclbayes report (every fit from the fit cache, the stored report copied)": 4.0,
    "pclbayes report (every fit from the fit cache, the page made again)": 4.0,
    "pclbayes report --quick (cold)": 10.0,
    "pytest (default suite)": 150.0,
    # a truly cold machine: fresh processes on an empty compile cache
    "CR by target, beta-binomial: nutpie (pclbayes), cold": 15.0,
    "PFS by target, Weibull: nutpie (pclbayes), cold": 15.0,
}
"""Aimed-for median wall time in seconds (2 quiet cores), by row label."""

MEMORY_AIMS: dict[str, float] = {
    "Weibull fit and tables, 150,000 patients (fresh process)": 1024.0,
}
"""Aimed-for peak memory in MB (``peak_rss_mb`` of the row), by row label."""

#: Short names of rows whose times explain others (used in :data:`WHY`).
FLOORS = {
    "pymc": 'python -c "import pymc"',
    "oc_imports": "imports of plan oc (numpy, scipy.special)",
    "fit_imports": "imports of an exact fit (pandas, scipy.special, scipy.interpolate, xarray)",
    "mcmc_imports": ("imports of an MCMC fit (pandas, xarray, PyMC, nutpie and the ArviZ it "
                     "imports)"),
    "cr_cold_jax": "CR by target, beta-binomial: nutpie (JAX), cold",
    "cr_cold_numba": "CR by target, beta-binomial: PyMC NUTS (numba), cold",
    "pfs_cold_jax": "PFS by target, Weibull: nutpie (JAX), cold",
    "pfs_cold_numba": "PFS by target, Weibull: PyMC NUTS (numba), cold",
}

WHY: dict[str, str] = {
    "pclbayes plan oc": (
        "numpy and scipy.special, which the exact binomial sums need, take {oc_imports} s to "
        "import; the command itself (pandas is not imported) adds the rest"),
    "pclbayes fit response": (
        "pandas, scipy.special, scipy.interpolate and xarray (the data tables, the special "
        "functions, the quantiles of the grid posterior, the DataTree of the result) take "
        "{fit_imports} s to import before the exact engine starts"),
    "pclbayes fit response --method mcmc": (
        "pandas, xarray, PyMC and nutpie (which imports all of ArviZ, matplotlib's pyplot "
        "included) take {mcmc_imports} s to import; then PyTensor builds and rewrites the "
        "model's graphs (about 2 s in every process) before nutpie's compiled callbacks are "
        "loaded from the compile cache; sampling takes about 0.3 s"),
    "pclbayes fit survival": (
        "as for the MCMC response fit: the imports ({mcmc_imports} s) and PyTensor's graph "
        "rewrites in every process come before the sampling"),
    "Weibull fit and tables, 150,000 patients (fresh process)": (
        "compile {compile_150000} s, sampling {sample_150000} s, the rest of the fit "
        "{post_150000} s and the tables {tables_150000} s (benchmarks/results/"
        "survival_scale.json)"),
    "pclbayes report (cold)": (
        "33 MCMC fits (8 specifications, 25 sensitivity variants) of a few distinct "
        "models: on an empty cache numba compiles each model in each worker process that "
        "fits it (tens of seconds per model, most of the workers' time), then every fit's "
        "tables and figures are made"),
    "pclbayes report (every fit from the fit cache, the page made again)": (
        "when an input of the page changed (a title, a variant's reason), only "
        "the draws are reused: the 33 fits are read and verified, and their tables "
        "(convergence, PSIS-LOO, predictive checks) and figures are made again from the "
        "draws in two worker processes; then the report's process draws the figures that "
        "combine fits (prior sensitivity, the evidence) and writes the page"),
    "pclbayes report --quick (cold)": (
        "the compilation of a full report; fewer draws shorten only the sampling"),
    "CR by target, beta-binomial: nutpie (pclbayes), cold": (
        "on an empty compile cache numba compiles PyTensor's graphs of the model and "
        "nutpie's two callbacks, about 20 s besides the imports; the other engines need a "
        "compilation too: PyMC's NUTS on numba took {cr_cold_numba} s and nutpie's JAX "
        "backend {cr_cold_jax} s (the slowest warm)"),
    "PFS by target, Weibull: nutpie (pclbayes), cold": (
        "the same compilation; PyMC's NUTS on numba took {pfs_cold_numba} s and nutpie's "
        "JAX backend {pfs_cold_jax} s"),
}
"""Why an aim is not met (printed under the table for each row that misses its aim)."""

MEMORY_WHY: dict[str, str] = {
    "Weibull fit and tables, 150,000 patients (fresh process)": (
        "{peak_rss_1500} MB of it is already taken at 1,500 patients by PyMC, PyTensor, numba "
        "and nutpie; the rest is the data, the draws and the tables' per-patient arrays "
        "(benchmarks/results/survival_scale.json)"),
}
"""Why a memory aim is not met."""


def _seconds(t: float) -> str:
    """Three significant digits below 0.1 s, milliseconds to 10 s, tenths above."""
    return f"{t:.3g}" if t < 0.1 else f"{t:.3f}" if t < 10 else f"{t:.1f}"


def _ratio(r: float) -> str:
    return f"{r:.2g}" if r < 0.1 else f"{r:.2f}" if r < 10 else f"{r:.0f}"


def rows(results: dict) -> list[str]:
    """Markdown rows of one results file (its baseline marked; ratios to it)."""
    baseline = results["baseline"]
    name = results.get("benchmark", "?")
    out = []
    for label, r in results["results"].items():
        if "median" not in r:  # e.g. an engine that is not installed
            out.append(f"| {name} | {label} | not measured: {r.get('not measured', '?')} | | |")
            continue
        aim = AIMS.get(label)
        aim_text = "" if aim is None else (
            f"<= {aim:g} s: {'met' if r['median'] <= aim else 'not met'}")
        own = r.get("baseline", baseline)  # a row may name its own baseline row
        ratio = ("1 (baseline)" if label == own
                 else _ratio(r["median"] / results["results"][own]["median"]))
        out.append(f"| {name} | {label} | {_seconds(r['median'])} | {ratio} | {aim_text} |")
    return out


def machine_line(results: dict) -> str:
    """One line naming the machine and its load when the results were measured."""
    m = results.get("machine", {})
    load = " ".join(f"{x:.1f}" for x in m.get("load_average", []))
    after = " ".join(f"{x:.1f}" for x in m.get("load_average_after", []))
    note = f"; {results['note']}" if results.get("note") else ""
    return (f"- {results.get('benchmark', '?')}: {results.get('date', 'date unknown')}, "
            f"{m.get('nproc', '?')} CPUs, Python {m.get('python', '?')}, load average "
            f"{load or '?'} before{f', {after} after' if after else ''} (median of "
            f"{results.get('repeat', '?')}{note})")


def _ordered(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.json"))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(files, key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))


def _values(files: list[dict]) -> dict[str, str]:
    """The numbers the reasons in :data:`WHY` quote, by name ("?" for any not measured).

    The import floors (:data:`FLOORS`) and, for each survival scale run, its phases:
    ``compile_1500``, ``sample_1500``, ``post_1500``, ``tables_1500``, ``total_1500`` and
    ``peak_rss_1500`` (MB), and so on for each number of patients.
    """
    medians = {label: r["median"] for res in files for label, r in res["results"].items()
               if "median" in r}
    values: dict[str, str] = defaultdict(lambda: "?")
    values.update({short: _seconds(medians[label]) for short, label in FLOORS.items()
                   if label in medians})
    for res in files:
        for r in res["results"].values():
            if "patients" not in r:
                continue
            n = int(r["patients"])
            for key in ("compile_s", "sample_s", "post_s", "tables_s", "total_s"):
                if key in r:
                    values[f"{key[:-2]}_{n}"] = _seconds(r[key])
            if "peak_rss_mb" in r:
                values[f"peak_rss_{n}"] = f"{r['peak_rss_mb']:.0f}"
    return values


def table(directory: Path = RESULTS) -> str:
    """The markdown table, the machine lines under it and the reasons for missed aims."""
    files = []
    for path in _ordered(directory):
        results = json.loads(path.read_text())
        if not isinstance(results, dict) or "baseline" not in results or "results" not in results:
            print(f"skipped {path.name}: not a table of timed commands", file=sys.stderr)
            continue
        files.append(results)
    values = _values(files)
    lines = ["| benchmark | what | seconds | ratio to baseline | aim |",
             "|---|---|---:|---:|---|"]
    notes = [machine_line(results) for results in files]
    missed = [line for results in files for line in _missed(results, values)]
    for results in files:
        lines += rows(results)
    why = ["", "Aims not met, and why:", *missed] if missed else []
    return "\n".join([*lines, "", "Measured on:", *notes, *why])


def _missed(results: dict, values: dict[str, str]) -> list[str]:
    """One line per row of ``results`` that misses its aim: measured, aim and reason."""
    out = []
    for label, r in results["results"].items():
        if "median" not in r:
            continue
        aim = AIMS.get(label)
        if aim is not None and r["median"] > aim:
            reason = WHY.get(label, "no reason recorded").format_map(values)
            out.append(f"- {label}: {_seconds(r['median'])} s against {aim:g} s; {reason}.")
        memory = MEMORY_AIMS.get(label)
        if memory is not None and r.get("peak_rss_mb", 0.0) > memory:
            reason = MEMORY_WHY.get(label, "no reason recorded").format_map(values)
            out.append(f"- {label}: peak memory {r['peak_rss_mb']:.0f} MB against "
                       f"{memory:.0f} MB; {reason}.")
    return out


def main(directory: Path = RESULTS) -> None:
    print(table(directory))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS)
