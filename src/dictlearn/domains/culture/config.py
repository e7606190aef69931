"""params `prepare.culture` (the quiz mix and the splits) and `culture_loop`."""

from typing import Annotated, Literal

from pydantic import Field

from dictlearn.core.schema import Device, Fraction, PositiveFloat, PositiveInt, Strict

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
    test_fraction: Fraction
    heldout_per_task: PositiveInt
    chunk: PositiveInt  # quizzes generated per call (memory ≈ 3.3 kB each)
    seed: int


class CultureLoop(Strict):
    """params `culture_loop`."""

    # culture models that write quizzes for each other (empty: the stage does nothing)
    models: list[str]
    n_quizzes: PositiveInt  # per generating model
    temperature: PositiveFloat
    batch_size: PositiveInt
    seed: int
    device: Device


class CultureLoopSettings(CultureLoop):
    """What the culture_loop stage reads: its section and the tasks it draws quizzes from."""

    tasks: list[CultureTask]

