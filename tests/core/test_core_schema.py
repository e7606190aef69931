"""dictlearn.core: a stage reads its resolved settings with `load_settings` (a clear error, not a
traceback, when the file is missing or stale), `problems` names each bad key, and
`stage_main` turns the two user-fixable errors into one line and exit code 2."""

import json
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from dictlearn.core.errors import InputError, ParamsError, damaged, restore_hint
from dictlearn.core.runtime import pick_device, seed_everything
from dictlearn.core.schema import PositiveInt, Strict, load_settings, problems


class Inner(Strict):
    size: PositiveInt


class Settings(Strict):
    name: str
    inner: Inner


def test_load_settings_validates_the_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "a", "inner": {"size": 3}}))
    assert load_settings(path, Settings) == Settings(name="a", inner=Inner(size=3))


@pytest.mark.parametrize("content", [None, "{not json", '{"name": "a"}',
                                     '{"name": "a", "inner": {"size": 3}, "extra": 1}'])
def test_load_settings_names_the_file_and_the_remedy(tmp_path, content):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=r"s\.json: not the settings check_params writes .*"
                                         r"run `dvc repro check_params`"):
        load_settings(path, Settings)


def test_problems_name_the_full_key():
    with pytest.raises(ValidationError) as err:
        Settings.model_validate({"inner": {"size": 0, "colour": "red"}})
    lines = problems(err.value, "section")
    assert any(line.startswith("section.name: missing") for line in lines)
    assert any(line.startswith("section.inner.size: Input should be greater than 0 (got 0)")
               for line in lines)
    assert any(line.startswith("section.inner.colour: unknown key") for line in lines)
    assert all(line.startswith("name") or "." in line for line in problems(err.value))


def test_strict_settings_are_frozen_and_refuse_unknown_keys():
    s = Settings(name="a", inner=Inner(size=1))
    with pytest.raises(ValidationError):
        s.name = "b"
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Inner(size=1, colour="red")


def test_errors_are_value_errors():
    assert issubclass(ParamsError, ValueError) and issubclass(InputError, ValueError)


@pytest.mark.parametrize("path, out, stage", [
    ("data/saes/text-topk-16/sae_weights.safetensors", "data/saes/text-topk-16",
     "train_sae@text-topk-16"),
    ("data/acts/culture-0/blocks.1.mlp.hook_post.zarr/acts", "data/acts/culture-0",
     "cache_acts@culture-0"),
    ("data/prepared/strokes/dataset", "data/prepared/strokes", "prepare@strokes"),
    ("data/corpus/manifest.json", "data/corpus", "fetch_corpus"),
    ("data/params/train_sae/text.json", "data/params", "check_params"),
])
def test_a_damaged_output_names_the_commands_that_restore_it(path, out, stage):
    assert restore_hint(path) == (f"restore it with `dvc checkout {out}`, or rebuild it with "
                                  f"`dvc repro -f {stage}`")
    err = damaged(path, OSError("bad header\nmore"), "the thing")
    assert isinstance(err, InputError)
    assert str(err).startswith(f"{path}: the thing is damaged (OSError: bad header); ")
    assert "\n" not in str(err)


def test_outside_the_pipeline_the_hint_is_generic(tmp_path):
    assert restore_hint(tmp_path / "x.safetensors") == (
        "restore it with `dvc checkout`, or re-run the stage that writes it")


def test_pick_device_and_seed():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="'cuda' was requested"):
            pick_device("cuda")
    with pytest.raises(InputError, match=r"'cuda:7' was requested but \d+ CUDA device"):
        pick_device("cuda:7")  # no machine here has eight GPUs
    if not torch.backends.mps.is_available():
        with pytest.raises(InputError, match="'mps' was requested"):
            pick_device("mps")
    a = torch.randn(3, generator=seed_everything(5))
    assert torch.equal(a, torch.randn(3, generator=seed_everything(5)))


STAGE = """
from dictlearn.core.runtime import stage_main
from dictlearn.core.errors import {error}

@stage_main
def main():
    raise {error}("params.yaml: sae.l1_coeff: bad")

main()
"""


@pytest.mark.parametrize("error", ["ParamsError", "InputError"])
def test_stage_main_prints_one_line_and_exits_2(error):
    proc = subprocess.run([sys.executable, "-c", STAGE.format(error=error)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == "error: params.yaml: sae.l1_coeff: bad\n"
