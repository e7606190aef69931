"""Stage train_sae@{name}: SAE `name` of params `saes` on its model's cached activations, saved
in SAELens layout. With `processes` > 1 it runs again under torchrun, data-parallel; rank 0
writes everything."""

import argparse
from pathlib import Path

from dvclive import Live

from dictlearn.core.schema import load_settings
from dictlearn.lm.sites import hook_name
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import (data_parallel, pick_device, relaunch_under_torchrun,
                                    seed_everything, stage_main)
from dictlearn.sae import sae_from_config, save_sae
from dictlearn.lm.resume import run_key
from dictlearn.sae.resume import SAECheckpoints
from dictlearn.sae.settings import SAERunSettings
from dictlearn.sae.trainer import train_sae
from dictlearn.acts.manifest import open_store


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True, help="the SAE's key in params `saes`")
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--acts", type=Path, required=True,
                    help="the model's activation folder: zarr stores, or a manifest of remote ones")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--resume", type=Path, default=None,
                    help="folder for checkpoints (persist): a killed run continues from there")
    args = ap.parse_args()
    settings = load_settings(args.settings, SAERunSettings)
    arch, cfg, model = settings.sae, settings.trainer, settings.model
    hook = hook_name(arch.site, arch.layer)
    store = open_store(args.acts, hook)
    relaunch_under_torchrun(cfg.processes)
    with data_parallel(pick_device(cfg.device)) as (rank, _, device):
        seed_everything(cfg.seed)
        sae = sae_from_config(arch, store.d)
        checkpoints = state = None
        if args.resume is not None:  # a checkpoint of these settings on this store's data
            key = run_key(args.settings, f"{store.attrs.get('model_sha256')}:{hook}:"
                          f"{store.n_tokens}:{store.attrs.get('seq_len')}")
            checkpoints = SAECheckpoints(args.resume, key, cfg.checkpoint_every)
            state = checkpoints.load()
        if rank != 0:  # its share of each batch; rank 0 writes
            train_sae(sae, store, cfg, device, checkpoints=checkpoints, state=state)
            return
        write(args, settings, hook, store, sae, device, checkpoints, state)
        if checkpoints is not None:
            checkpoints.clear()  # finished: nothing to resume


def write(args, settings, hook, store, sae, device, checkpoints, state) -> None:
    cfg, model = settings.trainer, settings.model
    if state is not None:
        print(f"resuming from the checkpoint after step {state['meta']['steps_done']}")
    with atomic_path(args.out) as tmp_sae, atomic_path(args.metrics) as tmp_metrics:
        if checkpoints is not None:
            checkpoints.restore_live(state, tmp_metrics)
        live = Live(str(tmp_metrics), report=None, save_dvc_exp=False, dvcyaml=None,
                    resume=state is not None)
        result = train_sae(sae, store, cfg, device, live, checkpoints=checkpoints, state=state)
        live.end()
        log_density = result.pop("log_density")
        save_sae(sae.cpu(), tmp_sae, log_density, metadata={
            "hook_name": hook, "model_name": model, "sae_name": args.name,
            "model_sha256": store.attrs.get("model_sha256"),
            **({sae.sparsity_knob: sae.sparsity_coeff} if sae.sparsity_knob else {}),
            "input_scale": result["input_scale"], "training_tokens": cfg.training_tokens})
        write_json(tmp_metrics / "timing.json", result.pop("timing"))
        write_json(tmp_metrics / "metrics.json", result)
    print(result)


if __name__ == "__main__":
    main()
