"""Per-stage resolved settings (dictlearn.params.resolve): each stage instance reads exactly
the values it uses, so a change to params.yaml re-runs the stages whose values change, and
only those. Compared as whole `stage_settings` dicts before and after one edit of the raw ci
profile."""

import json

import pytest

from conftest import profile
from dictlearn.acts.config import CacheActsRun
from dictlearn.analysis.config import EvalSAE, UniversalitySettings
from dictlearn.analysis.family import FamiliesSettings
from dictlearn.analysis.frontier import FrontierSettings
from dictlearn.core.schema import load_settings
from dictlearn.corpus.fetch import FetchCorpus
from dictlearn.domains import prepare_schema
from dictlearn.domains.culture.config import CultureLoopSettings
from dictlearn.lm.config import TrainLMSettings
from dictlearn.params import parse_params
from dictlearn.params.resolve import stage_settings
from dictlearn.report.config import ReportSettings
from dictlearn.sae.registry import ARCHITECTURES
from dictlearn.sae.settings import COMMON, TRAINER, SAERunSettings, arch_knobs
from dictlearn.toy.config import ToySettings


def ci_with_extras():
    """The ci profile plus a ReLU entry that overrides l1_coeff and a toy sweep that keeps
    the default lr (ci has neither)."""
    r = profile("ci")
    r["saes"]["text-l1-6"] = {"model": "text", "domain": "text", "l1_coeff": 6.0}
    r["toy"]["sweeps"]["E1"] = {"vary": "eps", "values": [0.03125, 0.0625]}
    return r


def resolved(raw):
    return stage_settings(parse_params(raw))


def changed(before, after):
    assert set(before) == set(after)  # an edit of a value adds or removes no stage
    return {path for path in before if before[path] != after[path]}


def relu_without_override(raw):
    return {name for name, entry in raw["saes"].items()
            if entry.get("architecture", raw["sae"]["architecture"]) == "relu"
            and "l1_coeff" not in entry}


def test_settings_are_json_and_name_every_stage_instance():
    raw = ci_with_extras()
    settings = resolved(raw)
    json.dumps(settings, sort_keys=True)  # what check_params writes: JSON, nothing else
    for name in raw["saes"]:
        assert f"train_sae/{name}.json" in settings and f"eval_sae/{name}.json" in settings
    for name in raw["models"]:
        assert f"train_lm/{name}.json" in settings and f"cache_acts/{name}.json" in settings
    for domain in raw["prepare"]:
        assert f"prepare/{domain}.json" in settings
    for sweep in raw["toy"]["sweeps"]:
        assert f"toy/{sweep}.json" in settings


def stage_schema(path):
    """The schema stage <path> loads its settings file with (stages/*.py, load_settings)."""
    stage, _, item = path.removesuffix(".json").partition("/")
    return {"fetch_corpus": FetchCorpus, "train_lm": TrainLMSettings, "cache_acts": CacheActsRun,
            "train_sae": SAERunSettings, "eval_sae": EvalSAE, "frontier": FrontierSettings,
            "universality": UniversalitySettings, "culture_loop": CultureLoopSettings,
            "report": ReportSettings, "toy": ToySettings, "families": FamiliesSettings,
            "prepare": prepare_schema(item) if stage == "prepare" else None}[stage]


@pytest.mark.parametrize("name", ["ci", "default", "gpu"])
def test_every_settings_file_loads_in_its_stage(name, tmp_path):
    """What check_params writes is what each stage's load_settings accepts."""
    for path, values in stage_settings(parse_params(profile(name))).items():
        file = tmp_path / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        loaded = load_settings(file, stage_schema(path))
        assert json.loads(loaded.model_dump_json()) == json.loads(file.read_text()), path


def test_an_entry_reads_only_its_architectures_knobs():
    settings = resolved(ci_with_extras())
    topk = settings["train_sae/text-topk-16.json"]
    assert topk["sae"]["architecture"] == "topk" and topk["sae"]["k"] == 16
    assert "l1_coeff" not in topk["sae"] and "l1_coeff" not in topk["trainer"]
    assert set(topk["sae"]) == COMMON | arch_knobs("topk")
    assert set(topk["trainer"]) == TRAINER
    relu = settings["train_sae/text.json"]
    assert set(relu["sae"]) == COMMON | arch_knobs("relu")
    assert relu["sae"]["l1_coeff"] == profile("ci")["sae"]["l1_coeff"]
    assert settings["train_sae/text-l1-6.json"]["sae"]["l1_coeff"] == 6.0



@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_resolves_to_its_own_knobs(arch):
    raw = profile("ci")
    raw["saes"]["x"] = {"model": "text", "domain": "text", "architecture": arch}
    settings = resolved(raw)["train_sae/x.json"]
    assert settings["sae"]["architecture"] == arch and settings["model"] == "text"
    assert set(settings["sae"]) == COMMON | arch_knobs(arch)
    assert {k: settings["sae"][k] for k in arch_knobs(arch)} == {
        k: raw["sae"][k] for k in arch_knobs(arch)}
    assert settings["trainer"] == {k: raw["sae"][k] for k in TRAINER}


def test_sae_l1_coeff_reaches_exactly_the_relu_entries_without_an_override():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["sae"]["l1_coeff"] = 1.5
    after = resolved(raw)
    expected = {f"train_sae/{name}.json" for name in relu_without_override(raw)}
    assert expected and "train_sae/text-l1-6.json" not in expected
    assert changed(before, after) == expected | {"frontier.json"}
    assert after["train_sae/text-l1-6.json"]["sae"]["l1_coeff"] == 6.0
    assert after["train_sae/text.json"]["sae"]["l1_coeff"] == 1.5
    knobs = {n: s["knob"] for n, s in after["frontier.json"]["saes"].items()}
    assert knobs["text"] == "l1_coeff=1.5" and knobs["text-l1-6"] == "l1_coeff=6"
    assert knobs["text-topk-16"] == "k=16"


def test_an_architecture_knob_reaches_only_that_architecture():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["sae"]["aux_coeff"] = 0.5  # topk/batchtopk only: text-topk-16 and the family's members
    assert changed(before, resolved(raw)) == {"train_sae/text-topk-16.json"} | {
        f"train_sae/{m}.json" for m in family(raw)}
    raw = ci_with_extras()
    raw["sae"]["jumprelu_bandwidth"] = 0.1  # no jumprelu entry in ci
    assert changed(before, resolved(raw)) == set()


def test_a_trainer_knob_reaches_every_sae_and_nothing_else():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["sae"]["lr"] = 1e-3
    assert changed(before, resolved(raw)) == {f"train_sae/{n}.json" for n in raw["saes"]}


def test_an_entry_override_reaches_only_that_entry():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["saes"]["text-l1-6"]["l1_coeff"] = 7.0
    assert changed(before, resolved(raw)) == {"train_sae/text-l1-6.json", "frontier.json"}
    raw = ci_with_extras()
    raw["saes"]["text-topk-16"]["batch_size"] = 256
    assert changed(before, resolved(raw)) == {"train_sae/text-topk-16.json"}


def family(raw, name="text-topk"):
    return [m for m, entry in raw["saes"].items() if entry.get("family") == name]


def test_a_family_is_its_members_alike_but_for_d_sae():
    raw = ci_with_extras()
    settings = resolved(raw)
    members = family(raw)
    runs = [settings[f"train_sae/{m}.json"] for m in members]
    assert len(runs) >= 2 and [r["sae"]["d_sae"] for r in runs] == sorted(
        r["sae"]["d_sae"] for r in runs)
    assert all({**r["sae"], "d_sae": 0} == {**runs[0]["sae"], "d_sae": 0} for r in runs)
    assert settings["families.json"]["families"]["text-topk"]["members"] == [
        {"name": m, "size": float(raw["saes"][m]["size"]), "d_sae": r["sae"]["d_sae"]}
        for m, r in zip(members, runs)]
    assert settings["report.json"]["families"] == {"text-topk": members}
    assert {settings["frontier.json"]["saes"][m]["family"] for m in members} == {"text-topk"}


def test_the_shared_k_reaches_the_whole_family_and_a_family_knob_only_its_stage():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["sae"]["k"] = 24  # the family's members inherit k; text-topk-16 overrides it
    assert changed(before, resolved(raw)) == {f"train_sae/{m}.json" for m in family(raw)} | {
        "frontier.json"}
    raw = ci_with_extras()
    raw["families"]["text-topk"]["min_cosine"] = 0.5
    assert changed(before, resolved(raw)) == {"families.json"}
    raw = ci_with_extras()
    raw["saes"][family(raw)[-1]]["size"] = 3  # a member's width: it re-trains, and is re-read
    assert changed(before, resolved(raw)) == {f"train_sae/{family(raw)[-1]}.json",
                                              "frontier.json", "families.json"}


def test_toy_defaults_lr_reaches_exactly_the_sweeps_that_do_not_override_lr():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["toy"]["defaults"]["lr"] = 0.02
    after = resolved(raw)
    # a sweep that varies lr takes it from `values`, never from the default
    expected = {f"toy/{name}.json" for name, entry in raw["toy"]["sweeps"].items()
                if "lr" not in entry and entry["vary"] != "lr"}
    assert "toy/E1.json" in expected and not {"toy/K1.json", "toy/LR1.json"} & expected
    assert changed(before, after) == expected
    assert after["toy/E1.json"]["sweep"]["lr"] == 0.02
    assert after["toy/K1.json"]["sweep"]["lr"] == raw["toy"]["sweeps"]["K1"]["lr"]


def test_shared_toy_settings_reach_every_sweep_and_nothing_else():
    raw = ci_with_extras()
    before = resolved(raw)
    raw["toy"]["steps"] += 1
    assert changed(before, resolved(raw)) == {f"toy/{n}.json" for n in raw["toy"]["sweeps"]}


@pytest.mark.parametrize("edit, expected", [
    (lambda r: r["train_lm"]["culture"].update(steps=41), {"train_lm/culture-0.json",
                                                          "train_lm/culture-1.json"}),
    (lambda r: r["prepare"]["strokes"].update(unit=2.0), {"prepare/strokes.json"}),
    (lambda r: r["eval_sae"].update(top_k=4), "eval_sae"),
    (lambda r: r["report"].update(n_examples=5), {"report.json"}),
])
def test_a_section_reaches_only_the_stages_that_read_it(edit, expected):
    raw = ci_with_extras()
    before = resolved(raw)
    edit(raw)
    if expected == "eval_sae":
        expected = {f"eval_sae/{n}.json" for n in raw["saes"]}
    assert changed(before, resolved(raw)) == expected
