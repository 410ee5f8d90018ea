"""The posterior-predictive report (``pclbayes report``)."""

from __future__ import annotations

from pclbayes.report.builder import QUICK, FitRecord, Report, build_report

__all__ = ["QUICK", "FitRecord", "Report", "build_report"]
