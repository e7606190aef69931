"""The static report: HTML/CSS only, opens from file://, every piece of text escaped."""

from dictlearn.report.build import build_report

__all__ = ["build_report"]
