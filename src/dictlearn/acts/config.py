"""params `cache_acts`: its schema, apart from the caching code so validating params loads no model."""

from __future__ import annotations

from dictlearn.core.schema import Device, PositiveInt, Strict


class CacheActs(Strict):
    """params `cache_acts`: how many tokens of each model's activations to cache, and how they
    are stored. Which hooks is not a setting: exactly those that some SAE reads."""

    max_tokens: PositiveInt
    batch_size: PositiveInt
    chunk_rows: PositiveInt
    chunks_per_shard: PositiveInt
    device: Device


class CacheActsRun(CacheActs):
    """What cache_acts@<model> reads (written by check_params): `cache_acts` plus the hooks
    of that model that the SAEs in `saes` read (none: the stage caches nothing)."""

    hooks: list[str]


# one stored row: float16 per activation value, and the token index (acts/store.py: token_ids
# and seq int32, pos and label int16); Zstd saves little on float16 activations
VALUE_BYTES, INDEX_BYTES = 2, 12


def store_bytes(max_tokens: int, widths: list[int]) -> int:
    """At most how many bytes one model's activation folder takes: a store per hook, each of
    up to max_tokens rows (fewer when the training split is smaller)."""
    return max_tokens * sum(VALUE_BYTES * w + INDEX_BYTES for w in widths)
