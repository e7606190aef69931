"""Strokes domain: fonts, augmentation, stroke tokens, prepared data, rendering, samples."""

import json
import subprocess
import sys
import typing

import numpy as np
import pytest
import torch

from conftest import ROOT, from_ci, section
from dictlearn.core.errors import InputError
from dictlearn.domains import get_domain
from dictlearn.domains.prepared import load_split
from dictlearn.domains.strokes.config import HersheyFont, StrokesPrepare
from dictlearn.domains.strokes.domain import EOS, SEP
from dictlearn.domains.strokes.fonts import (Augment, Drawing, augment, font_names, render_word,
                                             simplify)
from dictlearn.domains.strokes.tokens import StrokeCodec, is_stroke
from dictlearn.lm.config import TrainLM

CODEC = StrokeCodec(angle_bins=24, length_bins=8, unit=1.5)
AUG = Augment(slant_deg=12, scale=(0.8, 1.2), jitter=0.3, wobble=1.5)
# three words of its own (no corpus), in the ci profile's font, augmentation and tokens
TINY = from_ci(StrokesPrepare, "prepare", "strokes", words=["ab", "cab", "bad"],
               heldout_words=["dab"], corpus_words=0, min_word_len=1, max_word_len=6,
               n_samples=24, heldout_samples_per_word=2, val_fraction=0.25, max_len=128,
               fonts=["scripts"], slant_deg=10.0, scale=(0.9, 1.1), jitter=0.2, wobble=1.0,
               simplify=1.0, angle_bins=24, length_bins=8, unit=1.5, seed=0)


def nearest(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    return np.sqrt(((points[:, None] - others[None]) ** 2).sum(-1)).min(1)


def test_font_names_are_the_packages():
    assert set(typing.get_args(HersheyFont)) == set(font_names())


@pytest.mark.parametrize("font", ["scripts", "scriptc", "cursive"])
@pytest.mark.parametrize("word", ["hello", "quick", "jumps"])
def test_decode_encode_is_within_one_bin(font, word):
    d = augment(simplify(render_word(word, font), 1.0), AUG, np.random.default_rng(1))
    tokens, _ = CODEC.encode(d)
    decoded = np.concatenate(CODEC.decode(tokens))
    assert nearest(np.concatenate(d.polylines), decoded).max() <= CODEC.tolerance
    assert all(is_stroke(t) for t in tokens) and set(tokens) <= set(CODEC.vocab)


def test_long_moves_are_split_and_do_not_drift():
    line = np.array([[10.0, -5.0], [100.0, 37.0], [3.0, 90.0]])
    d = Drawing([line, line + 5], [np.zeros(3, int), np.ones(3, int)])
    tokens, chars = CODEC.encode(d)
    assert len(tokens) > 2 * 6  # 100 units need several longest (12-unit) moves
    assert chars == sorted(chars)
    moves = CODEC.moves(tokens)
    assert not moves[0].pen_down  # the pen travels to the first point
    assert nearest(np.concatenate([line, line + 5]),
                   np.array([m.end for m in moves])).max() <= CODEC.tolerance


def test_augmentation_is_deterministic_for_a_seed():
    d = render_word("cab", "scripts")
    a, b, c = (augment(d, AUG, np.random.default_rng(s)) for s in (3, 3, 4))
    assert all(np.array_equal(p, q) for p, q in zip(a.polylines, b.polylines))
    assert not all(np.allclose(p, q) for p, q in zip(a.polylines, c.polylines))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("strokes")
    stats = get_domain("strokes").prepare(TINY, None, out)
    assert stats["n_train"] == 18 and stats["n_validation"] == 6 and stats["n_heldout"] == 2
    return out


def test_labels_name_the_character_being_drawn(prepared):
    from datasets import load_from_disk

    from dictlearn.lm.checkpoint import load_tokenizer

    tok = load_tokenizer(prepared)
    split = load_split(prepared, "train")
    rows = load_from_disk(str(prepared / "dataset"))["train"]["words"]
    names = split.label_names
    assert sum(len(r) for r in rows) == 18 and len(rows) < 18  # words are packed
    for ids, labels, words in zip(split.ids.tolist(), split.labels.tolist(), rows):
        tokens = tok.convert_ids_to_tokens(ids)
        starts = [i for i, t in enumerate(tokens) if t == EOS]
        assert starts[0] == 0
        for word, (a, b) in zip(words, zip(starts, starts[1:])):  # one word per EOS … EOS
            sep = tokens.index(SEP, a)
            assert "".join(tokens[a + 1:sep]) == word
            assert [names[i] for i in labels[a + 1:sep]] == list(word)  # characters: themselves
            assert names[labels[sep]] == "<sep>" and names[labels[a]] == "<pad>"
            drawn = [names[lab] for t, lab in zip(tokens[sep + 1:b], labels[sep + 1:b])]
            assert all(is_stroke(t) for t in tokens[sep + 1:b])
            # strokes go through the word's characters in order, each of them at least once
            runs = [c for i, c in enumerate(drawn) if i == 0 or drawn[i - 1] != c]
            assert runs == list(word)
        assert len(starts) >= len(words) + 1  # closed by an end of text, then padding
        assert {names[lab] for lab in labels[starts[len(words)]:]} == {"<pad>"}


def test_tokenizer_round_trip(prepared):
    from dictlearn.lm.checkpoint import load_tokenizer

    tok = load_tokenizer(prepared)
    ids = load_split(prepared, "validation").ids[0].tolist()
    tokens = tok.convert_ids_to_tokens(ids)
    assert tok(" ".join(tokens))["input_ids"] == ids
    assert tok.eos_token == EOS and tok.eos_token_id == ids[0]


def test_heldout_words_are_not_trained_on(prepared):
    from datasets import load_from_disk

    ds = load_from_disk(str(prepared / "dataset"))
    seen = {w for split in ("train", "validation") for row in ds[split]["words"] for w in row}
    assert "dab" not in seen and {w for r in ds["heldout"]["words"] for w in r} == {"dab"}


def test_prepare_is_deterministic(prepared, tmp_path):
    get_domain("strokes").prepare(TINY, None, tmp_path)
    a, b = load_split(prepared, "train"), load_split(tmp_path, "train")
    assert torch.equal(a.ids, b.ids) and torch.equal(a.labels, b.labels)


def test_word_the_font_lacks_is_rejected_before_work(tmp_path):
    with pytest.raises(InputError, match=r"prepare\.strokes\.words: 'café'.*'scripts'"):
        get_domain("strokes").prepare(TINY.model_copy(update={"words": ["café"]}), None, tmp_path)
    assert not any(tmp_path.iterdir())
    settings = section("prepare", "strokes") | {"heldout_words": ["naïve"]}
    StrokesPrepare.model_validate(settings)  # valid settings: the font decides, in prepare
    (tmp_path / "strokes.json").write_text(json.dumps(settings))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "prepare.py"), "--domain",
                           "strokes", "--settings", str(tmp_path / "strokes.json"),
                           "--out", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "prepare.strokes.heldout_words" in proc.stderr
    assert not (tmp_path / "out").exists()


def context(word: str) -> list[str]:
    tokens, _ = CODEC.encode(simplify(render_word("cab", "scripts"), 1.0))
    return [EOS, *word, SEP, *tokens, EOS, EOS]


def test_render_html_draws_coloured_handwriting_and_escapes():
    tokens = context("<script>")
    acts = [0.0] * len(tokens)
    focus = 12 + 2 * 3 + 1  # the fourth move's length token
    acts[focus] = 2.0
    acts[3] = 1.0
    page = get_domain("strokes").render_html(tokens, acts, focus)
    assert "<script" not in page and "&lt;" in page
    assert page.count("<line") == len(CODEC.moves(tokens[10:]))
    assert "rgb(200,0,0)" in page  # the top activation in the deepest colour
    assert "<circle" in page  # the focus move is ringed
    # a focus on a character of the word renders too, with no move marked
    assert "<circle" not in get_domain("strokes").render_html(tokens, acts, 3)


def test_samples_are_drawn_and_escaped():
    samples = ("# Samples\n\n## '<b>cab</b>' (greedy, distance 0.00)\n\n```\n"
               + " ".join(context("cab")) + "\n```\n")
    page = get_domain("strokes").samples_html(samples)
    assert 'class="stroke-sample"' in page and "<svg" in page and "<b>" not in page


def test_evaluate_lm_reports_stroke_accuracy_and_samples(prepared):
    from dictlearn.lm.checkpoint import build_gpt2, load_tokenizer
    from dictlearn.lm.train import train_lm

    cfg = from_ci(TrainLM, "train_lm", "strokes", n_layer=1, n_head=2, n_embd=32, batch_size=8,
                  steps=20, warmup_steps=2, eval_every=200, eval_batches=1,
                  samples={"prompts": ["dab", "zz"], "max_new_tokens": 20, "temperature": 0.8})
    tok = load_tokenizer(prepared)
    train, val = load_split(prepared, "train"), load_split(prepared, "validation")
    torch.manual_seed(0)
    model = build_gpt2(cfg, len(tok), train.seq_len, tok.eos_token_id)
    train_lm(model, train.ids, val.ids, val.labels, train.label_names, cfg, torch.device("cpu"), 0)
    metrics, text = get_domain("strokes").evaluate_lm(model, tok, prepared, cfg,
                                                      torch.device("cpu"))
    assert 0 <= metrics["stroke_accuracy"] <= 1 and 0 <= metrics["stroke_accuracy_heldout"] <= 1
    assert metrics["sample_distance_greedy"] >= 0
    assert "'dab' (greedy" in text and "'zz': characters ['z'] are not in the vocabulary" in text
