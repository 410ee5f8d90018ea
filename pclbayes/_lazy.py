"""Names of a package imported on first use (:pep:`562`), for light package imports."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, names: Mapping[str, str], namespace: dict[str, Any]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose ``names`` load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (for the error message).
    names : mapping
        ``{public name: module that defines it}``.
    namespace : dict
        The package's ``globals()``: a name, once imported, is stored there, so later
        accesses do not come back to ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
