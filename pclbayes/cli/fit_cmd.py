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


FIT_COMMANDS = ("response", "survival", "spec")
"""Sub-commands of ``fit``; any other word after ``fit`` names a specification."""


def rewrite_spec_argv(argv: list[str]) -> list[str]:
    """Turn ``fit SPEC ...`` into ``fit spec SPEC ...``.

    ``SPEC`` is a ``.toml`` path or the name of a bundled specification (e.g.
    ``response_orr_by_target``); options before the command (``pclbayes -v fit ...``) are
    kept in place.
    """
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1
    if i + 1 < len(argv) and argv[i] == "fit":
        word = argv[i + 1]
        if not word.startswith("-") and word not in FIT_COMMANDS:
            return [*argv[: i + 1], "spec", *argv[i + 1:]]
    return argv
