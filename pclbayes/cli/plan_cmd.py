"""``pclbayes plan``: operating characteristics, sample size, ESS, MAP and survival priors."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from pclbayes.cli import _checks
from pclbayes.cli._checks import (
    Progress,
    check_work,
    format_seconds,
    integer,
    output_file,
    real,
    real_list,
    seed,
)
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
    if min(values) < 0:
        raise argparse.ArgumentTypeError(f"event counts must be >= 0, got {text!r}")
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
    if n1 < 1 or not (0 < thr < 1) or not (0 < prob < 1):
        raise argparse.ArgumentTypeError(
            f"need N1 >= 1, 0 < THRESHOLD < 1 and 0 < PROB < 1, got {text!r}"
        )
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


# ---------------------------------------------------------------------------- cost estimates
# Conservative costs on a small machine (2 cores); they only decide whether a run is refused.
SECONDS_PER_POSTERIOR_PROB = 2.5e-6
"""One posterior probability ``P(rate > t | r, n)`` of one beta mixture component."""
SECONDS_PER_PMF_VALUE = 2e-7
"""One binomial pmf value (log space)."""
SECONDS_PER_TWO_STAGE_CELL = 1e-7
"""One (stage-1, stage-2 responders) pair, per true rate or design-prior component."""
BYTES_PER_N = 8 * 8
"""Memory per patient of a vector over responder counts ``0..n`` (with temporaries)."""


def _n_sum(n_min: int, n_max: int) -> int:
    """``sum of (n + 1) for n = n_min..n_max``: responder counts searched."""
    return (n_max - n_min + 1) * (n_min + n_max + 2) // 2


def _check_oc_work(args: argparse.Namespace, prior: Any, rule: Any) -> None:
    """Refuse ``plan oc`` when the exact sums would take too long (see --allow-large)."""
    per_r = len(rule.criteria) * prior.weights.size
    rates = len(args.true)
    seconds = (args.n + 1) * (per_r * SECONDS_PER_POSTERIOR_PROB
                              + (rates + prior.weights.size) * SECONDS_PER_PMF_VALUE)
    what = f"{(args.n + 1) * per_r:.3g} posterior probabilities"
    if args.futility is not None:
        n1 = args.futility[0]
        n2 = max(args.n - n1, 0)
        seconds += (n1 + 1) * prior.weights.size * SECONDS_PER_POSTERIOR_PROB
        seconds += ((n1 + 1) * (n2 + 1) * (rates + prior.weights.size)
                    * SECONDS_PER_TWO_STAGE_CELL)
        what += f" and {(n1 + 1) * (n2 + 1):.3g} two-stage responder pairs"
    options = ["--n"] if args.futility is None else ["--n", "the --futility N1"]
    if getattr(args, "robust_weights", None):  # one design per robust weight (+1 component)
        seconds *= len(args.robust_weights) * (prior.weights.size + 1) / prior.weights.size
        options.append("--robust-weights")
    check_work("plan oc", seconds, (args.n + 1) * (BYTES_PER_N + 8 * rates), options=options,
               allow_large=args.allow_large, what=what, shows_progress=False)


def _warn_unconverged(path: str) -> None:
    """Print a warning to stderr if the prior file records an MCMC fit that did not converge."""
    import sys

    from pclbayes.planning import convergence_warning

    message = convergence_warning(path)
    if message is not None:
        print(message, file=sys.stderr)


# ---------------------------------------------------------------------------- oc
def _run_oc(args: argparse.Namespace) -> int:
    from pclbayes.planning import (
        InterimFutility,
        assurance,
        decision_rule,
        operating_characteristics,
    )

    if args.robust_mean is not None and args.robust_weights is None:
        raise SpecError("--robust-mean applies with --robust-weights W[,W...]")
    prior = _load_beta(args.prior)
    _warn_unconverged(args.prior)
    rule = _rule(args)
    _check_oc_work(args, prior, rule)
    futility = None
    if args.futility is not None:
        n1, thr, prob = args.futility
        futility = InterimFutility(n1, decision_rule(thr, prob, "<"))
    if args.robust_weights is not None:
        if len(set(args.robust_weights)) != len(args.robust_weights):
            raise SpecError(f"--robust-weights: each weight once, got "
                            f"{','.join(f'{w:g}' for w in args.robust_weights)}")
        from pclbayes.planning import oc_by_robust_weight

        table = oc_by_robust_weight(prior, args.n, rule, args.true, args.robust_weights,
                                    robust_mean=args.robust_mean, futility=futility)
        _emit(table.to_dict()) if args.json else print(table)
        return 0
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

    if args.null >= args.alt:
        raise SpecError(
            f"--null {args.null:g} must be smaller than --alt {args.alt:g}: success means a "
            "high response rate, so the type-I error is taken at the lower rate (--null) and "
            "the power at the higher one (--alt); swap them?"
        )
    if args.n_min > args.n_max:
        raise SpecError(f"--n-min {args.n_min} must not exceed --n-max {args.n_max}")
    prior = _load_beta(args.prior)
    rule = _rule(args)
    count = _n_sum(args.n_min, args.n_max) * len(rule.criteria) * prior.weights.size
    seconds = count * SECONDS_PER_POSTERIOR_PROB + _n_sum(args.n_min, args.n_max) * (
        2 * SECONDS_PER_PMF_VALUE)
    check_work("plan sample-size", seconds, (args.n_max + 1) * BYTES_PER_N,
               options=["--n-max"], allow_large=args.allow_large,
               what=f"{count:.3g} posterior probabilities (growing like n-max squared)")
    res = sample_size(
        prior,
        rule,
        null=args.null,
        alt=args.alt,
        power=args.power,
        alpha=args.alpha,
        n_min=args.n_min,
        n_max=args.n_max,
        progress=Progress("plan sample-size: n searched"),
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
    _warn_unconverged(args.prior)
    methods = ["elir", "morita", "moment"] if args.method == "all" else [args.method]
    kwargs = {} if isinstance(prior, BetaMixture) else {"shape": args.shape}
    unit = "patients" if isinstance(prior, BetaMixture) else "events"
    if isinstance(prior, BetaMixture):
        _check_ess_range(prior, args.prior)
    values = {m: _checked_ess(ess, prior, m, kwargs, args.prior) for m in methods}
    if args.json:
        _emit({"unit": unit, "ess": values})
    else:
        print(prior)
        for m, v in values.items():
            print(f"ESS ({m}): {v:.2f} {unit}")
    return 0


ESS_MAX_SHAPE = 1e9
"""Largest beta shape parameter ``plan ess`` accepts (a prior worth about a billion patients)."""


def _check_ess_range(prior: Any, path: str) -> None:
    """Refuse beta components with ``a`` or ``b`` above :data:`ESS_MAX_SHAPE`."""
    for name, a, b in zip(prior.names, prior.a, prior.b, strict=True):
        if max(a, b) > ESS_MAX_SHAPE:
            raise SpecError(
                f"ESS of the prior in {path}: component {name} is Beta({a:g}, {b:g}); the ESS is "
                f"computed for shapes up to {ESS_MAX_SHAPE:g} (worth about a + b patients)"
            )


def _checked_ess(ess: Any, prior: Any, method: str, kwargs: dict[str, Any], path: str) -> float:
    """``ess(prior, method)``, or a :class:`SpecError` when it has no finite value.

    Extreme priors (e.g. Beta(1e300, 2)) are beyond the numerical range of the integrals
    and root finding behind the ESS; they yield NaN, overflow or a solver error.
    """
    import numpy as np

    try:
        with np.errstate(all="ignore"):
            value = float(ess(prior, method, **kwargs))
    except SpecError:
        raise
    except (ArithmeticError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise SpecError(f"{_ess_failure(method, path, kwargs)} ({reason})") from None
    if not math.isfinite(value):
        raise SpecError(f"{_ess_failure(method, path, kwargs)} (the result is {value})")
    return value


def _ess_failure(method: str, path: str, kwargs: dict[str, Any]) -> str:
    """Start of the message for an ESS that has no finite value."""
    what = "its parameters"
    if "shape" in kwargs:
        what += f" or --shape {kwargs['shape']:g}"
    return (f"ESS ({method}) of the prior in {path} cannot be computed: {what} are beyond the "
            "numerical range of the method")


# ---------------------------------------------------------------------------- MAP prior
def _add_evidence_arguments(parser: argparse.ArgumentParser, *, unit: str) -> None:
    """Options naming the evidence and the stratum of a new cohort (map/survival prior)."""
    parser.add_argument("--target", "--level", dest="level", metavar="LEVEL",
                        help="stratum of the --by grouping for the new cohort (e.g. BCMA)")
    parser.add_argument("--by", metavar="{none,target,strategy,COLUMN}",
                        help=f"grouping of {unit} (default: target if --target is given, "
                        "else none)")
    parser.add_argument("--data", metavar="PATH", help="evidence data (default: bundled data)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="random seed, 0 to 4294967295 (default 0)")


def _grouping(args: argparse.Namespace) -> str:
    """``--by`` as given, else ``target`` when a level is named, else ``none``."""
    if args.by is not None:
        return args.by
    return "target" if args.level is not None else "none"


def _run_map_prior(args: argparse.Namespace) -> int:
    import sys

    from pclbayes.cli._option_spec import apply_option_spec
    from pclbayes.cli.borrow_args import check_borrow_arguments
    from pclbayes.planning import map_prior_from_evidence, save_prior

    apply_option_spec(args)
    method = check_borrow_arguments(args, robust_weight=False)
    if method is not None:
        return _run_borrowed_map_prior(args, method)
    res = map_prior_from_evidence(
        args.data,
        endpoint=args.endpoint,
        by=_grouping(args),
        level=args.level,
        tau_prior=args.tau_prior,
        intercept_prior=args.intercept_prior,
        robust_weight=args.robust,
        robust_mean=args.robust_mean,
        seed=args.seed,
        max_components=args.max_components,
        sampler=None if args.draws is None else {"draws": args.draws},
        sensitivity=args.ess_range,
    )
    if args.out is not None:
        save_prior(res.prior, args.out, provenance=res.provenance, convergence=res.convergence)
    if res.converged is False:
        print(
            "warning: the MCMC fit of the meta-analysis did not pass the convergence gate; "
            "the MAP prior and its ESS are unreliable (try more --draws)",
            file=sys.stderr,
        )
    if args.json:
        _emit(res.to_dict())
        return 0
    print(res)
    if not args.ess_range:
        print(
            "The ESS depends on the heterogeneity prior: --ess-range refits the MAP prior over "
            "tau ~ HalfNormal(0.5), (1), (2) and two intercept priors."
        )
    if args.out is not None:
        print(f"Prior written to {args.out}")
    return 0


def _run_borrowed_map_prior(args: argparse.Namespace, method: str) -> int:
    """``plan map-prior --codata``: exact MAP prior with co-data discounted (no MCMC)."""
    from pclbayes.cli.borrow_args import codata_path
    from pclbayes.data import load
    from pclbayes.data.views import response_counts
    from pclbayes.planning import save_prior
    from pclbayes.planning.borrowing import (
        DEFAULT_MU_PRIOR,
        DEFAULT_TAU_PRIOR,
        borrowed_map_prior,
        load_codata,
    )

    if args.ess_range:
        raise SpecError("--ess-range refits the MCMC MAP prior and does not combine with "
                        "--codata; the co-data MAP prior reports its own discount table")
    by = _grouping(args)
    codata = load_codata(codata_path(args), endpoint=args.endpoint,
                         population=args.codata_population, by=by, level=args.level)
    eb = load(args.data)
    pcl = response_counts(eb, args.endpoint, by)
    levels = list(dict.fromkeys(pcl["group"].astype(str)))
    if args.level is None and len(levels) > 1:
        raise SpecError(f"--by {by} has levels {', '.join(levels)}: name the new cohort's "
                        "level with --target LEVEL")
    if args.level is not None:
        if args.level not in levels:
            raise SpecError(f"--target {args.level} is not a level of '{by}'; levels: "
                            f"{', '.join(levels)}")
        pcl = pcl[pcl["group"].astype(str) == args.level]
    kwargs = {k: v for k, v in (("a0", args.a0), ("p_exchangeable", args.p_exchangeable),
                                ("n_draws", args.predictive_draws)) if v is not None}
    res = borrowed_map_prior(
        pcl, codata, method, robust_weight=args.robust, robust_mean=args.robust_mean,
        mu_prior=args.intercept_prior or DEFAULT_MU_PRIOR,
        tau_prior=args.tau_prior or DEFAULT_TAU_PRIOR, max_components=args.max_components,
        seed=args.seed,
        settings={"endpoint": args.endpoint, "by": by, "level": args.level,
                  "codata": args.codata, "data_hash": getattr(eb, "data_hash", None)},
        **kwargs)
    if args.out is not None:
        save_prior(res.prior, args.out, provenance=res.map_prior.provenance)
    if args.json:
        _emit(res.to_dict())
        return 0
    print(res)
    if args.out is not None:
        print(f"Prior written to {args.out}")
    return 0


# ---------------------------------------------------------------------------- survival prior
def _run_survival_prior(args: argparse.Namespace) -> int:
    from pclbayes.cli._option_spec import apply_option_spec
    from pclbayes.planning.survival_map import survival_map_prior_from_evidence

    apply_option_spec(args)
    if args.robust_median is not None and args.robust == 0:
        raise SpecError("--robust-median centres the vague component: give its weight with "
                        "--robust W (W > 0)")
    res = survival_map_prior_from_evidence(
        args.data,
        endpoint=args.endpoint,
        by=_grouping(args),
        level=args.level,
        seed=args.seed,
        max_components=args.max_components,
        robust_weight=args.robust,
        robust_median=args.robust_median,
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
    cells = args.prior_draws * (args.n + 1)
    check_work("plan events", cells * SECONDS_PER_PMF_VALUE, (args.n + 1) * BYTES_PER_N,
               options=["--n", "--prior-draws"], allow_large=args.allow_large,
               what=f"{cells:.3g} binomial probabilities (--prior-draws times --n)")
    pred = predictive_events(
        prior,
        n=args.n,
        accrual=args.accrual,
        analysis_time=args.analysis_time,
        shape=shape,
        n_draws=args.prior_draws,
        rng=np.random.default_rng(args.seed),
        progress=Progress("plan events: prior draws"),
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
        type=real_list(0, 1, low_open=True, high_open=True),
        required=True,
        metavar="P0[,P0...]",
        help="rate threshold(s) t of the success criteria P(rate > t | data) > c, each in (0, 1)",
    )
    p.add_argument(
        "--prob",
        type=real_list(0, 1, low_open=True, high_open=True),
        required=True,
        metavar="C[,C...]",
        help="critical posterior probability c of each criterion, in (0, 1) (same count as "
        "--threshold)",
    )


def _add_allow_large(p: argparse.ArgumentParser) -> None:
    """``--allow-large``: run even when the estimated work is beyond the limits."""
    p.add_argument(
        "--allow-large",
        action="store_true",
        help=f"run even when the work estimated from the arguments is beyond "
        f"{format_seconds(_checks.TIME_LIMIT_SECONDS)} or "
        f"{_checks.format_bytes(_checks.MEMORY_LIMIT_BYTES)} (refused otherwise, before "
        "starting)",
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
    oc.add_argument("--n", type=integer(1), required=True, help="number of patients, >= 1")
    _add_rule_args(oc)
    oc.add_argument(
        "--true",
        type=real_list(0, 1),
        default=_floats(_DEFAULT_RATES),
        metavar="R[,R...]",
        help="true response rates to evaluate, each in [0, 1] (default 0.05..0.9)",
    )
    oc.add_argument(
        "--futility",
        type=_futility,
        metavar="N1:T:C",
        help="interim after N1 >= 1 patients; stop if P(rate < T | data) > C (T, C in (0, 1))",
    )
    oc.add_argument(
        "--robust-weights", type=real_list(0, 1, high_open=True), metavar="W[,W...]",
        help="the same design with each robust weight, side by side, e.g. 0,0.1,0.2,0.5: the "
        "prior's robust component is replaced by one of weight W (0: the informative part "
        "alone); each W in [0, 1)")
    oc.add_argument(
        "--robust-mean", type=real(0, 1, low_open=True, high_open=True), metavar="M",
        help="with --robust-weights: mean of the vague component, in (0, 1) (default: that "
        "of the prior's robust component, else 0.5)")
    _add_allow_large(oc)
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
    ss.add_argument("--null", type=real(0, 1), required=True,
                    help="null response rate, in [0, 1] and below --alt")
    ss.add_argument("--alt", type=real(0, 1), required=True,
                    help="alternative response rate, in [0, 1] and above --null")
    ss.add_argument("--power", type=real(0, 1, low_open=True, high_open=True), default=0.8,
                    help="required power, in (0, 1) (default 0.8)")
    ss.add_argument("--alpha", type=real(0, 1, low_open=True, high_open=True), default=0.1,
                    help="maximal type-I error, in (0, 1) (default 0.1)")
    ss.add_argument("--n-min", type=integer(1), default=1,
                    help="smallest n searched, >= 1 (default 1)")
    ss.add_argument("--n-max", type=integer(1), default=200,
                    help="largest n searched, >= --n-min (default 200); the work grows like "
                    "n-max squared")
    _add_allow_large(ss)
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
        type=real(0, low_open=True),
        default=1.0,
        help="Weibull shape (> 0) for normal (log-median) priors; ESS in events (default 1)",
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
    mp.add_argument("--tau-prior", metavar="SPEC",
                    help="prior for the heterogeneity tau, e.g. 'HalfNormal(sigma=0.5)' "
                    "(default HalfNormal(sigma=1))")
    mp.add_argument("--intercept-prior", metavar="SPEC",
                    help="prior for the mean log-odds of the reference stratum, e.g. "
                    "'Normal(mu=0, sigma=3)' (default Normal(mu=0, sigma=1.5))")
    mp.add_argument("--draws", type=integer(20), metavar="N",
                    help="MCMC draws per chain (4 chains), >= 20 (default 1000); below about 100 "
                    "the convergence gate (bulk ESS >= 400) cannot pass")
    mp.add_argument("--ess-range", action="store_true",
                    help="also refit the MAP prior for tau ~ HalfNormal(0.5), (1), (2) crossed "
                    "with intercept ~ Normal(0, 1.5), Normal(0, 3) and print the ESS range "
                    "(five more MCMC fits, the default priors' fit is reused; about 1-2 s each "
                    "once compiled, so off by default)")
    mp.add_argument(
        "--robust", "--robust-weight", type=real(0, 1, high_open=True), default=0.2,
        metavar="W", help="robust weight, in [0, 1) (default 0.2; 0 off)"
    )
    mp.add_argument(
        "--robust-mean", type=real(0, 1, low_open=True, high_open=True), metavar="M",
        help="mean of the robust component, in (0, 1) (default 0.5)"
    )
    mp.add_argument(
        "--max-components", type=integer(1, 6), default=4,
        help="largest mixture size, 1 to 6 (default 4)"
    )
    mp.add_argument("--out", metavar="FILE", type=output_file,
                    help="write the (robust) prior as JSON (checked before fitting)")
    mp.add_argument("--json", action="store_true", help="print JSON instead of text")
    __import__("pclbayes.cli.borrow_args", fromlist=["x"]).add_borrow_arguments(
        mp, robust_weight=False)
    __import__("pclbayes.cli._option_spec", fromlist=["x"]).add_spec_argument(mp, "map_prior")
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
        "--max-components", type=integer(1, 6), default=3,
        help="largest mixture size, 1 to 6 (default 3)"
    )
    sp.add_argument(
        "--robust", "--robust-weight", type=real(0, 1, high_open=True), default=0.0,
        metavar="W", help="weight of a vague component worth one event at the Weibull shape, "
        "in [0, 1) (default 0: off; 0.2 as for the response MAP prior bounds prior-data "
        "conflict)")
    sp.add_argument("--robust-median", type=real(0, low_open=True), metavar="MONTHS",
                    help="centre of the vague component, a median in months > 0 (default: "
                    "the mixture mean)")
    sp.add_argument("--out", metavar="FILE", type=output_file,
                    help="write the log-median prior as JSON (checked before fitting)")
    sp.add_argument("--json", action="store_true", help="print JSON instead of text")
    __import__("pclbayes.cli._option_spec", fromlist=["x"]).add_spec_argument(
        sp, "survival_prior")
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
    ev.add_argument("--n", type=integer(1), required=True, help="number of patients, >= 1")
    ev.add_argument(
        "--accrual", type=real(0), required=True, metavar="MONTHS",
        help="accrual period (months, >= 0)"
    )
    ev.add_argument(
        "--analysis-time",
        type=real(0, low_open=True),
        required=True,
        metavar="MONTHS",
        help="time of the analysis, months (> 0) after the first patient entered",
    )
    ev.add_argument(
        "--shape",
        type=real(0, low_open=True),
        metavar="K",
        help="Weibull shape, > 0 (default: the one stored in the prior file, else 1 = "
        "exponential)",
    )
    ev.add_argument("--seed", type=seed, default=0,
                    help="seed of the prior draws, 0 to 4294967295 (default 0)")
    ev.add_argument(
        "--prior-draws",
        type=integer(1),
        default=10_000,
        metavar="M",
        help="Monte-Carlo draws of the median from the prior, >= 1 (default 10000)",
    )
    ev.add_argument(
        "--at-least",
        type=_ints,
        metavar="K[,K...]",
        help="event counts k >= 0 for the P(events >= k) table (default: spread over the range)",
    )
    _add_allow_large(ev)
    ev.add_argument("--json", action="store_true", help="print JSON instead of text")
    ev.set_defaults(func=_run_events)
    __import__("pclbayes.cli.plan_design_cmd", fromlist=["register"]).register(sub)  # oc2 etc.
