"""Run a response specification (a ``[model] family = "response"`` TOML file)."""

from __future__ import annotations

from typing import Any

from pclbayes.errors import SpecError

#: ``[model]`` keys a response specification may set (besides family, name and title).
OPTIONS = ("endpoint", "by", "model", "method", "heterogeneity", "include_codata", "reference")


def from_spec(spec: Any, data: Any, *, seed: int | None = None):
    """Fit the :class:`ResponseModel` a specification describes.

    Parameters
    ----------
    spec : pclbayes.specs.Spec
    data : EvidenceBase or DataFrame
    seed : int, optional
        Overrides the specification's seed.

    Raises
    ------
    SpecError
        For an unknown ``[model]`` key (listing the valid ones), an unknown prior name, or a
        prior of the wrong support.
    """
    from pclbayes.response.model import ResponseModel

    if spec.family != "response":
        raise SpecError(f"{spec.name}: family '{spec.family}' is not a response specification")
    model = ResponseModel.from_spec_options(spec)
    return model.fit(data, seed=spec.seed if seed is None else seed)
