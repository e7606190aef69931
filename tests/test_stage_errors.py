"""Stages fail before any work with one line naming the missing or corrupt input."""

import subprocess
import sys


from conftest import ROOT


def run_stage(tmp_path, script, *args):
    (tmp_path / "params.yaml").write_text((ROOT / "profiles" / "ci.yaml").read_text())
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=tmp_path,
                          capture_output=True, text=True)


def test_missing_activation_store(tmp_path):
    proc = run_stage(tmp_path, "train_sae.py", "--name", "text", "--acts", "data/acts/text",
                     "--out", "saes", "--metrics", "m")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "data/acts/text/blocks.1.mlp.hook_post.zarr: not a zarr v3 activation store" in proc.stderr
    assert not (tmp_path / "saes").exists()


def test_corrupt_corpus_manifest(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "manifest.json").write_text("{not json")
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "keep.txt").write_text("old output")
    proc = run_stage(tmp_path, "prepare.py", "--domain", "text", "--inputs", "corpus",
                     "--out", "prepared")
    assert proc.returncode == 2 and "corpus/manifest.json: not valid JSON" in proc.stderr
    assert (tmp_path / "prepared" / "keep.txt").read_text() == "old output"


def test_missing_checkpoint(tmp_path):
    proc = run_stage(tmp_path, "cache_acts.py", "--model", "text", "--checkpoint", "nope",
                     "--prepared", "nope", "--out", "acts")
    assert proc.returncode == 2 and "nope" in proc.stderr and "Traceback" not in proc.stderr
