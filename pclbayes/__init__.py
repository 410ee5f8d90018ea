"""pclbayes: Bayesian pooling of CAR T-cell evidence in plasma cell leukemia."""

from __future__ import annotations

__version__ = "0.1.0"
