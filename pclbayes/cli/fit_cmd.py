"""``pclbayes fit``: fit a response or survival model, or run a specification file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` command and its sub-commands."""
    from pclbayes.cli import fit_response, fit_spec, fit_survival

    fit = subparsers.add_parser(
        "fit",
        help="fit a model: 'fit response', 'fit survival' or 'fit SPEC.toml'",
        description="Fit a response or survival model to the bundled data or your own "
        "(--data), or run a specification file from models/ (pclbayes fit models/X.toml).",
    )
    sub = fit.add_subparsers(dest="fit_command", required=True, metavar="{response,survival,SPEC}")
    fit_response.register(sub)
    fit_survival.register(sub)
    fit_spec.register(sub)


def rewrite_spec_argv(argv: list[str]) -> list[str]:
    """Turn ``fit path/to/spec.toml ...`` into ``fit spec path/to/spec.toml ...``."""
    if len(argv) >= 2 and argv[0] == "fit" and argv[1].endswith(".toml"):
        return ["fit", "spec", *argv[1:]]
    return argv
