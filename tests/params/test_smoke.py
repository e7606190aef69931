"""The smoke profile: every count shrunk, every shape kept, still a valid params file."""

import pytest

from conftest import ROOT, profile
from dictlearn.core.errors import ParamsError
from dictlearn.params.schema import parse_params
from dictlearn.params.smoke import COUNTS, nodes, make_repo, shrink

SHAPES = ("n_layer", "n_head", "n_embd", "batch_size", "precision")


@pytest.mark.parametrize("name", ["gpu", "default", "ci"])
def test_shrink_keeps_every_shape_and_entry(name):
    full = profile(name)
    small = shrink(full)
    parse_params(small, name)
    assert small["models"] == full["models"] and small["saes"] == full["saes"]
    for key in ("d_sae", "batch_size", "architecture", "site", "layer"):
        assert small["sae"][key] == full["sae"][key]
    for domain, lm in full["train_lm"].items():
        assert {k: small["train_lm"][domain][k] for k in SHAPES} == {k: lm[k] for k in SHAPES}
        assert small["train_lm"][domain]["steps"] <= min(lm["steps"], 2)
    for domain, prep in full["prepare"].items():
        for key in ("seq_len", "vocab_size", "max_len", "tasks"):
            assert small["prepare"][domain].get(key) == prep.get(key)
    assert small["sae"]["training_tokens"] <= 3 * small["sae"]["batch_size"]
    assert set(small["toy"]["sweeps"]) == set(full["toy"]["sweeps"])
    assert all(len(s["values"]) <= 2 for s in small["toy"]["sweeps"].values())


def test_every_shrunk_count_is_a_knob_of_the_gpu_profile():
    gpu = profile("gpu")
    for path, counts in COUNTS.items():
        found = list(nodes(gpu, path))
        assert found, path
        for node in found:  # a renamed knob would silently stop shrinking
            assert set(counts) <= set(node), path


def test_bad_profile_or_used_directory_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ParamsError, match="profiles/nope.yaml: no such profile"):
        make_repo("nope", tmp_path / "a", ROOT)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    with pytest.raises(ParamsError, match="exists and is not empty"):
        make_repo("gpu", tmp_path / "b", ROOT)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["keep.txt"]
    assert not (tmp_path / "a").exists()
