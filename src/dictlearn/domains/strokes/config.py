"""params `prepare.strokes`: fonts, words, augmentation and the pen-move tokens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dictlearn.core.schema import Fraction, PositiveFloat, PositiveInt, Strict

# the Hershey-Fonts 2.1.0 font names (tests check this matches the package; spelled out here
# so validating params never imports a domain)
HersheyFont = Literal["astrology", "cursive", "cyrilc_1", "cyrillic", "futural", "futuram",
                      "gothgbt", "gothgrt", "gothiceng", "gothicger", "gothicita", "gothitt",
                      "greek", "greekc", "greeks", "japanese", "markers", "mathlow", "mathupp",
                      "meteorology", "music", "rowmand", "rowmans", "rowmant", "scriptc",
                      "scripts", "symbolic", "timesg", "timesi", "timesib", "timesr", "timesrb"]
# train_lm.strokes.samples: the LM writes the words of its prompts
WRITES_SAMPLES = True
Word = Annotated[str, Field(pattern=r"^\S+$")]


class StrokesPrepare(Strict):
    fonts: list[HersheyFont] = Field(min_length=1)
    # words to write: this list, plus the corpus_words most frequent lowercase words of the
    # text corpus (fetch_corpus) with min_word_len..max_word_len letters
    words: list[Word]
    corpus_words: Annotated[int, Field(ge=0)]
    min_word_len: PositiveInt
    max_word_len: PositiveInt
    # words never trained on: their samples form the `heldout` split
    heldout_words: list[Word]
    n_samples: Annotated[int, Field(ge=2)]
    heldout_samples_per_word: PositiveInt
    # augmentation, drawn per sample: shear within ±slant_deg, a size factor in scale, Gaussian
    # jitter per point and a sine baseline wobble (font units; a letter is about 20 high)
    slant_deg: Annotated[float, Field(ge=0, lt=60)]
    scale: tuple[PositiveFloat, PositiveFloat]
    jitter: Annotated[float, Field(ge=0)]
    wobble: Annotated[float, Field(ge=0)]
    simplify: Annotated[float, Field(ge=0)]  # glyph polylines kept to within this
    angle_bins: PositiveInt
    length_bins: PositiveInt
    unit: PositiveFloat  # font units per length bin
    max_len: Annotated[int, Field(ge=8, le=256)]  # tokens per sequence; longer dropped
    val_fraction: Fraction
    seed: int

    @model_validator(mode="after")
    def _words_and_ranges(self) -> StrokesPrepare:
        if not self.words and self.corpus_words == 0:
            raise ValueError("words: empty and corpus_words is 0, so there is nothing to write")
        if self.scale[0] > self.scale[1]:
            raise ValueError(f"scale: expected (low, high), got {list(self.scale)}")
        if self.min_word_len > self.max_word_len:
            raise ValueError(f"min_word_len: {self.min_word_len} > max_word_len "
                             f"{self.max_word_len}")
        return self
