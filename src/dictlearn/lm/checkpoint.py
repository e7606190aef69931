"""Model and tokenizer I/O. Weights load only from safetensors, never from pickles."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from dictlearn.lm.config import TrainLM
from dictlearn.core.errors import InputError, damaged, restore_hint

WEIGHTS = "model.safetensors"


def build_gpt2(cfg: TrainLM, vocab_size: int, n_ctx: int, eos_id: int) -> GPT2LMHeadModel:
    config = GPT2Config(
        vocab_size=vocab_size, n_positions=n_ctx, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
        n_head=cfg.n_head, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout, bos_token_id=eos_id, eos_token_id=eos_id,
        pad_token_id=eos_id, tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(config)


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """A tokenizer.json file, or a model folder saved with `save_pretrained`."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{file}: tokenizer.json not found; " + restore_hint(file))
    try:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(file))
    except Exception as err:  # the tokenizers library raises its own exception type
        raise damaged(file, err, "the tokenizer") from None
    eos = "<|endoftext|>"
    if tok.convert_tokens_to_ids(eos) is not None:
        tok.eos_token = tok.bos_token = tok.pad_token = eos
    return tok


def check_checkpoint(path: Path) -> None:
    if not (Path(path) / WEIGHTS).is_file():
        raise InputError(f"{path}/{WEIGHTS}: model weights not found (only safetensors "
                         "checkpoints are loaded); " + restore_hint(path))


def load_model(path: Path, device: torch.device | str = "cpu") -> GPT2LMHeadModel:
    check_checkpoint(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), use_safetensors=True,
                                                     attn_implementation="eager")
    except Exception as err:  # safetensors and transformers raise their own types
        raise damaged(path, err, "the GPT-2 checkpoint") from None
    return model.to(device).eval()


def load_bridge(path: Path, device: torch.device | str = "cpu"):
    """The checkpoint wrapped in a TransformerLens 4 TransformerBridge (eval mode)."""
    from transformer_lens.model_bridge import TransformerBridge

    check_checkpoint(path)
    try:  # the tokenizer is read from the checkpoint folder (saved there by train_lm)
        bridge = TransformerBridge.boot_transformers(str(path), device=str(device))
    except Exception as err:
        raise damaged(path, err, "the GPT-2 checkpoint") from None
    return bridge.eval()


def checkpoint_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(Path(path) / WEIGHTS, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
