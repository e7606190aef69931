"""What a feature does to its model: ablation on its top contexts (zero, or its mean as in seed
003) and steering (clamped to a multiple of its max activation while the model writes).

Both edit only the feature's share of the activation at the SAE's hook,
x + (target - f_j(x)) · W_dec[j]; the SAE's reconstruction error stays in place, so the clean
model is what runs wherever the edit changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from dictlearn.analysis.frequency import live_by_frequency
from dictlearn.lm.hooks import flat_hook


def feature_edit(sae, j: int, target: float) -> Callable:
    """A TransformerLens hook function setting feature j of `sae` to `target`."""
    d = sae.W_dec[j].detach().float()

    def fn(act: torch.Tensor) -> torch.Tensor:
        a = sae.encode(act.float())[..., j:j + 1]
        return (act.float() + (target - a) * d).to(act.dtype)
    return flat_hook(fn)


@torch.no_grad()
def ablate(bridge, sae, hook: str, j: int, ids: torch.Tensor, positions: torch.Tensor,
           target: float, top_tokens: int, clean: torch.Tensor | None = None) -> dict:
    """Feature j set to `target` (0: zero ablation; its mean: mean ablation) over sequences
    ids [n, t]: the mean rise of the next-token loss at `positions` [n] (where it fired; each
    < t - 1), and the output tokens whose log-probability there rose and fell most on average
    (ids and mean changes). `clean`: the unedited model's log-probabilities of ids, when the
    caller already has them (one clean pass serves both ablations)."""
    if clean is None:
        clean = bridge(ids, return_type="logits").float().log_softmax(-1)
    edited = bridge.run_with_hooks(ids, return_type="logits",
                                   fwd_hooks=[(hook, feature_edit(sae, j, target))])
    edited = edited.float().log_softmax(-1)
    rows = torch.arange(len(ids))
    nxt = ids[rows, positions + 1]
    delta = (edited[rows, positions] - clean[rows, positions]).mean(0)
    up, down = delta.topk(top_tokens), (-delta).topk(top_tokens)
    return {"loss_change": (clean[rows, positions, nxt] - edited[rows, positions, nxt]).mean().item(),
            "promoted": up.indices.tolist(), "promoted_change": up.values.tolist(),
            "suppressed": down.indices.tolist(), "suppressed_change": (-down.values).tolist()}


@torch.no_grad()
def sample(bridge, prompt: torch.Tensor, max_new_tokens: int, temperature: float, seed: int,
           fwd_hooks: list | None = None) -> list[int]:
    """Tokens the model writes after prompt [t] (sampled at `temperature` from a generator
    seeded with `seed`, so two calls differ only by their hooks)."""
    gen = torch.Generator().manual_seed(seed)
    x, n_ctx = prompt[None], bridge.cfg.n_ctx
    for _ in range(max_new_tokens):
        logits = bridge.run_with_hooks(x[:, -n_ctx:], return_type="logits",
                                       fwd_hooks=fwd_hooks or [])[0, -1].float().cpu()
        nxt = torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=gen)
        x = torch.cat([x, nxt[None].to(x.device)], 1)
    return x[0, len(prompt):].tolist()


def steer(bridge, sae, hook: str, j: int, value: float, prompt: torch.Tensor,
          max_new_tokens: int, temperature: float, seed: int) -> tuple[list[int], list[int]]:
    """(unsteered, steered) continuations of prompt [t], feature j clamped to `value` at every
    position in the steered one."""
    return (sample(bridge, prompt, max_new_tokens, temperature, seed),
            sample(bridge, prompt, max_new_tokens, temperature, seed,
                   [(hook, feature_edit(sae, j, value))]))


def top_contexts(stats: dict, j: int, seq_len: int, n: int) -> list[tuple[int, int, float]]:
    """(sequence, position, activation) of feature j's n strongest held-out activations, as
    eval_sae recorded them (top_where: sequence × seq_len + position; -1: none)."""
    out = []
    for w, v in zip(stats["top_where"][j].tolist(), stats["top_values"][j].tolist()):
        if w >= 0 and v > 0 and len(out) < n:
            out.append((*divmod(w, seq_len), v))
    return out


def feature_interventions(bridge, sae, hook: str, stats: dict, ids: torch.Tensor, cfg,
                          device) -> tuple[dict, dict[str, float]]:
    """Ablation (zero and mean) and steering of the `cfg.features` most frequent live features
    (cfg: params `eval_sae.interventions`) on held-out ids [n, t] → (record per feature, the
    mean loss changes as metrics)."""
    chosen = live_by_frequency(stats["frequency"])[:cfg.features].tolist()
    seq_len, record = ids.shape[1], {}
    for j in tqdm(chosen, desc="interventions", unit="feature", leave=False):
        top = top_contexts(stats, j, seq_len, cfg.contexts)
        fired = [(s, p) for s, p, _ in top if p + 1 < seq_len]
        row: dict = {}
        if fired:
            x = ids[[s for s, _ in fired]].to(device)
            pos = torch.tensor([p for _, p in fired], device=device)
            with torch.no_grad():
                clean = bridge(x, return_type="logits").float().log_softmax(-1)
            for mode, target in (("zero", 0.0), ("mean", float(stats["mean_activation"][j]))):
                row[mode] = {"contexts": len(fired), "target": target, **ablate(
                    bridge, sae, hook, j, x, pos, target, cfg.top_tokens, clean)}
        s, p, v = top[0]
        value = cfg.steer_scale * v
        # the prompt is its top context's sequence up to where it fired; the model writes on
        # to the end of its context window at most (a culture grid: to the grid's end)
        n_new = min(cfg.steer_tokens, bridge.cfg.n_ctx - p - 1)
        unsteered, steered = (steer(bridge, sae, hook, j, value, ids[s, :p + 1].to(device),
                                    n_new, cfg.temperature, seed=j) if n_new else ([], []))
        row["steer"] = {"sequence": s, "position": p, "value": value,
                        "unsteered": unsteered, "steered": steered}
        record[str(j)] = row
    metrics = {}
    for mode in ("zero", "mean"):
        changes = [r[mode]["loss_change"] for r in record.values() if mode in r]
        # the mean rise of next-token loss where the intervened features fired
        metrics[f"ablation_loss_change_{mode}"] = (sum(changes) / len(changes) if changes
                                                   else None)
    return {"features": chosen, "steer_scale": cfg.steer_scale, "per_feature": record}, metrics
