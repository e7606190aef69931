"""Data domains behind one interface; stages after `prepare` only see `Domain`.

Each domain is a package of its own (domains/<name>/domain.py holds the class), imported only
when asked for: a stage running on one domain depends on that package alone in dvc.yaml, so
editing one domain never re-runs another's models."""

from __future__ import annotations

import importlib

from dictlearn.domains.base import Domain

DOMAINS: dict[str, str] = {"text": "TextDomain", "culture": "CultureDomain",
                           "strokes": "StrokesDomain"}


def get_domain(name: str) -> Domain:
    if name not in DOMAINS:
        raise KeyError(f"unknown domain {name!r}; expected one of {sorted(DOMAINS)}")
    module = importlib.import_module(f"dictlearn.domains.{name}.domain")
    return getattr(module, DOMAINS[name])()
