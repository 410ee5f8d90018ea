"""``pclbayes plan``: operating characteristics, sample size, ESS and MAP priors."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pclbayes.errors import SpecError

_DEFAULT_RATES = "0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.6,0.7,0.8,0.9"


def _floats(text: str) -> list[float]:
    """Parse a comma-separated list of numbers."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _futility(text: str) -> tuple[int, float, float]:
    """Parse ``N1:THRESHOLD:PROB``."""
    parts = text.split(":")
    try:
        n1, thr, prob = int(parts[0]), float(parts[1]), float(parts[2])
    except (ValueError, IndexError) as exc:
        raise argparse.ArgumentTypeError(
            f"expected N1:THRESHOLD:PROB (e.g. 10:0.3:0.9), got {text!r}"
        ) from exc
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected N1:THRESHOLD:PROB, got {text!r}")
    return n1, thr, prob


def _emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, allow_nan=False))


def _load_beta(path: str) -> Any:
    from pclbayes.planning import BetaMixture, load_prior

    prior = load_prior(path)
    if not isinstance(prior, BetaMixture):
        raise SpecError(f"{path}: this command needs a beta (response-rate) prior")
    return prior


def _rule(args: argparse.Namespace) -> Any:
    from pclbayes.planning import decision_rule

    return decision_rule(args.threshold, args.prob)


# ---------------------------------------------------------------------------- oc
def _run_oc(args: argparse.Namespace) -> int:
    from pclbayes.planning import (
        InterimFutility,
        assurance,
        decision_rule,
        operating_characteristics,
    )

    prior = _load_beta(args.prior)
    rule = _rule(args)
    futility = None
    if args.futility is not None:
        n1, thr, prob = args.futility
        futility = InterimFutility(n1, decision_rule(thr, prob, "<"))
    res = operating_characteristics(prior, args.n, rule, args.true, futility=futility)
    pos = assurance(prior, args.n, rule, futility=futility)
    if args.json:
        _emit({**res.to_dict(), "assurance": pos})
    else:
        print(res)
        print(f"Assurance (probability of success under the prior): {pos:.4f}")
    return 0


# ---------------------------------------------------------------------------- sample size
def _run_sample_size(args: argparse.Namespace) -> int:
    from pclbayes.planning import sample_size

    prior = _load_beta(args.prior)
    res = sample_size(
        prior,
        _rule(args),
        null=args.null,
        alt=args.alt,
        power=args.power,
        alpha=args.alpha,
        n_min=args.n_min,
        n_max=args.n_max,
    )
    if args.json:
        _emit(res.to_dict())
    else:
        print(res)
    return 0 if res.n is not None else 1


# ---------------------------------------------------------------------------- ess
def _run_ess(args: argparse.Namespace) -> int:
    from pclbayes.planning import BetaMixture, ess, load_prior

    prior = load_prior(args.prior)
    methods = ["elir", "morita", "moment"] if args.method == "all" else [args.method]
    kwargs = {} if isinstance(prior, BetaMixture) else {"shape": args.shape}
    unit = "patients" if isinstance(prior, BetaMixture) else "events"
    values = {m: ess(prior, m, **kwargs) for m in methods}
    if args.json:
        _emit({"unit": unit, "ess": values})
    else:
        print(prior)
        for m, v in values.items():
            print(f"ESS ({m}): {v:.2f} {unit}")
    return 0


# ---------------------------------------------------------------------------- MAP prior
def _run_map_prior(args: argparse.Namespace) -> int:
    from pclbayes.planning import map_prior_from_evidence, save_prior

    res = map_prior_from_evidence(
        args.data,
        endpoint=args.endpoint,
        by=args.by,
        level=args.level,
        tau_prior=args.tau_prior,
        robust_weight=args.robust,
        robust_mean=args.robust_mean,
        seed=args.seed,
        max_components=args.max_components,
    )
    if args.out is not None:
        save_prior(res.prior, args.out, provenance=res.provenance)
    if args.json:
        _emit(res.to_dict())
    else:
        print(res)
        if args.out is not None:
            print(f"Prior written to {args.out}")
    return 0


# ---------------------------------------------------------------------------- parser
def _add_rule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        type=_floats,
        required=True,
        metavar="P0[,P0...]",
        help="rate threshold(s) t of the success criteria P(rate > t | data) > c",
    )
    p.add_argument(
        "--prob",
        type=_floats,
        required=True,
        metavar="C[,C...]",
        help="critical posterior probability c of each criterion (same count as --threshold)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plan`` command and its sub-commands to ``subparsers``."""
    plan = subparsers.add_parser(
        "plan",
        help="trial planning: operating characteristics, sample size, ESS, MAP prior",
        description="Plan a single-arm trial with a (robust) MAP prior for the response rate.",
    )
    sub = plan.add_subparsers(dest="plan_command", required=True, metavar="SUBCOMMAND")

    oc = sub.add_parser(
        "oc",
        help="exact operating characteristics of a decision rule",
        description="Probability of success at true response rates (exact binomial sums).",
    )
    oc.add_argument("--prior", required=True, metavar="FILE", help="prior JSON file (beta)")
    oc.add_argument("--n", type=int, required=True, help="number of patients")
    _add_rule_args(oc)
    oc.add_argument(
        "--true",
        type=_floats,
        default=_floats(_DEFAULT_RATES),
        metavar="R[,R...]",
        help="true response rates to evaluate (default 0.05..0.9)",
    )
    oc.add_argument(
        "--futility",
        type=_futility,
        metavar="N1:T:C",
        help="interim after N1 patients; stop if P(rate < T | data) > C",
    )
    oc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    oc.set_defaults(func=_run_oc)

    ss = sub.add_parser(
        "sample-size",
        help="smallest n with required power and type-I error",
        description=(
            "Search n for P(success | null) <= alpha and P(success | alt) >= power. "
            "Exit status 1 when no n up to --n-max qualifies."
        ),
    )
    ss.add_argument("--prior", required=True, metavar="FILE", help="prior JSON file (beta)")
    _add_rule_args(ss)
    ss.add_argument("--null", type=float, required=True, help="null response rate")
    ss.add_argument("--alt", type=float, required=True, help="alternative response rate")
    ss.add_argument("--power", type=float, default=0.8, help="required power (default 0.8)")
    ss.add_argument("--alpha", type=float, default=0.1, help="maximal type-I error (default 0.1)")
    ss.add_argument("--n-min", type=int, default=1, help="smallest n searched (default 1)")
    ss.add_argument("--n-max", type=int, default=200, help="largest n searched (default 200)")
    ss.add_argument("--json", action="store_true", help="print JSON instead of text")
    ss.set_defaults(func=_run_sample_size)

    es = sub.add_parser(
        "ess",
        help="effective sample size of a prior",
        description="ESS of a beta prior (patients) or a log-median normal prior (events).",
    )
    es.add_argument("--prior", required=True, metavar="FILE", help="prior JSON file")
    es.add_argument(
        "--method",
        choices=["elir", "morita", "moment", "all"],
        default="elir",
        help="ESS definition (default elir)",
    )
    es.add_argument(
        "--shape",
        type=float,
        default=1.0,
        help="Weibull shape for normal (log-median) priors; ESS in events (default 1)",
    )
    es.add_argument("--json", action="store_true", help="print JSON instead of text")
    es.set_defaults(func=_run_ess)

    mp = sub.add_parser(
        "map-prior",
        help="MAP prior for a new cohort's response rate from the evidence base",
        description=(
            "Fit the logit-normal random-effects model, draw the rate of a new cohort, "
            "approximate it by a beta mixture and robustify it."
        ),
    )
    mp.add_argument("--endpoint", choices=["orr", "cr"], default="orr", help="response endpoint")
    mp.add_argument(
        "--target",
        "--level",
        dest="level",
        metavar="LEVEL",
        help="stratum of the --by grouping for the new cohort (e.g. BCMA)",
    )
    mp.add_argument(
        "--by", choices=["target", "strategy"], default="target", help="grouping of cohorts"
    )
    mp.add_argument("--data", metavar="PATH", help="evidence data (default: bundled data)")
    mp.add_argument("--tau-prior", metavar="SPEC", help="prior for the heterogeneity tau")
    mp.add_argument(
        "--robust", type=float, default=0.2, metavar="W", help="robust weight (default 0.2; 0 off)"
    )
    mp.add_argument(
        "--robust-mean", type=float, metavar="M", help="mean of the robust component (default 0.5)"
    )
    mp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    mp.add_argument(
        "--max-components", type=int, default=4, help="largest mixture size (default 4)"
    )
    mp.add_argument("--out", metavar="FILE", help="write the (robust) prior as JSON")
    mp.add_argument("--json", action="store_true", help="print JSON instead of text")
    mp.set_defaults(func=_run_map_prior)
