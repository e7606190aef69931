import math

import pytest
import torch

from conftest import identity_sae
from dictlearn.analysis.evals import ce_loss_recovered, evaluate_sae
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge


def test_ce_loss_recovered_formula():
    assert ce_loss_recovered(2.0, 2.0, 4.0) == 1.0
    assert ce_loss_recovered(2.0, 4.0, 4.0) == 0.0
    assert ce_loss_recovered(2.0, 3.0, 4.0) == 0.5
    assert math.isnan(ce_loss_recovered(2.0, 2.0, 2.0))


@pytest.fixture(scope="module")
def run(checkpoint, prepared):
    bridge = load_bridge(checkpoint)
    val = load_split(prepared, "validation")
    return bridge, val


def test_perfect_reconstruction_scores_one(run):
    bridge, val = run
    d = bridge.cfg.d_mlp
    metrics, stats = evaluate_sae(bridge, identity_sae(d), "blocks.1.mlp.hook_post", val.ids,
                                  val.labels, 2, batch_size=8, top_k=4, dense_threshold=0.1,
                                  device=torch.device("cpu"))
    assert metrics["explained_variance"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["mse"] == pytest.approx(0.0, abs=1e-10)
    assert metrics["ce_loss_spliced"] == pytest.approx(metrics["ce_loss_clean"], abs=1e-5)
    assert metrics["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-4)
    assert metrics["ce_loss_zero"] > metrics["ce_loss_clean"]
    assert metrics["eval_tokens"] == val.ids.numel()
    # the top example of a live feature really is where it fired hardest
    j = int(stats["frequency"].argmax())
    seq, pos = divmod(int(stats["top_where"][j, 0]), val.ids.shape[1])
    _, cache = bridge.run_with_cache(val.ids[seq:seq + 1],
                                     names_filter=["blocks.1.mlp.hook_post"])
    act = cache["blocks.1.mlp.hook_post"][0, pos]
    expected = torch.relu(torch.cat([act, -act]))[j]
    assert float(stats["top_values"][j, 0]) == pytest.approx(float(expected), rel=1e-4)


def test_zero_sae_recovers_nothing(run):
    bridge, val = run
    d = bridge.cfg.d_mlp
    sae = identity_sae(d)
    with torch.no_grad():
        sae.W_dec.zero_()
    metrics, _ = evaluate_sae(bridge, sae, "blocks.1.mlp.hook_post", val.ids[:8], val.labels[:8],
                              2, 8, 4, 0.1, torch.device("cpu"))
    assert metrics["ce_loss_recovered"] == pytest.approx(0.0, abs=1e-4)
    assert metrics["explained_variance"] <= 0.0


def test_feature_and_neuron_statistics_add_up(checkpoint, prepared):
    bridge = load_bridge(checkpoint)
    val = load_split(prepared, "validation")
    sae = identity_sae(bridge.cfg.d_mlp)
    _, stats = evaluate_sae(bridge, sae, "blocks.1.mlp.hook_post", val.ids, val.labels, 2, 8, 4,
                            0.1, "cpu")
    n_tok = val.ids.numel()
    # every firing lands in exactly one histogram bin
    fires = stats["activation_histogram"].sum(1)
    assert torch.allclose(fires, stats["frequency"] * n_tok, rtol=1e-5)
    assert stats["label_count"].sum() == n_tok
    # the identity SAE's first d features are the neurons' positive parts
    d = bridge.cfg.d_mlp
    assert torch.allclose(stats["neuron_label_mass"], stats["label_mass"][:d], rtol=1e-4)
    assert torch.allclose(stats["neuron_frequency"], stats["frequency"][:d])
