import numpy as np
import pytest
import torch

from dictlearn.config import SAE as SAEConfig
from dictlearn.sae import build_sae, load_sae, save_sae
from dictlearn.sae.base import read_cfg
from dictlearn.sae.trainer import lr_multiplier, resample_dead_features, train_sae
from dictlearn.store import ActivationStore, ActivationWriter


def sparse_store(path, n=8192, d=16, n_feat=32, seed=0):
    """Activations that really are sparse sums of `n_feat` directions."""
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_feat, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    coef = rng.exponential(1.0, (n, n_feat)) * (rng.random((n, n_feat)) < 0.06)
    acts = (coef @ dirs * 3 + 0.5).astype(np.float16)
    w = ActivationWriter(path, n, d, 256, 8, {"hook": "blocks.0.mlp.hook_post"})
    z = np.zeros(n)
    w.append(acts, token_ids=z, seq=z, pos=z, label=z)
    w.close()
    return ActivationStore(path)


CFG = SAEConfig(layer=0, d_sae=64, l1_coeff=1.0, lr=3e-3, warmup_steps=10, batch_size=256,
                training_tokens=256 * 300, buffer_chunks=8, resample_every=100,
                resample_until=0.5, seed=0)


def test_training_learns_a_sparse_faithful_code(tmp_path):
    store = sparse_store(tmp_path / "s.zarr")
    sae = build_sae("relu", store.d, CFG.d_sae)
    result = train_sae(sae, store, CFG, torch.device("cpu"))
    x = torch.from_numpy(store.read("acts").astype(np.float32))
    with torch.no_grad():
        f = sae.encode(x)
        ev = 1 - (sae.decode(f) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert ev > 0.9  # the input scale was folded in: raw activations in, raw out
    assert (f > 0).float().sum(1).mean() < 16  # sparse: far fewer than d_sae active
    assert result["log_density"].shape == (CFG.d_sae,)


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


def test_fold_input_scale_keeps_encodings():
    sae = build_sae("relu", 8, 16)
    sae.init_weights(torch.Generator().manual_seed(0))
    x = torch.randn(32, 8)
    with torch.no_grad():
        f, x_hat = sae.encode(x * 3.0), sae(x * 3.0) / 3.0
        sae.fold_input_scale(3.0)
        assert torch.allclose(sae.encode(x), f, atol=1e-5)
        assert torch.allclose(sae(x), x_hat, atol=1e-5)


def test_saelens_layout_round_trip(tmp_path):
    sae = build_sae("relu", 8, 16)
    sae.init_weights(torch.Generator().manual_seed(0))
    save_sae(sae, tmp_path, torch.full((16,), -2.0), {"hook_name": "blocks.0.mlp.hook_post"})
    cfg = read_cfg(tmp_path)
    assert cfg["architecture"] == "standard" and cfg["d_in"] == 8 and cfg["d_sae"] == 16
    assert cfg["apply_b_dec_to_input"] is False and cfg["metadata"]["hook_name"]
    from safetensors.torch import load_file

    w = load_file(str(tmp_path / "sae_weights.safetensors"))
    assert w["W_enc"].shape == (8, 16) and w["W_dec"].shape == (16, 8)
    assert load_file(str(tmp_path / "sparsity.safetensors"))["sparsity"].shape == (16,)
    back = load_sae(tmp_path)
    x = torch.randn(4, 8)
    assert torch.equal(back.encode(x), sae.encode(x))


def test_lr_schedule():
    assert lr_multiplier(0, 100, 10, 0.2) == pytest.approx(0.1)
    assert lr_multiplier(50, 100, 10, 0.2) == 1.0
    assert lr_multiplier(90, 100, 10, 0.2) == pytest.approx(0.5)


def test_corrupt_weights_are_a_clear_error(tmp_path):
    from dictlearn.runtime import InputError

    sae = build_sae("relu", 8, 16)
    sae.init_weights(torch.Generator().manual_seed(0))
    save_sae(sae, tmp_path, torch.zeros(16), {"hook_name": "blocks.0.mlp.hook_post"})
    (tmp_path / "sae_weights.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match="sae_weights.safetensors: not a readable safetensors"):
        load_sae(tmp_path)


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
