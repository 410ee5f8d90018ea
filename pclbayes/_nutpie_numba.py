"""A PyMC model compiled for nutpie whose C callbacks persist in PyTensor's numba cache.

nutpie's ``compile_pymc_model`` wraps the log density and the expansion of a draw in two
``numba.cfunc`` callbacks that numba cannot cache: their shared-data record has randomly
named fields and they close over Python objects. PyTensor caches the functions they call,
but numba still types and compiles the wrappers (and the library routines they inline) in
every process, about 8-12 s for a pclbayes model. This module builds the same two callbacks
from generated source with fixed names and every constant written out, registered with
PyTensor's numba cache under a key that covers the graphs they call (PyTensor's own hash of
each compiled graph), the shapes and dtypes of the shared data, and this module's source.
A fresh process with a warm compile cache then loads them from disk.

The callbacks follow nutpie's C contract (``_make_c_logp_func``/``_make_c_expand_func`` in
``nutpie.compile_pymc``): the same arguments, the same return codes and the same calls of the
same compiled PyTensor functions, so they compute the same bits. The graph is built by
nutpie's own ``_make_functions``; if a nutpie release no longer offers the helpers used here,
:func:`compile_model` falls back to ``nutpie.compile_pymc_model`` (the same draws, compiled
anew in every process) and logs it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_LOGP_SIGNATURE = "int64(uint64, CPointer(float64), CPointer(float64), CPointer(float64), voidptr)"
_EXPAND_SIGNATURE = "int64(uint64, uint64, CPointer(float64), CPointer(float64), voidptr)"


def compile_model(model: Any) -> Any:
    """``nutpie.compile_pymc_model(model)`` with callbacks that PyTensor's numba cache keeps.

    Parameters
    ----------
    model : pymc.Model
        A model whose data live in ``pm.Data`` containers (kept as nutpie shared data, so
        ``CompiledPyMCModel.with_data`` swaps them).

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        The compiled model, initialised as ``compile_pymc_model`` initialises it (support
        points, jittered).
    """
    try:
        from nutpie import compile_pymc as nc

        helpers = (nc._make_functions, nc.make_user_data, nc._prepare_dims_and_coords,
                   nc._wrap_with_lock, nc.address_as_void_pointer, nc.CompiledPyMCModel)
    except (ImportError, AttributeError) as exc:  # a nutpie without these helpers
        import nutpie

        logger.info("nutpie's compile helpers are not available (%s): compiling its way", exc)
        return nutpie.compile_pymc_model(model)
    return _compile(model, *helpers)


def _compile(model: Any, make_functions: Any, make_user_data: Any, dims_and_coords: Any,
             with_lock: Any, address_as_void_pointer: Any, compiled_model: Any) -> Any:
    """The body of :func:`compile_model` (nutpie's helpers passed in)."""
    import numba
    from pymc.initial_point import make_initial_point_fn

    initial_point_fn = with_lock(make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))
    (n_dim, n_expanded, logp_pt, expand_pt, initial_point, shape_info,
     reparameterized) = make_functions(model, mode="NUMBA", compute_grad=True,
                                       join_expanded=True,
                                       pymc_initial_point_fn=initial_point_fn)
    shared_vars: list[Any] = []
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var not in shared_vars:
            shared_vars.append(var)
    keys = {var: f"shared{i}" for i, var in enumerate(shared_vars)}
    shared_data = {}
    for var, key in keys.items():
        value = np.array(var.get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[key] = value
    user_data = make_user_data(keys, shared_data)
    # a module name makes the callbacks' environment rebuildable from a cache entry
    env = {"__name__": __name__, "np": np, "numba": numba,
           "as_pointer": address_as_void_pointer, "record": user_data.dtype}
    logp = _callback("logp", logp_pt, [keys[v] for v in logp_pt.get_shared()], shared_data,
                     n_dim, n_expanded, env)
    expand = _callback("expand", expand_pt, [keys[v] for v in expand_pt.get_shared()],
                       shared_data, n_dim, n_expanded, env)
    dims, coords = dims_and_coords(model, shape_info, reparameterized)
    return compiled_model(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=initial_point,
        shared_data=shared_data, shared_var_keys=keys, user_data=user_data,
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp_pt, expand_func=expand_pt,
        reparameterized_names=reparameterized)


def _callback(kind: str, function: Any, keys: list[str], shared_data: dict[str, np.ndarray],
              n_dim: int, n_expanded: int, env: dict[str, Any]) -> Any:
    """The ``numba.cfunc`` of ``kind`` ("logp" or "expand") calling ``function``'s graph.

    Its source names every constant (dimensions, dtypes, ranks), so the cache key is the hash
    of that source, of the record layout, of PyTensor's key of the graph called, of this
    module's source and of the versions of nutpie and PyTensor (numba checks its own). Without
    a PyTensor key (a graph PyTensor does not cache, or PyTensor's numba cache switched off)
    the callback is compiled uncached. An entry that cannot be read is forgotten, and the
    callback compiled and stored again; if storing fails too, it is compiled uncached.
    """
    import numba
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    inner = function.vm.jit_fn
    arrays = []
    for i, key in enumerate(keys):
        value = shared_data[key]
        shape = ", ".join(f"int(shape{i}[{d}])" for d in range(value.ndim))
        arrays.append(
            f"        shape{i} = shared['shape']['{key}']\n"
            f"        a{i} = numba.carray(as_pointer(shared['data']['{key}'][()]),"
            f" (int(shared['size']['{key}'][()]),), np.{value.dtype.name})"
            f".reshape(({shape}{',' if value.ndim == 1 else ''}))\n")
    args = "".join(f", a{i}" for i in range(len(keys)))
    if kind == "logp":
        head = f"def callback(dim, x_, out_, logp_, user_data_):\n    if dim != {n_dim}:\n"
        body = (f"        x = numba.carray(x_, ({n_dim},))\n"
                f"        out = numba.carray(out_, ({n_dim},))\n"
                f"        logp = numba.carray(logp_, ())\n"
                f"        logp_val, grad = inner(x{args})\n"
                f"        logp[()] = logp_val\n"
                f"        out[...] = grad\n"
                f"        if not np.all(np.isfinite(out)):\n            return 3\n"
                f"        if not np.isfinite(logp_val):\n            return 4\n")
        failed, signature = 1, _LOGP_SIGNATURE
    else:
        head = (f"def callback(dim, expanded, x_, out_, user_data_):\n"
                f"    if dim != {n_dim} or expanded != {n_expanded}:\n")
        body = (f"        x = numba.carray(x_, ({n_dim},))\n"
                f"        out = numba.carray(out_, ({n_expanded},))\n"
                f"        (values,) = inner(x{args})\n"
                f"        out[...] = values\n")
        failed, signature = -2, _EXPAND_SIGNATURE
    read = "        shared = numba.carray(user_data_, (), record)['shared']\n" if keys else ""
    src = (head + "        return -1\n    try:\n" + read + "".join(arrays) + body
           + f"    except Exception:  # noqa: BLE001\n        return {failed}\n    return 0\n")
    import nutpie
    import pytensor
    from numba.core.caching import FunctionCache

    globals_ = {**env, "inner": inner}
    graph_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    if graph_key is None or not pytensor.config.numba__cache:
        return numba.cfunc(signature)(compile_numba_function_src(src, "callback", globals_))
    cache_key = hashlib.sha256("\n".join(
        [src, str(env["record"].descr), graph_key, _SOURCE, nutpie.__version__,
         pytensor.__version__]).encode()).hexdigest()
    try:
        return numba.cfunc(signature, cache=True)(
            compile_numba_function_src(src, "callback", globals_, cache_key=cache_key))
    except Exception as exc:  # an unreadable entry: forget it, compile and store anew
        logger.warning("the %s callback could not be loaded from the compile cache or stored"
                       " in it (%s); compiling it again", kind, exc)
    fn = compile_numba_function_src(src, "callback", globals_, cache_key=cache_key)
    try:
        FunctionCache(fn).flush()
        return numba.cfunc(signature, cache=True)(fn)
    except Exception:  # e.g. a cache folder that cannot be written: compile uncached
        return numba.cfunc(signature)(compile_numba_function_src(src, "callback", globals_))


_SOURCE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
"""What the cache key takes from this module (the generator of the callbacks' source)."""
