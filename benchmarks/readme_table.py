"""Markdown table of the benchmark results in ``benchmarks/results/*.json``.

Run with ``python benchmarks/readme_table.py [DIR]``. Each results file holds
``{"baseline": label, "results": {label: {"median": seconds, ...}}}`` (as written by
``bench_startup.py``); a row shows a command's median wall time, its ratio to the file's
baseline (:math:`\\tilde t / \\tilde t_0`) and the aim, if one is set in :data:`AIMS`.
Files of another layout are skipped with a note on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

AIMS: dict[str, float] = {
    "pclbayes --help": 0.3,
    "pclbayes plan oc": 0.5,
    "pclbayes fit response": 1.5,
    "pclbayes fit response --method mcmc": 4.0,
}
"""Aimed-for median wall time in seconds, by command."""


def rows(results: dict) -> list[str]:
    """Markdown rows of one results file (the baseline first, ratio 1.0)."""
    baseline = results["baseline"]
    base = results["results"][baseline]["median"]
    out = []
    for label, r in results["results"].items():
        aim = AIMS.get(label)
        if aim is None:
            aim_text = ""
        else:
            aim_text = f"<= {aim:g} s ({'met' if r['median'] <= aim else 'not met'})"
        out.append(f"| `{label}` | {r['median']:.3f} | {r['median'] / base:.1f} | {aim_text} |")
    return out


def machine_line(results: dict) -> str:
    """One line naming the machine and its load when the results were measured."""
    m = results.get("machine", {})
    load = " ".join(f"{x:.2f}" for x in m.get("load_average", []))
    return (f"{results.get('benchmark', '?')}: {m.get('nproc', '?')} CPUs, "
            f"Python {m.get('python', '?')}, load average {load or '?'} "
            f"({results.get('date', 'date unknown')}, median of {results.get('repeat', '?')})")


def main(directory: Path = RESULTS) -> None:
    lines = ["| command | seconds | ratio to baseline | aim |", "|---|---:|---:|---|"]
    notes = []
    for path in sorted(directory.glob("*.json")):
        results = json.loads(path.read_text())
        if not isinstance(results, dict) or "baseline" not in results or "results" not in results:
            print(f"skipped {path.name}: not a table of timed commands", file=sys.stderr)
            continue
        lines += rows(results)
        notes.append(machine_line(results))
    print("\n".join(lines))
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS)
