import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from dictlearn.config import ParamsError, load_params, parse_params


def raw(profile="default"):
    return yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())


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
    r["train_lm"]["text"]["steps"] = -3
    with pytest.raises(ParamsError) as err:
        parse_params(r)
    msg = str(err.value)
    assert "sae.l1_coeff" in msg and "'lots'" in msg
    assert "train_lm.text.steps" in msg and "greater than 0" in msg


def test_cross_section_checks():
    r = raw()
    r["sae"]["layer"] = 7
    with pytest.raises(ParamsError, match=r"saes\.text: layer 7 is not cached"):
        parse_params(r)
    r = raw()
    r["models"]["x"] = {"domain": "poetry"}
    with pytest.raises(ParamsError, match=r"models\.x\.domain: unknown domain 'poetry'"):
        parse_params(r)


def test_each_sae_is_the_shared_settings_with_its_overrides():
    params = parse_params(raw())
    main, topk = params.sae_for("text"), params.sae_for("text-topk-16")
    assert main == params.sae and main.architecture == "relu"
    assert topk.architecture == "topk" and topk.k == 16 and topk.d_sae == params.sae.d_sae
    with pytest.raises(ParamsError, match="saes.nope: no such SAE"):
        params.sae_for("nope")


@pytest.mark.parametrize("entry, message", [
    ({"model": "text", "domain": "text", "l1_coef": 2.0}, r"saes\.bad\.l1_coef: unknown key"),
    ({"model": "text", "domain": "text", "architecture": "gated"},
     r"saes\.bad\.architecture: Input should be"),
    ({"model": "text", "domain": "text", "architecture": "topk", "k": 99999},
     r"saes\.bad: k: 99999 active latents need d_sae > k"),
    ({"model": "nope", "domain": "text"}, r"saes\.bad\.model: unknown model 'nope'"),
    ({"model": "text", "domain": "culture"}, r"saes\.bad\.domain: 'culture', but models\.text"),
    ({"domain": "text"}, r"saes\.bad\.model: Field required"),
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


def test_stage_rejects_bad_params_before_touching_outputs(tmp_path):
    r = raw("ci")
    r["sae"]["architecture"] = "gated-typo"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(r))
    out = tmp_path / "saes"
    out.mkdir()
    (out / "cfg.json").write_text("{\"old\": true}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train_sae.py"), "--name", "text",
         "--acts", "nowhere", "--out", str(out), "--metrics", str(tmp_path / "m")],
        cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "sae.architecture" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "cfg.json").read_text() == "{\"old\": true}"
    assert not (tmp_path / "m").exists()


def test_profile_command_switches_params(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ci.yaml").write_text((ROOT / "profiles" / "ci.yaml").read_text())
    (tmp_path / "params.yaml").write_text("old: true\n")
    proc = subprocess.run([sys.executable, "-m", "dictlearn.profile", "ci"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "params.yaml").read_text() == (ROOT / "profiles" / "ci.yaml").read_text()
    proc = subprocess.run([sys.executable, "-m", "dictlearn.profile", "huge"], cwd=tmp_path,
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
