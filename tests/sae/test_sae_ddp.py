"""train_sae data-parallel: with `processes: 2` the stage runs itself again under torchrun (DDP,
gloo on CPU) and ends where the one-process run ends, in the same SAELens layout."""

import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from conftest import ROOT
from sae_fixtures import run_for, sparse_store


@pytest.fixture(scope="module")
def acts(tmp_path_factory):
    root = tmp_path_factory.mktemp("acts")
    sparse_store(root / "blocks.0.mlp.hook_post.zarr")
    return root


def train(acts, out, name, processes):
    run = run_for(name, processes=processes, training_tokens=256 * 120, resample_every=40)
    out.mkdir(parents=True)
    (out / "settings.json").write_text(run.model_dump_json())
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train_sae.py"), "--name", name, "--settings",
         str(out / "settings.json"), "--acts", str(acts), "--out", str(out / "sae"),
         "--metrics", str(out / "metrics")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", ["relu", "topk"])
def test_two_processes_follow_one(acts, tmp_path, name):
    one, two = (train(acts, tmp_path / f"p{n}", name, n) for n in (1, 2))
    m1, m2 = (json.loads((d / "metrics/metrics.json").read_text()) for d in (one, two))
    assert m1 == pytest.approx(m2, rel=1e-4)  # steps, input scale, features resampled
    c1, c2 = (json.loads((d / "sae/cfg.json").read_text()) for d in (one, two))
    assert c1.keys() == c2.keys() and c1["metadata"].keys() == c2["metadata"].keys()
    assert c1["metadata"]["input_scale"] == pytest.approx(c2["metadata"]["input_scale"])
    for file in ("sae_weights.safetensors", "sparsity.safetensors"):
        w1, w2 = (load_file(str(d / "sae" / file)) for d in (one, two))
        assert w1.keys() == w2.keys()
        for k in w1:
            assert w1[k].shape == w2[k].shape
            assert (w1[k] - w2[k]).abs().max() < 1e-3, (file, k)
    curves = [(d / "metrics/plots/metrics/train/mse.tsv").read_text().splitlines()
              for d in (one, two)]
    assert len(curves[0]) == len(curves[1]) > 2
    for a, b in zip(curves[0][1:], curves[1][1:]):
        assert float(b.split("\t")[1]) == pytest.approx(float(a.split("\t")[1]), rel=1e-3)
