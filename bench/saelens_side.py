"""SAELens's own SAE training step, timed: run by bench/sae_train.py with the python of the
SAELens venv (it cannot import dictlearn). For each architecture: SAELens's TrainingSAE and
SAETrainer, `trainer.step(batch)` (training_forward_pass, dead-feature statistics, backward,
gradient clipping, Adam, schedulers) on the batches in a .npy file, as `fit()` calls it.
"name@L0=n" first shifts b_enc so that each latent fires on n/d_sae of the tokens.

    python saelens_side.py BATCHES.npy OUT.json --steps 8 --warmup 2 --k 32 standard topk
"""

import argparse
import json
import time

import numpy as np
import torch
from sae_lens import saes
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.training.sae_trainer import SAETrainer

CLASSES = {  # SAELens architecture name -> (training SAE, its config)
    "standard": (saes.StandardTrainingSAE, saes.StandardTrainingSAEConfig),
    "topk": (saes.TopKTrainingSAE, saes.TopKTrainingSAEConfig),
    "batchtopk": (saes.BatchTopKTrainingSAE, saes.BatchTopKTrainingSAEConfig),
    "jumprelu": (saes.JumpReLUTrainingSAE, saes.JumpReLUTrainingSAEConfig),
}


def rate(variant: str, batches: torch.Tensor, args) -> float:
    name, _, l0 = variant.partition("@L0=")
    n, batch, d_in = batches.shape
    cls, cfg_cls = CLASSES[name]
    extra = {"k": args.k} if "topk" in name else {}
    torch.manual_seed(0)
    sae = cls(cfg_cls(d_in=d_in, d_sae=args.d_sae, dtype="float32", device="cpu", **extra))
    if l0:  # as bench/sae_train.py's shift_to_l0
        with torch.no_grad():
            z = sae.encode_with_hidden_pre(batches[0])[1]
            q = z.kthvalue(int(batch * (1 - int(l0) / args.d_sae)), dim=0).values
            gate = sae.threshold if name == "jumprelu" else 0.0
            sae.b_enc.add_(gate - q)
    trainer = SAETrainer(SAETrainerConfig(total_training_samples=(args.steps + args.warmup)
                                          * batch, train_batch_size_samples=batch,
                                          lr_end=3e-5, logger=LoggingConfig(log_to_wandb=False)),
                         sae, data_provider=iter(()))
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            t0 = time.perf_counter()
        trainer.step(batches[i % n])
        trainer.n_training_steps += 1
    return args.steps * batch / (time.perf_counter() - t0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("batches")
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--d-sae", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("variants", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.from_numpy(np.load(args.batches))
    out = {v: rate(v, x, args) for v in args.variants}
    with open(args.out, "w") as f:
        json.dump({"tokens_per_s": out, "torch": torch.__version__}, f)
