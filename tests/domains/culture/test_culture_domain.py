import numpy as np
import pytest
import torch
from transformers import PreTrainedTokenizerFast

from conftest import from_ci
from dictlearn.domains import get_domain
from dictlearn.domains.culture.config import CulturePrepare, CultureTask
from dictlearn.domains.culture.domain import ANSWER_START, quiz_accuracy
from dictlearn.domains.culture.tasks import ORDERS, TASKS
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import build_gpt2
from dictlearn.lm.config import TrainLM

CFG = CulturePrepare(n_quizzes=200, tasks=["translate", "fill"], orders=[0, 1, 2, 3, 4],
                     test_fraction=0.1, heldout_per_task=5, chunk=64, seed=3)


def test_config_task_names_match_the_generator():
    assert tuple(CultureTask.__args__) == TASKS
    with pytest.raises(ValueError, match="teleport"):
        CulturePrepare.model_validate(CFG.model_dump() | {"tasks": ["teleport"]})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("culture")
    get_domain("culture").prepare(CFG, None, out)
    return out


def test_prepare_writes_quizzes_labelled_by_task(prepared, tmp_path):
    tok = PreTrainedTokenizerFast(tokenizer_file=str(prepared / "tokenizer.json"))
    assert tok.encode("0 11 14 3") == [0, 11, 14, 3] and len(tok) == 15
    train = load_split(prepared, "train")
    assert train.ids.shape == (180, 405) and train.label_names == ["translate", "fill"]
    assert (train.ids[:, [1, 102, 203, 304]] >= 11).all() and (train.ids[:, 0] == 0).all()
    assert (train.labels == train.labels[:, :1]).all()  # one task per quiz, on every token
    assert len(load_split(prepared, "validation").ids) == 20
    # all five orders are trained on; held-out quizzes are posed (orders 0-3: no order 4,
    # whose last grid B is not determined by the others)
    markers = {tuple(m) for m in (train.ids[:, [1, 102, 203, 304]] - 11).tolist()}
    assert markers == set(ORDERS)
    held = load_split(prepared, "heldout")
    assert held.ids.shape == (10, 405) and sorted(held.labels[:, 0].tolist()) == [0] * 5 + [1] * 5
    assert {tuple(m) for m in (held.ids[:, [1, 102, 203, 304]] - 11).tolist()} <= set(ORDERS[:4])
    get_domain("culture").prepare(CFG, None, tmp_path)  # deterministic for a seed
    assert np.array_equal(load_split(tmp_path, "train").ids, train.ids)


class Oracle(torch.nn.Module):
    """Predicts the true next token of a fixed set of quizzes (to test the scorer)."""

    def __init__(self, quizzes):
        super().__init__()
        self.quizzes = quizzes

    def forward(self, input_ids, use_cache=False, past_key_values=None):
        if past_key_values is not None:  # the "cache" is the sequence so far
            input_ids = torch.cat([past_key_values, input_ids], dim=1)
        n = input_ids.shape[1]
        prompt = input_ids[:, None, :ANSWER_START] == self.quizzes[None, :, :ANSWER_START]
        rows = self.quizzes[prompt.all(-1).float().argmax(1)]  # the quiz each row poses
        logits = torch.full((*input_ids.shape, 15), -1e9)
        nxt = rows[:, 1:n + 1]
        logits[:, : nxt.shape[1]].scatter_(-1, nxt[..., None], 0.0)
        return type("Out", (), {"logits": logits, "past_key_values": input_ids})()


def test_quiz_accuracy_scores_perfect_and_wrong_answers(prepared):
    held = load_split(prepared, "heldout")
    orders = torch.zeros(len(held.ids), dtype=torch.long)
    acc = quiz_accuracy(Oracle(held.ids), held.ids, held.labels[:, 0], orders,
                        held.label_names, None, 4, torch.device("cpu"))
    assert acc["accuracy"] == 1.0 and acc["accuracy_fill"] == 1.0
    wrong = held.ids.clone()
    wrong[:5, ANSWER_START + 7] = (wrong[:5, ANSWER_START + 7] + 1) % 11  # translate quizzes
    acc = quiz_accuracy(Oracle(held.ids), wrong, held.labels[:, 0], orders,
                        held.label_names, None, 4, torch.device("cpu"))
    assert acc["accuracy_translate"] == 0.0 and acc["accuracy_fill"] == 1.0
    assert acc["cell_accuracy"] == pytest.approx(1 - 5 / 100 / len(held.ids))  # 5 × 1 cell


def test_cached_generation_matches_recomputing_every_prefix(prepared):
    from dictlearn.domains.culture.domain import generate_answers
    from dictlearn.lm.checkpoint import build_gpt2

    torch.manual_seed(0)
    cfg = from_ci(TrainLM, "train_lm", "culture", n_layer=2, n_head=2, n_embd=32)
    model = build_gpt2(cfg, 15, 405, 0).eval()
    prompts = load_split(prepared, "heldout").ids[:3, :ANSWER_START]
    x = prompts
    with torch.no_grad():
        for _ in range(405 - ANSWER_START):
            x = torch.cat([x, model(input_ids=x).logits[:, -1].argmax(-1, keepdim=True)], 1)
    got = generate_answers(model, prompts, None, torch.Generator().manual_seed(0))
    assert torch.equal(got, x[:, ANSWER_START:])


def test_evaluate_lm_reports_greedy_and_temperature_accuracy(prepared):
    cfg = from_ci(TrainLM, "train_lm", "culture", n_layer=1, n_head=1, n_embd=16, batch_size=4,
                  eval_batches=1)
    model = build_gpt2(cfg, 15, 405, 0)
    metrics, text = get_domain("culture").evaluate_lm(model, None, prepared, cfg, "cpu")
    assert {"accuracy_greedy", "accuracy_t1", "accuracy_order0_greedy"} & set(metrics)
    assert 0.0 <= metrics["accuracy_greedy"] <= 1.0 and "Quiz accuracy" in text


def test_render_draws_the_focus_grid_with_activations_and_escapes():
    # 5 tokens of the grid before, then the marker f(A) and its 100 cells, then more
    tokens = ["3"] * 5 + ["12"] + [str(i % 11) for i in range(100)] + ["13", "4"]
    acts = [0.0] * len(tokens)
    focus = 6 + 42  # the cell at row 4, column 2 of the f(A) grid
    acts[focus], acts[focus + 1] = 2.0, 1.0
    html = get_domain("culture").render_html(tokens, acts, focus)
    assert html.count("<span") == 100 and "f(A)" in html
    assert html.count("outline:2px solid #d00") == 1  # the focus cell
    assert "rgba(255,140,0,1.00)" in html and "rgba(255,140,0,0.50)" in html  # heat rings
    assert "repeat(10,13px)" in html
    # a token that is not a grid value, inside a grid, is shown escaped in its title
    tokens[focus + 2] = "<script>x</script>"
    html = get_domain("culture").render_html(tokens, acts, focus)
    assert "<script" not in html and "&lt;script&gt;" in html
    # no marker before the focus: a plain escaped strip, never raw text
    html = get_domain("culture").render_html(["3", "<b>"], [0.0, 1.0], 1)
    assert "<b>" not in html and "&lt;b&gt;" in html


def test_teacher_forced_hits_give_exactly_the_greedy_quiz_accuracy(prepared):
    # greedy decoding goes wrong exactly where the teacher-forced argmax first does, so
    # one forward pass per quiz gives the greedy quiz accuracy
    from dictlearn.domains.culture.domain import answer_hits, generate_answers

    torch.manual_seed(0)
    cfg = from_ci(TrainLM, "train_lm", "culture", n_layer=1, n_head=2, n_embd=16)
    model = build_gpt2(cfg, 15, 405, 0).eval()
    ids = load_split(prepared, "heldout").ids
    with torch.no_grad():  # a model that copies the B grid into f(B): many cells right
        model.lm_head.weight.mul_(0.0)
    tf = answer_hits(model, ids, 4, torch.device("cpu"))
    greedy = generate_answers(model, ids[:, :ANSWER_START], None, None) == ids[:, ANSWER_START:]

    def first_wrong(hits):
        return torch.where(hits.all(1), 100, (~hits).float().argmax(1))
    assert torch.equal(first_wrong(tf), first_wrong(greedy))
    assert torch.equal(tf.all(1), greedy.all(1))


def test_grid_positions_make_a_cell_alike_in_every_grid():
    from dictlearn.domains.culture.domain import grid_positions

    table = grid_positions(32, 0.02, torch.Generator().manual_seed(0))
    assert table.shape == (405, 32)
    cell = lambda slot, r, c: 1 + slot * 101 + 1 + 10 * r + c  # noqa: E731
    # grid A and grid B differ by one slot offset, the same for every cell
    offsets = torch.stack([table[cell(2, r, c)] - table[cell(0, r, c)]
                           for r in range(10) for c in range(10)])
    assert torch.allclose(offsets, offsets[0].expand_as(offsets), atol=1e-6)
    # cells of one row share its row part: column differences are the same on every row
    assert torch.allclose(table[cell(1, 3, 7)] - table[cell(1, 3, 2)],
                          table[cell(1, 8, 7)] - table[cell(1, 8, 2)], atol=1e-6)
    assert not torch.allclose(table[cell(1, 3, 7)], table[cell(1, 3, 2)])


def test_training_hooks_weigh_the_answer_and_init_the_positions(prepared):
    domain = get_domain("culture")
    cfg = from_ci(TrainLM, "train_lm", "culture", n_layer=1, n_head=2, n_embd=16)
    w = domain.loss_weights(cfg, 405)
    assert w.shape == (404,) and (w[ANSWER_START - 1:] == 1).all()
    assert (w[:ANSWER_START - 1] == cfg.quizzes.prompt_loss_weight).all()
    model = build_gpt2(cfg, 15, 405, 0)
    before = model.transformer.wpe.weight.clone()
    domain.init_model(model, cfg, seed=0)
    assert not torch.equal(before, model.transformer.wpe.weight)
    off = cfg.model_copy(update={"quizzes": cfg.quizzes.model_copy(
        update={"grid_positions": False})})
    domain.init_model(model2 := build_gpt2(cfg, 15, 405, 0), off, seed=0)
    assert model2.transformer.wpe.weight.std() < before.std() * 2  # GPT-2's own init kept
    curves = domain.learning_curves(prepared, cfg, torch.device("cpu"))(model)
    assert {"quiz/all", "cells/all", "quiz/translate", "cells/fill"} <= set(curves)
    assert all(0.0 <= v <= 1.0 for v in curves.values())
