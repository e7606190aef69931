"""One SAE's features as the browser shows them: the statistics eval_sae recorded, label purity
for features and for the MLP neurons beside them, feature density, and a page per feature."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from dictlearn.analysis.frequency import live_by_frequency, rank_frequency
from dictlearn.domains.base import Domain, escape
from dictlearn.report.html import bar_chart, fmt, hbar_chart, kv_table, loglog_chart, page
from dictlearn.report.tokens import Vocab
from dictlearn.core.errors import InputError, damaged, restore_hint


def label_purity(mass: torch.Tensor, count: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dominant label, purity) per unit from its activation mass per label [units, labels]:
    the mean activation on each label's tokens, the dominant label's share of their sum. Base
    rates cancel (a unit firing equally on every token scores 1/n_labels whatever the mix);
    1 means it fires on one label only. Silent units get purity 0."""
    rate = mass / count.clamp_min(1)
    total = rate.sum(1)
    share, label = (rate / total.clamp_min(1e-30).unsqueeze(1)).max(1)
    return label, torch.where(total > 0, share, torch.zeros_like(share))


@dataclass
class FeatureStats:
    tensors: dict[str, torch.Tensor]
    label_names: list[str]
    context_left: int
    hook: str = "blocks.0.mlp.hook_post"  # where the SAE reads (and its "neurons" are)

    @classmethod
    def load(cls, path: Path) -> FeatureStats:
        if not path.is_file():
            raise InputError(f"{path}: feature statistics not found; " + restore_hint(path))
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata()
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as err:  # safetensors raises its own error type
            raise damaged(path, err, "the feature statistics file") from None
        meta = json.loads(meta["features"])
        return cls(tensors, meta["label_names"], int(meta["context_left"]),
                   meta.get("hook", cls.hook))

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def purity(self) -> tuple[torch.Tensor, torch.Tensor]:
        if "_purity" not in self.__dict__:
            self.__dict__["_purity"] = label_purity(self["label_mass"], self["label_count"])
        return self.__dict__["_purity"]

    def neuron_purity(self) -> tuple[torch.Tensor, torch.Tensor]:
        return label_purity(self["neuron_label_mass"], self["label_count"])

    def live(self) -> torch.Tensor:
        return live_by_frequency(self["frequency"])

    def contexts(self, j: int, domain: Domain, vocab: Vocab, n: int) -> list[str]:
        """Feature j's top activating contexts, drawn by the domain's renderer."""
        ids, where, values = self["input_ids"], self["top_where"], self["top_values"]
        ctx, seq_len, left = self["top_context_acts"], self["input_ids"].shape[1], self.context_left
        out = []
        for e in range(min(n, where.shape[1])):
            w = int(where[j, e])
            if w < 0 or float(values[j, e]) <= 0:
                continue
            s, p = divmod(w, seq_len)
            acts = ctx[j, e].tolist()
            keep = [i for i, a in enumerate(acts) if a == a]  # NaN: outside the sequence
            row = ids[s].tolist()
            tokens = vocab.text([row[p - left + i] for i in keep])
            out.append(domain.render_html(tokens, [acts[i] for i in keep], keep.index(left)))
        return out


def purity_chart(purity: torch.Tensor, title: str, n_labels: int) -> str:
    """Histogram of label purity from 1/n_labels (no preference) to 1 (one label only)."""
    lo = 1.0 / n_labels
    counts = torch.histc(purity.clamp(lo, 1.0), bins=20, min=lo, max=1.0)
    edges = torch.linspace(lo, 1.0, 21)
    labels = [f"{float(edges[i]):.2f}" for i in range(20)]
    labels[-1] = "1.00"
    return bar_chart(counts.tolist(), labels, title)


def density_chart(frequency: torch.Tensor, title: str, per_decade: int = 4) -> str:
    """Histogram of feature density, the share of tokens a feature fires on, on a log scale
    from the rarest live feature's decade to 1; dead features are counted in the title."""
    live = frequency[frequency > 0].double()
    lo = min(math.floor(float(live.log10().min())), -1) if len(live) else -1
    bins = -lo * per_decade
    counts = torch.histc(live.log10(), bins=bins, min=lo, max=0.0)
    edges = [10 ** (lo + i / per_decade) for i in range(bins + 1)]
    labels = [f"{edges[i]:.1e} to {edges[i + 1]:.1e}" for i in range(bins)]
    ticks = [(d / -lo, f"1e{lo + d}" if lo + d else "1") for d in range(-lo + 1)]
    return bar_chart(counts.tolist(), labels, f"{title} ({len(frequency) - len(live)} dead, "
                     "not drawn)", ticks=ticks)


def rank_frequency_chart(frequency: torch.Tensor, title: str) -> str:
    """Live features' frequency against their rank (1 = most frequent), log–log: a power law
    is a straight line. The curve eval_sae plots, at the same log-spaced ranks."""
    rows = rank_frequency(frequency)
    return loglog_chart([r["rank"] for r in rows], [r["frequency"] for r in rows], title)


def interventions_html(row: dict, stats: FeatureStats, domain: Domain, vocab: Vocab,
                       scale: float) -> str:
    """eval_sae's interventions on one feature: zero and mean ablation on its top contexts,
    and what the model writes after its top context, unsteered beside steered, drawn by the
    domain (the last prompt token outlined)."""
    def toks(ids: list[int]) -> str:
        return ", ".join(escape(repr(vocab.token(i))) for i in ids)

    rows = "".join(
        f"<tr><td>{mode}</td><td>{r['contexts']}</td><td>{escape(fmt(r['target']))}</td>"
        f"<td>{escape(fmt(r['loss_change']))}</td><td>{toks(r['promoted'])}</td>"
        f"<td>{toks(r['suppressed'])}</td></tr>"
        for mode in ("zero", "mean") if (r := row.get(mode)))
    out = ("<h3>Ablation on its top contexts</h3><table><tr><th>ablation</th><th>contexts</th>"
           "<th>set to</th><th>next-token loss change</th><th>most promoted</th>"
           f"<th>most suppressed</th></tr>{rows}</table>" if rows else "")
    st = row["steer"]
    seq = stats["input_ids"][st["sequence"]].tolist()
    prompt = seq[max(0, st["position"] - stats.context_left):st["position"] + 1]
    drawn = []
    for name in ("unsteered", "steered"):
        ids = prompt + st[name]
        drawn.append(f"<div><h4>{name}</h4>"
                     + domain.render_html(vocab.text(ids), [0.0] * len(ids), len(prompt) - 1)
                     + "</div>")
    return (out + f"<h3>Steering: clamped to {escape(fmt(st['value']))} ({escape(fmt(scale))}"
            "× its max activation) after its top context</h3>"
            f'<div class="grid2">{"".join(drawn)}</div>')


def feature_page(sae_name: str, j: int, stats: FeatureStats, domain: Domain, vocab: Vocab,
                 effects: tuple[torch.Tensor, ...], n_examples: int,
                 prev: int | None = None, nxt: int | None = None,
                 interventions: dict | None = None) -> str:
    """Feature j's page; `prev` and `nxt`, the features with a page either side of it;
    `interventions`, eval_sae's record (interventions.json), shown if it holds feature j."""
    label, purity = stats.purity()
    freq = float(stats["frequency"][j])
    hist = stats["activation_histogram"][j]
    nz = hist.nonzero().squeeze(1)
    lo, hi = (int(nz.min()), int(nz.max()) + 1) if len(nz) else (0, len(hist))
    edges = stats["activation_histogram_log10_edges"]
    bins = [f"{10 ** float(edges[i]):.3g}" for i in range(lo, hi)]
    summary = {
        "frequency (share of tokens)": freq,
        "log10 frequency": float(torch.log10(torch.tensor(max(freq, 1e-12)))),
        "max activation": float(stats["top_values"][j, 0]),
        "mean activation (all tokens)": float(stats["mean_activation"][j]),
        "dominant label": stats.label_names[int(label[j])],
        "label purity": float(purity[j]),
    }
    up_i, up_v, down_i, down_v = (t[j] for t in effects)

    def tokens(ids: torch.Tensor, vals: torch.Tensor) -> str:
        return "".join(f'<tr><td class="k" title="token {int(i)}">'
                       f"{escape(repr(vocab.token(int(i))))}</td>"
                       f"<td>{escape(fmt(float(v)))}</td></tr>" for i, v in zip(ids, vals))

    mass = stats["label_mass"][j] / stats["label_count"].clamp_min(1)
    nav = f' · <a href="../index.html">all features of {escape(sae_name)}</a>'
    if prev is not None:
        nav += f' · <a rel="prev" href="{prev}.html">← feature {prev}</a>'
    if nxt is not None:
        nav += f' · <a rel="next" href="{nxt}.html">feature {nxt} →</a>'
    if prev is not None or nxt is not None:
        nav += ' <span class="muted">(keys ← →)</span>'
    body = (
        f'<div class="grid2"><div>{kv_table(summary)}</div>'
        + bar_chart(hist[lo:hi].tolist(), bins, "activation histogram (log-spaced bins)")
        + hbar_chart(mass.tolist(), stats.label_names, "mean activation per label",
                     color="#3cb44b")
        + "</div><div class=\"grid2\">"
        f"<div><h3>Promoted tokens</h3><table>{tokens(up_i, up_v)}</table></div>"
        f"<div><h3>Suppressed tokens</h3><table>{tokens(down_i, down_v)}</table></div></div>"
        "<p class=\"muted\">Direct logit effect W_dec · W_out · γ_final · W_U. A byte that is "
        "part of a UTF-8 character shows as &lt;0xE2&gt;.</p>"
        "<h3>Top activating contexts</h3>"
        + "\n".join(stats.contexts(j, domain, vocab, n_examples)))
    row = (interventions or {}).get("per_feature", {}).get(str(j))
    if row:
        body += interventions_html(row, stats, domain, vocab, interventions["steer_scale"])
    return page(f"{sae_name} · feature {j}", body, root="../../", nav=nav)
