"""ReLU SAE with the decoder-norm-weighted L1 penalty."""

import numpy as np
import torch
from sae_fixtures import CFG, RUN, small_sae, sparse_store

from dictlearn.sae import build_sae, load_sae, save_sae
from dictlearn.sae.io import read_cfg
from dictlearn.sae.trainer import train_sae


def test_training_learns_a_sparse_faithful_code(tmp_path):
    store = sparse_store(tmp_path / "s.zarr")
    sae, cfg = small_sae("relu", store.d)
    assert sae.l1_coeff == sae.sparsity_coeff == RUN.sae.l1_coeff == 1.0
    result = train_sae(sae, store, cfg, torch.device("cpu"))
    x = torch.from_numpy(store.read("acts").astype(np.float32))
    with torch.no_grad():
        f = sae.encode(x)
        ev = 1 - (sae.decode(f) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert ev > 0.9  # the input scale was folded in: raw activations in, raw out
    assert (f > 0).float().sum(1).mean() < 16  # sparse: far fewer than d_sae active
    assert result["log_density"].shape == (RUN.sae.d_sae,)
    assert result["steps"] == CFG.training_tokens // CFG.batch_size
    # machine-dependent figures apart from the metrics
    assert set(result["timing"]) == {"tokens_per_s", "seconds"}
    assert "seconds" not in result and "tokens_per_s" not in result


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
    sae = build_sae("relu", 8, 16, l1_coeff=2.5)
    sae.init_weights(torch.Generator().manual_seed(0))
    save_sae(sae, tmp_path, torch.full((16,), -2.0), {"hook_name": "blocks.0.mlp.hook_post"})
    cfg = read_cfg(tmp_path)
    assert cfg["architecture"] == "standard" and cfg["d_in"] == 8 and cfg["d_sae"] == 16
    assert cfg["metadata"]["dictlearn_hparams"] == {"l1_coeff": 2.5}
    assert cfg["apply_b_dec_to_input"] is False and cfg["metadata"]["hook_name"]
    from safetensors.torch import load_file

    w = load_file(str(tmp_path / "sae_weights.safetensors"))
    assert w["W_enc"].shape == (8, 16) and w["W_dec"].shape == (16, 8)
    assert load_file(str(tmp_path / "sparsity.safetensors"))["sparsity"].shape == (16,)
    back = load_sae(tmp_path)
    assert back.l1_coeff == 2.5  # the SAE carries its coefficient
    x = torch.randn(4, 8)
    assert torch.equal(back.encode(x), sae.encode(x))
