"""``benchmarks/readme_table.py``: the README's timings table from the results files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_rows_ratios_aims_and_machine(tmp_path, capsys):
    results = _module("_results")
    before = {"nproc": 2, "load_average": [0.5, 0.4, 0.3], "python": "3.13.0"}
    results.write("report", baseline="one fit", repeat=1, before=before, path=tmp_path /
                  "report.json", results={"one fit": {"median": 4.0},
                                          "pclbayes report (cold)": {"median": 30.0},
                                          "pclbayes report --quick (cold)": {"median": 8.0}})
    results.write("startup", baseline="python -c pass", repeat=5, before=before,
                  path=tmp_path / "startup.json",
                  results={"python -c pass": {"median": 0.05},
                           "pclbayes --help": {"median": 0.1}})
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "other", "x": 1}))
    table = _module("readme_table").table(tmp_path)
    lines = table.splitlines()
    assert lines[:2] == ["| benchmark | what | seconds | ratio to baseline | aim |",
                         "|---|---|---:|---:|---|"]
    # startup first (the order of readme_table.ORDER), then report; ratios 0.1 / 0.05 = 2,
    # 30 / 4 = 7.5 and 8 / 4 = 2
    assert lines[2:7] == [
        "| startup | python -c pass | 0.05 | 1 (baseline) |  |",
        "| startup | pclbayes --help | 0.100 | 2.00 | <= 0.3 s: met |",
        "| report | one fit | 4.000 | 1 (baseline) |  |",
        "| report | pclbayes report (cold) | 30.0 | 7.50 | <= 25 s: not met |",
        "| report | pclbayes report --quick (cold) | 8.000 | 2.00 | <= 10 s: met |",
    ]
    assert "skipped other.json" in capsys.readouterr().err
    assert "- startup:" in table and "2 CPUs, Python 3.13.0, load average 0.5 0.4 0.3" in table
    stored = json.loads((tmp_path / "report.json").read_text())
    assert stored["results"]["pclbayes report (cold)"]["ratio"] == 7.5


def test_rows_with_their_own_baselines_and_a_case_not_measured(tmp_path):
    results = _module("_results")
    before = {"nproc": 2, "load_average": [0.5, 0.4, 0.3], "python": "3.13.0"}
    results.write("engines", baseline="a: stock, warm", repeat=3, before=before,
                  path=tmp_path / "engines.json", results={
                      "a: stock, cold": {"median": 20.0, "baseline": "a: stock, cold"},
                      "a: stock, warm": {"median": 10.0, "baseline": "a: stock, warm"},
                      "a: ours, cold": {"median": 25.0, "baseline": "a: stock, cold"},
                      "a: ours, warm": {"median": 4.0, "baseline": "a: stock, warm"},
                      "a: jax, warm": {"not measured": "jax is not installed"}})
    lines = _module("readme_table").table(tmp_path).splitlines()
    # 25 / 20 (the cold baseline), 4 / 10 (the warm one)
    assert lines[2:7] == [
        "| engines | a: stock, cold | 20.0 | 1 (baseline) |  |",
        "| engines | a: stock, warm | 10.0 | 1 (baseline) |  |",
        "| engines | a: ours, cold | 25.0 | 1.25 |  |",
        "| engines | a: ours, warm | 4.000 | 0.40 |  |",
        "| engines | a: jax, warm | not measured: jax is not installed | | |",
    ]


def test_a_missed_memory_aim_is_listed_with_its_reason(tmp_path):
    results = _module("_results")
    before = {"nproc": 2, "load_average": [0.5, 0.4, 0.3], "python": "3.13.0"}
    big = "Weibull fit and tables, 150,000 patients (fresh process)"
    results.write("survival_scale", baseline="small", repeat=1, before=before,
                  path=tmp_path / "survival_scale.json", results={
                      "small": {"median": 5.0, "patients": 1500, "peak_rss_mb": 500.0},
                      big: {"median": 50.0, "patients": 150000, "peak_rss_mb": 1100.0}})
    table = _module("readme_table").table(tmp_path)
    assert f"- {big}: peak memory 1100 MB against 1024 MB; 500 MB of it" in table
    assert f"- {big}: 50.0 s" not in table  # the time aim (60 s) is met
