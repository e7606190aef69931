"""params.yaml as a whole: each section validated by its owner's schema (kept beside the
code that reads it), then the checks that span sections (a model's domain exists, an SAE's
layer is cached, ...). `check_params` runs this before any other stage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from dictlearn.acts.config import CacheActs
from dictlearn.analysis.config import EvalSAE, Universality
from dictlearn.analysis.family import Family
from dictlearn.core.errors import ParamsError
from dictlearn.core.schema import Strict, problems
from dictlearn.corpus.fetch import FetchCorpus
from dictlearn.domains import DOMAINS, poses_quizzes, prepare_schema, writes_samples
from dictlearn.domains.culture.config import CultureLoop
from dictlearn.lm.config import ModelSpec, TrainLM
from dictlearn.lm.sites import hook_name, site_width
from dictlearn.report.config import Report
from dictlearn.sae import settings as sae_settings
from dictlearn.sae.settings import SAEEntry, SAERunSettings
from dictlearn.toy.config import Toy

NAME = r"[a-z0-9][a-z0-9_-]*"


def _check_name(section: str, name: str, what: str) -> None:
    if not re.fullmatch(NAME, name):
        raise ValueError(f"{section}.{name}: {what} names must match {NAME}")


class SAEListing(SAEEntry):
    """An entry of `saes` as params.yaml holds it: the SAE's entry (sae/settings.py) and, for a
    member of a dictionary family (`families`), the family's name and the member's size, its
    d_sae as a multiple of the width it reads. Other entries leave both out."""

    family: str | None = None
    size: Annotated[float, Field(allow_inf_nan=False)] | None = None


class Params(Strict):
    fetch_corpus: FetchCorpus
    # prepare.<domain>: validated by the domain's own schema (domains/<d>/config.py)
    prepare: dict[str, dict[str, Any]]
    models: dict[str, ModelSpec] = Field(min_length=1)
    train_lm: dict[str, TrainLM]
    cache_acts: CacheActs
    # the shared SAE settings: the trainer's knobs and every architecture's (sae/settings.py)
    sae: dict[str, Any]
    # one SAE per entry (train_sae@name, eval_sae@name): `sae` with the entry's overrides
    saes: dict[str, SAEListing] = Field(min_length=1)
    # dictionary families (stage families): the `saes` entries that name one, growing in size
    families: dict[str, Family]
    eval_sae: EvalSAE
    universality: Universality
    culture_loop: CultureLoop
    report: Report
    toy: Toy

    def prepare_settings(self, domain: str) -> BaseModel:
        return prepare_schema(domain).model_validate(self.prepare[domain])

    def sae_settings(self, name: str) -> SAERunSettings:
        """The settings SAE `name` trains with: `sae` with the entry's overrides."""
        if name not in self.saes:
            raise ParamsError(f"saes.{name}: no such SAE; expected one of {sorted(self.saes)}")
        return sae_settings.resolve(name, self.saes[name], self.sae | self._family_width(name))

    def _family_width(self, name: str) -> dict[str, int]:
        """A family member's d_sae, `size` × the width of the activations it reads."""
        entry = self.saes[name]
        if entry.size is None:
            return {}
        if "d_sae" in (entry.model_extra or {}):
            raise ValueError(f"saes.{name}.d_sae: given, but a family member's d_sae is its "
                             "size × d_in; give `size` only")
        if entry.size < 1:
            raise ValueError(f"saes.{name}.size: {entry.size:g} is below 1; a family member "
                             "has at least as many latents as the width it reads (size ≥ 1)")
        site = (entry.model_extra or {}).get("site", self.sae["site"])
        d_in = site_width(site, self.train_lm[self.models[entry.model].domain].n_embd)
        return {"d_sae": round(entry.size * d_in)}

    def model_hooks(self, model: str) -> dict[str, int]:
        """{hook: width} of the hooks that some SAE of `model` reads (what cache_acts caches)."""
        n_embd = self.train_lm[self.models[model].domain].n_embd
        sites = {(run.sae.site, run.sae.layer) for run in map(self.sae_settings, self.saes)
                 if run.model == model}
        return {hook_name(s, layer): site_width(s, n_embd) for s, layer in sorted(sites)}

    def family_members(self, family: str) -> list[str]:
        """The `saes` entries of `family`, in the order listed (smallest first)."""
        return [name for name, entry in self.saes.items() if entry.family == family]

    @field_validator("prepare")
    @classmethod
    def _prepare(cls, prepare: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        found: list[str] = []
        for domain, section in prepare.items():
            if domain not in DOMAINS:
                found.append(f"prepare.{domain}: unknown domain; expected one of "
                             f"{sorted(DOMAINS)}")
                continue
            try:
                prepare_schema(domain).model_validate(section)
            except ValidationError as err:
                found += problems(err, f"prepare.{domain}")
        if found:
            raise ValueError("\n  ".join(found))
        return prepare

    @field_validator("sae")
    @classmethod
    def _sae(cls, sae: dict[str, Any]) -> dict[str, Any]:
        found = sae_settings.check_defaults(sae)
        if found:
            raise ValueError("\n  ".join(found))
        return sae

    @model_validator(mode="after")
    def _models(self) -> Params:
        for name, spec in self.models.items():
            _check_name("models", name, "model")
            if spec.domain not in DOMAINS:
                raise ValueError(f"models.{name}.domain: unknown domain {spec.domain!r}; "
                                 f"expected one of {sorted(DOMAINS)}")
            if spec.domain not in self.prepare:
                raise ValueError(f"prepare.{spec.domain}: missing, but models.{name} uses it")
            if spec.domain not in self.train_lm:
                raise ValueError(f"train_lm.{spec.domain}: missing, but models.{name} uses it")
            if writes_samples(spec.domain) and self.train_lm[spec.domain].samples is None:
                raise ValueError(f"train_lm.{spec.domain}.samples: null, but the {spec.domain} "
                                 "model writes samples; give prompts, max_new_tokens, temperature")
            quizzes = self.train_lm[spec.domain].quizzes is not None
            if poses_quizzes(spec.domain) != quizzes:
                raise ValueError(
                    f"train_lm.{spec.domain}.quizzes: " + (
                        f"null, but the {spec.domain} domain poses quizzes; give "
                        "prompt_loss_weight, grid_positions, eval_per_task" if not quizzes else
                        f"given, but the {spec.domain} domain poses no quizzes; set it to null"))
        return self

    @model_validator(mode="after")
    def _saes(self) -> Params:
        for name, run in self.saes.items():
            _check_name("saes", name, "SAE")
            if run.model not in self.models:
                raise ValueError(f"saes.{name}.model: unknown model {run.model!r}; "
                                 f"expected one of {sorted(self.models)}")
            if run.domain != self.models[run.model].domain:
                raise ValueError(f"saes.{name}.domain: {run.domain!r}, but models."
                                 f"{run.model}.domain is {self.models[run.model].domain!r}")
            cfg = self.sae_settings(name).sae
            n_layer = self.train_lm[run.domain].n_layer
            if cfg.layer >= n_layer:
                key = (f"saes.{name}.layer" if "layer" in (run.model_extra or {})
                       else f"sae.layer (read by saes.{name})")
                raise ValueError(
                    f"{key}: {cfg.layer}, but models.{run.model} has blocks 0.."
                    f"{n_layer - 1} (train_lm.{run.domain}.n_layer = {n_layer}); no hook "
                    f"{hook_name(cfg.site, cfg.layer)} to read")
        return self

    @model_validator(mode="after")
    def _families_grow(self) -> Params:
        for name, entry in self.saes.items():
            if (entry.family is None) != (entry.size is None):
                lacking = "size" if entry.size is None else "family"
                raise ValueError(f"saes.{name}.{lacking}: missing; a member of a family gives "
                                 "both `family` and `size`, other entries neither")
            if entry.family is not None and entry.family not in self.families:
                raise ValueError(f"saes.{name}.family: unknown family {entry.family!r}; "
                                 f"expected one of `families` {sorted(self.families)}")
        for family in self.families:
            _check_name("families", family, "family")
            members = self.family_members(family)
            if len(members) < 2:
                raise ValueError(f"families.{family}: {len(members)} member(s); a family needs "
                                 f"two or more `saes` entries with family: {family}")
            runs = {name: self.sae_settings(name).model_dump() for name in members}
            for small, large in zip(members, members[1:]):
                if runs[large]["sae"]["d_sae"] <= runs[small]["sae"]["d_sae"]:
                    raise ValueError(
                        f"saes.{large}.size: {self.saes[large].size:g} (d_sae "
                        f"{runs[large]['sae']['d_sae']}), not larger than saes.{small}.size "
                        f"{self.saes[small].size:g} (d_sae {runs[small]['sae']['d_sae']}); a "
                        "family's sizes grow strictly in the order its members are listed")
            first = runs[members[0]]
            for name in members[1:]:
                for key, value, expected in _differences(runs[name], first):
                    raise ValueError(f"saes.{name}.{key}: {value!r}, but saes.{members[0]}."
                                     f"{key} is {expected!r}; the members of family {family} "
                                     "differ in size only")
        return self

    @model_validator(mode="after")
    def _culture_loop_on_culture_models(self) -> Params:
        for m in self.culture_loop.models:
            if m not in self.models or self.models[m].domain != "culture":
                raise ValueError(f"culture_loop.models: {m!r} is not a culture model of `models`")
        if len(self.culture_loop.models) == 1:
            raise ValueError("culture_loop.models: one model has nobody to quiz; list two or "
                             "more (or none to turn the stage off)")
        if self.culture_loop.models and "culture" not in self.prepare:
            raise ValueError("culture_loop.models: listed, but there is no prepare.culture")
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
        hooks = {n: hook_name(self.sae_settings(n).sae.site, self.sae_settings(n).sae.layer)
                 for n in names}
        if len(set(hooks.values())) > 1:
            raise ValueError(f"universality.saes: all at one hook expected (the same site and "
                             f"layer of models trained alike), got {hooks}")
        return self


def _differences(run: dict[str, Any], ref: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value, reference value) where two resolved SAE settings differ, d_sae aside."""
    flat = [("model", run["model"], ref["model"])]
    for part in ("sae", "trainer"):
        flat += [(k, v, ref[part].get(k)) for k, v in run[part].items() if k != "d_sae"]
    return [(k, v, w) for k, v, w in flat if v != w]


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        lines = problems(err)
        raise ParamsError(f"{source}: {len(lines)} problem(s) in the params:\n  "
                          + "\n  ".join(lines)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, str(path))
