"""The domain interface: everything a stage after `prepare` may know about a data domain.

A domain turns its raw material into a tokenizer (`tokenizer.json`) and a Hugging Face
dataset with `input_ids` and a per-token `label` (a ClassLabel: language, task, character),
evaluates a trained model in the domain's own terms, and renders a context as HTML.
"""

from __future__ import annotations

import html
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from pydantic import BaseModel

class Domain(ABC):
    name: ClassVar[str]
    # tokens left and right of a feature's top activation that render_html needs at least
    # (eval_sae widens its context window to this)
    min_context: ClassVar[tuple[int, int]] = (0, 0)

    @abstractmethod
    def prepare(self, cfg: BaseModel, inputs: Path | None, out: Path) -> dict[str, Any]:
        """Write `out/tokenizer.json` and `out/dataset` (splits train/validation); return stats."""

    @abstractmethod
    def evaluate_lm(self, model: torch.nn.Module, tokenizer: Any, prepared: Path,
                    cfg: BaseModel, device: torch.device) -> tuple[dict[str, float], str]:
        """Domain-specific metrics of a trained LM (on the prepared folder's data), and a
        human-readable samples text."""

    def init_model(self, model: torch.nn.Module, cfg: BaseModel, seed: int) -> None:
        """Domain-specific initialisation of a fresh LM (train_lm.<domain>); none by default."""

    def loss_weights(self, cfg: BaseModel, seq_len: int) -> torch.Tensor | None:
        """Per-target loss weights [seq_len - 1] for training; None: every token weighs 1."""
        return None

    def learning_curves(self, prepared: Path, cfg: BaseModel, device: torch.device
                        ) -> Callable[[torch.nn.Module], dict[str, float]] | None:
        """A function measuring the LM in the domain's terms while it trains (logged every
        eval_every steps as curves against training tokens); None: validation loss only."""
        return None

    def samples_html(self, samples: str) -> str:
        """The LM's samples (train_lm's samples.md) as HTML for the report; plain text unless
        the domain can draw them."""
        return f"<pre>{escape(samples)}</pre>"

    @abstractmethod
    def render_html(self, tokens: list[str], acts: list[float], focus: int) -> str:
        """One context as HTML: `tokens` (already decoded strings) shaded by `acts`, the
        token at index `focus` marked. Every piece of text must be HTML-escaped."""


def heat(act: float, max_act: float) -> float:
    """An activation as a share of the context's top one, clipped to [0, 1]."""
    return 0.0 if max_act <= 0 else max(0.0, min(1.0, act / max_act))


def shade(act: float, max_act: float) -> str:
    """A CSS background for an activation, 0 → transparent, max → saturated orange."""
    a = heat(act, max_act)
    return f"background: rgba(255, 140, 0, {a:.2f})"


def escape(text: str) -> str:
    return html.escape(text, quote=True)
