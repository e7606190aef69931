import json

import torch
from safetensors.torch import save_file

from dictlearn.evals import context_activations, evaluate_sae
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.prepared import load_split
from dictlearn.report.build import ModelInputs, SAEInputs, build_report
from test_evals import identity_sae


def test_report_renders_features_with_every_token_escaped(checkpoint, prepared, tmp_path):
    bridge = load_bridge(checkpoint)
    val = load_split(prepared, "validation")
    hook = "blocks.1.mlp.hook_post"
    sae = identity_sae(bridge.cfg.d_mlp)
    metrics, stats = evaluate_sae(bridge, sae, hook, val.ids, val.labels, 2, 8, 4, 0.1, "cpu")
    stats["top_context_acts"] = context_activations(bridge, sae, hook, val.ids,
                                                    stats["top_where"], 6, 2, 8, "cpu")
    save_file({**stats, "input_ids": val.ids, "labels": val.labels},
              str(tmp_path / "features.safetensors"),
              metadata={"label_names": json.dumps(val.label_names), "context_left": "6"})
    for name, obj in (("lm", {"val_loss": 3.0}), ("train", {"steps": 1}), ("eval", metrics)):
        (tmp_path / f"{name}.json").write_text(json.dumps(obj))
    (tmp_path / "samples.md").write_text("def f(): return '<script>alert(1)</script>'")
    sae_in = SAEInputs(name="text-<b>", train_metrics=tmp_path / "train.json",
                       eval_metrics=tmp_path / "eval.json",
                       features=tmp_path / "features.safetensors")
    model = ModelInputs(name="text", domain="text", lm_metrics=tmp_path / "lm.json",
                        samples=tmp_path / "samples.md", checkpoint=checkpoint, saes=[sae_in])
    html = build_report([model], n_features=5, n_examples=3)
    assert html.count('class="feature"') == 5
    assert html.count('class="focus"') == 15  # one highlighted token per context
    # the tiny corpus is full of <script> tags; none may reach the page unescaped
    assert "<script" not in html.lower() and "text-<b>" not in html
    assert "&lt;" in html and "explained_variance" in html
    assert torch.isfinite(stats["top_values"][:, 0]).all()
