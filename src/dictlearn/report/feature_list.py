"""Tables of an SAE's features: the SAE page's list of every live feature (sorted and searched
in the page) and the index's summary of each SAE, its feature density and its best features.
A row names a feature by the token of its top activation and the tokens it promotes, so that a
search for a token finds the features about it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from dictlearn.domains.base import escape
from dictlearn.report.features import FeatureStats, density_chart
from dictlearn.report.html import num, search_box, table
from dictlearn.report.tokens import Vocab

HEADER = ["feature", "frequency", "max activation", "dominant label", "purity", "top token",
          "promoted tokens"]
DENSITY = "feature density: share of tokens a feature fires on"


def top_token(stats: FeatureStats, vocab: Vocab, j: int) -> str:
    """The token at feature j's strongest activation ('' when it never fired)."""
    w = int(stats["top_where"][j, 0])
    if w < 0 or float(stats["top_values"][j, 0]) <= 0:
        return ""
    s, p = divmod(w, stats["input_ids"].shape[1])
    return repr(vocab.token(int(stats["input_ids"][s, p])))


def feature_rows(features: Iterable[int], stats: FeatureStats, vocab: Vocab,
                 promoted: torch.Tensor, href: Callable[[int], str | None]) -> list[list[str]]:
    """A row per feature; `promoted`, [d_sae, k] token ids; `href(j)`, the link to feature
    j's page or None where it has none."""
    label, purity = stats.purity()
    rows = []
    for j in features:
        link = href(j)
        name = f'<a href="{escape(link)}">{j}</a>' if link else str(j)
        tokens = " ".join(repr(vocab.token(int(i))) for i in promoted[j, :3])
        rows.append([num(j, name), num(float(stats["frequency"][j])),
                     num(float(stats["top_values"][j, 0])),
                     escape(stats.label_names[int(label[j])]), num(float(purity[j])),
                     f"<code>{escape(top_token(stats, vocab, j))}</code>",
                     f"<code>{escape(tokens)}</code>"])
    return rows


def feature_list(stats: FeatureStats, vocab: Vocab, promoted: torch.Tensor,
                 with_page: set[int]) -> str:
    """Every live feature, most frequent first, searchable and sortable in the page."""
    live = stats.live()
    rows = feature_rows(live.tolist(), stats, vocab, promoted,
                        lambda j: f"f/{j}.html" if j in with_page else None)
    return (f"<h3>{len(live)} live features of {len(stats['frequency'])}</h3>"
            f'<p class="muted">Click a column to sort. Pages for the {len(with_page)} most '
            "frequent. Top token: where the feature fires most; promoted tokens: its three "
            "largest direct effects on the logits.</p>"
            + search_box("features", "search: a feature, a label, a token")
            + table(HEADER, rows, row_class="feature-row", table_id="features"))


def best_features(stats: FeatureStats, with_page: Iterable[int], k: int) -> list[int]:
    """The k features with a page whose activation is most confined to one label (highest
    label purity), the more frequent first among equals."""
    _, purity = stats.purity()
    freq = stats["frequency"]
    return sorted(with_page, key=lambda j: (-float(purity[j]), -float(freq[j])))[:k]


def sae_summary(sae_name: str, stats: FeatureStats, vocab: Vocab, promoted: torch.Tensor,
                with_page: set[int], k: int = 5) -> str:
    """The index's view of one SAE: its density histogram beside its best features."""
    name = escape(sae_name)
    best = best_features(stats, with_page, k)
    rows = feature_rows(best, stats, vocab, promoted, lambda j: f"saes/{sae_name}/f/{j}.html")
    return (f'<div><h3>SAE <a href="saes/{name}/index.html">{name}</a></h3>'
            f'<div class="grid2">{density_chart(stats["frequency"], DENSITY)}<div>'
            + table(HEADER, rows)
            + f'<p class="muted">Best: the highest label purity among the {len(with_page)} '
            "most frequent features.</p></div></div></div>")
