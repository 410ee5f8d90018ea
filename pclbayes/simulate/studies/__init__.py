"""Study types of ``pclbayes simulate``: ``[study] kind`` to the class that runs it.

Classes are imported on first use, so that reading a spec of one kind does not import
the models of the others.
"""

from __future__ import annotations

import importlib

from pclbayes.simulate.study import Study

#: ``{kind: "module:Class"}`` for every study type.
KINDS: dict[str, str] = {
    "sbc": "pclbayes.simulate.studies.sbc:SBCStudy",
    "survival-design": "pclbayes.simulate.studies.survival_design:SurvivalDesignStudy",
    "borrowing-design": "pclbayes.simulate.studies.borrowing_design:BorrowingDesignStudy",
}


def study_class(kind: str) -> type[Study]:
    """The class implementing ``kind`` (a key of :data:`KINDS`)."""
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
