"""Stage universality: SAE features and MLP neurons of models trained alike (params
`universality.saes`, e.g. the five culture models), each matched to its best-correlated
counterpart in every other model on the same held-out sequences."""

import argparse
import csv
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from dictlearn.core.schema import load_settings
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.domains.prepared import load_split
from dictlearn.core.runtime import pick_device, stage_main
from dictlearn.sae import load_sae
from dictlearn.sae.io import read_cfg
from dictlearn.analysis.config import UniversalitySettings
from dictlearn.analysis.universality import unit_activations, universality

BINS = 20


def histogram(values: torch.Tensor) -> list[int]:
    return torch.histc(values.clamp(-1, 1), bins=BINS, min=-1.0, max=1.0).long().tolist()


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=Path, default=Path("data/models"))
    ap.add_argument("--saes", type=Path, default=Path("data/saes"))
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, UniversalitySettings)
    names = cfg.saes if len(cfg.saes) >= 2 else []
    device = pick_device(cfg.device)
    feats, neurons = [], []
    if names:
        split = load_split(args.prepared / cfg.runs[names[0]].domain, "validation",
                           cfg.max_sequences)
    for name in names:
        run = cfg.runs[name]
        hook = read_cfg(args.saes / name)["metadata"]["hook_name"]
        bridge = load_bridge(args.models / run.model, device)
        f, n = unit_activations(bridge, load_sae(args.saes / name, device), hook, split.ids,
                                cfg.batch_size, device)
        feats.append(f)
        neurons.append(n)
    metrics: dict = {"models": len(names), "threshold": cfg.threshold}
    tensors, rows = {}, [[f"{-1 + (i + 0.5) * 2 / BINS:.2f}", 0, 0] for i in range(BINS)]
    for kind, units in (("features", feats), ("neurons", neurons)):
        if not units:
            continue
        live = [(u > 0).any(0) if kind == "features" else u.std(0) > 0 for u in units]
        res = universality(units, live, cfg.threshold)
        metrics[kind] = {"universal_share": res["universal_share"],
                         "mean_best_correlation": res["mean_best_correlation"],
                         "universal_share_per_model": dict(zip(names,
                                                               res["universal_share_per_model"]))}
        col = 1 if kind == "features" else 2
        for m, (best, where) in enumerate(zip(res["best"], res["where"])):
            tensors[f"{kind}_best_{m}"], tensors[f"{kind}_where_{m}"] = best, where
            others = [o for o in range(len(names)) if o != m]
            for i, c in enumerate(histogram(best[others][:, live[m]].flatten())):
                rows[i][col] += c
    with atomic_path(args.out) as tmp_out, atomic_path(args.metrics) as tmp_metrics:
        tmp_out.mkdir()
        tmp_metrics.mkdir()
        save_file(tensors, str(tmp_out / "matches.safetensors"),
                  metadata={"saes": json.dumps(names)})
        write_json(tmp_metrics / "metrics.json", metrics)
        with open(tmp_metrics / "best_match.tsv", "w", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t")
            writer.writerow(["correlation", "features", "neurons"])
            writer.writerows(rows)
    print(json.dumps({k: v for k, v in metrics.items()}, indent=1))


if __name__ == "__main__":
    main()
