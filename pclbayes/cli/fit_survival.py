"""``pclbayes fit survival``: pooled Weibull model of PFS or OS."""

from __future__ import annotations

import argparse
import sys

from pclbayes.cli._output import (
    add_common_fit_arguments,
    check_out,
    emit_fit,
    parse_prior_overrides,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``survival`` sub-command of ``fit``."""
    p = subparsers.add_parser(
        "survival",
        help="Weibull model of PFS or OS (censored), pooled across cohorts",
        description="Fit a Weibull survival model with right censoring, a cohort random "
        "effect and a patient frailty for re-infused patients; report median time and "
        "S(6), S(12) per group, time and hazard ratios, and Kaplan-Meier cross-checks.",
    )
    p.add_argument("--endpoint", choices=("pfs", "os"), default="pfs",
                   help="progression-free (pfs, default) or overall survival (os)")
    p.add_argument("--by", default="none", metavar="COLUMN",
                   help="report groups by 'target', 'strategy' or any column (default none: "
                   "one group); the model still adjusts for target, strategy and PCL type "
                   "where the data have them")
    p.add_argument("--shape", choices=("shared", "by_group"), default="shared",
                   help="one Weibull shape (default) or one per reported group")
    p.add_argument("--frailty", choices=("auto", "stable", "none"), default="auto",
                   help="patient frailty for patients with two episodes (default auto)")
    p.add_argument("--episodes", choices=("all", "first"), default=None,
                   help="episodes used: all (PFS default) or first infusions only (OS "
                   "default: a re-infusion's OS is the rest of the same patient's OS)")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=DIST",
                   help="override a prior, e.g. --prior 'shape=LogNormal(mu=0, sigma=0.3)' "
                   "(names: log_median, effect, shape, sigma_cohort, kendall_tau)")
    from pclbayes.cli.data_cmd import add_time_unit_argument

    add_time_unit_argument(p)
    add_common_fit_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the survival model and print or save the result."""
    from pclbayes.data import load
    from pclbayes.survival import SurvivalModel

    priors = parse_prior_overrides(args.prior, "shape=LogNormal(mu=0, sigma=0.3)")
    name = f"survival_{args.endpoint}_by_{args.by}"
    unit = getattr(args, "time_unit", None)
    model = SurvivalModel(endpoint=args.endpoint, by=args.by, shape=args.shape,
                          frailty=args.frailty, episodes=args.episodes,
                          priors=priors or None, name=name, time_unit=unit)
    model.resolved_spec()  # check the options before reading any data
    check_out(args)
    eb = load(args.data, time_unit=unit)
    if not getattr(args, "json", False):
        print(f"time unit: {eb.time_unit_note}", file=sys.stderr)
    fitted = model.fit(eb, seed=1 if args.seed is None else args.seed)
    return emit_fit(fitted, args, name=name)
