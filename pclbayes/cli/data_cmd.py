"""``pclbayes validate`` and ``pclbayes data``: check and show the evidence base."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("cohorts", "patients", "episodes", "reinfusions", "aggregates", "issues", "provenance",
          "documents")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` and ``data`` commands."""
    p = subparsers.add_parser(
        "validate", help="check the data and print a per-cohort summary",
        description="Validate the bundled evidence base or your own (--data). Prints a "
        "per-cohort summary and exits 0, or prints every problem and exits 2.",
    )
    p.add_argument("--data", metavar="PATH",
                   help="a directory of CSV tables or one CSV file (default: bundled data)")
    add_time_unit_argument(p)
    p.set_defaults(func=run_validate)

    d = subparsers.add_parser(
        "data", help="show the data tables",
        description="Print the tables of the evidence base (bundled or --data).",
    )
    d.add_argument("--data", metavar="PATH", help="a directory of CSV tables or one CSV file")
    d.add_argument("--table", choices=TABLES, action="append",
                   help="table(s) to show (default: cohorts, patients, episodes, aggregates)")
    d.add_argument("--csv", action="store_true", help="print CSV instead of aligned text")
    d.set_defaults(func=run_data)


#: The names of :data:`pclbayes.data._schema.TIME_UNITS`, spelled out: building the parser
#: imports nothing beyond the standard library (``tests/unit/test_startup.py`` checks that
#: and that the names agree).
TIME_UNIT_NAMES = ("days", "weeks", "months", "years")


def add_time_unit_argument(p: argparse.ArgumentParser) -> None:
    """``--time-unit``: the unit of the data's times (default: the data's own, else months)."""
    p.add_argument("--time-unit", choices=TIME_UNIT_NAMES, default=None,
                   help="unit of the data's times (default: the unit the data declare in a "
                   "time_unit column, else months; the bundled data are in months)")


def _show(df: pd.DataFrame) -> str:
    import pandas as pd

    with pd.option_context("display.max_rows", 500, "display.max_columns", 60,
                           "display.width", 200, "display.max_colwidth", 60):
        return df.to_string(index=False)


def _load_listing_warnings_here(load, path, time_unit=None):
    """Load the data without logging its warnings: ``validate`` lists them in its output."""
    data_log = logging.getLogger("pclbayes.data._load")

    def not_a_warning(record: logging.LogRecord) -> bool:
        return record.levelno != logging.WARNING

    data_log.addFilter(not_a_warning)
    try:
        return load(path, time_unit=time_unit)
    finally:
        data_log.removeFilter(not_a_warning)


def run_validate(args: argparse.Namespace) -> int:
    """Validate and print the per-cohort summary."""
    import pandas as pd

    from pclbayes.data import load
    from pclbayes.data.views import cohort_counts

    eb = _load_listing_warnings_here(load, args.data, getattr(args, "time_unit", None))
    print(f"OK: {eb.source} ({len(eb.cohorts)} cohorts, {len(eb.patients)} patients, "
          f"{len(eb.reinfusions)} re-infusions, {len(eb.aggregates)} aggregate rows)")
    if eb.warnings:
        print(f"{len(eb.warnings)} warning(s): values accepted but worth a look")
        for w in eb.warnings:
            print(f"  - {w}")
    print(f"data hash: {eb.data_hash[:16]}")
    if not eb.patients.empty:
        print(f"time unit: {eb.time_unit_note}")
    summary = cohort_counts(eb)
    if not summary.empty:
        by_target = "target" in summary
        notes = [w for col, w in (("orr_responders", "orr = PR or better"),
                                  ("pfs_events", "pfs events = progression or death"),
                                  ("events", "events from the event column"))
                 if col in summary]
        print("\nFirst infusions by cohort" + (" and target" if by_target else "")
              + (f" ({'; '.join(notes)})" if notes else "") + ":")
        keys = ["cohort", "target"] if by_target else ["cohort"]
        total = summary.drop(columns=keys).sum().to_frame().T
        if by_target:
            total.insert(0, "target", "")
        total.insert(0, "cohort", "TOTAL")
        print(_show(pd.concat([summary, total], ignore_index=True)))
    if not eb.reinfusions.empty:
        rein = eb.episodes.query("strategy == 'switch'")
        print("\nTarget-switched re-infusions (strategy 'switch'):")
        cols = [c for c in ("cohort", "patient_id", "target", "start_months", "best_response",
                            "orr", "cr_or_better", "pfs_months", "pfs_event") if c in rein]
        print(_show(rein[cols]))
    if not eb.aggregates.empty:
        agg = eb.aggregates
        cols = [c for c in ("cohort", "population", "is_pcl", "endpoint", "n", "responders",
                            "derived") if c in agg]
        if "is_pcl" in agg:
            codata = agg["is_pcl"].astype(str).isin(["0", "False"])
            if (~codata).any():
                print("\nAggregate rows used by the response models:")
                print(_show(agg.loc[~codata, cols]))
            if codata.any():
                print("\nAggregate rows with is_pcl = 0 (co-data, not used unless asked):")
                print(_show(agg.loc[codata, cols]))
        else:
            what = ("counted per endpoint" if "endpoint" in agg
                    else "no endpoint column: fitted as 'response', not as ORR or CR")
            print(f"\nAggregate rows used by the response models ({what}):")
            print(_show(agg[cols]))
    if not eb.source_issues.empty:
        print(f"\n{len(eb.source_issues)} inconsistencies in the source documents are recorded "
              "(pclbayes data --table issues).")
    return 0


def run_data(args: argparse.Namespace) -> int:
    """Print the requested tables."""
    import pandas as pd

    from pclbayes.data import load

    eb = load(args.data)
    frames = {
        "cohorts": eb.cohorts, "patients": eb.patients, "episodes": eb.episodes,
        "reinfusions": eb.reinfusions, "aggregates": eb.aggregates,
        "issues": eb.source_issues, "provenance": eb.provenance,
        "documents": eb.records.get("documents.csv", pd.DataFrame()),
    }
    for name in args.table or ["cohorts", "patients", "episodes", "aggregates"]:
        df = frames[name]
        if args.csv:
            print(df.to_csv(index=False), end="")
        else:
            print(f"== {name} ({len(df)} rows) ==")
            print(_show(df) if not df.empty else "(empty)")
            print()
    return 0
