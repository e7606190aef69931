"""A prepared domain: `tokenizer.json` and an HF dataset on disk, read back as tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk

from dictlearn.runtime import InputError

TOKENIZER_FILE = "tokenizer.json"
DATASET_DIR = "dataset"


@dataclass
class Split:
    ids: torch.Tensor  # [n_seq, seq_len] int64
    labels: torch.Tensor  # [n_seq, seq_len] int64, index into label_names
    label_names: list[str]

    @property
    def seq_len(self) -> int:
        return self.ids.shape[1]


def load_split(prepared: Path, split: str, max_sequences: int | None = None) -> Split:
    path = Path(prepared) / DATASET_DIR
    try:
        ds = load_from_disk(str(path))[split]
    except (FileNotFoundError, KeyError) as err:
        raise InputError(f"{path}: no '{split}' split of a prepared dataset ({err}); "
                         "run `dvc repro prepare` first") from None
    for col in ("input_ids", "label"):
        if col not in ds.column_names:
            raise InputError(f"{path}: column '{col}' missing from split '{split}'")
    if max_sequences is not None:
        ds = ds.select(range(min(max_sequences, len(ds))))
    ds = ds.with_format("numpy")
    ids = torch.from_numpy(np.asarray(ds["input_ids"], dtype=np.int64))
    labels = torch.from_numpy(np.asarray(ds["label"], dtype=np.int64))
    names = ds.features["label"].feature.names
    return Split(ids, labels, list(names))
