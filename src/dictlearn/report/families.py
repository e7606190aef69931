"""The report's dictionary families: a page per family (families/<name>.html) with its
splitting measures per pair of members and the trees of its most-split features, as the
feature-splitting figures of "Towards Monosemanticity" draw them: a feature of the smallest
member, its children in the next, their children in the next. Each node links to its
member's feature page (where it has one) and shows its cosine to its parent, its top token and
its dominant label. Optional: no families, no section."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from dictlearn.core.errors import InputError
from dictlearn.domains.base import escape
from dictlearn.report.html import num, page, table

MEASURES = {"live_features": "live features", "live_parents": "live parents",
            "mean_best_cosine": "mean best cosine", "close_fraction": "children (cos ≥ {c})",
            "mean_children": "children per parent", "split_parents": "parents split (≥ 2)"}

# (member, feature) → the link to its page (from the report's root) or None, and a few words
# on it (top token, dominant label), already escaped
Describe = Callable[[str, int], tuple[str | None, str]]


def _node(node: dict, members: list[dict], level: int, describe: Describe) -> str:
    member = members[level]
    link, words = describe(member["name"], node["feature"])
    name = f"feature {node['feature']}"
    name = f'<a href="../{escape(link)}">{name}</a>' if link else name
    cos = "" if node["cosine"] is None else f" · cos {node['cosine']:.2f}"
    kids = "".join(_node(c, members, level + 1, describe) for c in node["children"])
    size = f"{member['size']:g}×"
    words = f" · {words}" if words else ""
    return (f'<li><span class="muted">{escape(size)}</span> {name}{cos}{words}'
            + (f"<ul>{kids}</ul>" if kids else "") + "</li>")


def family_page(name: str, record: dict, metrics: dict, describe: Describe) -> str:
    """The page of family `name` from its record (data/families/<name>.json) and metrics."""
    members = record["members"]
    c = f"{record['min_cosine']:g}"
    header = ["pair", *(label.format(c=c) for label in MEASURES.values())]
    rows = []
    for pair in record["pairs"]:
        m = metrics.get(pair["large"], {})
        rows.append([escape(f"{pair['small']} → {pair['large']}"),
                     *("–" if m.get(k) is None else num(float(m[k])) for k in MEASURES)])
    sizes = ", ".join(f'<a href="../saes/{escape(m["name"])}/index.html">{escape(m["name"])}</a> '
                      f"({m['size']:g}× d_in, d_sae {m['d_sae']}, {m['live']} live)"
                      for m in members)
    trees = "".join(f'<ul class="tree">{_node(t, members, 0, describe)}</ul>'
                    for t in record["trees"])
    body = (f"<p>Members, smallest first: {sizes}.</p>"
            "<p>Each live feature of a larger member is matched to its parent, the live "
            "feature of the next smaller member whose decoder direction has the highest cosine "
            f"with its own; it is that parent's child when the cosine is at least {c}. A parent "
            "with two or more children has split.</p>" + table(header, rows, sortable=False)
            + "<h2>Splitting trees</h2><p class=\"muted\">The features of the smallest member "
            "with the most descendants, among those that split; "
            "each node: its member's size, the feature, its cosine to its parent, its top token "
            "and dominant label.</p>" + (trees or "<p>No feature splits at this cosine.</p>"))
    return page(f"Dictionary family {name}", body, root="../")


def families_html(records: dict[str, Path], metrics: Path | None, out: Path,
                  describe: Describe) -> str:
    """Write families/<name>.html for each family; return the index's section."""
    if not records:
        return ""
    all_metrics = json.loads(metrics.read_text(encoding="utf-8")) \
        if metrics is not None and metrics.is_file() else {}
    rows = []
    (out / "families").mkdir(parents=True, exist_ok=True)
    for name, path in records.items():
        if not path.is_file():
            raise InputError(f"{path}: family {name!r} not found; run `dvc repro families`")
        record = json.loads(path.read_text(encoding="utf-8"))
        mine = all_metrics.get(name, {})
        (out / "families" / f"{name}.html").write_text(
            family_page(name, record, mine, describe), encoding="utf-8")
        last = mine.get(record["members"][-1]["name"], {})
        rows.append([f'<a href="families/{escape(name)}.html">{escape(name)}</a>',
                     escape(", ".join(f"{m['size']:g}×" for m in record["members"])),
                     str(len(record["trees"])),
                     "–" if last.get("mean_best_cosine") is None
                     else num(float(last["mean_best_cosine"]))])
    return ('<section id="families"><h2>Dictionary families</h2><p>SAEs trained alike at '
            "growing sizes: how the features of each split in the next.</p>"
            + table(["family", "sizes (× d_in)", "trees", "mean best cosine, largest pair"],
                    rows, sortable=False) + "</section>")
