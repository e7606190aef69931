"""Sparse autoencoders: one file per architecture (its class and settings), a registry, a
trainer, SAELens-format I/O."""

from dictlearn.sae.io import load_sae, save_sae
from dictlearn.sae.registry import ARCHITECTURES, build_sae, sae_from_config

__all__ = ["ARCHITECTURES", "build_sae", "load_sae", "sae_from_config", "save_sae"]
