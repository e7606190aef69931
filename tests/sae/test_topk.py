"""TopK SAE: exactly k active latents, unit-norm decoder rows, AuxK revives dead latents."""

import pytest
import torch
from sae_fixtures import random_sae

from dictlearn.sae.batchtopk import BatchTopKSAE
from dictlearn.sae.topk import TopKSAE


def test_topk_keeps_exactly_k_per_token():
    sae = random_sae("topk")
    with torch.no_grad():
        sae.b_enc.fill_(100.0)  # every pre-activation positive: the ReLU removes none
    x = torch.randn(64, 8)
    for f in (sae.encode(x), sae.training_loss(x, 0.0)[1].to_dense()):
        assert ((f > 0).sum(1) == 4).all()
        z = x @ sae.W_enc + sae.b_enc
        assert torch.equal(f.topk(4).indices.sort().values, z.topk(4).indices.sort().values)


@pytest.mark.parametrize("cls", [TopKSAE, BatchTopKSAE])
def test_topk_decoder_rows_stay_unit_norm(cls):
    sae = cls(8, 32, k=4)
    sae.init_weights(torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(sae.parameters(), lr=0.1)
    sae.training_loss(torch.randn(64, 8), 0.0, torch.ones(32, dtype=torch.bool))[0].backward()
    opt.step()
    assert not torch.allclose(sae.W_dec.norm(dim=1), torch.ones(32))
    sae.post_step()
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(32))


@pytest.mark.parametrize("aux_coeff,revived", [(0.0, range(0, 1)), (1 / 32, range(6, 9))])
def test_auxk_brings_dead_latents_back(aux_coeff, revived):
    """Latents 0..7 reconstruct directions e0..e7; 8..15 are dead. Inputs along e8..e15 can only
    be learnt by the dead latents, and only AuxK gives them any gradient."""
    gen = torch.Generator().manual_seed(0)
    sae = TopKSAE(16, 16, k=1, aux_coeff=aux_coeff)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.W_dec[:8], sae.W_enc[:, :8] = torch.eye(16)[:8], torch.eye(16)[:, :8]
        sae.b_enc[8:] = -1.0
    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    dead = torch.arange(16) >= 8
    for _ in range(200):
        x = torch.eye(16)[torch.randint(0, 16, (256,), generator=gen)]
        loss = sae.training_loss(x * (1 + torch.rand(256, 1, generator=gen)), 0.0, dead)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        sae.post_step()
    with torch.no_grad():
        f = sae.encode(torch.eye(16)[8:] * 1.5)
    assert (f[:, 8:] > 0).any(1).sum().item() in revived  # of the 8 directions
