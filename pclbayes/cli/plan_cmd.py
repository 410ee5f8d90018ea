"""``pclbayes plan``: operating characteristics, sample size, ESS, MAP and survival priors."""

from __future__ import annotations

import argparse
import json
import math
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


def _ints(text: str) -> list[int]:
    """Parse a comma-separated list of integers."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
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
def _add_evidence_arguments(parser: argparse.ArgumentParser, *, unit: str) -> None:
    """Options naming the evidence and the stratum of a new cohort (map/survival prior)."""
    parser.add_argument("--target", "--level", dest="level", metavar="LEVEL",
                        help="stratum of the --by grouping for the new cohort (e.g. BCMA)")
    parser.add_argument("--by", metavar="{none,target,strategy,COLUMN}",
                        help=f"grouping of {unit} (default: target if --target is given, "
                        "else none)")
    parser.add_argument("--data", metavar="PATH", help="evidence data (default: bundled data)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _grouping(args: argparse.Namespace) -> str:
    """``--by`` as given, else ``target`` when a level is named, else ``none``."""
    if args.by is not None:
        return args.by
    return "target" if args.level is not None else "none"


def _run_map_prior(args: argparse.Namespace) -> int:
    from pclbayes.planning import map_prior_from_evidence, save_prior

    res = map_prior_from_evidence(
        args.data,
        endpoint=args.endpoint,
        by=_grouping(args),
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


# ---------------------------------------------------------------------------- survival prior
def _run_survival_prior(args: argparse.Namespace) -> int:
    from pclbayes.planning.survival_map import survival_map_prior_from_evidence

    res = survival_map_prior_from_evidence(
        args.data,
        endpoint=args.endpoint,
        by=_grouping(args),
        level=args.level,
        seed=args.seed,
        max_components=args.max_components,
    )
    if args.out is not None:
        res.save(args.out)
    if args.json:
        _emit(res.to_dict())
    else:
        print(res)
        if args.out is not None:
            print(f"Prior written to {args.out}")
    return 0


# ---------------------------------------------------------------------------- events
_EVENT_LABELS = {"pfs": "PFS events (progression or death)", "os": "OS events (deaths)"}


def _default_at_least(pred: Any) -> list[int]:
    """About 15 event counts spanning the central 99% of the predictive distribution."""
    lo, hi = max(pred.ppf(0.005), 1), max(pred.ppf(0.995), 1)
    step = max(1, math.ceil((hi - lo + 1) / 15))
    return sorted({*range(lo, hi + 1, step), hi})


def _run_events(args: argparse.Namespace) -> int:
    import numpy as np

    from pclbayes.planning import NormalMixture, load_prior, load_provenance, predictive_events

    prior = load_prior(args.prior)
    if not isinstance(prior, NormalMixture):
        raise SpecError(
            f"{args.prior}: this command needs a normal prior for log(median months) "
            "(create one with 'pclbayes plan survival-prior --out FILE'), got a beta prior"
        )
    provenance = load_provenance(args.prior)
    spec = provenance.get("spec")
    endpoint = spec.get("endpoint") if isinstance(spec, dict) else None
    label = _EVENT_LABELS.get(endpoint, "events") if isinstance(endpoint, str) else "events"
    if args.shape is not None:
        shape, shape_source = args.shape, "--shape"
    else:
        stored = provenance.get("weibull_shape")
        if isinstance(stored, int | float) and math.isfinite(stored) and stored > 0:
            shape, shape_source = float(stored), "prior file"
        else:
            shape, shape_source = 1.0, "default (exponential)"
    pred = predictive_events(
        prior,
        n=args.n,
        accrual=args.accrual,
        analysis_time=args.analysis_time,
        shape=shape,
        n_draws=args.prior_draws,
        rng=np.random.default_rng(args.seed),
    )
    ks = args.at_least if args.at_least is not None else _default_at_least(pred)
    bad = [k for k in ks if k < 0 or k > args.n]
    if bad:
        raise SpecError(f"--at-least values must lie in 0..{args.n} (the --n patients): {bad}")
    table = [{"events": int(k), "prob": pred.prob_at_least(int(k))} for k in ks]
    lower, upper = pred.ppf(0.025), pred.ppf(0.975)
    if args.json:
        _emit(
            {
                "endpoint": endpoint,
                "n": pred.n,
                "accrual": pred.accrual,
                "analysis_time": pred.analysis_time,
                "shape": pred.shape,
                "shape_source": shape_source,
                "prior_draws": pred.n_draws,
                "seed": args.seed,
                "mean": pred.mean,
                "median": pred.ppf(0.5),
                "lower": lower,
                "upper": upper,
                "prob_at_least": table,
                "pmf": [float(v) for v in pred.pmf],
            }
        )
        return 0
    print(
        f"Predictive number of {label}: {pred.n} patients accrued uniformly over "
        f"{pred.accrual:g} months, analysis at month {pred.analysis_time:g}\n"
        f"Weibull shape {pred.shape:.4g} ({shape_source}); median prior from {args.prior} "
        f"({pred.n_draws} draws, seed {args.seed})\n"
        f"Expected events {pred.mean:.2f}, median {pred.ppf(0.5)}, 95% interval "
        f"[{lower}, {upper}]"
    )
    print(" events  P(events >= k)")
    for row in table:
        print(f"{row['events']:7d}  {row['prob']:14.4f}")
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
        help="trial planning: MAP priors, ESS, operating characteristics, sample size, events",
        description=(
            "Plan a single-arm trial with a (robust) MAP prior for the response rate, or with "
            "a prior for a new cohort's median PFS/OS and the predictive number of events."
        ),
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
    mp.add_argument("--endpoint", default="orr", metavar="{orr,cr,COLUMN}",
                    help="response endpoint: orr, cr or a 0/1 column of your data (default orr)")
    _add_evidence_arguments(mp, unit="cohorts")
    mp.add_argument("--tau-prior", metavar="SPEC", help="prior for the heterogeneity tau")
    mp.add_argument(
        "--robust", type=float, default=0.2, metavar="W", help="robust weight (default 0.2; 0 off)"
    )
    mp.add_argument(
        "--robust-mean", type=float, metavar="M", help="mean of the robust component (default 0.5)"
    )
    mp.add_argument(
        "--max-components", type=int, default=4, help="largest mixture size (default 4)"
    )
    mp.add_argument("--out", metavar="FILE", help="write the (robust) prior as JSON")
    mp.add_argument("--json", action="store_true", help="print JSON instead of text")
    mp.set_defaults(func=_run_map_prior)

    sp = sub.add_parser(
        "survival-prior",
        help="prior for a new cohort's median PFS/OS from the pooled survival model",
        description=(
            "Fit the pooled Weibull survival model, draw the median time of a new cohort, "
            "approximate log(median) by a normal mixture and report its effective number of "
            "events at the posterior-median Weibull shape."
        ),
    )
    sp.add_argument("--endpoint", choices=["pfs", "os"], default="pfs", help="survival endpoint")
    _add_evidence_arguments(sp, unit="episodes")
    sp.add_argument(
        "--max-components", type=int, default=3, help="largest mixture size (default 3)"
    )
    sp.add_argument("--out", metavar="FILE", help="write the log-median prior as JSON")
    sp.add_argument("--json", action="store_true", help="print JSON instead of text")
    sp.set_defaults(func=_run_survival_prior)

    ev = sub.add_parser(
        "events",
        help="predictive number of events (e.g. progressions) by the analysis time",
        description=(
            "Predictive distribution of the number of events (progressions) among N patients "
            "entering uniformly over the accrual period, counted at the analysis time "
            "(months from the first entry), under a log-median prior and Weibull shape."
        ),
    )
    ev.add_argument(
        "--prior", required=True, metavar="FILE", help="prior JSON file (normal, log median)"
    )
    ev.add_argument("--n", type=int, required=True, help="number of patients")
    ev.add_argument(
        "--accrual", type=float, required=True, metavar="MONTHS", help="accrual period (months)"
    )
    ev.add_argument(
        "--analysis-time",
        type=float,
        required=True,
        metavar="MONTHS",
        help="time of the analysis, months after the first patient entered",
    )
    ev.add_argument(
        "--shape",
        type=float,
        metavar="K",
        help="Weibull shape (default: the one stored in the prior file, else 1 = exponential)",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of the prior draws (default 0)")
    ev.add_argument(
        "--prior-draws",
        type=int,
        default=10_000,
        metavar="M",
        help="Monte-Carlo draws of the median from the prior (default 10000)",
    )
    ev.add_argument(
        "--at-least",
        type=_ints,
        metavar="K[,K...]",
        help="event counts k for the P(events >= k) table (default: spread over the range)",
    )
    ev.add_argument("--json", action="store_true", help="print JSON instead of text")
    ev.set_defaults(func=_run_events)
