"""``pclbayes fit response``: pooled response rates by target, strategy or any column."""

from __future__ import annotations

import argparse

from pclbayes.cli._checks import integer, real
from pclbayes.cli._output import (
    add_common_fit_arguments,
    check_out,
    dumps,
    emit_fit,
    parse_prior_overrides,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``response`` sub-command of ``fit``."""
    p = subparsers.add_parser(
        "response",
        help="pooled ORR or CR across cohorts (hierarchical beta-binomial or logit-normal)",
        description="Fit a hierarchical model of response rates pooled over cohorts, one "
        "population per stratum. --by target uses first infusions only; --by strategy adds "
        "the target-switched re-infusions. --data takes the bundled layout, a CSV of "
        "aggregate rows (cohort, n, responders [, grouping columns]) or a CSV of patient "
        "rows with 0/1 outcome columns.",
    )
    p.add_argument("--endpoint", default="orr", metavar="{orr,cr,COLUMN}",
                   help="orr (PR or better), cr (CR or better) or a 0/1 column (default orr)")
    p.add_argument("--by", default="none", metavar="{none,target,strategy,COLUMN}",
                   help="stratify by antigen target, re-infusion strategy or a column "
                   "(default none)")
    p.add_argument("--model", default="beta-binomial",
                   choices=("beta-binomial", "logit-normal"), help="default beta-binomial")
    p.add_argument("--method", default="auto", choices=("auto", "mcmc", "exact"),
                   help="auto (default): exact for the beta-binomial model, NUTS for the "
                   "logit-normal one; mcmc: NUTS; exact: deterministic numerical "
                   "integration (beta-binomial only)")
    p.add_argument("--heterogeneity", default="shared", choices=("shared", "stratum"),
                   help="one between-cohort heterogeneity for all strata (default) or one each")
    p.add_argument("--reference", metavar="LEVEL",
                   help="reference level of the contrasts (default BCMA / first)")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=DIST",
                   help="override a prior, e.g. --prior 'kappa=Gamma(alpha=2, beta=0.05)' "
                   "(repeatable; names: mu, kappa | intercept, effect, sigma)")
    p.add_argument("--draws", type=integer(1), default=1000,
                   help="draws per chain, >= 1 (default 1000)")
    p.add_argument("--tune", type=integer(1), default=1000,
                   help="tuning steps, >= 1 (default 1000)")
    p.add_argument("--chains", type=integer(1), default=4, help="chains, >= 1 (default 4)")
    p.add_argument("--target-accept", type=real(0, 1, low_open=True, high_open=True),
                   default=0.9, help="target acceptance rate of NUTS, in (0, 1) (default 0.9)")
    p.add_argument("--sampler", default="nutpie", choices=("nutpie", "pymc"),
                   help="NUTS implementation (default nutpie)")
    add_common_fit_arguments(p)
    from pclbayes.cli.borrow_args import add_borrow_arguments

    add_borrow_arguments(p, robust_weight=True)
    p.add_argument("--threshold", type=real(0, 1, low_open=True, high_open=True), default=0.5,
                   metavar="T", help="with --codata: report P(rate > T), T in (0, 1) "
                   "(default 0.5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the response model and print or save the result."""
    from pclbayes.cli.borrow_args import check_borrow_arguments
    from pclbayes.data import load
    from pclbayes.response import ResponseModel
    from pclbayes.sampling import SamplerSettings

    method = check_borrow_arguments(args, robust_weight=True)
    if method is not None:
        return _run_borrowing(args, method)
    sampler = SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains,
                              target_accept=args.target_accept, sampler=args.sampler)
    priors = parse_prior_overrides(args.prior, "kappa=Gamma(alpha=2, beta=0.05)")
    model = ResponseModel(endpoint=args.endpoint, by=args.by, model=args.model,
                          method=args.method, heterogeneity=args.heterogeneity,
                          priors=priors, sampler=sampler, reference=args.reference)
    model.validate()  # check the options before reading any data
    check_out(args)
    eb = load(args.data)
    fitted = model.fit(eb, seed=1 if args.seed is None else args.seed)
    return emit_fit(fitted, args, name=f"response_{args.endpoint}_by_{args.by}")


def _run_borrowing(args: argparse.Namespace, method: str) -> int:
    """``--codata``: the PCL-only and the borrowed answer side by side (no model fit)."""
    from pathlib import Path

    from pclbayes._files import atomic_write_text
    from pclbayes.cli.borrow_args import codata_path
    from pclbayes.data import load
    from pclbayes.data.views import response_counts
    from pclbayes.errors import SpecError
    from pclbayes.planning.borrowing import borrow_response, load_codata

    unused = [opt for opt, given in (
        ("--model", args.model != "beta-binomial"), ("--method", args.method != "auto"),
        ("--heterogeneity", args.heterogeneity != "shared"),
        ("--reference", args.reference is not None), ("--prior", bool(args.prior)))
        if given]
    if unused:
        verb, them = ("configures", "it") if len(unused) == 1 else ("configure", "them")
        raise SpecError(f"{', '.join(unused)} {verb} the model fit, which --codata replaces "
                        f"by the exact borrowing analysis; drop {them} or drop --codata")
    check_out(args)
    codata = load_codata(codata_path(args), endpoint=args.endpoint,
                         population=args.codata_population, by=args.by)
    pcl = response_counts(load(args.data), args.endpoint, args.by)
    kwargs = {k: v for k, v in (("a0", args.a0), ("p_exchangeable", args.p_exchangeable),
                                ("robust_weight", args.robust_weight),
                                ("n_draws", args.predictive_draws)) if v is not None}
    res = borrow_response(pcl, codata, method, threshold=args.threshold,
                          seed=0 if args.seed is None else args.seed,
                          settings={"endpoint": args.endpoint, "by": args.by,
                                    "codata": args.codata}, **kwargs)
    text = dumps(res.to_dict())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        name = f"borrowing_{args.endpoint}_{method}.json"
        atomic_write_text(out / name, text + "\n")
    print(text if args.json else res)
    if args.out and not args.json:
        print(f"\nwrote {name} to {args.out}")
    return 0
