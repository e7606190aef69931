"""Stage eval_sae@{name}: SAE metrics on held-out tokens, feature statistics for the report."""

import argparse
import json
from pathlib import Path

from safetensors.torch import save_file

from dictlearn.core.schema import load_settings
from dictlearn.domains import get_domain
from dictlearn.domains.prepared import load_split
from dictlearn.analysis.config import EvalSAE
from dictlearn.analysis.evals import context_activations, evaluate_sae
from dictlearn.analysis.frequency import frequency_metrics, log_frequency_histogram, rank_frequency
from dictlearn.analysis.interventions import feature_interventions
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.core.outputs import atomic_path, write_json, write_tsv
from dictlearn.core.runtime import pick_device, stage_main
from dictlearn.sae import load_sae
from dictlearn.sae.io import read_cfg


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--prepared", type=Path, required=True)
    ap.add_argument("--sae", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="feature statistics for the report")
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, EvalSAE)
    # a context window wide enough for the domain's renderer (a whole grid for culture)
    min_left, min_right = get_domain(args.domain).min_context
    left, right = max(cfg.context_left, min_left), max(cfg.context_right, min_right)
    device = pick_device(cfg.device)
    hook = read_cfg(args.sae)["metadata"]["hook_name"]
    sae = load_sae(args.sae, device)
    split = load_split(args.prepared, "validation", cfg.max_sequences)
    # a context never reaches past its own sequence: no wider window than that is stored
    left, right = min(left, split.ids.shape[1] - 1), min(right, split.ids.shape[1] - 1)
    bridge = load_bridge(args.checkpoint, device)
    metrics, stats = evaluate_sae(bridge, sae, hook, split.ids, split.labels,
                                  len(split.label_names), cfg.batch_size, cfg.top_k,
                                  cfg.dense_threshold, device)
    metrics.update(frequency_metrics(stats["frequency"], sae.W_dec))
    stats["top_context_acts"] = context_activations(
        bridge, sae, hook, split.ids, stats["top_where"], left, right,
        cfg.batch_size, device)
    interventions, effect_metrics = feature_interventions(
        bridge, sae, hook, stats, split.ids, cfg.interventions, device)
    metrics.update(effect_metrics)
    with atomic_path(args.out) as tmp_out, atomic_path(args.metrics) as tmp_metrics:
        tmp_out.mkdir()
        write_json(tmp_out / "interventions.json", interventions)
        save_file({**stats, "input_ids": split.ids, "labels": split.labels.contiguous()},
                  str(tmp_out / "features.safetensors"),
                  # one key: safetensors writes metadata in hash-map order, which changes from
                  # process to process; one key keeps the bytes (and DVC's hash) run to run
                  metadata={"features": json.dumps({"hook": hook, "context_left": left,
                                                    "label_names": split.label_names},
                                                   sort_keys=True)})
        tmp_metrics.mkdir()
        write_json(tmp_metrics / "metrics.json", metrics)
        for name, rows, header in (
                ("log_frequency", log_frequency_histogram(stats["frequency"]),
                 ["log10_frequency", "features"]),
                ("rank_frequency", rank_frequency(stats["frequency"]), ["rank", "frequency"])):
            write_tsv(tmp_metrics / f"{name}.tsv", header, [[r[h] for h in header] for r in rows])
    # None: a statistic with nothing to measure (see analysis/frequency.py)
    print({k: v if v is None else round(v, 4) for k, v in metrics.items()})


if __name__ == "__main__":
    main()
