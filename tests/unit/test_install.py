"""Packaging: a wheel carries data/, models/ and studies/; pclbayes finds them once installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pclbayes
from pclbayes import _paths
from pclbayes.data import load
from pclbayes.errors import DataValidationError

ROOT = Path(pclbayes.__file__).resolve().parents[1]
BUNDLED = ("data", "models", "studies")
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "pclbayes", *BUNDLED)
"""What the build reads; copied to a temporary directory so the build never writes here."""


def _files_under(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built by pip (isolated build, as `pip install .` does) from a copy of the tree."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not a source checkout")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("pclbayes-*.whl")
    return built


@pytest.mark.heavy
def test_wheel_contains_every_file_of_data_and_models(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for folder in BUNDLED:
        prefix = f"pclbayes/{_paths.BUNDLE_DIR}/{folder}/"
        shipped = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
        expected = _files_under(ROOT / folder)
        assert expected, f"{folder}/ is empty"
        assert shipped == expected, (sorted(expected - shipped), sorted(shipped - expected))
    bundled = [ROOT / f / n for f in BUNDLED for n in _files_under(ROOT / f)]
    with zipfile.ZipFile(wheel) as zf:
        for path in bundled:
            rel = path.relative_to(ROOT).as_posix()
            assert zf.read(f"pclbayes/{_paths.BUNDLE_DIR}/{rel}") == path.read_bytes(), rel


@pytest.mark.heavy
def test_unpacked_wheel_reads_its_own_bundle(wheel, tmp_path):
    """The wheel's pclbayes, run away from the checkout, validates the data it carries."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "empty"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c",
         "import pclbayes, pclbayes._paths as p;"
         "print(pclbayes.__file__); print(p.BUNDLED_DATA); print(p.BUNDLED_MODELS);"
         "print(p.BUNDLED_STUDIES)"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    module, data, models, studies = (Path(line) for line in probe.stdout.splitlines())
    assert module == site / "pclbayes" / "__init__.py"
    assert data == site / "pclbayes" / _paths.BUNDLE_DIR / "data"
    assert models == site / "pclbayes" / _paths.BUNDLE_DIR / "models"
    assert studies == site / "pclbayes" / _paths.BUNDLE_DIR / "studies"

    validate = subprocess.run(
        [sys.executable, "-m", "pclbayes", "validate"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert validate.stdout.startswith(f"OK: {data} (3 cohorts, 15 patients")


# --- the lookup itself, without building -------------------------------------------------


def _checkout(root: Path) -> Path:
    (root / "pclbayes").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "data").mkdir()
    return root


def test_installed_bundle_is_preferred(tmp_path):
    package = tmp_path / "site" / "pclbayes"
    (package / "_bundled" / "data").mkdir(parents=True)
    project = _checkout(tmp_path / "checkout")
    found = _paths.locate("data", package_root=package, project_root=project)
    assert found == package / "_bundled" / "data"


def test_checkout_is_the_fallback(tmp_path):
    package = tmp_path / "checkout" / "pclbayes"
    project = _checkout(tmp_path / "checkout")
    assert _paths.locate("data", package_root=package, project_root=project) == project / "data"


def test_a_folder_named_data_beside_an_installed_package_is_not_used(tmp_path):
    site = tmp_path / "site-packages"
    (site / "pclbayes").mkdir(parents=True)
    (site / "data").mkdir()  # not a pclbayes checkout: no pyproject.toml
    found = _paths.locate("data", package_root=site / "pclbayes", project_root=site)
    assert found == site / "pclbayes" / "_bundled" / "data"
    assert not found.exists()


def test_missing_bundle_is_a_data_error_not_a_traceback(tmp_path):
    site = tmp_path / "site-packages"
    (site / "pclbayes").mkdir(parents=True)
    missing = _paths.locate("data", package_root=site / "pclbayes", project_root=site)
    with pytest.raises(DataValidationError, match="no such file or directory"):
        load(missing)


def test_zipped_package_is_extracted_to_a_real_directory(tmp_path):
    archive = tmp_path / "pkg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pclbayes/__init__.py", "")
        zf.writestr("pclbayes/_bundled/models/a.toml", "x = 1\n")
        zf.writestr("pclbayes/_bundled/models/sub/b.toml", "y = 2\n")
    root = zipfile.Path(archive, "pclbayes/")
    found = _paths.locate("models", package_root=root, project_root=tmp_path)
    assert isinstance(found, Path) and found.is_dir()
    assert (found / "a.toml").read_text() == "x = 1\n"
    assert (found / "sub" / "b.toml").read_text() == "y = 2\n"


def test_this_process_reads_real_directories():
    for path, folder in ((_paths.BUNDLED_DATA, "data"), (_paths.BUNDLED_MODELS, "models"),
                         (_paths.BUNDLED_STUDIES, "studies")):
        assert isinstance(path, Path) and path.is_dir()
        assert path.name == folder
    assert (_paths.BUNDLED_DATA / "cohorts.csv").is_file()
    assert sorted(_paths.BUNDLED_MODELS.glob("*.toml"))
