"""Caching a model's activations at the hooks its SAEs read over a dataset split into zarr
stores, one per hook (streaming): in the output folder, or at cache_acts.url with a manifest
in the output folder (acts/manifest.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dictlearn.acts.config import CacheActsRun
from dictlearn.domains.prepared import Split
from dictlearn.lm.checkpoint import checkpoint_hash
from dictlearn.lm.hooks import iter_hook_activations
from dictlearn.acts.manifest import run_prefix, write_manifest
from dictlearn.acts.store import ActivationWriter, store_path


def cache_activations(bridge, checkpoint: Path, model_name: str, split: Split, cfg: CacheActsRun,
                      out: Path, device: torch.device) -> dict:
    n_seq = min(len(split.ids), max(1, cfg.max_tokens // split.seq_len))
    ids, labels = split.ids[:n_seq], split.labels[:n_seq]
    n_tokens = ids.numel()
    hooks = cfg.hooks
    provenance = {"model": model_name, "model_sha256": checkpoint_hash(checkpoint),
                  "label_names": split.label_names, "seq_len": split.seq_len}
    writers: dict = {}  # opened at the first batch, which gives each hook's width
    if not hooks:
        return {"n_tokens": 0, "hooks": [], "tokens_per_s": 0.0}
    if cfg.url:  # what the stores are made of names their prefix (acts/manifest.py)
        made_of = cfg.model_dump(exclude={"storage_options", "device"})
        prefix = run_prefix(cfg.url, model_name, provenance["model_sha256"], ids.numpy().tobytes(),
                            json.dumps(made_of, sort_keys=True))
        where = {h: f"{prefix}/{h}.zarr" for h in hooks}
    else:
        where = {h: store_path(out, h) for h in hooks}
    seq_len = split.seq_len
    pos = np.tile(np.arange(seq_len, dtype=np.int16), cfg.batch_size)
    t0 = time.perf_counter()
    bar = tqdm(total=n_tokens, unit="tok", unit_scale=True, desc="cache_acts")
    for sl, acts in iter_hook_activations(bridge, ids, hooks, cfg.batch_size, device):
        n = (sl.stop - sl.start) * seq_len
        index = {
            "token_ids": ids[sl].reshape(-1).numpy(),
            "seq": np.repeat(np.arange(sl.start, sl.stop, dtype=np.int32), seq_len),
            "pos": pos[:n],
            "label": labels[sl].reshape(-1).numpy(),
        }
        for h, a in acts.items():
            if h not in writers:
                writers[h] = ActivationWriter(where[h], n_tokens, a.shape[-1], cfg.chunk_rows,
                                              cfg.chunks_per_shard, {**provenance, "hook": h},
                                              cfg.storage_options if cfg.url else None)
            writers[h].append(a.reshape(n, -1).to(torch.float16).cpu().numpy(), **index)
        bar.update(n)
    for w in writers.values():
        w.close()
    bar.close()
    if cfg.url:
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(out, {h: {"url": where[h], "sha256": w.digest.hexdigest(),
                                 "n_tokens": n_tokens, "d": w.d} for h, w in writers.items()},
                       cfg.storage_options)
    elapsed = time.perf_counter() - t0
    return {"n_tokens": n_tokens, "hooks": hooks, "tokens_per_s": n_tokens / elapsed}
