"""The report's toy section summarises whatever sweeps have metrics, and is absent without."""

import json

from conftest import section
from dictlearn.report.toy import toy_html
from dictlearn.toy.config import ToySweep
from dictlearn.toy.results import metrics_json, write_plots


def row(f):
    return {"loss": 1 - f, "mono_neurons": int(64 * f), "mono_fraction": f,
            "mono_per_feature": f / 2, "features_with_mono_neuron": int(32 * f),
            "features_decoded": 3, "mean_bias": -f}


def write_metrics(folder):
    """metrics/toy/K1/metrics.json as stage toy writes it (timings go to timing.json)."""
    sweep = ToySweep.model_validate(section("toy", "defaults") | {"vary": "k",
                                                                   "values": [64, 16]})
    rows = [row(0.5), row(0.25)]
    (folder / "K1").mkdir(parents=True)
    (folder / "K1" / "metrics.json").write_text(json.dumps(metrics_json(sweep, rows, 20)))
    return sweep, rows


def test_toy_metrics_and_plots(tmp_path):
    sweep, rows = write_metrics(tmp_path / "toy")
    metrics = json.loads((tmp_path / "toy" / "K1" / "metrics.json").read_text())
    assert metrics["variable"] == "k" and metrics["steps"] == 20
    assert "seconds" not in metrics  # machine-dependent: stage toy writes timing.json
    assert metrics["best"] == {"k": 64, **rows[0]}
    assert metrics["members"]["1"] == {"k": 16, **rows[1]}
    write_plots(tmp_path / "plots", sweep, rows)
    lines = (tmp_path / "plots" / "mono_fraction.tsv").read_text().splitlines()
    assert lines == ["k\tmono_fraction", "16\t0.25", "64\t0.5"]


def test_toy_section(tmp_path):
    assert toy_html(tmp_path / "toy") == "" and toy_html(None) == ""
    write_metrics(tmp_path / "toy")
    html = toy_html(tmp_path / "toy")
    assert 'id="toy"' in html and ">K1<" in html and "k=16" in html and "k=64" in html
    assert "12.5" not in html
    # the seconds column reads timing.json, beside the metrics
    (tmp_path / "toy" / "K1" / "timing.json").write_text(json.dumps({"seconds": 12.5}))
    assert "12.5" in toy_html(tmp_path / "toy")
