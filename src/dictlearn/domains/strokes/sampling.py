"""The strokes model in its own terms: next stroke-token accuracy (teacher forced), and words
written from scratch, measured against the font's own drawing of the word."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dictlearn.domains.strokes.fonts import render_word, simplify
from dictlearn.domains.strokes.tokens import StrokeCodec, is_stroke, parse_moves

EOS, SEP = "<|endoftext|>", "<sep>"


@torch.no_grad()
def stroke_accuracy(model, tokenizer, ids: torch.Tensor, batch_size: int,
                    device: torch.device) -> float:
    """Share of stroke-token targets that are the model's top prediction."""

    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    stroke = torch.tensor([is_stroke(t) for t in vocab])
    model.eval()
    right = total = 0
    for i in tqdm(range(0, len(ids), batch_size), desc="stroke accuracy", unit="batch"):
        x = ids[i:i + batch_size].to(device)
        pred = model(input_ids=x).logits[:, :-1].argmax(-1).cpu()
        target = x[:, 1:].cpu()
        mask = stroke[target]
        right += int((pred == target)[mask].sum())
        total += int(mask.sum())
    return right / max(1, total)


def pen_points(moves) -> np.ndarray:
    pts = [p for m in moves if m.pen_down for p in (m.start, m.end)]
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean nearest-point distance between two point sets (font units); an empty
    drawing counts as a dot where the pen starts."""
    a, b = (p if len(p) else np.zeros((1, 2)) for p in (a, b))
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    return float((d.min(1).mean() + d.min(0).mean()) / 2)


@torch.no_grad()
def write_word(model, tokenizer, word: str, max_new_tokens: int, temperature: float | None,
               device: torch.device) -> list[str]:
    """The model's strokes for `word` (tokens after the separator, up to end of text)."""
    prompt = tokenizer.convert_tokens_to_ids([EOS, *word, SEP])
    budget = min(max_new_tokens, model.config.n_positions - len(prompt))
    sampling = {} if temperature is None else {"do_sample": True, "temperature": temperature,
                                               "top_k": 0}
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids(EOS)
    gen = model.generate(torch.tensor([prompt], device=device), max_new_tokens=budget,
                         eos_token_id=eos, pad_token_id=eos, **sampling)
    tokens = tokenizer.convert_ids_to_tokens(gen[0, len(prompt):].tolist())
    return tokens[: tokens.index(EOS)] if EOS in tokens else tokens


def sample_words(model, tokenizer, prepared: Path, cfg, device) -> tuple[dict[str, float], str]:
    """`train_lm.<domain>.samples.prompts` are the words to write, greedy and at the sampling
    temperature; `sample_distance_*` is the mean chamfer distance (font units, a letter is about
    20 high) of the greedy drawings to the font's clean drawing of each word."""
    spec = json.loads((Path(prepared) / "strokes.json").read_text(encoding="utf-8"))
    codec = StrokeCodec(spec["angle_bins"], spec["length_bins"], spec["unit"])
    vocab = set(tokenizer.get_vocab())
    model.eval()
    lines = ["# Samples: words written from scratch", ""]
    dists: dict[str, list[float]] = {"greedy": [], "sampled": []}
    for word in tqdm(cfg.samples.prompts, desc="write words", unit="word"):
        if missing := sorted(set(word) - vocab):
            lines += [f"- {word!r}: characters {missing} are not in the vocabulary", ""]
            continue
        ref = [pen_points(codec.moves(codec.encode(simplify(render_word(word, f),
                                                             spec["simplify"]))[0]))
               for f in spec["fonts"]]
        for mode, temp in (("greedy", None), ("sampled", cfg.samples.temperature)):
            tokens = write_word(model, tokenizer, word, cfg.samples.max_new_tokens, temp, device)
            got = pen_points(parse_moves(tokens, spec["unit"]))
            dist = min(chamfer(got, r) for r in ref)
            dists[mode].append(dist)
            label = "greedy" if temp is None else f"temperature {temp}"
            lines += [f"## {word!r} ({label}, distance {dist:.2f})", "", "```",
                      " ".join([EOS, *word, SEP, *tokens]), "```", ""]
    metrics = {f"sample_distance_{k}": float(np.mean(v)) for k, v in dists.items() if v}
    return metrics, "\n".join(lines)
