"""What the report measures on the models themselves: induction scores per attention head,
and each SAE feature's direct effect on the output logits."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from dictlearn.lm.checkpoint import WEIGHTS
from dictlearn.lm.sites import hook_layer


@torch.no_grad()
def induction_scores(bridge, n_seq: int = 16, half: int = 48, seed: int = 0) -> torch.Tensor:
    """[n_layers, n_heads]: on random token sequences repeated twice, the attention each
    head pays from a token of the second copy to the token right after that token's first
    occurrence (the induction target), averaged over the second copy. 1 = a perfect
    induction head; a head attending uniformly scores about 1/(position)."""
    gen = torch.Generator().manual_seed(seed)
    vocab, n_ctx = bridge.cfg.d_vocab, bridge.cfg.n_ctx
    half = min(half, (n_ctx - 1) // 2)
    first = torch.randint(0, vocab, (n_seq, half), generator=gen)
    ids = torch.cat([first, first], dim=1)
    _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n.endswith("attn.hook_pattern"))
    scores = []
    for layer in range(bridge.cfg.n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]  # [batch, head, query, key]
        # query half + i repeats token i; its induction target is the key after it, i + 1
        q = torch.arange(half, 2 * half)
        scores.append(pattern[:, :, q, q - half + 1].mean(dim=(0, 2)))
    return torch.stack(scores).cpu()


# the weight that writes a site's activations into the residual stream: GPT-2's Conv1D
# c_proj ([in, d_model]) of the MLP, or of attention for the heads' concatenated values
# (TransformerLens flattens hook_z head-major, as HF merges heads); none where the site is the
# residual stream already (resid_pre, resid_post, mlp_out)
_WRITES = {".mlp.hook_post": "mlp.c_proj.weight", ".attn.hook_z": "attn.c_proj.weight"}


def output_effects(checkpoint: Path, hook: str, W_dec: torch.Tensor, k: int = 8
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each feature's direct logit effect W_dec · W_out · diag(γ_final) · W_Uᵀ (the path
    through the residual stream straight to the unembedding, the final LayerNorm's gain
    included, its normalisation not; W_out is what writes the SAE's hook into the residual
    stream, none at a residual site): the top-k promoted and suppressed token ids and their
    effects, each [d_sae, k]."""
    layer = hook_layer(hook)
    writes = next((w for end, w in _WRITES.items() if hook.endswith(end)), None)
    with safe_open(str(Path(checkpoint) / WEIGHTS), framework="pt") as f:
        direction = W_dec.float()  # [d_sae, d_in]
        if writes is not None:
            direction = direction @ f.get_tensor(f"transformer.h.{layer}.{writes}").float()
        gain = f.get_tensor("transformer.ln_f.weight")
        W_U = f.get_tensor("transformer.wte.weight")  # tied unembedding [vocab, d_model]
    effect = (direction * gain) @ W_U.float().T  # [d_sae, vocab]
    k = min(k, effect.shape[1])
    up, down = effect.topk(k, dim=1), effect.topk(k, dim=1, largest=False)
    return up.indices, up.values, down.indices, down.values
