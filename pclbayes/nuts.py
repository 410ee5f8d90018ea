"""NUTS for every pclbayes model, reusing compiled models across fits.

Compiling a PyMC model for nutpie takes 10-20 s in a process with an empty compile cache and
about 2 s with a warm one (:mod:`pclbayes._nutpie_numba` keeps nutpie's C callbacks in
PyTensor's numba cache); sampling the bundled models takes 0.1-0.7 s. The data and the prior
parameters enter the models as ``pm.Data`` containers, so a compiled
model is cached by its *structure* (model family, dimension sizes, options, prior families)
and a later fit with other data or other prior values only swaps the values in
(``CompiledPyMCModel.with_data``): the specifications of a report and their prior-sensitivity
variants share a handful of compiled models. With ``sampler = "pymc"`` PyMC's own NUTS
samples a freshly built model with the values as constants.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from numpy.typing import ArrayLike

from pclbayes.priors import Prior
from pclbayes.sampling import SamplerSettings

logger = logging.getLogger(__name__)

_CACHE_SIZE = 16
_cache: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()


def _compiled(key: Hashable, build: Callable[[bool], pm.Model], data: dict[str, np.ndarray]):
    """The compiled model of ``key`` (compiled on first use), with ``data`` swapped in.

    The values are set both in nutpie's copy (``with_data``, used by the log density) and in
    the PyMC model's own containers, which the initial-point function reads: a variable
    without an explicit initial value starts at its prior's support point (e.g. the prior
    mean), so without this the starting point, and hence the draws, would depend on which
    fit happened to compile the model first.

    The model is compiled without numba's fast-math flags. With them, LLVM may contract
    and reassociate floating-point operations differently in a freshly compiled function
    (inlined into nutpie's wrapper) and in one loaded from PyTensor's on-disk numba cache;
    the log density then differs in the last bits, NUTS amplifies that, and the same seed
    gave different draws on a cold and a warm compile cache. Strict IEEE arithmetic gives
    the same bits in both cases.
    """
    from pclbayes._nutpie_numba import compile_model

    with _lock:
        entry = _cache.get(key)
        if entry is not None:
            _cache.move_to_end(key)
    if entry is None:
        start = time.perf_counter()
        model = build(True)
        with pytensor.config.change_flags(numba__fastmath=False):
            entry = (compile_model(model), model)
        logger.info("compiled %s for nutpie in %.2f s", key[0], time.perf_counter() - start)
        with _lock:
            _cache[key] = entry
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    compiled, model = entry
    for name, value in data.items():
        container = model[name]
        container.set_value(np.asarray(value, dtype=container.type.dtype))
    return compiled.with_data(**data)


class Inputs:
    """A model's data arrays and prior parameters, fed to its graph as two ``pm.Data`` vectors.

    nutpie's compiled wrapper takes time to compile for every ``pm.Data`` container (about
    0.4 s each here), so all float inputs travel in one vector and all integer inputs in
    another; inside the model each input is a static slice of them, reshaped.

    Parameters
    ----------
    arrays : mapping
        Named data arrays (integer arrays stay integer; everything else becomes float).
    priors : mapping
        ``{variable name: Prior}``; :meth:`Attached.rv` creates the variable with its
        parameters taken from the float vector.
    """

    def __init__(self, arrays: Mapping[str, ArrayLike], priors: Mapping[str, Prior]) -> None:
        self.priors = dict(priors)
        values = {name: np.asarray(a) for name, a in arrays.items()}
        values.update({_param(name, k): np.asarray(float(v)) for name, prior in self.priors.items()
                       for k, v in prior.params.items()})
        self.values = {name: a.astype(np.int64 if a.dtype.kind in "iub" else np.float64)
                       for name, a in values.items()}

    def key(self) -> tuple:
        """What a compiled graph fixes: every input's name, kind and shape; prior families."""
        layout = tuple((name, a.dtype.kind, a.shape) for name, a in self.values.items())
        families = tuple(f"{name}~{p.dist}" for name, p in self.priors.items())
        return layout + families

    def data(self) -> dict[str, np.ndarray]:
        """Values of the two containers (for ``CompiledPyMCModel.with_data``)."""
        return {_CONTAINER[kind]: np.concatenate([np.ravel(a) for a in arrays])
                for kind, arrays in self._by_kind().items()}

    def attach(self, containers: bool) -> Attached:
        """Create the containers in the current model (or constants for PyMC's NUTS)."""
        flat = self.data()
        if containers:
            vectors = {name: pm.Data(name, v) for name, v in flat.items()}
        else:
            vectors = {name: pt.as_tensor(v) for name, v in flat.items()}
        tensors, offset = {}, dict.fromkeys(flat, 0)
        for name, a in self.values.items():
            vec = _CONTAINER[a.dtype.kind]
            tensors[name] = vectors[vec][offset[vec]:offset[vec] + a.size].reshape(a.shape)
            offset[vec] += a.size
        return Attached(tensors, self.priors)

    def _by_kind(self) -> dict[str, list[np.ndarray]]:
        out: dict[str, list[np.ndarray]] = {}
        for a in self.values.values():
            out.setdefault(a.dtype.kind, []).append(a)
        return out


class Attached:
    """The inputs of :class:`Inputs` inside a model: ``attached[name]`` and :meth:`rv`."""

    def __init__(self, tensors: dict[str, Any], priors: dict[str, Prior]) -> None:
        self._tensors, self._priors = tensors, priors

    def __getitem__(self, name: str) -> Any:
        return self._tensors[name]

    def rv(self, name: str, **kwargs: Any) -> Any:
        """The PyMC variable ``name`` with its prior's parameters from the inputs."""
        prior = self._priors[name]
        params = {k: self._tensors[_param(name, k)] for k in prior.params}
        return getattr(pm, prior.dist)(name, **params, **kwargs)


_CONTAINER = {"f": "inputs_float", "i": "inputs_int"}


def _param(name: str, key: str) -> str:
    return f"{name}__{key}"


def clear_cache() -> None:
    """Forget every compiled model (the next fit of each structure compiles again)."""
    with _lock:
        _cache.clear()


@contextlib.contextmanager
def _ctrl_c_passed_on() -> Iterator[None]:
    """Raise ``KeyboardInterrupt`` after a block that swallowed or converted one.

    PyMC catches ``KeyboardInterrupt`` while sampling and returns the draws made so far, as
    if sampling had finished; a compiler interrupted half-way may fail with an unrelated
    error. In the main thread, with Python's default Ctrl-C handler in place, the
    interruption is recorded and raised again once the block ends, whether it returned or
    failed. Elsewhere (another thread, or a worker process that ignores Ctrl-C) nothing
    changes.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    interrupted = False

    def on_ctrl_c(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    except Exception:
        if interrupted:  # e.g. a compiler left in a broken state by the interruption
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted:
        raise KeyboardInterrupt


def run_nuts(key: Hashable, build: Callable[[bool], pm.Model], data: dict[str, np.ndarray],
             settings: SamplerSettings, seed: int) -> xr.DataTree:
    """Sample the model ``build(containers)`` makes.

    nutpie samples the cached compiled model with ``data`` swapped into its ``pm.Data``
    containers; PyMC's NUTS gets a model with the values as constants (``pm.Data`` containers
    slow PyMC's sampler down about twofold here and bring it nothing, since it compiles anew
    on every call).

    Returns a DataTree with the groups ``posterior`` and ``sample_stats`` only (dims as
    named in the PyMC model; the caller relabels them).
    """
    start = time.perf_counter()
    with _ctrl_c_passed_on():  # compiling and sampling: Ctrl-C stops the fit
        tree = _sample(key, build, data, settings, seed)
    logger.info("%s: %d x %d draws with %s in %.2f s", key[0], settings.chains, settings.draws,
                settings.sampler, time.perf_counter() - start)
    stats = tree["sample_stats"].to_dataset()
    keep = [v for v in stats.data_vars if stats[v].dtype != object]
    return xr.DataTree.from_dict({
        "posterior": tree["posterior"].to_dataset(),
        "sample_stats": stats[keep],
    })


def _sample(key: Hashable, build: Callable[[bool], pm.Model], data: dict[str, np.ndarray],
            settings: SamplerSettings, seed: int) -> Any:
    """Run nutpie (compiled model from the cache) or PyMC's NUTS; the trace as returned."""
    if settings.sampler == "nutpie":
        import nutpie

        compiled = _compiled(key, build, data)
        sampler = nutpie.sample(
            compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
            cores=min(settings.chains, os.cpu_count() or 1), seed=seed, save_warmup=False,
            progress_bar=False, target_accept=settings.target_accept, blocking=False,
        )
        try:
            return sampler.wait()
        except KeyboardInterrupt:
            # nutpie's blocking call would return the draws made so far as if complete
            sampler.cancel()
            raise
    # PyMC's own NUTS, named explicitly: since PyMC 6, pm.sample() picks nutpie whenever
    # it is installed, so leaving nuts_sampler unset would not run PyMC's sampler. PyTensor's
    # default linker is numba too: the same fast-math rule as for nutpie (see _compiled).
    with pytensor.config.change_flags(numba__fastmath=False):
        return pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                         cores=min(settings.chains, os.cpu_count() or 1),
                         target_accept=settings.target_accept, random_seed=seed,
                         progressbar=False, nuts_sampler="pymc", model=build(False))
