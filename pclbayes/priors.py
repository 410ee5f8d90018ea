"""Prior distributions named from an allowlist, usable from Python, TOML specs and the CLI.

A prior is written ``Name(param=value, ...)`` (e.g. ``HalfNormal(sigma=1)``) or as a TOML
table ``{dist = "HalfNormal", sigma = 1, reason = "..."}``. Only the distributions in
:data:`ALLOWED` can be named, so a specification file can never run arbitrary code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from pclbayes.errors import SpecError

#: Allowed distributions and their parameter names (PyMC spelling).
ALLOWED: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "StudentT": ("nu", "mu", "sigma"),
    "HalfNormal": ("sigma",),
    "HalfStudentT": ("nu", "sigma"),
    "HalfCauchy": ("beta",),
    "Exponential": ("lam",),
    "Gamma": ("alpha", "beta"),
    "LogNormal": ("mu", "sigma"),
    "Beta": ("alpha", "beta"),
    "Uniform": ("lower", "upper"),
}

_CALL = re.compile(r"^\s*([A-Za-z]+)\s*\((.*)\)\s*$")


@dataclass(frozen=True)
class Prior:
    """A named prior distribution.

    Parameters
    ----------
    dist : str
        One of :data:`ALLOWED`.
    params : dict
        Parameter values by PyMC name.
    reason : str
        One-line justification shown by ``prior_summary()``.
    """

    dist: str
    params: dict[str, float]
    reason: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.dist not in ALLOWED:
            raise SpecError(
                f"unknown prior distribution '{self.dist}'; allowed: {', '.join(ALLOWED)}"
            )
        expected = set(ALLOWED[self.dist])
        if set(self.params) != expected:
            raise SpecError(
                f"{self.dist} takes parameters {sorted(expected)}, got {sorted(self.params)}"
            )
        for k, v in self.params.items():
            if not isinstance(v, int | float) or not np.isfinite(v):
                raise SpecError(f"{self.dist}: parameter {k}={v!r} must be a finite number")
        self._check_bounds()

    @classmethod
    def parse(cls, obj: Any, reason: str = "") -> Prior:
        """Build a prior from a ``Prior``, a ``"Name(p=v, ...)"`` string or a mapping."""
        if isinstance(obj, Prior):
            return obj
        if isinstance(obj, str):
            m = _CALL.match(obj)
            if not m:
                raise SpecError(f"cannot read prior '{obj}'; write e.g. 'HalfNormal(sigma=1)'")
            params: dict[str, float] = {}
            for part in filter(None, (p.strip() for p in m.group(2).split(","))):
                key, sep, val = part.partition("=")
                try:
                    if not sep:
                        raise ValueError
                    params[key.strip()] = float(val)
                except ValueError:
                    raise SpecError(
                        f"cannot read '{part}' in prior '{obj}'; write name=number"
                    ) from None
            return cls(m.group(1), params, reason)
        if isinstance(obj, dict):
            data = dict(obj)
            dist = data.pop("dist", None)
            why = str(data.pop("reason", reason))
            data.pop("reference", None)
            if dist is None:
                raise SpecError(f"prior table {obj!r} needs a 'dist' key")
            values: dict[str, float] = {}
            for key, val in data.items():
                if isinstance(val, bool) or not isinstance(val, int | float):
                    raise SpecError(f"{dist} {key} = {val!r}: expected a number")
                values[key] = float(val)
            return cls(str(dist), values, why)
        raise SpecError(f"cannot read prior {obj!r}")

    def to_dict(self) -> dict[str, Any]:
        """Exact, JSON-able form ``{"dist": ..., param: value, ...}`` (no reason).

        ``str(prior)`` rounds to six significant digits for display; this form keeps every
        bit, so it is what resolved specifications, fit caches and saved fits record.
        ``Prior.parse`` reads it back.
        """
        return {"dist": self.dist, **{k: float(v) for k, v in self.params.items()}}

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def to_pymc(self, name: str, **kwargs: Any):
        """Create the PyMC random variable ``name`` inside the current model context."""
        import pymc as pm

        return getattr(pm, self.dist)(name, **self.params, **kwargs)

    def frozen(self):
        """Return the equivalent frozen :mod:`scipy.stats` distribution.

        One object per distinct prior is made and shared (building a frozen SciPy
        distribution takes about a millisecond, and a report asks for thousands); it must
        not be changed in place.
        """
        self._check_bounds()
        return _frozen(self.dist, tuple(self.params.items()))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at ``x`` (used by the exact engines and prior-vs-posterior plots)."""
        return self.distribution().logpdf(x)

    def rvs(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``size`` values."""
        return self.distribution().rvs(size=size, random_state=rng)

    def distribution(self) -> Any:
        """The distribution behind :meth:`logpdf` and :meth:`rvs`, with ``ppf``, ``mean``, ``std``.

        Use it where these methods suffice; :meth:`frozen` gives the whole SciPy object
        (``median``, ``support``, ...). It is :meth:`frozen`, except for Beta and Gamma priors
        (the response model's defaults):
        those give the same numbers, to the last bit, without importing :mod:`scipy.stats`
        (about a second), so that an exact fit with the default priors never imports it.
        """
        self._check_bounds()
        return _distribution(self.dist, tuple(self.params.items()))

    def _check_bounds(self) -> None:
        """Raise :class:`SpecError` unless every scale and shape is > 0 and upper > lower."""
        p = self.params
        bad = [k for k in ("sigma", "beta", "lam", "alpha", "nu") if k in p and p[k] <= 0]
        if self.dist == "Uniform" and p["upper"] <= p["lower"]:
            bad.append("upper")
        if bad:
            rules = [f"{self.dist} upper = {p['upper']:g} must be > lower = {p['lower']:g}"
                     if k == "upper" else f"{self.dist} {k} = {p[k]:g} must be > 0" for k in bad]
            raise SpecError(f"{self}: {'; '.join(rules)}")


@functools.lru_cache(maxsize=512)
def _frozen(dist: str, items: tuple[tuple[str, float], ...]) -> Any:
    """The frozen SciPy distribution of ``dist`` with valid parameters ``items``."""
    from scipy import stats  # on first use: importing it takes about a second

    p = dict(items)
    match dist:
        case "Normal":
            return stats.norm(p["mu"], p["sigma"])
        case "StudentT":
            return stats.t(p["nu"], p["mu"], p["sigma"])
        case "HalfNormal":
            return stats.halfnorm(scale=p["sigma"])
        case "HalfStudentT":
            return _HalfT(p["nu"], p["sigma"])
        case "HalfCauchy":
            return stats.halfcauchy(scale=p["beta"])
        case "Exponential":
            return stats.expon(scale=1 / p["lam"])
        case "Gamma":
            return stats.gamma(p["alpha"], scale=1 / p["beta"])
        case "LogNormal":
            return stats.lognorm(p["sigma"], scale=np.exp(p["mu"]))
        case "Beta":
            return stats.beta(p["alpha"], p["beta"])
        case _:  # Uniform
            return stats.uniform(p["lower"], p["upper"] - p["lower"])


@functools.lru_cache(maxsize=512)
def _distribution(dist: str, items: tuple[tuple[str, float], ...]) -> Any:
    """What :meth:`Prior.distribution` returns for ``dist`` with valid parameters ``items``."""
    p = dict(items)
    match dist:
        case "Beta":
            return _Beta(p["alpha"], p["beta"])
        case "Gamma":
            return _Gamma(p["alpha"], 1 / p["beta"])  # the scale of _frozen's stats.gamma
        case _:
            return _frozen(dist, items)


class _ScipyFree:
    """A frozen distribution with support ``[0, upper * scale]``, as SciPy computes it.

    Subclasses write the standard form (``_logpdf``, ``_ppf``, ``_stats``, ``_rvs``) as
    :mod:`scipy.stats` does; the methods here repeat the arithmetic of SciPy's generic
    ``rv_continuous`` methods with ``loc = 0``. Every number is then the one the frozen SciPy
    distribution gives, to the last bit (``tests/unit/test_priors.py`` checks it), without
    importing :mod:`scipy.stats`.
    """

    upper: float

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def logpdf(self, x: ArrayLike) -> Any:
        x = np.asarray(x)
        y = np.asarray(x / self.scale, dtype=np.promote_types(x.dtype, np.float64))
        out = np.full(y.shape, -np.inf, dtype=y.dtype)
        out[np.isnan(y)] = np.nan
        with np.errstate(invalid="ignore"):
            inside = (0.0 <= y) & (y <= self.upper)
        out[inside] = self._logpdf(y[inside]) - np.log(self.scale)
        return out[()] if out.ndim == 0 else out

    def ppf(self, q: ArrayLike) -> Any:
        q = np.asarray(q)
        out = np.full(q.shape, np.nan)
        out[q == 0] = 0.0 * self.scale
        out[q == 1] = self.upper * self.scale
        inside = (0 < q) & (q < 1)
        out[inside] = self._ppf(q[inside]) * self.scale
        return out[()] if out.ndim == 0 else out

    def mean(self) -> np.float64:
        return np.float64(self._stats()[0] * self.scale)

    def std(self) -> np.float64:
        return np.sqrt(np.float64(self._stats()[1] * self.scale * self.scale))

    def rvs(self, size: int | tuple[int, ...], random_state: np.random.Generator
            ) -> np.ndarray:
        return self._rvs(size, random_state) * self.scale


class _Beta(_ScipyFree):
    """``scipy.stats.beta(a, b)`` without scipy.stats (SciPy's ``beta_gen``)."""

    upper = 1.0

    def __init__(self, a: float, b: float) -> None:
        super().__init__(1.0)
        self.a, self.b = float(a), float(b)

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        log_px = special.xlog1py(self.b - 1.0, -x) + special.xlogy(self.a - 1.0, x)
        return log_px - special.betaln(self.a, self.b)

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        return special.betaincinv(self.a, self.b, q)  # = SciPy's private _beta_ppf (tested)

    def _stats(self) -> tuple[float, float]:
        s = self.a + self.b
        return self.a / s, self.a * self.b / (s * s * (s + 1))

    def _rvs(self, size: int | tuple[int, ...], random_state: np.random.Generator
             ) -> np.ndarray:
        return random_state.beta(self.a, self.b, size)


class _Gamma(_ScipyFree):
    """``scipy.stats.gamma(a, scale=scale)`` without scipy.stats (SciPy's ``gamma_gen``)."""

    upper = np.inf

    def __init__(self, a: float, scale: float) -> None:
        super().__init__(float(scale))
        self.a = float(a)

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        return special.xlogy(self.a - 1.0, x) - x - special.gammaln(self.a)

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        return special.gammaincinv(self.a, q)

    def _stats(self) -> tuple[float, float]:
        return self.a, self.a

    def _rvs(self, size: int | tuple[int, ...], random_state: np.random.Generator
             ) -> np.ndarray:
        return random_state.standard_gamma(self.a, size)


class _HalfT:
    """Half Student-t as a minimal frozen distribution (SciPy has no half-t)."""

    def __init__(self, nu: float, sigma: float) -> None:
        from scipy import stats

        self._t = stats.t(nu, 0, sigma)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, np.log(2.0) + self._t.logpdf(x), -np.inf)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def ppf(self, q):
        return self._t.ppf(0.5 + 0.5 * np.asarray(q))

    def mean(self):
        nu, sigma = self._t.args[0], self._t.kwds.get("scale", self._t.args[-1])
        if nu <= 1:
            return np.inf
        log_ratio = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
        return 2 * sigma * np.sqrt(nu / np.pi) * np.exp(log_ratio) / (nu - 1)

    def cdf(self, x):
        return np.clip(2 * self._t.cdf(np.asarray(x, dtype=float)) - 1, 0, 1)

    def rvs(self, size, random_state):
        return np.abs(self._t.rvs(size=size, random_state=random_state))


def parse_priors(
    overrides: dict[str, Any] | None, defaults: dict[str, Prior]
) -> dict[str, Prior]:
    """Merge user overrides into defaults; unknown names raise with the valid names."""
    out = dict(defaults)
    for name, value in (overrides or {}).items():
        if name not in defaults:
            raise SpecError(f"unknown prior '{name}'; this model has: {', '.join(defaults)}")
        try:
            out[name] = Prior.parse(value)
        except SpecError as exc:
            message = str(exc)
            raise SpecError(message if message.startswith(f"{name}:") else f"{name}: {message}"
                            ) from None
    return out
