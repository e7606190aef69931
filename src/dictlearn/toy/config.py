"""params `toy`: toy models of superposition (Jermyn et al. 2022). `toy.defaults` holds every
setting of a trained model; each entry of `toy.sweeps` overrides some, and varies one (`vary`)
over `values`; stage toy@<sweep> trains them at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from dictlearn.core.schema import Device, NonNegativeInt, PositiveInt, Strict, problems

# Toy models of superposition (Jermyn et al. 2022): one entry of `toy.sweeps` fixes every
# setting but `vary`, which takes each of `values`; stage toy@<sweep> trains them at once.
# the knobs a sweep may vary (all numeric; the paper varies one at a time)
VARIABLES = ("lr", "eps", "k", "decay", "bias", "l1")


class ToyMember(Strict):
    """One trained model: every setting of a sweep with the varied one filled in."""

    task: Literal["decoder", "reprojector", "abs"]
    activation: Literal["relu", "gelu"]
    sampling: Literal["uniform", "power_law"]
    k: Annotated[int, Field(ge=1)]
    eps: Annotated[float, Field(gt=0, le=1)]  # mean feature frequency (sparsity 1-ε)
    lr: Annotated[float, Field(gt=0)]
    # hidden bias *= (1 - decay·lr) after every step of the first half of training
    decay: Annotated[float, Field(ge=0)]
    bias: float  # added to the initial hidden bias
    l1: Annotated[float, Field(ge=0)]  # weight of Σ|hidden activation| per sample


class ToySweep(ToyMember):
    vary: str
    values: list[float] = Field(min_length=1)

    @field_validator("vary")
    @classmethod
    def _known_variable(cls, v: str) -> str:
        if v not in VARIABLES:
            raise ValueError(f"unknown variable {v!r}; expected one of {list(VARIABLES)}")
        return v

    @model_validator(mode="after")
    def _values_are_valid_settings(self) -> ToySweep:
        for i, value in enumerate(self.values):
            try:
                self.member(i)
            except ValueError as err:  # pydantic's ValidationError is a ValueError
                msg = err.errors()[0]["msg"] if hasattr(err, "errors") else str(err)
                msg = msg.removeprefix("Value error, ")
                raise ValueError(f"values: {value!r} is not a valid {self.vary}: {msg}") from None
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"values: {self.values} repeats a value")
        return self

    def member(self, i: int) -> ToyMember:
        value = self.values[i]
        if self.vary == "k":
            if value != int(value):
                raise ValueError(f"k must be a whole number, got {value}")
            value = int(value)
        fixed = self.model_dump(exclude={"vary", "values"})
        return ToyMember.model_validate(fixed | {self.vary: value})

    def members(self) -> list[ToyMember]:
        return [self.member(i) for i in range(len(self.values))]


class ToyRun(Strict):
    """The settings every sweep shares."""

    N: PositiveInt  # features
    m: PositiveInt  # embedding dimensions
    batch_size: PositiveInt
    steps: PositiveInt
    seed: int
    # bfloat16: the three k×N matmuls in bf16 (fp32 weights and optimizer): 2.4× faster on
    # AVX-512-BF16 CPUs, but emulated and 6.5× slower than fp32 on an AVX2-only CPU; auto: bf16
    # where the hardware multiplies it natively (a GPU, AVX512-BF16/AMX), float32 elsewhere;
    # float32 for bit-level comparisons
    dtype: Literal["auto", "float32", "bfloat16"]
    eval_batch: PositiveInt  # held-out samples for the final loss
    threads: NonNegativeInt  # torch threads (0: torch's default)
    device: Device
    checkpoint_every: NonNegativeInt  # steps between resumable checkpoints (toy/resume.py)


class Toy(ToyRun):
    """params `toy`."""

    defaults: ToyMember
    sweeps: dict[str, dict[str, Any]]

    @model_validator(mode="after")
    def _sweeps(self) -> Toy:
        for name in self.sweeps:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"toy.sweeps.{name}: sweep names are letters, digits, - and _")
            self.sweep(name)
        return self

    def sweep(self, name: str) -> ToySweep:
        """Sweep `name`: `defaults` with the entry's overrides; ValueError naming the key."""
        try:
            sweep = ToySweep.model_validate(self.defaults.model_dump() | self.sweeps[name])
        except ValidationError as err:
            raise ValueError("; ".join(problems(err, f"toy.sweeps.{name}"))) from None
        # every member sets the varied knob, so its default is never read: carry the first
        # member's value instead, and a change of that default re-runs nothing
        return sweep.model_copy(update={sweep.vary: getattr(sweep.member(0), sweep.vary)})


class ToySettings(ToyRun):
    """What toy@<sweep> reads (resolved by check_params)."""

    sweep: ToySweep
