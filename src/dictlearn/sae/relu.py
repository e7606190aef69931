"""ReLU SAE with an L1 penalty on activations weighted by decoder row norms
(Anthropic, "Circuits Updates – April 2024"); no decoder-norm constraint is needed."""

from __future__ import annotations

from typing import Any, Literal

import torch

from dictlearn.core.schema import PositiveFloat
from dictlearn.sae.base import SAEConfig, SparseAutoencoder
from dictlearn.sae.sparse import Support, gather_preacts, is_sparse_enough, sparse_decode


class _DenseReLUDecode(torch.autograd.Function):
    """(f·W_dec, Σ_batch f) with f = ReLU(z), for a support too large to gather (early in
    training half the latents fire). z = x·W_enc + b_enc is precomputed and rectified in place;
    the backward writes the [batch × d_sae] gradient into `grad_buf`: five matmuls and no
    fresh [batch × d_sae] tensor per step."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, W_dec, z, grad_buf):
        f = z.relu_()
        ctx.save_for_backward(x, W_enc, W_dec, f)
        ctx.grad_buf = grad_buf
        return f @ W_dec, f.sum(0)

    @staticmethod
    def backward(ctx, grad_y, grad_colsum):
        x, W_enc, W_dec, f = ctx.saved_tensors
        grad_y = grad_y.to(f.dtype)  # bf16 under autocast; the backward runs in f32
        g = torch.addmm(grad_colsum, grad_y, W_dec.T, out=ctx.grad_buf)
        torch.ops.aten.threshold_backward.grad_input(g, f, 0, grad_input=g)  # in place
        grad_x = g @ W_enc.T if ctx.needs_input_grad[0] else None
        return grad_x, x.T @ g, g.sum(0), f.T @ grad_y, None, None


class ReluConfig(SAEConfig):
    architecture: Literal["relu"]
    # weight of Σ f·‖W_dec row‖ per token (for inputs scaled to E‖x‖² = d_in)
    l1_coeff: PositiveFloat

    def knob_label(self) -> str:
        return f"l1_coeff={self.l1_coeff:g}"


class ReluSAE(SparseAutoencoder):
    architecture = "relu"
    config = ReluConfig
    saelens_architecture = "standard"
    sparsity_knob = "l1_coeff"

    def __init__(self, d_in: int, d_sae: int, l1_coeff: float = 5.0):
        super().__init__(d_in, d_sae)
        self.l1_coeff = l1_coeff

    def hparams(self) -> dict[str, Any]:
        return {"l1_coeff": self.l1_coeff}

    @classmethod
    def hparams_from_config(cls, cfg: ReluConfig) -> dict[str, Any]:
        return {"l1_coeff": cfg.l1_coeff}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W_enc + self.b_enc)

    def training_loss(self, x, sparsity_coeff, dead=None):
        z = self.preacts_buffer(x)
        active = z > 0
        norms = self.W_dec.norm(dim=1)
        if is_sparse_enough(int(torch.count_nonzero(active)), active.numel()):
            support = Support.from_mask(active)
            f = gather_preacts(x, self.W_enc, self.b_enc, z, support)  # all > 0: ReLU is id
            x_hat = sparse_decode(f, self.W_dec, support) + self.b_dec
            l1 = (f * norms[support.col]).sum() / len(x)
            acts = support.csr(f.detach())
        else:
            y, f_sum = _DenseReLUDecode.apply(x, self.W_enc, self.b_enc, self.W_dec, z,
                                              self.training_buffer("grad", x))
            x_hat = y + self.b_dec
            l1 = f_sum @ norms / len(x)
            acts = z  # rectified in place; valid until the next step
        mse = (x_hat - x).pow(2).sum(-1).mean()
        return mse + sparsity_coeff * l1, acts, {"mse": mse, "l1": l1}
