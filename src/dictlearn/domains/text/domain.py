"""Text domain: Shakespeare + Python source, a byte-level BPE of our own, per-token language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from tokenizers import ByteLevelBPETokenizer
from tqdm import tqdm

from dictlearn.domains.text.config import TextPrepare
from dictlearn.corpus.fetch import MANIFEST, read_corpus
from dictlearn.domains.prepared import DATASET_DIR, TOKENIZER_FILE
from dictlearn.domains.base import Domain, escape, shade
from dictlearn.core.errors import InputError

EOS = "<|endoftext|>"


def train_tokenizer(texts: list[str], vocab_size: int) -> ByteLevelBPETokenizer:
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2,
                            special_tokens=[EOS], show_progress=True)
    return tok


def chunk_stream(ids: np.ndarray, seq_len: int) -> np.ndarray:
    n = len(ids) // seq_len
    return ids[: n * seq_len].reshape(n, seq_len)


class TextDomain(Domain):
    name = "text"

    def prepare(self, cfg: TextPrepare, inputs: Path | None, out: Path) -> dict[str, Any]:
        if inputs is None or not (inputs / MANIFEST).is_file():
            raise InputError(f"{inputs}/{MANIFEST}: text corpus manifest not found; "
                             "run `dvc repro fetch_corpus` first")
        try:
            manifest = json.loads((inputs / MANIFEST).read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(f"{inputs / MANIFEST}: not valid JSON ({err})") from None
        docs = read_corpus(inputs, manifest)
        labels = list(dict.fromkeys(label for label, _ in docs))

        tok = train_tokenizer([text for _, text in docs], cfg.vocab_size)
        out.mkdir(parents=True, exist_ok=True)
        tok.save(str(out / TOKENIZER_FILE))
        eos = tok.token_to_id(EOS)

        encoded = tok.encode_batch([text for _, text in docs])
        rng = np.random.default_rng(cfg.seed)
        seqs, seq_labels = [], []
        stats: dict[str, Any] = {"vocab_size": tok.get_vocab_size(), "labels": labels}
        for li, label in enumerate(tqdm(labels, desc="chunk", unit="label")):
            stream = [np.asarray(e.ids + [eos], dtype=np.int32)
                      for (lab, _), e in zip(docs, encoded) if lab == label]
            chunks = chunk_stream(np.concatenate(stream), cfg.seq_len)
            if cfg.max_tokens_per_label:
                keep = max(1, cfg.max_tokens_per_label // cfg.seq_len)
                if len(chunks) > keep:
                    chunks = chunks[np.sort(rng.choice(len(chunks), keep, replace=False))]
            if len(chunks) == 0:
                raise InputError(f"prepare.text.seq_len: label {label!r} has fewer than "
                                 f"{cfg.seq_len} tokens; lower seq_len or add text")
            seqs.append(chunks)
            seq_labels.append(np.full(len(chunks), li, dtype=np.int64))
            stats[f"tokens_{label}"] = int(chunks.size)
        ids = np.concatenate(seqs)
        lab = np.concatenate(seq_labels)
        order = rng.permutation(len(ids))
        ids, lab = ids[order], lab[order]
        n_val = max(1, int(round(cfg.val_fraction * len(ids))))
        features = Features({"input_ids": Sequence(Value("int32")),
                             "label": Sequence(ClassLabel(names=labels))})

        def split(sl: slice) -> Dataset:
            return Dataset.from_dict({
                "input_ids": ids[sl].tolist(),
                "label": np.repeat(lab[sl, None], cfg.seq_len, axis=1).tolist(),
            }, features=features)

        DatasetDict({"train": split(slice(n_val, None)),
                     "validation": split(slice(0, n_val))}).save_to_disk(str(out / DATASET_DIR))
        stats.update(n_train=len(ids) - n_val, n_validation=n_val, seq_len=cfg.seq_len)
        return stats

    def evaluate_lm(self, model, tokenizer, prepared, cfg, device) -> tuple[dict[str, float], str]:
        lines = ["# Samples", ""]
        model.eval()
        for prompt in cfg.samples.prompts:
            ids = torch.tensor([tokenizer.encode(prompt)], device=device)
            for mode in ("greedy", f"temperature {cfg.samples.temperature}"):
                sampling = {} if mode == "greedy" else {
                    "do_sample": True, "temperature": cfg.samples.temperature, "top_k": 0}
                torch.manual_seed(0)
                with torch.no_grad():
                    gen = model.generate(ids, max_new_tokens=cfg.samples.max_new_tokens,
                                         pad_token_id=tokenizer.eos_token_id, **sampling)
                text = tokenizer.decode(gen[0].tolist())
                lines += [f"## {prompt!r} ({mode})", "", "```", text, "```", ""]
        return {}, "\n".join(lines)

    def render_html(self, tokens: list[str], acts: list[float], focus: int) -> str:
        top = max(acts) if acts else 0.0
        spans = []
        for i, (t, a) in enumerate(zip(tokens, acts)):
            shown = escape(t).replace("\n", "⏎<br>").replace(" ", "&nbsp;") or "∅"
            cls = ' class="focus"' if i == focus else ""
            spans.append(f'<span{cls} style="{shade(a, top)}" title="{a:.3f}">{shown}</span>')
        return f'<code class="ctx">{"".join(spans)}</code>'
