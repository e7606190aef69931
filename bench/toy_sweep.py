"""Toy-model sweep throughput: an 8-member LR1 sweep (N 512, m 64, k 1024, batch 8192, ReLU,
uniform ε = 1/64) trained three ways in one run, for the same number of steps:

  batched     all members in one model (leading sweep dimension, bmm), dictlearn.toy
  sequential  the same members one at a time, dictlearn.toy
  authors     adamjermyn/toy_model_interpretability's model3.run (one member; it trains one
              at a time), when a checkout is given: --authors DIR (a folder holding model3.py,
              or a git directory, e.g. the mirror made by the `fetch` tool), or $TOY_REFERENCE.
              Their file is read at run time (its 'cuda' device strings read as the bench's
              device, its sampling/loss helpers eager rather than TorchScript, which torch
              2.13 refuses for them) and never copied into this repository. Needs
              torch-optimizer.

Each figure is seconds per member-step: (time of warm + n steps − time of warm steps) / n /
members, so start-up (TorchScript compilation, first-touch page faults) is left out. Ours is
timed in float32 and in bfloat16 (the toy.dtype param). Writes metrics/bench/toy.json.

    python bench/toy_sweep.py [--steps 4] [--warm 2] [--members 8] [--authors DIR]
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import types
from pathlib import Path

import torch

from dictlearn.toy.config import ToyRun, ToySweep
from dictlearn.toy.train import Problem, train_group

LRS = [0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.03]


def authors_module(where: Path, device: str) -> types.ModuleType:
    if (where / "model3.py").is_file():
        source = (where / "model3.py").read_text()
    else:  # a git directory (bare mirror)
        source = subprocess.run(["git", "--git-dir", str(where), "show", "HEAD:model3.py"],
                                capture_output=True, text=True, check=True).stdout
    # the file is a script: below its definitions it parses argv, trains and saves a model
    source = source.split("\nimport argparse", 1)[0]
    source = source.replace("print('GPU:',torch.cuda.get_device_name(0))", "")
    # TorchScript in torch 2.13 types their unannotated sampler arguments as Tensor and
    # refuses the ints they pass: those helpers run eagerly (same ops); the model stays scripted
    source = source.replace("@torch.jit.script\n", "")
    source = source.replace("'cuda'", repr(device))
    # TorchScript reads function source from the file: give it a temporary one (outside
    # the repository, removed at exit)
    folder = Path(tempfile.mkdtemp(prefix="toy-authors-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "model3.py").write_text(source)
    spec = importlib.util.spec_from_file_location("model3", folder / "model3.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, warm: int, steps: int) -> float:
    """Seconds per step of fn(n_steps), start-up excluded."""
    t0 = time.perf_counter()
    fn(warm)
    t1 = time.perf_counter()
    fn(warm + steps)
    t2 = time.perf_counter()
    return ((t2 - t1) - (t1 - t0)) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warm", type=int, default=2)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--authors", default=os.environ.get("TOY_REFERENCE"))
    ap.add_argument("--out", default="metrics/bench/toy.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    N, m, k, eps = 512, 64, 1024, 1 / 64
    # every setting spelled out (schemas have no defaults): the paper's decoder task, ReLU,
    # uniform sampling, no bias decay, bias offset or L1; lr is the varied one
    sweep = ToySweep(task="decoder", activation="relu", sampling="uniform", k=k, eps=eps,
                     lr=LRS[0], decay=0.0, bias=0.0, l1=0.0, vary="lr",
                     values=LRS[:args.members])
    members = sweep.members()
    problem = Problem(N, m, 0, device)
    load = os.getloadavg()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    figures: dict[str, float] = {}

    for dtype in ("float32", "bfloat16"):
        toy = ToyRun(N=N, m=m, batch_size=args.batch, steps=args.warm + args.steps, seed=0,
                     dtype=dtype, eval_batch=4096, threads=args.threads, device="auto")

        def batched(n, toy=toy):
            train_group(members, problem, toy, n, args.batch, desc="batched")
            sync()

        def sequential(n, toy=toy):
            for mb in members:
                train_group([mb], problem, toy, n, args.batch, desc="sequential")
            sync()

        figures[f"batched_{dtype}"] = timed(batched, args.warm, args.steps) / len(members)
        print(f"batched    {dtype:8s} {figures[f'batched_{dtype}']:.4f} s/member-step",
              flush=True)
        figures[f"sequential_{dtype}"] = timed(sequential, args.warm, args.steps) / len(members)
        print(f"sequential {dtype:8s} {figures[f'sequential_{dtype}']:.4f} s/member-step",
              flush=True)

    authors = None
    if args.authors and Path(args.authors).exists():
        try:
            ref = authors_module(Path(args.authors), device)
        except Exception as err:  # their module needs torch_optimizer, TorchScript
            print(f"authors' code skipped: cannot load it from {args.authors}: {err!r}")
        else:
            def theirs(n):
                ref.run(N, m, k, eps, args.batch, LRS[0], n, "equal", 0.0, "ReLU",
                        "autoencoder", 0.0, 0.0)
                sync()
            authors = figures["authors"] = timed(theirs, args.warm, args.steps)
            print(f"authors    float32  {authors:.4f} s/member-step", flush=True)
    else:
        print("authors' code skipped: pass --authors DIR (a checkout of "
              "adamjermyn/toy_model_interpretability) or set TOY_REFERENCE")

    ratios = {}
    for dtype in ("float32", "bfloat16"):
        b, s = figures[f"batched_{dtype}"], figures[f"sequential_{dtype}"]
        ratios[f"batched_vs_sequential_{dtype}"] = s / b
        if authors:
            ratios[f"batched_vs_authors_{dtype}"] = authors / b
            ratios[f"sequential_vs_authors_{dtype}"] = authors / s
    print(f"\nN {N} m {m} k {k} batch {args.batch}, {len(members)} members, {args.steps} "
          f"timed steps, {args.threads} threads on {device}; load average before "
          f"{load[0]:.2f}")
    for name, r in ratios.items():
        print(f"{name:34s} {r:5.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "N": N, "m": m, "k": k, "batch": args.batch, "members": len(members),
        "steps": args.steps, "threads": args.threads, "device": device,
        "cpu": platform.processor() or platform.machine(), "load_average_before": load[0],
        "seconds_per_member_step": figures, "ratios": ratios}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
