"""SAE training throughput: tokens/s of our training step (`SAETrainer.step`: loss, backward,
clipping, fused Adam, decoder constraint, dead-feature statistics) per architecture, beside
SAELens 6.54.12's own step (`SAETrainer.step`: training_forward_pass, statistics, backward,
clipping, Adam) on the same synthetic batches, in the same run, and beside the rate of the
encoder matmul x·W_enc alone (a bound for any SAE: it is the one dense product).

ReLU and JumpReLU SAEs are dense at initialisation (half the latents fire) and sparse once
trained, so they are timed in both states: "@L0=n" shifts b_enc so that each latent fires on
n/d_sae of the tokens, as after training. SAELens computes densely in either state (measured
with --saelens-l0: the same rate within noise), so by default it is timed once per
architecture. SAELens runs in a venv of its own (built and cached by dictlearn.saelens_env),
in a subprocess, interleaved with ours round by round; each figure is the best round. Both
sides run under the same allocator: LD_PRELOAD, if any, is inherited (SAELens gains most from
tcmalloc, e.g. LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4). Writes
metrics/bench/sae.json.

    python bench/sae_train.py [--steps 6] [--rounds 2] [--arch relu topk ...] [--no-saelens]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import yaml

from dictlearn.sae import sae_from_config
from dictlearn.sae.settings import SAEEntry, SAERunSettings, resolve
from dictlearn.sae.trainer import SAETrainer
from dictlearn.saelens_env import SAELENS_VERSION, SAELensUnavailable, saelens_python

SAELENS_NAME = {"relu": "standard", "topk": "topk", "batchtopk": "batchtopk",
                "jumprelu": "jumprelu"}
SAELENS_SIDE = Path(__file__).with_name("saelens_side.py")
# every SAE knob (schemas have no defaults): the default profile's `sae` section, with the
# shapes and the batch of this benchmark
PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "default.yaml"


def run_settings(name: str, d_sae: int, k: int, batch: int, steps: int,
                 profile: Path = PROFILE) -> SAERunSettings:
    """Architecture `name`'s settings and the trainer's, from the profile's `sae` section."""
    shared = yaml.safe_load(profile.read_text(encoding="utf-8"))["sae"]
    shared |= {"architecture": name, "d_sae": d_sae, "k": k, "batch_size": batch,
               "training_tokens": steps * batch, "device": "cpu"}
    return resolve(f"bench-{name}", SAEEntry(model="bench", domain="bench"), shared)


def synthetic_batches(n: int, batch: int, d_in: int, seed: int = 0) -> torch.Tensor:
    """[n, batch, d_in]: sparse sums of 4·d_in random directions (~16 per token, exponential
    magnitudes) plus an offset, scaled to E‖x‖² = d_in as our trainer scales its inputs."""
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.randn(4 * d_in, d_in, generator=gen)
    dirs /= dirs.norm(dim=1, keepdim=True)
    offset = torch.randn(d_in, generator=gen) * 0.3
    out = []
    for _ in range(n):
        idx = torch.randint(0, len(dirs), (batch, 16), generator=gen)
        mag = torch.empty(batch, 16).exponential_(generator=gen)
        out.append(torch.einsum("bj,bjd->bd", mag, dirs[idx]) + offset)
    x = torch.stack(out)
    return x * (d_in / x.pow(2).sum(-1).mean()).sqrt()


def parse_variant(variant: str) -> tuple[str, int | None]:
    name, _, l0 = variant.partition("@L0=")
    return name, int(l0) if l0 else None


@torch.no_grad()
def shift_to_l0(b_enc: torch.Tensor, z: torch.Tensor, l0: int, gate: float) -> None:
    """b_enc such that each latent's pre-activation passes `gate` on l0/d_sae of the tokens."""
    q = z.kthvalue(int(len(z) * (1 - l0 / z.shape[1])), dim=0).values
    b_enc.add_(gate - q)


def ours(variant: str, batches: torch.Tensor, steps: int, warmup: int, k: int,
         d_sae: int) -> dict:
    name, l0 = parse_variant(variant)
    n, batch, d_in = batches.shape
    run = run_settings(name, d_sae, k, batch, steps + warmup)
    torch.manual_seed(0)
    sae = sae_from_config(run.sae, d_in)
    sae.init_weights(torch.Generator().manual_seed(0))
    with torch.no_grad():
        sae.b_dec.copy_(batches[0].mean(0))
        if l0:
            z = batches[0] @ sae.W_enc + sae.b_enc
            shift_to_l0(sae.b_enc, z, l0, getattr(sae, "init_threshold", 0.0))
    trainer = SAETrainer(sae, run.trainer, steps + warmup, torch.device("cpu"))
    fired = 0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        _, counts = trainer.step(batches[i % n])
        fired += int(counts.sum()) if i >= warmup else 0
    return {"tokens_per_s": steps * batch / (time.perf_counter() - t0),
            "l0": fired / (steps * batch)}


def encoder_only(batches: torch.Tensor, d_sae: int, reps: int = 5) -> float:
    """Tokens/s of x·W_enc + b_enc alone, into a reused buffer (as our step computes it)."""
    _, batch, d_in = batches.shape
    w, b = torch.randn(d_in, d_sae) * 0.05, torch.zeros(d_sae)
    out = torch.empty(batch, d_sae)
    torch.addmm(b, batches[0], w, out=out)
    t0 = time.perf_counter()
    for i in range(reps):
        torch.addmm(b, batches[i % len(batches)], w, out=out)
    return reps * batch / (time.perf_counter() - t0)


def saelens(python: Path, variants: list[str], batches_file: Path, args) -> dict[str, float]:
    """SAELens's rate per variant. Its step is dense whatever the sparsity, so a name@L0=n
    variant gets the plain name's rate unless --saelens-l0 times it too."""
    runs = {v: v if args.saelens_l0 else parse_variant(v)[0] for v in variants}
    out = batches_file.with_name("saelens.json")
    cmd = [str(python), str(SAELENS_SIDE), str(batches_file), str(out), "--steps",
           str(args.steps), "--warmup", str(args.warmup), "--k", str(args.k), "--d-sae",
           str(args.d_sae), "--threads", str(args.threads)]
    for run in dict.fromkeys(runs.values()):
        name, l0 = parse_variant(run)
        cmd.append(SAELENS_NAME[name] + (f"@L0={l0}" if l0 else ""))
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"SAELens side failed: {done.stderr[-2000:]}")
    rates = dict(zip(dict.fromkeys(runs.values()),
                     json.loads(out.read_text())["tokens_per_s"].values(), strict=True))
    return {v: rates[run] for v, run in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["relu", "relu@L0=64", "topk", "batchtopk",
                                                  "jumprelu", "jumprelu@L0=64"],
                    help="architectures; name@L0=n starts from a trained-like sparsity")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per architecture")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="ours then SAELens, repeated")
    ap.add_argument("--d-in", type=int, default=512)
    ap.add_argument("--d-sae", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-saelens", action="store_true")
    ap.add_argument("--saelens-l0", action="store_true",
                    help="time SAELens at each @L0=n state too (its rate does not change)")
    ap.add_argument("--out", default="metrics/bench/sae.json")
    args = ap.parse_args()
    for v in args.arch:
        if parse_variant(v)[0] not in SAELENS_NAME:
            ap.error(f"--arch {v}: expected one of {sorted(SAELENS_NAME)}, optionally @L0=n")
    torch.set_num_threads(args.threads)
    batches = synthetic_batches(4, args.batch, args.d_in)
    python = None
    if not args.no_saelens:
        try:
            python = saelens_python()
        except SAELensUnavailable as err:
            print(f"SAELens {SAELENS_VERSION} unavailable, timing ours only: {err}")
    load_before = os.getloadavg()
    rates: dict[str, list] = {"encoder": [], **{v: [] for v in args.arch}}
    theirs: dict[str, list] = {v: [] for v in args.arch}
    with tempfile.TemporaryDirectory() as tmp:
        batches_file = Path(tmp) / "batches.npy"
        np.save(batches_file, batches.numpy())
        for r in range(args.rounds):
            rates["encoder"].append(encoder_only(batches, args.d_sae))
            for v in args.arch:
                rates[v].append(ours(v, batches, args.steps, args.warmup, args.k, args.d_sae))
                print(f"round {r + 1} ours {v}: {rates[v][-1]['tokens_per_s']:,.0f} tok/s",
                      flush=True)
            if python is not None:
                for v, rate in saelens(python, args.arch, batches_file, args).items():
                    theirs[v].append(rate)
                    print(f"round {r + 1} SAELens for {v}: {rate:,.0f} tok/s", flush=True)
    encoder = max(rates["encoder"])
    result = {
        "shapes": {"d_in": args.d_in, "d_sae": args.d_sae, "batch": args.batch, "k": args.k,
                   "dtype": "float32"},
        "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
        "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__, "saelens": SAELENS_VERSION if python else None,
        "allocator": os.environ.get("LD_PRELOAD") or "default (glibc malloc)",
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "encoder_only_tokens_per_s": encoder,
        "architectures": {},
    }
    print(f"\nencoder matmul alone: {encoder:,.0f} tok/s; load average {load_before[0]:.1f} "
          f"→ {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'architecture':16s} {'ours tok/s':>11s} {'SAELens':>9s} {'ratio':>6s} "
          f"{'of encoder':>10s} {'L0':>7s}")
    for v in args.arch:
        best = max(rates[v], key=lambda m: m["tokens_per_s"])
        row = {"tokens_per_s": best["tokens_per_s"], "l0": best["l0"],
               "fraction_of_encoder_only": best["tokens_per_s"] / encoder,
               "rounds_tokens_per_s": [m["tokens_per_s"] for m in rates[v]]}
        if theirs[v]:
            row |= {"saelens_tokens_per_s": max(theirs[v]), "saelens_rounds": theirs[v],
                    "ratio": best["tokens_per_s"] / max(theirs[v])}
        result["architectures"][v] = row
        print(f"{v:16s} {row['tokens_per_s']:11,.0f} {row.get('saelens_tokens_per_s', 0):9,.0f} "
              f"{row.get('ratio', float('nan')):6.2f} {row['fraction_of_encoder_only']:10.2f} "
              f"{row['l0']:7.1f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
