"""The README's results come from the committed metrics/ (python -m dictlearn.results)."""

import json

from conftest import ROOT
from dictlearn import results


def test_readme_matches_the_committed_metrics():
    assert results.main(["--readme", str(ROOT / "README.md"), "--metrics",
                         str(ROOT / "metrics"), "--check"]) == 0, \
        "README.md results differ from metrics/: run `python -m dictlearn.results`"


def test_a_changed_metric_makes_the_check_fail(tmp_path):
    metrics = tmp_path / "metrics" / "saes" / "x" / "eval"
    metrics.mkdir(parents=True)
    values = {"l0": 12.0, "explained_variance": 0.8, "ce_loss_recovered": 0.9,
              "dead_fraction": 0.01}
    (metrics / "metrics.json").write_text(json.dumps(values))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.START}\n{results.END}\nrest\n")
    assert results.main(["--readme", str(readme), "--metrics", str(tmp_path / "metrics")]) == 0
    assert "| x | 12.0 | 0.800 | 0.900 | 0.010 | – |" in readme.read_text()
    assert results.main(["--readme", str(readme), "--metrics", str(tmp_path / "metrics"),
                         "--check"]) == 0
    (metrics / "metrics.json").write_text(json.dumps({**values, "l0": 40.0}))
    assert results.main(["--readme", str(readme), "--metrics", str(tmp_path / "metrics"),
                         "--check"]) == 1
    assert readme.read_text().startswith("intro\n") and readme.read_text().endswith("rest\n")
