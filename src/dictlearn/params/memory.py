"""What each model's training, caching and SAE stages will hold in memory, by estimate, said
by check_params before any stage runs (so a profile too big for the GPU or the RAM shows
then, not after the hours of the stages before it).

The estimates count fp32 everywhere: under bf16 autocast the activations are smaller, so
they are upper bounds there. tests/params/test_memory.py checks the LM estimate against the
bytes autograd really saves for a GPT-2 training step."""

from __future__ import annotations

import string
from collections.abc import Callable

from pydantic import BaseModel

from dictlearn.acts.config import INDEX_BYTES, VALUE_BYTES
from dictlearn.lm.config import TrainLM
from dictlearn.lm.sites import hook_layer, hook_name
from dictlearn.params.disk import gb
from dictlearn.params.schema import Params

FP32 = 4
# fp32 weights, their gradients and AdamW's two moments
STATE_BYTES = 4 * FP32
# culture quizzes (domains/culture/tasks.py: QUIZ_LEN, VOCAB_SIZE; a test checks they agree):
# BOS + four grids of a marker and 10 × 10 cells; colours 0-10 and the markers 11-14
CULTURE_CONTEXT, CULTURE_VOCAB = 405, 15


def _strokes_vocab(cfg) -> int:
    """At most: end-of-text and separator, the letters of its words (corpus words are
    [a-z]+), a token per direction and per pen-down and pen-up length."""
    chars = set("".join([*cfg.words, *cfg.heldout_words]))
    if cfg.corpus_words:
        chars |= set(string.ascii_lowercase)
    return 2 + len(chars) + cfg.angle_bins + 2 * cfg.length_bins


# domain → (context, vocabulary) of its GPT-2, from its `prepare` settings alone (a domain
# missing here gets no LM estimate; tests/params/test_memory.py wants every one listed)
LM_SHAPES: dict[str, Callable[[BaseModel], tuple[int, int]]] = {
    "text": lambda c: (c.seq_len, c.vocab_size),
    "culture": lambda c: (CULTURE_CONTEXT, CULTURE_VOCAB),
    "strokes": lambda c: (c.max_len, _strokes_vocab(c)),
}


def gpt2_params(n_embd: int, n_layer: int, n_ctx: int, vocab: int) -> int:
    """GPT-2 with tied embeddings: token and position tables, per block two LayerNorms,
    the attention's qkv and output projections and the MLP's two (12 d² + 13 d), a final
    LayerNorm."""
    d = n_embd
    return (vocab + n_ctx) * d + n_layer * (12 * d * d + 13 * d) + 2 * d


def lm_activations(n_embd: int, n_layer: int, n_head: int, n_ctx: int, vocab: int,
                   sequences: int) -> int:
    """Bytes autograd saves for one training step's backward: per token and block about 30
    d floats (the LayerNorms' inputs and outputs, q/k/v, the attention output, the MLP's 4d
    pre-activation and GELU's intermediates) and n_head × context for the attention weights
    that eager attention keeps (train_lm uses it under CPU bf16; SDPA keeps none, so there
    this is an upper bound); per token the log-softmax and the logits' gradient (2 × vocab)
    and the final LayerNorm's (4 d)."""
    per_token = n_layer * (30 * n_embd + n_head * n_ctx) + 2 * vocab + 4 * n_embd
    return FP32 * sequences * n_ctx * per_token


def lm_memory(cfg: TrainLM, n_ctx: int, vocab: int) -> int:
    """≈ bytes one train_lm process holds: weights, gradients, AdamW's moments, and the
    activations of its share of the batch."""
    share = -(-cfg.batch_size // cfg.processes)
    return (STATE_BYTES * gpt2_params(cfg.n_embd, cfg.n_layer, n_ctx, vocab)
            + lm_activations(cfg.n_embd, cfg.n_layer, cfg.n_head, n_ctx, vocab, share))


def cache_memory(cfg: TrainLM, n_ctx: int, vocab: int, hooks: dict[str, int],
                 batch_size: int, shard_rows: int) -> int:
    """≈ bytes cache_acts holds: fp32 weights, one batch's forward up to the last hooked
    block (no gradients: a block's widest intermediates, the residual stream and eager
    attention's weights), the hooked activations, and two shard buffers per hook."""
    if not hooks:
        return 0
    tokens = batch_size * n_ctx
    blocks = max(hook_layer(h) for h in hooks) + 1
    forward = FP32 * tokens * (2 * 4 * cfg.n_embd + 2 * cfg.n_embd + cfg.n_head * n_ctx)
    hooked = FP32 * tokens * sum(hooks.values())
    shards = 2 * shard_rows * sum(VALUE_BYTES * w + INDEX_BYTES for w in hooks.values())
    weights = FP32 * gpt2_params(cfg.n_embd, blocks, n_ctx, vocab)
    return weights + forward + hooked + shards


def sae_memory(d_in: int, d_sae: int, batch: int, buffer_rows: int) -> int:
    """≈ bytes train_sae holds: fp32 weights, gradients and Adam's two moments (16 bytes a
    parameter), the encoder's pre-activations, activations and their gradients for a batch,
    and the reader's two float16 shuffle buffers."""
    return (STATE_BYTES * (2 * d_in * d_sae + d_sae + d_in) + 3 * FP32 * batch * d_sae
            + 2 * VALUE_BYTES * buffer_rows * d_in)


def lm_shape(p: Params, model: str) -> tuple[int, int] | None:
    domain = p.models[model].domain
    shape = LM_SHAPES.get(domain)
    return None if shape is None else shape(p.prepare_settings(domain))


def estimates(p: Params) -> dict[str, int]:
    """{stage: ≈ bytes of memory per process} for every train_lm, cache_acts and train_sae."""
    out = {}
    for model, spec in p.models.items():
        shape = lm_shape(p, model)
        if shape is None:
            continue
        cfg = p.train_lm[spec.domain]
        out[f"train_lm@{model}"] = lm_memory(cfg, *shape)
        shard_rows = p.cache_acts.chunk_rows * p.cache_acts.chunks_per_shard
        out[f"cache_acts@{model}"] = cache_memory(cfg, *shape, p.model_hooks(model),
                                                  p.cache_acts.batch_size, shard_rows)
    for name in p.saes:
        run = p.sae_settings(name)
        width = p.model_hooks(run.model)[hook_name(run.sae.site, run.sae.layer)]
        rows = run.trainer.buffer_chunks * p.cache_acts.chunk_rows
        share = run.trainer.batch_size // run.trainer.processes
        out[f"train_sae@{name}"] = sae_memory(width, run.sae.d_sae, share, rows)
    return out


def memory_lines(p: Params) -> list[str]:
    """The largest estimate of each kind of stage, and which stage it is."""
    found = estimates(p)
    lines = []
    for kind, what in (("train_lm", "weights, gradients, AdamW's moments, a batch's "
                                    "activations"),
                       ("cache_acts", "weights, a batch's forward, two shards per hook"),
                       ("train_sae", "weights, gradients, Adam, a batch, the shuffle "
                                     "buffers")):
        mine = {s: b for s, b in found.items() if s.startswith(kind + "@")}
        if mine:
            big = max(mine, key=mine.get)
            lines.append(f"{big}: ≈ {gb(mine[big])} of memory per process, the most of the "
                         f"{len(mine)} {kind} stages ({what})")
    return lines
