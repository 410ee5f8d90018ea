"""What each quick command loads: ``--help``, ``validate``, ``data``, ``plan oc``, exact fits.

(``plan oc`` prints its table without pandas, whose import alone takes about 0.4 s.)

Each check runs the command in a fresh interpreter (``pclbayes.cli.main`` in a
subprocess) and reads ``sys.modules`` afterwards. Help text needs nothing beyond the
standard library; reading the data needs pandas but no sampler; exact binomial sums
(``plan oc``) and the exact response engine need neither PyMC, PyTensor, nutpie, ArviZ,
matplotlib nor lifelines, which take seconds to import, nor ``scipy.stats`` (about a
second: the default Beta and Gamma priors are computed without it, see
:meth:`pclbayes.priors.Prior.distribution`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Never loaded by a command that neither samples nor draws (nor fits a Kaplan-Meier curve).
SAMPLING = ("pymc", "pytensor", "nutpie", "numba", "arviz", "arviz_stats", "arviz_base",
            "matplotlib", "lifelines")
#: Not needed to print help either.
NUMERIC = ("numpy", "scipy", "pandas", "xarray")

_RUN = """
import contextlib, io, json, sys
from pclbayes.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            codes.append(main(argv))
        except SystemExit as exc:  # argparse after printing help
            codes.append(exc.code)
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""

_HELP_ARGVS = """
import argparse, json
from pclbayes.cli import build_parser

def walk(parser, prefix):
    yield [*prefix, "--help"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, [*prefix, name])

print(json.dumps(list(walk(build_parser(), []))))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, env=env, timeout=300)
    return out.stdout


def _run(argvs: list[list[str]], tmp_path: Path) -> tuple[list[int], set[str]]:
    """Exit codes of ``argvs`` run in turn in one fresh interpreter, and its loaded modules."""
    env = {**os.environ, "PCLBAYES_CACHE_DIR": str(tmp_path / "cache")}
    result = json.loads(_python(_RUN, json.dumps(argvs), env=env).splitlines()[-1])
    return result["codes"], set(result["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in modules]


@pytest.fixture(scope="module")
def help_argvs() -> list[list[str]]:
    return json.loads(_python(_HELP_ARGVS))


def test_every_command_is_reached(help_argvs: list[list[str]]) -> None:
    commands = {" ".join(a[:-1]) for a in help_argvs}
    assert {"", "validate", "data", "fit", "fit response", "plan", "plan oc",
            "report"} <= commands


def test_help_of_every_command_loads_only_the_standard_library(
        help_argvs: list[list[str]], tmp_path: Path) -> None:
    codes, modules = _run(help_argvs, tmp_path)
    assert codes == [0] * len(help_argvs)
    assert _loaded(modules, SAMPLING + NUMERIC) == []


def test_time_unit_choices_are_the_data_units() -> None:
    """The parser spells the units out (no pandas to print help); they are the data's."""
    from pclbayes.cli.data_cmd import TIME_UNIT_NAMES
    from pclbayes.data._schema import TIME_UNITS

    assert TIME_UNIT_NAMES == tuple(TIME_UNITS)


@pytest.fixture()
def flat_prior(tmp_path: Path) -> Path:
    path = tmp_path / "flat.json"
    path.write_text(json.dumps({
        "format": "pclbayes-prior", "format_version": 1, "family": "beta",
        "components": [{"name": "flat", "weight": 1.0, "a": 1.0, "b": 1.0}]}))
    return path


@pytest.mark.parametrize("argv", [["validate"], ["data", "--table", "cohorts"]],
                         ids=" ".join)
def test_reading_the_data_loads_no_sampler(argv: list[str], tmp_path: Path) -> None:
    codes, modules = _run([argv], tmp_path)
    assert codes == [0]
    assert "pandas" in modules  # the check can see what a command loads
    assert _loaded(modules, SAMPLING) == []


@pytest.mark.heavy
@pytest.mark.parametrize("extra", [[], ["--json"], ["--futility", "10:0.3:0.9"]],
                         ids=["text", "json", "interim"])
def test_plan_oc_loads_no_sampler_and_no_pandas(flat_prior: Path, tmp_path: Path,
                                                extra: list[str]) -> None:
    """Binomial sums and a printed table: numpy and scipy.special only (pandas: 0.4 s)."""
    argv = ["plan", "oc", "--prior", str(flat_prior), "--n", "20", "--threshold", "0.3",
            "--prob", "0.9", "--true", "0.2,0.4", *extra]
    codes, modules = _run([argv], tmp_path)
    assert codes == [0]
    assert "scipy.special" in modules  # the check can see what a command loads
    assert _loaded(modules, (*SAMPLING, "pandas", "xarray", "scipy.stats")) == []


@pytest.mark.heavy
@pytest.mark.parametrize("extra", [["--json"], []], ids=["json", "text"])
def test_exact_response_fit_loads_no_sampler_and_no_scipy_stats(tmp_path: Path,
                                                                 extra: list[str]) -> None:
    argv = ["fit", "response", "--endpoint", "cr", "--by", "target", *extra]
    codes, modules = _run([argv], tmp_path)
    assert codes == [0]
    assert "scipy.special" in modules  # the check can see what a command loads
    assert _loaded(modules, (*SAMPLING, "scipy.stats")) == []
    # xarray asks whether each array is a dask array; with dask not imported, the answer
    # is "no" without importing it (pclbayes._xarray_dask), a second of a fresh process
    assert "dask" not in modules



def test_the_report_and_the_fitted_models_load_no_sampler_until_they_sample() -> None:
    """A report whose fits all come from the fit cache samples nothing: no PyMC is loaded.

    Importing the report's modules, both model families and :mod:`pclbayes.model` (which
    holds :func:`pclbayes.load_fit`) loads neither PyMC, PyTensor, nutpie nor numba: they
    are imported inside the functions that sample.
    """
    code = ("import json, sys\n"
            "import pclbayes, pclbayes.report.builder, pclbayes.report.sections\n"
            "import pclbayes.survival.model, pclbayes.response.model, pclbayes.model\n"
            "print(json.dumps(sorted(sys.modules)))")
    modules = set(json.loads(_python(code).splitlines()[-1]))
    assert "matplotlib" in modules  # the check can see what the report loads
    assert _loaded(modules, ("pymc", "pytensor", "nutpie", "numba")) == []
