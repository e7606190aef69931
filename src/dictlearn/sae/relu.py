"""ReLU SAE with an L1 penalty on activations weighted by decoder row norms
(Anthropic, "Circuits Updates – April 2024"); no decoder-norm constraint is needed."""

from __future__ import annotations

import torch

from dictlearn.sae.base import SparseAutoencoder


class ReluSAE(SparseAutoencoder):
    architecture = "relu"
    saelens_architecture = "standard"
    sparsity_knob = "l1_coeff"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W_enc + self.b_enc)

    def training_loss(self, x, sparsity_coeff, dead=None):
        f = self.encode(x)
        x_hat = self.decode(f)
        mse = (x_hat - x).pow(2).sum(-1).mean()
        l1 = (f @ self.W_dec.norm(dim=1)).mean()
        return mse + sparsity_coeff * l1, f, {"mse": mse, "l1": l1}
