"""train_sae killed with SIGKILL and re-run continues from its last checkpoint and ends with the
SAE, metrics and curves of an uninterrupted run (CPU, fixed seed): ReLU with its resampling
across the checkpoint, BatchTopK with its running threshold."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, kill_at_checkpoint
from sae_fixtures import run_for, sparse_store

STEPS, EVERY = 600, 60
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def acts(tmp_path_factory):
    root = tmp_path_factory.mktemp("acts")
    sparse_store(root / "blocks.0.mlp.hook_post.zarr")
    return root


def command(acts, out, name):
    out.mkdir(parents=True, exist_ok=True)
    # 512 latents for 32 true directions: many die, so ReLU resamples across the checkpoint
    run = run_for(name, training_tokens=256 * STEPS, checkpoint_every=EVERY, resample_every=100,
                  resample_until=0.6, d_sae=512, l1_coeff=3.0)
    (out / "settings.json").write_text(run.model_dump_json())
    return [sys.executable, str(ROOT / "stages" / "train_sae.py"), "--name", name, "--settings",
            str(out / "settings.json"), "--acts", str(acts), "--out", str(out / "sae"),
            "--metrics", str(out / "metrics"), "--resume", str(out / "resume")]


@pytest.mark.parametrize("name", ["relu", "batchtopk"])
def test_a_killed_sae_run_resumes_to_the_same_sae(acts, tmp_path, name):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(acts, whole, name), check=True, capture_output=True, env=ENV)
    assert [p.name for p in (whole / "resume").iterdir()] == ["README"]  # nothing left over

    state = killed / "resume" / "state" / "state.json"
    kill_at_checkpoint(command(acts, killed, name), state,
                       lambda m: m["steps_done"] >= 3 * EVERY, ENV)
    assert not (killed / "sae").exists()  # killed: no finished output
    done = json.loads(state.read_text())["steps_done"]
    assert 3 * EVERY <= done < STEPS

    log = subprocess.run(command(acts, killed, name), check=True, capture_output=True,
                         text=True, env=ENV).stdout
    assert f"resuming from the checkpoint after step {done}" in log
    for file in ("sae_weights.safetensors", "sparsity.safetensors", "cfg.json"):
        assert (killed / "sae" / file).read_bytes() == (whole / "sae" / file).read_bytes(), file
    metrics = [json.loads((d / "metrics/metrics.json").read_text()) for d in (whole, killed)]
    assert metrics[0] == metrics[1] and (name != "relu" or metrics[0]["resampled"] > 0)
    for curve in ("train/mse.tsv", "train/l0.tsv", "train/dead_fraction.tsv"):
        assert ((killed / "metrics/plots/metrics" / curve).read_text()
                == (whole / "metrics/plots/metrics" / curve).read_text()), curve
    assert [p.name for p in (killed / "resume").iterdir()] == ["README"]
