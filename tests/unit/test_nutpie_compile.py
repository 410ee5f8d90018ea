"""nutpie's C callbacks compiled from generated source and kept in PyTensor's numba cache.

:mod:`pclbayes._nutpie_numba` replaces only the two ``numba.cfunc`` wrappers nutpie builds
around PyTensor's compiled log density and expansion. These tests check that the draws are
those of ``nutpie.compile_pymc_model`` bit for bit (also after ``with_data``), that a second
process loads both callbacks from the compile cache instead of compiling them, and that an
unreadable cache entry or a nutpie without the helpers used still gives a working model.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

MODEL = textwrap.dedent("""
    import numpy as np
    import pymc as pm

    def model(y=(0.3, -1.2, 2.0, 0.7), n=(3, 5, 4, 6)):
        with pm.Model(coords={"g": range(4)}) as m:
            y_ = pm.Data("y", np.asarray(y, dtype=float))
            n_ = pm.Data("n", np.asarray(n, dtype=np.int64))
            mu = pm.Normal("mu", 0.0, 2.0)
            tau = pm.HalfNormal("tau", 1.0)
            theta = pm.Normal("theta", mu, tau, dims="g")
            pm.Normal("obs", theta, 1.0 / pm.math.sqrt(n_), observed=y_)
            pm.Deterministic("spread", tau * 2.0)
        return m
""")


def _model(**data):
    namespace: dict = {}
    exec(MODEL, namespace)  # the same source as the subprocesses below
    return namespace["model"](**data)


def _draws(compiled, seed: int = 11) -> dict[str, np.ndarray]:
    import nutpie

    trace = nutpie.sample(compiled, draws=150, tune=150, chains=2, cores=1, seed=seed,
                          progress_bar=False)
    return {name: trace["posterior"][name].values
            for name in trace["posterior"].data_vars}


@pytest.mark.heavy
def test_draws_are_nutpie_s_own_bit_for_bit_also_after_swapping_the_data(caplog):
    import nutpie

    from pclbayes._nutpie_numba import compile_model

    with caplog.at_level(logging.INFO, logger="pclbayes._nutpie_numba"):
        ours = compile_model(_model())
    assert caplog.text == ""  # neither a fallback to nutpie's compile nor a cache failure
    assert sorted(ours.shared_var_keys.values()) == ["shared0", "shared1"]  # pclbayes' layout
    theirs = nutpie.compile_pymc_model(_model())
    mine, reference = _draws(ours), _draws(theirs)
    assert mine.keys() == reference.keys() == {"mu", "tau", "theta", "spread"}
    for name in mine:
        np.testing.assert_array_equal(mine[name], reference[name])
    new = {"y": np.array([2.5, 2.0, 3.1, 1.9]), "n": np.array([9, 1, 2, 8])}
    swapped, reference = _draws(ours.with_data(**new)), _draws(theirs.with_data(**new))
    for name in swapped:
        np.testing.assert_array_equal(swapped[name], reference[name])
    assert not np.array_equal(swapped["mu"], mine["mu"])  # the new data were used


PROCESS = MODEL + textwrap.dedent("""
    import json, logging, sys
    logging.basicConfig(level=logging.WARNING)
    import nutpie
    import pytensor
    from pclbayes._nutpie_numba import compile_model
    with pytensor.config.change_flags(numba__fastmath=False):  # as pclbayes.nuts compiles
        compiled = compile_model(model())
    trace = nutpie.sample(compiled, draws=100, tune=100, chains=1, cores=1, seed=3,
                          progress_bar=False)
    print(json.dumps({"hits": [compiled.compiled_logp_func.cache_hits,
                               compiled.compiled_expand_func.cache_hits],
                      "mu": trace["posterior"]["mu"].values.ravel().tolist()}))
""")


def _process(compile_dir: Path) -> tuple[dict, str]:
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir=")]
    env = {**os.environ, "PYTENSOR_FLAGS": ",".join([*flags, f"base_compiledir={compile_dir}"])}
    proc = subprocess.run([sys.executable, "-c", PROCESS], env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.heavy
def test_a_new_process_loads_the_callbacks_from_the_compile_cache(tmp_path):
    first, _ = _process(tmp_path)
    assert first["hits"] == [0, 0]  # compiled, and stored
    entries = sorted((tmp_path / "numba").glob("*callback*.nbc"))
    assert len(entries) == 2
    # one entry unreadable: that callback compiled again (with a warning), the other loaded
    entries[0].write_bytes(b"not a cache entry")
    second, stderr = _process(tmp_path)
    assert sorted(second["hits"]) == [0, 1]
    assert "could not be loaded from the compile cache" in stderr
    assert second["mu"] == first["mu"]
    # the unreadable entry was replaced: the next process loads both, silently
    third, stderr = _process(tmp_path)
    assert third["hits"] == [1, 1]
    assert "compile cache" not in stderr
    assert third["mu"] == first["mu"]


def test_a_nutpie_without_the_helpers_compiles_its_own_way(monkeypatch, caplog):
    import nutpie
    from nutpie import compile_pymc

    from pclbayes import _nutpie_numba

    monkeypatch.delattr(compile_pymc, "_make_functions")
    calls = []
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model: calls.append(model) or "x")
    model = _model()
    with caplog.at_level(logging.INFO, logger="pclbayes._nutpie_numba"):
        assert _nutpie_numba.compile_model(model) == "x"
    assert calls == [model]
    assert "compiling its way" in caplog.text
