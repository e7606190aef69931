"""Hook sites (params `sae.site`): every site is a hook of the model with the width we say,
caching and splicing see it flat, and the params name a wrong site or layer before any work."""

import copy

import pytest
import torch

from conftest import TINY_LM, identity_sae, profile
from dictlearn.acts.caching import cache_activations
from dictlearn.acts.config import CacheActsRun
from dictlearn.acts.store import ActivationStore, store_path
from dictlearn.analysis.evals import evaluate_sae
from dictlearn.core.errors import ParamsError
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.lm.hooks import iter_hook_activations, losses_with_hook
from dictlearn.lm.sites import SITES, hook_name, site_width
from dictlearn.params.resolve import stage_settings
from dictlearn.params.schema import parse_params


@pytest.fixture(scope="module")
def bridge(checkpoint):
    return load_bridge(checkpoint)


@pytest.mark.parametrize("site", sorted(SITES))
def test_every_site_is_a_hook_of_the_model_with_its_width(bridge, prepared, site):
    hook = hook_name(site, 1)
    assert hook in bridge.hook_dict
    ids = load_split(prepared, "validation").ids[:3]
    (_, acts), = iter_hook_activations(bridge, ids, [hook], 8, torch.device("cpu"))
    assert acts[hook].shape == (3, ids.shape[1], site_width(site, TINY_LM.n_embd))


@pytest.mark.parametrize("site", sorted(SITES))
def test_splicing_an_exact_reconstruction_changes_nothing(bridge, prepared, site):
    """The SAE sees the site flat and its output goes back in the hook's own shape (attn_z:
    [batch, pos, head, d_head]); an identity SAE leaves every loss as it was."""
    val = load_split(prepared, "validation")
    hook = hook_name(site, 1)
    metrics, _ = evaluate_sae(bridge, identity_sae(site_width(site, TINY_LM.n_embd)), hook,
                              val.ids[:8], val.labels[:8], 2, batch_size=8, top_k=2,
                              dense_threshold=0.1, device=torch.device("cpu"))
    assert metrics["ce_loss_spliced"] == pytest.approx(metrics["ce_loss_clean"], abs=1e-5)
    assert metrics["explained_variance"] == pytest.approx(1.0, abs=1e-6)
    # zeroing the site does change the loss: the hook really is on the forward path
    x = val.ids[:4]
    zero = losses_with_hook(bridge, x, hook, torch.zeros_like).mean()
    assert zero != pytest.approx(losses_with_hook(bridge, x, hook, None).mean().item(), abs=1e-4)


def test_cache_acts_writes_a_store_per_hook_at_each_width(bridge, checkpoint, prepared, tmp_path):
    split = load_split(prepared, "train")
    hooks = [hook_name("attn_z", 0), hook_name("mlp_post", 1)]
    cfg = CacheActsRun(max_tokens=2000, batch_size=8, chunk_rows=256, chunks_per_shard=2,
                       device="cpu", url=None, storage_options={}, hooks=hooks)
    stats = cache_activations(bridge, checkpoint, "tiny", split, cfg, tmp_path,
                              torch.device("cpu"))
    assert stats["hooks"] == hooks
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{h}.zarr" for h in hooks)
    assert ActivationStore(store_path(tmp_path, hooks[0])).d == TINY_LM.n_embd
    assert ActivationStore(store_path(tmp_path, hooks[1])).d == 4 * TINY_LM.n_embd


def test_each_model_caches_exactly_the_hooks_its_saes_read():
    raw = profile("ci")
    raw["saes"]["text-resid"] = {"model": "text", "domain": "text", "site": "resid_post"}
    settings = stage_settings(parse_params(raw))
    assert settings["cache_acts/text.json"]["hooks"] == ["blocks.1.hook_resid_post",
                                                        "blocks.1.mlp.hook_post"]
    assert settings["cache_acts/strokes.json"]["hooks"] == ["blocks.1.attn.hook_z"]
    assert settings["cache_acts/culture-0.json"]["hooks"] == ["blocks.1.mlp.hook_post"]
    # a family member's d_sae follows the width of the site it reads
    raw["saes"]["text-topk-x1"]["site"] = raw["saes"]["text-topk-x2"]["site"] = "resid_pre"
    runs = stage_settings(parse_params(raw))
    n_embd = raw["train_lm"]["text"]["n_embd"]
    assert runs["train_sae/text-topk-x2.json"]["sae"]["d_sae"] == 2 * n_embd


@pytest.mark.parametrize("edit,message", [
    (lambda r: r["sae"].update(site="mlp_pre"), "sae.site"),
    (lambda r: r["saes"]["text"].update(site="resid"), "saes.text.site"),
    (lambda r: r["saes"]["text"].update(layer=2), "saes.text.layer: 2, but models.text has "
                                                  "blocks 0..1"),
    (lambda r: r["saes"]["culture-1"].update(site="resid_pre"), "universality.saes: all at one "
                                                                "hook expected"),
])
def test_a_wrong_site_or_layer_is_refused_naming_the_key(edit, message):
    raw = copy.deepcopy(profile("ci"))
    edit(raw)
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        parse_params(raw)


@pytest.mark.parametrize("site", sorted(SITES))
def test_feature_logit_effects_go_through_what_writes_the_site(checkpoint, site):
    """The report's promoted/suppressed tokens: a feature's decoder row, written into the
    residual stream by the module that writes its site (none at a residual site), through
    the final LayerNorm's gain to the unembedding."""
    from transformers import GPT2LMHeadModel

    from dictlearn.report.probes import output_effects

    model = GPT2LMHeadModel.from_pretrained(str(checkpoint)).eval()
    block = model.transformer.h[1]
    writes = {"mlp_post": block.mlp.c_proj, "attn_z": block.attn.c_proj}.get(site)
    W_dec = torch.randn(5, site_width(site, TINY_LM.n_embd),
                        generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        resid = W_dec if writes is None else writes(W_dec) - writes.bias
        expected = (resid * model.transformer.ln_f.weight) @ model.lm_head.weight.T
    up_ids, up, down_ids, down = output_effects(checkpoint, hook_name(site, 1), W_dec, k=3)
    assert torch.allclose(up, expected.topk(3, dim=1).values, atol=1e-4)
    assert torch.equal(up_ids, expected.topk(3, dim=1).indices)
    assert torch.allclose(down, expected.topk(3, dim=1, largest=False).values, atol=1e-4)
