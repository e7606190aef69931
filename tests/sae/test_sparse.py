"""The sparse training step computes what the dense one does: the same loss, activations and
gradients (float64, tiny shapes), for every architecture and in both of relu's and jumprelu's
regimes (sparse support, dense fallback)."""

import pytest
import torch

from dictlearn.sae import build_sae, sparse
from dictlearn.sae.jumprelu import _JumpReLU, _Step
from dictlearn.sae.sparse import (
    Support,
    batch_topk_flat,
    firing_counts,
    gather_preacts,
    sparse_decode,
)

D_IN, D_SAE, BATCH, K = 6, 40, 24, 3


def dense_loss(sae, x, coeff, dead):
    """The dense reference: every architecture's loss written with full [batch × d_sae] tensors."""
    z = x @ sae.W_enc + sae.b_enc
    parts = {}
    if sae.architecture == "relu":
        f = z.relu()
        parts["l1"] = (f @ sae.W_dec.norm(dim=1)).mean()
    elif sae.architecture == "jumprelu":
        f = _JumpReLU.apply(z, sae.threshold, sae.bandwidth)
        parts["l0"] = _Step.apply(z, sae.threshold, sae.bandwidth).sum(-1).mean()
    elif sae.architecture == "topk":
        values, idx = z.topk(sae.k, dim=-1)
        f = torch.zeros_like(z).scatter(-1, idx, values.relu())
    else:  # batchtopk: the k·batch largest over the whole batch
        acts = z.relu().flatten()
        values, idx = acts.topk(sae.k * len(x))
        f = torch.zeros_like(acts).scatter(0, idx, values).view_as(z)
    x_hat = f @ sae.W_dec + sae.b_dec
    parts["mse"] = (x_hat - x).pow(2).sum(-1).mean()
    if sae.architecture in ("topk", "batchtopk"):
        n_dead = int(dead.sum())
        k_aux = min(sae.aux_k, n_dead)
        values, idx = z.masked_fill(~dead, float("-inf")).topk(k_aux, dim=-1)
        e_hat = torch.zeros_like(z).scatter(-1, idx, values) @ sae.W_dec
        residual = (x - x_hat).detach()
        parts["auxk"] = min(1.0, n_dead / sae.aux_k) * (e_hat - residual).pow(2).sum(-1).mean()
        return parts["mse"] + sae.aux_coeff * parts["auxk"], f, parts
    knob = parts.get("l1", parts.get("l0"))
    return parts["mse"] + coeff * knob, f, parts


def sae_and_batch(name, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sae = build_sae(name, D_IN, D_SAE)
    if name in ("topk", "batchtopk"):
        sae = type(sae)(D_IN, D_SAE, k=K, aux_k=5)
    if name == "jumprelu":
        sae = type(sae)(D_IN, D_SAE, bandwidth=0.3)
    sae = sae.double()
    sae.init_weights(gen, dec_norm=0.7)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(D_SAE, generator=gen) * 0.3)
        sae.b_dec.copy_(torch.randn(D_IN, generator=gen) * 0.1)
        if name == "jumprelu":
            sae.threshold.copy_(torch.rand(D_SAE, generator=gen))
    x = torch.randn(BATCH, D_IN, generator=gen, dtype=torch.float64) * 2
    dead = torch.rand(D_SAE, generator=gen) < 0.3
    return sae, x, dead


def loss_and_grads(loss_fn, sae, x):
    x = x.clone().requires_grad_(True)
    sae.zero_grad()
    loss, f, parts = loss_fn(x)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in sae.named_parameters() if p.grad is not None}
    return loss, f, parts, grads


@pytest.mark.parametrize("name,regime", [("relu", "sparse"), ("relu", "dense"),
                                         ("jumprelu", "sparse"), ("jumprelu", "dense"),
                                         ("topk", "sparse"), ("batchtopk", "sparse")])
def test_training_loss_matches_the_dense_computation(name, regime, monkeypatch):
    monkeypatch.setattr(sparse, "DENSE_ABOVE", 1.0 if regime == "sparse" else 0.0)
    sae, x, dead = sae_and_batch(name)
    ours = loss_and_grads(lambda x: sae.training_loss(x, 0.7, dead), sae, x)
    ref = loss_and_grads(lambda x: dense_loss(sae, x, 0.7, dead), sae, x)
    f = ours[1]
    assert (f.layout == torch.sparse_csr) == (regime == "sparse")
    assert torch.allclose(f.to_dense(), ref[1], atol=1e-12)
    assert torch.allclose(ours[0], ref[0], rtol=1e-10)
    for key, value in ref[2].items():
        assert torch.allclose(ours[2][key], value, rtol=1e-10), key
    assert set(ours[3]) == set(ref[3]) >= {"W_enc", "b_enc", "W_dec", "b_dec"}
    for key, value in ref[3].items():
        assert value.abs().max() > 0, key  # a gradient that really flows
        assert torch.allclose(ours[3][key], value, rtol=1e-9, atol=1e-12), key
    assert torch.equal(firing_counts(f), (ref[1] > 0).sum(0))


def test_sparse_ops_match_dense_matmuls_in_all_their_inputs():
    gen = torch.Generator().manual_seed(0)
    n, d, s = 7, 5, 11
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    W_enc = torch.randn(d, s, generator=gen, dtype=torch.float64, requires_grad=True)
    b_enc = torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True)
    W_dec = torch.randn(s, d, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(n, s, generator=gen) < 0.3
    mask[2] = False  # a token with no entry at all
    support = Support.from_mask(mask)
    with torch.no_grad():
        z = x @ W_enc + b_enc
    y = sparse_decode(gather_preacts(x, W_enc, b_enc, z, support).tanh(), W_dec, support)
    dense = ((x @ W_enc + b_enc).tanh() * mask) @ W_dec
    assert torch.allclose(y, dense)
    grads = torch.autograd.grad(y.pow(2).sum(), (x, W_enc, b_enc, W_dec))
    ref = torch.autograd.grad(dense.pow(2).sum(), (x, W_enc, b_enc, W_dec))
    for ours, theirs in zip(grads, ref, strict=True):
        assert torch.allclose(ours, theirs)


def test_batch_topk_is_exact_when_a_few_tokens_take_most_of_the_budget():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(16, 50, generator=gen)
    z[3] += 10  # token 3 holds the 40 largest entries of the batch, far more than 2 per token
    z[5, :20] += 5
    flat = batch_topk_flat(z, 64, per_row=4)
    assert torch.equal(flat, z.flatten().topk(64).indices.sort().values)
    support = Support.from_flat(flat, *z.shape)
    assert support.crow.diff()[3] == 50 and support.crow.diff()[5] == 14


@pytest.mark.parametrize("name", ["relu", "jumprelu"])
def test_training_buffers_are_reused_but_never_silently_overwritten(name, monkeypatch):
    sae, x, dead = sae_and_batch(name)
    ref = loss_and_grads(lambda x: dense_loss(sae, x, 0.7, dead), sae, x)[3]
    monkeypatch.setattr(sparse, "DENSE_ABOVE", 1.0)
    sparse_loss = sae.training_loss(x, 0.7)[0]
    buf = sae.training_buffer("preacts", x)
    sae.training_loss(x * 3, 0.7)  # overwrites the buffer
    assert sae.training_buffer("preacts", x) is buf
    sae.zero_grad()
    sparse_loss.backward()  # the sparse graph kept what it needs: still the right gradients
    assert torch.allclose(sae.W_enc.grad, ref["W_enc"])
    monkeypatch.setattr(sparse, "DENSE_ABOVE", 0.0)
    dense_loss_ = sae.training_loss(x, 0.7)[0]
    sae.training_loss(x * 3, 0.7)
    with pytest.raises(RuntimeError, match="inplace"):
        dense_loss_.backward()  # the dense graph saved the buffer: an error, not wrong grads
    sae.free_training_buffers()
    sae.zero_grad()
    sae.training_loss(x, 0.7)[0].backward()
    assert torch.allclose(sae.W_enc.grad, ref["W_enc"])
