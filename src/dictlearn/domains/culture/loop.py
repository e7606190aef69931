"""Fleuret's culture loop: models make new quizzes for each other. A generating model is
given the first grid of a fresh quiz in Fleuret's generation order (f(B), f(A), A, B) and
writes the other three; the quiz is then shown to every model as (A, f(A), B, f(B)), and it
is kept when all but one of them predict f(B) exactly: hard for one, solvable by the rest."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm


from dictlearn.domains.culture.domain import ANSWER_START, GRID_CELLS, generate_answers
from dictlearn.domains.culture.tasks import GENERATION_ORDER, MARKER_POSITIONS, make_quizzes



MARKER = (11, 12, 13, 14)  # A, f(A), B, f(B): grid g of a quiz has marker MARKER[g]


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


@torch.no_grad()
def generate_quizzes(model, first_grids: torch.Tensor, temperature: float,
                     gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Grids [n, 4, 100] (A, f(A), B, f(B)) of quizzes the model writes after being given
    f(B): it generates f(A), A and B in turn, each after its marker, at `temperature`."""
    grids = torch.zeros(len(first_grids), 4, GRID_CELLS, dtype=torch.long)
    first = GENERATION_ORDER[0]
    grids[:, first] = first_grids
    prompt = torch.cat([torch.zeros(len(first_grids), 1, dtype=torch.long),
                        torch.full((len(first_grids), 1), MARKER[first]), first_grids], 1)
    for g in GENERATION_ORDER[1:]:
        prompt = torch.cat([prompt, torch.full((len(prompt), 1), MARKER[g])], 1)
        cells = generate_answers(model, prompt.to(device), temperature, gen).cpu()
        # cell values only: a marker or BOS sampled in a cell becomes background
        cells = torch.where(cells <= 10, cells, torch.zeros_like(cells))
        grids[:, g] = cells
        prompt = torch.cat([prompt, cells], 1)
    return grids


@torch.no_grad()
def answer_cells_right(model, quizzes: torch.Tensor, batch_size: int,
                       device: torch.device) -> torch.Tensor:
    """[n] share of the 100 answer cells the model's greedy answer to each quiz (given its
    first 305 tokens) gets right; 1.0 means solved."""
    share = torch.zeros(len(quizzes))
    gen = torch.Generator(device=device)
    for i in range(0, len(quizzes), batch_size):
        q = quizzes[i:i + batch_size]
        answer = generate_answers(model, q[:, :ANSWER_START].to(device), None, gen).cpu()
        share[i:i + batch_size] = (answer == q[:, ANSWER_START:]).float().mean(1)
    return share


def keep(right: torch.Tensor, trivial: torch.Tensor) -> torch.Tensor:
    """[n] bool from right [models, n] and trivial [n]: non-trivial quizzes that every model
    but exactly one solves."""
    return ~trivial & (right.sum(0) == len(right) - 1)


def culture_loop(models: dict[str, torch.nn.Module], tasks: list[str], n_quizzes: int,
                 temperature: float, batch_size: int, seed: int, device: torch.device
                 ) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Each model generates `n_quizzes` quizzes; all models try them. Returns (metrics per
    generating model, its kept quizzes [k, 405], and its non-trivial ones [≤ 4, 405])."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    names = list(models)
    metrics, kept, sample = {}, {}, {}
    for name in tqdm(names, desc="culture loop", unit="model"):
        seeds = torch.from_numpy(make_quizzes(tasks, n_quizzes, rng, orders=(0,))["input_ids"]
                                 .astype(np.int64))
        first = grids_of(seeds)[:, GENERATION_ORDER[0]]
        grids = torch.cat([generate_quizzes(models[name], first[i:i + batch_size],
                                            temperature, gen, device)
                           for i in range(0, n_quizzes, batch_size)])
        # never keep a trivial quiz (A = f(A) or B = f(B)), as the generator never emits one
        trivial = (grids[:, 0] == grids[:, 1]).all(1) | (grids[:, 2] == grids[:, 3]).all(1)
        quizzes = in_order(grids, (0, 1, 2, 3))
        cells = torch.stack([answer_cells_right(models[m], quizzes, batch_size, device)
                             for m in names])
        right = cells == 1.0
        kept_mask = keep(right, trivial)
        metrics[name] = {"generated": n_quizzes, "trivial": int(trivial.sum()),
                         "kept": int(kept_mask.sum()),
                         **{f"solved_by_{m}": int((right[i] & ~trivial).sum())
                            for i, m in enumerate(names)},
                         # how close the others come: mean share of answer cells right
                         **{f"cell_accuracy_{m}": round(float(cells[i][~trivial].mean()), 4)
                            if (~trivial).any() else 0.0 for i, m in enumerate(names)}}
        kept[name], sample[name] = quizzes[kept_mask], quizzes[~trivial][:4]
    return metrics, kept, sample
