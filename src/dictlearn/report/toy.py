"""The report's toy-model section: one row per sweep of metrics/toy/<sweep>/metrics.json,
with the monosemantic fraction drawn against the swept value. Optional: no toy metrics, no
section."""

from __future__ import annotations

import json
from pathlib import Path

from dictlearn.domains.base import escape
from dictlearn.report.html import bar_chart, num, table


def toy_html(folder: Path | None) -> str:
    files = sorted(folder.glob("*/metrics.json")) if folder and folder.is_dir() else []
    if not files:
        return ""
    rows, charts = [], []
    for f in files:
        sweep, result = f.parent.name, json.loads(f.read_text(encoding="utf-8"))
        var, members = result["variable"], list(result["members"].values())
        members.sort(key=lambda r: r[var])
        best = result["best"]
        timing = f.parent / "timing.json"  # machine-dependent, kept apart from the metrics
        seconds = json.loads(timing.read_text(encoding="utf-8"))["seconds"] \
            if timing.is_file() else None
        rows.append([escape(sweep), escape(var), str(len(members)),
                     escape(f"{best[var]:g}"), num(best["mono_fraction"]),
                     num(best["features_with_mono_neuron"]),
                     num(min(r["loss"] for r in members)),
                     num(seconds) if seconds is not None else "–"])
        charts.append(bar_chart([r["mono_fraction"] for r in members],
                                [f"{var}={r[var]:g}" for r in members],
                                f"{sweep}: monosemantic fraction of neurons vs {var}",
                                width=220, height=70))
    return ('<section id="toy"><h2>Toy models of superposition</h2>'
            "<p>Jermyn, Schiefer &amp; Hubinger (2022), Table 1: each sweep varies one setting. "
            "A neuron is monosemantic when one feature carries &gt; 0.999 of its summed "
            "single-feature activations. Plots against the swept value: "
            "<code>dvc plots show metrics/toy</code>; weights and per-neuron profiles: "
            "<code>data/toy/&lt;sweep&gt;/weights.safetensors</code>.</p>"
            + table(["sweep", "varies", "members", "best value", "monosemantic fraction",
                     "features with a monosemantic neuron", "lowest loss", "seconds"], rows)
            + '<div class="grid2">' + "".join(charts) + "</div></section>")
