"""Ablation and steering edit exactly the feature's share of the activation."""

import pytest
import torch

from conftest import identity_sae
from dictlearn.analysis.config import Interventions
from dictlearn.analysis.evals import evaluate_sae
from dictlearn.analysis.interventions import (ablate, feature_edit, feature_interventions,
                                              steer)
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge

HOOK = "blocks.1.mlp.hook_post"


@pytest.fixture(scope="module")
def model(checkpoint, prepared):
    bridge = load_bridge(checkpoint)
    return bridge, identity_sae(bridge.cfg.d_mlp), load_split(prepared, "validation")


def test_the_edit_sets_one_feature_and_leaves_the_rest(model):
    bridge, sae, _ = model
    act = torch.randn(2, 5, bridge.cfg.d_mlp).abs()  # the identity SAE's +x features fire
    edited = feature_edit(sae, 3, 7.0)(act)
    assert torch.allclose(sae.encode(edited)[..., 3], torch.full((2, 5), 7.0), atol=1e-5)
    rest = [i for i in range(act.shape[-1]) if i != 3]
    assert torch.equal(edited[..., rest], act[..., rest])


def test_clamping_a_feature_to_what_it_is_changes_nothing(model):
    bridge, sae, val = model
    ids = val.ids[:3]
    _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n == HOOK)
    a = sae.encode(cache[HOOK])[0, 4, 0].item()  # feature 0 at one position...
    r = ablate(bridge, sae, HOOK, 0, ids[:1], torch.tensor([4]), a, 3)
    # ...set to its own value only there would be exact; set everywhere it moves the loss
    assert set(r) == {"loss_change", "promoted", "promoted_change", "suppressed",
                      "suppressed_change"}
    dead = sae.d_sae - 1  # -x's last unit: clamping it to 0 where it is 0 changes nothing
    silent = sae.encode(cache[HOOK])[..., dead] == 0
    if silent.all():
        r = ablate(bridge, sae, HOOK, dead, ids, torch.tensor([1, 2, 3]), 0.0, 3)
        assert r["loss_change"] == pytest.approx(0.0, abs=1e-6)


def test_steering_is_seeded_and_the_record_names_what_it_did(model):
    bridge, sae, val = model
    prompt = val.ids[0, :6]
    a = steer(bridge, sae, HOOK, 0, 50.0, prompt, 5, 0.8, seed=1)
    assert a == steer(bridge, sae, HOOK, 0, 50.0, prompt, 5, 0.8, seed=1)
    assert len(a[0]) == len(a[1]) == 5
    _, stats = evaluate_sae(bridge, sae, HOOK, val.ids[:8], val.labels[:8], 2, 8, 4, 0.5, "cpu")
    cfg = Interventions(features=2, contexts=3, top_tokens=4, steer_scale=2.0,
                        steer_tokens=4, temperature=1.0)
    record, metrics = feature_interventions(bridge, sae, HOOK, stats, val.ids[:8], cfg, "cpu")
    assert len(record["features"]) == 2 and set(metrics) == {
        "ablation_loss_change_zero", "ablation_loss_change_mean"}
    row = record["per_feature"][str(record["features"][0])]
    assert len(row["zero"]["promoted"]) == 4 and len(row["steer"]["steered"]) <= 4
