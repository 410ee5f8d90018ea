"""``pclbayes plan oc2``, ``plan sample-size2`` and ``plan monitor``: designs beyond one arm.

* ``plan oc2``: exact operating characteristics and assurance of a two-arm (randomised) design
  with a decision on the difference of response rates (or the log odds / risk ratio),
  optionally with a predictive-probability futility look (``--interim``);
* ``plan sample-size2``: search of the treatment size, with the control size by a ratio or
  reduced by the effective sample size of the control prior;
* ``plan monitor``: predictive-probability interim monitoring of a single-arm trial (go / no-go
  boundaries per look and the exact operating characteristics of the monitored design).

Priors are prior JSON files (``plan map-prior --out``) or ``beta:A,B``.
"""

from __future__ import annotations

import argparse
from typing import Any

from pclbayes.cli._checks import Progress, check_work, integer, real, real_list
from pclbayes.cli.plan_cmd import (
    _DEFAULT_RATES,
    _add_allow_large,
    _add_rule_args,
    _emit,
    _floats,
    _load_beta,
    _rule,
    _warn_unconverged,
)
from pclbayes.errors import SpecError

SECONDS_PER_BETAINC = 2e-6
"""One regularised incomplete beta function (conservative, small shared machine)."""
SECONDS_PER_BETABIN = 5e-7
"""One beta-binomial log-probability of one mixture component."""

_SCALES = {
    "difference": "difference",
    "log-odds-ratio": "log_odds_ratio",
    "log-risk-ratio": "log_risk_ratio",
}


# ---------------------------------------------------------------------------- arguments
def prior_spec(text: str) -> str:
    """An argparse type: ``beta:A,B`` (checked here) or a prior file path (read later)."""
    if text.startswith("beta:"):
        _beta_from_spec(text)
    elif not text.strip():
        raise argparse.ArgumentTypeError("expected a prior file or beta:A,B")
    return text


def _beta_from_spec(text: str) -> tuple[float, float]:
    parts = text[len("beta:") :].split(",")
    try:
        a, b = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected beta:A,B with two numbers > 0 (e.g. beta:1,1), got {text!r}"
        ) from None
    if not (0 < a < float("inf") and 0 < b < float("inf")):
        raise argparse.ArgumentTypeError(f"beta:A,B needs finite A, B > 0, got {text!r}")
    return a, b


def _prior(spec: str) -> Any:
    from pclbayes.planning import BetaMixture

    if spec.startswith("beta:"):
        a, b = _beta_from_spec(spec)
        return BetaMixture.single(a, b)
    prior = _load_beta(spec)
    _warn_unconverged(spec)
    return prior


def _looks(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated patient counts, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"looks must be integers >= 1, got {text!r}")
    return values


def _allocation(text: str) -> float | str:
    if text == "ess":
        return "ess"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(
            f"expected a control:treatment ratio > 0 (e.g. 1 or 0.5) or 'ess', got {text!r}"
        )
    return value


def _interim(text: str) -> tuple[int, int, float]:
    """Parse ``M_T:M_C:PP`` (interim sizes and futility threshold)."""
    parts = text.split(":")
    try:
        m_t, m_c, pp = int(parts[0]), int(parts[1]), float(parts[2])
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"expected M_T:M_C:PP (e.g. 12:6:0.1), got {text!r}"
        ) from None
    if len(parts) != 3 or m_t < 1 or m_c < 0 or not 0 <= pp < 1:
        raise argparse.ArgumentTypeError(
            f"need M_T >= 1, M_C >= 0 and 0 <= PP < 1 in M_T:M_C:PP, got {text!r}"
        )
    return m_t, m_c, pp


def _two_arm_rule(args: argparse.Namespace) -> Any:
    from pclbayes.planning import two_arm_rule

    deltas = args.delta if len(args.delta) > 1 else args.delta * len(args.prob)
    if len(deltas) != len(args.prob):
        raise SpecError(
            f"--delta has {len(args.delta)} values and --prob {len(args.prob)}: give one "
            "margin per critical probability (or one margin for all)"
        )
    return two_arm_rule(deltas, args.prob, _SCALES[args.scale])


def _add_two_arm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prior-t", type=prior_spec, default="beta:1,1", metavar="FILE|beta:A,B",
                   help="treatment prior: prior JSON file or beta:A,B (default beta:1,1)")
    p.add_argument("--prior-c", type=prior_spec, required=True, metavar="FILE|beta:A,B",
                   help="control prior, e.g. a robust MAP prior file from 'plan map-prior'")
    p.add_argument("--delta", type=real_list(), default=[0.0], metavar="D[,D...]",
                   help="margin(s) of the criteria P(effect > D | data) > C on the --scale "
                   "(default 0; a rate difference must lie in (-1, 1))")
    p.add_argument("--prob", type=real_list(0, 1, low_open=True, high_open=True),
                   required=True, metavar="C[,C...]",
                   help="critical probability of each criterion, in (0, 1)")
    p.add_argument("--scale", choices=sorted(_SCALES), default="difference",
                   help="effect: rate difference (default), log odds ratio or log risk ratio")


def _check_matrix_work(command: str, prior_t: Any, prior_c: Any, sizes: list[tuple[int, int]],
                       rule: Any, allow_large: bool, options: list[str]) -> None:
    """Refuse when the decision matrices would take too long."""
    from pclbayes.planning.two_arm import CHUNK_CELLS, quadrature_size

    cells = 0.0
    for n_t, n_c in sizes:
        nodes = quadrature_size(prior_t, n_t, prior_c, n_c)
        cells += len(rule.criteria) * nodes * ((n_t + 1) * prior_t.n_components
                                               + (n_c + 1) * prior_c.n_components)
    # the treatment side is computed in chunks; control weights and the decision matrix are whole
    memory = 8.0 * max(
        3 * CHUNK_CELLS
        + (n_c + 1) * quadrature_size(prior_t, n_t, prior_c, n_c) * 3
        + (n_t + 1) * (n_c + 1) * 3
        for n_t, n_c in sizes
    )
    check_work(command, cells * SECONDS_PER_BETAINC, memory, options=options,
               allow_large=allow_large, what=f"{cells:.3g} incomplete beta functions",
               shows_progress=len(sizes) > 1)


# ---------------------------------------------------------------------------- oc2
def _run_oc2(args: argparse.Namespace) -> int:
    from pclbayes.planning import two_arm_oc

    prior_t, prior_c = _prior(args.prior_t), _prior(args.prior_c)
    rule = _two_arm_rule(args)
    theta_c = args.theta_c
    theta_t = theta_c if args.theta_t is None else args.theta_t
    if not args.grid and len(theta_t) != len(theta_c) and 1 not in (len(theta_t), len(theta_c)):
        raise SpecError(
            f"--theta-t has {len(theta_t)} values and --theta-c {len(theta_c)}: give equal "
            "numbers (paired scenarios) or add --grid for every combination"
        )
    _check_matrix_work("plan oc2", prior_t, prior_c, [(args.n_t, args.n_c)], rule,
                       args.allow_large, ["--n-t", "--n-c"])
    res = two_arm_oc(prior_t, prior_c, args.n_t, args.n_c, rule, theta_t, theta_c,
                     grid=args.grid)
    if args.interim is not None:
        return _report_interim(args, res.design, theta_t, theta_c)
    design_t = prior_t if args.design_prior_t is None else _prior(args.design_prior_t)
    design_c = prior_c if args.design_prior_c is None else _prior(args.design_prior_c)
    pos = res.design.assurance(design_t, design_c)
    if args.json:
        _emit({**res.to_dict(), "assurance": pos})
    else:
        print(res)
        print(f"Assurance (probability of success under the design priors): {pos:.4f}")
    return 0


def _report_interim(args: argparse.Namespace, design: Any, theta_t: list[float],
                    theta_c: list[float]) -> int:
    """``plan oc2 --interim``: futility look, then the OC of the design with the look."""
    from pclbayes.planning import two_arm_interim, two_arm_interim_oc

    if args.grid:
        raise SpecError("--interim evaluates paired scenarios; drop --grid")
    m_t, m_c, pp = args.interim
    look = two_arm_interim(design, m_t, m_c, futility=pp)
    table = two_arm_interim_oc(look, theta_t, theta_c)
    if args.json:
        _emit({
            "n_t": design.n_t, "n_c": design.n_c, "rule": str(design.rule),
            "decision_boundary": design.boundary_list(),
            "interim": {"m_t": m_t, "m_c": m_c, "futility": pp,
                        "continue_boundary": look.continue_boundary()},
            "oc": table.to_dict(orient="records"),
        })
    else:
        print(look)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


# ---------------------------------------------------------------------------- sample-size2
def _run_sample_size2(args: argparse.Namespace) -> int:
    from pclbayes.planning import ess, two_arm_sample_size
    from pclbayes.planning.two_arm import control_size

    if args.n_t_min > args.n_t_max:
        raise SpecError(f"--n-t-min {args.n_t_min} must not exceed --n-t-max {args.n_t_max}")
    prior_t, prior_c = _prior(args.prior_t), _prior(args.prior_c)
    rule = _two_arm_rule(args)
    control_ess = float(ess(prior_c)) if args.allocation == "ess" else None
    sizes = [
        (n_t, control_size(n_t, args.allocation, control_ess=control_ess, n_c_min=args.n_c_min))
        for n_t in range(args.n_t_min, args.n_t_max + 1, args.step)
    ]
    _check_matrix_work("plan sample-size2", prior_t, prior_c, sizes, rule, args.allow_large,
                       ["--n-t-max", "--step"])
    res = two_arm_sample_size(
        prior_t, prior_c, rule, null=args.null, alt_t=args.alt_t, alt_c=args.alt_c,
        power=args.power, alpha=args.alpha, n_t_min=args.n_t_min, n_t_max=args.n_t_max,
        step=args.step, allocation=args.allocation, n_c_min=args.n_c_min,
        progress=Progress("plan sample-size2: sizes searched"),
    )
    if args.json:
        _emit(res.to_dict())
    else:
        print(res)
    return 0 if res.n_t is not None else 1


# ---------------------------------------------------------------------------- monitor
def _run_monitor(args: argparse.Namespace) -> int:
    from pclbayes.planning import monitored_design, monitoring_oc

    prior = _prior(args.prior)
    rule = _rule(args)
    bad = [v for v in args.looks if v >= args.n]
    if bad or sorted(set(args.looks)) != args.looks:
        raise SpecError(
            f"--looks must increase strictly and stay below --n {args.n}, got {args.looks}"
        )
    if args.efficacy is not None and args.efficacy <= args.futility:
        raise SpecError(
            f"--efficacy {args.efficacy:g} must exceed --futility {args.futility:g}"
        )
    cells = sum((n + 1) * (args.n - n + 1) for n in args.looks) * prior.n_components
    seconds = cells * SECONDS_PER_BETABIN + len(args.looks) * args.n**2 * len(args.true) * 1e-8
    check_work("plan monitor", seconds, 8.0 * 8 * max(cells, 1) / len(args.looks),
               options=["--n", "--looks"], allow_large=args.allow_large,
               what=f"{cells:.3g} beta-binomial probabilities", shows_progress=False)
    design = monitored_design(prior, args.n, rule, args.looks, futility=args.futility,
                              efficacy=args.efficacy)
    res = monitoring_oc(design, args.true)
    if args.json:
        _emit(res.to_dict())
    else:
        print(res)
    return 0


# ---------------------------------------------------------------------------- parser
def register(sub: argparse._SubParsersAction) -> None:
    """Add ``oc2``, ``sample-size2`` and ``monitor`` to the ``plan`` sub-commands."""
    oc2 = sub.add_parser(
        "oc2",
        help="exact operating characteristics of a two-arm (randomised) design",
        description=(
            "Probability of success of a two-arm design at true (treatment, control) rates, "
            "exact: decision boundary by quadrature, both arms' outcomes enumerated. Success "
            "if P(effect > D | data) > C for every (D, C)."
        ),
    )
    _add_two_arm_args(oc2)
    oc2.add_argument("--n-t", type=integer(1), required=True, help="treatment patients, >= 1")
    oc2.add_argument("--n-c", type=integer(0), required=True,
                     help="control patients, >= 0 (0: the control prior alone)")
    oc2.add_argument("--theta-c", type=real_list(0, 1), default=_floats(_DEFAULT_RATES),
                     metavar="R[,R...]", help="true control rates, each in [0, 1]")
    oc2.add_argument("--theta-t", type=real_list(0, 1), metavar="R[,R...]",
                     help="true treatment rates, paired with --theta-c (default: equal to "
                     "--theta-c, i.e. the type-I error)")
    oc2.add_argument("--grid", action="store_true",
                     help="every combination of --theta-t and --theta-c")
    oc2.add_argument("--design-prior-t", type=prior_spec, metavar="FILE|beta:A,B",
                     help="design prior of the treatment rate for the assurance "
                     "(default --prior-t)")
    oc2.add_argument("--design-prior-c", type=prior_spec, metavar="FILE|beta:A,B",
                     help="design prior of the control rate for the assurance "
                     "(default --prior-c)")
    oc2.add_argument("--interim", type=_interim, metavar="M_T:M_C:PP",
                     help="futility look after M_T treatment and M_C control patients: stop if "
                     "the predictive probability of final success is below PP (paired "
                     "scenarios; reports stopping probability and expected size)")
    _add_allow_large(oc2)
    oc2.add_argument("--json", action="store_true", help="print JSON instead of a table")
    oc2.set_defaults(func=_run_oc2)

    ss2 = sub.add_parser(
        "sample-size2",
        help="smallest two-arm design with required power and type-I error",
        description=(
            "Search the treatment size n_t (control size by --allocation) for type-I error "
            "<= alpha at every rate_t = rate_c in --null and power >= --power at (--alt-t, "
            "--alt-c). Exit status 1 when no size searched qualifies."
        ),
    )
    _add_two_arm_args(ss2)
    ss2.add_argument("--null", type=real_list(0, 1), required=True, metavar="R[,R...]",
                     help="common rates (treatment = control) at which the type-I error is "
                     "checked, e.g. the plausible range of control rates")
    ss2.add_argument("--alt-t", type=real(0, 1), required=True, help="treatment rate for power")
    ss2.add_argument("--alt-c", type=real(0, 1), required=True, help="control rate for power")
    ss2.add_argument("--power", type=real(0, 1, low_open=True, high_open=True), default=0.8,
                     help="required power, in (0, 1) (default 0.8)")
    ss2.add_argument("--alpha", type=real(0, 1, low_open=True, high_open=True), default=0.05,
                     help="maximal type-I error, in (0, 1) (default 0.05)")
    ss2.add_argument("--n-t-min", type=integer(1), default=5,
                     help="smallest treatment size, >= 1 (default 5)")
    ss2.add_argument("--n-t-max", type=integer(1), default=100,
                     help="largest treatment size (default 100)")
    ss2.add_argument("--step", type=integer(1), default=1, help="step of n_t (default 1)")
    ss2.add_argument("--allocation", type=_allocation, default=1.0, metavar="{RATIO,ess}",
                     help="n_c = RATIO * n_t (default 1), or 'ess': n_c = n_t - round(ESS of "
                     "the control prior)")
    ss2.add_argument("--n-c-min", type=integer(0), default=0,
                     help="fewest control patients (default 0)")
    _add_allow_large(ss2)
    ss2.add_argument("--json", action="store_true", help="print JSON instead of text")
    ss2.set_defaults(func=_run_sample_size2)

    mo = sub.add_parser(
        "monitor",
        help="predictive-probability interim monitoring of a single-arm trial",
        description=(
            "Go/no-go boundaries at interim looks (stop for futility if the predictive "
            "probability of final success is below --futility, optionally for efficacy if it "
            "is at least --efficacy) and the exact operating characteristics of the "
            "monitored design."
        ),
    )
    mo.add_argument("--prior", required=True, type=prior_spec, metavar="FILE|beta:A,B",
                    help="analysis prior: prior JSON file or beta:A,B")
    mo.add_argument("--n", type=integer(2), required=True, help="final number of patients")
    _add_rule_args(mo)
    mo.add_argument("--looks", type=_looks, required=True, metavar="N1[,N2...]",
                    help="interim sample sizes, increasing, each below --n")
    mo.add_argument("--futility", type=real(0, 1, high_open=True), default=0.1,
                    help="stop for futility if PP < this, in [0, 1) (default 0.1; 0 never)")
    mo.add_argument("--efficacy", type=real(0, 1, low_open=True),
                    help="stop for efficacy if PP >= this, in (0, 1] (default: never)")
    mo.add_argument("--true", type=real_list(0, 1), default=_floats(_DEFAULT_RATES),
                    metavar="R[,R...]", help="true response rates to evaluate")
    _add_allow_large(mo)
    mo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    mo.set_defaults(func=_run_monitor)
