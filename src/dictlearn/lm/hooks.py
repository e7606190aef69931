"""Running a model through TransformerLens hooks: caching activations, splicing them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from dictlearn.lm.sites import hook_layer


def flat(act: torch.Tensor) -> torch.Tensor:
    """[batch, seq, d] as it is; attn.hook_z's [batch, seq, head, d_head] as [batch, seq, d]."""
    return act.flatten(2) if act.dim() == 4 else act


def flat_hook(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """A TransformerLens hook function applying `fn` ([batch, seq, d] → same) to the hook's
    activation seen flat (see `flat`), handed back in the hook's own shape."""

    def hook_fn(act: torch.Tensor, hook=None) -> torch.Tensor:
        return fn(flat(act)).reshape(act.shape)

    return hook_fn


@torch.no_grad()
def iter_hook_activations(bridge, ids: torch.Tensor, hooks: list[str], batch_size: int,
                          device: torch.device) -> Iterator[tuple[slice, dict[str, torch.Tensor]]]:
    """For each batch of sequences, the activations at `hooks` ([batch, seq, d] flat, on device).
    The forward pass stops after the last hooked block: later blocks are never computed."""
    stop_at = max(hook_layer(h) for h in hooks) + 1
    names = set(hooks)
    for i in range(0, len(ids), batch_size):
        x = ids[i:i + batch_size].to(device)
        _, cache = bridge.run_with_cache(x, names_filter=lambda n: n in names,
                                         stop_at_layer=stop_at)
        yield slice(i, i + len(x)), {h: flat(cache[h]) for h in hooks}


@torch.no_grad()
def losses_with_hook(bridge, x: torch.Tensor, hook: str,
                     fn: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """Per-token next-token CE [batch, seq-1] with `fn` applied to the activation at `hook`,
    seen flat (None: the clean model)."""
    if fn is None:
        logits = bridge(x, return_type="logits")
    else:
        logits = bridge.run_with_hooks(x, return_type="logits",
                                       fwd_hooks=[(hook, flat_hook(fn))])
    logits = logits[:, :-1].float()
    return F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
