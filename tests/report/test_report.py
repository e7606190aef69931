"""The feature browser: a site of an index, a page per SAE and per feature, every token
escaped; rendered in headless Chromium with no console errors."""

import json
import os
import re
import shutil
import subprocess

import pytest
import torch
from safetensors.torch import save_file

from conftest import identity_sae
from dictlearn.analysis.evals import context_activations, evaluate_sae
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.report.build import ModelInputs, SAEInputs, build_report
from dictlearn.report.features import label_purity
from dictlearn.sae import save_sae

HOOK = "blocks.1.mlp.hook_post"


@pytest.fixture(scope="module")
def site(checkpoint, prepared, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    bridge = load_bridge(checkpoint)
    val = load_split(prepared, "validation")
    sae = identity_sae(bridge.cfg.d_mlp)
    metrics, stats = evaluate_sae(bridge, sae, HOOK, val.ids, val.labels, 2, 8, 4, 0.1, "cpu")
    stats["top_context_acts"] = context_activations(bridge, sae, HOOK, val.ids,
                                                    stats["top_where"], 6, 2, 8, "cpu")
    save_file({**stats, "input_ids": val.ids, "labels": val.labels},
              str(tmp / "features.safetensors"),
              metadata={"features": json.dumps({"label_names": val.label_names,
                                                "context_left": 6, "hook": HOOK})})
    save_sae(sae, tmp / "sae", torch.zeros(sae.d_sae), {"hook_name": HOOK})
    for name, obj in (("lm", {"val_loss": 3.0}), ("train", {"steps": 1}), ("eval", metrics)):
        (tmp / f"{name}.json").write_text(json.dumps(obj))
    (tmp / "samples.md").write_text("def f(): return '<script>alert(1)</script>'")
    sae_in = SAEInputs(name="text-b", train_metrics=tmp / "train.json",
                       eval_metrics=tmp / "eval.json", features=tmp / "features.safetensors",
                       weights=tmp / "sae")
    model = ModelInputs(name="text", domain="text", lm_metrics=tmp / "lm.json",
                        samples=tmp / "samples.md", checkpoint=checkpoint, saes=[sae_in])
    out = tmp / "site"
    out.mkdir()
    build_report([model], out, n_features=5, n_examples=3)
    return out, stats


def test_site_has_index_sae_table_and_feature_pages(site):
    out, stats = site
    index = (out / "index.html").read_text()
    sae_page = (out / "saes" / "text-b" / "index.html").read_text()
    pages = sorted((out / "saes" / "text-b" / "f").glob("*.html"))
    assert 'href="saes/text-b/index.html"' in index and "explained_variance" in index
    assert "Induction heads" in index and "Neurons vs features" in index
    assert sae_page.count('class="feature-row"') == int((stats["frequency"] > 0).sum())
    assert len(pages) == 5
    for p in pages:
        html = p.read_text()
        assert html.count('class="focus"') >= 1  # contexts with the focus token marked
        assert "Promoted tokens" in html and "activation histogram" in html


def test_no_page_lets_a_token_through_unescaped(site):
    out, _ = site
    for p in out.rglob("*.html"):
        html = p.read_text()
        # the tiny corpus is full of <script> tags: only our own sorting script may appear
        assert html.lower().count("<script") == 1, p
        assert re.search(r"<script>\s*document\.querySelectorAll", html), p
    assert "&lt;script&gt;" in (out / "index.html").read_text()  # the samples, as text


def test_label_purity_ignores_base_rates():
    count = torch.tensor([900.0, 100.0])
    mass = torch.tensor([[90.0, 10.0],   # fires in proportion to the tokens: no preference
                         [0.0, 50.0],    # one label only
                         [0.0, 0.0]])    # silent
    label, purity = label_purity(mass, count)
    assert torch.allclose(purity, torch.tensor([0.5, 1.0, 0.0]))
    assert label[1] == 1


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (make test installs it)")
def test_pages_render_in_headless_chromium_without_console_errors(site, tmp_path):
    out, _ = site
    assert chromium(), "chromium not found: CI must install Debian's chromium"
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0"]
    sae_page = (out / "saes" / "text-b" / "index.html").as_uri()
    feature_page = next((out / "saes" / "text-b" / "f").glob("*.html")).as_uri()
    for url in ((out / "index.html").as_uri(), sae_page, feature_page):
        run = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                             timeout=300, check=True)
        # our pages log nothing: any console line (an uncaught error, console.error) fails
        console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
        assert not console, console
        assert "</html>" in run.stdout
    dom = subprocess.run([*flags, "--dump-dom", sae_page], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert dom.count('class="feature-row"') > 0  # the rows are in the live DOM
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1000,800", feature_page],
                   capture_output=True, timeout=300, check=True)
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    lo, hi = pixels.getextrema()
    assert hi - lo > 100, "the screenshot is blank"
