"""train_lm killed with SIGKILL and re-run continues from its last checkpoint and ends with the
weights, metrics and curves of an uninterrupted run (CPU, fixed seed)."""

import json
import os
import subprocess
import sys

from conftest import ROOT, TINY_LM, kill_at_checkpoint
from dictlearn.lm.config import ModelSpec, TrainLMSettings

CFG = TINY_LM.model_copy(update={"steps": 300, "eval_every": 100, "checkpoint_every": 50,
                                 "precision": "fp32", "compile": False, "warmup_steps": 20})


def command(prepared, out):
    out.mkdir(parents=True, exist_ok=True)
    settings = out / "settings.json"
    settings.write_text(TrainLMSettings(model=ModelSpec(domain="text", seed=0),
                                        train=CFG).model_dump_json())
    return [sys.executable, str(ROOT / "stages" / "train_lm.py"), "--model", "tiny",
            "--settings", str(settings), "--prepared", str(prepared), "--out", str(out / "model"),
            "--metrics", str(out / "metrics"), "--resume", str(out / "resume")]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_a_killed_run_resumes_to_the_same_weights(prepared, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(prepared, whole), check=True, capture_output=True, env=ENV)
    assert [p.name for p in (whole / "resume").iterdir()] == ["README"]  # nothing left over

    state = killed / "resume" / "state" / "state.json"
    kill_at_checkpoint(command(prepared, killed), state, lambda m: m["steps_done"] >= 100, ENV)
    assert not (killed / "model").exists()  # killed: no finished output
    done = json.loads(state.read_text())["steps_done"]
    assert 100 <= done < CFG.steps

    log = subprocess.run(command(prepared, killed), check=True, capture_output=True, text=True,
                         env=ENV).stdout
    assert f"resuming from the checkpoint after step {done}" in log
    assert ((killed / "model" / "model.safetensors").read_bytes()
            == (whole / "model" / "model.safetensors").read_bytes())
    assert (json.loads((killed / "metrics" / "metrics.json").read_text())
            == json.loads((whole / "metrics" / "metrics.json").read_text()))
    for curve in ("train/loss.tsv", "val/loss.tsv"):
        assert ((killed / "metrics/plots/metrics" / curve).read_text()
                == (whole / "metrics/plots/metrics" / curve).read_text()), curve
    assert [p.name for p in (killed / "resume").iterdir()] == ["README"]


def test_a_checkpoint_of_other_settings_is_not_resumed(prepared, tmp_path):
    from dictlearn.lm.resume import Checkpoints

    ckpt = Checkpoints(tmp_path, "key-a", 10)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text(json.dumps({"key": "key-b"}))
    assert ckpt.load() is None and not (tmp_path / "state").exists()
