"""Resuming toy@<sweep> after a kill. A sweep trains one batched model per distinct k, one
after the other; every `checkpoint_every` steps the stage writes, to its `persist` folder
(data/checkpoints/toy/<sweep>), the groups already trained (weights, curve) and the one in
training (weights, LAMB's moments, its data generators, its curve so far, the step). A re-run
with the same settings skips the finished groups and continues the current one, ending with
the weights of an uninterrupted run (CPU, fixed seed). Safetensors and JSON, written
atomically; a finished sweep leaves only a note, so a checkpoint is never an output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from dictlearn.core.outputs import atomic_path
from dictlearn.lm.resume import STATE, Checkpoints

NOTE = ("toy keeps its checkpoints here while a sweep trains (dictlearn/toy/resume.py): a "
        "killed run re-run with the same settings continues from the last one. A finished run "
        "leaves only this note.\n")
PARAMS = ("W_in", "b_in", "W_out")


class ToyCheckpoints(Checkpoints):
    """train_lm's checkpoints (where, when, which run's: lm/resume.py) holding a sweep's
    groups instead of one model."""

    note = NOTE

    def __init__(self, folder: Path, key: str, every: int):
        super().__init__(folder, key, every)
        self.done: dict[int, dict[str, Any]] = {}  # k → {"params": [...], "curve", "seconds"}
        self.current: dict[str, Any] | None = None  # the group in training when saved
        saved = self.load()  # None: none, unreadable or another run's (then removed)
        if saved is not None:
            self._restore(saved["meta"], saved["tensors"])

    def finished(self, k: int, params: list[torch.Tensor], curve: list, seconds: float) -> None:
        self.done[k] = {"params": params, "curve": curve, "seconds": seconds}
        self.current = None
        if self.every > 0:
            self._save({})

    def save_group(self, k: int, step: int, params: list[torch.Tensor],
                   m: list[torch.Tensor], v: list[torch.Tensor], gens: list[torch.Generator],
                   curve: list, seconds: float) -> None:
        """The group of width k after `step` steps (the done groups are written again)."""
        tensors = {f"current.{n}": t for n, t in zip(PARAMS, params)}
        tensors |= {f"current.m.{i}": t for i, t in enumerate(m)}
        tensors |= {f"current.v.{i}": t for i, t in enumerate(v)}
        tensors |= {f"current.gen.{i}": g.get_state() for i, g in enumerate(gens)}
        self._save(tensors, {"k": k, "step": step, "curve": curve, "seconds": seconds,
                             "gens": len(gens)})

    def _save(self, tensors: dict[str, torch.Tensor], current: dict | None = None) -> None:
        for k, group in self.done.items():
            tensors |= {f"done.{k}.{n}": t for n, t in zip(PARAMS, group["params"])}
        meta = {"key": self.key, "current": current,
                "done": {str(k): {"curve": g["curve"], "seconds": g["seconds"]}
                         for k, g in self.done.items()}}
        with atomic_path(self.folder / STATE) as tmp:
            tmp.mkdir()
            save_file({n: t.detach().cpu().contiguous() for n, t in tensors.items()},
                      str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")

    def _restore(self, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
        for k, group in meta["done"].items():
            self.done[int(k)] = {**group, "params": [tensors[f"done.{k}.{n}"] for n in PARAMS]}
        if meta["current"] is not None:
            cur = meta["current"]
            n_params = len(PARAMS)
            self.current = {**cur, "params": [tensors[f"current.{n}"] for n in PARAMS],
                            "m": [tensors[f"current.m.{i}"] for i in range(n_params)],
                            "v": [tensors[f"current.v.{i}"] for i in range(n_params)],
                            "gens": [tensors[f"current.gen.{i}"] for i in range(cur["gens"])]}

    def resumes(self) -> str | None:
        """What a re-run picks up, in words (None: nothing)."""
        parts = [f"k={k} trained" for k in self.done]
        if self.current is not None:
            parts.append(f"k={self.current['k']} after step {self.current['step']}")
        return ", ".join(parts) or None
