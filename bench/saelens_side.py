"""SAELens's own SAE training step, timed in a long-lived worker: bench/sae_train.py starts it
with the python of the SAELens venv (it cannot import dictlearn) and sends one JSON command a
line on stdin; the worker answers each with one JSON line on stdout (anything SAELens prints
goes to stderr), so that each round's SAELens call is timed inside the bench's alternation.

  {"op": "setup", "name": N, "arch": A, "l0": n or null, "sae": {...}, "trainer": {...}}
      SAELens's TrainingSAE A (standard, topk, batchtopk, jumprelu) from its config fields
      "sae" and an SAETrainer from "trainer"; b_dec at batch 0's mean (as ours); with "l0",
      b_enc shifted so that each latent fires on n/d_sae of batch 0's tokens, as
      bench/sae_train.py's shift_to_l0 does for ours → {"ok": true}
  {"op": "run", "name": N, "steps": s}
      s × `trainer.step(batch)` (training_forward_pass, dead-feature statistics, backward,
      clipping, Adam, schedulers), as `fit()` calls it, timed around the steps alone
      → {"tokens": s·batch, "seconds": ..., "l0": latents fired per token (SAELens's own
      firing counts)}
  {"op": "drop", "name": N} → {"ok": true}

    python saelens_side.py BATCHES.npy [--threads 2]
"""

import argparse
import json
import os
import sys
import time
import traceback

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


class Run:
    def __init__(self, batches: torch.Tensor, arch: str, l0, sae: dict, trainer: dict):
        self.batches, self.i = batches, 0
        n, batch, d_in = batches.shape
        cls, cfg_cls = CLASSES[arch]
        torch.manual_seed(0)
        self.sae = cls(cfg_cls(d_in=d_in, dtype="float32", device="cpu", **sae))
        with torch.no_grad():
            self.sae.b_dec.copy_(batches[0].mean(0))
            if l0:
                z = self.sae.encode_with_hidden_pre(batches[0])[1]
                q = z.kthvalue(int(batch * (1 - l0 / z.shape[1])), dim=0).values
                gate = self.sae.threshold if arch == "jumprelu" else 0.0
                self.sae.b_enc.add_(gate - q)
        self.trainer = SAETrainer(SAETrainerConfig(train_batch_size_samples=batch,
                                                   logger=LoggingConfig(log_to_wandb=False),
                                                   **trainer),
                                  self.sae, data_provider=iter(()))

    def run(self, steps: int) -> dict:
        fired_before, seconds = float(self.trainer.act_freq_scores.sum()), 0.0
        for _ in range(steps):
            x = self.batches[self.i % len(self.batches)]
            t0 = time.perf_counter()
            self.trainer.step(x)
            self.trainer.n_training_steps += 1
            seconds += time.perf_counter() - t0
            self.i += 1
        tokens = steps * self.batches.shape[1]
        fired = float(self.trainer.act_freq_scores.sum()) - fired_before
        return {"tokens": tokens, "seconds": seconds, "l0": fired / tokens}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("batches", help=".npy of [n, batch, d_in] float32")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (SAELens, tqdm) must not corrupt the answers
    sys.stdout = sys.stderr
    torch.set_num_threads(args.threads)
    batches = torch.from_numpy(np.load(args.batches))
    runs: dict[str, Run] = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "setup":
                runs[cmd["name"]] = Run(batches, cmd["arch"], cmd["l0"], cmd["sae"],
                                        cmd["trainer"])
                answer = {"ok": True}
            elif cmd["op"] == "run":
                answer = runs[cmd["name"]].run(cmd["steps"])
            elif cmd["op"] == "drop":
                runs.pop(cmd["name"], None)
                answer = {"ok": True}
            else:
                answer = {"error": f"unknown op {cmd['op']!r}"}
        except Exception:  # the bench shows SAELens's own error
            answer = {"error": traceback.format_exc(limit=4)}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
