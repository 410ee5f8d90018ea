"""Shared CLI output for fitted models: a readable table, or JSON, plus files in --out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pclbayes.jsonio import dumps

__all__ = ["add_common_fit_arguments", "check_out", "dumps", "emit_fit", "parse_prior_overrides"]


def add_common_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every ``fit`` command takes."""
    parser.add_argument("--data", metavar="PATH",
                        help="a directory of CSV tables or one CSV file (default: bundled data)")
    from pclbayes.cli._checks import seed

    parser.add_argument("--seed", type=seed, default=None,
                        help="random seed, 0 to 4294967295 (default: the spec's seed, else 1)")
    parser.add_argument("--out", metavar="DIR",
                        help="write the result (netCDF), summary.csv and summary.json here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def parse_prior_overrides(items: list[str], example: str) -> dict[str, str]:
    """Turn repeated ``--prior NAME=DIST`` options into ``{name: dist}``."""
    from pclbayes.errors import SpecError

    out = {}
    for item in items:
        name, sep, dist = item.partition("=")
        if not sep or not name.strip() or not dist.strip():
            raise SpecError(f"--prior '{item}': write NAME=DIST, e.g. '{example}'")
        out[name.strip()] = dist.strip()
    return out


def emit_fit(fitted: Any, args: argparse.Namespace, *, name: str) -> int:
    """Print a fitted model (table or ``--json``) and save its files to ``--out``.

    ``fitted`` follows the model contract (:class:`pclbayes.model.Model`). Files are
    written atomically: ``<name>.nc`` (readable with ``pclbayes.load_fit``),
    ``<name>_summary.csv`` and ``<name>_summary.json``.
    """
    from pclbayes._files import atomic_write_text

    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        fitted.save(out / f"{name}.nc")
        atomic_write_text(out / f"{name}_summary.csv", fitted.summary().to_csv(index=False))
        atomic_write_text(out / f"{name}_summary.json", dumps(fitted.to_dict()) + "\n")
    if args.json:
        print(dumps(fitted.to_dict()))
    else:
        print(fitted)
        if args.out:
            print(f"\nwrote {name}.nc, {name}_summary.csv, {name}_summary.json to {args.out}")
    diag = fitted.diagnostics_
    if not diag.ok:
        print(f"WARNING: {name}: {diag}", file=sys.stderr)
    return 0


def check_out(args: argparse.Namespace) -> None:
    """Check ``--out`` before any fitting (see :func:`pclbayes._files.check_output_dir`)."""
    if getattr(args, "out", None):
        from pclbayes._files import check_output_dir

        check_output_dir(args.out)
