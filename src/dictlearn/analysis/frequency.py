"""How often an SAE's features fire: the log-frequency histogram, the rank–frequency curve with
its power-law fit, and whether the rarest features point the same way (the "ultralow density
cluster": rare features that all share one decoder direction)."""

from __future__ import annotations

import numpy as np
import torch

# a live feature firing on fewer tokens than this counts as rare; eval_sae measures it only
# when it sees more than 1/RARE_FREQUENCY tokens (below that a live feature fires more often)
RARE_FREQUENCY = 1e-4


def live_by_frequency(freq: torch.Tensor) -> torch.Tensor:
    """Indices of the live features, most frequent first (ties by index): the order the
    report gives its feature pages and eval_sae its interventions."""
    alive = (freq > 0).nonzero().squeeze(1)
    return alive[freq[alive].argsort(descending=True, stable=True)]


def log_frequency_histogram(freq: torch.Tensor, n_bins: int = 40) -> list[dict]:
    """Rows {log10_frequency, features} for DVC plots; dead features land in the lowest bin."""
    logf = torch.log10(freq.double().clamp_min(1e-10)).numpy()
    edges = np.linspace(-10, 0, n_bins + 1)
    counts, _ = np.histogram(logf, bins=edges)
    centers = (edges[:-1] + edges[1:]) / 2
    return [{"log10_frequency": round(float(c), 3), "features": int(n)}
            for c, n in zip(centers, counts)]


def rank_frequency(freq: torch.Tensor, max_points: int = 200) -> list[dict]:
    """Rows {rank, frequency} of the live features sorted by frequency (rank 1 = most
    frequent), at up to `max_points` log-spaced ranks, for a log–log DVC plot."""
    live = freq[freq > 0].double().sort(descending=True).values
    if len(live) == 0:
        return []
    ranks = np.unique(np.geomspace(1, len(live), max_points).round().astype(int))
    return [{"rank": int(r), "frequency": float(f"{float(live[r - 1]):.6g}")} for r in ranks]


def power_law_fit(freq: torch.Tensor) -> tuple[float | None, float | None]:
    """(slope, R²) of the least-squares line log10 frequency ~ log10 rank over all live
    features: a power law f ∝ rank^slope has R² = 1. None when there is no line to fit (fewer
    than two live features, or all equally frequent)."""
    live = freq[freq > 0].double().sort(descending=True).values
    if len(live) < 2:
        return None, None
    x = torch.arange(1, len(live) + 1, dtype=torch.float64).log10()
    y = live.log10()
    xc, yc = x - x.mean(), y - y.mean()
    ss_y = float(yc.pow(2).sum())
    if ss_y == 0:
        return None, None
    slope = float((xc * yc).sum() / xc.pow(2).sum())
    r2 = 1 - float((yc - slope * xc).pow(2).sum()) / ss_y
    return slope, r2


def mean_cosine_to_mean(directions: torch.Tensor) -> float:
    """Mean cosine of each row (unit-normalised) to the normalised mean of the rows: 1 when all
    point the same way. It equals the length of the mean unit vector, so even unrelated
    directions score about 1/√rows: compare with an equally sized random set."""
    unit = torch.nn.functional.normalize(directions.double(), dim=1)
    mean = torch.nn.functional.normalize(unit.mean(0), dim=0)
    return float((unit @ mean).mean())


def rare_cluster(freq: torch.Tensor, W_dec: torch.Tensor, threshold: float = RARE_FREQUENCY,
                 seed: int = 0) -> dict:
    """Do the rare live features (0 < frequency < threshold) share a decoder direction
    (W_dec rows)? Their mean cosine to their mean direction, and the same for as many live
    features drawn at random (fixed seed), for comparison."""
    live = (freq > 0).nonzero().squeeze(1)
    rare = ((freq > 0) & (freq < threshold)).nonzero().squeeze(1)
    out = {"rare_count": len(rare), "rare_mean_cosine": None, "random_mean_cosine": None}
    # one direction is trivially "clustered" (cosine 1): the statistic needs two or more
    if len(rare) >= 2:
        gen = torch.Generator().manual_seed(seed)
        sample = live[torch.randperm(len(live), generator=gen)[:len(rare)]]
        W = W_dec.detach().float().cpu()
        out["rare_mean_cosine"] = mean_cosine_to_mean(W[rare])
        out["random_mean_cosine"] = mean_cosine_to_mean(W[sample])
    return out


def frequency_metrics(freq: torch.Tensor, W_dec: torch.Tensor) -> dict:
    """The power-law fit and the rare-feature cluster test, as metrics.json keys."""
    slope, r2 = power_law_fit(freq)
    return {"rank_frequency_slope": slope, "rank_frequency_r2": r2,
            **rare_cluster(freq, W_dec)}
