"""Which NUTS engine fits the shipped models fastest in a fresh process, cold and warm.

Run with ``python benchmarks/bench_engines.py [--repeat 3]``. Every case is one fit in a new
Python process, timed from start to exit: imports, building the model, compiling it and
drawing 4 chains x 1000 draws after 1000 tuning steps, for two shipped models,

* ``cr``: CR by antigen target, hierarchical beta-binomial (``ResponseModel(method="mcmc")``);
* ``pfs``: PFS by antigen target, Weibull with censoring (``SurvivalModel``).

Engines (all through pclbayes' own model code; only the compile step or the sampler differs):

* ``nutpie (pclbayes)``: the default; nutpie, with the C callbacks kept in PyTensor's numba
  cache (:mod:`pclbayes._nutpie_numba`);
* ``nutpie (stock)``: the baseline, ``nutpie.compile_pymc_model`` as nutpie ships it (what
  ``pm.sample(nuts_sampler="nutpie")`` does);
* ``PyMC NUTS (numba)``: PyMC's own sampler with PyTensor's default numba backend;
* ``PyMC NUTS (C)``: PyMC's own sampler with PyTensor's C backend (``mode=CVM``);
* ``nutpie (JAX)``: nutpie's JAX backend with JAX gradients and JAX's persistent compile
  cache; measured only when ``jax`` can be imported (``--jax-path DIR`` adds a folder holding
  it to the children's ``PYTHONPATH``), otherwise listed as not measured.

Each engine runs *cold* (a new, empty compile cache: PyTensor's ``base_compiledir`` and, for
JAX, its cache folder) and *warm* (the same caches, already filled by the cold run); warm
times are the median of ``--repeat`` runs. The ratio is the case's time over the baseline's
(``nutpie (stock)``) time of the same model and cache state, measured in the same run. The
results, with the machine, go to ``benchmarks/results/engines.json`` (each row names its
own baseline row, which ``readme_table.py`` uses for its ratio).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results

BASELINE = "nutpie (stock)"
ENGINES = ("nutpie (pclbayes)", BASELINE, "PyMC NUTS (numba)", "PyMC NUTS (C)",
           "nutpie (JAX)")
MODELS = {"cr": "CR by target, beta-binomial", "pfs": "PFS by target, Weibull"}


def child(engine: str, model: str) -> None:
    """One fit of ``model`` with ``engine`` (run in the timed process)."""
    from pclbayes import _nutpie_numba

    if engine == BASELINE:
        import nutpie

        _nutpie_numba.compile_model = nutpie.compile_pymc_model
    elif engine == "nutpie (JAX)":
        import nutpie

        def compile_jax(m):  # unfrozen, so that with_data can swap the data in
            return nutpie.compile_pymc_model(m, backend="jax", gradient_backend="jax",
                                             freeze_model=False)

        _nutpie_numba.compile_model = compile_jax
    from pclbayes.sampling import SamplerSettings

    sampler = SamplerSettings(sampler="pymc" if engine.startswith("PyMC") else "nutpie")
    if model == "cr":
        from pclbayes import ResponseModel

        ResponseModel(endpoint="cr", by="target", method="mcmc", sampler=sampler).fit()
    else:
        from pclbayes import SurvivalModel

        SurvivalModel(endpoint="pfs", by="target", sampler=sampler).fit()


def _env(engine: str, caches: Path, jax_path: str | None) -> dict[str, str]:
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and f.split("=")[0] not in {"base_compiledir", "mode", "linker"}]
    flags.append(f"base_compiledir={caches / 'pytensor'}")
    if engine == "PyMC NUTS (C)":
        flags.append("mode=CVM")
    env = {**os.environ, "PYTENSOR_FLAGS": ",".join(flags),
           "PCLBAYES_CACHE_DIR": tempfile.mkdtemp(dir=caches)}
    if engine == "nutpie (JAX)":
        env.update(JAX_COMPILATION_CACHE_DIR=str(caches / "jax"),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
        if jax_path:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [jax_path,
                                                              env.get("PYTHONPATH")]))
    return env


def wall_time(engine: str, model: str, caches: Path, jax_path: str | None) -> float:
    """Seconds from start to exit of one fit in a new process."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import bench_engines; bench_engines.child({engine!r}, {model!r})")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=_env(engine, caches, jax_path),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} / {model} exited {proc.returncode}: "
                           f"{proc.stderr.strip()[-2000:]}")
    return elapsed


def _has_jax(jax_path: str | None) -> bool:
    env = {**os.environ}
    if jax_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [jax_path, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", "import jax"], env=env,
                          capture_output=True, check=False).returncode == 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per case")
    parser.add_argument("--jax-path", help="a folder holding jax, added to PYTHONPATH")
    parser.add_argument("--models", default="cr,pfs", help="comma-separated: cr, pfs")
    args = parser.parse_args(argv)
    before = _results.machine()
    jax = _has_jax(args.jax_path)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for engine in ENGINES:
                labels = {state: label(model, engine, state) for state in ("cold", "warm")}
                if engine == "nutpie (JAX)" and not jax:
                    for name in labels.values():
                        results[name] = {"not measured": "jax is not installed"}
                    continue
                caches = Path(tmp) / f"{model}-{ENGINES.index(engine)}"
                caches.mkdir()
                times = {"cold": [wall_time(engine, model, caches, args.jax_path)],
                         "warm": [wall_time(engine, model, caches, args.jax_path)
                                  for _ in range(args.repeat)]}
                for state, name in labels.items():
                    results[name] = {"median": statistics.median(times[state]),
                                     "times": times[state],
                                     "baseline": label(model, BASELINE, state)}
                    print(f"{name}: {results[name]['median']:.1f} s", file=sys.stderr,
                          flush=True)
    first = args.models.split(",")[0]
    _results.write("engines", baseline=label(first, BASELINE, "warm"), results=results,
                   repeat=args.repeat, before=before,
                   note="cold: one run each; ratios to nutpie (stock), same model and cache")
    _print(results)

def label(model: str, engine: str, state: str) -> str:
    """The row label of one case, e.g. ``CR by target, beta-binomial: nutpie (stock), warm``."""
    return f"{MODELS[model]}: {engine}, {state}"

def _print(results: dict[str, dict]) -> None:
    print(f"{'case':<64} {'wall s':>8} {'x base':>7}")
    for name, r in results.items():
        if "median" not in r:
            print(f"{name:<64} not measured: {r['not measured']}")
        else:
            print(f"{name:<64} {r['median']:8.1f} {r['ratio']:7.2f}")
    print(f"x base: time / the time of {BASELINE} for the same model and cache state")

if __name__ == "__main__":
    main()
