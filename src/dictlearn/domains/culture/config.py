"""params `prepare.culture` (the quiz mix and the splits) and `culture_loop`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dictlearn.core.schema import Device, Fraction, PositiveFloat, PositiveInt, Strict
from dictlearn.lm.config import TrainLM

# train_lm.culture.quizzes: its sequences are a prompt (three grids) then an answer grid
POSES_QUIZZES = True

# Fleuret's fifteen culture tasks (a test checks this matches tasks.TASKS; spelled out here so
# validating params never imports the generator)
CultureTask = Literal["replace_color", "translate", "grow", "half_fill", "frame", "detect",
                      "scale", "symbols", "corners", "contact", "path", "fill", "isometry",
                      "trajectory", "bounce"]


class CulturePrepare(Strict):
    n_quizzes: Annotated[int, Field(ge=2)]
    tasks: list[CultureTask] = Field(min_length=1)
    # how the quizzes are shown (tasks.ORDERS): 0 (A, f(A), B, f(B)), 1 (f(A), A, f(B), B),
    # 2 (B, f(B), A, f(A)) and 3 (f(B), B, f(A), A) pose a quiz; 4 (f(B), f(A), A, B) is the
    # order models write new quizzes in (culture loop). Held-out quizzes use the posed ones.
    orders: list[Annotated[int, Field(ge=0, le=4)]] = Field(min_length=1)
    test_fraction: Fraction
    heldout_per_task: PositiveInt
    chunk: PositiveInt  # quizzes generated per call (memory ≈ 3.3 kB each)
    seed: int

    @model_validator(mode="after")
    def _orders(self) -> CulturePrepare:
        if len(set(self.orders)) != len(self.orders):
            raise ValueError(f"orders: {self.orders} lists an order twice")
        if not set(self.orders) & {0, 1, 2, 3}:
            raise ValueError(f"orders: {self.orders} poses no quiz; include one of 0, 1, 2, 3")
        return self


class CultureLoop(Strict):
    """params `culture_loop` (Fleuret's names in brackets, where his main.py has them)."""

    # culture models that write quizzes for each other (empty: the stage does nothing)
    models: list[str]
    generations: PositiveInt  # write quizzes, then re-train every model; this many times
    keep: PositiveInt  # kept quizzes that end a generation's writing (nb_new_c_quizzes)
    max_generated: PositiveInt  # ... or quizzes written, whichever comes first
    # write quizzes only when every model's held-out accuracy reaches this
    # (accuracy_to_make_c_quizzes: 0.98); below it a generation only re-trains
    accuracy_to_make_quizzes: Annotated[float, Field(ge=0, le=1)]
    temperature_hot: PositiveFloat  # f(B), written first (temperature_hot: 1.5)
    temperature_cold: PositiveFloat  # f(A), A, B, then f(B) again (temperature_cold: 1)
    proba_understands: Fraction  # a model understands a quiz when p ≥ this (0.95)
    proba_not_understands: Fraction  # ... and fails it when p ≤ this (0.5)
    max_fail: PositiveInt  # a kept quiz is failed by 1 to this many models (2)
    retrain_quizzes: PositiveInt  # world quizzes per re-training pass (kept ones replace ≤ half)
    batch_size: PositiveInt
    seed: int
    device: Device

    @model_validator(mode="after")
    def _thresholds(self) -> CultureLoop:
        if self.proba_not_understands >= self.proba_understands:
            raise ValueError(f"proba_not_understands ({self.proba_not_understands}) must be "
                             f"below proba_understands ({self.proba_understands})")
        return self


class CultureLoopSettings(CultureLoop):
    """What the culture_loop stage reads: its section, the quiz mix and orders the models
    were trained on, and their training settings (re-training continues them)."""

    tasks: list[CultureTask]
    orders: list[int]
    train: TrainLM | None
