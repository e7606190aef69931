"""Which words the strokes domain writes: the params' list, the corpus' most frequent words,
checked against the fonts before any work."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from dictlearn.domains.strokes.config import StrokesPrepare
from dictlearn.corpus.fetch import MANIFEST, read_corpus
from dictlearn.domains.strokes.fonts import drawable
from dictlearn.core.errors import InputError


def check_drawable(cfg: StrokesPrepare) -> None:
    """Every listed word can be written in every font, or an error naming the param."""
    for font in cfg.fonts:
        have = drawable(font)
        for key in ("words", "heldout_words"):
            for w in getattr(cfg, key):
                if lacking := sorted(set(w) - have):
                    raise InputError(f"prepare.strokes.{key}: {w!r} has characters {lacking} "
                                     f"that font {font!r} (prepare.strokes.fonts) lacks")


def corpus_words(cfg: StrokesPrepare, corpus: Path | None) -> list[str]:
    """The `corpus_words` most frequent lowercase words of the text corpus that every font
    can write, with min_word_len..max_word_len letters (ties broken alphabetically)."""
    if cfg.corpus_words == 0:
        return []
    if corpus is None or not (corpus / MANIFEST).is_file():
        raise InputError(f"{corpus}/{MANIFEST}: text corpus manifest not found, needed by "
                         "prepare.strokes.corpus_words; run `dvc repro fetch_corpus` first")
    manifest = json.loads((corpus / MANIFEST).read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    for _, text in read_corpus(corpus, manifest):
        counts.update(re.findall(r"\b[a-z]+\b", text))
    have = set.intersection(*(drawable(f) for f in cfg.fonts))
    skip = set(cfg.heldout_words) | set(cfg.words)
    ok = [w for w in counts if cfg.min_word_len <= len(w) <= cfg.max_word_len
          and set(w) <= have and w not in skip]
    return sorted(ok, key=lambda w: (-counts[w], w))[: cfg.corpus_words]


def training_words(cfg: StrokesPrepare, corpus: Path | None) -> list[str]:
    held = set(cfg.heldout_words)
    words = list(dict.fromkeys(w for w in cfg.words if w not in held))
    words += corpus_words(cfg, corpus)
    if not words:
        raise InputError("prepare.strokes.words: no word left to train on (all held out, "
                         "and the corpus gave none)")
    return words
