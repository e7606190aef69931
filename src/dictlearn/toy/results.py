"""What a toy sweep leaves behind: weights and per-neuron profiles (safetensors), metrics per
member (JSON), one TSV per metric against the swept variable (DVC plots), training curves."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from dictlearn.toy.config import ToySweep
from dictlearn.core.outputs import write_tsv
from dictlearn.toy.model import single_feature_activations
from dictlearn.toy.train import GroupResult, Problem

PLOTTED = ("mono_fraction", "mono_per_feature", "features_with_mono_neuron",
           "features_decoded", "loss", "mean_bias")


def _value(sweep: ToySweep, i: int) -> float | int:
    v = sweep.values[i]
    return int(v) if sweep.vary == "k" else v


def weights(sweep: ToySweep, groups: list[GroupResult], problem: Problem) -> dict:
    """Tensors per member i: `i.W_in` [k, m], `i.b_in`, `i.W_out`, and the per-neuron
    feature-weight profile `i.single_feature_activations` [k, N] with `i.monosemanticity`
    (top feature's share per neuron); the embeddings `E` [m, N] and `E_out`."""
    act = sweep.activation
    out = {"E": problem.Et.T.contiguous().cpu(), "E_out": problem.Et_out.T.contiguous().cpu()}
    for g in groups:
        sfa = single_feature_activations(g.params, problem.Et, act)
        share = sfa.amax(-1) / (1e-10 + sfa.sum(-1))
        for s, i in enumerate(g.members):
            for name, t in zip(("W_in", "b_in", "W_out"), g.params.tensors()):
                out[f"{i}.{name}"] = t[s].contiguous().cpu()
            out[f"{i}.single_feature_activations"] = sfa[s].contiguous().cpu()
            out[f"{i}.monosemanticity"] = share[s].contiguous().cpu()
    return out


def write_weights(path: Path, tensors: dict, sweep: ToySweep) -> None:
    # one metadata key: safetensors writes several in hash order, so the file's bytes (and
    # DVC's md5 of it) would change from run to run with the same weights
    meta = {"sweep": json.dumps({"vary": sweep.vary, "values": list(sweep.values)})}
    save_file(tensors, str(path), metadata=meta)


def metrics_json(sweep: ToySweep, rows: list[dict], steps: int) -> dict:
    best = max(range(len(rows)), key=lambda i: rows[i]["mono_fraction"])
    return {"variable": sweep.vary, "steps": steps,
            "best": {sweep.vary: _value(sweep, best), **rows[best]},
            "members": {str(i): {sweep.vary: _value(sweep, i), **r} for i, r in enumerate(rows)}}


def write_plots(folder: Path, sweep: ToySweep, rows: list[dict]) -> None:
    """plots/<metric>.tsv: the swept variable against one metric, ordered by the variable."""
    folder.mkdir(parents=True)
    order = sorted(range(len(rows)), key=lambda i: sweep.values[i])
    for metric in PLOTTED:
        write_tsv(folder / f"{metric}.tsv", [sweep.vary, metric],
             [[_value(sweep, i), rows[i][metric]] for i in order])


def write_curves(path: Path, sweep: ToySweep, groups: list[GroupResult]) -> None:
    """training.tsv: per member and snapshot step (2^i - 1 and the last), the training loss,
    monosemantic neurons and mean hidden bias, as in the paper's training plots."""
    rows = []
    for g in groups:
        for snap in g.curve:
            for s, i in enumerate(g.members):
                rows.append([_value(sweep, i), snap["step"], snap["loss"][s],
                             snap["mono_neurons"][s], snap["mean_bias"][s]])
    rows.sort(key=lambda r: (r[0], r[1]))
    write_tsv(path, [sweep.vary, "step", "loss", "mono_neurons", "mean_bias"], rows)
