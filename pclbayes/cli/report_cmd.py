"""``pclbayes report``: the whole picture in one HTML file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` command."""
    p = subparsers.add_parser(
        "report", help="fit every model in models/ and write an HTML report",
        description="Fit every specification (response and survival), check the fits, run "
        "prior-sensitivity variants and write report.html, figures (PNG/SVG), "
        "summary.csv/summary.json and each fit's netCDF into --out.",
    )
    p.add_argument("--data", metavar="PATH", help="your own data (default: bundled)")
    p.add_argument("--models", metavar="DIR", help="directory of TOML specs (default: models/)")
    p.add_argument("--out", metavar="DIR", default="report",
                   help="output directory (report), replaced whole when the report is "
                   "complete; a failed or interrupted run leaves it as it was")
    p.add_argument("--seed", type=int, help="override every specification's seed")
    p.add_argument("--quick", action="store_true",
                   help="fewer draws for a fast look (labelled as such in the report)")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes for the fits, >= 1 (default: 2 on a machine with "
                   ">= 2 cores)")
    p.add_argument("--refit", action="store_true",
                   help="fit and make everything again instead of reusing fits (or a whole "
                   "report) stored by an earlier run with the same specification, data, "
                   "seed and software")
    p.add_argument("--no-cache", dest="cache", action="store_false",
                   help="neither reuse nor store fits and reports (fit cache: "
                   "$PCLBAYES_CACHE_DIR, default ~/.cache/pclbayes)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    from pclbayes.cli.data_cmd import add_time_unit_argument

    add_time_unit_argument(p)
    p.set_defaults(func=run)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def left_as_it_was(out: str | Path) -> str:
    """What a run that stopped early did to ``out``: nothing (said in words)."""
    if (Path(out) / "report.html").is_file():
        return f"previous report in {out} left unchanged"
    return f"nothing written to {out}"


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it is.

    Returns 0 on success, 2 for invalid input or an operating-system error (a one-line
    message, or the list of data problems), 130 when interrupted (Ctrl-C); in these
    failure cases ``--out`` is left as it was and the message says so.
    """
    from pclbayes.errors import DataValidationError, PclBayesError

    start = time.perf_counter()

    def progress(line: str) -> None:
        print(f"{time.perf_counter() - start:6.1f}s  {line}", file=sys.stderr, flush=True)

    try:
        import matplotlib

        matplotlib.use("Agg")  # the report only writes image files: no window, no display
        from pclbayes.report import build_report

        report = build_report(args.data, models=args.models, out=args.out, seed=args.seed,
                              quick=args.quick, jobs=args.jobs, cache=args.cache,
                              refit=args.refit, time_unit=args.time_unit,
                              progress=None if args.quiet else progress)
    except KeyboardInterrupt:
        print(f"interrupted: {left_as_it_was(args.out)}", file=sys.stderr, flush=True)
        return 130
    except DataValidationError as exc:
        print(f"{exc}\n{left_as_it_was(args.out)}", file=sys.stderr)
        return 2
    except PclBayesError as exc:
        print(f"error: {exc} ({left_as_it_was(args.out)})", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a full disk while the report was written
        from pclbayes.cli import _os_error_text

        print(f"error: {_os_error_text(exc)} ({left_as_it_was(args.out)})", file=sys.stderr)
        return 2
    reused = sum(rec.cached for rec in report.fits + report.sensitivity)
    note = (", copied from the report of an earlier run with the same inputs" if report.stored
            else f", {reused} reused from the fit cache" if reused else "")
    print(f"wrote {report.html} ({len(report.fits)} fits, {len(report.sensitivity)} "
          f"sensitivity fits{note}) in {time.perf_counter() - start:.1f} s")
    for flag in report.flags:
        print(f"WARNING: {flag}", file=sys.stderr)
    return 0
