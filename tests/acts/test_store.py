import numpy as np
import pytest
import torch

from dictlearn.acts.store import ActivationStore, ActivationWriter
from dictlearn.core.errors import InputError


def write_store(path, n=1000, d=8, chunk_rows=64, chunks_per_shard=4, piece=37,
                storage_options=None):
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((n, d)).astype(np.float16)
    w = ActivationWriter(path, n, d, chunk_rows, chunks_per_shard,
                         {"hook": "blocks.0.mlp.hook_post"}, storage_options)
    for s in range(0, n, piece):  # ragged appends, not aligned to chunks or shards
        e = min(n, s + piece)
        w.append(acts[s:e], token_ids=np.arange(s, e), seq=np.arange(s, e) // 10,
                 pos=np.arange(s, e) % 10, label=np.arange(s, e) % 3)
    w.close()
    return acts


def test_round_trip_is_exact(tmp_path):
    acts = write_store(tmp_path / "s.zarr")
    store = ActivationStore(tmp_path / "s.zarr")
    assert store.n_tokens == 1000 and store.d == 8
    assert np.array_equal(store.read("acts"), acts)
    assert np.array_equal(store.read("token_ids"), np.arange(1000))
    assert np.array_equal(store.read("pos"), np.arange(1000) % 10)
    assert store.attrs["hook"] == "blocks.0.mlp.hook_post" and store.attrs["n_tokens"] == 1000
    assert store.acts.dtype == np.float16
    # shards, not one file per chunk: 1000 rows / (64*4) rows per shard = 4 shard files
    assert len(list((tmp_path / "s.zarr" / "acts").rglob("c/*/*"))) == 4


def test_shuffled_batches_cover_every_row_once_per_epoch(tmp_path):
    acts = write_store(tmp_path / "s.zarr", n=1024)
    store = ActivationStore(tmp_path / "s.zarr")
    rows = torch.cat(list(store.batches(batch_size=128, n_batches=8, buffer_chunks=3, seed=1)))
    assert rows.shape == (1024, 8) and rows.dtype == torch.float32
    got = sorted(map(tuple, rows.numpy().astype(np.float16).tolist()))
    assert got == sorted(map(tuple, acts.tolist()))
    assert not torch.equal(rows, torch.from_numpy(acts.astype(np.float32)))  # shuffled
    again = torch.cat(list(store.batches(128, 8, 3, seed=1)))
    assert torch.equal(rows, again)  # deterministic for a seed


def test_reader_stops_early_without_hanging(tmp_path):
    write_store(tmp_path / "s.zarr")
    store = ActivationStore(tmp_path / "s.zarr")
    for i, _ in enumerate(store.batches(16, 1000, 2)):
        if i == 3:
            break


def test_writer_rejects_overflow_and_underflow(tmp_path):
    w = ActivationWriter(tmp_path / "s.zarr", 10, 4, 4, 2, {})
    idx = dict(token_ids=np.zeros(8), seq=np.zeros(8), pos=np.zeros(8), label=np.zeros(8))
    w.append(np.zeros((8, 4), np.float16), **idx)
    with pytest.raises(ValueError, match="overflows"):
        w.append(np.zeros((8, 4), np.float16), **idx)
    with pytest.raises(ValueError, match="expects 10 rows, 8 were written"):
        w.close()


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a zarr v3 activation store"):
        ActivationStore(tmp_path / "nothing.zarr")


def test_writer_memory_does_not_grow_with_tokens(tmp_path):
    """Peak memory while streaming 4× more rows stays at about one shard's worth."""
    import tracemalloc

    def peak(n):
        w = ActivationWriter(tmp_path / f"{n}.zarr", n, 64, 256, 4, {})
        rows = np.ones((100, 64), np.float16)
        idx = {k: np.zeros(100) for k in ("token_ids", "seq", "pos", "label")}
        tracemalloc.start()
        for _ in range(n // 100):
            w.append(rows, **idx)
        w.close()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, big = peak(20_000), peak(80_000)
    assert big < 1.5 * small, (small, big)
    assert big < 20 * 1024 * 64 * 2  # far below the 80k-row store's 10 MiB


def test_reader_memory_is_bounded_by_the_buffer_not_the_store(tmp_path):
    """Reading a whole epoch of a store 8× (then 32×) the shuffle buffer peaks at a few
    buffers' worth, the same for both stores."""
    import tracemalloc

    d, chunk_rows, buffer_chunks, batch = 64, 256, 4, 128
    buffer_bytes = buffer_chunks * chunk_rows * d * 2  # float16 rows in one shuffle buffer

    def peak(n_chunks):
        n = n_chunks * chunk_rows
        w = ActivationWriter(tmp_path / f"{n}.zarr", n, d, chunk_rows, 4, {})
        w.append(np.ones((n, d), np.float16), token_ids=np.zeros(n), seq=np.zeros(n),
                 pos=np.zeros(n), label=np.zeros(n))
        w.close()
        store = ActivationStore(tmp_path / f"{n}.zarr")
        for _ in store.batches(batch, 2, buffer_chunks, seed=1):  # imports, codec set-up
            pass
        tracemalloc.start()
        rows = sum(len(x) for x in store.batches(batch, n // batch, buffer_chunks, seed=0))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert rows == n  # the whole store went through
        return top, n * d * 2

    (small, small_store), (big, big_store) = peak(8 * buffer_chunks), peak(32 * buffer_chunks)
    assert small_store >= 4 * buffer_bytes and big_store == 4 * small_store
    assert big < 1.3 * small, (small, big)
    assert big < 6 * buffer_bytes < big_store / 4, (big, buffer_bytes, big_store)
