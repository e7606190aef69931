import shutil

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModelForCausalLM

from conftest import TINY_LM, from_ci, section
from dictlearn.core.errors import InputError
from dictlearn.domains.prepared import load_split
from dictlearn.lm.checkpoint import build_gpt2, load_bridge, load_model, load_tokenizer
from dictlearn.lm.config import ModelSpec, TrainLM, TrainLMSettings
from dictlearn.lm.train import train_lm, warmup_cosine


def test_schedule_warms_up_then_decays_to_floor():
    lrs = [warmup_cosine(s, 10, 100, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_training_lowers_validation_loss(prepared):
    tok = load_tokenizer(prepared)
    train, val = load_split(prepared, "train"), load_split(prepared, "validation")
    torch.manual_seed(0)
    model = build_gpt2(TINY_LM, len(tok), train.seq_len, tok.eos_token_id)
    from dictlearn.lm.train import validation_metrics

    before = validation_metrics(model, val.ids, val.labels, val.label_names, 8, "cpu")
    after = train_lm(model, train.ids, val.ids, val.labels, train.label_names, TINY_LM,
                     torch.device("cpu"), seed=0)
    assert after["val_loss"] < before["val_loss"] - 1.0
    assert {"val_loss_python", "val_loss_shakespeare"} <= set(after)
    # machine-dependent figures live apart, so a re-run's metrics diff is empty
    assert set(after["timing"]) == {"train_tokens_per_s", "train_seconds"}
    assert after["timing"]["train_seconds"] > 0
    assert after["train_tokens"] == TINY_LM.steps * TINY_LM.batch_size * train.seq_len
    assert not {"train_tokens_per_s", "train_seconds"} & set(after)


def test_settings_are_complete_and_checked():
    cfg = from_ci(TrainLM, "train_lm", "culture")
    assert cfg.samples is None  # culture measures quizzes, it writes no samples
    assert from_ci(TrainLM, "train_lm", "text").samples.prompts
    for key in ("lr", "dropout", "eval_every", "device"):
        raw = section("train_lm", "text")
        del raw[key]
        with pytest.raises(ValidationError, match=rf"{key}\n\s+Field required"):
            TrainLM.model_validate(raw)
    with pytest.raises(ValidationError, match=r"n_embd \(64\) must be divisible by n_head"):
        from_ci(TrainLM, "train_lm", "text", n_head=3)
    spec = section("models", "text")
    assert TrainLMSettings(model=spec, train=cfg).model.domain == "text"
    with pytest.raises(ValidationError, match=r"seed\n\s+Field required"):
        ModelSpec(domain="text")


def test_checkpoint_loads_in_transformers_and_transformerlens(checkpoint):
    hf = AutoModelForCausalLM.from_pretrained(str(checkpoint), attn_implementation="eager").eval()
    bridge = load_bridge(checkpoint)
    x = torch.randint(0, hf.config.vocab_size, (2, 16))
    with torch.no_grad():
        ref = hf(x).logits
        ours = bridge(x, return_type="logits")
    assert torch.allclose(ref, ours, atol=1e-4)
    _, cache = bridge.run_with_cache(x, names_filter=["blocks.1.mlp.hook_post"])
    assert cache["blocks.1.mlp.hook_post"].shape == (2, 16, 4 * TINY_LM.n_embd)


def test_only_safetensors_weights_are_loaded(checkpoint, tmp_path):
    pickled = tmp_path / "m"
    shutil.copytree(checkpoint, pickled)
    sd = load_model(checkpoint).state_dict()
    (pickled / "model.safetensors").unlink()
    torch.save(sd, pickled / "pytorch_model.bin")
    with pytest.raises(InputError, match="only safetensors"):
        load_model(pickled)


def test_weighted_loss_with_equal_weights_is_the_plain_loss(prepared):
    from dictlearn.lm.train import weighted_loss

    tok = load_tokenizer(prepared)
    ids = load_split(prepared, "train").ids[:4]
    torch.manual_seed(0)
    model = build_gpt2(TINY_LM, len(tok), ids.shape[1], tok.eos_token_id)
    plain = model(input_ids=ids, labels=ids).loss
    ones = torch.ones(ids.shape[1] - 1)
    assert weighted_loss(model, ids, ones * 3.0).item() == pytest.approx(plain.item(), rel=1e-5)
    late = ones.clone()
    late[: ids.shape[1] // 2] = 0.0  # only the second half counts
    assert weighted_loss(model, ids, late).item() != pytest.approx(plain.item(), rel=1e-3)


def test_curves_are_logged_against_training_tokens(prepared, tmp_path):
    from dvclive import Live

    tok = load_tokenizer(prepared)
    train, val = load_split(prepared, "train"), load_split(prepared, "validation")
    torch.manual_seed(0)
    model = build_gpt2(TINY_LM, len(tok), train.seq_len, tok.eos_token_id)
    cfg = TINY_LM.model_copy(update={"eval_every": 10})
    calls = []

    def curves(m):
        calls.append(1)
        return {"probe/value": float(len(calls))}
    live = Live(str(tmp_path), report=None, save_dvc_exp=False, dvcyaml=None)
    train_lm(model, train.ids, val.ids, val.labels, train.label_names, cfg,
             torch.device("cpu"), seed=0, live=live, curves=curves)
    live.end()
    per_step = cfg.batch_size * train.seq_len
    def x_of(tsv):  # dvclive's "step" column, which train_lm sets to the tokens so far
        header, *rows = (tmp_path / "plots/metrics" / tsv).read_text().splitlines()
        col = header.split("\t").index("step")
        return [int(r.split("\t")[col]) for r in rows]
    steps = x_of("probe/value.tsv")
    # after steps 10 and 20, and at the end (step 30): x is the training tokens so far
    assert steps == [10 * per_step, 20 * per_step, 30 * per_step]
    loss_x = x_of("train/loss.tsv")
    assert loss_x[0] == per_step and loss_x[-1] == 30 * per_step


def test_compiled_training_is_deterministic_and_leaves_torch_as_it_was(prepared):
    """torch.compile'd steps (train_lm.<domain>.compile): two runs of one seed end with the
    same weights (inductor's threaded scatter-adds race without deterministic mode), and the
    deterministic switch is put back afterwards."""
    tok = load_tokenizer(prepared)
    train, val = load_split(prepared, "train"), load_split(prepared, "validation")
    cfg = TINY_LM.model_copy(update={"compile": True, "steps": 8})
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_gpt2(cfg, len(tok), train.seq_len, tok.eos_token_id)
        train_lm(model, train.ids, val.ids, val.labels, train.label_names, cfg,
                 torch.device("cpu"), seed=0)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    assert not torch.are_deterministic_algorithms_enabled()


def test_compile_without_a_compiler_is_refused_naming_the_key(monkeypatch):
    from dictlearn.core.errors import ParamsError
    from dictlearn.lm.config import check_compilers

    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CXX", raising=False)
    check_compilers({"text": TINY_LM})  # compile: false needs none
    with pytest.raises(ParamsError, match=r"train_lm\.text\.compile: true.*C\+\+ compiler"):
        check_compilers({"text": TINY_LM.model_copy(update={"compile": True}),
                         "culture": TINY_LM})
