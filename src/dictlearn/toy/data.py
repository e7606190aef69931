"""Synthetic sparse features: the fixed embedding and a sampler that never builds the dense
[batch, N] feature matrix.

Feature i is present in a sample with probability pᵢ (independently), with a magnitude
U(0, 1). Uniform sampling: pᵢ = ε. Power law: pᵢ ∝ i^-1.1 rescaled to Σpᵢ = Nε and capped
at 1 (the authors' definitions). At ε = 1/64 about 8 of 512 features are present, so a batch
is drawn as (sample, feature, value) triplets: along the batch, the gaps between samples
holding feature i are geometric with parameter pᵢ, which is the same Bernoulli process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

POWER_LAW_EXPONENT = 1.1


def random_embedder(N: int, m: int, seed: int) -> torch.Tensor:
    """[m, N]: feature i's direction is row i of U from the SVD of an N×m Gaussian matrix,
    normalised to unit length (nearly orthogonal directions, as in the paper)."""
    g = np.random.default_rng(seed)
    u, _, _ = np.linalg.svd(g.standard_normal((N, m)), full_matrices=False)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return torch.tensor(u.T, dtype=torch.float32)


def feature_probabilities(N: int, eps: float, sampling: str) -> torch.Tensor:
    if sampling == "uniform":
        return torch.full((N,), float(eps), dtype=torch.float64)
    if sampling == "power_law":
        p = torch.arange(1, N + 1, dtype=torch.float64) ** -POWER_LAW_EXPONENT
        return (p * (N * eps / p.sum())).clamp(max=1.0)
    raise ValueError(f"sampling: unknown kind {sampling!r}")


@dataclass
class SparseBatch:
    """Present features of a batch: sample index, feature index, magnitude (signed for abs)."""

    sample: torch.Tensor  # int64 [nnz]
    feature: torch.Tensor  # int64 [nnz]
    value: torch.Tensor  # float32 [nnz]
    batch: int

    def dense(self, N: int) -> torch.Tensor:
        v = torch.zeros(self.batch, N, device=self.value.device)
        v.index_put_((self.sample, self.feature), self.value, accumulate=True)
        return v

    def embed(self, Et: torch.Tensor) -> torch.Tensor:
        """x = v @ E.T as a weighted sum of rows of Et = E.T [N, m] per sample: [batch, m]."""
        offsets = torch.searchsorted(self.sample, torch.arange(self.batch, device=Et.device))
        return F.embedding_bag(self.feature, Et, offsets, mode="sum",
                               per_sample_weights=self.value)

    def __add__(self, other: SparseBatch) -> SparseBatch:
        return _sorted(torch.cat([self.sample, other.sample]),
                       torch.cat([self.feature, other.feature]),
                       torch.cat([self.value, other.value]), self.batch)


def _sorted(sample, feature, value, batch) -> SparseBatch:
    """Triplets ordered by sample (embedding_bag's layout)."""
    order = torch.argsort(sample, stable=True)
    return SparseBatch(sample[order], feature[order], value[order], batch)


def sample_sparse(p: torch.Tensor, batch: int, gen: torch.Generator) -> SparseBatch:
    """Each feature i present in each of `batch` samples with probability p[i]."""
    N = len(p)
    logq = torch.log1p(-p)  # -inf where p = 1: every gap is 0
    sd = (batch * p * (1 - p)).sqrt()
    draws = (batch * p + 5 * sd + 8).ceil().long()  # gaps per feature; rarely too few
    offset = torch.zeros(N, dtype=torch.long, device=p.device)  # next free position per feature
    todo = torch.arange(N, device=p.device)
    samples, features = [], []
    while len(todo):
        n = draws[todo]
        feat = torch.repeat_interleave(todo, n)
        u = 1 - torch.rand(len(feat), generator=gen, dtype=torch.float64, device=p.device)  # (0, 1]
        gap = (u.log() / logq[feat]).floor().clamp(max=batch).long() + 1
        ends = n.cumsum(0)
        run = gap.cumsum(0)
        start = torch.cat([run.new_zeros(1), run[ends - 1][:-1]])
        pos = run - torch.repeat_interleave(start, n) + torch.repeat_interleave(offset[todo], n) - 1
        keep = pos < batch
        samples.append(pos[keep])
        features.append(feat[keep])
        offset[todo] += run[ends - 1] - start
        todo = todo[offset[todo] < batch]
    sample, feature = torch.cat(samples), torch.cat(features)
    value = torch.rand(len(sample), generator=gen, device=p.device)
    return _sorted(sample, feature, value, batch)
