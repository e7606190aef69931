"""params `models` and `train_lm.<domain>`: which GPTs exist, their shape and their training."""

from __future__ import annotations

import os
import shutil
from typing import Annotated, Literal

from pydantic import Field, model_validator

from dictlearn.core.errors import ParamsError
from dictlearn.core.schema import (Device, NonNegativeInt, PositiveFloat, PositiveInt, Strict,
                                   check_processes)


class ModelSpec(Strict):
    """One entry of `models`: the domain it learns and its seed."""

    domain: str
    seed: int


class Samples(Strict):
    prompts: list[str]
    max_new_tokens: PositiveInt
    temperature: PositiveFloat


class Quizzes(Strict):
    """How a domain whose sequences are a prompt then an answer (culture: 305 prompt tokens,
    then the 100 cells of the answer grid) is trained and measured."""

    # loss weight of each prompt token; every answer token weighs 1. 0 trains the answer
    # only, but the culture loop needs models that also write the prompt grids
    prompt_loss_weight: Annotated[float, Field(ge=0, le=1)]
    # initialise the position table as grid + row + column embeddings (still a plain learned
    # GPT-2 table): a cell starts out close to the same cell of the other grids
    grid_positions: bool
    # held-out quizzes per task for the learning curves (every eval_every steps) and the
    # final accuracy
    eval_per_task: PositiveInt


class TrainLM(Strict):
    n_layer: PositiveInt
    n_head: PositiveInt
    n_embd: PositiveInt
    dropout: Annotated[float, Field(ge=0, lt=1)]
    batch_size: PositiveInt
    steps: PositiveInt
    lr: PositiveFloat
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)]
    warmup_steps: NonNegativeInt
    weight_decay: Annotated[float, Field(ge=0)]
    grad_clip: PositiveFloat
    eval_every: PositiveInt
    eval_batches: PositiveInt
    device: Device
    # bf16 autocast of the training step (weights, optimiser and evaluation stay fp32). auto: on
    # a GPU and on CPUs with native bf16 (AVX512-BF16/AMX), where it trains ~1.7x faster to the
    # same validation loss (bench/train_lm.py); fp32: never; bf16: always
    precision: Literal["auto", "bf16", "fp32"]
    # torch.compile (inductor) of the training forward/backward; evaluation runs uncompiled.
    # Costs 10-40 s of compiling at the first step (cached after), so tiny runs leave it off;
    # on CPU it needs a C++ compiler (CXX, g++, c++ or clang++ on PATH)
    compile: bool
    # data-parallel processes (torch DDP under torchrun, one per GPU or CPU group; gloo on CPU):
    # each takes batch_size / processes of every step's batch, the gradients are averaged, so
    # the run follows the one-process run to float tolerance; 1: a plain process
    processes: PositiveInt
    # every this many steps the training state goes to data/resume/<model>, so that a killed
    # run continues from there when re-run (lm/resume.py); 0: never
    checkpoint_every: NonNegativeInt
    # what the LM writes after training, for domains that write samples (text, strokes);
    # null for the others (culture measures quizzes instead)
    samples: Samples | None
    # for domains that pose quizzes (culture), null for the others
    quizzes: Quizzes | None

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainLM:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        check_processes(self.processes, self.batch_size)
        return self


class TrainLMSettings(Strict):
    """What train_lm@<model> reads (resolved by check_params): the model's entry and its
    domain's training section."""

    model: ModelSpec
    train: TrainLM


def check_compilers(train_lm: dict[str, TrainLM]) -> None:
    """Refuse `compile: true` on a machine without the C/C++ compiler that torch's inductor
    (and Triton on a GPU) build their kernels with, naming the keys, before any stage runs."""
    keys = [f"train_lm.{domain}.compile" for domain, cfg in train_lm.items() if cfg.compile]
    names = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if keys and not any(name and shutil.which(name) for name in names):
        raise ParamsError(f"{', '.join(keys)}: true, but no C++ compiler is on PATH (CXX, g++, "
                         "c++, clang++), which torch.compile needs; set it to false or install "
                         "one (e.g. apt-get install g++)")
