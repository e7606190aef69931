"""The SAE base class and its on-disk form, the SAELens 6 layout:
`cfg.json`, `sae_weights.safetensors` (W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec,
plus per-architecture extras) and `sparsity.safetensors` (log10 feature density).

An architecture is a subclass that defines `encode` (inference) and `training_loss`; the
trainer drives every architecture through the same few hooks (`post_step`, the dead mask
passed to `training_loss`, `resample_dead`, `sparsity_knob`) and never asks which one it has.
Training losses run sparsely after the encoder matmul (see dictlearn.sae.sparse).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dictlearn.runtime import InputError

if TYPE_CHECKING:
    from dictlearn.config import SAE as SAEConfig

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SPARSITY_FILE = "sparsity.safetensors"
# SAELens treats a cfg.json without a 6.x version as pre-6 and drops its nested metadata
SAELENS_FORMAT_VERSION = "6.54.12"


class SparseAutoencoder(nn.Module, ABC):
    """x ≈ decode(encode(x)); subclasses define the activation and the training loss."""

    architecture: ClassVar[str]  # our name (the registry key)
    saelens_architecture: ClassVar[str]  # SAELens's name for the same inference computation
    # the params.yaml `sae.*` coefficient the trainer passes (warmed up) as `sparsity_coeff`;
    # None where sparsity is structural (TopK's k)
    sparsity_knob: ClassVar[str | None] = None
    # whether the trainer should resample dead features; False where the loss itself
    # revives them (AuxK)
    resample_dead: ClassVar[bool] = True

    def __init__(self, d_in: int, d_sae: int):
        super().__init__()
        self.d_in, self.d_sae = d_in, d_sae
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.empty(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The optimiser's parameter groups (an architecture whose parameters live on another
        scale than the weights gives them their own learning rate)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator, dec_norm: float = 0.1) -> None:
        """Decoder rows in random directions with norm `dec_norm`; encoder = decoder.T."""
        w = torch.randn(self.d_sae, self.d_in, generator=generator)
        w *= dec_norm / w.norm(dim=1, keepdim=True)
        self.W_dec.copy_(w)
        self.W_enc.copy_(w.T)
        self.b_enc.zero_()
        self.b_dec.zero_()

    @abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @abstractmethod
    def training_loss(self, x: torch.Tensor, sparsity_coeff: float,
                      dead: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(loss, feature activations, named loss parts) for one batch x [batch, d_in]. The
        activations are [batch, d_sae], detached, a sparse CSR tensor or (where most latents
        fire) a dense one in a training buffer, valid until the next call; `.to_dense()` gives
        a dense tensor from either, `sparse.firing_counts` counts firings in either. `dead` is
        a [d_sae] bool mask of features silent for a while (for losses that revive them, e.g.
        AuxK); parts always hold "mse" (summed over d_in, mean over the batch)."""

    def training_buffer(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """A [batch, d_sae] tensor the SAE keeps between training steps, so that a step does
        not pay the page faults of fresh ones. Autograd's saved-tensor version check guards
        reuse: running backward through a graph whose buffer a later step overwrote raises."""
        shape = (like.shape[0], self.d_sae)
        buffers = self.__dict__.setdefault("_training_buffers", {})
        buf = buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype \
                or buf.device != like.device:
            buf = buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def free_training_buffers(self) -> None:
        self.__dict__.pop("_training_buffers", None)

    @torch.no_grad()
    def preacts_buffer(self, x: torch.Tensor) -> torch.Tensor:
        """x·W_enc + b_enc without autograd, in the "preacts" training buffer (under autocast
        the product runs in the autocast dtype, e.g. bf16 on a GPU, and is stored in f32)."""
        buf = self.training_buffer("preacts", x)
        if torch.is_autocast_enabled(x.device.type):  # out= products are never autocast
            return buf.copy_(torch.addmm(self.b_enc, x, self.W_enc))
        return torch.addmm(self.b_enc, x, self.W_enc, out=buf)

    def post_step(self) -> None:
        """Called after each optimiser step: re-impose constraints (e.g. unit decoder rows)."""

    @torch.no_grad()
    def fold_input_scale(self, scale: float) -> None:
        """Trained on x·scale; make the SAE take raw x and return raw x̂ (same encodings).
        Pre-activations x·W_enc + b_enc are unchanged, so thresholds on them stay as they are."""
        self.W_enc.mul_(scale)
        self.W_dec.div_(scale)
        self.b_dec.div_(scale)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments beyond (d_in, d_sae); saved so that loading rebuilds the SAE."""
        return {}

    @classmethod
    def hparams_from_config(cls, cfg: SAEConfig) -> dict[str, Any]:
        """This architecture's constructor arguments, read from the `sae` params section."""
        return {}

    def saelens_cfg(self) -> dict[str, Any]:
        return {"apply_b_dec_to_input": False}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors saved beside W_enc, W_dec, b_enc, b_dec (SAELens names; also our names)."""
        return {}


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
        "reshape_activations": "none",
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
        raise InputError(f"{file}: SAE config not found; run `dvc repro train_sae` first")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{file}: not valid JSON ({err})") from None


def load_sae(path: Path, device: torch.device | str = "cpu") -> SparseAutoencoder:
    from dictlearn.sae.registry import ARCHITECTURES

    cfg = read_cfg(path)
    name = cfg.get("metadata", {}).get("dictlearn_architecture")
    if name not in ARCHITECTURES:
        raise InputError(f"{Path(path) / CFG_FILE}: metadata.dictlearn_architecture is "
                         f"{name!r}; expected one of {sorted(ARCHITECTURES)}")
    sae = ARCHITECTURES[name](cfg["d_in"], cfg["d_sae"],
                              **cfg["metadata"].get("dictlearn_hparams", {}))
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise InputError(f"{weights}: SAE weights not found")
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error type for a corrupt header
        raise InputError(f"{weights}: not a readable safetensors file ({err})") from None
    missing = set(sae.state_dict()) - set(state)
    if missing:
        raise InputError(f"{weights}: missing tensors {sorted(missing)}")
    sae.load_state_dict({k: state[k] for k in sae.state_dict()})
    return sae.to(device).eval()


def load_log_density(path: Path) -> torch.Tensor:
    return load_file(str(Path(path) / SPARSITY_FILE))["sparsity"]
