"""The four SAE architectures: each learns, keeps its sparsity promise, and round-trips."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dictlearn.config import SAE as SAEConfig
from dictlearn.config import ParamsError, parse_params
from dictlearn.sae import ARCHITECTURES, build_sae, load_sae, save_sae
from dictlearn.sae.base import read_cfg
from dictlearn.sae.batchtopk import BatchTopKSAE
from dictlearn.sae.jumprelu import JumpReluSAE
from dictlearn.sae.topk import TopKSAE
from dictlearn.sae.trainer import train_sae
from test_config import raw
from test_sae import CFG, sparse_store

NAMES = sorted(ARCHITECTURES)
# each architecture's sparsity knob, set for the synthetic data (~2 true features per token)
KNOBS = {"relu": {}, "topk": {"k": 4}, "batchtopk": {"k": 4}, "jumprelu": {"l0_coeff": 1.0}}
SAELENS_NAME = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu",
                "jumprelu": "jumprelu"}


def cfg_for(name, **extra):
    return CFG.model_copy(update={"architecture": name, **KNOBS[name], **extra})


def random_sae(name, d_in=8, d_sae=32, seed=0):
    """A freshly initialised SAE with non-zero biases and thresholds."""
    sae = build_sae(name, d_in, d_sae, SAEConfig(architecture=name, d_sae=d_sae, k=4))
    gen = torch.Generator().manual_seed(seed)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(d_sae, generator=gen) * 0.1)
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(torch.rand(d_sae, generator=gen) * 0.3)
    return sae


@pytest.mark.parametrize("name", [n for n in NAMES if n != "relu"])  # relu: test_sae.py
def test_each_architecture_learns_a_sparse_faithful_code(name, tmp_path):
    store = sparse_store(tmp_path / "s.zarr")
    cfg = cfg_for(name)
    sae = build_sae(name, store.d, cfg.d_sae, cfg)
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


def test_topk_keeps_exactly_k_per_token():
    sae = random_sae("topk")
    with torch.no_grad():
        sae.b_enc.fill_(100.0)  # every pre-activation positive: the ReLU removes none
    x = torch.randn(64, 8)
    for f in (sae.encode(x), sae.training_loss(x, 0.0)[1].to_dense()):
        assert ((f > 0).sum(1) == 4).all()
        z = x @ sae.W_enc + sae.b_enc
        assert torch.equal(f.topk(4).indices.sort().values, z.topk(4).indices.sort().values)


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


def test_bad_architecture_params_are_named():
    r = raw()
    r["sae"].update(architecture="topk", k=r["sae"]["d_sae"])
    with pytest.raises(ParamsError, match=r"sae: k: .* need d_sae > k"):
        parse_params(r)
    r["sae"].update(architecture="gated")
    with pytest.raises(ParamsError, match=r"sae\.architecture"):
        parse_params(r)
    r["sae"].update(architecture="jumprelu", l0_coeff=-1.0)
    with pytest.raises(ParamsError, match=r"sae\.l0_coeff"):
        parse_params(r)
    with pytest.raises(KeyError, match="unknown SAE architecture 'gated'"):
        build_sae("gated", 8, 16)
