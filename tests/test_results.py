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


def test_culture_models_get_a_table_of_quiz_accuracy_per_task(tmp_path):
    from dictlearn.results import quiz_table

    (tmp_path / "culture-0/train_lm").mkdir(parents=True)
    (tmp_path / "culture-0/train_lm/metrics.json").write_text(json.dumps({
        "accuracy_greedy": 0.1, "cell_accuracy_greedy": 0.9, "accuracy_frame_greedy": 0.5,
        "cell_accuracy_frame_greedy": 0.98, "accuracy_order0_greedy": 0.2,
        "accuracy_frame_t1": 0.1, "cell_accuracy_frame_t1": 0.9}))
    assert quiz_table(tmp_path) == ["| model | frame |", "|---|---|",
                                    "| culture-0 | 0.50 (0.980) |"]
    assert quiz_table(tmp_path / "nothing") == []
