"""params `cache_acts`: its schema, apart from the caching code so validating params loads no model."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from dictlearn.core.schema import Device, PositiveInt, Strict


class CacheActs(Strict):
    """params `cache_acts`: which layers' MLP activations to cache, how many tokens, how stored."""

    layers: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    max_tokens: PositiveInt
    batch_size: PositiveInt
    chunk_rows: PositiveInt
    chunks_per_shard: PositiveInt
    device: Device
