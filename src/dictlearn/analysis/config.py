"""params `eval_sae` and `universality`: their schemas, apart from the analysis code so
validating params loads no model."""

from __future__ import annotations

from dictlearn.core.schema import Device, Fraction, NonNegativeInt, PositiveInt, Strict


class EvalSAE(Strict):
    """params `eval_sae`: how much held-out data, and what feature statistics to keep."""

    max_sequences: PositiveInt
    batch_size: PositiveInt
    dense_threshold: Fraction  # a feature firing on more tokens than this counts as dense
    top_k: PositiveInt  # top activating contexts kept per feature
    context_left: NonNegativeInt
    context_right: NonNegativeInt
    device: Device


class UniversalityRun(Strict):
    model: str
    domain: str


class Universality(Strict):
    """params `universality`: SAEs of models trained alike, one per model, matched unit for unit by
    activation correlation on the same held-out sequences; fewer than two: nothing to match."""

    saes: list[str]
    max_sequences: PositiveInt
    threshold: Fraction  # best-match correlation above which a unit counts as universal
    batch_size: PositiveInt
    device: Device


class UniversalitySettings(Universality):
    """What the universality stage reads: its section and each listed SAE's model, domain."""

    runs: dict[str, UniversalityRun]
