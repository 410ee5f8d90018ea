"""The contract every pclbayes model follows, and :func:`load_fit`.

Every model family (:class:`~pclbayes.response.ResponseModel`,
:class:`~pclbayes.survival.SurvivalModel`) is a :class:`Model`:

* configuration in ``__init__`` only (no work there); :meth:`Model.get_params` returns it
  and :meth:`Model.resolved_spec` returns the *resolved* specification: every option,
  every prior (defaults included, exact parameter values), the sampler settings and the
  seed. Two fits with equal resolved specifications and equal data are the same fit.
* ``fit(data=None, *, seed=1)`` validates everything before any sampling, uses the bundled
  evidence base when ``data`` is None, and returns ``self`` with the fitted attributes
  (names ending in ``_``): ``idata_`` (an ArviZ DataTree), ``diagnostics_``, ``seed_``,
  ``data_hash_``.
* results: :meth:`summary` (one tidy schema, :data:`SUMMARY_COLUMNS`), :meth:`to_dict`
  (JSON-able), ``str(model)`` (the model card), :meth:`ppc_table` (one schema,
  :data:`PPC_COLUMNS`), :meth:`loo`; fitted attributes shared by every family:
  ``idata_``, ``priors_``, ``sampler_``, ``seed_``, ``data_hash_``, ``diagnostics_``.
* :meth:`save` writes the DataTree to netCDF with the provenance record
  (:func:`pclbayes.provenance.stamp`): resolved spec, data hash, seed, versions, the
  prepared model inputs and a content checksum. :func:`load_fit` rebuilds the fitted
  model from that file alone, and refuses a file whose checksum, format or spec record
  does not verify.

A fitted model derives everything it reports from ``idata_`` and the recorded inputs
(``_restore``), on the fitting run exactly as after :func:`load_fit`, so a loaded fit
gives the same summary, dictionary and checks as the fit that wrote it.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from pclbayes.errors import ProvenanceError, SpecError

#: Version of the saved-fit layout; :func:`load_fit` refuses other layouts.
FORMAT = 1

#: Probability of every reported interval (equal-tailed).
CI_PROB = 0.95

#: Columns every ``summary()`` starts with, in order (families may append their own).
#:
#: ``quantity, level``: what and for which group; ``source``: ``posterior``, ``prior``,
#: ``exact`` (numerical integration) or ``observed`` (a data summary such as Kaplan-Meier);
#: ``mean, median, sd, lower, upper``: the distribution, ``lower``/``upper`` the equal-tailed
#: interval of probability ``ci_prob``; ``prob_gt``: P(quantity > ``prob_gt_value``) for
#: contrasts (differences: 0, ratios: 1); ``mcse_mean, ess_bulk, r_hat``: MCMC diagnostics
#: of posterior rows drawn by MCMC; ``prior_sd_ratio``: the posterior SD over the SD of the
#: same quantity under the prior (posterior and exact rows; NaN where no prior draws exist);
#: ``mostly_prior``: ``prior_sd_ratio >`` :data:`pclbayes.checks.MOSTLY_PRIOR_RATIO` (the
#: prior supplies about half of what is known, or more; False where the ratio is NaN);
#: ``prior_median, prior_lower, prior_upper``: the median and equal-tailed ``ci_prob``
#: interval of the same quantity under the prior, from the same prior draws (the prior to
#: show next to the posterior; NaN where ``prior_sd_ratio`` is).
SUMMARY_COLUMNS = ("quantity", "level", "source", "mean", "median", "sd", "lower", "upper",
                   "ci_prob", "prob_gt", "prob_gt_value", "mcse_mean", "ess_bulk", "r_hat",
                   "prior_sd_ratio", "mostly_prior", "prior_median", "prior_lower",
                   "prior_upper")

#: Columns every ``ppc_table()`` starts with: the cohort, its size, the checked
#: statistic (e.g. ``responders``, ``events``), its observed value, the mean and 95%
#: interval of its posterior-predictive replicates, and the two-sided predictive p-value.
PPC_COLUMNS = ("cohort", "n", "statistic", "observed", "predicted_mean", "lower", "upper",
               "p_value")

#: Registered families: ``family -> "module:Class"`` (loaded lazily).
FAMILIES = {"response": "pclbayes.response.model:ResponseModel",
            "survival": "pclbayes.survival.model:SurvivalModel"}

#: DataTree group holding the prepared model inputs of a fit (one JSON text variable).
INPUTS_GROUP = "pclbayes_inputs"


def family_class(family: str) -> type[Model]:
    """The model class of a registered family."""
    if family not in FAMILIES:
        raise SpecError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def check_seed(seed: Any) -> int:
    """A seed every engine accepts: an integer in ``[0, 2**32)``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not (
            0 <= int(seed) < 2**32):
        raise SpecError(f"seed must be an integer from 0 to 4294967295, got {seed!r}")
    return int(seed)


def prior_record(priors: dict[str, Any], given: Mapping[str, Any] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Resolved priors in their exact JSON form, with their reasons and references.

    ``given`` holds the priors as the user gave them: the ``reference`` of a prior given as
    a table is kept, so a saved fit shows the references of the fit that wrote it.
    """
    record = {name: {**p.to_dict(), "reason": p.reason} for name, p in priors.items()}
    for name, raw in (given or {}).items():
        if name in record and isinstance(raw, Mapping) and raw.get("reference"):
            record[name]["reference"] = str(raw["reference"])
    return record


class Model(ABC):
    """Base class of every pclbayes model (see the module docstring for the contract)."""

    #: Family name, as in a specification's ``[model] family``.
    family: ClassVar[str]

    # ------------------------------------------------------------------ configuration
    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as given (JSON-able)."""

    @abstractmethod
    def _resolved_options(self) -> dict[str, Any]:
        """Every option after validation, with all priors and the sampler resolved.

        Raises
        ------
        SpecError
            Naming the invalid option or prior.
        """

    def resolved_spec(self, seed: int = 1) -> dict[str, Any]:
        """The resolved specification of a fit with ``seed``: what makes a fit this fit.

        Returns
        -------
        dict
            ``family``, every option, ``priors`` (every prior, defaults included, as
            ``{"dist": ..., <param>: value, "reason": ...}``), ``sampler`` and ``seed``.
            Canonical and JSON-able; it is recorded in every saved fit and keys the fit cache.
        """
        return {"family": self.family, **self._resolved_options(), "seed": check_seed(seed)}

    @classmethod
    def from_resolved(cls, spec: dict[str, Any]) -> Self:
        """An unfitted model configured by a resolved specification."""
        options = {k: v for k, v in spec.items() if k not in ("family", "seed")}
        return cls(**options)

    # ------------------------------------------------------------------ fitting
    @abstractmethod
    def fit(self, data: Any = None, *, seed: int = 1) -> Self:
        """Fit to ``data`` (default: the bundled evidence base); returns ``self``."""

    @abstractmethod
    def _inputs(self) -> dict[str, Any]:
        """The prepared model inputs of the fit (JSON-able), recorded in the saved file."""

    @abstractmethod
    def _restore(self, tree: Any, inputs: dict[str, Any]) -> None:
        """Set every fitted attribute from a DataTree and its recorded inputs."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "idata_"):
            raise SpecError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    # ------------------------------------------------------------------ results
    @abstractmethod
    def summary(self) -> pd.DataFrame:
        """Tidy table in the :data:`SUMMARY_COLUMNS` schema (one row per quantity)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-able result."""

    @abstractmethod
    def ppc_table(self) -> pd.DataFrame:
        """Posterior-predictive check per cohort (observed vs replicated, p-value)."""

    @abstractmethod
    def loo(self) -> Any:
        """PSIS leave-one-out cross-validation (ArviZ), with Pareto k."""

    def card(self) -> str:
        """The model card: data, priors, results and diagnostics, as text."""
        return str(self)

    def precompute(self) -> None:
        """Compute every table a report reads, kept with the fit (see ``_memo.per_fit``).

        A report runs this where the fit was made (a worker process), so drawing the
        report only reads.
        """
        self.summary()
        self.to_dict()
        self.ppc_table()
        self.loo()

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, *, attrs: dict[str, Any] | None = None) -> Path:
        """Write the fit to netCDF atomically (readable again with :func:`load_fit`).

        Parameters
        ----------
        path : path
            Target file; written to a temporary file beside it and renamed into place, so
            an interrupted write never leaves a partial file under ``path``.
        attrs : dict, optional
            Extra root attributes (covered by the checksum), e.g. a cache key.
        """
        from pclbayes import provenance

        self._check_fitted()
        return provenance.save(self.idata_, path, attrs=attrs)


def inputs_of(tree: Any) -> dict[str, Any]:
    """The recorded model inputs of a fitted DataTree."""
    if INPUTS_GROUP not in tree.children:
        raise ProvenanceError("the DataTree has no recorded model inputs "
                              f"(group '{INPUTS_GROUP}'): not a pclbayes fit")
    return json.loads(str(tree[INPUTS_GROUP]["json"].values.item()))


def attach_inputs(tree: Any, inputs: dict[str, Any]) -> None:
    """Record ``inputs`` in ``tree``: one JSON text variable in group :data:`INPUTS_GROUP`.

    A variable rather than an attribute, because HDF5 attributes are limited to 64 kB
    and the inputs of a large data set are bigger.
    """
    import xarray as xr

    text = json.dumps(inputs, sort_keys=True)
    tree[INPUTS_GROUP] = xr.Dataset({"json": xr.DataArray(np.array(text, dtype=object))})


def load_fit(path: str | Path) -> Model:
    """Rebuild a fitted model from a netCDF file written by :meth:`Model.save`.

    The file alone suffices: it records the resolved specification, the prepared model
    inputs, the data hash, the seed and the software versions. Every fitted attribute
    (summary, checks, diagnostics) is derived again from the stored draws, so
    ``load_fit(path).summary()`` equals the summary of the fit that wrote the file.

    Raises
    ------
    ProvenanceError
        If the file cannot be read, is not a pclbayes fit, has another layout version,
        or its content does not match its checksum (changed or damaged): a file that
        cannot be trusted is never loaded.
    """
    from pclbayes import provenance

    path = Path(path)
    if not path.is_file():
        raise ProvenanceError(f"{path}: no such file")
    try:
        tree = provenance.read_tree(path)
    except Exception as exc:  # any reader failure: the file is not usable
        raise ProvenanceError(f"{path}: cannot be read as netCDF ({type(exc).__name__}: "
                              f"{exc}); refit and save it again") from None
    attrs = tree.attrs
    family = attrs.get("pclbayes_family")
    if family not in FAMILIES:
        raise ProvenanceError(f"{path}: not a pclbayes fit (no known pclbayes_family "
                              "attribute)")
    if int(attrs.get("pclbayes_format", -1)) != FORMAT:
        raise ProvenanceError(f"{path}: saved-fit layout {attrs.get('pclbayes_format')!r}, "
                              f"this pclbayes reads layout {FORMAT}; refit it")
    provenance.verify(tree, path)
    try:
        spec = json.loads(attrs["pclbayes_spec"])
        inputs = inputs_of(tree)
        model = family_class(family).from_resolved(spec)
        model._restore(tree, inputs)
    except (KeyError, ValueError, TypeError) as exc:
        raise ProvenanceError(f"{path}: the recorded specification or inputs cannot be "
                              f"used ({exc}); refit it") from None
    return model


def model_from_spec(spec: Any) -> Model:
    """The unfitted model a :class:`pclbayes.specs.Spec` describes (validated).

    Raises
    ------
    SpecError
        Naming the specification file and the invalid key.
    """
    cls = family_class(spec.family)
    where = f"{spec.path}: " if getattr(spec, "path", None) else f"{spec.name}: "
    try:
        model = cls.from_spec_options(spec)
        model._resolved_options()
    except SpecError as exc:
        text = str(exc)
        raise SpecError(text if text.startswith(where) else where + text) from None
    return model
