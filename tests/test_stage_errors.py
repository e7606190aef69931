"""Stages fail before any work with one line naming the missing, corrupt or damaged input and
the command that restores it, and write nothing."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from dictlearn.acts.store import ActivationWriter, store_path


@pytest.fixture
def workdir(tmp_path):
    """A folder with the ci profile as params.yaml and check_params' settings in data/params."""
    (tmp_path / "params.yaml").write_text((ROOT / "profiles" / "ci.yaml").read_text())
    proc = run(tmp_path, "check_params.py", "--out", "data/params")
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def run(cwd, script, *args):
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)


def one_clear_line(proc, *needles):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1, proc.stderr[-2000:]
    for needle in needles:
        assert needle in line[0], line[0]
    return line[0]


def train_sae(cwd, acts):
    return run(cwd, "train_sae.py", "--name", "text", "--settings",
               "data/params/train_sae/text.json", "--acts", str(acts), "--out", "data/saes/text",
               "--metrics", "metrics/saes/text/train")


def test_missing_activation_store(workdir):
    proc = train_sae(workdir, "data/acts/text")
    one_clear_line(proc, "data/acts/text/blocks.1.mlp.hook_post.zarr: not a zarr v3 activation",
                   "dvc checkout data/acts/text", "dvc repro -f cache_acts@text")
    assert not (workdir / "data/saes/text").exists()


def test_corrupted_shard_names_the_store_and_the_fix(workdir):
    acts = workdir / "data/acts/text"
    w = ActivationWriter(store_path(acts, "blocks.1.mlp.hook_post"), 4096, 16, 256, 4, {})
    rng = np.random.default_rng(0)
    for _ in range(4):
        w.append(rng.standard_normal((1024, 16)).astype(np.float16),
                 token_ids=np.zeros(1024, np.int32), seq=np.zeros(1024, np.int32),
                 pos=np.zeros(1024, np.int16), label=np.zeros(1024, np.int16))
    w.close()
    shard = next((store_path(acts, "blocks.1.mlp.hook_post") / "acts" / "c").rglob("*"))
    while shard.is_dir():
        shard = next(shard.iterdir())
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # a torn write
    proc = train_sae(workdir, "data/acts/text")
    one_clear_line(proc, "hook_post.zarr/acts: a shard of the activation store is damaged",
                   "dvc checkout data/acts/text", "dvc repro -f cache_acts@text")
    assert not (workdir / "data/saes/text").exists()
    assert not (workdir / "metrics/saes/text/train").exists()


def cache_acts(cwd):
    return run(cwd, "cache_acts.py", "--model", "text", "--settings",
               "data/params/cache_acts/text.json", "--checkpoint", "data/models/text",
               "--prepared", "data/prepared/text", "--out", "data/acts/text")


def test_truncated_model_weights(workdir, checkpoint, prepared):
    shutil.copytree(checkpoint, workdir / "data/models/text")
    shutil.copytree(prepared, workdir / "data/prepared/text")
    weights = workdir / "data/models/text/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    one_clear_line(cache_acts(workdir), "data/models/text", "damaged",
                   "dvc checkout data/models/text", "dvc repro -f train_lm@text")
    assert not (workdir / "data/acts/text").exists()


def test_missing_tokenizer(workdir, checkpoint, prepared):
    shutil.copytree(checkpoint, workdir / "data/models/text")
    shutil.copytree(prepared, workdir / "data/prepared/text")
    (workdir / "data/prepared/text/tokenizer.json").unlink()
    proc = run(workdir, "train_lm.py", "--model", "text", "--settings",
               "data/params/train_lm/text.json", "--prepared", "data/prepared/text",
               "--out", "data/models/new", "--metrics", "metrics/new")
    one_clear_line(proc, "data/prepared/text/tokenizer.json: tokenizer.json not found",
                   "dvc checkout data/prepared/text", "dvc repro -f prepare@text")
    assert not (workdir / "data/models/new").exists()


def test_corrupt_corpus_manifest(workdir):
    (workdir / "data/corpus").mkdir(parents=True)
    (workdir / "data/corpus/manifest.json").write_text("{not json")
    (workdir / "prepared").mkdir()
    (workdir / "prepared" / "keep.txt").write_text("old output")
    proc = run(workdir, "prepare.py", "--domain", "text", "--settings",
               "data/params/prepare/text.json", "--inputs", "data/corpus", "--out", "prepared")
    one_clear_line(proc, "data/corpus/manifest.json: not valid JSON")
    assert (workdir / "prepared" / "keep.txt").read_text() == "old output"


def test_families_name_a_missing_or_damaged_member_and_write_nothing(workdir):
    def families():
        return run(workdir, "families.py", "--settings", "data/params/families.json",
                   "--saes", "data/saes", "--out", "data/families", "--metrics",
                   "metrics/families")

    one_clear_line(families(), "data/saes/text-topk-x1/sae_weights.safetensors: SAE file not "
                   "found", "dvc checkout data/saes/text-topk-x1",
                   "dvc repro -f train_sae@text-topk-x1")
    (workdir / "data/saes/text-topk-x1").mkdir(parents=True)
    (workdir / "data/saes/text-topk-x1/sae_weights.safetensors").write_bytes(b"\x08truncated")
    one_clear_line(families(), "data/saes/text-topk-x1/sae_weights.safetensors: the SAE file is "
                   "damaged", "dvc repro -f train_sae@text-topk-x1")
    assert not (workdir / "data/families").exists()
    assert not (workdir / "metrics/families").exists()


def test_settings_not_written_by_check_params(tmp_path):
    (tmp_path / "s.json").write_text('{"max_tokens": 100}')
    proc = run(tmp_path, "cache_acts.py", "--model", "text", "--settings", "s.json",
               "--checkpoint", "x", "--prepared", "x", "--out", "acts")
    one_clear_line(proc, "s.json: not the settings check_params writes", "dvc repro check_params")


def test_bad_params_refused_before_anything_is_written(tmp_path):
    text = (ROOT / "profiles" / "ci.yaml").read_text().replace("  l1_coeff: 3.0", "  l1_coeff: -2")
    (tmp_path / "params.yaml").write_text(text)
    proc = run(tmp_path, "check_params.py", "--out", "data/params")
    one_clear_line(proc, "params.yaml: 1 problem(s)")
    assert "sae.l1_coeff: Input should be greater than 0 (got -2)" in proc.stderr
    assert not (tmp_path / "data").exists()
