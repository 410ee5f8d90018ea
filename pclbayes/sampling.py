"""NUTS settings shared by every pclbayes model (the sampling itself: :mod:`pclbayes.nuts`)."""

from __future__ import annotations

from dataclasses import dataclass

from pclbayes.errors import SpecError

SAMPLERS = ("nutpie", "pymc")


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings.

    ``nutpie`` is the default: on the bundled models it is several times faster than
    PyMC's own NUTS for the same draws (see ``benchmarks/``).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    sampler: str = "nutpie"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise SpecError(f"unknown sampler '{self.sampler}'; choose one of {SAMPLERS}")
        if not 0 < self.target_accept < 1:
            raise SpecError(f"target_accept must lie in (0, 1), got {self.target_accept}")
        for name in ("draws", "tune", "chains"):
            if int(getattr(self, name)) < 1:
                raise SpecError(f"sampler.{name} must be >= 1")

    @classmethod
    def from_dict(cls, d: dict | None) -> SamplerSettings:
        """Build from a spec's ``[sampler]`` table; unknown keys raise."""
        d = dict(d or {})
        known = {"draws", "tune", "chains", "target_accept", "sampler"}
        extra = set(d) - known
        if extra:
            raise SpecError(f"unknown sampler setting(s) {sorted(extra)}; known: {sorted(known)}")
        return cls(**d)
