"""SAEs on disk in the SAELens 6 layout: `cfg.json`, `sae_weights.safetensors` (W_enc
[d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec, plus per-architecture extras) and
`sparsity.safetensors` (log10 feature density). Loading rebuilds the architecture named in
the metadata through the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from dictlearn.core.errors import InputError, damaged, restore_hint
from dictlearn.sae.base import SparseAutoencoder
from dictlearn.sae.registry import ARCHITECTURES

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SPARSITY_FILE = "sparsity.safetensors"
# SAELens treats a cfg.json without a 6.x version as pre-6 and drops its nested metadata
SAELENS_FORMAT_VERSION = "6.54.12"

def save_sae(sae: SparseAutoencoder, out: Path, log_density: torch.Tensor,
             metadata: dict[str, Any]) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {
        "architecture": sae.saelens_architecture,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "normalize_activations": "none",
        # attn.hook_z arrives [batch, pos, head, d_head]: SAELens flattens it as we do
        "reshape_activations": "hook_z" if str(metadata.get("hook_name")).endswith(".hook_z")
        else "none",
        **sae.saelens_cfg(),
        "metadata": {"sae_lens_version": SAELENS_FORMAT_VERSION,
                     "dictlearn_architecture": sae.architecture,
                     "dictlearn_hparams": sae.hparams(), **metadata},
    }
    (out / CFG_FILE).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    tensors = {"W_enc": sae.W_enc, "W_dec": sae.W_dec, "b_enc": sae.b_enc, "b_dec": sae.b_dec,
               **sae.extra_state()}
    save_file({k: v.detach().float().cpu().contiguous() for k, v in tensors.items()},
              str(out / WEIGHTS_FILE))
    save_file({"sparsity": log_density.float().cpu().contiguous()}, str(out / SPARSITY_FILE))


def read_cfg(path: Path) -> dict[str, Any]:
    file = Path(path) / CFG_FILE
    if not file.is_file():
        raise InputError(f"{file}: SAE config not found; " + restore_hint(file))
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise damaged(file, err, "the SAE config") from None


def load_sae(path: Path, device: torch.device | str = "cpu") -> SparseAutoencoder:
    cfg = read_cfg(path)
    name = cfg.get("metadata", {}).get("dictlearn_architecture")
    if name not in ARCHITECTURES:
        raise InputError(f"{Path(path) / CFG_FILE}: metadata.dictlearn_architecture is "
                         f"{name!r}; expected one of {sorted(ARCHITECTURES)}")
    sae = ARCHITECTURES[name](cfg["d_in"], cfg["d_sae"],
                              **cfg["metadata"].get("dictlearn_hparams", {}))
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise InputError(f"{weights}: SAE weights not found; " + restore_hint(weights))
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error type for a corrupt header
        raise damaged(weights, err, "the SAE weights file") from None
    missing = set(sae.state_dict()) - set(state)
    if missing:
        raise InputError(f"{weights}: missing tensors {sorted(missing)}")
    sae.load_state_dict({k: state[k] for k in sae.state_dict()})
    return sae.to(device).eval()


def read_tensor(path: Path, key: str, what: str = "the SAE file") -> torch.Tensor:
    """Tensor `key` of safetensors file `path` alone (the rest is not read); a missing or
    damaged file is an InputError naming it and the command that restores it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: SAE file not found; " + restore_hint(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.get_tensor(key)
    except Exception as err:  # safetensors raises its own error type for a corrupt header
        raise damaged(path, err, what) from None


def load_log_density(path: Path) -> torch.Tensor:
    """The log10 feature density the SAE was saved with ([d_sae])."""
    return read_tensor(Path(path) / SPARSITY_FILE, "sparsity", "the SAE's sparsity file")
