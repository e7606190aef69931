"""The feature browser: a site of an index (each SAE's feature density and best features), a
searchable list and a page per feature linked to its neighbours, every token escaped and
readable; rendered in headless Chromium with no console errors."""

import json
import os
import re
import shutil
import subprocess

import pytest
import torch
from safetensors.torch import save_file

from conftest import identity_sae
from dictlearn.analysis.config import Interventions
from dictlearn.analysis.evals import context_activations, evaluate_sae
from dictlearn.analysis.interventions import feature_interventions
from dictlearn.analysis.frequency import frequency_metrics, live_by_frequency
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.report.build import ModelInputs, SAEInputs, build_report
from dictlearn.report.features import FeatureStats, label_purity
from dictlearn.sae import save_sae

HOOK = "blocks.1.mlp.hook_post"


@pytest.fixture(scope="module")
def site(checkpoint, prepared, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    bridge = load_bridge(checkpoint)
    val = load_split(prepared, "validation")
    sae = identity_sae(bridge.cfg.d_mlp)
    metrics, stats = evaluate_sae(bridge, sae, HOOK, val.ids, val.labels, 2, 8, 4, 0.1, "cpu")
    metrics.update(frequency_metrics(stats["frequency"], sae.W_dec))
    stats["top_context_acts"] = context_activations(bridge, sae, HOOK, val.ids,
                                                    stats["top_where"], 6, 2, 8, "cpu")
    save_file({**stats, "input_ids": val.ids, "labels": val.labels},
              str(tmp / "features.safetensors"),
              metadata={"features": json.dumps({"label_names": val.label_names,
                                                "context_left": 6, "hook": HOOK})})
    save_sae(sae, tmp / "sae", torch.zeros(sae.d_sae), {"hook_name": HOOK})
    record, _ = feature_interventions(
        bridge, sae, HOOK, stats, val.ids, Interventions(
            features=2, contexts=3, top_tokens=3, steer_scale=4.0, steer_tokens=4,
            temperature=1.0), "cpu")
    (tmp / "interventions.json").write_text(json.dumps(record))
    for name, obj in (("lm", {"val_loss": 3.0}), ("train", {"steps": 1}), ("eval", metrics)):
        (tmp / f"{name}.json").write_text(json.dumps(obj))
    (tmp / "samples.md").write_text("def f(): return '<script>alert(1)</script>'")
    sae_in = SAEInputs(name="text-b", train_metrics=tmp / "train.json",
                       eval_metrics=tmp / "eval.json", features=tmp / "features.safetensors",
                       weights=tmp / "sae")
    model = ModelInputs(name="text", domain="text", lm_metrics=tmp / "lm.json",
                        samples=tmp / "samples.md", checkpoint=checkpoint, saes=[sae_in])
    # a dictionary family: text-b, then a larger text-c the report has no pages for
    top = int(live_by_frequency(stats["frequency"])[0])
    leaf = {"cosine": 0.8, "descendants": 0, "children": []}
    (tmp / "fam.json").write_text(json.dumps({
        "min_cosine": 0.7,
        "members": [{"name": "text-b", "size": 1.0, "d_sae": sae.d_sae, "live": 3},
                    {"name": "text-c", "size": 2.0, "d_sae": 2 * sae.d_sae, "live": 5}],
        "pairs": [{"small": "text-b", "large": "text-c", "parent": [], "cosine": [],
                   "children": {str(top): [5, 7]}}],
        "trees": [{"feature": top, "cosine": None, "descendants": 2, "children": [
            {**leaf, "feature": 5, "cosine": 0.9}, {**leaf, "feature": 7}]}]}))
    (tmp / "families.json").write_text(json.dumps({"fam": {"text-c": {
        "live_parents": 3, "live_features": 5, "mean_best_cosine": 0.61, "close_fraction": 0.4,
        "mean_children": 2.0, "split_parents": 1}}}))
    out = tmp / "site"
    out.mkdir()
    build_report([model], out, n_features=5, n_examples=3, families={"fam": tmp / "fam.json"},
                 families_metrics=tmp / "families.json")
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


def test_feature_pages_step_to_the_previous_and_next_and_back_to_the_list(site):
    out, _ = site
    folder = out / "saes" / "text-b" / "f"
    ids = sorted(int(p.stem) for p in folder.glob("*.html"))
    for i, j in enumerate(ids):
        html = (folder / f"{j}.html").read_text()
        assert 'href="../index.html"' in html  # the SAE's feature list
        prev = re.search(r'<a rel="prev" href="(\d+)\.html"', html)
        nxt = re.search(r'<a rel="next" href="(\d+)\.html"', html)
        assert (int(prev[1]) if prev else None) == (ids[i - 1] if i else None)
        assert (int(nxt[1]) if nxt else None) == (ids[i + 1] if i + 1 < len(ids) else None)


def test_sae_page_draws_rank_frequency_beside_density_with_its_fit(site):
    out, stats = site
    sae_page = (out / "saes" / "text-b" / "index.html").read_text()
    assert "feature density" in sae_page and "rank–frequency of live features" in sae_page
    assert "(power-law fit: slope" in sae_page  # from the eval metrics (the fixture computes them)
    line = re.search(r'<polyline points="([^"]*)"', sae_page)[1].split()
    live = int((stats["frequency"] > 0).sum())
    assert 2 <= len(line) <= min(live, 360)  # one point per pixel column at most
    xs = [float(p.split(",")[0]) for p in line]
    assert xs == sorted(xs)


def test_every_bar_of_the_label_chart_is_named(site):
    out, _ = site
    names = FeatureStats.load(out.parent / "features.safetensors").label_names
    for p in (out / "saes" / "text-b" / "f").glob("*.html"):
        bars = re.search(r'<table class="bars">(.*?)</table>', p.read_text())[1]
        assert re.findall(r'<tr><td class="k">([^<]*)</td>', bars) == names


def test_index_shows_each_saes_density_and_best_features(site):
    out, _ = site
    summary = (out / "index.html").read_text().split('id="sae-features"')[1]
    assert "feature density" in summary and "dead, not drawn" in summary
    best = re.findall(r'href="saes/text-b/f/(\d+)\.html"', summary)
    assert 1 <= len(best) <= 5
    assert all((out / "saes" / "text-b" / "f" / f"{j}.html").is_file() for j in best)


def test_feature_list_is_searchable_and_no_token_shows_as_a_replacement_character(site):
    out, _ = site
    sae_page = (out / "saes" / "text-b" / "index.html").read_text()
    assert 'class="search"' in sae_page and 'data-table="features"' in sae_page
    assert 'id="features"' in sae_page and "promoted tokens" in sae_page
    for p in out.rglob("*.html"):
        assert "\ufffd" not in p.read_text(), p  # '�': a split UTF-8 byte decoded alone


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
    family_page = (out / "families" / "fam.html").as_uri()
    for url in ((out / "index.html").as_uri(), sae_page, feature_page, family_page):
        run = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                             timeout=300, check=True)
        # our pages log nothing: any console line (an uncaught error, console.error) fails
        console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
        assert not console, console
        assert "</html>" in run.stdout
    # the feature list opened on a search shows just the rows that hold the word
    dom = subprocess.run([*flags, "--dump-dom", f"{sae_page}#search=shakespeare"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    rows = re.findall(r'<tr class="feature-row"([^>]*)>(.*?)</tr>', dom)
    assert rows  # the rows are in the live DOM
    assert all(("display: none" in attrs) == ("shakespeare" not in row) for attrs, row in rows)
    shown = sum("display: none" not in attrs for attrs, _ in rows)
    assert f"{shown} of {len(rows)} shown" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1000,800", feature_page],
                   capture_output=True, timeout=300, check=True)
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    lo, hi = pixels.getextrema()
    assert hi - lo > 100, "the screenshot is blank"


def test_intervened_features_show_ablation_and_steering(site):
    out, _ = site
    record = json.loads((out.parent / "interventions.json").read_text())
    page = (out / "saes" / "text-b" / "f" / f"{record['features'][0]}.html").read_text()
    assert "Ablation on its top contexts" in page and "next-token loss change" in page
    assert "<h4>unsteered</h4>" in page and "<h4>steered</h4>" in page
    assert "4× its max activation" in page


def test_family_page_draws_the_splitting_trees_linked_to_feature_pages(site):
    out, stats = site
    index = (out / "index.html").read_text()
    assert 'href="families/fam.html"' in index and "Dictionary families" in index
    fam = (out / "families" / "fam.html").read_text()
    top = int(live_by_frequency(stats["frequency"])[0])
    assert f'<a href="../saes/text-b/f/{top}.html">feature {top}</a>' in fam
    assert (out / "saes" / "text-b" / "f" / f"{top}.html").is_file()
    assert "text-b → text-c" in fam and "0.61" in fam  # the pair's measures
    tree = re.search(r'<ul class="tree">(.*)</ul>', fam)[1]
    # the root, then its two children in the larger member (no pages there: no links), with
    # their cosines to it
    assert re.search(r"1×</span> <a [^>]*>feature \d+</a> · <code>.*<ul><li>.*2×</span> "
                     r"feature 5 · cos 0\.90<.*2×</span> feature 7 · cos 0\.80<", tree)
    assert 'href="../index.html"' in fam
