"""Stage toy@<sweep>: a bad sweep stops the pipeline at check_params before any work, naming
the param; a good one writes weights, metrics, plots and curves (timings apart)."""

import json
import re
import subprocess
import sys

import yaml
from safetensors.torch import load_file

from conftest import ROOT, profile


def check_params(tmp_path, params):
    """stages/check_params.py as dvc.yaml runs it: params.yaml → data/params/."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, str(ROOT / "stages" / "check_params.py"),
                           "--out", "data/params"], cwd=tmp_path, capture_output=True, text=True)


def run(tmp_path, sweep):
    return subprocess.run([sys.executable, str(ROOT / "stages" / "toy.py"), "--sweep", sweep,
                           "--settings", f"data/params/toy/{sweep}.json",
                           "--out", f"data/toy/{sweep}", "--metrics", f"metrics/toy/{sweep}"],
                          cwd=tmp_path, capture_output=True, text=True)


def test_empty_values_stop_the_pipeline_before_the_stage(tmp_path):
    params = profile("ci")
    params["toy"]["sweeps"]["LR1"]["values"] = []
    proc = check_params(tmp_path, params)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(r"toy\W+sweeps\.LR1\.values", proc.stderr), proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "metrics").exists()


def test_unknown_sweep_is_named(tmp_path):
    assert check_params(tmp_path, profile("ci")).returncode == 0
    assert sorted(p.stem for p in (tmp_path / "data/params/toy").iterdir()) == ["K1", "LR1"]
    proc = run(tmp_path, "LR9")
    assert proc.returncode == 2 and "data/params/toy/LR9.json" in proc.stderr
    assert "Traceback" not in proc.stderr and "check_params" in proc.stderr
    assert not (tmp_path / "data/toy").exists() and not (tmp_path / "metrics").exists()


def test_ci_sweep_writes_its_outputs(tmp_path):
    assert check_params(tmp_path, profile("ci")).returncode == 0
    settings = json.loads((tmp_path / "data/params/toy/K1.json").read_text())
    assert settings["sweep"]["vary"] == "k" and "sweeps" not in settings
    proc = run(tmp_path, "K1")
    assert proc.returncode == 0, proc.stderr
    timing = json.loads((tmp_path / "metrics/toy/K1/timing.json").read_text())
    assert timing["seconds"] > 0
    metrics = json.loads((tmp_path / "metrics/toy/K1/metrics.json").read_text())
    assert "seconds" not in metrics
    assert metrics["variable"] == "k" and [m["k"] for m in metrics["members"].values()] == [16, 32]
    assert (tmp_path / "metrics/toy/K1/plots/mono_fraction.tsv").read_text().startswith("k\t")
    assert (tmp_path / "metrics/toy/K1/training.tsv").is_file()
    w = load_file(str(tmp_path / "data/toy/K1/weights.safetensors"))
    assert w["1.W_in"].shape == (32, 16) and w["0.single_feature_activations"].shape == (16, 64)

