"""Stage toy@<sweep>: train every member of one toy-model sweep (Jermyn et al. 2022) at once,
measure monosemanticity, write weights, metrics, plots and training curves."""

import argparse
import time
from pathlib import Path

import torch

from dictlearn.core.schema import load_settings
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import pick_device, stage_main
from dictlearn.toy.results import metrics_json, weights, write_curves, write_plots, write_weights
from dictlearn.lm.resume import run_key
from dictlearn.toy.config import ToySettings
from dictlearn.toy.resume import ToyCheckpoints
from dictlearn.toy.train import Problem, matmul_dtype, measure, run_sweep


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sweep", required=True, help="an entry of toy.sweeps")
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True, help="data/toy/<sweep>")
    ap.add_argument("--metrics", type=Path, required=True, help="metrics/toy/<sweep>")
    ap.add_argument("--resume", type=Path, default=None,
                    help="folder for checkpoints (persist): a killed run continues from there")
    args = ap.parse_args()
    toy = load_settings(args.settings, ToySettings)
    sweep = toy.sweep
    if toy.threads:
        torch.set_num_threads(toy.threads)
    problem = Problem(toy.N, toy.m, toy.seed, pick_device(toy.device))
    checkpoints = None
    if args.resume is not None:
        checkpoints = ToyCheckpoints(args.resume, run_key(args.settings), toy.checkpoint_every)
        if checkpoints.resumes():
            print(f"resuming from the checkpoint: {checkpoints.resumes()}")
    dtype = matmul_dtype(toy.dtype, problem.device)  # auto: decided by this machine
    print(f"toy@{args.sweep}: matmuls in {str(dtype)[6:]} on {problem.device}")
    t0 = time.perf_counter()
    members, groups = run_sweep(sweep, toy, problem, desc=f"toy@{args.sweep}",
                                checkpoints=checkpoints)
    rows = [None] * len(members)
    for g in groups:
        for i, row in zip(g.members, measure([members[i] for i in g.members], g.params,
                                             problem, toy)):
            rows[i] = row
    seconds = time.perf_counter() - t0
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        write_weights(tmp / "weights.safetensors", weights(sweep, groups, problem), sweep)
    with atomic_path(args.metrics) as tmp:
        tmp.mkdir()
        write_plots(tmp / "plots", sweep, rows)
        write_curves(tmp / "training.tsv", sweep, groups)
        write_json(tmp / "metrics.json", metrics_json(sweep, rows, toy.steps))
        write_json(tmp / "timing.json", {"seconds": seconds, "dtype": str(dtype)[6:]})
    for v, r in zip(sweep.values, rows):
        print(f"toy@{args.sweep} {sweep.vary}={v:<8g} loss {r['loss']:.4f}  monosemantic "
              f"{r['mono_neurons']:4d}/{members[0].k if sweep.vary != 'k' else int(v)} "
              f"features {r['features_with_mono_neuron']:3d}  mean bias {r['mean_bias']:+.3f}")
    if checkpoints is not None:
        checkpoints.clear()  # finished: nothing to resume
    print(f"toy@{args.sweep}: {seconds:.1f} s")


if __name__ == "__main__":
    main()
