"""The evidence base: loading, validation and analysis views.

Examples
--------
>>> from pclbayes.data import load, response_counts
>>> eb = load()                                  # bundled PCL evidence base
>>> response_counts(eb, "cr", by="target")       # doctest: +SKIP
"""

from __future__ import annotations

from pclbayes.data._load import EvidenceBase, load
from pclbayes.data._schema import (
    CR_CATEGORIES,
    DAYS_PER_MONTH,
    KNOWN_TARGETS,
    ORR_CATEGORIES,
    RESPONSE_CATEGORIES,
)
from pclbayes.data._validate import Problem
from pclbayes.data.views import cohort_summary, episodes, response_counts, survival_table

__all__ = [
    "CR_CATEGORIES",
    "DAYS_PER_MONTH",
    "KNOWN_TARGETS",
    "ORR_CATEGORIES",
    "RESPONSE_CATEGORIES",
    "EvidenceBase",
    "Problem",
    "cohort_summary",
    "episodes",
    "load",
    "response_counts",
    "survival_table",
]
