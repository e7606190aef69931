"""Zarr v3 activation store: a streaming writer and a shuffled, prefetching chunk reader.

Layout of one store (one model, one hook):
  acts      [n_tokens, d] float16, inner chunks of `chunk_rows` rows inside shards, Zstd
  token_ids [n_tokens] int32    seq [n_tokens] int32    pos [n_tokens] int16
  label     [n_tokens] int16    (index into attrs["label_names"])
  attrs: model, model_sha256, hook, d, dtype, n_tokens, label_names
A shard is only written when all its rows are known, so each shard file is written once and
memory stays at about one shard, whatever the number of tokens.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import zarr
from zarr.codecs import ZstdCodec

from dictlearn.runtime import InputError

INDEX_ARRAYS = {"token_ids": "int32", "seq": "int32", "pos": "int16", "label": "int16"}


def store_path(root: Path, hook: str) -> Path:
    """Where the store of `hook` lives inside a model's activation folder."""
    return Path(root) / f"{hook}.zarr"


class ActivationWriter:
    """Append rows in order; each full shard is compressed and written in a background thread."""

    def __init__(self, path: Path, n_tokens: int, d: int, chunk_rows: int, chunks_per_shard: int,
                 attrs: dict):
        self.n_tokens, self.d = n_tokens, d
        self.shard_rows = chunk_rows * chunks_per_shard
        self.group = zarr.open_group(str(path), mode="w", zarr_format=3)
        self.group.attrs.update({**attrs, "n_tokens": n_tokens, "d": d, "dtype": "float16"})
        chunk_rows = min(chunk_rows, n_tokens)
        self.shard_rows = min(self.shard_rows, -(-n_tokens // chunk_rows) * chunk_rows)
        self.acts = self.group.create_array(
            "acts", shape=(n_tokens, d), dtype="float16", chunks=(chunk_rows, d),
            shards=(self.shard_rows, d), compressors=ZstdCodec(level=3))
        self.index = {name: self.group.create_array(
            name, shape=(n_tokens,), dtype=dtype, chunks=(self.shard_rows,),
            compressors=ZstdCodec(level=3)) for name, dtype in INDEX_ARRAYS.items()}
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self._written = 0
        self._pool = ThreadPoolExecutor(1)
        self._future: Future | None = None

    def append(self, acts: np.ndarray, **index: np.ndarray) -> None:
        rows = len(acts)
        if self._written + self._pending_rows + rows > self.n_tokens:
            raise ValueError(f"store holds {self.n_tokens} rows; appending {rows} overflows it")
        self._pending.append({"acts": acts.astype(np.float16, copy=False), **index})
        self._pending_rows += rows
        while self._pending_rows >= self.shard_rows:
            self._flush(self.shard_rows)

    def _flush(self, rows: int) -> None:
        merged = {k: np.concatenate([p[k] for p in self._pending]) for k in self._pending[0]}
        block = {k: v[:rows] for k, v in merged.items()}
        rest = {k: v[rows:] for k, v in merged.items()}
        self._pending = [rest] if len(rest["acts"]) else []
        self._pending_rows -= rows
        start = self._written
        self._written += rows
        if self._future is not None:
            self._future.result()  # at most one shard in flight: memory stays bounded
        self._future = self._pool.submit(self._write, start, block)

    def _write(self, start: int, block: dict[str, np.ndarray]) -> None:
        stop = start + len(block["acts"])
        self.acts[start:stop] = block["acts"]
        for name, arr in self.index.items():
            arr[start:stop] = block[name].astype(INDEX_ARRAYS[name], copy=False)

    def close(self) -> None:
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self._future is not None:
            self._future.result()
        self._pool.shutdown()
        if self._written != self.n_tokens:
            raise ValueError(f"store expects {self.n_tokens} rows, {self._written} were written")


class ActivationStore:
    """Read side of a store. `batches()` yields shuffled float32 batches from random chunks."""

    def __init__(self, path: Path):
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise InputError(f"{path}: not a zarr v3 activation store (no zarr.json); "
                             "run `dvc repro cache_acts` first")
        self.path = path
        self.group = zarr.open_group(str(path), mode="r")
        self.attrs = dict(self.group.attrs)
        self.acts = self.group["acts"]
        self.n_tokens, self.d = self.acts.shape
        self.chunk_rows = self.acts.chunks[0]
        self.n_chunks = -(-self.n_tokens // self.chunk_rows)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.group[name][start:stop]

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """`n` rows from random chunks (float32), e.g. to estimate statistics."""
        rng = np.random.default_rng(seed)
        out, have = [], 0
        for c in rng.permutation(self.n_chunks):
            rows = self._chunk(int(c))
            out.append(rows)
            have += len(rows)
            if have >= n:
                break
        return torch.from_numpy(np.concatenate(out)[:n].astype(np.float32))

    def _chunk(self, c: int) -> np.ndarray:
        return self.acts[c * self.chunk_rows:(c + 1) * self.chunk_rows]

    def batches(self, batch_size: int, n_batches: int, buffer_chunks: int = 16,
                seed: int = 0) -> Iterator[torch.Tensor]:
        """Yield `n_batches` float32 batches. Chunks are visited in a fresh random order each
        epoch; `buffer_chunks` of them are mixed and shuffled row-wise. A background thread
        decodes the next buffer while the caller trains on this one (two buffers at most)."""
        rng = np.random.default_rng(seed)
        buffer_chunks = min(buffer_chunks, self.n_chunks)
        q: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def produce() -> None:
            try:
                leftover = np.empty((0, self.d), np.float16)
                made = 0
                while made < n_batches and not stop.is_set():
                    order = rng.permutation(self.n_chunks)
                    for i in range(0, len(order), buffer_chunks):
                        buf = np.concatenate([leftover] + [self._chunk(int(c))
                                                           for c in order[i:i + buffer_chunks]])
                        buf = buf[rng.permutation(len(buf))]
                        n_full = len(buf) // batch_size
                        leftover = buf[n_full * batch_size:]
                        for b in range(n_full):
                            if made == n_batches or stop.is_set():
                                break
                            q.put(buf[b * batch_size:(b + 1) * batch_size])
                            made += 1
                        if made == n_batches or stop.is_set():
                            break
                q.put(None)
            except BaseException as err:  # surface reader errors in the consumer
                q.put(err)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield torch.from_numpy(item.astype(np.float32))
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    q.get_nowait()
                except queue.Empty:
                    thread.join(0.01)
