"""SAE training throughput: tokens/s of our training step (`SAETrainer.step`: loss, backward,
clipping, fused Adam, decoder constraint, dead-feature statistics) per architecture, beside
SAELens 6.54.12's own step (`SAETrainer.step`: training_forward_pass, statistics, backward,
clipping, Adam) on the same synthetic batches and settings (the default profile's `sae`
section), and beside the encoder matmul x·W_enc alone (a bound for any SAE: the one dense
product).

Like for like: each row sets our SAE beside SAELens's same architecture in the same sparsity
state: TopK and BatchTopK at the same k; ReLU and JumpReLU either dense as initialised (half
the latents fire), or, as "name@L0=n", with b_enc shifted on both sides the same way, so
that each latent passes its gate (0, or the JumpReLU threshold) on n/d_sae of batch 0's
tokens, as after training. Training moves the state a little, so each row carries the L0
measured on each side during its timed calls, not the target n.

Timing as bench/timing.py says: each side warmed up by a call of its own, then >= 3 rounds
alternating ours and SAELens, each call `--steps` steps of one SAE that keeps training.
SAELens runs in a venv of its own (dictlearn.saelens_env) as a long-lived worker
(bench/saelens_side.py) that times its own steps; without that venv it is reported and
recorded as skipped. Both sides run under the same allocator: LD_PRELOAD, if any, is
inherited. Writes metrics/bench/sae.json.

    python bench/sae_train.py [--steps 8] [--rounds 3] [--arch relu topk ...] [--no-saelens]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from timing import Timed, compare, machine, require_quiet, skipped, write_figures  # noqa: E402

from dictlearn.sae import sae_from_config  # noqa: E402
from dictlearn.sae.settings import SAEEntry, SAERunSettings, resolve  # noqa: E402
from dictlearn.sae.trainer import SAETrainer  # noqa: E402
from dictlearn.saelens_env import (SAELENS_VERSION, SAELensUnavailable,  # noqa: E402
                                   saelens_python, saelens_venv_dir)

# our architecture → SAELens's training SAE of the same computation
SAELENS_TRAINING = {"relu": "standard", "topk": "topk", "batchtopk": "batchtopk",
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


def saelens_settings(run: SAERunSettings, steps: int) -> tuple[dict, dict]:
    """SAELens's config fields for the same SAE and trainer: (SAE config, SAETrainerConfig)."""
    cfg, tr = run.sae, run.trainer
    warm = max(1, steps // 20)  # our trainer warms the sparsity coefficient over 5% of steps
    sae = {"d_sae": cfg.d_sae, "apply_b_dec_to_input": False}  # as ours (sae/base.py)
    if cfg.architecture == "relu":
        sae |= {"l1_coefficient": cfg.l1_coeff, "l1_warm_up_steps": warm}
    elif cfg.architecture in ("topk", "batchtopk"):  # ours selects on raw pre-activations
        sae |= {"k": cfg.k, "aux_loss_coefficient": cfg.aux_coeff,
                "rescale_acts_by_decoder_norm": False}
    else:
        sae |= {"l0_coefficient": cfg.l0_coeff, "l0_warm_up_steps": warm,
                "jumprelu_init_threshold": cfg.jumprelu_init_threshold,
                "jumprelu_bandwidth": cfg.jumprelu_bandwidth}
    trainer = {"total_training_samples": steps * tr.batch_size, "lr": tr.lr, "lr_end": tr.lr,
               "lr_warm_up_steps": tr.warmup_steps}
    return sae, trainer


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
def shift_to_l0(b_enc: torch.Tensor, z: torch.Tensor, l0: int, gate) -> None:
    """b_enc such that each latent's pre-activation passes `gate` on l0/d_sae of the tokens
    (bench/saelens_side.py does the same to SAELens's SAE)."""
    q = z.kthvalue(int(len(z) * (1 - l0 / z.shape[1])), dim=0).values
    b_enc.add_(gate - q)


class Ours:
    """Our SAE and trainer for one variant; each call trains `steps` more steps."""

    def __init__(self, run: SAERunSettings, l0: int | None, batches: torch.Tensor,
                 total_steps: int, steps: int):
        self.batches, self.steps, self.i, self.l0s = batches, steps, 0, []
        torch.manual_seed(0)
        sae = sae_from_config(run.sae, batches.shape[2])
        sae.init_weights(torch.Generator().manual_seed(0))
        with torch.no_grad():
            sae.b_dec.copy_(batches[0].mean(0))  # as train_sae
            if l0:
                shift_to_l0(sae.b_enc, batches[0] @ sae.W_enc + sae.b_enc, l0,
                            getattr(sae, "threshold", 0.0))
        self.trainer = SAETrainer(sae, run.trainer, total_steps, torch.device("cpu"))

    def __call__(self) -> int:
        fired = 0
        for _ in range(self.steps):
            _, counts = self.trainer.step(self.batches[self.i % len(self.batches)])
            fired += int(counts.sum())
            self.i += 1
        tokens = self.steps * self.batches.shape[1]
        self.l0s.append(fired / tokens)
        return tokens


class SAELensWorker:
    """bench/saelens_side.py in the SAELens venv, answering one JSON line per command."""

    def __init__(self, python: Path, batches_file: Path, threads: int):
        self.proc = subprocess.Popen([str(python), str(SAELENS_SIDE), str(batches_file),
                                      "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"SAELens worker exited (code {self.proc.wait()}); see above")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"SAELens worker, {cmd['op']}: {answer['error']}")
        return answer

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def encoder_only(batches: torch.Tensor, d_sae: int, reps: int = 5):
    """x·W_enc + b_enc alone, into a reused buffer (as our step computes it): → a way."""
    _, batch, d_in = batches.shape
    w, b = torch.randn(d_in, d_sae) * 0.05, torch.zeros(d_sae)
    out = torch.empty(batch, d_sae)

    def call() -> int:
        for i in range(reps):
            torch.addmm(b, batches[i % len(batches)], w, out=out)
        return reps * batch
    return call


def summary(rates: dict, l0s: list[float]) -> dict:
    """Rates plus the L0 measured in the timed calls (the first call is the warm-up)."""
    return {**rates, "l0": statistics.median(l0s[1:]), "l0_per_call": l0s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["relu", "relu@L0=64", "topk", "batchtopk",
                                                  "jumprelu", "jumprelu@L0=64"],
                    help="architectures; name@L0=n starts both sides at a trained-like L0")
    ap.add_argument("--steps", type=int, default=8, help="training steps per timed call")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (>= 3)")
    ap.add_argument("--d-in", type=int, default=512)
    ap.add_argument("--d-sae", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-saelens", action="store_true")
    ap.add_argument("--out", default="metrics/bench/sae.json")
    ap.add_argument("--force", action="store_true",
                    help="measure even on a busy machine (prints figures, never writes them)")
    args = ap.parse_args()
    for v in args.arch:
        if parse_variant(v)[0] not in SAELENS_TRAINING:
            ap.error(f"--arch {v}: expected one of {sorted(SAELENS_TRAINING)}, optionally @L0=n")
    load = require_quiet("bench/sae_train.py", args.force)
    torch.set_num_threads(args.threads)
    batches = synthetic_batches(4, args.batch, args.d_in)
    rounds = max(3, args.rounds)
    total_steps = (rounds + 1) * args.steps  # the warm-up call and the timed ones
    result = {
        "shapes": {"d_in": args.d_in, "d_sae": args.d_sae, "batch": args.batch, "k": args.k,
                   "dtype": "float32"},
        "steps_per_call": args.steps, "rounds": rounds, "threads": args.threads,
        "torch": torch.__version__, "saelens": None, "skipped": {},
        "allocator": os.environ.get("LD_PRELOAD") or "default (glibc malloc)",
    }
    python = None
    if args.no_saelens:
        skipped(result, "SAELens", "--no-saelens given")
    else:
        try:
            python = saelens_python(build=False)
            result["saelens"] = SAELENS_VERSION
        except SAELensUnavailable:
            skipped(result, "SAELens",
                    f"no SAELens {SAELENS_VERSION} venv at {saelens_venv_dir()}; build it "
                    "with `.venv/bin/python -c 'from dictlearn.saelens_env import "
                    "saelens_python; saelens_python()'` (or point DICTLEARN_SAELENS_VENV at one)")
    result["encoder_only_tokens_per_s"] = compare(
        {"encoder_matmul": encoder_only(batches, args.d_sae)}, rounds, label="encoder: "
    )["encoder_matmul"]
    encoder = result["encoder_only_tokens_per_s"]["best"]
    rows = result["architectures"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        batches_file = Path(tmp) / "batches.npy"
        np.save(batches_file, batches.numpy())
        worker = SAELensWorker(python, batches_file, args.threads) if python else None
        try:
            for v in args.arch:
                name, l0 = parse_variant(v)
                run = run_settings(name, args.d_sae, args.k, args.batch, total_steps)
                ours = Ours(run, l0, batches, total_steps, args.steps)
                ways = {"ours": ours}
                if worker:
                    sae_cfg, trainer_cfg = saelens_settings(run, total_steps)
                    worker.ask(op="setup", name=v, arch=SAELENS_TRAINING[name], l0=l0,
                               sae=sae_cfg, trainer=trainer_cfg)
                    theirs_l0s: list[float] = []

                    def theirs(v=v, l0s=theirs_l0s) -> Timed:
                        a = worker.ask(op="run", name=v, steps=args.steps)
                        l0s.append(a["l0"])
                        return Timed(a["tokens"], a["seconds"])
                    ways["saelens"] = theirs
                rates = compare(ways, rounds, label=f"{v}: ")
                row = rows[v] = {"ours": summary(rates["ours"], ours.l0s),
                                 "fraction_of_encoder_only": rates["ours"]["best"] / encoder}
                if worker:
                    worker.ask(op="drop", name=v)
                    row["saelens_architecture"] = SAELENS_TRAINING[name]
                    row["saelens"] = summary(rates["saelens"], theirs_l0s)
                    row["ours_over_saelens"] = rates["ours"]["best"] / rates["saelens"]["best"]
                    row["ours_over_saelens_median"] = \
                        rates["ours"]["median"] / rates["saelens"]["median"]
        finally:
            if worker:
                worker.close()
    print(f"\nencoder matmul alone: {encoder:,.0f} tok/s")
    print(f"{'architecture':16s} {'ours tok/s':>11s} {'L0':>6s} {'SAELens':>9s} {'L0':>6s} "
          f"{'ratio':>6s} {'of encoder':>10s}  (best of {rounds} rounds)")
    for v, row in rows.items():
        s = row.get("saelens", {})
        print(f"{v:16s} {row['ours']['best']:11,.0f} {row['ours']['l0']:6.1f} "
              f"{s.get('best', 0):9,.0f} {s.get('l0', float('nan')):6.1f} "
              f"{row.get('ours_over_saelens', float('nan')):6.2f} "
              f"{row['fraction_of_encoder_only']:10.2f}")
    result["machine"] = machine(load)
    write_figures(args.out, result, load)


if __name__ == "__main__":
    main()
