"""Running a model through TransformerLens hooks: caching activations, splicing them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F


def mlp_hook(layer: int) -> str:
    return f"blocks.{layer}.mlp.hook_post"


def hook_layer(hook: str) -> int:
    return int(hook.split(".")[1])


@torch.no_grad()
def iter_hook_activations(bridge, ids: torch.Tensor, hooks: list[str], batch_size: int,
                          device: torch.device) -> Iterator[tuple[slice, dict[str, torch.Tensor]]]:
    """For each batch of sequences, the activations at `hooks` ([batch, seq, d], on device).
    The forward pass stops after the last hooked block: later blocks are never computed."""
    stop_at = max(hook_layer(h) for h in hooks) + 1
    names = set(hooks)
    for i in range(0, len(ids), batch_size):
        x = ids[i:i + batch_size].to(device)
        _, cache = bridge.run_with_cache(x, names_filter=lambda n: n in names,
                                         stop_at_layer=stop_at)
        yield slice(i, i + len(x)), {h: cache[h] for h in hooks}


@torch.no_grad()
def losses_with_hook(bridge, x: torch.Tensor, hook: str,
                     fn: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """Per-token next-token CE [batch, seq-1] with `fn` applied to the activation at `hook`
    (None: the clean model)."""
    if fn is None:
        logits = bridge(x, return_type="logits")
    else:
        logits = bridge.run_with_hooks(x, return_type="logits",
                                       fwd_hooks=[(hook, lambda act, hook: fn(act))])
    logits = logits[:, :-1].float()
    return F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
