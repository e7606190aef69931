"""Fleuret's culture loop: quizzes taken apart and put back in any order, and a loop run by
tiny models whose counts add up."""

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from dictlearn.domains.culture.loop import culture_loop, grids_of, in_order, keep
from dictlearn.domains.culture.tasks import ORDERS, QUIZ_LEN, make_quizzes


def test_grids_come_back_in_any_order():
    q = make_quizzes(["translate", "fill"], 12, np.random.default_rng(0))
    quizzes = torch.from_numpy(q["input_ids"].astype(np.int64))
    grids = grids_of(quizzes)
    for i, order in enumerate(q["order"]):
        assert torch.equal(in_order(grids[i:i + 1], ORDERS[order])[0], quizzes[i])
    # A ≠ f(A) and B ≠ f(B) in every generated quiz
    assert not (grids[:, 0] == grids[:, 1]).all(1).any()


def tiny(seed):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=15, n_positions=QUIZ_LEN, n_embd=16, n_layer=1, n_head=2)
    return GPT2LMHeadModel(cfg).eval()


def test_loop_counts_add_up_and_untrained_models_keep_nothing_they_cannot_solve():
    models = {"a": tiny(0), "b": tiny(1)}
    metrics, kept, sample = culture_loop(models, ["translate"], 3, 1.0, 3, 0,
                                         torch.device("cpu"))
    for name, m in metrics.items():
        assert m["generated"] == 3 and 0 <= m["trivial"] <= 3
        assert len(kept[name]) == m["kept"] <= 3 - m["trivial"]
        assert len(sample[name]) == min(4, 3 - m["trivial"])
        # an untrained model never writes 100 right cells: nothing solved, nothing kept
        assert all(m[f"solved_by_{o}"] == 0 for o in models) and m["kept"] == 0
        assert all(0.0 <= m[f"cell_accuracy_{o}"] < 1.0 for o in models)


def test_a_quiz_is_kept_when_exactly_one_model_fails_it():
    right = torch.tensor([[1, 1, 1, 0, 1, 0],
                          [1, 0, 1, 0, 1, 1],
                          [1, 1, 0, 0, 1, 1]], dtype=torch.bool)
    trivial = torch.tensor([0, 0, 0, 0, 1, 0], dtype=torch.bool)
    # all solve: too easy; one fails: kept (quizzes 1, 2, 5 by one each); two fail: too
    # hard; a trivial quiz never, whoever solves it
    assert keep(right, trivial).tolist() == [False, True, True, False, False, True]
