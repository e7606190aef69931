"""The sparsity–fidelity frontier: every SAE of params `saes`, L0 against explained variance
and against CE loss recovered, one line per model, architecture and hook site (sites side by
side, a marker each), and one per dictionary family (its members in size order, labelled
with their sizes). Written as TSV tables for `dvc plots` (drawn with the
.dvc/plots/frontier.json template) and as a PNG for the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dictlearn.core.errors import InputError  # noqa: E402
from dictlearn.core.schema import Strict  # noqa: E402

FIDELITY = {"explained_variance": "explained variance", "ce_loss_recovered": "CE loss recovered"}
MEASURES = ["l0", "explained_variance", "ce_loss_recovered", "mse", "shrinkage", "dead_fraction"]
# line: the architecture, or "family <name>" for a family's members; position: the point's
# place along its line (by L0, or by size in a family)
COLUMNS = ["model", "site", "layer", "architecture", "sae", "knob", "family", "size", "line",
           "position", *MEASURES]
MARKERS = {"mlp_post": "o", "mlp_out": "D", "resid_pre": "^", "resid_post": "v", "attn_z": "X"}


class FrontierSAE(Strict):
    model: str
    site: str  # where it reads (lm/sites.py), in block `layer`
    layer: int
    architecture: str
    knob: str  # its sparsity setting, e.g. "k=16"
    family: str | None  # the dictionary family it belongs to (params `families`), if any
    size: float | None  # its d_sae as a multiple of d_in, in a family


class FrontierSettings(Strict):
    """What the frontier stage reads (resolved by check_params): each SAE's model and knob."""

    saes: dict[str, FrontierSAE]


def collect(settings: FrontierSettings, eval_metrics: Path) -> list[dict]:
    """One row per SAE from `eval_metrics/<name>/eval/metrics.json`, sorted by model, line
    and position along it."""
    rows = []
    for name, run in settings.saes.items():
        path = eval_metrics / name / "eval" / "metrics.json"
        if not path.is_file():
            raise InputError(f"{path}: metrics of SAE {name!r} not found; run eval_sae@{name}")
        m = json.loads(path.read_text(encoding="utf-8"))
        line = f"{run.architecture} @ {run.site}.{run.layer}"
        rows.append({"model": run.model, "site": run.site, "layer": run.layer,
                     "architecture": run.architecture, "sae": name,
                     "knob": run.knob, "family": run.family or "", "size": run.size or "",
                     "line": f"family {run.family}" if run.family else line,
                     **{c: m[c] for c in MEASURES}})
    rows.sort(key=lambda r: (r["model"], r["line"], r["size"] or 0, r["l0"]))
    for i, r in enumerate(rows):
        same = i and (rows[i - 1]["model"], rows[i - 1]["line"]) == (r["model"], r["line"])
        r["position"] = rows[i - 1]["position"] + 1 if same else 1
    return rows


def write_tables(rows: list[dict], out: Path) -> None:
    """out/<fidelity>.tsv per fidelity measure, every column in each."""
    for fidelity in FIDELITY:
        with open(out / f"{fidelity}.tsv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)


def draw(rows: list[dict], path: Path) -> None:
    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.6 * len(models)), squeeze=False)
    for ax_row, model in zip(axes, models, strict=True):
        mine = [r for r in rows if r["model"] == model]
        for ax, (fidelity, label) in zip(ax_row, FIDELITY.items(), strict=True):
            for line in sorted({r["line"] for r in mine}):
                pts = [r for r in mine if r["line"] == line]
                family = bool(pts[0]["family"])
                ax.plot([r["l0"] for r in pts], [r[fidelity] for r in pts],
                        "s--" if family else MARKERS.get(pts[0]["site"], "o") + "-",
                        label=line)
                for r in pts:
                    ax.annotate(f"{r['size']:g}×" if family else r["knob"],
                                (r["l0"], r[fidelity]), fontsize=7,
                                textcoords="offset points", xytext=(3, 3))
            if all(r["l0"] > 0 for r in mine):  # a dead SAE (L0 = 0) keeps a linear axis
                ax.set_xscale("log")
            ax.set_xlabel("L0 (active latents per token)")
            ax.set_ylabel(label)
            ax.set_title(f"{model}: L0 vs {label}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
