"""Toy-model sweep throughput: an 8-member LR1 sweep (N 512, m 64, k 1024, batch 8192, ReLU,
uniform ε = 1/64) trained as whole runs of `--steps` steps each:

  batched     all members in one model (leading sweep dimension, bmm), dictlearn.toy
  sequential  the same members one at a time, dictlearn.toy
  authors     adamjermyn/toy_model_interpretability's model3.run (one member; it trains one
              at a time), when a checkout is given: --authors DIR (a folder holding model3.py,
              or a git directory, e.g. a bare mirror), or $TOY_REFERENCE; without one it is
              reported and recorded as skipped. Their file is read at run time (its 'cuda'
              device strings read as the bench's device, its sampling/loss helpers eager
              rather than TorchScript, which torch 2.13 refuses for them) and never copied
              into this repository. Needs torch-optimizer.

Precision is never sold as speed: ours runs in float32 and in bfloat16 (the toy.dtype param),
each reported apart; the authors' code runs in float32 and under bf16 autocast (recorded as
skipped, with the reason, if autocast fails or does not reach their TorchScript model). The
ratios set fp32 against fp32 and bf16 against bf16; ours in bf16 against their fp32 is named
as such. Timing as bench/timing.py says: a warm-up call per way (TorchScript compilation,
first-touch allocation), then >= 3 rounds alternating all ways; figures are seconds per
member-step (best and median). Writes metrics/bench/toy.json.

    python bench/toy_sweep.py [--steps 6] [--members 8] [--authors DIR]
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import compare, machine, require_quiet, skipped, write_figures  # noqa: E402

from dictlearn.toy.config import ToyRun, ToySweep  # noqa: E402
from dictlearn.toy.train import Problem, train_group  # noqa: E402

LRS = [0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.03]
GET_AUTHORS = ("pass --authors <checkout of adamjermyn/toy_model_interpretability> (make bench "
               "TOY_REFERENCE=...), e.g. git clone "
               "https://github.com/adamjermyn/toy_model_interpretability")


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


def scripted_model_autocasts(device: str) -> bool:
    """Whether bf16 autocast reaches a TorchScript Linear-ReLU-Linear, as their model is."""
    model = torch.jit.script(torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))).to(device)
    with torch.autocast(torch.device(device).type, torch.bfloat16):
        return model(torch.randn(2, 4, device=device)).dtype == torch.bfloat16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6, help="training steps per timed run")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (>= 3)")
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--N", type=int, default=512)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--authors", default=os.environ.get("TOY_REFERENCE"))
    ap.add_argument("--out", default="metrics/bench/toy.json")
    ap.add_argument("--force", action="store_true",
                    help="measure even on a busy machine (prints figures, never writes them)")
    args = ap.parse_args()
    load = require_quiet("bench/toy_sweep.py", args.force)
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    N, m, k, eps, steps = args.N, args.m, args.k, 1 / 64, args.steps
    # every setting spelled out (schemas have no defaults): the paper's decoder task, ReLU,
    # uniform sampling, no bias decay, bias offset or L1; lr is the varied one
    sweep = ToySweep(task="decoder", activation="relu", sampling="uniform", k=k, eps=eps,
                     lr=LRS[0], decay=0.0, bias=0.0, l1=0.0, vary="lr",
                     values=LRS[:args.members])
    members = sweep.members()
    problem = Problem(N, m, 0, device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result = {"N": N, "m": m, "k": k, "batch": args.batch, "members": len(members),
              "steps_per_call": steps, "rounds": max(3, args.rounds),
              "threads": args.threads, "device": device, "skipped": {}}
    ways = {}  # name → a call that trains one whole run, → its member-steps

    for dtype in ("float32", "bfloat16"):
        toy = ToyRun(N=N, m=m, batch_size=args.batch, steps=steps, seed=0, dtype=dtype,
                     eval_batch=4096, threads=args.threads, device="auto")

        def batched(toy=toy):
            train_group(members, problem, toy, steps, args.batch, desc="batched")
            sync()
            return len(members) * steps

        def sequential(toy=toy):
            for mb in members:
                train_group([mb], problem, toy, steps, args.batch, desc="sequential")
            sync()
            return len(members) * steps

        ways[f"batched_{dtype}"], ways[f"sequential_{dtype}"] = batched, sequential

    if not (args.authors and Path(args.authors).exists()):
        skipped(result, "the authors' model3.py", GET_AUTHORS)
    else:
        try:
            ref = authors_module(Path(args.authors), device)
        except Exception as err:  # their module needs torch_optimizer, TorchScript
            skipped(result, "the authors' model3.py",
                    f"cannot load it from {args.authors}: {err!r} (it needs torch-optimizer: "
                    "pip install torch-optimizer==0.3.0)")
        else:
            def theirs(autocast: bool):
                with torch.autocast(torch.device(device).type, torch.bfloat16,
                                    enabled=autocast):
                    ref.run(N, m, k, eps, args.batch, LRS[0], steps, "equal", 0.0, "ReLU",
                            "autoencoder", 0.0, 0.0)
                sync()
                return steps

            ways["authors_float32"] = lambda: theirs(False)
            why = None
            result["autocast_reaches_torchscript"] = scripted_model_autocasts(device)
            if not result["autocast_reaches_torchscript"]:
                why = "bf16 autocast does not reach a TorchScript model here (output float32)"
            else:
                try:
                    theirs(True)  # a trial call: a failure is recorded, not raised mid-bench
                except Exception as err:
                    why = f"their run() fails under bf16 autocast: {err!r}"
                else:
                    ways["authors_bf16_autocast"] = lambda: theirs(True)
            if why:
                skipped(result, "the authors' model3.py under bf16 autocast", why)

    rates = compare(ways, args.rounds, unit="member-steps", label="toy: ")
    result["seconds_per_member_step"] = {
        name: {"best": 1 / r["best"], "median": 1 / r["median"],
               "per_call": [1 / x for x in r["rates"]]} for name, r in rates.items()}
    best = {name: r["best"] for name, r in result["seconds_per_member_step"].items()}
    ratios = {}  # how many times faster the first is than the second (best figures)
    pairs = [(f"batched_{p}", f"sequential_{p}") for p in ("float32", "bfloat16")]
    for ours in ("batched", "sequential"):
        pairs += [(f"{ours}_float32", "authors_float32"),
                  (f"{ours}_bfloat16", "authors_bf16_autocast"),
                  (f"{ours}_bfloat16", "authors_float32")]  # precision differs: named so
    for a, b in pairs:
        if a in best and b in best:
            ratios[f"{a}_vs_{b}"] = best[b] / best[a]
    result["ratios"] = ratios
    print(f"\nN {N} m {m} k {k} batch {args.batch}, {len(members)} members, {steps} steps "
          f"per run, {args.threads} threads on {device}; seconds per member-step:")
    for name, s in result["seconds_per_member_step"].items():
        print(f"  {name:22s} best {s['best']:.4f}  median {s['median']:.4f}")
    for name, r in ratios.items():
        print(f"  {name:44s} {r:5.2f}x")
    result["machine"] = machine(load)
    write_figures(args.out, result, load)


if __name__ == "__main__":
    main()
