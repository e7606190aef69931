"""Fleuret's culture loop: quizzes taken apart and put back in any order, the keep rule, the
quizzes a model writes, and generations run by tiny models whose counts add up."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from dictlearn.domains.culture.config import CultureLoop
from dictlearn.domains.culture.loop import (
    answer_logprob, culture_loop, grids_of, in_order, keep, mix, understanding, write_quizzes)
from dictlearn.domains.culture.tasks import GENERATION_ORDER, ORDERS, QUIZ_LEN, make_quizzes
from dictlearn.lm.config import Quizzes, TrainLM


def test_grids_come_back_in_any_order():
    q = make_quizzes(["translate", "fill"], 12, np.random.default_rng(0), orders=range(5))
    quizzes = torch.from_numpy(q["input_ids"].astype(np.int64))
    grids = grids_of(quizzes)
    for i, order in enumerate(q["order"]):
        assert torch.equal(in_order(grids[i:i + 1], ORDERS[order])[0], quizzes[i])
    # A ≠ f(A) and B ≠ f(B) in every generated quiz
    assert not (grids[:, 0] == grids[:, 1]).all(1).any()
    assert GENERATION_ORDER == (3, 1, 0, 2)  # f(B), f(A), A, B


def tiny(seed):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=15, n_positions=QUIZ_LEN, n_embd=16, n_layer=1, n_head=2)
    return GPT2LMHeadModel(cfg).eval()


def test_a_quiz_is_kept_when_every_model_is_sure_and_one_or_two_fail():
    p = torch.tensor([[0.99, 0.99, 0.99, 0.99],   # everybody understands: too easy
                      [0.99, 0.99, 0.99, 0.10],   # one fails: kept
                      [0.99, 0.99, 0.20, 0.10],   # two fail: kept (max_fail 2)
                      [0.99, 0.30, 0.20, 0.10],   # three fail: too hard
                      [0.99, 0.99, 0.70, 0.10],   # one model unsure: not kept
                      [0.95, 0.96, 0.97, 0.50]])  # the bounds count (p ≥ 0.95, p ≤ 0.5)
    assert keep(p, 0.95, 0.5, 2).tolist() == [False, True, True, False, False, True]
    assert keep(p, 0.95, 0.5, 1).tolist() == [False, True, False, False, False, True]


def test_understanding_is_the_product_of_both_answer_probabilities():
    grids = grids_of(torch.from_numpy(make_quizzes(["frame"], 3, np.random.default_rng(1))
                                      ["input_ids"]))
    model = tiny(0)
    p = understanding({"m": model}, grids, 2, torch.device("cpu"))
    fwd = answer_logprob(model, in_order(grids, ORDERS[0]), 2, torch.device("cpu"))
    inv = answer_logprob(model, in_order(grids, ORDERS[1]), 2, torch.device("cpu"))
    assert p.shape == (3, 1)
    torch.testing.assert_close(p[:, 0], (fwd + inv).exp())
    # the answer of ORDERS[0] is f(B), of ORDERS[1] B: 100 cells each, log p < 0
    assert (fwd < 0).all() and (inv < 0).all()


def test_a_written_quiz_starts_from_a_recycled_f_b_when_given():
    gen = torch.Generator().manual_seed(0)
    f_b = torch.randint(0, 11, (2, 100))
    grids = write_quizzes(tiny(0), f_b, 3, 1.5, 1.0, gen, torch.device("cpu"))
    assert grids.shape == (3, 4, 100) and 0 <= grids.min() and grids.max() <= 10
    # the first two keep their recycled f(B) as the seed, but f(B) is written again last,
    # given A, f(A), B: an untrained model does not reproduce 100 random cells
    assert not torch.equal(grids[:2, 3], f_b)


def test_kept_quizzes_replace_at_most_half_of_the_world_ones_in_trained_orders():
    world = torch.from_numpy(make_quizzes(["frame"], 6, np.random.default_rng(3))["input_ids"])
    kept = grids_of(torch.from_numpy(make_quizzes(["grow"], 5, np.random.default_rng(4))
                                     ["input_ids"]))
    ids = mix(world, kept, [1, 4], seed=0)
    assert ids.shape == world.shape and torch.equal(ids[:3], world[:3])
    markers = ids[3:, [1, 102, 203, 304]] - 11
    assert all(tuple(m) in (ORDERS[1], ORDERS[4]) for m in markers.tolist())
    back = grids_of(ids[3:])  # three of the five kept quizzes, whole
    assert all(any(torch.equal(b, k) for k in kept) for b in back)
    assert torch.equal(mix(world, kept[:0], [0], seed=0), world)


def culture_cfg(**kw):
    base = dict(models=["a", "b", "c"], generations=2, keep=4, max_generated=4,
                accuracy_to_make_quizzes=0.0, temperature_hot=1.5, temperature_cold=1.0,
                proba_understands=0.95, proba_not_understands=0.5, max_fail=2,
                retrain_quizzes=8, batch_size=4, seed=0, device="cpu")
    return CultureLoop(**{**base, **kw})


def train_cfg():
    return TrainLM(n_layer=1, n_head=2, n_embd=16, dropout=0.0, batch_size=4, steps=10,
                   lr=0.003, min_lr_ratio=0.1, warmup_steps=1, weight_decay=0.1,
                   grad_clip=1.0, eval_every=10, eval_batches=1, device="cpu",
                   precision="fp32", compile=False, processes=1, checkpoint_every=0,
                   samples=None,
                   quizzes=Quizzes(prompt_loss_weight=0.1, grid_positions=False,
                                   eval_per_task=2))


def heldout(tasks):
    q = make_quizzes(tasks, 4, np.random.default_rng(2))
    return (torch.from_numpy(q["input_ids"]), torch.from_numpy(q["task"]),
            torch.from_numpy(q["order"]), list(tasks))


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_generations_count_up_and_re_train_every_model(threshold):
    tasks = ["translate", "frame"]
    models = {m: tiny(i) for i, m in enumerate("abc")}
    before = {m: model.transformer.wte.weight.clone() for m, model in models.items()}
    cfg = culture_cfg(accuracy_to_make_quizzes=threshold)
    cfg = cfg.model_copy(update={"tasks": tasks, "orders": [0, 1, 2, 3, 4]})
    weights = torch.ones(QUIZ_LEN - 1)
    metrics, kept, seen = culture_loop(models, cfg, train_cfg(), heldout(tasks), weights,
                                       torch.device("cpu"))
    assert set(metrics) == {"generation_0", "generation_1", "generation_2"}
    for m in models:  # re-trained: every model's weights moved
        assert not torch.equal(models[m].transformer.wte.weight, before[m])
        assert 0 <= metrics["generation_2"]["accuracy"][m]["frame"] <= 1
        assert set(metrics["generation_0"]["accuracy"][m]) == {"all", *tasks}
    for g in (1, 2):
        row = metrics[f"generation_{g}"]
        if threshold:  # untrained models never reach accuracy 1: no quizzes written
            assert row["made_quizzes"] == 0 and "generated" not in row and not kept
            continue
        by = row["by_model"]
        assert row["made_quizzes"] == 1 and row["generated"] == 4
        assert row["generated"] == sum(by[m]["generated"] for m in models)
        assert row["kept"] == sum(by[m]["kept"] for m in models) == len(
            kept[f"generation_{g}"]) <= row["generated"] - row["trivial"]
        assert all(0 <= by[m]["understood"] <= 1 for m in models)
        assert len(seen[f"generation_{g}"]) <= 4


def test_orders_must_pose_a_quiz():
    from dictlearn.domains.culture.config import CulturePrepare
    base = dict(n_quizzes=10, tasks=["frame"], test_fraction=0.1, heldout_per_task=2,
                chunk=10, seed=0)
    assert CulturePrepare(**base, orders=[0, 4]).orders == [0, 4]
    for bad, msg in (([4], "poses no quiz"), ([0, 0], "twice"), ([5], "less than or equal")):
        with pytest.raises(ValueError, match=msg):
            CulturePrepare(**base, orders=bad)
