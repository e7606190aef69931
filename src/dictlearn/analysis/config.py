"""params `eval_sae` and `universality`: their schemas, apart from the analysis code so
validating params loads no model."""

from __future__ import annotations

from dictlearn.core.schema import (Device, Fraction, NonNegativeInt, PositiveFloat, PositiveInt,
                                   Strict)


class Interventions(Strict):
    """params `eval_sae.interventions`: what the most frequent live features do to the model
    (analysis/interventions.py), recorded in data/evals/<sae>/interventions.json."""

    features: NonNegativeInt  # how many features (the most frequent live ones); 0: none
    contexts: PositiveInt  # top contexts each feature is zero- and mean-ablated on
    top_tokens: PositiveInt  # output tokens kept per ablation, most promoted and suppressed
    # steering: clamped to steer_scale × its max held-out activation while the model writes
    # steer_tokens tokens after its top context (culture: 100 completes the focus grid)
    steer_scale: float
    steer_tokens: PositiveInt
    temperature: PositiveFloat


class EvalSAE(Strict):
    """params `eval_sae`: how much held-out data, and what feature statistics to keep."""

    max_sequences: PositiveInt
    batch_size: PositiveInt
    dense_threshold: Fraction  # a feature firing on more tokens than this counts as dense
    top_k: PositiveInt  # top activating contexts kept per feature
    context_left: NonNegativeInt
    context_right: NonNegativeInt
    interventions: Interventions
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
