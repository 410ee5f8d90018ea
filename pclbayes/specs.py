"""Declarative analysis specifications: the TOML files in ``models/``.

A specification names a model family and its options, priors, sampler settings and the
prior-sensitivity variants the report refits it under::

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

    [sensitivity.weak-pooling]
    reason = "a heterogeneity prior that allows much more between-cohort spread"
    priors = { kappa = { dist = "Gamma", alpha = 2, beta = 0.4 } }
    # options = { episodes = "first" }   ([model] options may be overridden too)

Only allowlisted distributions (:data:`pclbayes.priors.ALLOWED`) can be named, and every
key is checked: an unknown key is an error, never ignored. Every error names the file and
the key (``models/x.toml: [sampler] draws: expected an integer, got 'lots'``). The
``[model]`` options themselves (their names and values) are checked by the model family
when the model is built.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pclbayes.errors import SpecError
from pclbayes.sampling import SAMPLERS, SamplerSettings

FAMILIES = ("response", "survival")
_TOP = ("model", "priors", "sampler", "report", "sensitivity")
_SAMPLER_KEYS = ("draws", "tune", "chains", "target_accept", "sampler", "seed")
_REPORT_KEYS = ("sensitivity",)
_VARIANT_KEYS = ("reason", "priors", "options")
#: ``[model]`` keys that identify a specification; a variant cannot override them.
_IDENTITY = ("family", "name", "title")

#: Longest specification name (it becomes file names: ``fits/<name>.nc``, figures).
MAX_NAME = 100
#: Specification names: letters, digits, ``_``, ``-`` and ``.``, not starting with a dot.
_NAME = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}")
#: Variant names are slugs: lower-case words of letters and digits joined by ``-``.
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_VARIANT_NAME = 40


@dataclass(frozen=True)
class Variant:
    """A prior-sensitivity variant a specification declares (``[sensitivity.<name>]``).

    Attributes
    ----------
    name : str
        A slug (``more-heterogeneity``); the refitted specification is ``<spec>@<name>``.
    reason : str
        Why the variant is worth fitting (shown in the report's "Prior variants" table).
    priors : dict
        Prior tables replacing the specification's own, by parameter name.
    options : dict
        ``[model]`` options replacing the specification's own.
    """

    name: str
    reason: str
    priors: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


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
        Options for the report (``sensitivity = false`` skips the variants).
    path : Path or None
    sensitivity : tuple of Variant
        The prior-sensitivity variants, in the order the file declares them.
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
    sensitivity: tuple[Variant, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Canonical dictionary form (used for the provenance hash).

        The declared variants are not part of it: they do not change this fit (each
        variant is a specification of its own, see :func:`apply_variant`).
        """
        return {
            "family": self.family, "name": self.name, "title": self.title,
            "options": self.options, "priors": self.priors,
            "sampler": self.sampler.__dict__, "seed": self.seed,
        }


def apply_variant(spec: Spec, variant: Variant) -> Spec:
    """The specification ``spec`` becomes under ``variant``, named ``<spec>@<variant>``.

    The variant's priors and options replace the specification's own entries of the same
    name (whole prior tables, not single parameters); the result declares no variants.
    """
    return dataclasses.replace(
        spec, name=f"{spec.name}@{variant.name}",
        priors={**spec.priors, **variant.priors},
        options={**spec.options, **variant.options}, sensitivity=())


# ---------------------------------------------------------------- parsing
class _Where:
    """Builds error messages that name the file (if any) and the key."""

    def __init__(self, path: Path | None) -> None:
        self.prefix = f"{path}: " if path is not None else ""

    def __call__(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.prefix}{key}: {message}")


def sensitivity_specs(spec: Spec) -> list[Spec]:
    """The prior-sensitivity variants ``spec`` declares, as specifications to fit.

    Each is named ``<spec>@<variant>`` (:func:`apply_variant`). None if the
    spec declares no ``[sensitivity.*]`` variants or its ``[report]`` table says
    ``sensitivity = false``.
    """
    if not spec.report.get("sensitivity", True):
        return []
    return [apply_variant(spec, v) for v in spec.sensitivity]


def _table(where: _Where, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise where(key, f"expected a table, got {value!r}")
    return dict(value)


def _no_unknown(where: _Where, key: str, table: Mapping[str, Any],
                allowed: tuple[str, ...]) -> None:
    for k in table:
        if k not in allowed:
            raise where(f"{key} {k}" if key else f"[{k}]",
                        f"unknown key; allowed: {', '.join(allowed)}")


def _string(where: _Where, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where(key, f"expected a non-empty string, got {value!r}")
    return value


def _spec_name(where: _Where, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise where("[model] name", f"{value!r} is not a valid name: use 1-{MAX_NAME} letters, "
                    "digits, '_', '-' or '.', not starting with '.'")
    return value


def _integer(where: _Where, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where(key, f"expected an integer, got {value!r}")
    if value < minimum:
        raise where(key, f"must be >= {minimum}, got {value}")
    return value


def _sampler(where: _Where, raw: Any) -> tuple[SamplerSettings, int]:
    table = _table(where, "[sampler]", raw)
    _no_unknown(where, "[sampler]", table, _SAMPLER_KEYS)
    seed = _integer(where, "[sampler] seed", table.pop("seed", 1), 0)
    for k in ("draws", "tune", "chains"):
        if k in table:
            _integer(where, f"[sampler] {k}", table[k], 1)
    if "target_accept" in table:
        ta = table["target_accept"]
        if isinstance(ta, bool) or not isinstance(ta, int | float) or not 0 < ta < 1:
            raise where("[sampler] target_accept", f"expected a number in (0, 1), got {ta!r}")
    if "sampler" in table and table["sampler"] not in SAMPLERS:
        raise where("[sampler] sampler",
                    f"must be one of {', '.join(SAMPLERS)}, got {table['sampler']!r}")
    try:
        return SamplerSettings.from_dict(table), seed
    except (SpecError, TypeError, ValueError) as exc:
        raise where("[sampler]", str(exc)) from None


def _priors(where: _Where, key: str, raw: Any) -> dict[str, Any]:
    """Check each prior table (distribution and parameters); names are the family's."""
    from pclbayes.priors import Prior

    priors = _table(where, key, raw)
    for name, table in priors.items():
        if not isinstance(table, str | Mapping):
            raise where(f"{key} {name}", f"expected a prior table or 'Name(p=v, ...)', "
                        f"got {table!r}")
        try:
            Prior.parse(dict(table) if isinstance(table, Mapping) else table)
        except (SpecError, TypeError, ValueError) as exc:
            raise where(f"{key} {name}", str(exc)) from None
    return priors


def _report(where: _Where, raw: Any) -> dict[str, Any]:
    table = _table(where, "[report]", raw)
    _no_unknown(where, "[report]", table, _REPORT_KEYS)
    if "sensitivity" in table and not isinstance(table["sensitivity"], bool):
        raise where("[report] sensitivity",
                    f"expected true or false, got {table['sensitivity']!r}")
    return table


def _family_options(family: str) -> tuple[str, ...]:
    """The ``[model]`` option names a family accepts (besides family, name, title)."""
    if family == "response":
        from pclbayes.response.spec import OPTIONS
        return tuple(OPTIONS)
    from pclbayes.survival.spec import OPTION_KEYS
    return tuple(OPTION_KEYS)


def _family_priors(family: str, options: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The prior names of the model ``options`` describe (None if the family cannot say)."""
    if family == "response":
        from pclbayes.response.defaults import PRIORS
        table = PRIORS.get(str(options.get("model", "beta-binomial")))
        return tuple(table) if table is not None else None
    from pclbayes.survival.defaults import default_priors
    return tuple(default_priors(str(options.get("endpoint", "pfs"))))


def _variants(where: _Where, raw: Any, family: str,
              options: Mapping[str, Any]) -> tuple[Variant, ...]:
    tables = _table(where, "[sensitivity]", raw)
    out = []
    for name, table in tables.items():
        key = f"[sensitivity.{name}]"
        if not _SLUG.fullmatch(name) or len(name) > MAX_VARIANT_NAME:
            raise where(key, f"variant name {name!r} is not a slug: use lower-case letters "
                        f"and digits joined by '-' (at most {MAX_VARIANT_NAME} characters)")
        table = _table(where, key, table)
        _no_unknown(where, key, table, _VARIANT_KEYS)
        if "reason" not in table:
            raise where(f"{key} reason", "missing: say why this variant is worth fitting")
        reason = _string(where, f"{key} reason", table["reason"])
        priors = _priors(where, f"{key} priors", table.get("priors"))
        overrides = _table(where, f"{key} options", table.get("options"))
        if not priors and not overrides:
            raise where(key, "changes nothing: give priors or options")
        allowed = _family_options(family)
        for opt in overrides:
            if opt in _IDENTITY or opt not in allowed:
                raise where(f"{key} options {opt}", "not an option a variant can change; "
                            f"{family} options: {', '.join(allowed)}")
        known = _family_priors(family, {**options, **overrides})
        for prior in priors:
            if known is not None and prior not in known:
                raise where(f"{key} priors {prior}",
                            f"the model has no such prior; its priors: {', '.join(known)}")
        out.append(Variant(name, reason, priors, overrides))
    return tuple(out)


def parse_spec(raw: dict[str, Any], path: Path | None = None) -> Spec:
    """Validate a specification dictionary (as read from TOML).

    Raises
    ------
    SpecError
        Naming the file (if ``path`` is given) and the key at fault.
    """
    where = _Where(path)
    if not isinstance(raw, Mapping):
        raise where("specification", f"expected a table, got {raw!r}")
    _no_unknown(where, "", raw, _TOP)
    model = _table(where, "[model]", raw.get("model"))
    family = model.pop("family", None)
    if family not in FAMILIES:
        raise where("[model] family", f"must be one of {', '.join(FAMILIES)}, got {family!r}")
    name = _spec_name(where, model.pop("name", path.stem if path is not None else family))
    title = _string(where, "[model] title", model.pop("title", name))
    sampler, seed = _sampler(where, raw.get("sampler"))
    priors = _priors(where, "[priors]", raw.get("priors"))
    report = _report(where, raw.get("report"))
    variants = _variants(where, raw.get("sensitivity"), family, model)
    spec = Spec(family, name, title, model, priors, sampler, seed, report, path, variants)
    if variants:
        _check_variants(where, spec)
    return spec


def _check_variants(where: _Where, spec: Spec) -> None:
    """Build the model of each variant (without data), to fail at parse time.

    An invalid option value or a prior of the wrong support then fails now rather than
    after the other fits of a report. Only done when the specification's own model
    builds: its own errors are reported when it is fitted, not as a variant's.
    """
    from pclbayes.model import model_from_spec

    try:
        model_from_spec(spec)
    except SpecError:
        return
    for variant in spec.sensitivity:
        try:
            model_from_spec(apply_variant(spec, variant))
        except SpecError as exc:
            raise where(f"[sensitivity.{variant.name}]",
                        str(exc).removeprefix(where.prefix)) from None


def _read_text(path: Path) -> str:
    """The file's text: UTF-8, with or without a byte-order mark."""
    if path.is_dir():
        raise SpecError(f"{path}: is a directory, not a specification file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such specification file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(f"{path}: is UTF-16 encoded; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: is not UTF-8 text (byte {exc.start}); save it as "
                        "UTF-8") from None


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML document at ``path`` (specifications, studies, planning options).

    Raises
    ------
    SpecError
        Naming the file: missing, a directory, unreadable, UTF-16 or non-UTF-8 text
        (:func:`_read_text`), or invalid TOML.
    """
    try:
        return tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML specification file.

    Raises
    ------
    SpecError
        For a missing, unreadable or non-UTF-8 file, a directory, invalid TOML, or any
        invalid key (the message names the file and the key).
    """
    path = Path(path)
    return parse_spec(read_toml(path), path)


def list_specs(directory: str | Path) -> list[Spec]:
    """Load every ``*.toml`` specification in ``directory`` (sorted by file name).

    Raises
    ------
    SpecError
        If ``directory`` is not a directory, or two files declare the same name.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SpecError(f"{directory}: not a directory of specifications")
    specs = [load_spec(p) for p in sorted(directory.glob("*.toml"))]
    seen: dict[str, Path | None] = {}
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"{spec.path}: [model] name: {spec.name!r} is already the name "
                            f"of {seen[spec.name]}")
        seen[spec.name] = spec.path
    return specs


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
