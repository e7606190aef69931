"""Strokes domain: words written in Hershey script fonts and tokenized as pen moves. A word is
`<|endoftext|> w o r d <sep>` then its stroke tokens; words are packed into sequences of
max_len tokens (closed by `<|endoftext|>`, then padded with it), so every sequence is a plain
causal-LM sequence with little padding. Each token's label is the character being drawn
(`<sep>` and `<pad>` for the rest)."""

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

from dictlearn.domains.strokes.config import StrokesPrepare
from dictlearn.domains.base import Domain, escape, shade
from dictlearn.domains.strokes.fonts import Augment, augment, render_word, simplify
from dictlearn.domains.strokes.svg import heat_colour, moves_svg
from dictlearn.domains.strokes.tokens import StrokeCodec, is_stroke, parse_moves
from dictlearn.domains.strokes.words import check_drawable, training_words
from dictlearn.domains.prepared import DATASET_DIR, TOKENIZER_FILE, load_split
from dictlearn.core.errors import InputError

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


class SampleWriter:
    """One word in one font, augmented, as (input_ids, labels); None if it cannot fit a
    sequence."""

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
        seq = [EOS, *word, SEP, *tokens]
        if len(seq) + 1 > self.cfg.max_len:  # room for the closing end of text
            return None
        lab = self.labels.index
        labels = [0] + [lab(c) for c in word] + [1] + [lab(word[c]) for c in chars]
        return [self.ids[t] for t in seq], labels


def pack(samples: dict[str, list], max_len: int) -> dict[str, list]:
    """Whole samples, in order, packed into rows of max_len tokens: as many as fit, an end of
    text, then end-of-text padding (label `<pad>`, id and label 0)."""
    rows: dict[str, list] = {"input_ids": [], "label": [], "words": [], "fonts": []}
    cur: dict[str, list] = {k: [] for k in rows}

    def flush() -> None:
        pad = max_len - len(cur["input_ids"])
        rows["input_ids"].append(cur["input_ids"] + [0] * pad)
        rows["label"].append(cur["label"] + [0] * pad)
        rows["words"].append(cur["words"])
        rows["fonts"].append(cur["fonts"])

    for ids, labels, word, font in zip(*samples.values()):
        if cur["input_ids"] and len(cur["input_ids"]) + len(ids) + 1 > max_len:
            flush()
            cur = {k: [] for k in rows}
        cur["input_ids"] += ids
        cur["label"] += labels
        cur["words"].append(word)
        cur["fonts"].append(font)
    if cur["input_ids"]:
        flush()
    return rows


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
                             "words": Sequence(Value("string")),
                             "fonts": Sequence(Value("string"))})
        n = len(main["word"])
        n_val = max(1, int(round(cfg.val_fraction * n)))
        splits = {"train": {k: v[n_val:] for k, v in main.items()},
                  "validation": {k: v[:n_val] for k, v in main.items()}}
        if held["word"]:
            splits["heldout"] = held
        packed = {k: pack(v, cfg.max_len) for k, v in splits.items()}
        DatasetDict({k: Dataset.from_dict(v, features=features) for k, v in packed.items()}
                    ).save_to_disk(str(out / DATASET_DIR))
        lengths = [len(ids) for ids in main["input_ids"]]
        real = sum(np.count_nonzero(lab) for lab in packed["train"]["label"])
        train_slots = cfg.max_len * len(packed["train"]["input_ids"])
        return {"vocab_size": len(vocab), "words": len(words), "labels": label_names,
                **{f"n_{k}": len(v["word"]) for k, v in splits.items()},
                **{f"sequences_{k}": len(v["input_ids"]) for k, v in packed.items()},
                "dropped_too_long": dropped + held_dropped, "max_len": cfg.max_len,
                "mean_tokens_per_word": float(np.mean(lengths)),
                "max_tokens_per_word": int(max(lengths)),
                "word_token_share": float(real / train_slots)}

    def evaluate_lm(self, model, tokenizer, prepared: Path, cfg,
                    device) -> tuple[dict[str, float], str]:
        from dictlearn.domains.strokes.sampling import sample_words, stroke_accuracy

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
