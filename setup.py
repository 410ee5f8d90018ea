"""Build hook: ship the top-level ``data/``, ``models/`` and ``studies/`` inside the wheel.

The evidence base, the model specifications and the simulation-study specifications live
at the top of the repository, where people read and edit them. A wheel holds only what
sits under ``pclbayes/``, so the ``build_py`` step below copies the folders to
``pclbayes/_bundled/data``, ``pclbayes/_bundled/models`` and ``pclbayes/_bundled/studies``
in the build directory. ``pclbayes._paths`` finds them there
with :mod:`importlib.resources` once installed, and falls back to the top-level folders in
a source checkout or an editable install (where this copy is skipped). Everything else
about the package is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("data", "models", "studies")
"""Top-level folders copied, whole, to ``pclbayes/_bundled/<name>``."""


def _bundled_files() -> list[tuple[Path, Path]]:
    """Pairs (source file, path relative to the build directory) of every bundled file."""
    pairs = []
    for name in BUNDLED:
        source = ROOT / name
        if not source.is_dir():
            raise FileNotFoundError(f"{source} is missing: the wheel would ship no {name}/")
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                pairs.append((path, Path("pclbayes", "_bundled", name, path.relative_to(source))))
    return pairs


class BuildPyWithBundled(build_py):
    """``build_py`` that also copies the bundled folders into ``pclbayes/_bundled``."""

    def run(self) -> None:
        """Build the Python modules, then copy the bundled folders (not when editable)."""
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib, "pclbayes", "_bundled")
        if target.exists():
            shutil.rmtree(target)  # no stale files from an earlier build
        for source, relative in _bundled_files():
            self.mkpath(str(Path(self.build_lib, relative).parent))
            self.copy_file(str(source), str(Path(self.build_lib, relative)), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The modules' outputs plus every bundled file."""
        outputs = super().get_outputs(include_bytecode=include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib, rel)) for _, rel in _bundled_files()]


setup(cmdclass={"build_py": BuildPyWithBundled})
