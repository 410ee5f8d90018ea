"""Run NUTS for the survival model, reusing compiled models within a process.

Compiling a PyMC model for nutpie takes a few seconds while sampling the bundled data
takes well under one; refitting the same model (another seed, a sensitivity run, the
report after the CLI) therefore reuses the compiled model. The cache key is a hash of
everything the graph depends on (data arrays, design, priors, fixed shape), so a compiled
model is only reused for an identical graph. The ``pymc`` sampler goes through
:func:`pclbayes.sampling.sample` unchanged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import pymc as pm
import xarray as xr

from pclbayes.sampling import SamplerSettings, sample

logger = logging.getLogger(__name__)

_MAX_CACHED = 16
_COMPILED: OrderedDict[str, object] = OrderedDict()


def clear_cache() -> None:
    """Forget every compiled model (the next fit compiles again)."""
    _COMPILED.clear()


def run_nuts(build: Callable[[], pm.Model], key: str, settings: SamplerSettings, seed: int
             ) -> xr.DataTree:
    """Sample the model ``build()`` returns; ``key`` identifies its graph.

    Returns
    -------
    DataTree
        With ``posterior`` and ``sample_stats`` (tuning draws discarded).
    """
    if settings.sampler != "nutpie":
        return sample(build(), settings, seed)
    import nutpie

    compiled = _COMPILED.get(key)
    if compiled is None:
        start = time.perf_counter()
        compiled = nutpie.compile_pymc_model(build())
        logger.info("compiled the survival model in %.2f s", time.perf_counter() - start)
        _COMPILED[key] = compiled
        while len(_COMPILED) > _MAX_CACHED:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
        logger.info("reusing the compiled survival model")
    start = time.perf_counter()
    idata = nutpie.sample(
        compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
        seed=int(seed), target_accept=settings.target_accept, save_warmup=False,
        progress_bar=False,
    )
    logger.info("sampled %d x %d draws with nutpie in %.2f s", settings.chains, settings.draws,
                time.perf_counter() - start)
    return idata
