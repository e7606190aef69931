"""A prepared domain: `tokenizer.json` and an HF dataset on disk, read back as tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import ClassLabel, load_from_disk

from dictlearn.core.errors import InputError, restore_hint

TOKENIZER_FILE = "tokenizer.json"
DATASET_DIR = "dataset"


@dataclass
class Split:
    ids: torch.Tensor  # [n_seq, seq_len] int64
    labels: torch.Tensor  # [n_seq, seq_len] int64, index into label_names (may be a view)
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
                         + restore_hint(path)) from None
    for col in ("input_ids", "label"):
        if col not in ds.column_names:
            raise InputError(f"{path}: column '{col}' missing from split '{split}'")
    n = len(ds) if max_sequences is None else min(max_sequences, len(ds))
    table = ds.with_format("arrow")[:n]  # straight from Arrow: 1M quizzes load in seconds
    ids = torch.from_numpy(_flat(table.column("input_ids")).astype(np.int64).reshape(n, -1))
    labels = torch.from_numpy(_flat(table.column("label")).astype(np.int64))
    feature = ds.features["label"]
    if isinstance(feature, ClassLabel):  # one label per sequence: every token carries it
        return Split(ids, labels[:, None].expand(-1, ids.shape[1]), list(feature.names))
    return Split(ids, labels.reshape(n, -1), list(feature.feature.names))


def _flat(column) -> np.ndarray:
    """The values of an Arrow column of equal-length lists (or of scalars), flattened."""
    arr = column.combine_chunks()
    if hasattr(arr, "flatten"):
        arr = arr.flatten()
    return arr.to_numpy(zero_copy_only=False)
