"""params.yaml as a whole (dictlearn.params): every profile is valid, and every problem is
refused with a message naming its key, before any stage runs."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, profile
from dictlearn.params import ParamsError, load_params, parse_params
from dictlearn.sae.trainer import TrainerConfig


def raw(name="default"):
    return profile(name)


@pytest.mark.parametrize("profile", ["default", "ci", "gpu"])
def test_every_profile_is_valid(profile):
    parse_params(raw(profile), profile)


def test_unknown_key_is_named():
    r = raw()
    r["sae"]["l1_coef"] = 1.0
    with pytest.raises(ParamsError, match=r"sae\.l1_coef: unknown key"):
        parse_params(r)


def test_wrong_type_and_value_are_named():
    r = raw()
    r["sae"]["l1_coeff"] = "lots"
    with pytest.raises(ParamsError) as err:
        parse_params(r)
    msg = str(err.value)
    assert "sae.l1_coeff" in msg and "'lots'" in msg
    r = raw()
    r["train_lm"]["text"]["steps"] = -3
    r["eval_sae"]["dense_threshold"] = 1.5
    with pytest.raises(ParamsError) as err:
        parse_params(r)
    msg = str(err.value)  # every problem of the typed sections at once
    assert "train_lm.text.steps" in msg and "greater than 0" in msg
    assert "eval_sae.dense_threshold" in msg and "less than 1" in msg
    r = raw()
    r["prepare"]["text"]["val_fraction"] = 1.5
    with pytest.raises(ParamsError, match=r"prepare\.text\.val_fraction: .*less than 1"):
        parse_params(r)


def test_cross_section_checks():
    r = raw()
    r["sae"]["layer"] = 7
    with pytest.raises(ParamsError, match=r"sae\.layer \(read by saes\.text\): 7, but "
                       r"models\.text has blocks 0\.\.1"):
        parse_params(r)
    r = raw()
    r["models"]["x"] = {"domain": "poetry", "seed": 0}
    with pytest.raises(ParamsError, match=r"models\.x\.domain: unknown domain 'poetry'"):
        parse_params(r)


def test_quizzes_are_given_exactly_for_the_domains_that_pose_them():
    r = raw()
    r["train_lm"]["culture"]["quizzes"] = None
    with pytest.raises(ParamsError, match=r"train_lm\.culture\.quizzes: null, but the culture"):
        parse_params(r)
    r = raw()
    r["train_lm"]["text"]["quizzes"] = r["train_lm"]["culture"]["quizzes"]
    with pytest.raises(ParamsError, match=r"train_lm\.text\.quizzes: given, but the text "
                                          r"domain poses no quizzes"):
        parse_params(r)
    r = raw()
    r["train_lm"]["culture"]["quizzes"]["prompt_loss_weight"] = 2.0
    with pytest.raises(ParamsError, match=r"train_lm\.culture\.quizzes\.prompt_loss_weight"):
        parse_params(r)


def test_each_sae_is_the_shared_settings_with_its_overrides():
    params = parse_params(raw())
    main, topk = params.sae_settings("text"), params.sae_settings("text-topk-16")
    shared_trainer = TrainerConfig.model_validate(
        {k: params.sae[k] for k in TrainerConfig.model_fields})
    assert main.model == "text" and main.trainer == shared_trainer
    assert main.sae.architecture == "relu" and main.sae.l1_coeff == params.sae["l1_coeff"]
    assert main.sae.d_sae == params.sae["d_sae"] and main.sae.layer == params.sae["layer"]
    assert topk.sae.architecture == "topk" and topk.sae.k == 16
    assert topk.sae.d_sae == params.sae["d_sae"] and topk.trainer == shared_trainer
    with pytest.raises(ParamsError, match="saes.nope: no such SAE"):
        params.sae_settings("nope")


@pytest.mark.parametrize("path", [
    ("sae", "l1_coeff"), ("sae", "lr"), ("sae", "jumprelu_bandwidth"), ("prepare", "text", "seed"),
    ("prepare", "culture", "chunk"), ("prepare", "strokes", "unit"), ("train_lm", "text", "lr"),
    ("cache_acts", "device"), ("eval_sae", "top_k"), ("universality", "threshold"),
    ("culture_loop", "temperature_hot"), ("prepare", "culture", "orders"), ("report", "n_examples"), ("toy", "eval_batch"),
    ("toy", "defaults", "lr"), ("fetch_corpus", "extra_files"),
    ("fetch_corpus", "shakespeare", "include"),
])
def test_a_missing_knob_is_refused_naming_it(path):
    """Schemas have no defaults: every knob is written in params.yaml."""
    r = raw()
    where = r
    for key in path[:-1]:
        where = where[key]
    del where[path[-1]]
    with pytest.raises(ParamsError) as err:
        parse_params(r)
    assert f"{'.'.join(path)}: " in str(err.value) and "missing" in str(err.value)


@pytest.mark.parametrize("entry, message", [
    ({"model": "text", "domain": "text", "l1_coef": 2.0}, r"saes\.bad\.l1_coef: unknown key"),
    ({"model": "text", "domain": "text", "architecture": "gated"},
     r"saes\.bad\.architecture: 'gated'; expected one of"),
    ({"model": "text", "domain": "text", "architecture": "topk", "k": 99999},
     r"saes\.bad\b.*k: 99999 active latents need d_sae > k"),
    ({"model": "text", "domain": "text", "architecture": "topk", "l1_coeff": 2.0},
     r"saes\.bad\.l1_coeff: not a knob of architecture topk"),
    ({"model": "text", "domain": "text", "lr": -1.0},
     r"saes\.bad\.lr: Input should be greater than 0"),
    ({"model": "nope", "domain": "text"}, r"saes\.bad\.model: unknown model 'nope'"),
    ({"model": "text", "domain": "culture"}, r"saes\.bad\.domain: 'culture', but models\.text"),
    ({"domain": "text"}, r"saes\.bad\.model: missing"),
])
def test_bad_sae_entries_are_named(entry, message):
    r = raw()
    r["saes"]["bad"] = entry
    with pytest.raises(ParamsError, match=message):
        parse_params(r)


def test_bad_yaml_and_missing_file(tmp_path):
    (tmp_path / "params.yaml").write_text("sae: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def check_params(params, out):
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "check_params.py"), "--params", str(params),
         "--out", str(out)], cwd=params.parent, capture_output=True, text=True)


def test_check_params_rejects_bad_params_before_touching_outputs(tmp_path):
    r = raw("ci")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(r))
    out = tmp_path / "params"
    proc = check_params(tmp_path / "params.yaml", out)
    assert proc.returncode == 0, proc.stderr
    before = {p: p.read_text() for p in out.rglob("*.json")}
    assert out / "train_sae" / "text.json" in before
    r["sae"]["architecture"] = "gated-typo"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(r))
    proc = check_params(tmp_path / "params.yaml", out)
    assert proc.returncode == 2
    assert "sae.architecture" in proc.stderr and "Traceback" not in proc.stderr
    assert {p: p.read_text() for p in out.rglob("*.json")} == before


def test_check_params_rewrites_only_the_settings_that_change(tmp_path):
    r = raw("ci")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(r))
    out = tmp_path / "params"
    assert check_params(tmp_path / "params.yaml", out).returncode == 0
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    r["eval_sae"]["top_k"] += 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(r))
    proc = check_params(tmp_path / "params.yaml", out)
    assert proc.returncode == 0, proc.stderr
    changed = {p.relative_to(out).as_posix() for p in out.rglob("*.json")
               if p.stat().st_mtime_ns != mtimes[p]}
    assert changed == {f"eval_sae/{name}.json" for name in r["saes"]}
    settings = json.loads((out / "eval_sae" / "text.json").read_text())
    assert settings["top_k"] == r["eval_sae"]["top_k"]


def test_profile_command_switches_params(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ci.yaml").write_text((ROOT / "profiles" / "ci.yaml").read_text())
    (tmp_path / "params.yaml").write_text("old: true\n")
    proc = subprocess.run([sys.executable, "-m", "dictlearn.params.profile", "ci"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "params.yaml").read_text() == (ROOT / "profiles" / "ci.yaml").read_text()
    proc = subprocess.run([sys.executable, "-m", "dictlearn.params.profile", "huge"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "profiles/huge.yaml" in proc.stderr


@pytest.mark.parametrize("key,value,message", [
    ("fonts", ["scripts", "comic"], r"prepare\.strokes\.fonts\.1: Input should be"),
    ("angle_bins", 0, r"prepare\.strokes\.angle_bins: Input should be greater than 0"),
    ("length_bins", 0, r"prepare\.strokes\.length_bins: Input should be greater than 0"),
    ("words", ["two words"], r"prepare\.strokes\.words\.0: String should match"),
    ("scale", [1.2, 0.8], r"prepare\.strokes: scale: expected \(low, high\)"),
])
def test_bad_strokes_params_are_named(key, value, message):
    r = raw()
    r["prepare"]["strokes"][key] = value
    with pytest.raises(ParamsError, match=message):
        parse_params(r)


def test_a_family_members_d_sae_is_its_size_times_the_width_it_reads():
    params = parse_params(raw())
    members = params.family_members("text-topk")
    d_in = 4 * raw()["train_lm"]["text"]["n_embd"]  # the GPT-2 MLP the SAEs read
    assert [params.sae_settings(m).sae.d_sae for m in members] == [
        round(raw()["saes"][m]["size"] * d_in) for m in members]
    assert len(members) >= 2 and all(params.sae_settings(m).sae.k == raw()["sae"]["k"]
                                     for m in members)


def with_family(edit):
    """The default profile with one edit of its family `text-topk` (x1, x2, x4)."""
    r = raw()
    edit(r)
    return r


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["saes"]["text-topk-x1"].update(size=0.5),
     r"saes\.text-topk-x1\.size: 0\.5 is below 1"),
    (lambda r: r["saes"]["text-topk-x2"].update(size=0),
     r"saes\.text-topk-x2\.size: 0 is below 1"),
    (lambda r: r["saes"]["text-topk-x4"].update(size=2),
     r"saes\.text-topk-x4\.size: 2 \(d_sae 1536\), not larger than saes\.text-topk-x2\.size 2"),
    (lambda r: r["saes"]["text-topk-x2"].update(size=8),
     r"saes\.text-topk-x4\.size: 4 \(d_sae 3072\), not larger than saes\.text-topk-x2\.size 8"),
    (lambda r: r["saes"]["text-topk-x2"].update(model="culture-0", domain="culture"),
     r"saes\.text-topk-x2\.model: 'culture-0', but saes\.text-topk-x1\.model is 'text'"),
    (lambda r: r["saes"]["text-topk-x4"].update(k=16),
     r"saes\.text-topk-x4\.k: 16, but saes\.text-topk-x1\.k is 32; the members of family "
     r"text-topk differ in size only"),
    (lambda r: r["saes"]["text-topk-x2"].update(architecture="batchtopk"),
     r"saes\.text-topk-x2\.architecture: 'batchtopk', but saes\.text-topk-x1\.architecture"),
    (lambda r: r["saes"]["text-topk-x2"].update(lr=0.001),
     r"saes\.text-topk-x2\.lr: 0\.001, but saes\.text-topk-x1\.lr is 0\.0004"),
    (lambda r: r["saes"]["text-topk-x2"].update(d_sae=4096),
     r"saes\.text-topk-x2\.d_sae: given, but a family member's d_sae is its size × d_in"),
    (lambda r: r["saes"]["text-topk-x2"].update(family="nope"),
     r"saes\.text-topk-x2\.family: unknown family 'nope'; expected one of `families` "
     r"\['text-topk'\]"),
    (lambda r: r["saes"]["text-topk-x2"].pop("family"),
     r"saes\.text-topk-x2\.family: missing; a member of a family gives both"),
    (lambda r: r["saes"]["text"].update(size=2), r"saes\.text\.family: missing"),
    (lambda r: r["families"].update(lonely={"min_cosine": 0.7, "trees": 2}),
     r"families\.lonely: 0 member\(s\); a family needs two or more `saes` entries with "
     r"family: lonely"),
    (lambda r: [r["saes"].pop(m) for m in ("text-topk-x2", "text-topk-x4")],
     r"families\.text-topk: 1 member\(s\)"),
    (lambda r: r["families"]["text-topk"].update(min_cosine=1.5),
     r"families\.text-topk\.min_cosine: Input should be less than 1"),
    (lambda r: r["families"]["text-topk"].pop("trees"), r"families\.text-topk\.trees: missing"),
    (lambda r: r["families"].update({"Bad Name": r["families"]["text-topk"]}),
     r"families\.Bad Name: family names must match"),
])
def test_a_bad_family_is_refused_naming_the_key(edit, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(with_family(edit))


@pytest.mark.parametrize("value,ok", [("auto", True), ("cpu", True), ("cuda", True),
                                      ("cuda:3", True), ("mps", True), ("gpu", False),
                                      ("cuda:", False), ("cuda:x", False)])
def test_device_is_auto_cpu_cuda_one_gpu_or_mps(value, ok):
    r = raw()
    r["sae"]["device"] = value
    if ok:
        parse_params(r)
    else:
        with pytest.raises(ParamsError, match=r"sae\.device"):
            parse_params(r)
