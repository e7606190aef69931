"""Per stage, exactly the values it reads: check_params writes each to
data/params/<stage>[/<item>].json, and dvc.yaml makes that file the stage's dependency.

DVC's own `params:` cannot say "the `sae` section, minus the knobs of other architectures,
minus the ones this entry overrides"; a resolved file can. So `dvc exp run -S
sae.l1_coeff=X` re-runs the ReLU SAEs that train with X and nothing else, and a value that
reaches a stage only through a default still re-runs it when it changes."""

from __future__ import annotations

from typing import Any

from dictlearn.params.schema import Params


def stage_settings(p: Params) -> dict[str, dict[str, Any]]:
    """{"<stage>/<item>.json" or "<stage>.json": the settings that stage instance reads}."""
    out: dict[str, dict[str, Any]] = {"fetch_corpus.json": p.fetch_corpus.model_dump()}
    for domain in p.prepare:
        out[f"prepare/{domain}.json"] = p.prepare_settings(domain).model_dump()
    runs = {name: p.sae_settings(name) for name in p.saes}
    for name, spec in p.models.items():
        out[f"train_lm/{name}.json"] = {"model": spec.model_dump(),
                                        "train": p.train_lm[spec.domain].model_dump()}
        out[f"cache_acts/{name}.json"] = {**p.cache_acts.model_dump(),
                                          "hooks": sorted(p.model_hooks(name))}
    for name, run in runs.items():
        out[f"train_sae/{name}.json"] = run.model_dump()
        out[f"eval_sae/{name}.json"] = p.eval_sae.model_dump()
    out["frontier.json"] = {"saes": {
        name: {"model": run.model, "site": run.sae.site, "layer": run.sae.layer,
               "architecture": run.sae.architecture,
               "knob": run.sae.knob_label(), "family": p.saes[name].family,
               "size": p.saes[name].size} for name, run in runs.items()}}
    out["families.json"] = {"families": {family: {**cfg.model_dump(), "members": [
        {"name": name, "size": p.saes[name].size, "d_sae": runs[name].sae.d_sae}
        for name in p.family_members(family)]} for family, cfg in p.families.items()}}
    out["universality.json"] = {**p.universality.model_dump(), "runs": {
        name: {"model": p.saes[name].model, "domain": p.saes[name].domain}
        for name in p.universality.saes}}
    on = bool(p.culture_loop.models)
    out["culture_loop.json"] = {
        **p.culture_loop.model_dump(), "tasks": p.prepare["culture"]["tasks"] if on else [],
        "orders": p.prepare["culture"]["orders"] if on else [],
        "train": p.train_lm["culture"].model_dump() if on else None}
    out["report.json"] = {**p.report.model_dump(), "models": {
        name: {"domain": spec.domain, "saes": [s for s, run in p.saes.items() if run.model == name]}
        for name, spec in p.models.items()}, "families": {
        family: p.family_members(family) for family in p.families}}
    for sweep in p.toy.sweeps:
        common = p.toy.model_dump(exclude={"defaults", "sweeps"})
        out[f"toy/{sweep}.json"] = {**common, "sweep": p.toy.sweep(sweep).model_dump()}
    return out
