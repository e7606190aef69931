"""Data domains behind one interface; stages after `prepare` only see `Domain`."""

from __future__ import annotations

from dictlearn.domains.base import Domain
from dictlearn.domains.culture import CultureDomain
from dictlearn.domains.text import TextDomain

DOMAINS: dict[str, type[Domain]] = {"text": TextDomain, "culture": CultureDomain}


def get_domain(name: str) -> Domain:
    try:
        return DOMAINS[name]()
    except KeyError:
        raise KeyError(f"unknown domain {name!r}; expected one of {sorted(DOMAINS)}") from None
