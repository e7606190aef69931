"""params `prepare.text`: the BPE and the sequences cut from the corpus."""

from typing import Annotated

from pydantic import Field

from dictlearn.core.schema import Fraction, NonNegativeInt, Strict


# train_lm.text.samples: the LM writes continuations of its prompts
WRITES_SAMPLES = True


class TextPrepare(Strict):
    vocab_size: Annotated[int, Field(ge=260, le=65536)]
    seq_len: Annotated[int, Field(ge=8)]
    val_fraction: Fraction
    # cap on tokens kept per label, so one language cannot swamp the other (0 = no cap)
    max_tokens_per_label: NonNegativeInt
    seed: int
