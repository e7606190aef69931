"""The language-model training loop, shared by every domain: AdamW, warmup + cosine, dvclive."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from dictlearn.core.runtime import rank_world, summed, use_bf16
from dictlearn.lm.config import TrainLM
from dictlearn.lm.resume import Checkpoints


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warmup to 1, then cosine decay to `min_ratio` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainLM) -> torch.optim.AdamW:
    # Decay matrices only (not biases, LayerNorm gains or position tables' 1-D params).
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    # the fused kernel updates every tensor in one pass (1.3x the steps/s of the default
    # for-each update on the text model's CPU step, bench/train_lm.py)
    fused = all(p.device.type in ("cpu", "cuda", "mps") for p in decay + no_decay)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


@contextlib.contextmanager
def compiled(model: torch.nn.Module, enabled: bool) -> Iterator[torch.nn.Module]:
    """`model` compiled by torch.compile (sharing its parameters), or `model` itself.

    While compiled code runs, torch's deterministic mode is on: inductor's CPU kernels for
    scatter-adds (the embedding's gradient) race across threads otherwise, and two runs of one
    seed end with different weights; in deterministic mode they are bit-identical."""
    if not enabled:
        yield model
        return
    was, warn = (torch.are_deterministic_algorithms_enabled(),
                 torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield torch.compile(model)
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)


@torch.no_grad()
def token_losses(model: torch.nn.Module, ids: torch.Tensor, batch_size: int,
                 device: torch.device) -> torch.Tensor:
    """Per-token next-token cross-entropy, shape [n_seq, seq_len - 1]."""
    model.eval()
    out = []
    for i in range(0, len(ids), batch_size):
        x = ids[i:i + batch_size].to(device)
        logits = model(input_ids=x).logits[:, :-1].float()
        out.append(F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").cpu())
    return torch.cat(out)


def validation_metrics(model, val_ids: torch.Tensor, val_labels: torch.Tensor,
                       label_names: list[str], batch_size: int, device) -> dict[str, float]:
    losses = token_losses(model, val_ids, batch_size, device)
    target_labels = val_labels[:, 1:]
    out = {"val_loss": losses.mean().item()}
    for i, name in enumerate(label_names):
        mask = target_labels == i
        if mask.any():
            out[f"val_loss_{name}"] = losses[mask].mean().item()
    return out


def weighted_loss(model: torch.nn.Module, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy of sequences x [batch, seq_len], target j weighted by
    weights[j] (normalised: the loss is a weighted mean over targets)."""
    logits = model(input_ids=x[:, :-1]).logits.float()
    ce = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
    return (ce * weights).sum() / (weights.sum() * len(x))


def log_curves(live, curves, model: torch.nn.Module) -> None:
    if curves is not None:
        for name, value in curves(model).items():
            live.log_metric(name, value)


def train_lm(model: torch.nn.Module, train_ids: torch.Tensor, val_ids: torch.Tensor,
             val_labels: torch.Tensor, label_names: list[str], cfg: TrainLM,
             device: torch.device, seed: int, live=None,
             loss_weights: torch.Tensor | None = None,
             curves: Callable[[torch.nn.Module], dict[str, float]] | None = None,
             checkpoints: Checkpoints | None = None, state: dict | None = None
             ) -> dict[str, float]:
    """Train `model` in place on random sequences of `train_ids` [n_seq, seq_len]; the loss
    weighs target j by loss_weights[j] (None: all alike). Curves (dvclive, `live`) are logged
    against training tokens: loss, lr, validation loss and what `curves(model)` measures,
    every eval_every steps.

    Under torch.distributed (one of `world` processes, `live` on rank 0 only), every process
    draws the same batch and trains on its 1/world share of it through DDP, which averages
    the gradients: the step is the one-process step, to float tolerance. Rank 0 evaluates
    and returns the metrics; the others return {}.

    `checkpoints` (lm/resume.py): rank 0 saves the training state every checkpoint_every
    steps; `state`, one it saved, is where training resumes (every rank restores it)."""
    rank, world = rank_world()
    model.to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio))
    done = 0 if state is None else checkpoints.restore(state, model, opt, sched, gen)
    n_val = min(len(val_ids), cfg.eval_batches * cfg.batch_size)
    val_ids, val_labels = val_ids[:n_val], val_labels[:n_val]
    tokens_per_step = cfg.batch_size * train_ids.shape[1]
    bf16 = use_bf16(cfg.precision, device)
    if bf16 and device.type == "cpu":
        # under CPU bf16 autocast, torch's SDPA kernel is slower than fp32 (14.8k vs 17.5k
        # tok/s, text shapes), while eager attention runs at 25k: train with eager there
        model.set_attn_implementation("eager")
    if loss_weights is not None:
        loss_weights = loss_weights.to(device)
    share = cfg.batch_size // world
    wrapped = model if world == 1 else torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device] if device.type == "cuda" else None)
    # evaluation calls `model` itself, uncompiled
    with compiled(wrapped, cfg.compile) as step_model:
        t0 = time.perf_counter()
        bar = tqdm(total=cfg.steps * tokens_per_step, initial=done * tokens_per_step, unit="tok",
                   unit_scale=True, desc="train_lm", disable=rank != 0)
        for step in range(done, cfg.steps):
            model.train()
            idx = torch.randint(len(train_ids), (cfg.batch_size,), generator=gen)
            idx = idx[rank * share:(rank + 1) * share]
            x = train_ids[idx].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = (step_model(input_ids=x, labels=x).loss if loss_weights is None else
                        weighted_loss(step_model, x, loss_weights))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            bar.update(tokens_per_step)
            tokens = (step + 1) * tokens_per_step
            if step % 10 == 0 or step == cfg.steps - 1:
                loss = summed(loss.detach()) / world  # the whole batch's loss
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if live is not None:
                    live.step = tokens
                    live.log_metric("train/loss", loss.item())
                    live.log_metric("train/lr", sched.get_last_lr()[0])
            if live is not None and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
                live.step = tokens
                val = validation_metrics(model, val_ids, val_labels, label_names,
                                         cfg.batch_size, device)
                live.log_metric("val/loss", val["val_loss"])
                log_curves(live, curves, model)
            if checkpoints is not None and rank == 0 and checkpoints.due(step + 1, cfg.steps):
                checkpoints.save(step + 1, model, opt, sched, gen,
                                 None if live is None else Path(live.dir))
        bar.close()
        elapsed = time.perf_counter() - t0
    if rank != 0:
        return {}
    final = validation_metrics(model, val_ids, val_labels, label_names, cfg.batch_size, device)
    if live is not None:
        live.step = cfg.steps * tokens_per_step
        live.log_metric("val/loss", final["val_loss"])
        log_curves(live, curves, model)
    # timings depend on the machine: kept apart from the metrics, so that `dvc metrics diff`
    # of a re-run with the same params is empty
    # (a resumed run times the steps it ran)
    final.update(train_tokens=cfg.steps * tokens_per_step, timing={
        "train_tokens_per_s": (cfg.steps - done) * tokens_per_step / elapsed,
        "train_seconds": elapsed})
    return final

