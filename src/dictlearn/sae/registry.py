"""Architecture name → class. Adding an SAE is adding a file and a line here."""

from __future__ import annotations

from dictlearn.sae.base import SparseAutoencoder
from dictlearn.sae.relu import ReluSAE

ARCHITECTURES: dict[str, type[SparseAutoencoder]] = {cls.architecture: cls for cls in (ReluSAE,)}


def build_sae(name: str, d_in: int, d_sae: int) -> SparseAutoencoder:
    try:
        return ARCHITECTURES[name](d_in, d_sae)
    except KeyError:
        raise KeyError(f"unknown SAE architecture {name!r}; expected one of "
                       f"{sorted(ARCHITECTURES)}") from None
