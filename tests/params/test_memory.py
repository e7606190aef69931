"""check_params' memory estimates: the GPT-2 parameter count is exact, the activation estimate
holds what autograd really saves for a training step, every domain has its LM shape, and the
largest stage of each kind is named."""

import pytest
import torch
import transformers

from conftest import profile, section
from dictlearn.domains import DOMAINS, prepare_schema
from dictlearn.domains.culture.tasks import QUIZ_LEN, VOCAB_SIZE
from dictlearn.domains.strokes.tokens import StrokeCodec
from dictlearn.lm.checkpoint import build_gpt2
from dictlearn.lm.config import TrainLM
from dictlearn.lm.train import weighted_loss
from dictlearn.params import memory
from dictlearn.params.disk import gb
from dictlearn.params.schema import parse_params


def tiny(n_embd: int, n_layer: int, n_head: int) -> TrainLM:
    return TrainLM.model_validate(section("train_lm", "text") | {
        "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head, "dropout": 0.0})


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for backward (each storage once, weights aside)."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        weighted_loss(model, x, torch.ones(x.shape[1] - 1))
    return sum(seen.values())


@pytest.mark.parametrize("shape", [(64, 2, 4, 100, 64, 4), (128, 2, 8, 1000, 64, 2),
                                   (32, 3, 8, 15, 405, 2)])
def test_lm_estimate_holds_what_autograd_saves(shape):
    transformers.logging.set_verbosity_error()
    d, layers, heads, vocab, ctx, batch = shape
    model = build_gpt2(tiny(d, layers, heads), vocab, ctx, 0).train()
    assert model.num_parameters() == memory.gpt2_params(d, layers, ctx, vocab)
    estimate = memory.lm_activations(d, layers, heads, ctx, vocab, batch)
    x = torch.randint(vocab, (batch, ctx), generator=torch.Generator().manual_seed(0))
    model.set_attn_implementation("eager")  # train_lm under CPU bf16: the estimate's case
    eager = saved_bytes(model, x)
    assert 0.75 * estimate <= eager <= estimate, (eager, estimate)
    model.set_attn_implementation("sdpa")  # keeps no attention weights: below the estimate
    assert saved_bytes(model, x) <= eager


def test_every_domain_has_its_lm_shape():
    assert set(memory.LM_SHAPES) == set(DOMAINS)
    assert (memory.CULTURE_CONTEXT, memory.CULTURE_VOCAB) == (QUIZ_LEN, VOCAB_SIZE)
    text = prepare_schema("text").model_validate(section("prepare", "text"))
    assert memory.LM_SHAPES["text"](text) == (text.seq_len, text.vocab_size)
    # strokes without corpus words: exactly the vocabulary prepare builds
    raw = section("prepare", "strokes") | {"corpus_words": 0, "words": ["minimum", "Ode"]}
    strokes = prepare_schema("strokes").model_validate(raw)
    chars = set("".join(strokes.words + strokes.heldout_words))
    codec = StrokeCodec(strokes.angle_bins, strokes.length_bins, strokes.unit)
    assert memory.LM_SHAPES["strokes"](strokes) == (strokes.max_len,
                                                     2 + len(chars) + len(codec.vocab))


def test_the_largest_stage_of_each_kind_is_named():
    p = parse_params(profile("default"))
    found = memory.estimates(p)
    assert {s.split("@")[0] for s in found} == {"train_lm", "cache_acts", "train_sae"}
    assert len(found) == 2 * len(p.models) + len(p.saes)
    lines = memory.memory_lines(p)
    assert [line.split("@")[0] for line in lines] == ["train_lm", "cache_acts", "train_sae"]
    run = p.sae_settings("text-topk-x4")  # 4 × 768 latents on the 768-wide MLP: the largest
    expected = memory.sae_memory(768, 3072, run.trainer.batch_size,
                                 run.trainer.buffer_chunks * p.cache_acts.chunk_rows)
    assert lines[2].startswith(f"train_sae@text-topk-x4: ≈ {gb(expected)} of memory")
    # weights, gradients and Adam's moments: 16 bytes a parameter
    assert memory.sae_memory(10, 20, 0, 0) == 16 * (2 * 10 * 20 + 20 + 10)
    # train_lm: the state of every parameter plus the batch's activations
    cfg = p.train_lm["text"]
    text = p.prepare_settings("text")
    assert found["train_lm@text"] == 16 * memory.gpt2_params(
        cfg.n_embd, cfg.n_layer, text.seq_len, text.vocab_size) + memory.lm_activations(
        cfg.n_embd, cfg.n_layer, cfg.n_head, text.seq_len, text.vocab_size, cfg.batch_size)
