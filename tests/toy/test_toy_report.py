"""The report's toy section summarises whatever sweeps have metrics, and is absent without."""

import json

from dictlearn.config import ToySweep
from dictlearn.report.toy import toy_html
from dictlearn.toy.outputs import metrics_json, write_plots


def row(f):
    return {"loss": 1 - f, "mono_neurons": int(64 * f), "mono_fraction": f,
            "mono_per_feature": f / 2, "features_with_mono_neuron": int(32 * f),
            "features_decoded": 3, "mean_bias": -f}


def test_toy_section(tmp_path):
    assert toy_html(tmp_path / "toy") == "" and toy_html(None) == ""
    sweep = ToySweep(vary="k", values=[64, 16])
    rows = [row(0.5), row(0.25)]
    (tmp_path / "toy" / "K1").mkdir(parents=True)
    (tmp_path / "toy" / "K1" / "metrics.json").write_text(
        json.dumps(metrics_json(sweep, rows, 1.5, 20)))
    html = toy_html(tmp_path / "toy")
    assert 'id="toy"' in html and ">K1<" in html and "k=16" in html and "k=64" in html
    write_plots(tmp_path / "plots", sweep, rows)
    lines = (tmp_path / "plots" / "mono_fraction.tsv").read_text().splitlines()
    assert lines == ["k\tmono_fraction", "16\t0.25", "64\t0.5"]
