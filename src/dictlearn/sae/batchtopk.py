"""BatchTopK SAE (Bussmann et al. 2024): while training, keep the k·batch largest activations
over the whole batch, so tokens share a budget of k latents on average; at inference a token
cannot see its batch, so a global threshold θ (a running mean of the smallest activation the
batch kept) gates each latent: f = ReLU(z)·[z > θ]. That is SAELens's JumpReLU computation, so
the SAE is saved as "jumprelu" with θ repeated per feature, as SAELens itself saves BatchTopK.
Decoder norm and AuxK as in TopK."""

from __future__ import annotations

from typing import Literal

import torch

from dictlearn.sae.sparse import Support, batch_topk_flat
from dictlearn.sae.topk import TopKConfig, TopKSAE

# weight of each batch's minimum in the running threshold (SAELens's topk_threshold_lr)
THRESHOLD_MOMENTUM = 0.01


class BatchTopKConfig(TopKConfig):
    architecture: Literal["batchtopk"]  # type: ignore[assignment]  # k: on average per token


class BatchTopKSAE(TopKSAE):
    architecture = "batchtopk"
    config = BatchTopKConfig
    saelens_architecture = "jumprelu"
    resumable = ("_threshold_weight",)  # a checkpoint carries it (sae/resume.py)

    def __init__(self, d_in: int, d_sae: int, k: int = 32, aux_k: int | None = None,
                 aux_coeff: float = 1 / 32):
        super().__init__(d_in, d_sae, k, aux_k, aux_coeff)
        # one value for every feature; stored per feature so it loads as SAELens's `threshold`
        self.register_buffer("threshold", torch.zeros(d_sae))
        self._threshold_weight = 0.0  # bias correction of the running mean, as in Adam

    def saelens_cfg(self):
        return {"apply_b_dec_to_input": False}

    def extra_state(self):
        return {"threshold": self.threshold}

    def select(self, z: torch.Tensor) -> Support:
        # candidates: twice the average budget per token (exact whatever the spread)
        flat = batch_topk_flat(z, self.k * z.shape[0], per_row=2 * self.k)
        return Support.from_flat(flat, *z.shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pre_activations(x)
        return z.relu() * (z > self.threshold)

    def training_loss(self, x, sparsity_coeff, dead=None):
        loss, f, parts = super().training_loss(x, sparsity_coeff, dead)
        self.update_threshold(f.values())
        return loss, f, {**parts, "threshold": self.threshold[0]}

    @torch.no_grad()
    def update_threshold(self, kept: torch.Tensor) -> None:
        """Running mean of the batch's smallest kept activation (no host sync on GPU)."""
        smallest = torch.where(kept > 0, kept, float("inf")).min().double()
        m = THRESHOLD_MOMENTUM
        weight = (1 - m) * self._threshold_weight + m
        mean = ((1 - m) * self._threshold_weight * self.threshold[0].double()
                + m * smallest) / weight
        # a batch with nothing kept (all ReLUs zero) leaves the threshold as it was
        self.threshold.copy_(torch.where(smallest.isfinite(), mean, self.threshold[0].double())
                             .float().expand_as(self.threshold))
        self._threshold_weight = weight
