"""The package's import structure: no cycles, the CLI on top, a light and lazy ``import pclbayes``.

The graph is built from the source (``ast``), not by importing: an edge ``a -> b`` means
module ``a`` imports module ``b`` in a module-level statement (including ``if``/``try``/``with``
blocks, except ``if TYPE_CHECKING:``, which never runs and only names types for annotations),
not inside a function or method. Imports deferred into functions are how the package keeps
``import`` light (PyMC is loaded only when a model is fitted); inside ``pclbayes.planning``
even those (and type-only imports) must not form a cycle: the mixtures and helpers at the
bottom never reach back to the verbs built on them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pclbayes

PACKAGE = "pclbayes"
ROOT = Path(pclbayes.__file__).resolve().parent
HEAVY = ("pymc", "pytensor", "arviz", "matplotlib")


def module_name(path: Path) -> str:
    """Dotted module name of a source file inside the package."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_statements(body: list[ast.stmt]):
    """Module-level statements (into if/try/with blocks; not defs, not ``if TYPE_CHECKING``)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        yield node
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level_statements(node.body)
            yield from _module_level_statements(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level_statements(block)
            for handler in node.handlers:
                yield from _module_level_statements(handler.body)
        elif isinstance(node, ast.With | ast.AsyncWith):
            yield from _module_level_statements(node.body)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module ``name`` refers to (its longest existing prefix), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_modules(mod: str, nodes, modules: dict[str, Path]) -> set[str]:
    """Package modules that the import statements among ``nodes`` of module ``mod`` load."""
    is_pkg = modules[mod].name == "__init__.py"
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # ``from pkg import sub`` loads the submodule ``pkg.sub`` when one exists
            targets = [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != PACKAGE:
                continue
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != mod:
                out.add(resolved)
    return out


def import_graph(*, module_level_only: bool = True) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for every module of the package."""
    modules = all_modules()
    graph = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nodes = _module_level_statements(tree.body) if module_level_only else ast.walk(tree)
        graph[mod] = imported_modules(mod, nodes, modules)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


# --- the graph helpers themselves --------------------------------------------------------------


def test_find_cycles_on_small_graphs():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    two = find_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}})
    assert sorted(two) == [["a", "b"], ["c", "d"]]


def test_module_level_statements_skip_functions_and_type_checking():
    src = (
        "from typing import TYPE_CHECKING\n"
        "import pclbayes.errors\n"
        "if TYPE_CHECKING:\n    import pclbayes.planning.update\n"
        "try:\n    from pclbayes.planning import mixture\nexcept ImportError:\n    pass\n"
        "def f():\n    import pclbayes.cli\n"
        "class C:\n    def g(self):\n        from pclbayes import survival\n"
    )
    modules = all_modules()
    nodes = _module_level_statements(ast.parse(src).body)
    got = imported_modules("pclbayes.planning.ess", nodes, modules)
    assert got == {"pclbayes.errors", "pclbayes.planning.mixture"}
    everything = imported_modules("pclbayes.planning.ess", ast.walk(ast.parse(src)), modules)
    assert everything == got | {"pclbayes.cli", "pclbayes.survival", "pclbayes.planning.update"}


def test_relative_imports_resolve():
    modules = all_modules()
    tree = ast.parse("from . import mixture\nfrom ..errors import SpecError\n")
    got = imported_modules("pclbayes.planning.ess", tree.body, modules)
    assert got == {"pclbayes.planning.mixture", "pclbayes.errors"}


# --- the package -------------------------------------------------------------------------------


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles (module-level imports):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_planning_has_no_cycles_even_through_deferred_imports():
    graph = import_graph(module_level_only=False)
    inside = {m for m in graph if m.startswith("pclbayes.planning.")}
    sub = {m: graph[m] & inside for m in inside}
    assert find_cycles(sub) == []


def test_only_the_cli_imports_the_cli():
    """The library never depends on its command line: not even inside a function."""
    entry = {"pclbayes.__main__"}  # ``python -m pclbayes`` is the CLI's entry point
    offenders = {
        mod: sorted(t for t in targets if t == "pclbayes.cli" or t.startswith("pclbayes.cli."))
        for mod, targets in import_graph(module_level_only=False).items()
        if not (mod == "pclbayes.cli" or mod.startswith("pclbayes.cli.")) and mod not in entry
    }
    offenders = {mod: t for mod, t in offenders.items() if t}
    assert offenders == {}


# --- ``import pclbayes`` in a fresh interpreter ------------------------------------------------


def _run(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_pclbayes_loads_no_heavy_library():
    got = _run(
        "import json, sys\n"
        "import pclbayes\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    assert got == []


def _planning_verbs() -> set[str]:
    import inspect

    import pclbayes.planning as planning

    return {n for n in planning.__all__ if inspect.isfunction(getattr(planning, n))}


def test_top_level_names():
    verbs = _planning_verbs()
    assert {"assurance", "decision_rule", "ess", "robustify", "sample_size"} <= verbs
    expected = {"load", "ResponseModel", "SurvivalModel", "load_fit", *verbs}
    assert expected <= set(pclbayes.__all__)
    assert set(pclbayes.__all__) <= set(dir(pclbayes))
    with pytest.raises(AttributeError, match="no_such_name"):
        pclbayes.no_such_name  # noqa: B018


def test_top_level_names_are_the_defining_modules_objects():
    import pclbayes.planning as planning
    from pclbayes.data import load
    from pclbayes.model import load_fit
    from pclbayes.response import ResponseModel
    from pclbayes.survival import SurvivalModel

    assert pclbayes.load is load and pclbayes.load_fit is load_fit
    assert pclbayes.ResponseModel is ResponseModel and pclbayes.SurvivalModel is SurvivalModel
    for verb in _planning_verbs():
        assert getattr(pclbayes, verb) is getattr(planning, verb), verb


@pytest.mark.heavy
def test_top_level_names_are_imported_on_first_use():
    got = _run(
        "import json, sys\n"
        "import pclbayes\n"
        "before = sorted(m for m in sys.modules if m.startswith('pclbayes.'))\n"
        "rule = pclbayes.decision_rule\n"
        "after = 'pclbayes.planning.decisions' in sys.modules\n"
        "from pclbayes import SurvivalModel\n"
        "from pclbayes.survival import SurvivalModel as S\n"
        "print(json.dumps([before, after, SurvivalModel is S]))\n"
    )
    assert got == [["pclbayes._lazy"], True, True]  # only the standard-library helper


def _library_modules() -> list[str]:
    """Every module except the command line and ``python -m pclbayes``."""
    return [
        m for m in all_modules()
        if m != "pclbayes.__main__" and not (m == "pclbayes.cli" or m.startswith("pclbayes.cli."))
    ]


def test_only_the_cli_selects_a_matplotlib_backend():
    """No library module calls ``matplotlib.use`` (``use`` of any ``matplotlib`` alias)."""
    offenders = []
    for mod in _library_modules():
        tree = ast.parse(all_modules()[mod].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"use", "switch_backend"}
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"matplotlib", "mpl", "plt"}
            ):
                offenders.append(f"{mod}:{node.lineno}")
    assert offenders == []


@pytest.mark.heavy
def test_importing_any_module_does_not_switch_the_matplotlib_backend():
    """Not the library, not even the CLI's modules (only running ``report`` selects Agg)."""
    every = [m for m in all_modules() if m != "pclbayes.__main__"]  # that one runs the CLI
    got = _run(
        "import importlib, json, matplotlib\n"
        "matplotlib.use('svg')\n"
        f"for m in {every!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(matplotlib.get_backend()))\n"
    )
    assert got.lower() == "svg"
