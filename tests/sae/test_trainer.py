"""The trainer (sae/trainer.py): deterministic, resamples dead features, its LR schedule,
and bf16 autocast."""

import pytest
import torch
from sae_fixtures import CFG, sparse_store

from dictlearn.config import SAE as SAEConfig
from dictlearn.sae import build_sae
from dictlearn.sae.trainer import lr_multiplier, resample_dead_features, train_sae


def test_training_is_deterministic(tmp_path):
    store = sparse_store(tmp_path / "s.zarr")
    cfg = CFG.model_copy(update={"training_tokens": 256 * 60})
    a, b = build_sae("relu", store.d, 64), build_sae("relu", store.d, 64)
    train_sae(a, store, cfg, torch.device("cpu"))
    train_sae(b, store, cfg, torch.device("cpu"))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


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
    from dictlearn.sae.trainer import SAETrainer

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 16, generator=gen)
    cfg = SAEConfig(architecture=name, d_sae=128, k=8, batch_size=512, training_tokens=512 * 4)
    losses = {}
    for autocast in (False, True):
        for sparse in (False, True):  # dense fallback (half fire), then the sparse support
            sae = build_sae(name, 16, 128, cfg)
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
