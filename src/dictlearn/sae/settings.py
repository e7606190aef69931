"""An SAE entry's settings: params `sae` (the shared defaults: training knobs and every
architecture's knobs) with the `saes.<name>` entry's overrides, split into its architecture's
settings and the trainer's. Only the knobs its architecture reads reach an entry's settings,
so `sae.l1_coeff` changes the ReLU entries that do not override it, and nothing else."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from dictlearn.core.schema import Strict, problems
from dictlearn.sae.base import SAEConfig
from dictlearn.sae.registry import ARCHITECTURES, AnySAEConfig
from dictlearn.sae.trainer import TrainerConfig

ENTRY_KEYS = ("model", "domain")
COMMON = set(SAEConfig.model_fields)
TRAINER = set(TrainerConfig.model_fields)


class SAEEntry(BaseModel):
    """One entry of `saes`: the model whose activations it learns (and that model's domain,
    which dvc.yaml needs for the eval data path), plus overrides of any `sae` key."""

    model_config = ConfigDict(extra="allow", frozen=True)
    model: str
    domain: str


class SAERunSettings(Strict):
    """What train_sae@<name> reads (resolved by check_params)."""

    model: str
    sae: AnySAEConfig
    trainer: TrainerConfig


def arch_knobs(name: str) -> set[str]:
    return set(ARCHITECTURES[name].config.model_fields) - COMMON


def all_knobs() -> set[str]:
    return COMMON | TRAINER | set().union(*(arch_knobs(a) for a in ARCHITECTURES))


def check_defaults(section: dict[str, Any]) -> list[str]:
    """Problems of params `sae`: each knob of every architecture and of the trainer, once."""
    found = [f"sae.{k}: unknown key (not a knob of any SAE architecture or of the trainer)"
             for k in sorted(set(section) - all_knobs())]
    found += [f"sae.{k}: missing (every knob is written in params.yaml; see "
              "profiles/default.yaml)" for k in sorted(all_knobs() - set(section))]
    if found:
        return found
    for arch, cls in ARCHITECTURES.items():
        keys = COMMON | arch_knobs(arch)
        try:
            cls.config.model_validate({k: section[k] for k in keys} | {"architecture": arch})
        except ValidationError as err:
            found += [p for p in problems(err, "sae") if not p.startswith("sae.architecture")]
    try:
        TrainerConfig.model_validate({k: section[k] for k in TRAINER})
    except ValidationError as err:
        found += problems(err, "sae")
    if section.get("architecture") not in ARCHITECTURES:
        found.append(f"sae.architecture: {section.get('architecture')!r}; expected one of "
                     f"{sorted(ARCHITECTURES)}")
    return list(dict.fromkeys(found))


def resolve(name: str, entry: SAEEntry, defaults: dict[str, Any]) -> SAERunSettings:
    """The settings SAE `name` trains with; ValueError naming `saes.<name>.<key>` if wrong."""
    overrides = dict(entry.model_extra or {})
    merged = defaults | overrides
    arch = merged.get("architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"saes.{name}.architecture: {arch!r}; expected one of "
                         f"{sorted(ARCHITECTURES)}")
    own = COMMON | TRAINER | arch_knobs(arch)
    for key in overrides:
        if key not in own:
            what = (f"not a knob of architecture {arch} (its knobs: "
                    f"{sorted(arch_knobs(arch))})" if key in all_knobs()
                    else "unknown key (not a key of `sae`)")
            raise ValueError(f"saes.{name}.{key}: {what}")
    try:
        return SAERunSettings.model_validate({
            "model": entry.model,
            "sae": {k: merged[k] for k in COMMON | arch_knobs(arch)},
            "trainer": {k: merged[k] for k in TRAINER}})
    except ValidationError as err:
        # pydantic's location has the sections and the union member: saes.x.sae.topk.k → saes.x.k
        lines = [re.sub(rf"^saes\.{re.escape(name)}\.(?:sae\.{arch}|sae|trainer)(?=[.:])",
                        f"saes.{name}", p) for p in problems(err, f"saes.{name}")]
        raise ValueError("; ".join(lines)) from None
