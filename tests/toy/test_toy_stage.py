"""Stage toy@<sweep>: a bad sweep stops it before any work, naming the param; a good one
writes weights, metrics, plots and curves."""

import json
import subprocess
import sys

import yaml
from safetensors.torch import load_file

from conftest import ROOT


def run(tmp_path, sweep, params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, str(ROOT / "stages" / "toy.py"), "--sweep", sweep,
                           "--out", f"data/toy/{sweep}", "--metrics", f"metrics/toy/{sweep}"],
                          cwd=tmp_path, capture_output=True, text=True)


def ci():
    return yaml.safe_load((ROOT / "profiles" / "ci.yaml").read_text())


def test_empty_values_stop_the_stage(tmp_path):
    params = ci()
    params["toy"]["sweeps"]["LR1"]["values"] = []
    proc = run(tmp_path, "LR1", params)
    assert proc.returncode == 2 and "toy.sweeps.LR1.values" in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "metrics").exists()


def test_unknown_sweep_is_named(tmp_path):
    proc = run(tmp_path, "LR9", ci())
    assert proc.returncode == 2 and "toy.sweeps.LR9: no such sweep" in proc.stderr


def test_ci_sweep_writes_its_outputs(tmp_path):
    proc = run(tmp_path, "K1", ci())
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "metrics/toy/K1/metrics.json").read_text())
    assert metrics["variable"] == "k" and [m["k"] for m in metrics["members"].values()] == [16, 32]
    assert (tmp_path / "metrics/toy/K1/plots/mono_fraction.tsv").read_text().startswith("k\t")
    assert (tmp_path / "metrics/toy/K1/training.tsv").is_file()
    w = load_file(str(tmp_path / "data/toy/K1/weights.safetensors"))
    assert w["1.W_in"].shape == (32, 16) and w["0.single_feature_activations"].shape == (16, 64)
