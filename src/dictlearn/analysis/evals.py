"""SAE metrics on held-out tokens: reconstruction, sparsity, spliced-in LM loss, top contexts."""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from dictlearn.lm.hooks import losses_with_hook
from dictlearn.sae.base import SparseAutoencoder


def ce_loss_recovered(clean: float, spliced: float, zero: float) -> float:
    """(zero − spliced) / (zero − clean): 1 when splicing costs nothing, 0 when it is as bad
    as deleting the activation."""
    if zero == clean:
        return float("nan")
    return (zero - spliced) / (zero - clean)


# log10 activation bin edges of the per-feature histograms: 10^-3 … 10^3, 8 bins per decade
# (the first bin also holds anything smaller, the last anything larger)
HIST_EDGES = torch.linspace(-3, 3, 49)


class RunningTopK:
    """Per feature, the k largest activations seen and where (sequence, position)."""

    def __init__(self, d_sae: int, k: int):
        self.values = torch.full((d_sae, k), -math.inf)
        self.where = torch.full((d_sae, k), -1, dtype=torch.long)

    def update(self, f: torch.Tensor, flat_index: torch.Tensor) -> None:
        """f [tokens, d_sae] (cpu), flat_index [tokens] (global token index)."""
        k = self.values.shape[1]
        vals = torch.cat([self.values, f.T], dim=1)
        where = torch.cat([self.where, flat_index.expand(f.shape[1], -1)], dim=1)
        top = vals.topk(k, dim=1)
        self.values, self.where = top.values, where.gather(1, top.indices)


@torch.no_grad()
def evaluate_sae(bridge, sae: SparseAutoencoder, hook: str, ids: torch.Tensor,
                 labels: torch.Tensor, n_labels: int, batch_size: int, top_k: int,
                 dense_threshold: float, device: torch.device) -> tuple[dict, dict]:
    """Run the model over `ids` [n_seq, seq_len] clean, with the SAE spliced in at `hook`,
    and with the activation zero-ablated. Returns (metrics, per-feature statistics)."""
    sae = sae.to(device).eval()
    d_sae = sae.d_sae
    sse = sum_sq = norm_ratio = 0.0
    sum_xvec = torch.zeros(sae.d_in, dtype=torch.float64)
    n_tok = 0
    l0_sum = 0.0
    fire_count = torch.zeros(d_sae, dtype=torch.float64)
    act_sum = torch.zeros(d_sae, dtype=torch.float64)
    label_mass = torch.zeros(d_sae, n_labels, dtype=torch.float64)
    label_fires = torch.zeros(d_sae, n_labels, dtype=torch.float64)
    topk = RunningTopK(d_sae, top_k)
    # per feature, how often its activation falls in each log-spaced bin (HIST_EDGES)
    act_hist = torch.zeros(d_sae * (len(HIST_EDGES) - 1), dtype=torch.float64)
    # the MLP neurons the SAE reads, measured the same way, to compare units with features
    neuron_mass = torch.zeros(sae.d_in, n_labels, dtype=torch.float64)
    neuron_fires = torch.zeros(sae.d_in, dtype=torch.float64)
    label_count = torch.zeros(n_labels, dtype=torch.float64)
    ce = {"clean": 0.0, "spliced": 0.0, "zero": 0.0}
    n_pred = 0
    seq_len = ids.shape[1]
    bar = tqdm(total=ids.numel(), unit="tok", unit_scale=True, desc="eval_sae")
    for start in range(0, len(ids), batch_size):
        x = ids[start:start + batch_size].to(device)
        captured = {}

        def capture(act):
            captured["act"] = act
            return act

        ce_clean = losses_with_hook(bridge, x, hook, capture)
        ce_spliced = losses_with_hook(bridge, x, hook, lambda a: sae(a).to(a.dtype))
        ce_zero = losses_with_hook(bridge, x, hook, torch.zeros_like)
        for name, t in (("clean", ce_clean), ("spliced", ce_spliced), ("zero", ce_zero)):
            ce[name] += t.sum().item()
        n_pred += ce_clean.numel()

        act = captured["act"].reshape(-1, sae.d_in).float()
        f = sae.encode(act)
        x_hat = sae.decode(f)
        err = x_hat - act
        sse += err.pow(2).sum().item()
        norm_ratio += (x_hat.norm(dim=-1) / act.norm(dim=-1).clamp_min(1e-12)).sum().item()
        sum_sq += act.pow(2).sum().item()
        sum_xvec += act.sum(0).double().cpu()
        n_tok += len(act)
        active = f > 0
        l0_sum += active.sum().item()
        f_cpu, active_cpu = f.cpu(), active.cpu()
        fire_count += active_cpu.sum(0).double()
        act_sum += f_cpu.sum(0).double()
        lab = labels[start:start + batch_size].reshape(-1)
        onehot = torch.nn.functional.one_hot(lab.long(), n_labels).double()
        label_mass += f_cpu.double().T @ onehot
        label_fires += active_cpu.double().T @ onehot
        label_count += onehot.sum(0)
        act_cpu = act.cpu().double()
        neuron_mass += act_cpu.clamp_min(0).T @ onehot
        neuron_fires += (act_cpu > 0).sum(0)
        tok, feat = active_cpu.nonzero(as_tuple=True)
        bins = torch.bucketize(f_cpu[tok, feat].log10(), HIST_EDGES[1:-1])
        act_hist.index_add_(0, feat * (len(HIST_EDGES) - 1) + bins,
                            torch.ones(len(bins), dtype=torch.float64))
        topk.update(f_cpu, torch.arange(start * seq_len, start * seq_len + len(lab)))
        bar.update(x.numel())
    bar.close()

    total_var = sum_sq - (sum_xvec.pow(2).sum().item() / n_tok)
    freq = fire_count / n_tok
    clean, spliced, zero = (ce[k] / n_pred for k in ("clean", "spliced", "zero"))
    metrics = {
        "explained_variance": 1 - sse / total_var,
        "mse": sse / (n_tok * sae.d_in),
        "l0": l0_sum / n_tok,
        # ‖x̂‖/‖x‖ averaged over tokens: below 1 when the sparsity penalty shrinks activations
        "shrinkage": norm_ratio / n_tok,
        "dead_fraction": (fire_count == 0).double().mean().item(),
        "dense_fraction": (freq > dense_threshold).double().mean().item(),
        "ce_loss_clean": clean,
        "ce_loss_spliced": spliced,
        "ce_loss_zero": zero,
        "ce_loss_recovered": ce_loss_recovered(clean, spliced, zero),
        "eval_tokens": n_tok,
    }
    stats = {
        "frequency": freq.float(),
        "mean_activation": (act_sum / n_tok).float(),
        "label_mass": label_mass.float(),
        "label_fires": label_fires.float(),
        "top_values": topk.values.float(),
        "top_where": topk.where,
        "activation_histogram": act_hist.view(d_sae, -1).float(),
        "activation_histogram_log10_edges": HIST_EDGES.clone(),
        "label_count": label_count.float(),
        "neuron_label_mass": neuron_mass.float(),
        "neuron_frequency": (neuron_fires / n_tok).float(),
    }
    return metrics, stats


@torch.no_grad()
def context_activations(bridge, sae: SparseAutoencoder, hook: str, ids: torch.Tensor,
                        top_where: torch.Tensor, left: int, right: int, batch_size: int,
                        device: torch.device) -> torch.Tensor:
    """For every feature's top examples (flat token indices, −1 = none), the feature's
    activation on the window [pos − left, pos + right]: [d_sae, k, left + 1 + right], NaN
    outside the sequence."""
    from dictlearn.lm.hooks import iter_hook_activations

    seq_len = ids.shape[1]
    d_sae, k = top_where.shape
    width = left + 1 + right
    out = torch.full((d_sae, k, width), float("nan"))
    valid = top_where >= 0
    seq = torch.where(valid, top_where // seq_len, -1)
    pos = top_where % seq_len
    offsets = torch.arange(-left, right + 1)
    batches = iter_hook_activations(bridge, ids, [hook], batch_size, device)
    for sl, acts in tqdm(batches, total=-(-len(ids) // batch_size), unit="batch",
                         desc="top contexts"):
        feats, ex = ((seq >= sl.start) & (seq < sl.stop)).nonzero(as_tuple=True)
        if len(feats) == 0:
            continue
        f = sae.encode(acts[hook].float()).cpu()  # [batch, seq_len, d_sae]
        window = pos[feats, ex, None] + offsets  # [n, width]
        inside = (window >= 0) & (window < seq_len)
        rows = (seq[feats, ex] - sl.start)[:, None].expand_as(window)
        vals = f[rows, window.clamp(0, seq_len - 1), feats[:, None].expand_as(window)]
        out[feats, ex] = torch.where(inside, vals, torch.tensor(float("nan")))
    return out

