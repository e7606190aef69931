"""Params of the toy study (`toy:` in params.yaml): shared sizes and one entry per sweep.

A sweep fixes every setting but one, `vary`, which takes each of `values`; the stage trains
all of them at once. Errors name the key, e.g. `toy.sweeps.LR1.values`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0)]

# the knobs a sweep may vary (all numeric; the paper varies one at a time)
VARIABLES = ("lr", "eps", "k", "decay", "bias", "l1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Strict):
    """One trained model: every setting of a sweep with the varied one filled in."""

    task: Literal["decoder", "reprojector", "abs"] = "decoder"
    activation: Literal["relu", "gelu"] = "relu"
    sampling: Literal["uniform", "power_law"] = "uniform"
    k: Annotated[int, Field(ge=1)] = 1024
    eps: Annotated[float, Field(gt=0, le=1)] = 1 / 64  # mean feature frequency (sparsity 1-ε)
    lr: Annotated[float, Field(gt=0)] = 0.003
    # hidden bias *= (1 - decay·lr) after every step of the first half of training
    decay: Annotated[float, Field(ge=0)] = 0.0
    bias: float = 0.0  # added to the initial hidden bias
    l1: Annotated[float, Field(ge=0)] = 0.0  # weight of Σ|hidden activation| per sample


class Sweep(Member):
    vary: str
    values: list[float] = Field(min_length=1)

    @field_validator("vary")
    @classmethod
    def _known_variable(cls, v: str) -> str:
        if v not in VARIABLES:
            raise ValueError(f"unknown variable {v!r}; expected one of {list(VARIABLES)}")
        return v

    @model_validator(mode="after")
    def _values_are_valid_settings(self) -> Sweep:
        for i, value in enumerate(self.values):
            try:
                self.member(i)
            except ValueError as err:  # pydantic's ValidationError is a ValueError
                msg = err.errors()[0]["msg"] if hasattr(err, "errors") else str(err)
                raise ValueError(f"values[{i}] = {value!r}: not a valid {self.vary}: {msg}") \
                    from None
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"values: {self.values} repeats a value")
        return self

    def member(self, i: int) -> Member:
        value = self.values[i]
        if self.vary == "k":
            if value != int(value):
                raise ValueError(f"k must be a whole number, got {value}")
            value = int(value)
        fixed = self.model_dump(exclude={"vary", "values"})
        return Member.model_validate(fixed | {self.vary: value})

    def members(self) -> list[Member]:
        return [self.member(i) for i in range(len(self.values))]


class Toy(_Strict):
    N: PositiveInt = 512  # features
    m: PositiveInt = 64  # embedding dimensions
    batch_size: PositiveInt = 1024
    steps: PositiveInt = 2048
    seed: int = 0
    # bfloat16: the three k×N matmuls in bf16 (fp32 weights and optimizer): 2.4× faster on
    # AVX-512-BF16 CPUs; float32 for bit-level comparisons
    dtype: Literal["float32", "bfloat16"] = "float32"
    eval_batch: PositiveInt = 4096  # held-out samples for the final loss
    threads: Annotated[int, Field(ge=0)] = 0  # torch threads (0: torch's default)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    sweeps: dict[str, Sweep] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> Toy:
        for name in self.sweeps:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"sweeps.{name}: sweep names are letters, digits, - and _")
        return self
