"""JumpReLU SAE (Rajamanoharan et al. 2024, "Jumping Ahead"): f = z·[z > θ] with a learned
threshold θ per feature and an L0 penalty. The step function has no useful gradient, so θ
learns through straight-through estimators with a rectangle kernel of width `bandwidth`
(the pre-activations get the ordinary JumpReLU gradient, [z > θ]).

θ is a plain parameter kept ≥ 0 after each step, not exp(log θ) as in the paper: Adam moves a
parameter by about lr per step, so in log space θ changes by a factor e^(lr·steps) at most,
too little in a few thousand steps (SAELens 6 made the same change, its issue #494). The
defaults (bandwidth 0.05, initial θ 0.01) are SAELens's, for inputs scaled to E‖x‖² = d_in as
our trainer scales them; the paper's 0.001 assumes E‖x‖² = 1."""

from __future__ import annotations

from typing import Any

import torch

from dictlearn.sae.base import SparseAutoencoder


def _rectangle(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    """z·[z > θ]; ∂/∂z = [z > θ], ∂/∂θ = −(θ/ε)·K((z − θ)/ε)."""

    @staticmethod
    def forward(ctx, z, threshold, bandwidth):
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold)

    @staticmethod
    def backward(ctx, grad):
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        kernel = _rectangle((z - threshold) / eps)
        grad_threshold = -(threshold / eps) * (kernel * grad).sum(0)
        return (z > threshold) * grad, grad_threshold, None


class _Step(torch.autograd.Function):
    """[z > θ]; ∂/∂z = 0, ∂/∂θ = −(1/ε)·K((z − θ)/ε): the L0 penalty moves thresholds only."""

    @staticmethod
    def forward(ctx, z, threshold, bandwidth):
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_threshold = -(1 / eps) * (_rectangle((z - threshold) / eps) * grad).sum(0)
        return None, grad_threshold, None


class JumpReluSAE(SparseAutoencoder):
    architecture = "jumprelu"
    saelens_architecture = "jumprelu"
    sparsity_knob = "l0_coeff"

    def __init__(self, d_in: int, d_sae: int, bandwidth: float = 0.05,
                 init_threshold: float = 0.01):
        super().__init__(d_in, d_sae)
        self.bandwidth, self.init_threshold = bandwidth, init_threshold
        self.threshold = torch.nn.Parameter(torch.full((d_sae,), init_threshold))

    def hparams(self) -> dict[str, Any]:
        return {"bandwidth": self.bandwidth, "init_threshold": self.init_threshold}

    @classmethod
    def hparams_from_config(cls, cfg) -> dict[str, Any]:
        return {"bandwidth": cfg.jumprelu_bandwidth,
                "init_threshold": cfg.jumprelu_init_threshold}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"threshold": self.threshold}

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator, dec_norm: float = 0.1) -> None:
        super().init_weights(generator, dec_norm)
        self.threshold.fill_(self.init_threshold)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.W_enc + self.b_enc
        return z * (z > self.threshold)

    def training_loss(self, x, sparsity_coeff, dead=None):
        z = x @ self.W_enc + self.b_enc
        f = _JumpReLU.apply(z, self.threshold, self.bandwidth)
        mse = (self.decode(f) - x).pow(2).sum(-1).mean()
        l0 = _Step.apply(z, self.threshold, self.bandwidth).sum(-1).mean()
        return mse + sparsity_coeff * l0, f, {"mse": mse, "l0": l0}

    @torch.no_grad()
    def post_step(self) -> None:
        # below 0 the gate would pass negative pre-activations (SAELens adds a ReLU there)
        self.threshold.clamp_(min=0.0)
