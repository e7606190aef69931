"""The frontier stage's tables and figure from eval metrics, one row per SAE."""

import csv
import json

import pytest

from conftest import profile
from dictlearn.analysis.frontier import COLUMNS, FrontierSettings, collect, draw, write_tables
from dictlearn.core.errors import InputError
from dictlearn.params import parse_params
from dictlearn.params.resolve import stage_settings


def frontier_settings(name):
    """What check_params writes for the frontier stage of profile `name`."""
    return FrontierSettings.model_validate(
        stage_settings(parse_params(profile(name)))["frontier.json"])


def metrics(l0, ev):
    return {"l0": l0, "explained_variance": ev, "ce_loss_recovered": ev - 0.05, "mse": 1 - ev,
            "shrinkage": 0.9, "dead_fraction": 0.0}


def test_frontier_rows_tables_and_png(tmp_path):
    params = frontier_settings("default")
    for i, name in enumerate(params.saes):
        (tmp_path / name / "eval").mkdir(parents=True)
        (tmp_path / name / "eval" / "metrics.json").write_text(
            json.dumps(metrics(100 / (i + 1), 0.6 + 0.02 * i)))
    rows = collect(params, tmp_path)
    assert len(rows) == len(params.saes)
    by_name = {r["sae"]: r for r in rows}
    assert by_name["text-topk-16"]["architecture"] == "topk"
    assert by_name["text-topk-16"]["knob"] == "k=16"
    assert by_name["text-relu-l1-6"]["knob"] == "l1_coeff=6"
    assert by_name["text"]["knob"] == f"l1_coeff={profile('default')['sae']['l1_coeff']:g}"
    assert by_name["text-jumprelu-l0-0_3"]["knob"] == "l0_coeff=0.3"
    # sorted by model, line, then L0 (a family: size): each line runs left to right
    lines = [(r["model"], r["line"]) for r in rows]
    assert lines == sorted(lines)
    for (model, line) in set(lines):
        mine = [r for r in rows if (r["model"], r["line"]) == (model, line)]
        assert [r["position"] for r in mine] == list(range(1, len(mine) + 1))
        if not line.startswith("family "):
            assert [r["l0"] for r in mine] == sorted(r["l0"] for r in mine)
    # a family's members: one line of their own, in size order, whatever their L0
    family = [r for r in rows if r["family"] == "text-topk"]
    assert {r["line"] for r in family} == {"family text-topk"} and len(family) >= 2
    assert [r["size"] for r in family] == sorted(r["size"] for r in family)
    # one line per architecture and site: the residual-stream SAE has its own beside the MLP's
    assert all(r["line"] == f"{r['architecture']} @ {r['site']}.{r['layer']}"
               for r in rows if not r["family"])
    assert by_name["text-resid-pre"]["line"] == "topk @ resid_pre.1"
    assert by_name["text-topk-16"]["line"] == "topk @ mlp_post.1"
    write_tables(rows, tmp_path)
    with open(tmp_path / "ce_loss_recovered.tsv", newline="") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert list(table[0]) == COLUMNS and len(table) == len(rows)
    draw(rows, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_metrics_name_the_sae_and_its_stage(tmp_path):
    params = frontier_settings("ci")
    with pytest.raises(InputError, match=r"run eval_sae@text"):
        collect(params, tmp_path)
