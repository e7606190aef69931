"""Universality across models trained alike (the method of Gurnee et al. 2024, "Universal
Neurons in GPT2 Language Models"): run every model on the same held-out sequences, and match
each unit of one model (an SAE feature, or an MLP neuron) to the unit of each other model
whose activations correlate best with it over those tokens. A unit is universal when its best
match exceeds a threshold in every other model."""

from __future__ import annotations

import torch
from tqdm import tqdm

from dictlearn.lm.hooks import iter_hook_activations


@torch.no_grad()
def unit_activations(bridge, sae, hook: str, ids: torch.Tensor, batch_size: int,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(SAE feature activations [tokens, d_sae], MLP neuron activations [tokens, d_mlp])."""
    feats, neurons = [], []
    for _, acts in iter_hook_activations(bridge, ids, [hook], batch_size, device):
        a = acts[hook].reshape(-1, acts[hook].shape[-1]).float()
        neurons.append(a.cpu())
        feats.append(sae.encode(a).cpu())
    return torch.cat(feats), torch.cat(neurons)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Columns at mean 0 and norm 1 (a constant column stays 0: it correlates with nothing)."""
    x = x - x.mean(0)
    return x / x.norm(dim=0).clamp_min(1e-12)


def best_matches(a: torch.Tensor, b: torch.Tensor, block: int = 4096
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each column of `a` (standardized), the best-correlated column of `b` and the
    correlation: ([units_a], [units_a]). Blocked over a's columns to bound memory."""
    values, index = [], []
    for i in range(0, a.shape[1], block):
        corr = a[:, i:i + block].T @ b  # [block, units_b]
        v, j = corr.max(1)
        values.append(v)
        index.append(j)
    return torch.cat(values), torch.cat(index)


def universality(units: list[torch.Tensor], live: list[torch.Tensor], threshold: float
                 ) -> dict[str, torch.Tensor | float]:
    """`units[m]` [tokens, n_m] are model m's activations on the same tokens; `live[m]` marks
    units that fire at all. Returns per model pair the best-match correlation and index
    ([n_models, n_models, n_0]… stacked per source model as lists), and summary figures over
    the live units: the share universal (best match > threshold in every other model) and the
    mean best-match correlation."""
    z = [standardize(u) for u in units]
    n = len(units)
    best, where, universal, mean_best = [], [], [], []
    pairs = tqdm(total=n * (n - 1), desc="universality", unit="pair", leave=False)
    for m in range(n):
        vals = torch.zeros(n, z[m].shape[1])
        idx = torch.full((n, z[m].shape[1]), -1, dtype=torch.long)
        for o in range(n):
            if o != m:
                vals[o], idx[o] = best_matches(z[m], z[o])
                pairs.update()
        others = [o for o in range(n) if o != m]
        worst = vals[others].min(0).values
        universal.append((worst[live[m]] > threshold).float().mean().item())
        mean_best.append(vals[others][:, live[m]].mean().item())
        best.append(vals)
        where.append(idx)
    pairs.close()
    return {"best": best, "where": where,
            "universal_share": sum(universal) / n, "mean_best_correlation": sum(mean_best) / n,
            "universal_share_per_model": universal}
