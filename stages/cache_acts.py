"""Stage cache_acts@{model}: MLP activations of the training split → one zarr store per hook."""

import argparse
from pathlib import Path

from dictlearn.caching import cache_activations
from dictlearn.config import load_params
from dictlearn.prepared import load_split
from dictlearn.lm.checkpoint import load_bridge
from dictlearn.outputs import atomic_path
from dictlearn.runtime import pick_device, stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--prepared", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="folder of <hook>.zarr stores")
    args = ap.parse_args()
    cfg = load_params().cache_acts
    device = pick_device(cfg.device)
    split = load_split(args.prepared, "train")
    bridge = load_bridge(args.checkpoint, device)
    with atomic_path(args.out) as tmp:
        stats = cache_activations(bridge, args.checkpoint, args.model, split, cfg, tmp, device)
    print(stats)


if __name__ == "__main__":
    main()
