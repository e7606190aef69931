"""SAE training on a cached activation store (the model is never re-run).

Inputs are scaled by one constant so that E‖x‖² = d_in (Anthropic's April-2024 recipe, which
makes the sparsity coefficient portable across layers and models); the scale is folded into
the saved weights, so the saved SAE takes raw activations.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import torch
from pydantic import Field, model_validator
from tqdm import tqdm

from dictlearn.core.runtime import rank_world, summed
from dictlearn.core.schema import (Device, NonNegativeInt, PositiveFloat, PositiveInt, Strict,
                                   check_processes)
from dictlearn.sae.base import SparseAutoencoder
from dictlearn.sae.sparse import firing_counts
from dictlearn.acts.store import ActivationStore


class TrainerConfig(Strict):
    """How an SAE trains, whatever its architecture (params `sae`, per-entry overrides)."""

    lr: PositiveFloat
    warmup_steps: NonNegativeInt
    decay_fraction: Annotated[float, Field(ge=0, le=1)]
    batch_size: PositiveInt
    training_tokens: PositiveInt
    buffer_chunks: PositiveInt
    # steps a feature must stay silent to count as dead: relu/jumprelu resample the dead ones
    # every this many steps (until resample_until of training); topk/batchtopk feed them to AuxK
    resample_every: PositiveInt
    resample_until: Annotated[float, Field(ge=0, le=1)]
    grad_clip: PositiveFloat
    # bf16 autocast of the training step on a GPU (ignored on CPU: see sae/sparse.py)
    autocast: bool
    seed: int
    device: Device
    # data-parallel processes (torch DDP under torchrun): each takes batch_size / processes of
    # every batch; gradients and firing counts are summed over them (README, scale-out)
    processes: PositiveInt
    # steps between resumable checkpoints (sae/resume.py; 0: none)
    checkpoint_every: NonNegativeInt

    @model_validator(mode="after")
    def _processes_divide_batch(self) -> TrainerConfig:
        check_processes(self.processes, self.batch_size)
        return self


def lr_multiplier(step: int, n_steps: int, warmup: int, decay_fraction: float) -> float:
    """Linear warmup, constant, then linear decay to 0 over the last `decay_fraction`."""
    if step < warmup:
        return (step + 1) / warmup
    decay_start = n_steps * (1 - decay_fraction)
    if decay_fraction > 0 and step >= decay_start:
        return max(0.0, (n_steps - step) / (n_steps - decay_start))
    return 1.0


@torch.no_grad()
def resample_dead_features(sae: SparseAutoencoder, dead: torch.Tensor, x: torch.Tensor,
                           opt: torch.optim.Adam, generator: torch.Generator) -> int:
    """Re-initialise `dead` features towards inputs the SAE reconstructs badly
    ("Towards Monosemanticity", 2023): pick inputs with probability ∝ loss², point the
    decoder row at the unit input, the encoder column at it scaled to 0.2 × the mean alive
    encoder norm, zero the bias, and clear Adam's moments for those weights."""
    idx = dead.nonzero().squeeze(1)
    if len(idx) == 0:
        return 0
    losses = (sae(x) - x).pow(2).sum(-1)
    probs = losses.pow(2).cpu().double()
    if probs.sum() <= 0:
        probs = torch.ones_like(probs)
    pick = torch.multinomial(probs, len(idx), replacement=len(idx) > len(x), generator=generator)
    directions = x[pick.to(x.device)]
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-8)
    alive = ~dead
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    sae.W_dec[idx] = directions
    sae.W_enc[:, idx] = directions.T * 0.2 * enc_norm
    sae.b_enc[idx] = 0.0
    for p, sl in ((sae.W_dec, (idx,)), (sae.W_enc, (slice(None), idx)), (sae.b_enc, (idx,))):
        state = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][sl] = 0.0
    return len(idx)


def input_scale(store: ActivationStore, seed: int, n: int = 65536) -> tuple[float, torch.Tensor]:
    sample = store.sample(min(n, store.n_tokens), seed)
    scale = math.sqrt(store.d / sample.pow(2).sum(-1).mean().item())
    return scale, sample * scale


class _TrainingLoss(torch.nn.Module):
    """The SAE's training loss as a module's forward, so that DistributedDataParallel, which
    hooks forward, averages the gradients it produces."""

    def __init__(self, sae: SparseAutoencoder):
        super().__init__()
        self.sae = sae

    def forward(self, x: torch.Tensor, coeff: float, dead: torch.Tensor):
        return self.sae.training_loss(x, coeff, dead)


class TrainingState(torch.nn.Module):
    """The SAE and its trainer's statistics as one module (what a checkpoint saves and loads;
    loading copies into the trainer's own tensors)."""

    def __init__(self, sae: torch.nn.Module, last_fired: torch.Tensor, fire_count: torch.Tensor):
        super().__init__()
        self.sae = sae
        self.register_buffer("last_fired", last_fired)
        self.register_buffer("fire_count", fire_count)
        # steps done, the step of the last resampling, features resampled so far
        self.register_buffer("counters", torch.zeros(3, dtype=torch.long))
        # the SAE's training state that is not a tensor (its class names it: `resumable`)
        self.register_buffer("attrs", torch.zeros(len(sae.resumable), dtype=torch.float64))

    def capture(self, *counters: int) -> None:
        self.counters.copy_(torch.tensor(counters))
        self.attrs.copy_(torch.tensor([getattr(self.sae, a) for a in self.sae.resumable],
                                      dtype=torch.float64))

    def release(self) -> list[int]:
        """After loading: the SAE's attributes set back; returns the counters."""
        for name, value in zip(self.sae.resumable, self.attrs.tolist()):
            setattr(self.sae, name, value)
        return self.counters.tolist()


class SAETrainer:
    """One optimiser step at a time on scaled batches, with the dead-feature statistics:
    `train_sae` drives it over a store, bench/sae_train.py over synthetic batches. Under
    torch.distributed each process steps on its share of the batch through DDP; the firing
    counts (dead features, density) are summed over the processes, so every process holds the
    same SAE and the same statistics."""

    def __init__(self, sae: SparseAutoencoder, cfg: TrainerConfig, n_steps: int,
                 device: torch.device):
        self.sae, self.cfg, self.step_no = sae, cfg, 0
        self.ddp = None if rank_world()[1] == 1 else torch.nn.parallel.DistributedDataParallel(
            _TrainingLoss(sae), device_ids=[device] if device.type == "cuda" else None)
        self.device_type = device.type
        self.autocast = cfg.autocast and device.type == "cuda"  # bf16 matmuls, f32 weights
        # fused: one pass over each parameter (CPU and CUDA kernels since torch 2.4)
        self.opt = torch.optim.Adam(sae.param_groups(cfg.lr), lr=cfg.lr, betas=(0.9, 0.999),
                                    fused=device.type in ("cpu", "cuda"))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_multiplier(s, n_steps, cfg.warmup_steps, cfg.decay_fraction))
        # the architecture's sparsity coefficient, warmed up linearly over the first 5% of steps
        self.sparsity = sae.sparsity_coeff
        self.sparsity_warmup = max(1, n_steps // 20)
        self.last_fired = torch.full((sae.d_sae,), -1, dtype=torch.long, device=device)
        self.density_from = n_steps - max(1, n_steps // 5)  # feature density over the last 20%
        self.fire_count = torch.zeros(sae.d_sae, dtype=torch.long, device=device)

    def dead(self) -> torch.Tensor:
        return (self.step_no - self.last_fired) >= self.cfg.resample_every

    def step(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(loss parts, per-latent firing counts) of one step on x (already scaled)."""
        step, sae = self.step_no, self.sae
        coeff = self.sparsity * min(1.0, (step + 1) / self.sparsity_warmup)
        with torch.autocast(self.device_type, torch.bfloat16, enabled=self.autocast):
            loss, f, parts = (sae.training_loss(x, coeff, self.dead()) if self.ddp is None
                              else self.ddp(x, coeff, self.dead()))
        counts = summed(firing_counts(f))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), self.cfg.grad_clip)
        self.opt.step()
        sae.post_step()
        self.sched.step()
        self.last_fired.masked_fill_(counts > 0, step)
        if step >= self.density_from:
            self.fire_count += counts
        self.step_no += 1
        return parts, counts


def train_sae(sae: SparseAutoencoder, store: ActivationStore, cfg: TrainerConfig,
              device: torch.device, live=None, log_every: int = 20,
              checkpoints=None, state: dict | None = None) -> dict:
    """Train `sae` on `store`. `checkpoints` (sae/resume.SAECheckpoints): rank 0 saves the state
    every checkpoint_every steps; `state`, one it saved, is where training resumes (every
    rank restores it)."""
    rank, world = rank_world()
    share = cfg.batch_size // world
    gen = torch.Generator().manual_seed(cfg.seed)
    scale, sample = input_scale(store, cfg.seed)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.b_dec.copy_(sample.mean(0))
    sae.to(device).train()
    n_steps = max(1, cfg.training_tokens // cfg.batch_size)
    trainer = SAETrainer(sae, cfg, n_steps, device)
    last_resample, n_resampled, done = -1, 0, 0
    saved = TrainingState(sae, trainer.last_fired, trainer.fire_count)
    if state is not None:
        done = checkpoints.restore(state, saved, trainer.opt, trainer.sched, gen)
        trainer.step_no, last_resample, n_resampled = saved.release()
    t0 = time.perf_counter()
    bar = tqdm(total=n_steps * cfg.batch_size, initial=done * cfg.batch_size, unit="tok",
               unit_scale=True, desc="train_sae", disable=rank != 0)
    batches = store.batches(cfg.batch_size, n_steps, cfg.buffer_chunks, seed=cfg.seed)
    for step, x in enumerate(batches):
        if step < done:  # trained on before the checkpoint: the same stream, skipped
            continue
        # every process reads the same batch and trains on its share
        x = x[rank * share:(rank + 1) * share].to(device, non_blocking=True) * scale
        parts, counts = trainer.step(x)
        if (sae.resample_dead and (step + 1) % cfg.resample_every == 0
                and step + 1 < cfg.resample_until * n_steps):
            dead = trainer.last_fired <= last_resample  # silent since the last resampling
            pool = store.sample(min(store.n_tokens, 16 * cfg.batch_size), cfg.seed + step)
            n_resampled += resample_dead_features(sae, dead, pool.to(device) * scale,
                                                  trainer.opt, gen)
            trainer.last_fired[dead] = step
            last_resample = step
        bar.update(cfg.batch_size)
        if step % log_every == 0 or step == n_steps - 1:
            with torch.no_grad():
                l0 = counts.sum().item() / cfg.batch_size
                silent = step - trainer.last_fired
                dead_frac = (silent >= cfg.resample_every).float().mean().item()
                parts = {k: summed(v.detach().clone()) / world for k, v in parts.items()}
                var = summed((x - x.mean(0)).pow(2).sum(-1).mean()) / world
                ev = 1 - parts["mse"].item() / var.item()
            bar.set_postfix(mse=f"{parts['mse'].item():.2f}", l0=f"{l0:.1f}", ev=f"{ev:.3f}")
            if live is not None:
                live.step = step
                # the architecture's loss parts (mse, l1 / auxk / l0 …), then common figures
                for name, value in ({k: v.item() for k, v in parts.items()}
                                    | {"l0": l0, "dead_fraction": dead_frac,
                                       "explained_variance": ev,
                                       "lr": trainer.sched.get_last_lr()[0]}).items():
                    live.log_metric(f"train/{name}", value)
        if checkpoints is not None and rank == 0 and checkpoints.due(step + 1, n_steps):
            saved.capture(step + 1, last_resample, n_resampled)
            checkpoints.save(step + 1, saved, trainer.opt, trainer.sched, gen,
                             None if live is None else Path(live.dir))
    bar.close()
    elapsed = time.perf_counter() - t0
    sae.fold_input_scale(scale)
    sae.free_training_buffers()
    density = trainer.fire_count / ((n_steps - trainer.density_from) * cfg.batch_size)
    return {
        "log_density": torch.log10(density.cpu() + 1e-10),
        "input_scale": scale,
        "steps": n_steps,
        # machine-dependent: the stage writes these apart from the metrics
        # (a resumed run times the steps it ran)
        "timing": {"tokens_per_s": (n_steps - done) * cfg.batch_size / elapsed,
                   "seconds": elapsed},
        "resampled": n_resampled,
    }
