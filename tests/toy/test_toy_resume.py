"""toy@<sweep> killed with SIGKILL and re-run continues from its checkpoint: the group of k it
had finished is taken as saved, the one it was training resumes, and the sweep ends with the
weights, metrics and curves of an uninterrupted run (CPU, fixed seed)."""

import json
import os
import subprocess
import sys

from conftest import ROOT, kill_at_checkpoint, section
from dictlearn.toy.config import Toy, ToySettings

STEPS, EVERY = 600, 40
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def command(out):
    out.mkdir(parents=True, exist_ok=True)
    toy = Toy.model_validate(section("toy") | {"steps": STEPS, "checkpoint_every": EVERY})
    settings = ToySettings(**toy.model_dump(exclude={"defaults", "sweeps"}), sweep=toy.sweep("K1"))
    (out / "settings.json").write_text(settings.model_dump_json())
    return [sys.executable, str(ROOT / "stages" / "toy.py"), "--sweep", "K1", "--settings",
            str(out / "settings.json"), "--out", str(out / "toy"), "--metrics",
            str(out / "metrics"), "--resume", str(out / "resume")]


def test_a_killed_sweep_resumes_to_the_same_weights(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(whole), check=True, capture_output=True, env=ENV)
    assert [p.name for p in (whole / "resume").iterdir()] == ["README"]  # nothing left over

    state = killed / "resume" / "state" / "state.json"
    # the first group (k=16) done, the second (k=32) some checkpoints in
    kill_at_checkpoint(command(killed), state, lambda m: m["done"] and (
        m["current"] or {}).get("step", 0) >= 2 * EVERY, ENV)
    assert not (killed / "toy").exists()  # killed: no finished output
    meta = json.loads(state.read_text())
    step = meta["current"]["step"]
    assert list(meta["done"]) == ["16"] and meta["current"]["k"] == 32 and step < STEPS

    log = subprocess.run(command(killed), check=True, capture_output=True, text=True,
                         env=ENV).stdout
    assert f"resuming from the checkpoint: k=16 trained, k=32 after step {step}" in log
    assert ((killed / "toy/weights.safetensors").read_bytes()
            == (whole / "toy/weights.safetensors").read_bytes())
    for file in ("metrics.json", "training.tsv", "plots/mono_fraction.tsv"):
        assert (killed / "metrics" / file).read_text() == (whole / "metrics" / file).read_text()
    assert [p.name for p in (killed / "resume").iterdir()] == ["README"]
