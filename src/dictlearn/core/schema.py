"""The pieces every settings schema is built from, and how a stage reads its settings.

Each owner (a domain, an SAE architecture, the LM trainer, ...) keeps its pydantic schema in
its own module. `check_params` validates params.yaml as a whole and writes, per stage, a JSON
file with exactly the values that stage reads (data/params/); a stage loads that file with
`load_settings`, so DVC re-runs a stage when, and only when, a value it reads changes.
Schemas have no defaults: every knob is written in params.yaml, where `dvc params diff` and
`dvc exp show` see it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dictlearn.core.errors import InputError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
# auto: the GPU if there is one; cuda:N one GPU of several (a `dvc queue` worker each); mps: Apple
Device = Annotated[str, Field(pattern=r"^(auto|cpu|cuda|cuda:\d+|mps)$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


S = TypeVar("S", bound=BaseModel)


def load_settings(path: str | Path, schema: type[S]) -> S:
    """A stage's resolved settings (written by check_params), validated against its schema."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return schema.model_validate(raw)
    except (OSError, json.JSONDecodeError, ValidationError) as err:
        first = str(err).splitlines()[0]
        raise InputError(f"{path}: not the settings check_params writes ({first}); "
                         "run `dvc repro check_params`") from None


def problems(err: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem of a pydantic error: the full key, then what was expected."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo? see params.yaml for the accepted keys)"
        elif e["type"] == "missing":
            msg = "missing (every knob is written in params.yaml; see profiles/default.yaml)"
        elif e["type"] != "value_error" and "input" in e:
            msg += f" (got {e['input']!r})"
        # a validator that names the full key itself (e.g. "prepare.text.seq_len: ...")
        lines.append(msg if not key or msg.startswith(f"{key}.") else f"{key}: {msg}")
    return lines


def check_processes(processes: int, batch_size: int) -> None:
    """Data-parallel processes each take an equal share of a batch (a model validator's check)."""
    if batch_size % processes:
        raise ValueError(f"processes: {processes} does not divide batch_size ({batch_size}); "
                         "each process takes an equal share of a batch")
