"""Fleuret's culture loop: the models write new quizzes for each other.

One generation: a randomly drawn model writes a batch of quizzes by itself in the generation
order (f(B), f(A), A, B): f(B) at the hot temperature, then f(A), A and B at the cold one,
then f(B) once more, cold, with the quiz put back in the canonical order (A, f(A), B, f(B)).
Trivial quizzes (A = f(A) or B = f(B)) are dropped. Every model (the writer too) scores each
quiz by the probability of its answer, p = P(f(B) | A, f(A), B) · P(B | f(A), A, f(B)); a quiz
is kept when every model either understands it (p ≥ proba_understands) or fails it
(p ≤ proba_not_understands), and 1 to max_fail of them fail. The f(B) of every rejected
quiz seeds the next batch in place of a hot-sampled one. Between generations every model is
re-trained for one pass over fresh world quizzes plus the kept ones (at most half)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dictlearn.domains.culture.domain import (ANSWER_START, GRID_CELLS, generate_answers,
                                              quiz_accuracy)
from dictlearn.domains.culture.grids import H, W
from dictlearn.domains.culture.tasks import (GENERATION_ORDER, MARKER_POSITIONS, ORDERS, layout,
                                             make_quizzes)
from dictlearn.lm.train import train_lm

MARKER = (11, 12, 13, 14)  # A, f(A), B, f(B): grid g of a quiz has marker MARKER[g]
CANONICAL, INVERSE = ORDERS[0], ORDERS[1]  # (A, f(A), B, f(B)) and (f(A), A, f(B), B)


def grids_of(quizzes: torch.Tensor) -> torch.Tensor:
    """[n, 4, 100]: the grids A, f(A), B, f(B) of quizzes [n, 405], whatever their order."""
    n = len(quizzes)
    grids = torch.empty(n, 4, GRID_CELLS, dtype=quizzes.dtype)
    for pos in MARKER_POSITIONS:
        g = quizzes[:, pos] - MARKER[0]  # which grid this slot holds, per quiz
        cells = quizzes[:, pos + 1:pos + 1 + GRID_CELLS]
        grids[torch.arange(n), g] = cells
    return grids


def in_order(grids: torch.Tensor, order: tuple[int, ...]) -> torch.Tensor:
    """Quizzes [n, 405]: BOS 0, then for each grid of `order` its marker and cells."""
    n = len(grids)
    parts = [torch.zeros(n, 1, dtype=grids.dtype)]
    for g in order:
        parts += [torch.full((n, 1), MARKER[g], dtype=grids.dtype), grids[:, g]]
    return torch.cat(parts, 1)


def trivial(grids: torch.Tensor) -> torch.Tensor:
    """[n] bool: A = f(A) or B = f(B)."""
    return (grids[:, 0] == grids[:, 1]).all(1) | (grids[:, 2] == grids[:, 3]).all(1)


def _cells(model, prompt: torch.Tensor, temperature: float, gen, device) -> torch.Tensor:
    """100 cells written after `prompt` [n, t]; a marker or BOS written in a cell becomes
    background (cell values are 0..10)."""
    cells = generate_answers(model, prompt.to(device), temperature, gen).cpu()
    return torch.where(cells <= 10, cells, torch.zeros_like(cells))


@torch.no_grad()
def write_quizzes(model, f_b: torch.Tensor | None, n: int, hot: float, cold: float,
                  gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Grids [n, 4, 100] (A, f(A), B, f(B)) of quizzes the model writes: f(B) at `hot` (the
    first rows of `f_b` [k ≤ n, 100] are used instead, when given), f(A), A, B at `cold` in
    the generation order, then f(B) again at `cold` given A, f(A), B."""
    model.eval()
    grids = torch.zeros(n, 4, GRID_CELLS, dtype=torch.long)
    first, rest = GENERATION_ORDER[0], GENERATION_ORDER[1:]
    prompt = torch.tensor([[0, MARKER[first]]]).expand(n, 2)
    k = 0 if f_b is None else min(len(f_b), n)
    if k:
        grids[:k, first] = f_b[:k]
    if k < n:
        grids[k:, first] = _cells(model, prompt[k:], hot, gen, device)
    prompt = torch.cat([prompt, grids[:, first]], 1)
    for g in rest:
        prompt = torch.cat([prompt, torch.full((n, 1), MARKER[g])], 1)
        grids[:, g] = _cells(model, prompt, cold, gen, device)
        prompt = torch.cat([prompt, grids[:, g]], 1)
    canonical = in_order(grids, CANONICAL)[:, :ANSWER_START]
    grids[:, CANONICAL[-1]] = _cells(model, canonical, cold, gen, device)
    return grids


@torch.no_grad()
def answer_logprob(model, quizzes: torch.Tensor, batch_size: int,
                   device: torch.device) -> torch.Tensor:
    """[n] log-probability the model gives the 100 answer cells of quizzes [n, 405] (the
    cells after the fourth marker), given everything before them."""
    model.eval()
    out = []
    for i in range(0, len(quizzes), batch_size):
        x = quizzes[i:i + batch_size].to(device)
        logits = model(input_ids=x[:, :-1]).logits[:, ANSWER_START - 1:].float()
        lp = -F.cross_entropy(logits.transpose(1, 2), x[:, ANSWER_START:], reduction="none")
        out.append(lp.sum(1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def understanding(models: dict, grids: torch.Tensor, batch_size: int,
                  device: torch.device) -> torch.Tensor:
    """[n, models] p = P(f(B) | A, f(A), B) · P(B | f(A), A, f(B)) for quizzes grids [n, 4, 100]."""
    fwd, inv = in_order(grids, CANONICAL), in_order(grids, INVERSE)
    return torch.stack([(answer_logprob(m, fwd, batch_size, device)
                         + answer_logprob(m, inv, batch_size, device)).exp()
                        for m in models.values()], 1)


def keep(p: torch.Tensor, understands: float, fails: float, max_fail: int) -> torch.Tensor:
    """[n] bool from p [n, models]: every model understands (p ≥ understands) or fails
    (p ≤ fails), and between 1 and max_fail of them fail."""
    ok, ko = (p >= understands).sum(1), (p <= fails).sum(1)
    return (ok + ko == p.shape[1]) & (ko >= 1) & (ko <= max_fail)


def make_generation(models: dict, cfg, rng: np.random.Generator, gen: torch.Generator,
                    device: torch.device) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Batches of quizzes until `cfg.keep` are kept or `cfg.max_generated` written. Returns
    (metrics, kept grids [k, 4, 100], non-trivial grids written [≤ 4, 4, 100])."""
    names = list(models)
    counts = {m: {"generated": 0, "trivial": 0, "kept": 0} for m in names}
    solved = torch.zeros(len(names))
    scored = 0
    kept, seen, recycle = [], [], None
    bar = tqdm(total=cfg.max_generated, desc="culture loop: writing quizzes", unit="quiz")
    while sum(c["generated"] for c in counts.values()) < cfg.max_generated and \
            sum(len(k) for k in kept) < cfg.keep:
        writer = names[int(rng.integers(len(names)))]
        n = min(cfg.batch_size, cfg.max_generated - bar.n)
        grids = write_quizzes(models[writer], recycle, n, cfg.temperature_hot,
                              cfg.temperature_cold, gen, device)
        bar.update(n)
        fine = ~trivial(grids)
        counts[writer]["generated"] += n
        counts[writer]["trivial"] += int((~fine).sum())
        grids = grids[fine]
        p = understanding(models, grids, cfg.batch_size, device)
        solved += (p >= cfg.proba_understands).float().sum(0)
        scored += len(grids)
        mask = keep(p, cfg.proba_understands, cfg.proba_not_understands, cfg.max_fail)
        counts[writer]["kept"] += int(mask.sum())
        kept.append(grids[mask])
        seen.append(grids[:4])
        recycle = grids[~mask][:, GENERATION_ORDER[0]]
    bar.close()
    metrics = {k: sum(c[k] for c in counts.values()) for k in ("generated", "trivial", "kept")}
    # per model: what it wrote, and the share of all non-trivial quizzes written it understands
    metrics["by_model"] = {m: {**c, "understood": round(float(solved[i]) / max(1, scored), 4)}
                           for i, (m, c) in enumerate(counts.items())}
    empty = torch.zeros(0, 4, GRID_CELLS, dtype=torch.long)
    return (metrics, torch.cat(kept) if kept else empty,
            torch.cat(seen)[:4] if seen else empty)


def mix(world: torch.Tensor, kept: torch.Tensor, orders: list[int], seed: int) -> torch.Tensor:
    """Quizzes [n, 405]: world quizzes [n, 405] with kept ones (grids [k, 4, 100], at most
    n / 2 of them, drawn at random) in place of as many, each laid out in one of `orders`."""
    g = torch.Generator().manual_seed(seed)
    kept = kept[torch.randperm(len(kept), generator=g)[:len(world) // 2]]
    if not len(kept):
        return world
    slots = torch.tensor(orders)[torch.randint(len(orders), (len(kept),), generator=g)]
    laid = layout(kept.numpy().astype(np.uint8).reshape(-1, 4, H, W),
                  np.asarray(ORDERS)[slots.numpy()])
    return torch.cat([world[:len(world) - len(kept)], torch.from_numpy(laid)])


def retrain(model, ids: torch.Tensor, train, loss_weights: torch.Tensor, heldout,
            device: torch.device, seed: int) -> None:
    """One pass (as many steps as batches) over quizzes `ids` [n, 405] at the lr training
    ended with (lr × min_lr_ratio), warmed up over the first tenth: the optimiser is new (as
    Fleuret's, made afresh for each epoch), and a full first step of a fresh Adam jolts a
    trained model."""
    steps = -(-len(ids) // train.batch_size)
    cfg = train.model_copy(update={"steps": steps, "warmup_steps": steps // 10,
                                   "eval_every": steps,
                                   "lr": train.lr * train.min_lr_ratio, "min_lr_ratio": 1.0})
    held_ids, held_tasks, _, names = heldout
    train_lm(model, ids, held_ids, held_tasks[:, None].expand_as(held_ids), names, cfg, device,
             seed, loss_weights=loss_weights)


def accuracy(model, heldout, batch_size: int, device: torch.device) -> dict[str, float]:
    """Greedy quiz accuracy on the held-out quizzes (ids, tasks, orders, task names)."""
    return quiz_accuracy(model, *heldout, None, batch_size, device)


def culture_loop(models: dict, cfg, train, heldout, loss_weights: torch.Tensor,
                 device: torch.device) -> tuple[dict, dict[str, torch.Tensor],
                                                dict[str, torch.Tensor]]:
    """`cfg.generations` generations: quizzes written (when every model's held-out accuracy is
    at least cfg.accuracy_to_make_quizzes, as Fleuret's 0.98), then every model re-trained.
    Returns metrics per generation (generation_0: the models as trained), and per
    generation its kept grids [k, 4, 100] and a few non-trivial ones written."""
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    names = heldout[3]
    acc = {m: accuracy(model, heldout, cfg.batch_size, device) for m, model in models.items()}

    def scores() -> dict[str, dict]:  # held-out quizzes solved, per model: all, per task
        return {"accuracy": {m: {"all": round(a["accuracy"], 4),
                                 **{t: round(a[f"accuracy_{t}"], 4) for t in names}}
                             for m, a in acc.items()}}
    metrics, kept, seen, pool = {"generation_0": scores()}, {}, {}, []
    for g in range(1, cfg.generations + 1):
        row: dict = {"made_quizzes": int(min(a["accuracy"] for a in acc.values())
                                         >= cfg.accuracy_to_make_quizzes)}
        if row["made_quizzes"]:
            made, kept[f"generation_{g}"], seen[f"generation_{g}"] = make_generation(
                models, cfg, rng, gen, device)
            row.update(made)
            pool.append(kept[f"generation_{g}"])
        so_far = torch.cat(pool) if pool else torch.zeros(0, 4, GRID_CELLS, dtype=torch.long)
        for i, (m, model) in enumerate(tqdm(models.items(), desc=f"generation {g}: re-training",
                                            unit="model")):
            world = torch.from_numpy(make_quizzes(list(cfg.tasks), cfg.retrain_quizzes, rng,
                                                  orders=cfg.orders)["input_ids"])
            seed = cfg.seed + 1000 * g + i
            retrain(model, mix(world, so_far, list(cfg.orders), seed), train, loss_weights,
                    heldout, device, seed)
            acc[m] = accuracy(model, heldout, cfg.batch_size, device)
        metrics[f"generation_{g}"] = {**row, "kept_total": len(so_far), **scores()}
    return metrics, kept, seen
