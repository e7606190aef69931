"""Sparse autoencoders: one file per architecture, a registry, a trainer, SAELens-format I/O."""

from dictlearn.sae.base import SparseAutoencoder, load_sae, save_sae
from dictlearn.sae.registry import ARCHITECTURES, build_sae

__all__ = ["ARCHITECTURES", "SparseAutoencoder", "build_sae", "load_sae", "save_sae"]
