"""Declarative analysis specifications: the TOML files in ``models/``.

A specification names a model family and its options, priors and sampler settings::

    [model]
    family = "response"            # or "survival"
    name = "cr_by_target"
    title = "CR or better by antigen target"
    endpoint = "cr"
    by = "target"

    [priors]
    kappa = { dist = "Gamma", alpha = 2, beta = 0.1, reason = "..." }

    [sampler]
    draws = 1000
    seed = 20260321

Only allowlisted distributions (:data:`pclbayes.priors.ALLOWED`) can be named, and every
key is checked: an unknown key is an error, never ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pclbayes.errors import SpecError
from pclbayes.sampling import SamplerSettings

FAMILIES = ("response", "survival")
_TOP = {"model", "priors", "sampler", "report"}


@dataclass(frozen=True)
class Spec:
    """A parsed specification.

    Attributes
    ----------
    family : {"response", "survival"}
    name, title : str
    options : dict
        The remaining ``[model]`` keys (endpoint, by, model, method, ...), checked by
        the family's own ``from_spec``.
    priors : dict
        Raw prior tables, parsed by the family against its own defaults.
    sampler : SamplerSettings
    seed : int
    report : dict
        Options for the report (e.g. ``sensitivity = false``).
    path : Path or None
    """

    family: str
    name: str
    title: str
    options: dict[str, Any]
    priors: dict[str, Any] = field(default_factory=dict)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    seed: int = 1
    report: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """Canonical dictionary form (used for the provenance hash)."""
        return {
            "family": self.family, "name": self.name, "title": self.title,
            "options": self.options, "priors": self.priors,
            "sampler": self.sampler.__dict__, "seed": self.seed,
        }


def parse_spec(raw: dict[str, Any], path: Path | None = None) -> Spec:
    """Validate a specification dictionary (as read from TOML)."""
    where = f"{path}: " if path else ""
    unknown = set(raw) - _TOP
    if unknown:
        raise SpecError(f"{where}unknown table(s) {sorted(unknown)}; allowed: {sorted(_TOP)}")
    model = dict(raw.get("model") or {})
    family = model.pop("family", None)
    if family not in FAMILIES:
        raise SpecError(f"{where}[model] family must be one of {FAMILIES}, got {family!r}")
    name = str(model.pop("name", path.stem if path else family))
    title = str(model.pop("title", name))
    sampler = dict(raw.get("sampler") or {})
    seed = sampler.pop("seed", 1)
    if not isinstance(seed, int) or seed < 0:
        raise SpecError(f"{where}[sampler] seed must be a non-negative integer, got {seed!r}")
    priors = raw.get("priors") or {}
    if not isinstance(priors, dict):
        raise SpecError(f"{where}[priors] must be a table")
    try:
        settings = SamplerSettings.from_dict(sampler)
    except (SpecError, TypeError) as exc:
        raise SpecError(f"{where}{exc}") from None
    return Spec(family, name, title, model, dict(priors), settings, seed,
                dict(raw.get("report") or {}), path)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML specification file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such specification file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    return parse_spec(raw, path)


def list_specs(directory: str | Path) -> list[Spec]:
    """Load every ``*.toml`` specification in ``directory`` (sorted by file name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SpecError(f"{directory}: not a directory of specifications")
    return [load_spec(p) for p in sorted(directory.glob("*.toml"))]


def fit_spec(spec: Spec, data, *, seed: int | None = None):
    """Fit the model ``spec`` describes to ``data`` (an :class:`EvidenceBase`).

    Returns the fitted model object of the family (``ResponseModel`` or
    ``SurvivalModel``).
    """
    if spec.family == "response":
        from pclbayes.response import from_spec
    else:
        from pclbayes.survival import from_spec
    return from_spec(spec, data, seed=spec.seed if seed is None else seed)
