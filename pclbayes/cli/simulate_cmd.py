"""``pclbayes simulate``: run a simulation study (SBC, design evaluation) and summarise it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pclbayes.cli._checks import integer

SIMULATE_COMMANDS = ("run", "summary")
"""Sub-commands of ``simulate``; any other word after ``simulate`` names a study spec."""

_RUN_EPILOG = """\
executors (give at most one):
  (default)            local worker processes, one per CPU (at most 16)
  --workers N          N local worker processes (--workers 1: in this process)
  --dask-local N       a local Dask cluster of N worker processes, started and closed here
  --scheduler ADDRESS  an existing Dask cluster (e.g. tcp://10.0.0.5:8786); its workers need
                       pclbayes installed

Every task's seed comes from the study seed and the task's (scenario, replicate), so the
stored rows are the same whatever the executor. Ctrl-C stores every finished task and exits
with status 130; run the same command with --resume to finish.

examples:
  pclbayes simulate studies/sbc_beta_binomial.toml --out sims/sbc
  pclbayes simulate sbc_beta_binomial --dask-local 4 --out sims/sbc
  pclbayes simulate my_study.toml --scheduler tcp://10.0.0.5:8786 --out sims/mine --resume
  pclbayes simulate summary sims/sbc --plots sims/sbc-figures
"""


def rewrite_simulate_argv(argv: list[str]) -> list[str]:
    """Turn ``simulate SPEC ...`` into ``simulate run SPEC ...`` (options before it kept)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1
    if i + 1 < len(argv) and argv[i] == "simulate":
        word = argv[i + 1]
        if not word.startswith("-") and word not in SIMULATE_COMMANDS:
            return [*argv[: i + 1], "run", *argv[i + 1:]]
    return argv


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` command: ``simulate SPEC.toml`` and ``simulate summary STORE``."""
    sim = subparsers.add_parser(
        "simulate",
        help="run a simulation study: 'simulate SPEC.toml', 'simulate summary STORE'",
        description="Run a simulation study (simulation-based calibration, operating "
        "characteristics of a design) on this machine or a Dask cluster, into a resumable "
        "results store; then summarise the store. 'pclbayes simulate SPEC.toml' is short for "
        "'pclbayes simulate run SPEC.toml' (its options: 'pclbayes simulate SPEC --help'). "
        "See docs/simulate.md.",
    )
    sub = sim.add_subparsers(dest="simulate_command", required=True,
                             metavar="{run,summary,SPEC}")
    run = sub.add_parser(
        "run", prog="pclbayes simulate", usage="%(prog)s SPEC [options]",
        help="run the tasks of a study spec not yet in the store",
        description="Run every task (scenario x replicate) of the study SPEC that is not yet\n"
        "in the results store, showing tasks done, rate and time left on stderr.",
        epilog=_RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("spec", metavar="SPEC",
                     help="study spec (TOML file), or the name of a bundled study in "
                     "studies/ (its file stem)")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--workers", type=integer(1, 4096), metavar="N",
                       help="local worker processes, >= 1 (default: the CPUs, at most 16; "
                       "1 runs in this process)")
    group.add_argument("--dask-local", type=integer(1, 4096), metavar="N",
                       help="start a local Dask cluster of N single-threaded workers")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of a running Dask scheduler, e.g. tcp://host:8786")
    run.add_argument("--out", metavar="STORE",
                     help="results store folder (default: simulations/<study name>)")
    run.add_argument("--resume", action="store_true",
                     help="continue the store: run only the tasks it does not hold (the "
                     "spec must be the same; its hash is checked)")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(func=run_command)

    summary = sub.add_parser(
        "summary", prog="pclbayes simulate summary",
        help="print the summary of a results store (tables, findings, verdict)",
        description="Summarise the rows in a results store (a finished or partial study): "
        "the study type's tables with Monte-Carlo standard errors, its findings and its "
        "verdict where it has one.")
    summary.add_argument("store", metavar="STORE", help="results store folder")
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    summary.add_argument("--plots", metavar="DIR",
                         help="also write the study's figures (PNG) into DIR")
    summary.set_defaults(func=summary_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the study; 0 done, 2 bad input, 130 interrupted (finished tasks stored)."""
    from pclbayes._files import check_output_dir
    from pclbayes.simulate.executors import make_executor
    from pclbayes.simulate.runner import RunInterrupted, run_study
    from pclbayes.simulate.spec import load_study

    study = load_study(args.spec)
    out = Path(args.out) if args.out else Path("simulations") / study.spec["study"]["name"]
    check_output_dir(out)
    executor = make_executor(workers=args.workers, scheduler=args.scheduler,
                             dask_local=args.dask_local)
    try:
        result = run_study(study, out, executor=executor, resume=args.resume,
                           quiet=args.quiet)
    except RunInterrupted as exc:
        print(exc.result.interrupted_text(), file=sys.stderr, flush=True)
        return 130
    if result.ran == 0:
        print(f"{out}: all {result.total} tasks were already stored; nothing to run")
    else:
        rate = result.ran / result.seconds if result.seconds > 0 else float("inf")
        errors = f", {result.errors} failed (stored as error rows)" if result.errors else ""
        print(f"{out}: {result.ran} tasks run on {result.executor} in {result.seconds:.1f} s "
              f"({rate:.3g} tasks/s){errors}; {result.stored} of {result.total} stored")
    if result.complete:
        print(f"summary: pclbayes simulate summary {out}")
    return 0


def _slug(title: str, used: set[str]) -> str:
    base = "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_") or "figure"
    base = "_".join(filter(None, base.split("_")))[:80]
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def summary_command(args: argparse.Namespace) -> int:
    """Print a store's summary (text or JSON); write figures with ``--plots``."""
    import os
    import tempfile

    from pclbayes._files import OutputError, check_output_dir, new_file_mode
    from pclbayes.jsonio import dumps, to_jsonable
    from pclbayes.simulate.store import ResultStore

    store = ResultStore.open(args.store)
    if args.plots:
        try:
            check_output_dir(args.plots)
        except OutputError as exc:  # its message names --out; the option here is --plots
            raise OutputError(str(exc).replace("--out ", "--plots ", 1)) from None
    study = store.study()
    results = store.results()
    summary = study.summarise(results)
    record = store.record
    ok = int((results["status"] == "ok").sum()) if len(results) else 0
    head = {"study": record["name"], "title": record["title"], "kind": record["kind"],
            "spec_hash": record["spec_hash"], "tasks": store.tasks, "stored": len(results),
            "ok": ok, "errors": len(results) - ok}
    written: list[str] = []
    if args.plots and summary.figures:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = Path(args.plots)
        folder.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        for title, make in summary.figures:
            fig = make()
            target = folder / f"{_slug(title, used)}.png"
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".png")
            os.close(fd)
            try:
                fig.savefig(tmp, dpi=120, metadata={"Software": None})
                new_file_mode(tmp)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
                plt.close(fig)
            written.append(str(target))
    if args.json:
        payload = {**head, "passed": summary.passed, "lines": list(summary.lines),
                   "tables": {name: to_jsonable(table.to_dict(orient="records"))
                              for name, table in summary.tables.items()},
                   "figures": written}
        print(dumps(payload))
        return 0
    print(f"{record['title']} ({record['name']}, kind {record['kind']})")
    partial = "" if len(results) >= store.tasks else " (partial: the study is not finished)"
    print(f"{len(results)} of {store.tasks} tasks stored, {head['errors']} failed{partial}")
    for name, table in summary.tables.items():
        print(f"\n{name}")
        print(table.to_string(index=False))
    if summary.lines:
        print()
        for line in summary.lines:
            print(line)
    if summary.passed is not None:
        print(f"\nverdict: {'PASS' if summary.passed else 'FAIL'}")
    if written:
        print(f"\nwrote {len(written)} figure(s) to {args.plots}")
    return 0
