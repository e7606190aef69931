"""Hook sites: where in a GPT-2 block an SAE reads (params `sae.site`, `sae.layer`).

Each site is a TransformerLens hook name of the block and the width of what it carries.
Kept free of torch so that validating params loads no model."""

from __future__ import annotations

from typing import Literal

Site = Literal["mlp_post", "mlp_out", "resid_pre", "resid_post", "attn_z"]

# site: (hook name in block `layer`, what it carries)
SITES: dict[str, tuple[str, str]] = {
    "mlp_post": ("blocks.{layer}.mlp.hook_post", "the MLP's hidden activations (4 × n_embd)"),
    "mlp_out": ("blocks.{layer}.hook_mlp_out", "the MLP's output (n_embd)"),
    "resid_pre": ("blocks.{layer}.hook_resid_pre", "the residual stream entering the block"),
    "resid_post": ("blocks.{layer}.hook_resid_post", "the residual stream leaving the block"),
    "attn_z": ("blocks.{layer}.attn.hook_z",
               "every head's attention-weighted values, flattened (n_head × d_head = n_embd)"),
}


def hook_name(site: str, layer: int) -> str:
    """The TransformerLens hook name of `site` in block `layer`."""
    return SITES[site][0].format(layer=layer)


def hook_layer(hook: str) -> int:
    return int(hook.split(".")[1])


def site_width(site: str, n_embd: int) -> int:
    """The width an SAE at `site` reads, for a GPT-2 of width n_embd (n_inner unset)."""
    return 4 * n_embd if site == "mlp_post" else n_embd
