"""params `report`, and what the report stage reads (resolved by check_params)."""

from dictlearn.core.schema import PositiveInt, Strict


class Report(Strict):
    n_features: PositiveInt  # a page per feature for the most frequent this many of each SAE
    n_examples: PositiveInt  # top contexts shown per feature


class ReportModel(Strict):
    domain: str
    saes: list[str]  # the SAEs trained on this model


class ReportSettings(Report):
    models: dict[str, ReportModel]
    families: dict[str, list[str]]  # each dictionary family's members, smallest first
