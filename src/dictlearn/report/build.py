"""Build the feature browser, a static site that opens from file:// with no network:

    index.html               every model and SAE with its headline metrics, each SAE's feature
                             density and best features, the frontier, induction heads and
                             neurons vs features per model
    families/<family>.html   a dictionary family's feature splitting and its trees
    saes/<sae>/index.html    the SAE's metrics and its live features, searchable and sortable
    saes/<sae>/f/<j>.html    one page per feature (the most frequent `n_features` of each SAE),
                             linked to the previous and next one and back to the list

Each page carries its own data, so a page opens as fast as its own size allows, however many
features there are."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from tqdm import tqdm

from dictlearn.domains import get_domain
from dictlearn.domains.base import escape
from dictlearn.lm.checkpoint import load_bridge, load_tokenizer
from dictlearn.report.families import Describe, families_html
from dictlearn.report.feature_list import DENSITY, feature_list, sae_summary, top_token
from dictlearn.report.features import (FeatureStats, density_chart, feature_page, purity_chart,
                                       rank_frequency_chart)
from dictlearn.report.html import bar_chart, heat_map, kv_table, num, page, table
from dictlearn.report.probes import induction_scores, output_effects
from dictlearn.report.tokens import Vocab
from dictlearn.report.toy import toy_html
from dictlearn.core.errors import InputError

HEADLINE = ("explained_variance", "l0", "dead_fraction", "dense_fraction", "ce_loss_recovered",
            "shrinkage")
MONOSEMANTIC = 0.9  # label purity at which a unit counts as belonging to one label


@dataclass
class SAEInputs:
    name: str
    train_metrics: Path
    eval_metrics: Path
    features: Path
    weights: Path  # the SAE's folder (cfg.json, sae_weights.safetensors)


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


def _sae_meta(folder: Path) -> tuple[dict, object]:
    cfg = _json(folder / "cfg.json")
    with safe_open(str(folder / "sae_weights.safetensors"), framework="pt") as f:
        return cfg, f.get_tensor("W_dec")


def _write(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")


def _rank_frequency_title(evals: dict) -> str:
    slope, r2 = evals.get("rank_frequency_slope"), evals.get("rank_frequency_r2")
    fit = f" (power-law fit: slope {slope:.2f}, R² {r2:.3f})" if slope is not None else ""
    return f"rank–frequency of live features, log–log{fit}"


def _sae_site(m: ModelInputs, sae: SAEInputs, vocab: Vocab, out: Path, n_features: int,
              n_examples: int) -> tuple[dict, FeatureStats, str]:
    """Write saes/<name>/…; return the SAE's headline row, its statistics and its summary
    for the index."""
    train, evals = _json(sae.train_metrics), _json(sae.eval_metrics)
    cfg, W_dec = _sae_meta(sae.weights)
    stats = FeatureStats.load(sae.features)
    interventions = _json(sae.features.parent / "interventions.json")
    domain = get_domain(m.domain)
    effects = output_effects(m.checkpoint, cfg["metadata"]["hook_name"], W_dec)
    pages = sorted(stats.live()[:n_features].tolist())
    with_page = set(pages)
    folder = out / "saes" / sae.name
    knob = cfg["metadata"].get("dictlearn_architecture", "")
    body = (f"<p>model {escape(m.name)} · {escape(cfg['metadata']['hook_name'])} · "
            f"architecture {escape(knob)} · d_sae {cfg['d_sae']}</p>"
            f'<div class="grid2"><div><h3>Held-out tokens</h3>{kv_table(evals)}</div>'
            f"<div><h3>Training</h3>{kv_table(train)}</div>"
            + "<div>" + density_chart(stats["frequency"], DENSITY)
            + rank_frequency_chart(stats["frequency"], _rank_frequency_title(evals))
            + "</div></div>"
            + feature_list(stats, vocab, effects[0], with_page))
    _write(folder / "index.html", page(f"SAE {sae.name}", body, root="../../"))
    for i, j in enumerate(tqdm(pages, desc=f"report {sae.name}", unit="page", leave=False)):
        prev, nxt = pages[i - 1] if i else None, pages[i + 1] if i + 1 < len(pages) else None
        _write(folder / "f" / f"{j}.html",
               feature_page(sae.name, j, stats, domain, vocab, effects, n_examples, prev, nxt,
                            interventions))
    head = {"sae": sae.name, "model": m.name, "architecture": knob,
            **{k: evals[k] for k in HEADLINE if k in evals}}
    return head, stats, sae_summary(sae.name, stats, vocab, effects[0], with_page)


def _neurons_vs_features(m: ModelInputs, per_sae: list[tuple[str, FeatureStats]]) -> str:
    """Label purity of the units an SAE reads (the MLP's neurons; at another site, the
    dimensions of that hook) beside the features of each SAE reading them."""
    if not per_sae:
        return ""
    names = per_sae[0][1].label_names

    def counts(label, purity, live) -> list[str]:
        sel = live & (purity >= MONOSEMANTIC)
        return [str(int((label[sel] == i).sum())) for i in range(len(names))]

    rows, charts = [], []
    first = {}
    for _, stats in per_sae:
        first.setdefault(stats.hook, len(first))
    by_hook = sorted(per_sae, key=lambda p: first[p[1].hook])
    for i, (sae_name, stats) in enumerate(by_hook):
        if i == 0 or stats.hook != by_hook[i - 1][1].hook:
            units = ("MLP neurons" if stats.hook.endswith("mlp.hook_post")
                     else f"{stats.hook} dimensions")
            n_label, n_pur = stats.neuron_purity()
            live_n = stats["neuron_frequency"] > 0
            rows.append([escape(units), str(int(live_n.sum())), *counts(n_label, n_pur, live_n)])
            charts.append(purity_chart(n_pur[live_n], f"{m.name}: {units}, label purity",
                                       len(names)))
        label, purity = stats.purity()
        live = stats["frequency"] > 0
        rows.append([f"SAE {escape(sae_name)}", str(int(live.sum())),
                     *counts(label, purity, live)])
        charts.append(purity_chart(purity[live], f"{sae_name}: features, label purity",
                                   len(names)))
    header = ["units", "live", *(f"{n} (purity ≥ {MONOSEMANTIC})" for n in names)]
    return ("<h3>Neurons vs features</h3><p class=\"muted\">Label purity: the dominant "
            "label's share of a unit's mean activation per label (1/labels = no preference, "
            "1 = one label only).</p>" + table(header, rows, sortable=False)
            + '<div class="grid2">' + "".join(charts) + "</div>")


def _universality_html(folder: Path | None, metrics: Path | None,
                       stats: dict[str, FeatureStats], models: dict[str, ModelInputs],
                       vocabs: dict[str, Vocab], n_families: int = 6) -> str:
    """Share of universal units, the best-match distributions, and the features of the first
    model best matched in all others, each drawn beside its matches."""
    if folder is None or not (folder / "matches.safetensors").is_file():
        return ""
    with safe_open(str(folder / "matches.safetensors"), framework="pt") as f:
        names = json.loads(f.metadata()["saes"])
        t = {k: f.get_tensor(k) for k in f.keys()}
    if len(names) < 2:
        return ""
    summary = _json(metrics) if metrics is not None else {}
    rows = [[escape(kind), num(float(summary[kind]["universal_share"])),
             num(float(summary[kind]["mean_best_correlation"]))]
            for kind in ("features", "neurons") if kind in summary]
    charts = []
    for kind in ("features", "neurons"):
        best = torch.cat([t[f"{kind}_best_{m}"][[o for o in range(len(names)) if o != m]]
                          .flatten() for m in range(len(names))])
        counts = torch.histc(best.clamp(-1, 1), bins=20, min=-1.0, max=1.0)
        charts.append(bar_chart(counts.tolist(), [f"{-1 + i / 10:.1f}" for i in range(20)],
                                f"{kind}: best-match correlation, all model pairs"))
    # families: model 0's live features whose worst best match over the others is highest
    first = stats[names[0]]
    best, where = t["features_best_0"], t["features_where_0"]
    worst = best[1:].min(0).values
    worst[first["frequency"] == 0] = -2
    families = []
    for j in worst.argsort(descending=True)[:n_families].tolist():
        cells = []
        for m, name in enumerate(names):
            k = j if m == 0 else int(where[m, j])
            model = models[name]
            ctx = stats[name].contexts(k, get_domain(model.domain), vocabs[name], 1)
            corr = "" if m == 0 else f" · r = {float(best[m, j]):.2f}"
            cells.append(f'<div><b>{escape(name)}</b> feature {k}{corr}'
                         f'{"".join(ctx)}</div>')
        families.append(f'<h4>family of {escape(names[0])} feature {j} (worst match '
                        f'{float(worst[j]):.2f})</h4><div class="grid2">{"".join(cells)}</div>')
    return ('<section id="universality"><h2>Universality across models</h2>'
            f"<p class=\"muted\">{len(names)} models ({escape(', '.join(names))}); a unit is "
            f"universal when its best match exceeds {summary.get('threshold', '')} in every "
            "other model.</p>"
            + table(["units", "universal share", "mean best-match correlation"], rows,
                    sortable=False)
            + '<div class="grid2">' + "".join(charts) + "</div>" + "".join(families)
            + "</section>")


def _culture_loop_html(folder: Path | None, metrics: Path | None, out: Path) -> str:
    """The culture loop's counts per generating model, and its sample page copied in."""
    if folder is None or metrics is None or not metrics.is_file():
        return ""
    result = _json(metrics)
    if not result.get("enabled"):
        return ""
    (out / "culture_loop.html").write_text((folder / "index.html").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    gens = {g: r for g, r in result.items() if g.startswith("generation_")}
    models = list(gens.get("generation_0", {}).get("accuracy", {}))
    cols = ["generated", "trivial", "kept", "kept_total"]
    header = ["generation", *(c.replace("_", " ") for c in cols),
              *(f"accuracy {m}" for m in models)]
    body = [[g.split("_")[1], *(num(r[c]) if c in r else "–" for c in cols),
             *(num(r["accuracy"][m]["all"]) for m in models)] for g, r in gens.items()]
    return ('<section id="culture-loop"><h2>Culture loop</h2><p>Each generation the models '
            "write quizzes; a quiz is kept when every model is sure of its answer, right or "
            "wrong, and one or two of them are wrong. Then every model is re-trained on world "
            "quizzes and the kept ones; accuracy: held-out quizzes solved after re-training "
            "(generation 0: as trained). "
            '<a href="culture_loop.html">kept quizzes per generation</a></p>'
            + table(header, body, sortable=False) + "</section>")


def _frontier_html(png: Path | None) -> str:
    if png is None or not png.is_file():
        return ""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return ('<section id="frontier"><h2>Sparsity vs fidelity</h2>'
            f'<img alt="SAE frontier" style="max-width:100%" src="data:image/png;base64,{data}">'
            "</section>")


def _describer(all_stats: dict[str, FeatureStats], vocabs: dict[str, Vocab], n_features: int
               ) -> Describe:
    """A family tree's node: the link to the feature's page (the SAE's `n_features` most
    frequent have one), its top token and its dominant label."""
    with_page: dict[str, set[int]] = {}

    def describe(sae: str, j: int) -> tuple[str | None, str]:
        if sae not in all_stats:
            return None, ""
        stats = all_stats[sae]
        label, _ = stats.purity()
        if sae not in with_page:  # once per SAE, not per tree node
            with_page[sae] = set(stats.live()[:n_features].tolist())
        pages = with_page[sae]
        return (f"saes/{sae}/f/{j}.html" if j in pages else None,
                f"<code>{escape(top_token(stats, vocabs[sae], j))}</code> · "
                f"{escape(stats.label_names[int(label[j])])}")
    return describe


def build_report(models: list[ModelInputs], out: Path, n_features: int, n_examples: int,
                 frontier_png: Path | None = None, universality: Path | None = None,
                 universality_metrics: Path | None = None, culture_loop: Path | None = None,
                 culture_loop_metrics: Path | None = None, toy_metrics: Path | None = None,
                 families: dict[str, Path] | None = None, families_metrics: Path | None = None
                 ) -> None:
    """Write the site into `out` (an existing, empty folder). `families`: each dictionary
    family's record (data/families/<name>.json)."""
    model_rows, sae_rows, summaries, sections = [], [], [], []
    all_stats, vocabs, owner = {}, {}, {}
    for m in tqdm(models, desc="report", unit="model"):
        lm = _json(m.lm_metrics)
        samples = m.samples.read_text(encoding="utf-8") if m.samples.is_file() else ""
        vocab = Vocab.from_tokenizer(load_tokenizer(m.checkpoint))
        per_sae = []
        for sae in m.saes:
            head, stats, summary = _sae_site(m, sae, vocab, out, n_features, n_examples)
            summaries.append(summary)
            sae_rows.append(head)
            per_sae.append((sae.name, stats))
            all_stats[sae.name], vocabs[sae.name], owner[sae.name] = stats, vocab, m
        model_rows.append([f'<a href="#model-{escape(m.name)}">{escape(m.name)}</a>',
                           escape(m.domain),
                           *(num(float(lm[k])) if k in lm else "" for k in
                             ("val_loss", "accuracy_greedy", "cell_accuracy_greedy"))])
        scores = induction_scores(load_bridge(m.checkpoint))
        sections.append(
            f'<section id="model-{escape(m.name)}"><h2>Model {escape(m.name)} '
            f"(domain {escape(m.domain)})</h2>"
            f"<details><summary>Language model metrics</summary>{kv_table(lm)}</details>"
            f"<details><summary>Samples</summary>{get_domain(m.domain).samples_html(samples)}"
            "</details>"
            "<h3>Induction heads</h3>"
            + heat_map(scores.tolist(), "layer", "head",
                       f"{m.name}: induction score per head (attention to the token after the "
                       "previous occurrence, random tokens repeated; max "
                       f"{float(scores.max()):.2f})")
            + _neurons_vs_features(m, per_sae) + "</section>")
    sae_table = table(
        ["SAE", "model", "architecture", *HEADLINE],
        [[f'<a href="saes/{escape(r["sae"])}/index.html">{escape(r["sae"])}</a>',
          escape(r["model"]), escape(r["architecture"]),
          *(num(float(r[k])) if k in r else "" for k in HEADLINE)] for r in sae_rows])
    model_table = table(["model", "domain", "val loss", "quiz accuracy (greedy)",
                         "cell accuracy (greedy)"], model_rows)
    body = (f"<h2>Models</h2>{model_table}<h2>SAEs</h2>{sae_table}"
            + '<section id="sae-features"><h2>Features per SAE</h2>' + "".join(summaries)
            + "</section>"
            + _frontier_html(frontier_png)
            + families_html(families or {}, families_metrics, out,
                            _describer(all_stats, vocabs, n_features))
            + _universality_html(universality, universality_metrics, all_stats, owner, vocabs)
            + _culture_loop_html(culture_loop, culture_loop_metrics, out)
            + toy_html(toy_metrics)
            + "\n".join(sections))
    _write(out / "index.html", page("dictlearn report", body))
