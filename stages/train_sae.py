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
from dictlearn.sae.settings import SAERunSettings
from dictlearn.sae.trainer import train_sae
from dictlearn.acts.store import ActivationStore, store_path


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True, help="the SAE's key in params `saes`")
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--acts", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    settings = load_settings(args.settings, SAERunSettings)
    arch, cfg, model = settings.sae, settings.trainer, settings.model
    hook = hook_name(arch.site, arch.layer)
    store = ActivationStore(store_path(args.acts, hook))
    relaunch_under_torchrun(cfg.processes)
    with data_parallel(pick_device(cfg.device)) as (rank, _, device):
        seed_everything(cfg.seed)
        sae = sae_from_config(arch, store.d)
        if rank != 0:  # its share of each batch; rank 0 writes
            train_sae(sae, store, cfg, device)
            return
        write(args, settings, hook, store, sae, device)


def write(args, settings, hook, store, sae, device) -> None:
    cfg, model = settings.trainer, settings.model
    with atomic_path(args.out) as tmp_sae, atomic_path(args.metrics) as tmp_metrics:
        live = Live(str(tmp_metrics), report=None, save_dvc_exp=False, dvcyaml=None)
        result = train_sae(sae, store, cfg, device, live)
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
