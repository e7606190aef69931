"""Feature splitting across a dictionary family, on synthetic dictionaries built by splitting
chosen parent directions into perturbed children: the split must recover exactly those
parents, and the trees must follow them down the family."""

import json
import math

import pytest
import torch

from dictlearn.analysis import family
from dictlearn.analysis.family import (Dictionary, FamilyMember, FamilySettings, best_parents,
                                       family_splits, split, split_trees)
from dictlearn.core.errors import InputError
from dictlearn.sae import build_sae, save_sae

Q = torch.linalg.qr(torch.randn(32, 32, generator=torch.Generator().manual_seed(0)))[0].T


def mix(*terms):
    """Σ weight · Q[axis] for (axis, weight) pairs: directions with known cosines."""
    return sum(w * Q[i] for i, w in terms)


# smallest: eight orthogonal parents at assorted norms (unit-normed before matching); 7 dead
SMALL = [mix((p, 0.3 + 0.1 * p)) for p in range(8)]
SMALL_DEAD = {7}
# middle: parent 0 split in three, parent 3 in two; 1, 2, 4 kept; 5 lost; 6 only loosely kept
# (cosine 0.55); a new direction; a feature along dead parent 7; a dead feature
MIDDLE = [mix((0, 1), (8, 0.2)), mix((0, 1), (9, 0.3)), mix((0, 1), (10, 0.4)),
          mix((3, 1), (11, 0.25)), mix((3, 1), (12, -0.35)), mix((1, 1), (13, 0.1)),
          mix((2, 1), (13, 0.1)), mix((4, 1), (13, 0.1)), mix((6, 1), (14, 1.5)),
          mix((15, 1)), mix((7, 1), (13, 0.1)), mix((0, 1), (16, 0.1))]
MIDDLE_DEAD = {11}
MIDDLE_PARENT = {0: 0, 1: 0, 2: 0, 3: 3, 4: 3, 5: 1, 6: 2, 7: 4}  # the close ones
PERM = torch.randperm(len(MIDDLE), generator=torch.Generator().manual_seed(1))  # where each lands


def dictionary(name, rows, dead=(), perm=None):
    w = torch.stack(rows)
    live = torch.ones(len(rows), dtype=torch.bool)
    live[list(dead)] = False
    if perm is not None:  # row i lands at perm[i]
        w, live = w[perm.argsort()], live[perm.argsort()]
    return Dictionary(name, family.unit_rows(w), live)


def small():
    return dictionary("s", SMALL, SMALL_DEAD)


def middle():
    return dictionary("m", MIDDLE, MIDDLE_DEAD, PERM)


def large():
    """Middle's first feature split in two, the rest kept (not the dead one)."""
    m0 = MIDDLE[0] / MIDDLE[0].norm()
    return dictionary("l", [m0 + 0.2 * Q[17], m0 - 0.25 * Q[18], *MIDDLE[1:11]])


def test_split_recovers_exactly_the_parents_it_was_built_from():
    s = split(small(), middle(), min_cosine=0.7)
    for i, p in MIDDLE_PARENT.items():
        assert int(s.parent[PERM[i]]) == p
    # the children of each parent, closest first (0 was split at 0.2, 0.3, 0.4: cos falls)
    assert s.children == {0: PERM[[0, 1, 2]].tolist(), 1: [int(PERM[5])], 2: [int(PERM[6])],
                          3: PERM[[3, 4]].tolist(), 4: [int(PERM[7])]}
    assert float(s.cosine[PERM[0]]) == pytest.approx(1 / math.sqrt(1.04))
    assert int(s.parent[PERM[8]]) == 6 and float(s.cosine[PERM[8]]) == pytest.approx(
        1 / math.sqrt(1 + 1.5 ** 2))  # its best parent, but too far to be its child
    assert s.metrics() == {
        "live_parents": 7, "live_features": 11,
        "mean_best_cosine": pytest.approx(float(s.cosine[s.parent >= 0].mean())),
        "close_fraction": pytest.approx(8 / 11), "mean_children": pytest.approx(8 / 5),
        "split_parents": 2}


def test_dead_features_are_neither_parents_nor_children():
    s = split(small(), middle(), min_cosine=0.7)
    dead = int(PERM[11])
    assert int(s.parent[dead]) == -1 and math.isnan(float(s.cosine[dead]))
    assert 7 not in s.parent.tolist()  # the dead parent: its direction's feature finds another
    along_dead = int(PERM[10])
    assert float(s.cosine[along_dead]) < 0.1 and along_dead not in sum(s.children.values(), [])


def test_nothing_live_measures_nothing():
    none = Dictionary("n", small().directions, torch.zeros(8, dtype=torch.bool))
    s = split(none, middle(), min_cosine=0.7)
    assert (s.parent == -1).all() and s.children == {}
    m = s.metrics()
    assert m["live_parents"] == 0 and m["live_features"] == 11
    assert m["mean_best_cosine"] is None and m["mean_children"] is None and m["split_parents"] == 0


def test_trees_follow_children_down_the_family_most_split_first():
    s, m, l_ = small(), middle(), large()
    splits = [split(s, m, 0.7), split(m, l_, 0.7)]
    roots = s.live.nonzero().squeeze(1)
    trees = split_trees(splits, roots, n=6)
    # parent 0: three children, the first split again in two (7 descendants); parent 3: two
    # children, one grandchild each (4); 1, 2 and 4 never split, 5 and 6 have no children
    assert [(t["feature"], t["descendants"]) for t in trees] == [(0, 7), (3, 4)]
    top = trees[0]
    assert top["cosine"] is None
    assert [c["feature"] for c in top["children"]] == PERM[[0, 1, 2]].tolist()
    assert [g["feature"] for g in top["children"][0]["children"]] == [0, 1]  # large's own
    assert top["children"][1]["children"][0] == {"feature": 2, "cosine": 1.0, "descendants": 0,
                                                 "children": []}  # kept as it was
    assert split_trees(splits, roots, n=1) == trees[:1]


def test_blocks_of_children_give_the_same_parents(monkeypatch):
    parents, kids = small().directions, middle().directions
    whole = best_parents(parents, kids)
    monkeypatch.setattr(family, "CHUNK", 5)
    index, cosine = best_parents(parents, kids)
    assert torch.equal(index, whole[0])
    assert torch.allclose(cosine, whole[1], rtol=0, atol=1e-12)  # float64: to the last bits


def save(folder, rows, dead=()):
    """An SAE saved as train_sae saves it, with `rows` as its decoder."""
    sae = build_sae("relu", rows[0].numel(), len(rows))
    with torch.no_grad():
        sae.W_dec.copy_(torch.stack(rows))
    log_density = torch.full((len(rows),), -2.0)
    log_density[list(dead)] = -10.0  # the trainer's log10(0 + 1e-10)
    save_sae(sae, folder, log_density, {"hook_name": "blocks.1.mlp.hook_post"})


def settings(min_cosine=0.7, trees=4):
    return FamilySettings(min_cosine=min_cosine, trees=trees, members=[
        FamilyMember(name="f-x1", size=1.0, d_sae=8), FamilyMember(name="f-x2", size=1.5,
                                                                    d_sae=12)])


def test_family_from_saved_saes_is_json_and_deterministic(tmp_path):
    save(tmp_path / "f-x1", SMALL, SMALL_DEAD)
    save(tmp_path / "f-x2", MIDDLE, MIDDLE_DEAD)
    record, metrics = family_splits(settings(), tmp_path)
    assert json.loads(json.dumps(record)) == record  # no NaN, no tensors
    assert [m["live"] for m in record["members"]] == [7, 11]
    pair = record["pairs"][0]
    assert pair["parent"][11] == -1 and pair["cosine"][11] is None
    assert pair["children"]["0"] == [0, 1, 2] and pair["children"]["3"] == [3, 4]
    assert set(metrics) == {"f-x2"} and metrics["f-x2"]["split_parents"] == 2
    assert [t["feature"] for t in record["trees"]] == [0, 3]
    assert family_splits(settings(), tmp_path) == (record, metrics)
    # a stricter threshold: the children split at 0.4 (cos 0.93) no longer count
    _, strict = family_splits(settings(min_cosine=0.95), tmp_path)
    assert strict["f-x2"]["split_parents"] == 1


def test_a_member_of_another_width_or_a_missing_one_names_its_stage(tmp_path):
    saes = tmp_path / "data" / "saes"
    save(saes / "f-x1", SMALL)
    save(saes / "f-x2", SMALL)  # 8 features, the settings say 12
    with pytest.raises(InputError, match=r"8 features, but family member f-x2 has d_sae 12.*"
                                         r"train_sae@f-x2"):
        family_splits(settings(), saes)
    (saes / "f-x2" / "sparsity.safetensors").unlink()
    with pytest.raises(InputError, match=r"sparsity\.safetensors: SAE file not found.*"
                                         r"train_sae@f-x2"):
        family_splits(settings(), saes)
