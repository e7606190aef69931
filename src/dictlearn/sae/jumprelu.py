"""JumpReLU SAE (Rajamanoharan et al. 2024, "Jumping Ahead"): f = z·[z > θ] with a learned
threshold θ per feature and an L0 penalty. The step function has no useful gradient, so θ
learns through straight-through estimators with a rectangle kernel of width `bandwidth`
(the pre-activations get the ordinary JumpReLU gradient, [z > θ]).

θ is a plain parameter kept ≥ 0 after each step, not exp(log θ) as in the paper: Adam moves a
parameter by about lr per step, so in log space θ changes by a factor e^(lr·steps) at most,
too little in a few thousand steps (SAELens 6 made the same change, its issue #494). The
defaults (bandwidth 0.05, initial θ 0.01) are SAELens's, for inputs scaled to E‖x‖² = d_in as
our trainer scales them; the paper's 0.001 assumes E‖x‖² = 1.

For the same reason θ gets its own learning rate, `threshold_lr_scale` × lr: θ lives on the
scale of the pre-activations (≈ 1 for such inputs) while an encoder weight is ≈ 1/√d_in of
that, and Adam's step size is the same for both. With one shared lr, θ can rise only ≈ 0.4
in a thousand steps while the encoder grows: on our text model's activations L0 climbed from
930 to 1,750 of 2,048 latents whatever the L0 coefficient. At ×100 the coefficient is the
knob again (measured on the same data, 300k tokens: L0 coefficient 0.1 → L0 415, 1 → 95).
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from dictlearn.core.schema import PositiveFloat
from dictlearn.sae.base import SAEConfig, SparseAutoencoder
from dictlearn.sae.sparse import (
    Support,
    column_counts,
    gather_preacts,
    is_sparse_enough,
    sparse_decode,
)

_above = torch.ops.aten.threshold_backward.grad_input  # (a, t, 0, out): a where t > 0, else 0


def _rectangle(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    """z·[z > θ]; ∂/∂z = [z > θ], ∂/∂θ = −(θ/ε)·K((z − θ)/ε). θ is per feature ([d_sae],
    broadcast over the batch) or per entry (gathered for a sparse support)."""

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
        grad_threshold = (-(threshold / eps) * kernel * grad).sum_to_size(threshold.shape)
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
        kernel = _rectangle((z - threshold) / eps)
        grad_threshold = (-(1 / eps) * kernel * grad).sum_to_size(threshold.shape)
        return None, grad_threshold, None


class _DenseJumpReLUDecode(torch.autograd.Function):
    """(f·W_dec, Σ_batch [z > θ]) with f = z·[z > θ], differentiated as _JumpReLU and _Step,
    for supports too large to gather (early in training). z is precomputed; f goes into
    `f_buf`, and the backward works in `grad_buf` and `work_buf`: no fresh [batch × d_sae]
    tensor per step, and float comparisons only (bool masks are slow here)."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, W_dec, threshold, z, f_buf, grad_buf, work_buf, eps):
        t = torch.sub(z, threshold, out=f_buf)
        n_active = column_counts(t > 0).to(z.dtype)
        f = _above(z, t, 0, grad_input=f_buf)
        ctx.save_for_backward(x, W_enc, W_dec, threshold, z, f)
        ctx.bufs, ctx.eps = (grad_buf, work_buf), eps
        return f @ W_dec, n_active

    @staticmethod
    def backward(ctx, grad_y, grad_n_active):
        x, W_enc, W_dec, threshold, z, f = ctx.saved_tensors
        (grad_buf, work), eps = ctx.bufs, ctx.eps
        grad_y = grad_y.to(f.dtype)  # bf16 under autocast; the backward runs in f32
        g = torch.mm(grad_y, W_dec.T, out=grad_buf)  # ∂L/∂f
        inside = torch.sub(z, threshold, out=work).abs_().neg_().add_(eps / 2)  # > 0: K = 1
        n_inside = column_counts(inside > 0).to(z.dtype)
        kernel_g = _above(g, inside, 0, grad_input=inside).sum(0)
        grad_threshold = -(threshold / eps) * kernel_g - (1 / eps) * grad_n_active * n_inside
        _above(g, torch.sub(z, threshold, out=work), 0, grad_input=g)  # ∂L/∂z = g·[z > θ]
        grad_x = g @ W_enc.T if ctx.needs_input_grad[0] else None
        return (grad_x, x.T @ g, g.sum(0), f.T @ grad_y, grad_threshold,
                None, None, None, None, None)


class JumpReluConfig(SAEConfig):
    architecture: Literal["jumprelu"]
    l0_coeff: PositiveFloat  # weight of the number of active latents per token
    # width of the straight-through estimators' rectangle kernel, initial threshold, and the
    # thresholds' learning rate as a multiple of lr (they live on the pre-activations' scale)
    jumprelu_bandwidth: PositiveFloat
    jumprelu_init_threshold: PositiveFloat
    jumprelu_threshold_lr_scale: PositiveFloat

    def knob_label(self) -> str:
        return f"l0_coeff={self.l0_coeff:g}"


class JumpReluSAE(SparseAutoencoder):
    architecture = "jumprelu"
    config = JumpReluConfig
    saelens_architecture = "jumprelu"
    sparsity_knob = "l0_coeff"

    def __init__(self, d_in: int, d_sae: int, bandwidth: float = 0.05,
                 init_threshold: float = 0.01, threshold_lr_scale: float = 1.0,
                 l0_coeff: float = 1.0):
        super().__init__(d_in, d_sae)
        self.l0_coeff = l0_coeff
        self.bandwidth, self.init_threshold = bandwidth, init_threshold
        self.threshold_lr_scale = threshold_lr_scale
        self.threshold = torch.nn.Parameter(torch.full((d_sae,), init_threshold))

    def hparams(self) -> dict[str, Any]:
        return {"bandwidth": self.bandwidth, "init_threshold": self.init_threshold,
                "threshold_lr_scale": self.threshold_lr_scale, "l0_coeff": self.l0_coeff}

    @classmethod
    def hparams_from_config(cls, cfg: JumpReluConfig) -> dict[str, Any]:
        return {"l0_coeff": cfg.l0_coeff, "bandwidth": cfg.jumprelu_bandwidth,
                "init_threshold": cfg.jumprelu_init_threshold,
                "threshold_lr_scale": cfg.jumprelu_threshold_lr_scale}

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        weights = [p for n, p in self.named_parameters() if n != "threshold"]
        return [{"params": weights, "lr": lr},
                {"params": [self.threshold], "lr": lr * self.threshold_lr_scale}]

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
        z = self.preacts_buffer(x)
        # the loss depends on the entries above θ, and, through the estimators, on those
        # within half a bandwidth below it
        near = z > self.threshold.detach() - self.bandwidth / 2
        if is_sparse_enough(int(torch.count_nonzero(near)), near.numel()):
            support = Support.from_mask(near)
            z = gather_preacts(x, self.W_enc, self.b_enc, z, support)
            threshold = self.threshold[support.col]
            f = _JumpReLU.apply(z, threshold, self.bandwidth)
            x_hat = sparse_decode(f, self.W_dec, support) + self.b_dec
            acts = support.csr(f.detach())
            l0 = _Step.apply(z, threshold, self.bandwidth).sum() / len(x)
        else:  # early in training, when half the latents are near or above θ
            bufs = [self.training_buffer(name, x) for name in ("acts", "grad", "work")]
            y, n_active = _DenseJumpReLUDecode.apply(x, self.W_enc, self.b_enc, self.W_dec,
                                                     self.threshold, z, *bufs, self.bandwidth)
            x_hat = y + self.b_dec
            l0 = n_active.sum() / len(x)
            acts = bufs[0]  # valid until the next step
        mse = (x_hat - x).pow(2).sum(-1).mean()
        return mse + sparsity_coeff * l0, acts, {"mse": mse, "l0": l0}

    @torch.no_grad()
    def post_step(self) -> None:
        # below 0 the gate would pass negative pre-activations (SAELens adds a ReLU there)
        self.threshold.clamp_(min=0.0)
