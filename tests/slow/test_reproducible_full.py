"""Bit-identical results at full size, for every shipped specification (slow: minutes).

The full-size counterpart of ``tests/unit/test_reproducible.py``: every specification in
``models/`` with its own draws (no ``--quick``) and its prior-sensitivity variants.

- ``pclbayes fit SPEC.toml --json`` prints the same text on an empty and on a filled
  PyTensor compile cache (``PYTENSOR_FLAGS=base_compiledir=...``), for each specification;
  and for PyMC's own NUTS (``sampler = "pymc"``), which does not yet (expected to fail).
- ``pclbayes report`` writes the same ``summary.json`` and ``summary.csv`` on a cold compile
  cache with two workers and no fit cache, on a warm one with every fit sampled again in one
  process, and with every fit read from the fit cache.
- Fitted one after another in one process, the specifications give the same draws in
  shipped order and in reverse order (each compiled model is made by another fit).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pclbayes import nuts
from pclbayes._paths import BUNDLED_MODELS
from pclbayes.data import load
from pclbayes.errors import ConvergenceWarning
from pclbayes.jsonio import dumps
from pclbayes.specs import fit_spec, load_spec

pytestmark = pytest.mark.slow

SPECS = sorted(p.name for p in BUNDLED_MODELS.glob("*.toml"))
TIMEOUT = 1800  # seconds per command


def pytensor_env(compile_dir: Path, fit_cache: Path) -> dict[str, str]:
    """The environment of a run: its own compile cache and its own fit cache."""
    env = dict(os.environ)
    flags = [f for f in env.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir=")]
    env["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={compile_dir}"])
    env["PCLBAYES_CACHE_DIR"] = str(fit_cache)
    return env


def pclbayes_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``python -m pclbayes ARGS`` in a fresh process; its standard output."""
    proc = subprocess.run([sys.executable, "-m", "pclbayes", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, (
        f"pclbayes {' '.join(args)} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def stored(compile_dir: Path) -> list[Path]:
    """Index files of the functions PyTensor's numba backend stored under ``compile_dir``."""
    return sorted((compile_dir / "numba").glob("*.nbi"))


@pytest.mark.parametrize("spec", SPECS)
def test_fit_spec_same_json_on_cold_and_warm_compile_cache(tmp_path, spec):
    env = pytensor_env(tmp_path / "compile", tmp_path / "fits")
    args = ["fit", str(BUNDLED_MODELS / spec), "--json"]
    cold = pclbayes_cli(args, env, tmp_path)
    assert stored(tmp_path / "compile"), "nothing compiled was stored: the next run is not warm"
    assert cold == pclbayes_cli(args, env, tmp_path)


def test_pymc_sampler_same_json_on_cold_and_warm_compile_cache(tmp_path):
    """``sampler = "pymc"`` (PyMC's own NUTS) on an empty and on a filled compile cache.

    PyTensor's default linker is numba: with its fast-math flags on, a fresh and a cached
    log density differed in the last bits (survival medians 8.056 vs 8.004 months).
    """
    text = (BUNDLED_MODELS / "survival_pfs_by_target.toml").read_text(encoding="utf-8")
    assert 'sampler = "nutpie"' in text
    spec = tmp_path / "survival_pfs_by_target_pymc.toml"
    spec.write_text(text.replace('sampler = "nutpie"', 'sampler = "pymc"'), encoding="utf-8")
    env = pytensor_env(tmp_path / "compile", tmp_path / "fits")
    args = ["fit", str(spec), "--json"]
    cold = pclbayes_cli(args, env, tmp_path)
    assert stored(tmp_path / "compile")
    assert cold == pclbayes_cli(args, env, tmp_path)


def test_full_report_summaries_same_whatever_cache_state_and_jobs(tmp_path):
    env = pytensor_env(tmp_path / "compile", tmp_path / "fits")
    base = ["report", "--models", str(BUNDLED_MODELS), "--quiet"]
    dirs = {name: tmp_path / name for name in ("cold", "warm", "cached")}
    pclbayes_cli([*base, "--out", str(dirs["cold"]), "--jobs", "2", "--no-cache"],
                 env, tmp_path)
    assert stored(tmp_path / "compile")
    pclbayes_cli([*base, "--out", str(dirs["warm"]), "--jobs", "1", "--refit"], env, tmp_path)
    out = pclbayes_cli([*base, "--out", str(dirs["cached"])], env, tmp_path)
    counts = re.search(r"\((\d+) fits, (\d+) sensitivity fits, (\d+) reused", out)
    assert counts, out
    fits, variants, reused = map(int, counts.groups())
    assert fits == len(SPECS) and reused == fits + variants, out
    for name in ("summary.json", "summary.csv"):
        first = (dirs["cold"] / name).read_bytes()
        for run in ("warm", "cached"):
            assert (dirs[run] / name).read_bytes() == first, f"{name}: cold vs {run}"


def fit_in_order(names: Sequence[str], caplog) -> tuple[dict[str, object], int]:
    """Fit ``names`` one after another from an empty compiled-model cache; fits, compiles."""
    eb = load()
    nuts.clear_cache()
    fitted = {}
    with caplog.at_level(logging.INFO, logger="pclbayes.nuts"):
        caplog.clear()
        for name in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fitted[name] = fit_spec(load_spec(BUNDLED_MODELS / name), eb)
        compiled = sum(r.getMessage().startswith("compiled ") for r in caplog.records)
    nuts.clear_cache()
    return fitted, compiled


def test_every_spec_same_draws_in_either_fit_order(caplog):
    forward, n_forward = fit_in_order(SPECS, caplog)
    backward, n_backward = fit_in_order(SPECS[::-1], caplog)
    assert n_forward == n_backward < len(SPECS), "no two specifications shared a compiled model"
    for name in SPECS:
        a, b = forward[name], backward[name]
        if getattr(a, "idata_", None) is not None:
            post_a, post_b = a.idata_["posterior"], b.idata_["posterior"]
            for var in post_a.data_vars:
                assert np.array_equal(post_a[var].values, post_b[var].values), f"{name}: {var}"
        assert dumps(a.to_dict()) == dumps(b.to_dict()), name
        assert a.summary().to_csv() == b.summary().to_csv(), name
