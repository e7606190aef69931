"""Resuming train_lm after a kill. Every `checkpoint_every` steps the whole training state goes
to the stage's `persist` folder (data/resume/<model>), atomically and without pickles
(safetensors for tensors, JSON for the rest): weights, AdamW's moments, the schedule, the
batch sampler's and torch's generators, and dvclive's curves so far. A re-run with the same
settings and data continues from it and ends with the weights an uninterrupted run ends with
(CPU, fixed seed). A finished run empties the folder: a checkpoint is never an output."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from dictlearn.core.outputs import atomic_path, clean_stale_tmp

STATE = "state"
NOTE = ("train_lm keeps its checkpoints here while it trains (dictlearn/lm/resume.py): a killed "
        "run re-run with the same settings continues from the last one. A finished run leaves "
        "only this note.\n")


def run_key(*files: Path) -> str:
    """What a checkpoint must match to be resumed from: the stage's settings and data."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes() if Path(f).is_file() else str(f).encode())
    return h.hexdigest()


class Checkpoints:
    """A stage's checkpoints in its persist folder: when to save (`due`), one run's state
    (`key`), and the note a finished run leaves. sae/resume.py and toy/resume.py subclass it."""

    note = NOTE

    def __init__(self, folder: Path, key: str, every: int):
        self.folder, self.key, self.every = Path(folder), key, every

    def due(self, steps_done: int, total: int) -> bool:
        return self.every > 0 and steps_done % self.every == 0 and steps_done < total

    def save(self, steps_done: int, model, opt, sched, gen: torch.Generator,
             live_dir: Path | None) -> None:
        opt_state = opt.state_dict()
        tensors = {f"model.{k}": v.detach().cpu().clone() for k, v in model.state_dict().items()}
        for i, st in opt_state["state"].items():
            tensors |= {f"opt.{i}.{k}": v.detach().cpu().clone() for k, v in st.items()}
        tensors["rng.sampler"] = gen.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {"key": self.key, "steps_done": steps_done,
                "opt_groups": opt_state["param_groups"], "sched": sched.state_dict()}
        with atomic_path(self.folder / STATE) as tmp:
            tmp.mkdir()
            save_file(tensors, str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
            if live_dir is not None and live_dir.is_dir():
                shutil.copytree(live_dir, tmp / "live")

    def load(self) -> dict[str, Any] | None:
        """The saved state, if there is one for this run (else None, and any stale one goes)."""
        folder = self.folder / STATE
        clean_stale_tmp(folder)  # killed between a save's two renames: the previous one is back
        try:
            meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
            tensors = load_file(str(folder / "state.safetensors"))
        except Exception:  # none, or unreadable (killed before its rename): start afresh
            self.clear()
            return None
        if meta.get("key") != self.key:
            self.clear()
            return None
        return {"meta": meta, "tensors": tensors, "live": folder / "live"}

    def restore(self, state: dict[str, Any], model, opt, sched, gen: torch.Generator) -> int:
        """Put the saved state back; returns the steps already done."""
        t, meta = state["tensors"], state["meta"]
        model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
        per_param: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in t.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                per_param.setdefault(int(i), {})[name] = v
        groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g
                  for g in meta["opt_groups"]]
        opt.load_state_dict({"state": per_param, "param_groups": groups})
        sched.load_state_dict(meta["sched"])
        gen.set_state(t["rng.sampler"])
        torch.set_rng_state(t["rng.torch"])
        return int(meta["steps_done"])

    def restore_live(self, state: dict[str, Any] | None, live_dir: Path) -> None:
        """dvclive's files as they were at the checkpoint (later lines are dropped with them)."""
        if state is not None and state["live"].is_dir():
            shutil.copytree(state["live"], live_dir, dirs_exist_ok=True)

    def clear(self) -> None:
        clean_stale_tmp(self.folder / STATE)  # what a kill in the middle of a save left
        shutil.rmtree(self.folder / STATE, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "README").is_file():  # DVC tracks the folder: never empty
            (self.folder / "README").write_text(self.note, encoding="utf-8")
