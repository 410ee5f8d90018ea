"""Command-line interface: ``pclbayes <command> ...`` (a thin layer over the public API)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pclbayes import __version__
from pclbayes.errors import DataValidationError, PclBayesError


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-command per module in :mod:`pclbayes.cli`."""
    from pclbayes.cli import data_cmd, fit_cmd, plan_cmd, report_cmd

    parser = argparse.ArgumentParser(
        prog="pclbayes",
        description="Bayesian pooling of CAR T-cell evidence in plasma cell leukemia.",
    )
    parser.add_argument("--version", action="version", version=f"pclbayes {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data_cmd, fit_cmd, plan_cmd, report_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 success, 2 invalid input or data)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    from pclbayes.cli.fit_cmd import rewrite_spec_argv

    args = parser.parse_args(rewrite_spec_argv(argv))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except PclBayesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
