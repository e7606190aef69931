"""The trainer (sae/trainer.py): deterministic, resamples dead features, its LR schedule,
and bf16 autocast."""

import pytest
import torch
from sae_fixtures import run_for, small_sae, sparse_store

from dictlearn.sae import build_sae, sae_from_config
from dictlearn.sae.trainer import SAETrainer, lr_multiplier, resample_dead_features, train_sae


def test_training_is_deterministic(tmp_path):
    store = sparse_store(tmp_path / "s.zarr")
    (a, cfg), (b, _) = (small_sae("relu", store.d, training_tokens=256 * 60) for _ in "ab")
    train_sae(a, store, cfg, torch.device("cpu"))
    train_sae(b, store, cfg, torch.device("cpu"))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


@pytest.mark.parametrize("name, knob", [("relu", "l1_coeff"), ("jumprelu", "l0_coeff")])
def test_the_trainer_takes_the_sparsity_coefficient_from_the_sae(name, knob):
    """The coefficient is the SAE's own (its settings → the instance), warmed up over the
    first 5% of steps; TopK's sparsity is structural (k), so it has none."""
    sae, cfg = small_sae(name, 8, **{knob: 0.7})
    assert getattr(sae, knob) == sae.sparsity_coeff == 0.7
    trainer = SAETrainer(sae, cfg, n_steps=100, device=torch.device("cpu"))
    assert trainer.sparsity == 0.7 and trainer.sparsity_warmup == 5
    seen, original = [], sae.training_loss

    def recording(x, sparsity_coeff, dead=None):
        seen.append(sparsity_coeff)
        return original(x, sparsity_coeff, dead)

    sae.training_loss = recording
    x = torch.randn(32, 8)
    for _ in range(6):
        trainer.step(x)
    assert seen == pytest.approx([0.7 * min(1, s / 5) for s in range(1, 7)])
    topk, _ = small_sae("topk", 8)
    assert topk.sparsity_knob is None and topk.sparsity_coeff == 0.0


def test_resampled_dead_feature_fires_afterwards():
    torch.manual_seed(0)
    sae = build_sae("relu", 8, 16)
    sae.init_weights(torch.Generator().manual_seed(0))
    x = torch.randn(512, 8) + 1.0
    with torch.no_grad():
        sae.b_enc[:4] = -1e3  # features 0..3 can never fire
    opt = torch.optim.Adam(sae.parameters())
    sae.training_loss(x, 1.0)[0].backward()
    opt.step()
    dead = torch.zeros(16, dtype=torch.bool)
    dead[:4] = True
    assert (sae.encode(x)[:, :4] > 0).sum() == 0
    assert resample_dead_features(sae, dead, x, opt, torch.Generator().manual_seed(0)) == 4
    assert ((sae.encode(x)[:, :4] > 0).sum(0) > 0).all()
    assert torch.allclose(sae.W_dec[:4].norm(dim=1), torch.ones(4))
    assert (opt.state[sae.W_dec]["exp_avg"][:4] == 0).all()


def test_lr_schedule():
    assert lr_multiplier(0, 100, 10, 0.2) == pytest.approx(0.1)
    assert lr_multiplier(50, 100, 10, 0.2) == 1.0
    assert lr_multiplier(90, 100, 10, 0.2) == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["relu", "topk", "batchtopk", "jumprelu"])
def test_bf16_autocast_step_tracks_the_f32_step(name):
    """The autocast path (on a GPU in practice; forced here on CPU, whose autocast has the
    same rules) runs every architecture in both regimes, keeps f32 weights and gradients,
    and gives nearly the f32 loss."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 16, generator=gen)
    run = run_for(name, d_sae=128, k=8, batch_size=512, training_tokens=512 * 4)
    cfg = run.trainer
    losses = {}
    for autocast in (False, True):
        for sparse in (False, True):  # dense fallback (half fire), then the sparse support
            sae = sae_from_config(run.sae, 16)
            sae.init_weights(torch.Generator().manual_seed(1))
            if sparse:  # each latent fires on ~5% of the tokens
                with torch.no_grad():
                    z = x @ sae.W_enc + sae.b_enc
                    sae.b_enc.sub_(z.quantile(0.95, dim=0) - getattr(sae, "init_threshold", 0))
            trainer = SAETrainer(sae, cfg, 4, torch.device("cpu"))
            trainer.autocast = autocast
            parts, _ = trainer.step(x)
            assert all(p.dtype == torch.float32 and torch.isfinite(p).all()
                       for p in sae.parameters())
            losses[autocast, sparse] = parts["mse"].item()
    for sparse in (False, True):
        assert losses[True, sparse] == pytest.approx(losses[False, sparse], rel=0.03)
        assert losses[True, sparse] != losses[False, sparse]  # bf16 products really ran
