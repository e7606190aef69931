"""params `cache_acts`: its schema, apart from the caching code so validating params loads no model."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from dictlearn.core.schema import Device, PositiveInt, Strict

# storage_options keys that hold secrets: params.yaml is committed, so they come from the
# environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, FSSPEC_S3_*, ...)
SECRET_WORDS = ("secret", "key", "token", "password", "credential")


class CacheActs(Strict):
    """params `cache_acts`: how many tokens of each model's activations to cache, and how they
    are stored. Which hooks is not a setting: exactly those that some SAE reads."""

    max_tokens: PositiveInt
    batch_size: PositiveInt
    chunk_rows: PositiveInt
    chunks_per_shard: PositiveInt
    device: Device
    # null: the stores are DVC outputs (data/acts/<model>/<hook>.zarr); an fsspec URL
    # (s3://bucket/prefix): they are written there and data/acts/<model> holds their manifest
    url: str | None
    storage_options: dict[str, Any]  # given to fsspec with `url` (e.g. endpoint_url)

    @field_validator("url")
    @classmethod
    def _known_protocol(cls, url: str | None) -> str | None:
        if url is None:
            return None
        import fsspec

        protocol = url.split("://", 1)[0] if "://" in url else ""
        if not protocol or protocol == "file":
            raise ValueError(f"{url!r} is not an object-store URL (e.g. s3://bucket/acts); "
                             "null keeps the stores in data/acts/")
        try:
            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as err:
            raise ValueError(f"{url!r}: fsspec cannot open {protocol}:// ({err})") from None
        return url.rstrip("/")

    @field_validator("storage_options")
    @classmethod
    def _no_secrets(cls, options: dict[str, Any]) -> dict[str, Any]:
        for key in options:
            if any(word in key.lower() for word in SECRET_WORDS):
                raise ValueError(f"{key}: credentials go in the environment (AWS_ACCESS_KEY_ID, "
                                 "AWS_SECRET_ACCESS_KEY, ...), not in params.yaml, which git "
                                 "commits")
        return options


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
