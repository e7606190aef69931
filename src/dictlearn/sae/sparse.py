"""Sparse training steps: only the encoder's x·W_enc is dense.

A training step computes the pre-activations z = x·W_enc + b_enc once, without autograd, into a
buffer the SAE keeps between steps (a fresh [batch × d_sae] tensor costs page faults on every
step). The architecture picks the entries its loss can depend on (its `Support`: the top k per
token, the entries above a threshold …), and from then on everything touches only those:

- `gather_preacts`: z at the support, with a backward that adds x[b]·g into W_enc's column s and
  g into b_enc[s] for each entry (b, s), never forming the dense [batch × d_sae] gradient;
- `sparse_decode`: Σ_s f[b, s]·W_dec[s] per token, with the matching sparse backward.

Sums over entries run as `embedding_bag` (one bag per token forward, one bag per latent for
the weight gradients); the value gradients ⟨g[b], W_dec[s]⟩ as `sampled_addmm`. Where the
support is a large part of the batch (ReLU and JumpReLU SAEs early in training) dense matmuls
are faster: those architectures then run a dense step of their own, in the same buffers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F

# above this fraction of [batch × d_sae] entries dense matmuls beat the sparse kernels (ReLU
# step, d_in 512, d_sae 4096, batch 4096, 2 CPU threads: 11.6% sparse 580 ms, dense 697 ms;
# 15% sparse 856 ms, dense 632 ms)
DENSE_ABOVE = 0.12


@dataclass(frozen=True)
class Support:
    """The entries (b, s) of a [n_rows × n_cols] batch a loss depends on, in CSR order:
    `crow` [n_rows + 1] row offsets, `col` [nnz] latent indices (row-major order)."""

    crow: torch.Tensor
    col: torch.Tensor
    n_cols: int

    @classmethod
    def from_rows(cls, idx: torch.Tensor, n_cols: int) -> Support:
        """The same number of latents per token: idx [n_rows, k]."""
        n, k = idx.shape
        crow = torch.arange(0, n * k + 1, k, device=idx.device) if k else \
            torch.zeros(n + 1, dtype=torch.long, device=idx.device)
        return cls(crow, idx.sort(dim=1).values.flatten(), n_cols)

    @classmethod
    def from_flat(cls, flat: torch.Tensor, n_rows: int, n_cols: int) -> Support:
        """Entries given as sorted flat indices b·n_cols + s."""
        counts = torch.bincount(flat // n_cols, minlength=n_rows)
        crow = torch.zeros(n_rows + 1, dtype=torch.long, device=flat.device)
        torch.cumsum(counts, 0, out=crow[1:])
        return cls(crow, flat % n_cols, n_cols)

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> Support:
        return cls.from_flat(mask.view(-1).nonzero().squeeze(1), *mask.shape)

    @property
    def n_rows(self) -> int:
        return len(self.crow) - 1

    @property
    def nnz(self) -> int:
        return len(self.col)

    @cached_property
    def row(self) -> torch.Tensor:
        return torch.repeat_interleave(
            torch.arange(self.n_rows, device=self.col.device), self.crow.diff(),
            output_size=self.nnz)

    @cached_property
    def flat(self) -> torch.Tensor:
        return self.row * self.n_cols + self.col

    @cached_property
    def by_col(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The transpose: (order of the entries sorted by latent, per-latent offsets, rows)."""
        order = self.col.argsort(stable=True)
        offsets = torch.zeros(self.n_cols + 1, dtype=torch.long, device=self.col.device)
        torch.cumsum(torch.bincount(self.col, minlength=self.n_cols), 0, out=offsets[1:])
        return order, offsets, self.row[order]

    def csr(self, values: torch.Tensor) -> torch.Tensor:
        """A [n_rows, n_cols] sparse CSR tensor with `values` at the support."""
        with warnings.catch_warnings():  # "CSR support is in beta": it does all we use
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.col, values,
                                           (self.n_rows, self.n_cols), check_invariants=False)

    def rows_sum(self, values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """out[b] = Σ_(b,s) values·weight[s]: [n_rows, d] (weight is [n_cols, d])."""
        return F.embedding_bag(self.col, weight, self.crow, mode="sum",
                               per_sample_weights=values, include_last_offset=True)

    def cols_sum(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """out[s] = Σ_(b,s) values·x[b]: [n_cols, d] (x is [n_rows, d])."""
        order, offsets, rows = self.by_col
        return F.embedding_bag(rows, x, offsets, mode="sum", per_sample_weights=values[order],
                               include_last_offset=True)

    def dots(self, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """⟨a[b], weight[s]⟩ for each entry: [nnz]."""
        if self.nnz == 0:
            return a.new_zeros(0)
        zeros = a.new_zeros(self.nnz)  # beta = 0 still multiplies: no garbage (NaN · 0)
        return torch.sparse.sampled_addmm(self.csr(zeros), a, weight.T, beta=0).values()


class _GatherPreacts(torch.autograd.Function):
    """z at the support (z = x·W_enc + b_enc, precomputed without autograd)."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, z, support):
        ctx.save_for_backward(x, W_enc)
        ctx.support = support
        return z.view(-1)[support.flat]

    @staticmethod
    def backward(ctx, g):
        x, W_enc = ctx.saved_tensors
        g = g.to(W_enc.dtype)
        sup: Support = ctx.support
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = sup.rows_sum(g, W_enc.T)
        if ctx.needs_input_grad[1]:
            grad_w = sup.cols_sum(g, x).T
        if ctx.needs_input_grad[2]:
            grad_b = g.new_zeros(sup.n_cols).index_add_(0, sup.col, g)
        return grad_x, grad_w, grad_b, None, None


class _SparseDecode(torch.autograd.Function):
    """Σ_s f[b, s]·W_dec[s] for the entries of the support (no bias)."""

    @staticmethod
    def forward(ctx, values, W_dec, support):
        ctx.save_for_backward(values, W_dec)
        ctx.support = support
        return support.rows_sum(values, W_dec)

    @staticmethod
    def backward(ctx, g):
        values, W_dec = ctx.saved_tensors
        g = g.to(W_dec.dtype)
        sup: Support = ctx.support
        grad_values = sup.dots(g, W_dec) if ctx.needs_input_grad[0] else None
        grad_w = sup.cols_sum(values, g) if ctx.needs_input_grad[1] else None
        return grad_values, grad_w, None


def gather_preacts(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, z: torch.Tensor,
                   support: Support) -> torch.Tensor:
    """z = x·W_enc + b_enc at the support ([nnz]), differentiable in x, W_enc and b_enc; `z` is
    the precomputed value (no autograd), so the dense matmul runs once."""
    return _GatherPreacts.apply(x, W_enc, b_enc, z, support)


def sparse_decode(values: torch.Tensor, W_dec: torch.Tensor, support: Support) -> torch.Tensor:
    """f·W_dec for f given by `values` at the support ([n_rows, d_in]), differentiable."""
    return _SparseDecode.apply(values, W_dec, support)


def is_sparse_enough(nnz: int, numel: int) -> bool:
    return nnz <= DENSE_ABOVE * numel


def firing_counts(f: torch.Tensor) -> torch.Tensor:
    """How many tokens of the batch each latent fired on (f > 0), for f dense or sparse CSR."""
    if f.layout == torch.sparse_csr:
        fired = f.values() > 0
        return torch.bincount(f.col_indices()[fired], minlength=f.shape[-1])
    return column_counts(f > 0)


def column_counts(mask: torch.Tensor, rows_per_chunk: int = 128) -> torch.Tensor:
    """True entries per column of a bool [n, m] mask, 8 columns per addition: the mask's bytes
    read as int64 add lane by lane without carries while a chunk has < 256 rows (a plain
    `mask.sum(0)` converts every byte to int64 first, 8× slower here)."""
    n, m = mask.shape
    if m % 8 or not mask.is_contiguous():
        return mask.sum(0)
    lanes = mask.view(torch.uint8)
    if n % rows_per_chunk:
        lanes = F.pad(lanes, (0, 0, 0, rows_per_chunk - n % rows_per_chunk))
    lanes = lanes.view(-1, rows_per_chunk, m).view(torch.int64).sum(1)
    return lanes.view(torch.uint8).sum(0, dtype=torch.long)


def batch_topk_flat(z: torch.Tensor, n_keep: int, per_row: int) -> torch.Tensor:
    """Sorted flat indices of the `n_keep` largest entries of z [n_rows, n_cols] (ReLU first, so
    ties among non-positive entries are broken arbitrarily, as a flat topk would).

    A flat topk over the whole batch is slower than the matmul that made z; instead take each
    row's `per_row` largest as candidates, then the largest `n_keep` candidates. Exact: an entry
    outside the candidates is at most its row's smallest candidate, so only rows whose every
    candidate was kept can hide more, and those rows join the candidates whole."""
    n_rows, n_cols = z.shape
    per_row = min(per_row, n_cols)
    values, idx = z.topk(per_row, dim=1, sorted=False)
    values.relu_()
    flat = idx + torch.arange(n_rows, device=z.device)[:, None] * n_cols
    n_keep = min(n_keep, flat.numel())
    kth = values.flatten().topk(n_keep, sorted=False).values.min()
    full = (values.min(1).values >= kth) & (per_row < n_cols)
    if full.any():
        rows = full.nonzero().squeeze(1)
        values = torch.cat([values[~full].flatten(), z[rows].relu().flatten()])
        flat = torch.cat([flat[~full].flatten(),
                          (rows[:, None] * n_cols + torch.arange(n_cols, device=z.device))
                          .flatten()])
    keep = values.flatten().topk(n_keep, sorted=False).indices
    return flat.flatten()[keep].sort().values
