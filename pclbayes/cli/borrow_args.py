"""``--codata PATH --borrow METHOD``: the options of borrowing from co-data, and their checks.

Shared by ``fit response`` and ``plan map-prior``. The statistics are in
:mod:`pclbayes.planning.borrowing`; this module only parses and checks the options.
"""

from __future__ import annotations

import argparse
from typing import Any

from pclbayes.cli._checks import integer, real
from pclbayes.errors import SpecError

__all__ = ["BUNDLED", "add_borrow_arguments", "check_borrow_arguments", "codata_path"]

BUNDLED = "bundled"
"""``--codata bundled``: the co-data rows of the bundled evidence base."""

_METHODS = ("none", "robust-map", "power", "exnex")


def add_borrow_arguments(parser: argparse.ArgumentParser, *, robust_weight: bool) -> None:
    """Add ``--codata``, ``--borrow``, ``--a0``, ``--p-exchangeable`` and friends.

    ``robust_weight`` adds ``--robust-weight`` (a command that has its own robust weight
    option, such as ``plan map-prior --robust``, passes False and aliases it).
    """
    g = parser.add_argument_group(
        "borrowing from co-data",
        "Borrow from non-PCL count rows (is_pcl = 0, or every row of a file without is_pcl), "
        "with the discount stated; the output shows the PCL-only and the borrowed answer "
        "side by side with a prior-data conflict check (docs/planning.md).")
    g.add_argument("--codata", metavar="PATH",
                   help="co-data: a CSV of aggregate rows (cohort, n, responders), a folder "
                   "with aggregates.csv, or 'bundled' for the bundled Tongji myeloma counts")
    g.add_argument("--borrow", choices=_METHODS,
                   help="how to borrow (needs --codata; default robust-map): none (PCL only, "
                   "with the conflict check), robust-map, power (power prior, --a0) or exnex "
                   "(--p-exchangeable)")
    g.add_argument("--a0", type=real(0, 1), metavar="A0",
                   help="power-prior weight of the co-data, in [0, 1] (default 0.5; --borrow "
                   "power)")
    g.add_argument("--p-exchangeable", type=real(0, 1), metavar="P",
                   help="prior probability that a PCL cohort is exchangeable with the "
                   "co-data, in [0, 1] (default 0.5; --borrow exnex)")
    if robust_weight:
        g.add_argument("--robust-weight", type=real(0, 1, high_open=True), metavar="W",
                       help="weight of the vague component of the robust MAP prior, in "
                       "[0, 1) (default 0.2; --borrow robust-map)")
    g.add_argument("--codata-population", metavar="TEXT",
                   help="keep co-data rows whose population contains TEXT (needed when a "
                   "cohort has several overlapping rows; bundled default: the 28 myeloma "
                   "patients without the two PCL patients)")
    g.add_argument("--predictive-draws", type=integer(100), metavar="N",
                   help="draws of the exact MAP distribution fitted by the beta mixture, "
                   ">= 100 (default 10000)")


def check_borrow_arguments(args: argparse.Namespace, *, robust_weight: bool) -> str | None:
    """The borrowing method (None without ``--codata``), or a :class:`SpecError`.

    Every borrowing option needs ``--codata``; ``--a0`` needs ``--borrow power``,
    ``--p-exchangeable`` needs ``--borrow exnex`` and ``--robust-weight`` (where it is a
    borrowing option) ``--borrow robust-map``.
    """
    given = [opt for opt, dest in (("--borrow", "borrow"), ("--a0", "a0"),
                                   ("--p-exchangeable", "p_exchangeable"),
                                   ("--codata-population", "codata_population"),
                                   ("--predictive-draws", "predictive_draws"))
             if getattr(args, dest, None) is not None]
    if robust_weight and getattr(args, "robust_weight", None) is not None:
        given.append("--robust-weight")
    if args.codata is None:
        if given:
            raise SpecError(f"{', '.join(given)} borrows from co-data and needs --codata PATH "
                            "(a CSV of aggregate rows, or 'bundled')")
        return None
    for dest in ("a0", "p_exchangeable", "robust_weight"):  # -0.0 is read as 0, shown 0.0
        if getattr(args, dest, None) == 0:
            setattr(args, dest, 0.0)
    method = args.borrow or "robust-map"
    needs = {"--a0": ("a0", "power"), "--p-exchangeable": ("p_exchangeable", "exnex")}
    if robust_weight:
        needs["--robust-weight"] = ("robust_weight", "robust-map")
    for opt, (dest, wanted) in needs.items():
        if getattr(args, dest, None) is not None and method != wanted:
            raise SpecError(f"{opt} applies to --borrow {wanted}, not --borrow {method}")
    return method


def codata_path(args: argparse.Namespace) -> Any:
    """``--codata`` as a path, or None for the bundled co-data."""
    return None if args.codata == BUNDLED else args.codata
