"""Locations of the bundled evidence base, model and simulation-study specifications.

The evidence base (``data/``), the model specifications (``models/``) and the simulation
studies (``studies/``) live at the top of the repository. A built wheel carries copies of
them inside the package, as ``pclbayes/_bundled/data``, ``pclbayes/_bundled/models`` and
``pclbayes/_bundled/studies`` (``setup.py`` puts them there). :func:`locate` prefers those
copies, read through :mod:`importlib.resources`, and falls back to the top-level folders in
a source checkout or an editable install, where no copy is made.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

BUNDLE_DIR = "_bundled"
"""Folder inside the installed package with the copies of ``data/``, ``models/``, ``studies/``."""

PACKAGE_ROOT = Path(__file__).resolve().parent
"""The directory of the ``pclbayes`` package on disk."""

PROJECT_ROOT = PACKAGE_ROOT.parent
"""The directory above the package: the repository's top level in a source checkout."""

_EXTRACTED = contextlib.ExitStack()
"""Keeps resources extracted from a zip import on disk until the interpreter exits."""
atexit.register(_EXTRACTED.close)


def _is_checkout(root: Path) -> bool:
    """Whether ``root`` is the top level of a pclbayes source tree (it has the build file)."""
    return (root / "pyproject.toml").is_file() and (root / "pclbayes").is_dir()


def _real_path(resource: Traversable) -> Path:
    """A file-system path for ``resource``, extracting it once if the package is zipped."""
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(as_file(resource))


def locate(
    name: str,
    *,
    package_root: Traversable | None = None,
    project_root: Path = PROJECT_ROOT,
) -> Path:
    """Directory of the bundled folder ``name`` (``"data"``, ``"models"`` or ``"studies"``).

    Parameters
    ----------
    name : str
        The top-level folder of the repository, e.g. ``"data"``.
    package_root : Traversable, optional
        The installed package's resources (default: ``importlib.resources.files("pclbayes")``).
    project_root : Path
        Where a source checkout would have the folder (default: the directory above the
        package).

    Returns
    -------
    Path
        In this order: ``<package>/_bundled/<name>`` when it exists (an installed wheel; a
        zipped package is extracted to a temporary directory kept until exit); else
        ``<project_root>/<name>`` when ``project_root`` is a source checkout; else the
        missing ``<package>/_bundled/<name>``, so that reading it reports a missing path.
    """
    root = files("pclbayes") if package_root is None else package_root
    packaged = root / BUNDLE_DIR / name
    if packaged.is_dir():
        return _real_path(packaged)
    checkout = project_root / name
    if _is_checkout(project_root) and checkout.is_dir():
        return checkout
    return packaged if isinstance(packaged, Path) else PACKAGE_ROOT / BUNDLE_DIR / name


BUNDLED_DATA = locate("data")
"""The bundled evidence base (the repository's ``data/``)."""

BUNDLED_MODELS = locate("models")
"""The bundled model specifications (the repository's ``models/``)."""

BUNDLED_STUDIES = locate("studies")
"""The bundled simulation-study specifications (the repository's ``studies/``)."""
