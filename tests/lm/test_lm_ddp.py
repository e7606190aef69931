"""train_lm data-parallel: with `processes: 2` the stage runs itself again under torchrun (DDP,
gloo on CPU) and ends where the one-process run ends, in the same checkpoint format."""

import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from conftest import ROOT, TINY_LM
from dictlearn.lm.config import ModelSpec, TrainLMSettings


def train(prepared, tmp_path, processes: int):
    out = tmp_path / f"p{processes}"
    cfg = TINY_LM.model_copy(update={"processes": processes, "precision": "fp32",
                                     "compile": False, "eval_every": 10})
    settings = out / "settings.json"
    out.mkdir()
    settings.write_text(TrainLMSettings(model=ModelSpec(domain="text", seed=0),
                                        train=cfg).model_dump_json())
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train_lm.py"), "--model", "tiny", "--settings",
         str(settings), "--prepared", str(prepared), "--out", str(out / "model"),
         "--metrics", str(out / "metrics")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_two_processes_follow_one(prepared, tmp_path):
    one, _ = train(prepared, tmp_path, 1)
    two, log = train(prepared, tmp_path, 2)
    assert "2 processes" in log
    m1 = json.loads((one / "metrics" / "metrics.json").read_text())
    m2 = json.loads((two / "metrics" / "metrics.json").read_text())
    assert m1["train_tokens"] == m2["train_tokens"]
    assert m2["val_loss"] == pytest.approx(m1["val_loss"], rel=1e-4)
    # the same checkpoint: same files, same tensors, weights equal to float tolerance
    assert sorted(p.name for p in (one / "model").iterdir()) == sorted(
        p.name for p in (two / "model").iterdir())
    w1, w2 = (load_file(str(d / "model" / "model.safetensors")) for d in (one, two))
    assert w1.keys() == w2.keys()
    for k in w1:
        assert w1[k].shape == w2[k].shape and w1[k].dtype == w2[k].dtype
        assert (w1[k] - w2[k]).abs().max() < 1e-3, k
    # the curves are rank 0's alone, the batch's loss averaged over the processes' shares
    curves = [(d / "metrics/plots/metrics/train/loss.tsv").read_text().splitlines()
              for d in (one, two)]
    assert len(curves[0]) == len(curves[1]) > 2
    for a, b in zip(curves[0][1:], curves[1][1:]):
        assert float(b.split("\t")[1]) == pytest.approx(float(a.split("\t")[1]), rel=1e-3)


def test_processes_must_divide_the_batch():
    with pytest.raises(ValueError, match="processes: 3 does not divide batch_size"):
        TINY_LM.model_validate(TINY_LM.model_dump() | {"processes": 3})
