"""The SAE base class and the settings every architecture shares (saved by sae/io.py).

An architecture is a subclass that defines `encode` (inference) and `training_loss`; the
trainer drives every architecture through the same few hooks (`post_step`, the dead mask
passed to `training_loss`, `resample_dead`, `sparsity_knob`) and never asks which one it has.
Training losses run sparsely after the encoder matmul (see dictlearn.sae.sparse).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from dictlearn.core.schema import NonNegativeInt, PositiveInt, Strict
from dictlearn.lm.sites import Site


class SAEConfig(Strict):
    """What every architecture's settings hold; its own file adds its knobs (a subclass).
    Read from params `sae` with the `saes.<name>` entry's overrides."""

    architecture: str
    site: Site  # where in block `layer` the SAE reads (lm/sites.py)
    layer: NonNegativeInt
    d_sae: PositiveInt

    def knob_label(self) -> str:
        """The sparsity setting in a few characters, for plots and tables."""
        return self.architecture


class SparseAutoencoder(nn.Module, ABC):
    """x ≈ decode(encode(x)); subclasses define the activation and the training loss."""

    architecture: ClassVar[str]  # our name (the registry key)
    config: ClassVar[type[SAEConfig]]  # its settings schema (the knobs it reads from params)
    saelens_architecture: ClassVar[str]  # SAELens's name for the same inference computation
    # the hparam holding the coefficient the trainer passes (warmed up) as `sparsity_coeff`;
    # None where sparsity is structural (TopK's k)
    sparsity_knob: ClassVar[str | None] = None
    # whether the trainer should resample dead features; False where the loss itself
    # revives them (AuxK)
    resample_dead: ClassVar[bool] = True
    # training state kept in plain float attributes, which a resumable checkpoint must carry
    # besides the tensors (sae/resume.py)
    resumable: ClassVar[tuple[str, ...]] = ()

    def __init__(self, d_in: int, d_sae: int):
        super().__init__()
        self.d_in, self.d_sae = d_in, d_sae
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.empty(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The optimiser's parameter groups (an architecture whose parameters live on another
        scale than the weights gives them their own learning rate)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator, dec_norm: float = 0.1) -> None:
        """Decoder rows in random directions with norm `dec_norm`; encoder = decoder.T."""
        w = torch.randn(self.d_sae, self.d_in, generator=generator)
        w *= dec_norm / w.norm(dim=1, keepdim=True)
        self.W_dec.copy_(w)
        self.W_enc.copy_(w.T)
        self.b_enc.zero_()
        self.b_dec.zero_()

    @abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @abstractmethod
    def training_loss(self, x: torch.Tensor, sparsity_coeff: float,
                      dead: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(loss, feature activations, named loss parts) for one batch x [batch, d_in]. The
        activations are [batch, d_sae], detached, a sparse CSR tensor or (where most latents
        fire) a dense one in a training buffer, valid until the next call; `.to_dense()` gives
        a dense tensor from either, `sparse.firing_counts` counts firings in either. `dead` is
        a [d_sae] bool mask of features silent for a while (for losses that revive them, e.g.
        AuxK); parts always hold "mse" (summed over d_in, mean over the batch)."""

    def training_buffer(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """A [batch, d_sae] tensor the SAE keeps between training steps, so that a step does
        not pay the page faults of fresh ones. Autograd's saved-tensor version check guards
        reuse: running backward through a graph whose buffer a later step overwrote raises."""
        shape = (like.shape[0], self.d_sae)
        buffers = self.__dict__.setdefault("_training_buffers", {})
        buf = buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype \
                or buf.device != like.device:
            buf = buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def free_training_buffers(self) -> None:
        self.__dict__.pop("_training_buffers", None)

    @torch.no_grad()
    def preacts_buffer(self, x: torch.Tensor) -> torch.Tensor:
        """x·W_enc + b_enc without autograd, in the "preacts" training buffer (under autocast
        the product runs in the autocast dtype, e.g. bf16 on a GPU, and is stored in f32)."""
        buf = self.training_buffer("preacts", x)
        if torch.is_autocast_enabled(x.device.type):  # out= products are never autocast
            return buf.copy_(torch.addmm(self.b_enc, x, self.W_enc))
        return torch.addmm(self.b_enc, x, self.W_enc, out=buf)

    def post_step(self) -> None:
        """Called after each optimiser step: re-impose constraints (e.g. unit decoder rows)."""

    @torch.no_grad()
    def fold_input_scale(self, scale: float) -> None:
        """Trained on x·scale; make the SAE take raw x and return raw x̂ (same encodings).
        Pre-activations x·W_enc + b_enc are unchanged, so thresholds on them stay as they are."""
        self.W_enc.mul_(scale)
        self.W_dec.div_(scale)
        self.b_dec.div_(scale)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments beyond (d_in, d_sae); saved so that loading rebuilds the SAE."""
        return {}

    @classmethod
    def hparams_from_config(cls, cfg: SAEConfig) -> dict[str, Any]:
        """This architecture's constructor arguments beyond (d_in, d_sae), from its settings."""
        return {}

    @classmethod
    def from_config(cls, cfg: SAEConfig, d_in: int) -> SparseAutoencoder:
        return cls(d_in, cfg.d_sae, **cls.hparams_from_config(cfg))

    @property
    def sparsity_coeff(self) -> float:
        return float(getattr(self, self.sparsity_knob)) if self.sparsity_knob else 0.0

    def saelens_cfg(self) -> dict[str, Any]:
        return {"apply_b_dec_to_input": False}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors saved beside W_enc, W_dec, b_enc, b_dec (SAELens names; also our names)."""
        return {}
