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
    cls = _known(name)[0]
    return getattr(importlib.import_module(f"dictlearn.domains.{name}.domain"), cls)()


def prepare_schema(name: str) -> type[BaseModel]:
    """The schema of params `prepare.<name>` (imports the domain's config.py only)."""
    schema = _known(name)[1]
    return getattr(importlib.import_module(f"dictlearn.domains.{name}.config"), schema)


def _flag(name: str, flag: str) -> bool:
    _known(name)
    module = importlib.import_module(f"dictlearn.domains.{name}.config")
    return bool(getattr(module, flag, False))


def writes_samples(name: str) -> bool:
    """Whether the domain's LM writes samples (and so needs `train_lm.<name>.samples`)."""
    return _flag(name, "WRITES_SAMPLES")


def poses_quizzes(name: str) -> bool:
    """Whether the domain's sequences are quizzes, a prompt then an answer (and so it needs
    `train_lm.<name>.quizzes`)."""
    return _flag(name, "POSES_QUIZZES")
