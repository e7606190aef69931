"""A finished run for notebooks: its models, SAEs and features, read from the files the
pipeline wrote (params.yaml, data/models, data/saes, data/evals); nothing is trained or
downloaded.

    from dictlearn import open_run
    run = open_run(".")
    run.sae("text").activations("def foo(x):")      # tokens × features (a DataFrame)
    f = run.feature("text", 123)
    f.top_contexts(); f.ablate(); f.steer(2.0, "def ")
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dictlearn.params.schema import Params, load_params


def open_run(path: str | Path = ".") -> Run:
    """The run whose repository root (params.yaml, data/) is `path`."""
    return Run(Path(path), load_params(Path(path) / "params.yaml"))


@dataclass
class Run:
    root: Path
    params: Params

    @property
    def models(self) -> dict[str, str]:
        """model name → its domain"""
        return {name: spec.domain for name, spec in self.params.models.items()}

    @property
    def saes(self) -> dict[str, str]:
        """SAE name → the model it reads"""
        return {name: entry.model for name, entry in self.params.saes.items()}

    def sae(self, name: str) -> SAE:
        if name not in self.params.saes:
            raise KeyError(f"sae {name!r}: no such SAE in {self.root / 'params.yaml'}; "
                           f"expected one of {sorted(self.params.saes)}")
        entry = self.params.saes[name]
        return SAE(self, name, entry.model, entry.domain)

    def feature(self, sae: str, index: int) -> Feature:
        return self.sae(sae).feature(index)


class SAE:
    """One SAE beside its model: activations of any input, its features."""

    def __init__(self, run: Run, name: str, model: str, domain: str):
        self.run, self.name, self.model_name, self.domain = run, name, model, domain

    @cached_property
    def sae(self):
        from dictlearn.sae import load_sae

        return load_sae(self.run.root / "data/saes" / self.name).eval()

    @cached_property
    def hook(self) -> str:
        from dictlearn.sae.io import read_cfg

        return read_cfg(self.run.root / "data/saes" / self.name)["metadata"]["hook_name"]

    @cached_property
    def bridge(self):
        from dictlearn.lm.checkpoint import load_bridge

        return load_bridge(self.run.root / "data/models" / self.model_name)

    @cached_property
    def tokenizer(self):
        from dictlearn.lm.checkpoint import load_tokenizer

        return load_tokenizer(self.run.root / "data/models" / self.model_name)

    @cached_property
    def vocab(self):
        from dictlearn.report.tokens import Vocab

        return Vocab.from_tokenizer(self.tokenizer)

    @cached_property
    def stats(self):
        from dictlearn.report.features import FeatureStats

        return FeatureStats.load(self.run.root / "data/evals" / self.name / "features.safetensors")

    @property
    def d_sae(self) -> int:
        return self.sae.d_sae

    def encode(self, x: Any) -> torch.Tensor:
        """Token ids [1, t] of an input: text for text models; a quiz for culture (grids
        A, f(A), B, f(B) as an array [4, 10, 10], laid out in the order (A, f(A), B, f(B)));
        or token ids (a list or a 1-D tensor) for any model."""
        if isinstance(x, str):
            if self.domain != "text":
                raise TypeError(f"a string prompt is for text models; {self.model_name} is a "
                                f"{self.domain} model: give token ids" +
                                (" or a quiz's grids [4, 10, 10]" if self.domain == "culture"
                                 else ""))
            if not x:
                raise ValueError("prompt: empty; give at least one character")
            ids = self.tokenizer(x)["input_ids"]
        elif self.domain == "culture" and np.ndim(x) == 3:
            from dictlearn.domains.culture.grids import H, W
            from dictlearn.domains.culture.tasks import ORDERS, layout

            if np.shape(x) != (4, H, W):
                raise ValueError(f"quiz: grids of shape {np.shape(x)}; expected (4, {H}, {W}): "
                                 "A, f(A), B, f(B)")
            ids = layout(np.asarray(x, dtype=np.uint8)[None], ORDERS[0])[0].tolist()
        else:
            ids = torch.as_tensor(x).flatten().tolist()
        if not ids:
            raise ValueError("input: no tokens; give at least one")
        n_ctx = self.bridge.cfg.n_ctx
        if len(ids) > n_ctx:
            raise ValueError(f"input: {len(ids)} tokens; {self.model_name} reads at most {n_ctx}")
        bad = [i for i in ids if not 0 <= i < len(self.tokenizer)]
        if bad:
            raise ValueError(f"input: token ids {bad[:5]} outside the vocabulary "
                             f"(0..{len(self.tokenizer) - 1})")
        return torch.tensor([ids])

    @torch.no_grad()
    def feature_acts(self, ids: torch.Tensor) -> torch.Tensor:
        """[t, d_sae] feature activations of ids [1, t]."""
        from dictlearn.lm.hooks import flat

        _, cache = self.bridge.run_with_cache(ids, names_filter=lambda n: n == self.hook)
        return self.sae.encode(flat(cache[self.hook])[0].float())

    def activations(self, x: Any) -> pd.DataFrame:
        """Feature activations of every token of `x` (see `encode`): one row per token (its
        position and readable text), one column per feature."""
        ids = self.encode(x)
        acts = self.feature_acts(ids).numpy()
        index = pd.MultiIndex.from_arrays(
            [np.arange(ids.shape[1]), self.vocab.text(ids[0].tolist())],
            names=["position", "token"])
        return pd.DataFrame(acts, index=index, columns=pd.RangeIndex(acts.shape[1], name="feature"))

    def feature(self, index: int) -> Feature:
        if not isinstance(index, (int, np.integer)) or not 0 <= index < self.d_sae:
            raise IndexError(f"feature {index!r} of {self.name}: out of range; it has features "
                             f"0..{self.d_sae - 1}")
        return Feature(self, int(index))


class Feature:
    """Feature `index` of an SAE: where it fires, and what it does to the model."""

    def __init__(self, sae: SAE, index: int):
        self.sae, self.index = sae, index

    def __repr__(self) -> str:
        return f"Feature({self.sae.name!r}, {self.index})"

    @property
    def max_activation(self) -> float:
        return float(self.sae.stats["top_values"][self.index].max())

    def _top(self, n: int) -> list[tuple[int, int, float]]:
        """(sequence, position, activation) of its n strongest held-out activations."""
        from dictlearn.analysis.interventions import top_contexts

        return top_contexts(self.sae.stats, self.index, self.sae.stats["input_ids"].shape[1], n)

    def top_contexts(self, n: int = 10, left: int = 8, right: int = 4) -> pd.DataFrame:
        """Its top activating held-out contexts (eval_sae's record): activation, the token
        it fires on, and the text around it."""
        ids, vocab = self.sae.stats["input_ids"], self.sae.vocab
        rows = []
        for s, p, v in self._top(n):
            row = ids[s].tolist()
            before = "".join(vocab.text(row[max(0, p - left):p]))
            after = "".join(vocab.text(row[p + 1:p + 1 + right]))
            rows.append({"activation": v, "sequence": s, "position": p,
                         "token": vocab.token(row[p]), "before": before, "after": after})
        return pd.DataFrame(rows, columns=["activation", "sequence", "position", "token",
                                           "before", "after"])

    def ablate(self, n: int = 10, mode: str = "zero", top_tokens: int = 5) -> dict[str, Any]:
        """The feature removed (`zero`) or set to its mean held-out activation (`mean`) on its
        top n contexts: the rise of the next-token loss where it fired, and the output tokens
        whose log-probability rose and fell most there (mean over contexts)."""
        from dictlearn.analysis.interventions import ablate

        if mode not in ("zero", "mean"):
            raise ValueError(f"mode: {mode!r}; expected 'zero' or 'mean'")
        seq_len = self.sae.stats["input_ids"].shape[1]
        top = [(s, p) for s, p, _ in self._top(n) if p + 1 < seq_len]
        if not top:
            return {"contexts": 0, "mode": mode, "loss_change": None, "promoted": [],
                    "suppressed": []}
        target = 0.0 if mode == "zero" else float(self.sae.stats["mean_activation"][self.index])
        r = ablate(self.sae.bridge, self.sae.sae, self.sae.hook, self.index,
                   self.sae.stats["input_ids"][[s for s, _ in top]],
                   torch.tensor([p for _, p in top]), target, top_tokens)
        token = self.sae.vocab.token
        return {"contexts": len(top), "mode": mode, "loss_change": r["loss_change"],
                "promoted": [(token(i), v) for i, v in zip(r["promoted"], r["promoted_change"])],
                "suppressed": [(token(i), v) for i, v in zip(r["suppressed"],
                                                             r["suppressed_change"])]}

    def steer(self, scale: float, prompt: Any, max_new_tokens: int = 40,
              temperature: float = 0.8, seed: int = 0) -> dict[str, list[str] | str]:
        """What the model writes after `prompt` with the feature clamped to scale × its max
        held-out activation at every position, beside what it writes unsteered (same seed)."""
        from dictlearn.analysis.interventions import steer

        ids = self.sae.encode(prompt)[0]
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens: {max_new_tokens}; expected at least 1")
        room = self.sae.bridge.cfg.n_ctx - len(ids)
        if room < 1:
            raise ValueError(f"prompt: {len(ids)} tokens leave no room in the model's "
                             f"{self.sae.bridge.cfg.n_ctx}-token context")
        pair = steer(self.sae.bridge, self.sae.sae, self.sae.hook, self.index,
                     scale * self.max_activation, ids, min(max_new_tokens, room), temperature,
                     seed)
        show = (self.sae.tokenizer.decode if self.sae.domain == "text" else self.sae.vocab.text)
        return {"unsteered": show(pair[0]), "steered": show(pair[1])}


__all__ = ["open_run", "Run", "SAE", "Feature"]
