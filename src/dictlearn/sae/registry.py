"""Architecture name → class. Adding an SAE is adding a file (its class and its settings
schema) and a line here."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from dictlearn.sae.base import SAEConfig, SparseAutoencoder
from dictlearn.sae.batchtopk import BatchTopKSAE
from dictlearn.sae.jumprelu import JumpReluSAE
from dictlearn.sae.relu import ReluSAE
from dictlearn.sae.topk import TopKSAE

ARCHITECTURES: dict[str, type[SparseAutoencoder]] = {
    cls.architecture: cls for cls in (ReluSAE, TopKSAE, BatchTopKSAE, JumpReluSAE)}

# any architecture's settings, told apart by their `architecture` field
AnySAEConfig = Annotated[Union[tuple(cls.config for cls in ARCHITECTURES.values())],  # noqa: UP007
                         Field(discriminator="architecture")]


def architecture(name: str) -> type[SparseAutoencoder]:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown SAE architecture {name!r}; expected one of "
                       f"{sorted(ARCHITECTURES)}") from None


def build_sae(name: str, d_in: int, d_sae: int, **hparams: Any) -> SparseAutoencoder:
    """A fresh SAE of architecture `name` (constructor defaults for hparams not given)."""
    return architecture(name)(d_in, d_sae, **hparams)


def sae_from_config(cfg: SAEConfig, d_in: int) -> SparseAutoencoder:
    return architecture(cfg.architecture).from_config(cfg, d_in)
