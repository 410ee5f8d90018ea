"""Prior files (JSON) with provenance, and export of mixture priors to PyMC.

File layout (``format_version`` 1)::

    {
      "format": "pclbayes-prior",
      "format_version": 1,
      "family": "beta",                      # or "normal" (for a log-scale parameter)
      "components": [{"name": "comp1", "weight": 0.8, "a": 10.0, "b": 2.0}, ...],
      "provenance": {"pclbayes_version": "...", "created": "...", "seed": 1, ...},
      "convergence": {"converged": true, "max_rhat": 1.002, "min_ess_bulk": 1650, ...}
    }

Normal components carry ``mean`` and ``sd`` instead of ``a`` and ``b``. ``convergence`` is
present when the prior comes from an MCMC fit (e.g. a MAP prior): whether the fit passed the
convergence gate and its diagnostics (:class:`pclbayes.diagnostics.ConvergenceReport`);
:func:`load_convergence` reads it and the ``plan`` commands warn about priors from fits that
did not converge. Loading validates every field and refuses malformed files with a
:class:`~pclbayes.errors.SpecError` naming the file and the problem.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pclbayes import __version__
from pclbayes.errors import SpecError
from pclbayes.planning.mixture import BetaMixture
from pclbayes.planning.normal import NormalMixture

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "convergence_warning",
    "hash_path",
    "load_convergence",
    "load_prior",
    "load_provenance",
    "make_provenance",
    "prior_from_dict",
    "prior_to_dict",
    "save_prior",
    "to_pymc",
]

FORMAT = "pclbayes-prior"
FORMAT_VERSION = 1
_PARAMS = {"beta": ("a", "b"), "normal": ("mean", "sd")}

Prior = BetaMixture | NormalMixture


def hash_path(path: str | Path) -> str:
    """SHA-256 of a file, or of every file under a directory (sorted relative paths)."""
    p = Path(path)
    digest = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        digest.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def make_provenance(
    *,
    data_hash: str | None = None,
    spec: Mapping[str, Any] | None = None,
    seed: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Provenance record: data hash, specification (and its hash), seed, versions, UTC time."""
    from pclbayes.provenance import canonical_hash, versions

    record: dict[str, Any] = {
        "pclbayes_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "data_hash": data_hash,
        "spec": dict(spec) if spec is not None else None,
        "spec_hash": canonical_hash(dict(spec)) if spec is not None else None,
        "seed": seed,
        "versions": versions(),
    }
    record.update(extra)
    return record


def _json_clean(value: Any) -> Any:
    """Plain JSON values (non-finite numbers become None)."""
    if isinstance(value, Mapping):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    try:  # numpy scalars
        return _json_clean(value.item())
    except AttributeError:
        return str(value)


def _check_convergence_record(conv: Any, source: str) -> None:
    if not isinstance(conv, Mapping) or not isinstance(conv.get("converged"), bool):
        raise SpecError(f"{source}: 'convergence' must be an object with a true/false 'converged'")


def prior_to_dict(
    prior: Prior,
    provenance: Mapping[str, Any] | None = None,
    convergence: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a serialisable dictionary of a prior in the pclbayes prior-file layout.

    ``convergence`` (a mapping with a boolean ``converged`` and the diagnostics of the MCMC
    fit the prior comes from) is stored when given.
    """
    if not isinstance(prior, BetaMixture | NormalMixture):
        raise SpecError(f"cannot serialise a {type(prior).__name__}; expected a mixture prior")
    body = prior.to_dict()
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": body["family"],
        "components": body["components"],
        "provenance": dict(provenance) if provenance is not None else make_provenance(),
    }
    if convergence is not None:
        _check_convergence_record(convergence, "convergence")
        out["convergence"] = _json_clean(convergence)
    return out


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def prior_from_dict(data: Any, source: str = "prior") -> Prior:
    """Rebuild a prior from :func:`prior_to_dict` output, validating every field."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise SpecError(f"{source}: 'format' must be {FORMAT!r}, got {data.get('format')!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise SpecError(
            f"{source}: unsupported format_version {data.get('format_version')!r} "
            f"(this pclbayes reads {FORMAT_VERSION})"
        )
    family = data.get("family")
    if family not in _PARAMS:
        raise SpecError(f"{source}: 'family' must be one of {sorted(_PARAMS)}, got {family!r}")
    comps = data.get("components")
    if not isinstance(comps, list) or not comps:
        raise SpecError(f"{source}: 'components' must be a non-empty list")
    p1, p2 = _PARAMS[family]
    names, w, x1, x2 = [], [], [], []
    for i, comp in enumerate(comps):
        where = f"{source}: component {i + 1}"
        if not isinstance(comp, dict):
            raise SpecError(f"{where} must be an object")
        missing = [k for k in ("weight", p1, p2) if k not in comp]
        if missing:
            raise SpecError(
                f"{where} lacks {missing} (a {family} component needs weight, {p1}, {p2})"
            )
        names.append(str(comp.get("name", f"comp{i + 1}")))
        w.append(_number(comp["weight"], f"{where} weight"))
        x1.append(_number(comp[p1], f"{where} {p1}"))
        x2.append(_number(comp[p2], f"{where} {p2}"))
    prov = data.get("provenance")
    if prov is not None and not isinstance(prov, dict):
        raise SpecError(f"{source}: 'provenance' must be an object")
    if data.get("convergence") is not None:
        _check_convergence_record(data["convergence"], source)
    try:
        if family == "beta":
            return BetaMixture(w, x1, x2, names=names)
        return NormalMixture(w, x1, x2, names=names)
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from exc


def save_prior(
    prior: Prior,
    path: str | Path,
    provenance: Mapping[str, Any] | None = None,
    convergence: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``prior`` (with provenance and, if given, the convergence status) as JSON.

    The file is written atomically (:func:`pclbayes._files.atomic_write_text`): a failed or
    interrupted write leaves an existing file as it was. Returns the path.
    """
    from pclbayes._files import atomic_write_text

    text = json.dumps(prior_to_dict(prior, provenance, convergence), indent=2) + "\n"
    return atomic_write_text(path, text)


def _read(path: str | Path) -> Any:
    p = Path(path)
    if p.exists() and not p.is_file():
        kind = "a directory" if p.is_dir() else "not a regular file"
        raise SpecError(f"{p}: is {kind}; give a prior JSON file (from plan map-prior --out)")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"prior file not found: {p}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read prior file {p}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def load_prior(path: str | Path) -> Prior:
    """Read a prior file written by :func:`save_prior`."""
    return prior_from_dict(_read(path), source=str(path))


def load_provenance(path: str | Path) -> dict[str, Any]:
    """Return the provenance record stored in a prior file (empty if absent)."""
    data = _read(path)
    prior_from_dict(data, source=str(path))  # validate the whole file
    return dict(data.get("provenance") or {})


def load_convergence(path: str | Path) -> dict[str, Any] | None:
    """Return the convergence record stored in a prior file (None if the file has none)."""
    data = _read(path)
    prior_from_dict(data, source=str(path))  # validate the whole file
    conv = data.get("convergence")
    return None if conv is None else dict(conv)


def convergence_warning(path: str | Path) -> str | None:
    """A one-line warning if the prior in ``path`` comes from an MCMC fit that did not converge.

    Returns None when the file records a converged fit or no fit at all.
    """
    conv = load_convergence(path)
    if conv is None or conv.get("converged"):
        return None
    details = []
    for key, label, spec in (
        ("max_rhat", "max R-hat", ".3f"),
        ("min_ess_bulk", "min bulk ESS", ".0f"),
        ("min_ess_tail", "min tail ESS", ".0f"),
        ("divergences", "divergences", ".0f"),
    ):
        value = conv.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            details.append(f"{label} {format(value, spec)}")
    why = f" ({', '.join(details)})" if details else ""
    return (
        f"warning: {path}: this prior comes from an MCMC fit that did not pass the convergence "
        f"gate{why}; its numbers are unreliable. Create it again with more draws "
        "(plan map-prior --draws N)."
    )


def to_pymc(prior: Prior, name: str, **kwargs: Any) -> Any:
    """Register ``prior`` as a random variable ``name`` in the current PyMC model.

    A beta mixture becomes ``pm.Mixture`` of ``pm.Beta`` components (or ``pm.Beta`` for one
    component); a normal mixture becomes ``pm.NormalMixture`` (or ``pm.Normal``). Extra
    keyword arguments (e.g. ``dims``) are passed to PyMC. Must be called inside a
    ``with pm.Model():`` block.
    """
    if not isinstance(prior, BetaMixture | NormalMixture):
        raise SpecError(f"cannot convert a {type(prior).__name__} to a PyMC distribution")
    return prior.to_pymc(name, **kwargs)
