"""Build the report: the SAE frontier, then per model its LM metrics and samples and, per SAE,
its metrics and its most frequent live features with their top activating contexts drawn by
the domain's renderer."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open

from dictlearn.domains import get_domain
from dictlearn.domains.base import escape
from dictlearn.lm.checkpoint import load_tokenizer
from dictlearn.runtime import InputError

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f4f4f4; } td.k { text-align: left; font-family: monospace; }
.feature { border-top: 1px solid #ddd; padding: 0.5em 0; }
.ctx { display: block; white-space: normal; font-size: 0.85em; margin: 0.15em 0;
       line-height: 1.6; }
.ctx .focus { outline: 2px solid #c00; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""


@dataclass
class SAEInputs:
    name: str
    train_metrics: Path
    eval_metrics: Path
    features: Path


@dataclass
class ModelInputs:
    name: str
    domain: str
    lm_metrics: Path
    samples: Path
    checkpoint: Path
    saes: list[SAEInputs] = field(default_factory=list)


def _json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: metrics file not found; run `dvc repro` for its stage")
    return json.loads(path.read_text(encoding="utf-8"))


def _table(rows: dict[str, object]) -> str:
    cells = []
    for k, v in rows.items():
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        cells.append(f'<tr><td class="k">{escape(k)}</td><td>{escape(shown)}</td></tr>')
    return "<table>" + "".join(cells) + "</table>"


def _features_html(m: ModelInputs, sae: SAEInputs, vocab: list[str], n_features: int,
                   n_examples: int) -> str:
    domain = get_domain(m.domain)
    with safe_open(str(sae.features), framework="pt") as f:
        meta = f.metadata()
        label_names = json.loads(meta["label_names"])
        left = int(meta["context_left"])
        t = {k: f.get_tensor(k) for k in f.keys()}
    ids, seq_len = t["input_ids"], t["input_ids"].shape[1]
    freq, where, ctx = t["frequency"], t["top_where"], t["top_context_acts"]
    live = (freq > 0).nonzero().squeeze(1)
    order = live[freq[live].argsort(descending=True)][:n_features]
    out = [f"<h3>{len(order)} most frequent live features "
           f"(of {int((freq > 0).sum())} live / {len(freq)})</h3>"]
    for j in order.tolist():
        mass = t["label_mass"][j]
        top_label = int(mass.argmax())
        share = float(mass[top_label] / mass.sum()) if mass.sum() > 0 else 0.0
        out.append(f'<div class="feature" id="{escape(sae.name)}-f{j}"><b>feature {j}</b> · '
                   f"frequency {float(freq[j]):.4f} · max activation "
                   f"{float(t['top_values'][j, 0]):.3f} · "
                   f"{escape(label_names[top_label])} {share:.0%}")
        for e in range(min(n_examples, where.shape[1])):
            w = int(where[j, e])
            if w < 0 or float(t["top_values"][j, e]) <= 0:
                continue
            s, p = divmod(w, seq_len)
            acts = ctx[j, e]
            lo = p - left
            keep = [i for i in range(len(acts)) if not torch.isnan(acts[i])]
            tokens = [vocab[int(ids[s, lo + i])] for i in keep]
            values = [float(acts[i]) for i in keep]
            out.append(domain.render_html(tokens, values, keep.index(left)))
        out.append("</div>")
    return "\n".join(out)


def _sae_html(m: ModelInputs, sae: SAEInputs, vocab: list[str], n_features: int,
              n_examples: int) -> str:
    train, evals = _json(sae.train_metrics), _json(sae.eval_metrics)
    return (f'<section id="sae-{escape(sae.name)}"><h3>SAE {escape(sae.name)}</h3>'
            f"<h4>Held-out tokens</h4>{_table(evals)}"
            f"<details><summary>Training</summary>{_table(train)}</details>"
            f"{_features_html(m, sae, vocab, n_features, n_examples)}</section>")


def _frontier_html(png: Path | None) -> str:
    if png is None or not png.is_file():
        return ""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return ('<section id="frontier"><h2>Sparsity vs fidelity</h2>'
            f'<img alt="SAE frontier" style="max-width:100%" src="data:image/png;base64,{data}">'
            "</section>")


def build_report(models: list[ModelInputs], n_features: int, n_examples: int,
                 frontier_png: Path | None = None) -> str:
    sections = []
    for m in models:
        lm = _json(m.lm_metrics)
        samples = m.samples.read_text(encoding="utf-8") if m.samples.is_file() else ""
        tokenizer = load_tokenizer(m.checkpoint)
        vocab = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        sae_nav = " · ".join(f'<a href="#sae-{escape(s.name)}">{escape(s.name)}</a>'
                             for s in m.saes)
        sections.append(
            f'<section id="{escape(m.name)}"><h2>Model {escape(m.name)} '
            f"(domain {escape(m.domain)})</h2>"
            f"<h3>Language model</h3>{_table(lm)}"
            f"<details><summary>Samples</summary><pre>{escape(samples)}</pre></details>"
            f"<p>SAEs: {sae_nav}</p>"
            + "".join(_sae_html(m, s, vocab, n_features, n_examples) for s in m.saes)
            + "</section>")
    nav = " · ".join(f'<a href="#{escape(m.name)}">{escape(m.name)}</a>' for m in models)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>dictlearn report</title><style>" + CSS + "</style></head><body>"
            f"<h1>dictlearn report</h1><p>{nav}</p>" + _frontier_html(frontier_png)
            + "\n".join(sections) + "</body></html>")
