"""Stage cache_acts@{model}: activations of the training split at the hooks the model's SAEs
read → one zarr store per hook."""

import argparse
from pathlib import Path

from dictlearn.acts.caching import cache_activations
from dictlearn.acts.config import CacheActsRun
from dictlearn.core.schema import load_settings
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.core.outputs import atomic_path
from dictlearn.core.runtime import pick_device, stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--prepared", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="folder of <hook>.zarr stores")
    args = ap.parse_args()
    cfg = load_settings(args.settings, CacheActsRun)
    device = pick_device(cfg.device)
    split = load_split(args.prepared, "train")
    bridge = load_bridge(args.checkpoint, device)
    with atomic_path(args.out) as tmp:
        stats = cache_activations(bridge, args.checkpoint, args.model, split, cfg, tmp, device)
    print(stats)


if __name__ == "__main__":
    main()
