"""``pclbayes fit SPEC.toml``: run one specification file."""

from __future__ import annotations

import argparse

from pclbayes.cli._output import add_common_fit_arguments, check_out, emit_fit


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fit spec`` (also reached as ``pclbayes fit SPEC.toml``)."""
    p = subparsers.add_parser("spec", help="run a specification file (pclbayes fit SPEC.toml)",
                              description="Run a TOML specification from models/ or your own.")
    p.add_argument("spec", help="path to a .toml specification")
    add_common_fit_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the model a specification describes and print or save the result."""
    from pclbayes.data import load
    from pclbayes.model import model_from_spec
    from pclbayes.specs import fit_spec, load_spec

    spec = load_spec(args.spec)
    model_from_spec(spec)  # every option and prior checked before reading any data
    check_out(args)
    eb = load(args.data)
    fitted = fit_spec(spec, eb, seed=args.seed)
    return emit_fit(fitted, args, name=spec.name)
