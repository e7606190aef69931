"""What every architecture shares (sae/base.py, sae/registry.py): it learns a sparse faithful
code, folds the input scale, round-trips the SAELens layout exactly, rejects bad params."""

import numpy as np
import pytest
import torch

from safetensors.torch import load_file
from sae_fixtures import NAMES, random_sae, small_sae, sparse_store

from conftest import profile
from dictlearn.params import ParamsError, parse_params
from dictlearn.sae import ARCHITECTURES, build_sae, load_sae, save_sae
from dictlearn.sae.io import read_cfg
from dictlearn.sae.trainer import train_sae

SAELENS_NAME = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu",
                "jumprelu": "jumprelu"}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "relu"])  # relu: test_relu.py
def test_each_architecture_learns_a_sparse_faithful_code(name, tmp_path):
    store = sparse_store(tmp_path / "s.zarr")
    sae, cfg = small_sae(name, store.d)
    result = train_sae(sae, store, cfg, torch.device("cpu"))
    x = torch.from_numpy(store.read("acts").astype(np.float32))
    with torch.no_grad():
        f = sae.encode(x)  # the inference path: batchtopk's threshold, raw activations in
        ev = 1 - (sae.decode(f) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    l0 = (f > 0).float().sum(1)
    assert ev > 0.9, f"{name}: explained variance {ev:.3f}"
    assert l0.mean() < 10, f"{name}: L0 {l0.mean():.1f}"
    if name == "topk":
        assert l0.max() <= 4
    if name == "batchtopk":  # the threshold keeps about k per token without seeing the batch
        assert 2 < l0.mean() < 8
    if not ARCHITECTURES[name].resample_dead:
        assert result["resampled"] == 0  # AuxK instead
    save_sae(sae.cpu(), tmp_path / "sae", result["log_density"], {"hook_name": "h"})
    assert torch.equal(load_sae(tmp_path / "sae").encode(x), f)


@pytest.mark.parametrize("name", NAMES)
def test_fold_input_scale_keeps_encodings(name):
    sae = random_sae(name)
    x = torch.randn(64, 8)
    with torch.no_grad():
        f, x_hat = sae.encode(x * 3.0), sae(x * 3.0) / 3.0
        sae.fold_input_scale(3.0)
        assert torch.allclose(sae.encode(x), f, atol=1e-5)
        assert torch.equal(sae.encode(x) > 0, f > 0)
        assert torch.allclose(sae(x), x_hat, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_saelens_layout_round_trip_is_exact(name, tmp_path):
    sae = random_sae(name)
    save_sae(sae, tmp_path, torch.full((32,), -2.0), {"hook_name": "blocks.0.mlp.hook_post"})
    cfg = read_cfg(tmp_path)
    assert cfg["architecture"] == SAELENS_NAME[name]
    assert cfg["metadata"]["dictlearn_architecture"] == name
    assert cfg["metadata"]["sae_lens_version"].startswith("6.")
    assert cfg["apply_b_dec_to_input"] is False
    if name == "topk":
        assert cfg["k"] == 4 and cfg["rescale_acts_by_decoder_norm"] is False
    weights = load_file(str(tmp_path / "sae_weights.safetensors"))
    extra = {"threshold"} if SAELENS_NAME[name] == "jumprelu" else set()
    assert set(weights) == {"W_enc", "W_dec", "b_enc", "b_dec"} | extra
    if extra:
        assert weights["threshold"].shape == (32,)
    back = load_sae(tmp_path)
    assert type(back) is type(sae) and back.hparams() == sae.hparams()
    for key, value in sae.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    x = torch.randn(16, 8)
    assert torch.equal(back.encode(x), sae.encode(x))


def test_corrupt_weights_are_a_clear_error(tmp_path):
    from dictlearn.core.errors import InputError

    sae = build_sae("relu", 8, 16)
    sae.init_weights(torch.Generator().manual_seed(0))
    save_sae(sae, tmp_path, torch.zeros(16), {"hook_name": "blocks.0.mlp.hook_post"})
    (tmp_path / "sae_weights.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match=r"sae_weights\.safetensors: the SAE weights file is "
                                         r"damaged .*; restore it with `dvc checkout"):
        load_sae(tmp_path)


def test_bad_architecture_params_are_named():
    r = profile("default")
    r["sae"].update(architecture="topk", k=r["sae"]["d_sae"])
    with pytest.raises(ParamsError, match=r"sae: k: .* need d_sae > k"):
        parse_params(r)
    r["sae"].update(architecture="gated")
    with pytest.raises(ParamsError, match=r"sae\.architecture"):
        parse_params(r)
    r["sae"].update(architecture="relu")
    r["sae"].update(l0_coeff=-1.0)  # a knob of every architecture is checked, used or not
    with pytest.raises(ParamsError, match=r"sae\.l0_coeff"):
        parse_params(r)
    with pytest.raises(KeyError, match="unknown SAE architecture 'gated'"):
        build_sae("gated", 8, 16)
