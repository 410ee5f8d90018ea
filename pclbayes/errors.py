"""Exceptions and warning classes raised by pclbayes."""

from __future__ import annotations


class PclBayesError(Exception):
    """Base class of every error pclbayes raises on purpose."""


class DataValidationError(PclBayesError, ValueError):
    """One or more problems in user or bundled data.

    Parameters
    ----------
    problems : list of Problem
        Every problem found; the message lists each with file, row, column and reason.
    """

    def __init__(self, problems: list) -> None:
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the data:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class SpecError(PclBayesError, ValueError):
    """A model specification (TOML file or Python arguments) is invalid."""


class ProvenanceError(PclBayesError, ValueError):
    """A saved result does not match the data or specification it is used with."""


class ReportOutputError(PclBayesError):
    """A report's output folder cannot be written.

    Another run is writing it, it is not a folder, or it holds files that are not part of
    a report.
    """


class ConvergenceWarning(UserWarning):
    """The sampler reported divergences, high R-hat or low effective sample size."""


class StatisticalWarning(UserWarning):
    """A result is valid but should be read with care (e.g. poor mixture approximation)."""
