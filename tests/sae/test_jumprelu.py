"""JumpReLU SAE: the threshold gates, and the thresholds learn through the estimators."""

import pytest
import torch
from sae_fixtures import random_sae, run_for

from dictlearn.sae import sae_from_config
from dictlearn.sae.jumprelu import JumpReluSAE
from dictlearn.sae.trainer import SAETrainer


def test_jumprelu_gates_and_its_thresholds_learn():
    sae = random_sae("jumprelu")
    x = torch.randn(256, 8) * 2
    z = x @ sae.W_enc + sae.b_enc
    assert torch.equal(sae.encode(x), torch.where(z > sae.threshold, z, 0.0))
    loss, f, parts = sae.training_loss(x, 1.0)
    f = f.to_dense()
    parts["l0"].backward(retain_graph=True)
    # the L0 penalty pushes every threshold near some pre-activation up, and only thresholds
    assert (sae.threshold.grad <= 0).all() and (sae.threshold.grad < 0).sum() > 5
    assert sae.W_enc.grad is None or not sae.W_enc.grad.any()
    sae.zero_grad()
    parts["mse"].backward()
    assert sae.threshold.grad.abs().sum() > 0 and sae.W_enc.grad.abs().sum() > 0
    assert parts["l0"].item() == pytest.approx((f > 0).float().sum(1).mean().item())


def test_jumprelu_threshold_gradient_is_the_rectangle_estimator():
    sae = JumpReluSAE(1, 1, bandwidth=0.1)
    with torch.no_grad():
        sae.W_enc.fill_(1.0)
        sae.W_dec.fill_(1.0)
        sae.threshold.fill_(0.5)
    x = torch.tensor([[0.47], [0.52], [0.9], [0.2]])  # the first two inside the window
    sae.training_loss(x, 1.0)[2]["l0"].backward()
    assert sae.threshold.grad.item() == pytest.approx(-(1 / 0.1) * 2 / 4)


def test_thresholds_get_their_own_learning_rate():
    run = run_for("jumprelu", d_sae=32, jumprelu_threshold_lr_scale=50.0)
    cfg = run.trainer
    sae = sae_from_config(run.sae, 8)
    assert sae.threshold_lr_scale == 50.0
    trainer = SAETrainer(sae, cfg, n_steps=10, device=torch.device("cpu"))
    groups = {len(g["params"]): g["initial_lr"] for g in trainer.opt.param_groups}
    assert groups == {4: cfg.lr, 1: cfg.lr * 50.0}  # W_enc, b_enc, W_dec, b_dec | threshold
    assert trainer.opt.param_groups[1]["params"][0] is sae.threshold
