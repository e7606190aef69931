"""Data domains behind one interface; stages after `prepare` only see `Domain`.

Each domain is a package of its own: `domains/<name>/config.py` holds its `prepare` settings
schema, `domains/<name>/domain.py` its class. Both are imported only when asked for, so a
stage running on one domain depends on that package alone in dvc.yaml, and editing one
domain never re-runs another's stages."""

from __future__ import annotations

import importlib

from pydantic import BaseModel

from dictlearn.domains.base import Domain

# name → (its Domain class in domain.py, its `prepare.<name>` schema in config.py)
DOMAINS: dict[str, tuple[str, str]] = {
    "text": ("TextDomain", "TextPrepare"),
    "culture": ("CultureDomain", "CulturePrepare"),
    "strokes": ("StrokesDomain", "StrokesPrepare"),
}


def _known(name: str) -> tuple[str, str]:
    if name not in DOMAINS:
        raise KeyError(f"unknown domain {name!r}; expected one of {sorted(DOMAINS)}")
    return DOMAINS[name]


def get_domain(name: str) -> Domain:
    module = importlib.import_module(f"dictlearn.domains.{name}.domain")
    return getattr(module, _known(name)[0])()


def prepare_schema(name: str) -> type[BaseModel]:
    """The schema of params `prepare.<name>` (imports the domain's config.py only)."""
    module = importlib.import_module(f"dictlearn.domains.{name}.config")
    return getattr(module, _known(name)[1])
