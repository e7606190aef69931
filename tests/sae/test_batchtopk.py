"""BatchTopK SAE: k·batch active over the batch in training, a threshold at inference."""

import numpy as np
import pytest
import torch
from sae_fixtures import random_sae


def test_batchtopk_keeps_k_times_batch_in_training_and_a_threshold_at_inference():
    sae = random_sae("batchtopk")
    x = torch.randn(64, 8)
    with torch.no_grad():
        sae.b_enc.fill_(100.0)
    f = sae.training_loss(x, 0.0)[1].to_dense()
    per_token = (f > 0).sum(1)
    assert per_token.sum() == 4 * 64 and per_token.min() < per_token.max()  # shared budget
    # the first update sets the threshold to the smallest kept activation
    assert sae.threshold.unique().tolist() == [pytest.approx(f[f > 0].min().item())]
    with torch.no_grad():
        sae.b_enc.zero_()
        sae.threshold.fill_(0.7)
        z = x @ sae.W_enc
        f = sae.encode(x)
    assert torch.equal(f, torch.where(z > 0.7, z, 0.0))
    assert torch.allclose(sae.encode(x[:1]), f[:1])  # one token alone: the same code


def test_batchtopk_threshold_is_a_running_mean_of_the_smallest_kept_activation():
    sae = random_sae("batchtopk")
    gen = torch.Generator().manual_seed(1)
    minima = []
    for _ in range(30):
        f = sae.training_loss(torch.randn(32, 8, generator=gen), 0.0)[1].values()
        minima.append(f[f > 0].min().item())
    m = 0.01
    w = np.array([(1 - m) ** i for i in range(30)][::-1])
    assert sae.threshold[0].item() == pytest.approx((w * minima).sum() / w.sum(), rel=1e-5)
