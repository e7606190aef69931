"""Architecture name → class. Adding an SAE is adding a file and a line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dictlearn.sae.base import SparseAutoencoder
from dictlearn.sae.batchtopk import BatchTopKSAE
from dictlearn.sae.jumprelu import JumpReluSAE
from dictlearn.sae.relu import ReluSAE
from dictlearn.sae.topk import TopKSAE

if TYPE_CHECKING:
    from dictlearn.config import SAE as SAEConfig

ARCHITECTURES: dict[str, type[SparseAutoencoder]] = {
    cls.architecture: cls for cls in (ReluSAE, TopKSAE, BatchTopKSAE, JumpReluSAE)}


def build_sae(name: str, d_in: int, d_sae: int, cfg: SAEConfig | None = None,
              ) -> SparseAutoencoder:
    """A fresh SAE; its architecture's knobs come from `cfg` (the `sae` params section),
    or the class defaults without one."""
    try:
        cls = ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown SAE architecture {name!r}; expected one of "
                       f"{sorted(ARCHITECTURES)}") from None
    return cls(d_in, d_sae, **(cls.hparams_from_config(cfg) if cfg is not None else {}))
