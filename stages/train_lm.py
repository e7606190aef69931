"""Stage train_lm@{model}: a GPT-2 trained on the domain's dataset, saved with save_pretrained.
With `processes` > 1 it runs again under torchrun, data-parallel; rank 0 writes everything."""

import argparse
from pathlib import Path

import torch
from dvclive import Live

from dictlearn.core.schema import load_settings
from dictlearn.domains.prepared import load_split
from dictlearn.domains import get_domain
from dictlearn.lm.checkpoint import build_gpt2, load_tokenizer
from dictlearn.lm.config import TrainLMSettings
from dictlearn.lm.resume import Checkpoints, run_key
from dictlearn.lm.train import train_lm
from dictlearn.core.outputs import atomic_path, write_json, write_text
from dictlearn.core.runtime import (data_parallel, pick_device, relaunch_under_torchrun,
                                    seed_everything, stage_main)


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--prepared", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True, help="folder for metrics, curves, samples")
    ap.add_argument("--resume", type=Path, default=None,
                    help="folder for checkpoints (persist): a killed run continues from there")
    args = ap.parse_args()
    settings = load_settings(args.settings, TrainLMSettings)
    spec, cfg = settings.model, settings.train
    relaunch_under_torchrun(cfg.processes)
    with data_parallel(pick_device(cfg.device)) as (rank, _, device):
        run(args, spec, cfg, device, write=rank == 0)  # rank 0 evaluates and writes


def run(args, spec, cfg, device, write: bool) -> None:
    tokenizer = load_tokenizer(args.prepared)
    train = load_split(args.prepared, "train")
    val = load_split(args.prepared, "validation")
    seed_everything(spec.seed)
    domain = get_domain(spec.domain)
    model = build_gpt2(cfg, len(tokenizer), train.seq_len, tokenizer.eos_token_id)
    domain.init_model(model, cfg, spec.seed)
    checkpoints = state = None
    if args.resume is not None:
        key = run_key(args.settings, args.prepared / "stats.json", args.prepared / "tokenizer.json")
        checkpoints = Checkpoints(args.resume, key, cfg.checkpoint_every)
        state = checkpoints.load()
    if not write:  # another rank: its share of each batch
        train_lm(model, train.ids, val.ids, val.labels, train.label_names, cfg, device,
                 spec.seed, None, domain.loss_weights(cfg, train.seq_len), None, checkpoints,
                 state)
        return
    curves = domain.learning_curves(args.prepared, cfg, device)
    print(f"{args.model}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
          f"{len(train.ids)} training sequences of {train.seq_len} tokens, device {device}"
          + (f", {cfg.processes} processes" if cfg.processes > 1 else ""))

    if state is not None:
        print(f"resuming from the checkpoint after step {state['meta']['steps_done']}")
    with atomic_path(args.out) as tmp_model, atomic_path(args.metrics) as tmp_metrics:
        if checkpoints is not None:
            checkpoints.restore_live(state, tmp_metrics)
        live = Live(str(tmp_metrics), report=None, save_dvc_exp=False, dvcyaml=None,
                    resume=state is not None)
        metrics = train_lm(model, train.ids, val.ids, val.labels, train.label_names, cfg,
                           device, spec.seed, live, domain.loss_weights(cfg, train.seq_len),
                           curves, checkpoints, state)
        domain_metrics, samples = domain.evaluate_lm(model, tokenizer, args.prepared, cfg,
                                                     device)
        live.end()
        metrics.update(domain_metrics)
        write_json(tmp_metrics / "timing.json", metrics.pop("timing"))
        write_json(tmp_metrics / "metrics.json", metrics)
        write_text(tmp_metrics / "samples.md", samples)
        model.to(torch.device("cpu")).save_pretrained(str(tmp_model), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp_model))
    if checkpoints is not None:
        checkpoints.clear()  # finished: nothing to resume
    print({k: round(v, 4) for k, v in metrics.items()})


if __name__ == "__main__":
    main()
