"""TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"): keep the k largest
pre-activations per token (ReLU after the top-k), no sparsity penalty. Decoder rows are kept at
unit norm, so activations carry the scale. Dead latents are revived by the AuxK loss, not by
resampling: the top `aux_k` dead latents reconstruct what the live ones left over."""

from __future__ import annotations

from typing import Any

import torch

from dictlearn.sae.base import SparseAutoencoder


class TopKSAE(SparseAutoencoder):
    architecture = "topk"
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
    def hparams_from_config(cls, cfg) -> dict[str, Any]:
        return {"k": cfg.k, "aux_k": cfg.aux_k, "aux_coeff": cfg.aux_coeff}

    def saelens_cfg(self) -> dict[str, Any]:
        return {**super().saelens_cfg(), "k": self.k, "rescale_acts_by_decoder_norm": False}

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator, dec_norm: float = 1.0) -> None:
        super().init_weights(generator, dec_norm)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_enc + self.b_enc

    def activate(self, z: torch.Tensor) -> torch.Tensor:
        """Feature activations from pre-activations, as used in training."""
        values, idx = z.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(z).scatter_(-1, idx, values.relu())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.pre_activations(x))

    def training_loss(self, x, sparsity_coeff, dead=None):
        z = self.pre_activations(x)
        f = self.activate(z)
        x_hat = self.decode(f)
        mse = (x_hat - x).pow(2).sum(-1).mean()
        aux = self.auxk_loss(x - x_hat, z, dead)
        return mse + self.aux_coeff * aux, f, {"mse": mse, "auxk": aux}

    def auxk_loss(self, residual: torch.Tensor, z: torch.Tensor,
                  dead: torch.Tensor | None) -> torch.Tensor:
        """‖e − ê‖² where e = x − x̂ (no gradient) and ê decodes the top-`aux_k` dead latents'
        raw pre-activations (no ReLU, so a latent pushed below zero still learns; no b_dec, as
        e already lacks it); scaled down while few latents are dead. As SAELens 6."""
        n_dead = 0 if dead is None else int(dead.sum())
        if n_dead == 0:
            return z.new_zeros(())
        k_aux = min(self.aux_k, n_dead)
        values, idx = z.masked_fill(~dead, float("-inf")).topk(k_aux, dim=-1, sorted=False)
        f_aux = torch.zeros_like(z).scatter_(-1, idx, values)
        e_hat = f_aux @ self.W_dec
        return min(1.0, n_dead / self.aux_k) * (e_hat - residual.detach()).pow(2).sum(-1).mean()

    @torch.no_grad()
    def post_step(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))
