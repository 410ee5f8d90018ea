"""NUTS for the response models, reusing compiled models across fits.

Compiling a PyMC model for nutpie takes 1-2 s; sampling the response models takes about
0.1 s. The counts and the prior parameters enter the models as ``pm.Data`` containers, so a
compiled model is cached by its structure (model family, number of units and strata,
heterogeneity, prior families) and a later fit with new counts or new prior values only swaps
the data in (``CompiledPyMCModel.with_data``). With ``sampler = "pymc"`` PyMC's own NUTS
samples a freshly built model.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import pymc as pm
import xarray as xr

from pclbayes.priors import Prior
from pclbayes.sampling import SamplerSettings

logger = logging.getLogger(__name__)

_CACHE_SIZE = 16
_cache: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()


def _compiled(key: Hashable, build: Callable[[bool], pm.Model]):
    import nutpie

    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(build(True))
    logger.info("compiled %s for nutpie in %.2f s", key[0], time.perf_counter() - start)
    with _lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def prior_rv(name: str, prior: Prior, containers: bool = True, **kwargs):
    """The PyMC variable ``name ~ prior``, its parameters in ``pm.Data`` containers or not."""
    params = {k: pm.Data(f"{name}__{k}", float(v)) if containers else float(v)
              for k, v in prior.params.items()}
    return getattr(pm, prior.dist)(name, **params, **kwargs)


def data_or_constant(name: str, value: np.ndarray, containers: bool, **kwargs):
    """A ``pm.Data`` container (cached nutpie models) or the plain array (PyMC's NUTS)."""
    return pm.Data(name, value, **kwargs) if containers else np.asarray(value)


def prior_data(priors: dict[str, Prior]) -> dict[str, np.ndarray]:
    """Values of the prior-parameter containers made by :func:`prior_rv`."""
    return {f"{name}__{k}": np.asarray(float(v)) for name, prior in priors.items()
            for k, v in prior.params.items()}


def prior_key(priors: dict[str, Prior]) -> tuple[str, ...]:
    """The part of a cache key the priors fix: their distribution families."""
    return tuple(f"{name}~{priors[name].dist}" for name in sorted(priors))


def clear_cache() -> None:
    """Forget every compiled model (the next fit of each structure compiles again)."""
    with _lock:
        _cache.clear()


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
    if settings.sampler == "nutpie":
        import nutpie

        compiled = _compiled(key, build).with_data(**data)
        tree = nutpie.sample(
            compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
            cores=min(settings.chains, os.cpu_count() or 1), seed=seed, save_warmup=False,
            progress_bar=False, target_accept=settings.target_accept,
        )
    else:
        # PyMC's own NUTS, named explicitly: since PyMC 6, pm.sample() picks nutpie whenever
        # it is installed, so leaving nuts_sampler unset would not run PyMC's sampler
        tree = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                         cores=min(settings.chains, os.cpu_count() or 1),
                         target_accept=settings.target_accept, random_seed=seed,
                         progressbar=False, nuts_sampler="pymc", model=build(False))
    logger.info("%s: %d x %d draws with %s in %.2f s", key[0], settings.chains, settings.draws,
                settings.sampler, time.perf_counter() - start)
    stats = tree["sample_stats"].to_dataset()
    keep = [v for v in stats.data_vars if stats[v].dtype != object]
    return xr.DataTree.from_dict({
        "posterior": tree["posterior"].to_dataset(),
        "sample_stats": stats[keep],
    })
