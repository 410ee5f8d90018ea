"""Shared CLI output for fitted models: a readable table, or JSON, plus files in --out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pclbayes.jsonio import dumps

__all__ = ["add_common_fit_arguments", "dumps", "emit_fit", "parse_prior_overrides"]


def add_common_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every ``fit`` command takes."""
    parser.add_argument("--data", metavar="PATH",
                        help="a directory of CSV tables or one CSV file (default: bundled data)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the spec's seed, else 1)")
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

    ``fitted`` provides ``to_dict()``, ``summary()`` (DataFrame), ``save(path)``,
    ``diagnostics_`` and ``__str__``.
    """
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        fitted.save(out / f"{name}.nc")
        fitted.summary().to_csv(out / f"{name}_summary.csv", index=False)
        (out / f"{name}_summary.json").write_text(dumps(fitted.to_dict()) + "\n")
    if args.json:
        print(dumps(fitted.to_dict()))
    else:
        print(fitted)
        if args.out:
            print(f"\nwrote {name}.nc, {name}_summary.csv, {name}_summary.json to {args.out}")
    diag = getattr(fitted, "diagnostics_", None)
    if diag is not None and not diag.ok:
        print(f"WARNING: {name}: {diag}", file=sys.stderr)
    return 0
