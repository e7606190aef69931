"""Sampling gives the requested sparsity and power-law exponent; embedding is x = v·Eᵀ."""

import math

import torch

from dictlearn.toy.data import (POWER_LAW_EXPONENT, feature_probabilities, random_embedder,
                                sample_sparse)


def frequencies(p, batch, seed=0):
    b = sample_sparse(p, batch, torch.Generator().manual_seed(seed))
    v = b.dense(len(p))
    return b, v, (v > 0).double().mean(0)


def test_uniform_sparsity_is_one_minus_eps():
    eps, batch = 1 / 32, 20000
    p = feature_probabilities(64, eps, "uniform")
    _, v, freq = frequencies(p, batch)
    overall = freq.mean().item()
    assert abs(overall - eps) < 4 * math.sqrt(eps * (1 - eps) / (batch * 64))
    assert (freq - eps).abs().max() < 6 * math.sqrt(eps / batch)
    values = v[v > 0]
    assert 0 < values.min() and values.max() < 1 and abs(values.mean().item() - 0.5) < 0.01


def test_power_law_exponent_and_total():
    N, eps, batch = 256, 1 / 16, 40000
    p = feature_probabilities(N, eps, "power_law")
    assert p.max() == 1 and abs(p.sum().item() - N * eps) < N * eps * 0.2  # capped at 1
    _, _, freq = frequencies(p, batch)
    assert (freq - p).abs().max() < 6 * math.sqrt(0.25 / batch)
    uncapped = (p < 0.5).nonzero().squeeze(1)
    uncapped = uncapped[freq[uncapped] > 20 / batch]
    x = torch.log(uncapped.double() + 1)
    y = torch.log(freq[uncapped])
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert abs(-slope.item() - POWER_LAW_EXPONENT) < 0.05


def test_sparse_embedding_matches_dense_product():
    E = random_embedder(64, 16, seed=0)
    assert torch.allclose(E.norm(dim=0), torch.ones(64), atol=1e-5)
    b, v, _ = frequencies(feature_probabilities(64, 0.1, "uniform"), 300)
    assert torch.allclose(b.embed(E.T.contiguous()), v @ E.T, atol=1e-5)


def test_sampling_is_deterministic_for_a_seed():
    p = feature_probabilities(64, 0.05, "power_law")
    a, b = (sample_sparse(p, 500, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a.sample, b.sample) and torch.equal(a.value, b.value)
