"""Assemble the DataTree of a response fit and its tidy summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from pclbayes._xarray_dask import defer_dask
from pclbayes.checks import mostly_prior
from pclbayes.model import CI_PROB, SUMMARY_COLUMNS
from pclbayes.response.counts import CountData

defer_dask()  # xarray imports dask only once something uses dask

#: Quantiles of every interval (equal-tailed 95%).
PROBS = (0.025, 0.5, 0.975)
#: Columns of :meth:`ResponseModel.summary`, in order.
COLUMNS = (*SUMMARY_COLUMNS, "cohort", "group", "n", "responders", "observed", "converged")

#: Dimensions of every derived variable (model dims: renamed by :func:`rename_dims`).
DERIVED_DIMS = {
    "pooled_rate": ("stratum",), "predictive_rate": ("stratum",),
    "between_cohort_sd": ("stratum",), "mu_logit": ("stratum",), "cohort_rate": ("unit",),
    "rate_difference": ("contrast",), "y_rep": ("unit",), "log_lik": ("unit",),
}


#: Variable of ``idata_["prior"]`` holding the prior draws of each summary quantity.
PRIOR_VARIABLES = {
    "pooled_rate": "pooled_rate", "predictive_rate": "predictive_rate",
    "cohort_rate": "cohort_rate", "contrast": "rate_difference",
    "between_cohort_sd": "between_cohort_sd", "mu_logit": "mu_logit",
    "log_odds_ratio": "effect", "kappa": "kappa", "sigma": "sigma",
}


def rename_dims(dims: tuple[str, ...], data: CountData) -> tuple[str, ...]:
    """Model dims (``stratum``, ``unit``, ``contrast``) to result dims."""
    names = {"stratum": data.dim, "unit": "cohort", "contrast": "contrast"}
    return tuple(names[d] for d in dims)


def coords(data: CountData) -> dict[str, object]:
    """Label coordinates of every result dimension."""
    return {data.dim: list(data.strata), "cohort": list(data.units),
            "contrast": [c[0] for c in data.contrasts]}


def dataset(arrays: dict[str, np.ndarray], dims: dict[str, tuple[str, ...]],
            data: CountData) -> xr.Dataset:
    """Dataset of ``(chain, draw, ...)`` arrays with named dims and label coords."""
    labels = coords(data)
    out = {}
    for name, values in arrays.items():
        vdims = ("chain", "draw", *rename_dims(dims[name], data))
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.integer):
            values = values.astype(float, copy=False)
        out[name] = xr.DataArray(values, dims=vdims,
                                 coords={d: labels[d] for d in vdims[2:]})
    ds = xr.Dataset(out)
    ds = ds.assign_coords(chain=np.arange(ds.sizes["chain"]), draw=np.arange(ds.sizes["draw"]))
    if "cohort" in ds.dims:
        ds = ds.assign_coords(study=("cohort", list(data.cohorts)),
                              level=("cohort", list(data.groups)))
    return ds


def with_contrast(derived: dict[str, np.ndarray], data: CountData) -> dict[str, np.ndarray]:
    """Add ``rate_difference``: pooled rate of each level minus the reference level's."""
    if data.contrasts:
        pooled = derived["pooled_rate"]
        derived["rate_difference"] = np.stack([pooled[..., i] - pooled[..., ref]
                                        for _, i, ref in data.contrasts], axis=-1)
    return derived


def draw_stats(values: np.ndarray) -> dict[str, float]:
    """Mean, median, 95% equal-tailed limits and SD of draws ``(chain, draw)``."""
    flat = np.asarray(values, dtype=float).ravel()
    lo, med, hi = np.quantile(flat, PROBS)
    return {"mean": float(flat.mean()), "median": float(med), "lower": float(lo),
            "upper": float(hi), "sd": float(flat.std(ddof=1))}


def mcmc_diagnostics(posterior: xr.Dataset) -> dict[str, xr.Dataset]:
    """Bulk ESS, R-hat and MCSE of the mean of every posterior variable."""
    import arviz_stats as azs

    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"ess_bulk": azs.ess(posterior, method="bulk"),
               "mcse_mean": azs.mcse(posterior, method="mean")}
        out["r_hat"] = (azs.rhat(posterior) if posterior.sizes["chain"] > 1
                        else xr.full_like(out["ess_bulk"], np.nan))
    return out


def _columns(da: xr.DataArray) -> tuple[list, np.ndarray]:
    """Labels of ``da``'s (single) non-sample dimension and its draws, one row per label.

    The draws come as a C-contiguous ``(label, chain * draw)`` array, so a statistic of one
    row is computed exactly as on that label's draws alone (``da.sel(...)`` and ravel).
    """
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return [None], np.ascontiguousarray(np.asarray(da.values).reshape(1, -1))
    values = np.asarray(da.transpose(extra[0], "chain", "draw").values)
    return list(da[extra[0]].values), np.ascontiguousarray(values.reshape(values.shape[0], -1))


def rows_from_draws(posterior: xr.Dataset, var: str, quantity: str,
                    diag: dict[str, xr.Dataset] | None) -> list[dict]:
    """One summary row per label of ``var``'s (single) non-sample dimension.

    Vectorised over the labels: one pass over the ``(label, draws)`` array (quantiles, mean
    and SD per row) instead of a selection per label.
    """
    labels, flat = _columns(posterior[var])
    flat = flat.astype(float, copy=False)
    lo, med, hi = np.quantile(flat, PROBS, axis=1)
    mean, sd = flat.mean(axis=1), flat.std(axis=1, ddof=1)
    positive = np.mean(flat > 0, axis=1) if quantity in ("contrast", "log_odds_ratio") else None
    diags = {} if diag is None else {
        key: np.asarray(ds[var].values, dtype=float).ravel() for key, ds in diag.items()}
    rows = []
    for i, label in enumerate(labels):
        row = {"quantity": quantity, "level": "shared" if label is None else str(label),
               "source": "posterior", "mean": float(mean[i]), "median": float(med[i]),
               "lower": float(lo[i]), "upper": float(hi[i]), "sd": float(sd[i])}
        if positive is not None:
            row["prob_gt"] = float(positive[i])
            row["prob_gt_value"] = 0.0
        for key, values in diags.items():
            row[key] = float(values[i])
        rows.append(row)
    return rows


def prior_row(quantity: str, level: str, frozen) -> dict:
    """Summary row of a prior distribution (exact quantiles of the frozen distribution).

    ``frozen`` needs ``ppf`` and ``mean`` (and ``std``, else the SD is NaN): a frozen
    :mod:`scipy.stats` distribution or what ``Prior.distribution`` returns.
    """
    lo, med, hi = (float(v) for v in frozen.ppf(PROBS))
    mean = float(frozen.mean())
    sd = float(frozen.std()) if hasattr(frozen, "std") else float("nan")
    return {"quantity": quantity, "level": level, "source": "prior", "mean": mean,
            "median": med, "lower": lo, "upper": hi, "sd": sd}


def add_cohort_columns(frame: pd.DataFrame, data: CountData) -> pd.DataFrame:
    """Fill ``cohort, group, n, responders, observed`` of the ``cohort_rate`` rows."""
    info = data.frame().set_index("unit")
    mask = frame["quantity"] == "cohort_rate"
    for col in ("cohort", "group", "n", "responders", "observed"):
        frame.loc[mask, col] = frame.loc[mask, "level"].map(info[col]).to_numpy()
    return frame


def prior_sds(prior: xr.Dataset, quantity: str) -> dict[str, float]:
    """SD (``ddof=1``, finite draws only) of a quantity's prior draws, by level.

    ``{None: sd}`` for a quantity without a label dimension (its SD at every level);
    ``{}`` when the prior group holds no draws of it. Each level's SD is computed from
    that level's draws alone, as :func:`pclbayes.checks.sd_ratio` computes it, in one
    pass over all levels.
    """
    var = PRIOR_VARIABLES.get(quantity)
    if var is None or var not in prior:
        return {}
    labels, flat = _columns(prior[var])
    flat = flat.astype(float, copy=False)
    finite = np.isfinite(flat)
    sds = np.full(len(labels), np.nan)
    whole = finite.all(axis=1) & (flat.shape[1] >= 2)
    if whole.any():
        sds[whole] = flat[whole].std(axis=1, ddof=1)
    for i in np.flatnonzero(~whole):
        v = flat[i][finite[i]]
        sds[i] = v.std(ddof=1) if v.size >= 2 else np.nan
    return {None if label is None else str(label): float(sd)
            for label, sd in zip(labels, sds, strict=True)}


def prior_quantiles(prior: xr.Dataset, quantity: str) -> dict[str | None, np.ndarray]:
    """Median, 2.5% and 97.5% quantiles (finite draws) of a quantity's prior, by level.

    Keys as in :func:`prior_sds`; each value is ``[median, lower, upper]``.
    """
    var = PRIOR_VARIABLES.get(quantity)
    if var is None or var not in prior:
        return {}
    labels, flat = _columns(prior[var])
    out: dict[str | None, np.ndarray] = {}
    for label, row in zip(labels, flat.astype(float, copy=False), strict=True):
        v = row[np.isfinite(row)]
        q = np.quantile(v, (0.5, PROBS[0], PROBS[2])) if v.size >= 2 else np.full(3, np.nan)
        out[None if label is None else str(label)] = q
    return out


def add_prior_ratio(frame: pd.DataFrame, prior: xr.Dataset | None) -> pd.DataFrame:
    r"""Fill ``prior_sd_ratio`` and ``mostly_prior`` of the posterior and exact rows.

    ``prior_sd_ratio`` is the row's SD over the SD of the same quantity's prior draws (the
    ``prior`` group of the fit), both on the quantity's own scale (rates, rate differences,
    :math:`\kappa`, :math:`\sigma` and log-odds are reported on scales where their priors
    are stated); ``mostly_prior`` is ``prior_sd_ratio >``
    :data:`pclbayes.checks.MOSTLY_PRIOR_RATIO`; ``prior_median, prior_lower,
    prior_upper`` are the median and 95% interval of the same prior draws
    (:func:`prior_quantiles`). Prior rows and quantities without prior draws get NaN and
    False. A prior without a finite SD (Cauchy-like) makes the ratio
    small and meaningless.

    The prior SDs are computed once per quantity for all its levels (:func:`prior_sds`),
    so the cost is linear in the number of rows.
    """
    ratios = np.full(len(frame), np.nan)
    if prior is not None:
        sds = {q: prior_sds(prior, q) for q in frame["quantity"].unique()}
        post = frame["source"].isin(("posterior", "exact")).to_numpy()
        for i, (q, level, sd) in enumerate(zip(frame["quantity"], frame["level"],
                                               frame["sd"], strict=True)):
            by_level = sds[q]
            prior_sd = by_level.get(None, by_level.get(str(level), np.nan)) if post[i] else np.nan
            if np.isfinite(sd) and prior_sd > 0:
                ratios[i] = float(sd) / prior_sd
    frame["prior_sd_ratio"] = ratios
    frame["mostly_prior"] = [mostly_prior(r) for r in ratios]
    shown = np.full((len(frame), 3), np.nan)
    if prior is not None:
        qs = {q: prior_quantiles(prior, q) for q in frame["quantity"].unique()}
        for i in np.flatnonzero(np.isfinite(ratios)):
            by_level = qs[frame["quantity"].iat[i]]
            q = by_level.get(None, by_level.get(str(frame["level"].iat[i])))
            if q is not None:
                shown[i] = q
    frame["prior_median"], frame["prior_lower"], frame["prior_upper"] = shown.T
    return frame


def finish(rows: list[dict], data: CountData, converged: bool,
           prior: xr.Dataset | None = None) -> pd.DataFrame:
    """Tidy DataFrame with the columns of :data:`COLUMNS` (prior SD ratios from ``prior``)."""
    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    frame["cohort"] = frame["cohort"].astype(object)
    frame["group"] = frame["group"].astype(object)
    frame = add_prior_ratio(frame, prior)
    frame = add_cohort_columns(frame, data)
    frame["converged"] = converged
    frame["ci_prob"] = CI_PROB
    return frame[list(COLUMNS)].reset_index(drop=True)
