r"""Operating characteristics of one design under several robust weights, side by side.

The weight :math:`w` of the vague component of a robust MAP prior
:math:`(1 - w)\, p_{MAP} + w\, \mathrm{Beta}(a_r, b_r)` (Schmidli et al. 2014) drives the
type-I error of a single-arm design that borrows from it: a small weight keeps the
historical information (fewer patients needed) but lets a misleading MAP prior declare
success at a null rate. :func:`oc_by_robust_weight` evaluates the same decision rule and
sample size with every weight, exactly (:func:`pclbayes.planning.operating_characteristics`),
and puts :math:`P(\text{success} \mid \theta)` and the decision boundaries next to each other.

The informative part is the prior without its ``robust`` component (weights renormalised);
the vague component keeps the prior's own robust mean unless another is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pclbayes.errors import SpecError
from pclbayes.planning.mixture import BetaMixture, robustify

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RobustWeightOC", "informative_part", "oc_by_robust_weight"]

#: Robust weights compared by default.
DEFAULT_WEIGHTS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.5)


def informative_part(prior: BetaMixture) -> tuple[BetaMixture, float | None]:
    """The prior without its ``robust`` component, and that component's mean (or None)."""
    names = list(prior.names)
    if "robust" not in names:
        return prior, None
    i = names.index("robust")
    keep = [k for k in range(len(names)) if k != i]
    if not keep:
        raise SpecError("the prior has only a robust component; nothing to re-weight")
    w = prior.weights[keep]
    if w.sum() <= 0:
        raise SpecError("the informative components of the prior have zero weight")
    mean = float(prior.a[i] / (prior.a[i] + prior.b[i]))
    return BetaMixture(w / w.sum(), prior.a[keep], prior.b[keep],
                       names=[names[k] for k in keep]), mean


@dataclass(frozen=True)
class RobustWeightOC:
    r""":math:`P(\text{success})` of one design for each robust weight.

    Attributes
    ----------
    weights : tuple of float
        Robust weights, in the order of the columns.
    table : pandas.DataFrame
        ``true_rate`` and one column ``w=<weight>`` of success probabilities per weight.
    boundaries : dict
        Smallest number of responders that succeeds, per weight (None: none succeeds).
    assurance : dict
        Probability of success under each weight's own prior.
    robust_mean : float
        Mean of the vague component.
    n : int
    rule : str
    """

    weights: tuple[float, ...]
    table: pd.DataFrame
    boundaries: dict[str, int | None]
    assurance: dict[str, float]
    robust_mean: float
    n: int
    rule: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"n": self.n, "rule": self.rule, "robust_mean": self.robust_mean,
                "weights": list(self.weights), "decision_boundary": dict(self.boundaries),
                "assurance": dict(self.assurance),
                "oc": [{k: float(v) for k, v in row.items()}
                       for row in self.table.to_dict(orient="records")]}

    def __str__(self) -> str:
        shown = self.table.copy()
        shown["true_rate"] = shown["true_rate"].map(lambda v: f"{v:g}")
        for col in shown.columns[1:]:
            shown[col] = shown[col].map(lambda v: f"{v:.4f}")
        bounds = ", ".join(f"{k}: {'none' if v is None else v}"
                           for k, v in self.boundaries.items())
        pos = ", ".join(f"{k}: {v:.4f}" for k, v in self.assurance.items())
        return "\n".join([
            f"Operating characteristics, n = {self.n}, by robust weight w (vague component "
            f"mean {self.robust_mean:g})",
            f"Success if {self.rule}",
            "P(success | true rate):",
            shown.to_string(index=False),
            f"Responders needed out of {self.n}: {bounds}",
            f"Assurance under each prior: {pos}",
        ])


def oc_by_robust_weight(
    prior: BetaMixture,
    n: int,
    rule: Any,
    true_rates: Sequence[float],
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    *,
    robust_mean: float | None = None,
    futility: Any = None,
) -> RobustWeightOC:
    """Exact operating characteristics of one design for each robust weight.

    Parameters
    ----------
    prior : BetaMixture
        A (robust) MAP prior; its ``robust`` component, if any, is replaced.
    n : int
        Sample size.
    rule : DecisionRule
        Success rule (:func:`pclbayes.planning.decision_rule`).
    true_rates : sequence of float
        True response rates.
    weights : sequence of float
        Robust weights in [0, 1) (0: the informative part alone).
    robust_mean : float, optional
        Mean of the vague component (default: that of the prior's robust component, else 0.5).
    futility : InterimFutility, optional
        Interim futility look, as in :func:`pclbayes.planning.operating_characteristics`.
    """
    import pandas as pd

    from pclbayes.planning.decisions import assurance, operating_characteristics

    ws = [float(w) for w in weights]
    if not ws or any(not (np.isfinite(w) and 0 <= w < 1) for w in ws):
        raise SpecError(f"robust weights must lie in [0, 1), got {list(weights)}")
    if len(set(ws)) != len(ws):
        raise SpecError(f"robust weights must differ, got {list(weights)}")
    base, own_mean = informative_part(prior)
    mean = robust_mean if robust_mean is not None else (own_mean if own_mean is not None
                                                        else 0.5)
    cols: dict[str, Any] = {"true_rate": np.asarray(true_rates, dtype=float)}
    bounds: dict[str, int | None] = {}
    pos: dict[str, float] = {}
    for w in ws:
        p = robustify(base, w, mean=mean) if w > 0 else base
        res = operating_characteristics(p, n, rule, true_rates, futility=futility)
        key = f"w={w:g}"
        cols[key] = res.prob_success
        bounds[key] = res.boundary
        pos[key] = float(assurance(p, n, rule, futility=futility))
    return RobustWeightOC(tuple(ws), pd.DataFrame(cols), bounds, pos, float(mean), int(n),
                          str(rule))
