"""Assemble the DataTree of a response fit and its tidy summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from pclbayes.checks import mostly_prior, sd_ratio
from pclbayes.model import CI_PROB, SUMMARY_COLUMNS
from pclbayes.response.counts import CountData

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
            values = values.astype(float)
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


def rows_from_draws(posterior: xr.Dataset, var: str, quantity: str,
                    diag: dict[str, xr.Dataset] | None) -> list[dict]:
    """One summary row per label of ``var``'s (single) non-sample dimension."""
    da = posterior[var]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    labels = [None] if not extra else list(da[extra[0]].values)
    rows = []
    for label in labels:
        sel = {} if label is None else {extra[0]: label}
        values = da.sel(sel).values
        row = {"quantity": quantity, "level": "shared" if label is None else str(label),
               "source": "posterior", **draw_stats(values)}
        if quantity in ("contrast", "log_odds_ratio"):
            row["prob_gt"] = float(np.mean(values > 0))
            row["prob_gt_value"] = 0.0
        if diag is not None:
            for key, ds in diag.items():
                row[key] = float(ds[var].sel(sel).values)
        rows.append(row)
    return rows


def prior_row(quantity: str, level: str, frozen) -> dict:
    """Summary row of a prior distribution (exact quantiles of the frozen distribution)."""
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


def prior_draws_of(prior: xr.Dataset, quantity: str, level: str) -> np.ndarray | None:
    """Prior draws of a summary row's quantity at ``level`` (None if there are none)."""
    var = PRIOR_VARIABLES.get(quantity)
    if var is None or var not in prior:
        return None
    da = prior[var]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return da.values
    if level not in [str(v) for v in da[extra[0]].values]:
        return None
    return da.sel({extra[0]: level}).values


def add_prior_ratio(frame: pd.DataFrame, prior: xr.Dataset | None) -> pd.DataFrame:
    r"""Fill ``prior_sd_ratio`` and ``mostly_prior`` of the posterior and exact rows.

    ``prior_sd_ratio`` is the row's SD over the SD of the same quantity's prior draws (the
    ``prior`` group of the fit), both on the quantity's own scale (rates, rate differences,
    :math:`\kappa`, :math:`\sigma` and log-odds are reported on scales where their priors
    are stated); ``mostly_prior`` is ``prior_sd_ratio >``
    :data:`pclbayes.checks.MOSTLY_PRIOR_RATIO`. Prior rows and quantities without prior
    draws get NaN and False. A prior without a finite SD (Cauchy-like) makes the ratio
    small and meaningless.
    """
    ratios = []
    for row in frame.itertuples(index=False):
        if prior is None or row.source not in ("posterior", "exact"):
            ratios.append(float("nan"))
            continue
        ratios.append(sd_ratio(float(row.sd), prior_draws_of(prior, row.quantity,
                                                              str(row.level))))
    frame["prior_sd_ratio"] = np.asarray(ratios, dtype=float)
    frame["mostly_prior"] = [mostly_prior(r) for r in ratios]
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
