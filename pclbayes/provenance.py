"""Provenance of saved results: what data, specification, seed and software made them."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from pclbayes import __version__
from pclbayes._files import new_file_mode
from pclbayes._xarray_dask import defer_dask
from pclbayes.errors import ProvenanceError

defer_dask()  # xarray imports dask only once something uses dask

_PACKAGES = ("pymc", "pytensor", "nutpie", "numba", "arviz", "arviz-stats", "numpy", "scipy",
             "pandas", "xarray", "lifelines", "netCDF4")

NETCDF_ENGINE = "netcdf4"
"""xarray backend that reads and writes every fit file.

netCDF4 (the netCDF-C library) opens a fit's ten groups and some eighty variables in about a
tenth of a second; h5netcdf, pure Python over h5py, takes about six times as long, mostly
looking up dimension scales. Files written by either are netCDF-4/HDF5 and read by both.
"""


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


def stamp(idata: xr.DataTree, *, family: str, spec: dict, data_hash: str, seed: int,
          inputs: dict[str, Any]) -> xr.DataTree:
    """Record the provenance of a fit in ``idata``: the one provenance record of pclbayes.

    Root attributes: ``pclbayes_family``, ``pclbayes_format`` (saved-fit layout),
    ``pclbayes_spec`` (the resolved specification, JSON) and its hash, the data hash, the
    seed and the software versions; the prepared model inputs go into the group
    :data:`pclbayes.model.INPUTS_GROUP`. The content checksum is added by :func:`save`.
    No time stamp is recorded: the same fit gives the same file content.
    """
    from pclbayes.model import FORMAT, attach_inputs

    attach_inputs(idata, inputs)
    idata.attrs.update(
        pclbayes_family=family,
        pclbayes_format=FORMAT,
        pclbayes_spec=json.dumps(spec, sort_keys=True, default=str),
        pclbayes_spec_hash=canonical_hash(spec),
        pclbayes_data_hash=data_hash,
        pclbayes_seed=int(seed),
        pclbayes_versions=json.dumps(versions(), sort_keys=True),
    )
    return idata


def checksum(tree: xr.DataTree) -> str:
    """SHA-256 of a DataTree's content.

    It covers every group's variables and coordinates and the root attributes (except
    the checksum itself). Values are hashed in a canonical form (floats as float64 with
    one NaN pattern, integers and booleans as int64, text as UTF-8), so the checksum of
    a tree and of the same tree read back from netCDF agree.
    """
    digest = hashlib.sha256()
    attrs = {k: (v.tolist() if isinstance(v, np.ndarray | np.generic) else v)
             for k, v in tree.attrs.items() if k != "pclbayes_checksum"}
    digest.update(json.dumps(attrs, sort_keys=True, default=str).encode())
    for node in sorted(tree.subtree, key=lambda n: n.path):
        ds = node.to_dataset(inherit=False)
        for name in sorted(map(str, ds.variables)):
            var = ds.variables[name]
            digest.update(f"{node.path}/{name}:{','.join(var.dims)}:{var.shape}".encode())
            digest.update(_canonical_bytes(np.asarray(var.values)))
    return digest.hexdigest()


def _canonical_bytes(values: np.ndarray) -> bytes:
    kind = values.dtype.kind
    if kind in "fc":
        v = values.astype(np.complex128 if kind == "c" else np.float64)
        return np.where(np.isnan(v), np.nan, v).tobytes()
    if kind in "iub":
        return values.astype(np.int64).tobytes()
    return "\x1f".join(str(v) for v in values.ravel()).encode("utf-8", "surrogatepass")


def save(idata: xr.DataTree, path: str | Path, *, attrs: dict[str, Any] | None = None) -> Path:
    """Write a fit to netCDF-4 atomically, with its content checksum.

    The file is written beside ``path`` under a temporary name and renamed into place, so
    ``path`` holds either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = idata.copy()
    tree.attrs.update(attrs or {})
    tree.attrs["pclbayes_checksum"] = checksum(tree)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        tree.to_netcdf(tmp, engine=NETCDF_ENGINE)
        new_file_mode(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_tree(path: str | Path) -> xr.DataTree:
    """Read a netCDF-4 file whole into memory as a DataTree (the file is closed on return)."""
    with xr.open_datatree(path, engine=NETCDF_ENGINE) as tree:
        return tree.load()


def verify(tree: xr.DataTree, path: str | Path) -> None:
    """Raise :class:`ProvenanceError` unless ``tree`` matches its recorded checksum."""
    recorded = tree.attrs.get("pclbayes_checksum")
    if not recorded:
        raise ProvenanceError(f"{path}: no content checksum recorded; refit and save it again")
    if checksum(tree) != recorded:
        raise ProvenanceError(f"{path}: the content does not match its checksum (the file "
                              "was changed or damaged); refit it")
    spec = tree.attrs.get("pclbayes_spec", "")
    try:
        spec_hash = canonical_hash(json.loads(spec))
    except ValueError:
        spec_hash = None
    if spec_hash != tree.attrs.get("pclbayes_spec_hash"):
        raise ProvenanceError(f"{path}: the recorded specification does not match its hash; "
                              "refit it")


def load_result(
    path: str | Path, *, data_hash: str | None = None, spec: dict | None = None
) -> xr.DataTree:
    """Open a saved result as a DataTree, refusing what does not verify.

    Refused: a file made from other data or another resolved spec, or whose content does
    not match its checksum (see :func:`verify`). To get the fitted model object back,
    use :func:`pclbayes.load_fit`.
    """
    tree = read_tree(path)
    verify(tree, path)
    attrs = tree.attrs
    if data_hash is not None and attrs.get("pclbayes_data_hash") != data_hash:
        raise ProvenanceError(
            f"{path} was fitted to data {str(attrs.get('pclbayes_data_hash'))[:12]}..., not to "
            f"the data given ({data_hash[:12]}...); refit it"
        )
    if spec is not None and attrs.get("pclbayes_spec_hash") != canonical_hash(spec):
        raise ProvenanceError(f"{path} was fitted with another specification; refit it")
    return tree
