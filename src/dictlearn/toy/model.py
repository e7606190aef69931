"""The toy model, batched over the members of a sweep, with its gradients written out.

Member s: h = act(W_in[s] x + b_in[s]) (k neurons), out = W_out[s] h (N outputs; m for the
re-projector). Loss: Σ(out - target)² / batch, plus l1 · Σ|h| / batch (left out of the
reported loss). Parameters carry a leading sweep dimension and every product is a bmm, so
one pass trains all members; a member trained alone (S = 1) follows the same arithmetic.

The backward pass is explicit rather than autograd: the target is sparse, so out - target is
one scatter into the output, and nothing else of size [batch, N] is ever allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dictlearn.toy.config import ToyMember as Member

MONOSEMANTIC = 0.999  # a neuron's top feature's share of its single-feature activations


@dataclass
class Params:
    W_in: torch.Tensor  # [S, k, m]
    b_in: torch.Tensor  # [S, k]
    W_out: torch.Tensor  # [S, out, k]

    def tensors(self) -> list[torch.Tensor]:
        return [self.W_in, self.b_in, self.W_out]


def out_dim(task: str, N: int, m: int) -> int:
    return m if task == "reprojector" else N


def init_member(member: Member, N: int, m: int, gen: torch.Generator) -> Params:
    """PyTorch's nn.Linear initialisation (uniform ±1/√fan_in), plus the bias offset."""
    k, out = member.k, out_dim(member.task, N, m)
    a, b = 1 / math.sqrt(m), 1 / math.sqrt(k)
    W_in = (torch.rand(k, m, generator=gen) * 2 - 1) * a
    b_in = (torch.rand(k, generator=gen) * 2 - 1) * a + member.bias
    W_out = (torch.rand(out, k, generator=gen) * 2 - 1) * b
    return Params(W_in[None], b_in[None], W_out[None])


def stack(params: list[Params]) -> Params:
    return Params(*(torch.cat(t).contiguous() for t in zip(*(p.tensors() for p in params))))


def activate(pre: torch.Tensor, activation: str) -> torch.Tensor:
    return pre.relu() if activation == "relu" else F.gelu(pre)


@dataclass
class Target:
    """What the outputs should be, in the cheapest form: sparse (flat index into the [S,
    batch, out] output, value) or dense (broadcastable to the output)."""

    index: torch.Tensor | None = None
    value: torch.Tensor | None = None
    dense: torch.Tensor | None = None

    def subtract_from(self, out: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            return out.sub_(self.dense.to(out.dtype))
        out.view(-1).index_put_((self.index,), -self.value.to(out.dtype), accumulate=True)
        return out


class Workspace:
    """Reused [S, batch, ·] buffers: a fresh 32 MB tensor per step costs page faults that
    rival the matmuls on a CPU."""

    def __init__(self):
        self._bufs: dict[tuple, torch.Tensor] = {}

    def get(self, name: str, shape: tuple, dtype: torch.dtype, device) -> torch.Tensor:
        key = (name, shape, dtype, str(device))
        if key not in self._bufs:
            self._bufs[key] = torch.empty(shape, dtype=dtype, device=device)
        return self._bufs[key]


def forward_backward(p: Params, x: torch.Tensor, target: Target, activation: str,
                     l1: torch.Tensor, dtype: torch.dtype, want_loss: bool,
                     ws: Workspace | None = None
                     ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Gradients of every parameter ([S, …] each) and, if asked, the loss per member."""
    ws = ws or Workspace()
    (S, k, _), batch, n_out = p.W_in.shape, x.shape[1], p.W_out.shape[1]
    dev = x.device
    pre = torch.baddbmm(p.b_in[:, None, :], x, p.W_in.transpose(1, 2),
                        out=ws.get("pre", (S, batch, k), torch.float32, dev))
    h = pre.relu_() if activation == "relu" else F.gelu(pre)
    hc = h if dtype == torch.float32 else ws.get("hc", h.shape, dtype, dev).copy_(h)
    r = torch.bmm(hc, p.W_out.to(dtype).transpose(1, 2),
                  out=ws.get("out", (S, batch, n_out), dtype, dev))
    r = target.subtract_from(r)  # out - target
    loss = r.float().pow(2).sum((1, 2)) / batch if want_loss else None
    scale = 2 / batch  # d loss / d out = scale · r, folded into the small operands
    g_out = torch.bmm(r.transpose(1, 2), hc).float().mul_(scale)
    g_h = torch.bmm(r, (p.W_out * scale).to(dtype), out=ws.get("g_h", (S, batch, k), dtype, dev))
    g_h = g_h.float() if dtype != torch.float32 else g_h
    if bool((l1 > 0).any()):
        l1b = (l1 / batch).view(S, 1, 1)
        g_h.add_(l1b if activation == "relu" else l1b * h.sign())
    if activation == "relu":  # h = relu(pre) in place: h > 0 exactly where pre > 0
        g_pre = torch.ops.aten.threshold_backward.grad_input(g_h, h, 0, grad_input=g_h)
    else:
        g_pre = torch.ops.aten.gelu_backward(g_h, pre)
    g_in = torch.bmm(g_pre.transpose(1, 2), x)
    return [g_in, g_pre.sum(1), g_out], loss


class Lamb:
    """LAMB as torch_optimizer 0.3 implements it (the authors' optimiser): Adam moments
    without bias correction, step scaled per tensor by ‖w‖ (clamped at 10) / ‖adam step‖.
    Here "per tensor" is per member: norms over every dimension but the sweep's."""

    def __init__(self, params: list[torch.Tensor], betas=(0.9, 0.999), eps=1e-6):
        self.params, self.betas, self.eps = params, betas, eps
        self.m = [torch.zeros_like(t) for t in params]
        self.v = [torch.zeros_like(t) for t in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        b1, b2 = self.betas
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            update = m / v.sqrt().add_(self.eps)
            dims = tuple(range(1, p.dim()))
            w_norm = torch.linalg.vector_norm(p, dim=dims).clamp(max=10.0)
            u_norm = torch.linalg.vector_norm(update, dim=dims)
            trust = torch.where((w_norm == 0) | (u_norm == 0), 1.0, w_norm / u_norm)
            shape = (-1,) + (1,) * (p.dim() - 1)
            p.sub_(update.mul_((lr * trust).view(shape)))


def cosine_factor(step: int, period: int = 512) -> float:
    """The authors' CosineAnnealingLR(T_max=512, eta_min=0), stepped once per step: the rate
    falls to 0 at step 512 and climbs back to the full rate at 1024 (periodic)."""
    return (1 + math.cos(math.pi * step / period)) / 2


@torch.no_grad()
def single_feature_activations(p: Params, Et: torch.Tensor, activation: str) -> torch.Tensor:
    """[S, k, N]: each neuron's activation with each feature alone at magnitude 1."""
    pre = torch.baddbmm(p.b_in[:, None, :], Et.expand(p.W_in.shape[0], -1, -1),
                        p.W_in.transpose(1, 2))
    return activate(pre, activation).transpose(1, 2)


def monosemantic(sfa: torch.Tensor) -> torch.Tensor:
    """[S, k] bool: the neuron's strongest feature carries > 0.999 of its summed activation
    over single features (the authors' criterion)."""
    return sfa.amax(-1) / (1e-10 + sfa.sum(-1)) > MONOSEMANTIC
