"""Zarr v3 activation store: a streaming writer and a shuffled, prefetching chunk reader.

Layout of one store (one model, one hook):
  acts      [n_tokens, d] float16, inner chunks of `chunk_rows` rows inside shards, Zstd
  token_ids [n_tokens] int32    seq [n_tokens] int32    pos [n_tokens] int16
  label     [n_tokens] int16    (index into attrs["label_names"])
  attrs: model, model_sha256, hook, d, dtype, n_tokens, label_names
A shard is only written when all its rows are known, so each shard file is written once and
memory stays at two shards, whatever the number of tokens. A store is a local folder or any
fsspec URL (s3://...), opened through zarr's own LocalStore / FsspecStore; a remote store is
read a buffer's chunks at a time, concurrently, never whole.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import zarr
from zarr.codecs import ZstdCodec

from dictlearn.core.errors import InputError, damaged, restore_hint

# Zstd with its content checksum: a flipped bit in a chunk (a bad disk, a bad transfer from
# object storage) is an error, not silently wrong activations; a shard's index has its crc32c
ZSTD = ZstdCodec(level=3, checksum=True)
INDEX_ARRAYS = {"token_ids": "int32", "seq": "int32", "pos": "int16", "label": "int16"}


def store_path(root: Path, hook: str) -> Path:
    """Where the store of `hook` lives inside a model's activation folder."""
    return Path(root) / f"{hook}.zarr"


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


def zarr_store(location: str | Path, storage_options: dict | None, read_only: bool):
    """zarr's own store for a folder or an fsspec URL (storage_options go to fsspec)."""
    if is_url(location):
        return zarr.storage.FsspecStore.from_url(str(location), read_only=read_only,
                                                 storage_options=dict(storage_options or {}))
    return zarr.storage.LocalStore(str(location), read_only=read_only)


class ActivationWriter:
    """Append rows in order. Rows are copied into a shard-sized buffer; each full buffer is
    compressed and written by a background thread while the caller computes the next one
    (double buffering: memory is two shards, whatever the number of tokens)."""

    def __init__(self, path: str | Path, n_tokens: int, d: int, chunk_rows: int,
                 chunks_per_shard: int, attrs: dict, storage_options: dict | None = None):
        self.n_tokens, self.d = n_tokens, d
        chunk_rows = min(chunk_rows, n_tokens)
        self.shard_rows = min(chunk_rows * chunks_per_shard, -(-n_tokens // chunk_rows) * chunk_rows)
        # sha256 of every row written (values, then index), in order: names the content of a
        # remote store in its manifest, where DVC cannot hash it (a local one DVC hashes itself)
        self.digest = hashlib.sha256() if is_url(path) else None
        self.group = zarr.open_group(zarr_store(path, storage_options, read_only=False),
                                     mode="w", zarr_format=3)
        self.group.attrs.update({**attrs, "n_tokens": n_tokens, "d": d, "dtype": "float16"})
        self.acts = self.group.create_array(
            "acts", shape=(n_tokens, d), dtype="float16", chunks=(chunk_rows, d),
            shards=(self.shard_rows, d), compressors=ZSTD)
        self.index = {name: self.group.create_array(
            name, shape=(n_tokens,), dtype=dtype, chunks=(self.shard_rows,),
            compressors=ZSTD) for name, dtype in INDEX_ARRAYS.items()}
        self._buffers = [self._new_buffer(), self._new_buffer()]
        self._fill = 0  # rows in the current buffer
        self._start = 0  # first row of the current buffer in the store
        self._pool = ThreadPoolExecutor(1)
        self._future: Future | None = None

    def _new_buffer(self) -> dict[str, np.ndarray]:
        return {"acts": np.empty((self.shard_rows, self.d), np.float16),
                **{k: np.empty(self.shard_rows, dt) for k, dt in INDEX_ARRAYS.items()}}

    def append(self, acts: np.ndarray, **index: np.ndarray) -> None:
        rows = len(acts)
        if self._start + self._fill + rows > self.n_tokens:
            raise ValueError(f"store holds {self.n_tokens} rows; appending {rows} overflows it")
        done = 0
        while done < rows:
            take = min(rows - done, self.shard_rows - self._fill)
            buf = self._buffers[0]
            sl = slice(self._fill, self._fill + take)
            buf["acts"][sl] = acts[done:done + take]
            for name in INDEX_ARRAYS:
                buf[name][sl] = index[name][done:done + take]
            self._fill += take
            done += take
            if self._fill == self.shard_rows:
                self._flush()

    def _flush(self) -> None:
        if self._future is not None:
            self._future.result()  # the other buffer is free again
        buf, rows, start = self._buffers[0], self._fill, self._start
        self._future = self._pool.submit(self._write, start, buf, rows)
        self._buffers.reverse()
        self._start += rows
        self._fill = 0

    def _write(self, start: int, buf: dict[str, np.ndarray], rows: int) -> None:
        self.acts[start:start + rows] = buf["acts"][:rows]
        for name, arr in self.index.items():
            arr[start:start + rows] = buf[name][:rows]
        if self.digest is not None:
            for name in ("acts", *self.index):
                self.digest.update(buf[name][:rows].tobytes())

    def close(self) -> None:
        if self._fill:
            self._flush()
        if self._future is not None:
            self._future.result()
        self._pool.shutdown()
        if self._start != self.n_tokens:
            raise ValueError(f"store expects {self.n_tokens} rows, {self._start} were written")


class ActivationStore:
    """Read side of a store. `batches()` yields shuffled float32 batches from random chunks."""

    def __init__(self, path: str | Path, storage_options: dict | None = None,
                 restore: str | None = None):
        remote = is_url(path)
        path = str(path).rstrip("/") if remote else Path(path)
        # what brings the store back (a remote store's manifest names the stage that wrote it)
        hint = restore or restore_hint(path)
        if not remote and not (path / "zarr.json").is_file():
            raise InputError(f"{path}: not a zarr v3 activation store (no zarr.json); " + hint)
        self.path, self.hint = path, hint
        # a remote store's chunks are fetched a buffer at a time by this many threads
        self.fetchers = 8 if remote else 1
        try:
            self.group = zarr.open_group(zarr_store(path, storage_options, read_only=True),
                                         mode="r")
            self.attrs = dict(self.group.attrs)
            self.acts = self.group["acts"]
        except zarr.errors.GroupNotFoundError:
            raise InputError(f"{path}: no activation store there (no zarr.json); {hint}") from None
        except Exception as err:  # zarr and fsspec raise many types for a damaged store
            raise damaged(path, err, "the activation store", hint) from None
        self.n_tokens, self.d = self.acts.shape
        self.chunk_rows = self.acts.chunks[0]
        self.n_chunks = -(-self.n_tokens // self.chunk_rows)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        try:
            return self.group[name][start:stop]
        except Exception as err:
            raise damaged(f"{self.path}/{name}", err, "a shard of the activation store",
                          self.hint) from None

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
        try:  # a shard's checksum catches corruption; say which store and how to restore it
            return self.acts[c * self.chunk_rows:(c + 1) * self.chunk_rows]
        except Exception as err:
            raise damaged(f"{self.path}/acts", err, "a shard of the activation store",
                          self.hint) from None

    def batches(self, batch_size: int, n_batches: int, buffer_chunks: int = 16,
                seed: int = 0) -> Iterator[torch.Tensor]:
        """Yield `n_batches` float32 batches. Chunks are visited in a fresh random order each
        epoch; `buffer_chunks` of them are mixed and shuffled row-wise. A background thread
        decodes the next buffer while the caller trains on this one (two buffers at most)."""
        rng = np.random.default_rng(seed)
        buffer_chunks = min(buffer_chunks, self.n_chunks)
        q: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()
        pool = ThreadPoolExecutor(self.fetchers)  # in the buffer's order, whatever finishes first

        def produce() -> None:
            try:
                leftover = np.empty((0, self.d), np.float16)
                made = 0
                while made < n_batches and not stop.is_set():
                    order = rng.permutation(self.n_chunks)
                    for i in range(0, len(order), buffer_chunks):
                        chunks = pool.map(self._chunk, map(int, order[i:i + buffer_chunks]))
                        buf = np.concatenate([leftover, *chunks])
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
            pool.shutdown()
