"""Strokes domain: words written in Hershey script fonts and tokenized as pen moves. A sequence
is `<|endoftext|> w o r d <sep>` then the word's stroke tokens, then `<|endoftext|>` padding;
each token's label is the character being drawn (`<sep>` and `<pad>` for the rest)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from tqdm import tqdm

from dictlearn.config import StrokesPrepare
from dictlearn.domains.base import Domain, escape, shade
from dictlearn.domains.strokes.fonts import Augment, augment, render_word, simplify
from dictlearn.domains.strokes.svg import heat_colour, moves_svg
from dictlearn.domains.strokes.tokens import ANGLE, MOVE, StrokeCodec, parse_moves
from dictlearn.domains.strokes.words import check_drawable, training_words
from dictlearn.prepared import DATASET_DIR, TOKENIZER_FILE, load_split
from dictlearn.runtime import InputError

EOS, SEP, PAD_LABEL = "<|endoftext|>", "<sep>", "<pad>"
CODEC_FILE = "strokes.json"  # the codec and fonts, for evaluate_lm's legibility measure
MAX_LEN = 256  # longest sequence prepare.strokes.max_len allows
FOCUS = ' class="focus"'
SAMPLE = re.compile(r"^## ([^\n]+)\n\n```\n([^`]*?)\n```", re.M)


def strokes_tokenizer(vocab: list[str]) -> Tokenizer:
    tok = Tokenizer(WordLevel({t: i for i, t in enumerate(vocab)}, unk_token=EOS))
    tok.pre_tokenizer = WhitespaceSplit()
    tok.add_special_tokens([EOS])
    return tok


def is_stroke(token: str) -> bool:
    return bool(ANGLE.match(token) or MOVE.match(token))


class SampleWriter:
    """One word in one font, augmented, as (input_ids, labels) of length max_len."""

    def __init__(self, cfg: StrokesPrepare, vocab: list[str], label_names: list[str]):
        self.cfg, self.ids, self.labels = cfg, {t: i for i, t in enumerate(vocab)}, label_names
        self.codec = StrokeCodec(cfg.angle_bins, cfg.length_bins, cfg.unit)
        self.aug = Augment(cfg.slant_deg, cfg.scale, cfg.jitter, cfg.wobble)
        self.clean: dict[tuple[str, str], Any] = {}

    def __call__(self, word: str, font: str, rng: np.random.Generator):
        key = (word, font)
        if key not in self.clean:
            self.clean[key] = simplify(render_word(word, font), self.cfg.simplify)
        tokens, chars = self.codec.encode(augment(self.clean[key], self.aug, rng))
        seq = [EOS, *word, SEP, *tokens, EOS]
        if len(seq) > self.cfg.max_len:
            return None
        lab = self.labels.index
        labels = ([0] + [lab(c) for c in word] + [1] + [lab(word[c]) for c in chars] + [0])
        pad = self.cfg.max_len - len(seq)
        return [self.ids[t] for t in seq] + [0] * pad, labels + [0] * pad


class StrokesDomain(Domain):
    name = "strokes"
    min_context = (MAX_LEN - 1, MAX_LEN - 1)  # the whole sequence: word and all its strokes

    def prepare(self, cfg: StrokesPrepare, inputs: Path | None, out: Path) -> dict[str, Any]:
        check_drawable(cfg)
        words = training_words(cfg, inputs)
        codec = StrokeCodec(cfg.angle_bins, cfg.length_bins, cfg.unit)
        chars = sorted(set("".join(words + list(cfg.heldout_words))))
        vocab = [EOS, SEP, *chars, *codec.vocab]
        label_names = [PAD_LABEL, SEP, *chars]
        out.mkdir(parents=True, exist_ok=True)
        strokes_tokenizer(vocab).save(str(out / TOKENIZER_FILE))
        (out / CODEC_FILE).write_text(json.dumps({
            "fonts": list(cfg.fonts), "angle_bins": cfg.angle_bins,
            "length_bins": cfg.length_bins, "unit": cfg.unit, "simplify": cfg.simplify}))
        write = SampleWriter(cfg, vocab, label_names)
        rng = np.random.default_rng(cfg.seed)

        def draw(pairs, desc: str) -> tuple[dict[str, list], int]:
            cols: dict[str, list] = {"input_ids": [], "label": [], "word": [], "font": []}
            dropped = 0
            for word, font in tqdm(pairs, desc=desc, unit="word"):
                sample = write(word, font, rng)
                if sample is None:
                    dropped += 1
                    continue
                for k, v in zip(cols, (*sample, word, font)):
                    cols[k].append(v)
            return cols, dropped

        picks = zip(rng.integers(len(words), size=cfg.n_samples),
                    rng.integers(len(cfg.fonts), size=cfg.n_samples))
        main, dropped = draw([(words[w], cfg.fonts[f]) for w, f in picks], "draw words")
        if dropped > cfg.n_samples // 2:
            raise InputError(f"prepare.strokes.max_len: {dropped} of {cfg.n_samples} samples "
                             f"are longer than {cfg.max_len} tokens; raise max_len, shorten "
                             "max_word_len or raise unit")
        held, held_dropped = draw([(w, cfg.fonts[i % len(cfg.fonts)]) for w in cfg.heldout_words
                                   for i in range(cfg.heldout_samples_per_word)], "held out")
        features = Features({"input_ids": Sequence(Value("int32")),
                             "label": Sequence(ClassLabel(names=label_names)),
                             "word": Value("string"), "font": Value("string")})
        n = len(main["word"])
        n_val = max(1, int(round(cfg.val_fraction * n)))
        splits = {"train": {k: v[n_val:] for k, v in main.items()},
                  "validation": {k: v[:n_val] for k, v in main.items()}}
        if held["word"]:
            splits["heldout"] = held
        DatasetDict({k: Dataset.from_dict(v, features=features) for k, v in splits.items()}
                    ).save_to_disk(str(out / DATASET_DIR))
        lengths = [sum(1 for t in ids if t) for ids in main["input_ids"]]
        return {"vocab_size": len(vocab), "words": len(words), "labels": label_names,
                "n_train": n - n_val, "n_validation": n_val, "n_heldout": len(held["word"]),
                "dropped_too_long": dropped + held_dropped, "max_len": cfg.max_len,
                "mean_tokens": float(np.mean(lengths)), "max_tokens": int(max(lengths))}

    def evaluate_lm(self, model, tokenizer, prepared: Path, cfg,
                    device) -> tuple[dict[str, float], str]:
        from dictlearn.domains.strokes.evaluate import sample_words, stroke_accuracy

        metrics = {}
        n = cfg.eval_batches * cfg.batch_size
        for split, suffix in (("validation", ""), ("heldout", "_heldout")):
            try:
                ids = load_split(prepared, split, n).ids
            except InputError:  # no held-out words
                continue
            metrics[f"stroke_accuracy{suffix}"] = stroke_accuracy(
                model, tokenizer, ids, cfg.batch_size, device)
        sample_metrics, text = sample_words(model, tokenizer, prepared, cfg, device)
        return metrics | sample_metrics, text

    def samples_html(self, samples: str) -> str:
        """Each sampled word drawn as SVG handwriting, under the word it was asked to write."""
        figures = []
        for title, body in SAMPLE.findall(samples):
            tokens = body.split()
            start = tokens.index(SEP) + 1 if SEP in tokens else 0
            figures.append(f'<figure class="stroke-sample" style="display:inline-block">'
                           f"{moves_svg(parse_moves(tokens[start:]), title)}"
                           f"<figcaption>{escape(title)}</figcaption></figure>")
        return "".join(figures) + super().samples_html(samples)

    def render_html(self, tokens: list[str], acts: list[float], focus: int) -> str:
        """The word around the focus token drawn as SVG handwriting: each pen move coloured by
        the activation (the larger of its two tokens'), the focus move thicker and ringed; the
        word's characters above, shaded by their activations."""
        top = max(acts) if acts else 0.0
        seps = [i for i, t in enumerate(tokens) if t == SEP]
        sep = max((i for i in seps if i <= focus), default=min(seps, default=-1))
        start = max((i for i in range(sep) if tokens[i] == EOS), default=-1) + 1 if sep >= 0 else 0
        end = next((i for i in range(max(sep, 0) + 1, len(tokens)) if tokens[i] == EOS),
                   len(tokens))
        first = sep + 1 if sep >= 0 else 0
        moves = parse_moves(tokens[first:end])
        colours, focus_move = [], None
        for m_i, mv in enumerate(moves):
            i = first + mv.token
            colours.append(heat_colour(max(acts[i], acts[i - 1] if i > first else 0.0), top))
            if focus in (i, i - 1):
                focus_move = m_i
        word = "".join(
            f'<span{FOCUS if i == focus else ""} style="{shade(acts[i], top)}">'
            f"{escape(tokens[i])}</span>" for i in range(start, max(sep, start)))
        title = (f"{''.join(tokens[start:max(sep, start)])} · focus {tokens[focus]} "
                 f"{acts[focus]:.3f}")
        return (f'<div class="strokes-ctx" style="display:inline-block;margin:0 0.6em 0.4em 0">'
                f'<div style="font-size:0.8em"><code>{word}</code> · focus '
                f"<code>{escape(tokens[focus])}</code> {acts[focus]:.3f}</div>"
                f"{moves_svg(moves, title, colours, focus_move)}</div>")
