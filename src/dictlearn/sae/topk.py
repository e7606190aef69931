"""TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"): keep the k largest
pre-activations per token (ReLU after the top-k), no sparsity penalty. Decoder rows are kept at
unit norm, so activations carry the scale. Dead latents are revived by the AuxK loss, not by
resampling: the top `aux_k` dead latents reconstruct what the live ones left over."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import model_validator

from dictlearn.core.schema import NonNegativeFloat, PositiveInt
from dictlearn.sae.base import SAEConfig, SparseAutoencoder
from dictlearn.sae.sparse import Support, gather_preacts, sparse_decode


class TopKConfig(SAEConfig):
    architecture: Literal["topk"]
    k: PositiveInt  # active latents per token
    # AuxK: dead latents that reconstruct the residual (null: d_in // 2), and the loss weight
    # (Gao et al. 2024 use 1/32)
    aux_k: PositiveInt | None
    aux_coeff: NonNegativeFloat

    @model_validator(mode="after")
    def _k_fits(self) -> TopKConfig:
        if self.k >= self.d_sae:
            raise ValueError(f"k: {self.k} active latents need d_sae > k (d_sae = {self.d_sae})")
        return self

    def knob_label(self) -> str:
        return f"k={self.k}"


class TopKSAE(SparseAutoencoder):
    architecture = "topk"
    config = TopKConfig
    saelens_architecture = "topk"
    resample_dead = False

    def __init__(self, d_in: int, d_sae: int, k: int = 32, aux_k: int | None = None,
                 aux_coeff: float = 1 / 32):
        super().__init__(d_in, d_sae)
        if not 0 < k < d_sae:
            raise ValueError(f"k = {k} must be in 1..d_sae-1 (d_sae = {d_sae})")
        self.k, self.aux_coeff = k, aux_coeff
        # SAELens's (and Gao et al.'s appendix B.1) heuristic: half the input width
        self.aux_k = min(aux_k or max(1, d_in // 2), d_sae)

    def hparams(self) -> dict[str, Any]:
        return {"k": self.k, "aux_k": self.aux_k, "aux_coeff": self.aux_coeff}

    @classmethod
    def hparams_from_config(cls, cfg: TopKConfig) -> dict[str, Any]:
        return {"k": cfg.k, "aux_k": cfg.aux_k, "aux_coeff": cfg.aux_coeff}

    def saelens_cfg(self) -> dict[str, Any]:
        return {**super().saelens_cfg(), "k": self.k, "rescale_acts_by_decoder_norm": False}

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator, dec_norm: float = 1.0) -> None:
        super().init_weights(generator, dec_norm)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pre_activations(x)
        values, idx = z.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(z).scatter_(-1, idx, values.relu())

    def select(self, z: torch.Tensor) -> Support:
        """The latents a training step keeps: the k largest pre-activations per token."""
        return Support.from_rows(z.topk(self.k, dim=-1, sorted=False).indices, self.d_sae)

    def training_loss(self, x, sparsity_coeff, dead=None):
        z = self.preacts_buffer(x)
        support = self.select(z)
        f = gather_preacts(x, self.W_enc, self.b_enc, z, support).relu()
        x_hat = sparse_decode(f, self.W_dec, support) + self.b_dec
        mse = (x_hat - x).pow(2).sum(-1).mean()
        aux = self.auxk_loss(x, x - x_hat, z, dead)
        return mse + self.aux_coeff * aux, support.csr(f.detach()), {"mse": mse, "auxk": aux}

    def auxk_loss(self, x: torch.Tensor, residual: torch.Tensor, z: torch.Tensor,
                  dead: torch.Tensor | None) -> torch.Tensor:
        """‖e − ê‖² where e = x − x̂ (no gradient) and ê decodes the top-`aux_k` dead latents'
        raw pre-activations (no ReLU, so a latent pushed below zero still learns; no b_dec, as
        e already lacks it); scaled down while few latents are dead. As SAELens 6.
        `z` is x's pre-activations, precomputed without autograd."""
        n_dead = 0 if dead is None else int(dead.sum())
        if n_dead == 0:
            return residual.new_zeros(())
        k_aux = min(self.aux_k, n_dead)
        dead_idx = dead.nonzero().squeeze(1)
        local = z[:, dead_idx].topk(k_aux, dim=-1, sorted=False).indices
        support = Support.from_rows(dead_idx[local], self.d_sae)
        e_hat = sparse_decode(gather_preacts(x, self.W_enc, self.b_enc, z, support),
                              self.W_dec, support)
        return min(1.0, n_dead / self.aux_k) * (e_hat - residual.detach()).pow(2).sum(-1).mean()

    @torch.no_grad()
    def post_step(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))
