"""Provenance of saved results: what data, specification, seed and software made them."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import xarray as xr

from pclbayes import __version__
from pclbayes.errors import ProvenanceError

_PACKAGES = ("pymc", "pytensor", "nutpie", "numba", "arviz", "arviz-stats", "numpy", "scipy",
             "pandas", "xarray", "lifelines")


def canonical_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON form of ``obj`` (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of Python, pclbayes and the numerical stack."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "pclbayes": __version__}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def stamp(idata: xr.DataTree, *, spec: dict, data_hash: str, seed: int | None) -> xr.DataTree:
    """Record spec (and its hash), data hash, seed and versions in ``idata.attrs``."""
    idata.attrs.update(
        pclbayes_spec=json.dumps(spec, sort_keys=True, default=str),
        pclbayes_spec_hash=canonical_hash(spec),
        pclbayes_data_hash=data_hash,
        pclbayes_seed=-1 if seed is None else int(seed),
        pclbayes_versions=json.dumps(versions(), sort_keys=True),
        pclbayes_created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return idata


def save(idata: xr.DataTree, path: str | Path) -> Path:
    """Write a result to netCDF (h5netcdf engine) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(path, engine="h5netcdf")
    return path


def load_result(
    path: str | Path, *, data_hash: str | None = None, spec: dict | None = None
) -> xr.DataTree:
    """Open a saved result, refusing it if it was made from other data or another spec."""
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    attrs = tree.attrs
    if data_hash is not None and attrs.get("pclbayes_data_hash") != data_hash:
        raise ProvenanceError(
            f"{path} was fitted to data {str(attrs.get('pclbayes_data_hash'))[:12]}..., not to "
            f"the data given ({data_hash[:12]}...); refit it"
        )
    if spec is not None and attrs.get("pclbayes_spec_hash") != canonical_hash(spec):
        raise ProvenanceError(f"{path} was fitted with another specification; refit it")
    return tree
