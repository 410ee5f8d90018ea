"""xarray without importing dask until dask is used.

xarray asks, for every array it wraps, whether it is a dask array: ``isinstance(data,
dask.array.Array)`` (``xarray.namedarray.pycompat.array_type("dask")``) and
``dask.base.is_dask_collection(data)`` (``xarray.namedarray.utils.is_dask_collection``).
With dask installed, the first such question imports dask and ``dask.array``: about a
second of a fresh process, more than a whole exact fit takes.

While ``dask.array`` (``dask``) has not been imported, no object can be a dask array (a
dask collection), so the answer is "no" without importing anything. :func:`defer_dask`
makes xarray answer so; from the moment dask is imported (by the user, or by
:mod:`pclbayes.simulate`), xarray's own checks run unchanged.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["defer_dask"]


class _DeferredDask:
    """xarray's record of the dask module, resolved only once ``dask.array`` is imported.

    ``type`` (the only attribute the array checks read) is empty until then; any other
    attribute (``module``, ``version``, ``available``) resolves the record at once.
    """

    def __init__(self, pycompat: Any) -> None:
        self._pycompat = pycompat

    def _real(self) -> Any:
        real = self._pycompat.DuckArrayModule("dask")
        self._pycompat._cached_duck_array_modules["dask"] = real
        return real

    @property
    def type(self) -> tuple[type, ...]:
        if "dask.array" not in sys.modules:
            return ()
        return self._real().type

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def defer_dask() -> None:
    """Make xarray's dask checks import nothing while dask is not imported (idempotent).

    Does nothing if dask is already imported, or if this xarray keeps its dask checks
    elsewhere (then xarray imports dask as it always did).
    """
    if "dask" in sys.modules:
        return
    try:
        from xarray.namedarray import pycompat
        from xarray.namedarray import utils as nutils
    except ImportError:  # pragma: no cover - another xarray layout
        return
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    if isinstance(cache, dict) and "dask" not in cache and hasattr(pycompat, "DuckArrayModule"):
        cache["dask"] = _DeferredDask(pycompat)
    check = getattr(nutils, "is_dask_collection", None)
    if check is not None and not getattr(check, "_pclbayes_deferred", False):
        def is_dask_collection(x: object) -> bool:
            if "dask" not in sys.modules:
                return False
            return check(x)

        is_dask_collection._pclbayes_deferred = True  # type: ignore[attr-defined]
        is_dask_collection.__doc__ = check.__doc__
        nutils.is_dask_collection = is_dask_collection
