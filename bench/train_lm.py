"""LM training speed: our `train_lm` loop beside its own bare forward/backward/step and beside
nanoGPT's `model.py` (Karpathy), on the default profile's text and culture shapes, in fp32
and with bf16 autocast, in one run. With `--quality`, also trains the default text model
twice from the same seed (fp32, bf16) and compares their validation losses.

Each way is timed as bench/timing.py says (a warm-up call, >= 3 alternating rounds, best and
median). Ours is set against nanoGPT in the same precision (fp32 ÷ fp32, bf16 ÷ bf16); bf16 ÷
nanoGPT's fp32 is reported too, named as such, never as a like-for-like speed-up.
Targets: our loop >= 90% of its own bare step; bf16 (on CPUs with AVX512-BF16/AMX) >= 1.5x
nanoGPT's fp32 rate; bf16 validation loss within 1% of fp32's. nanoGPT is read at run time
from a checkout you give (`git clone` karpathy/nanoGPT anywhere), never copied here; without
one it is reported and recorded as skipped:

    python bench/train_lm.py --nanogpt ~/src/nanoGPT [--quality data/prepared/text]

Writes metrics/bench/train_lm.json.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from timing import compare, machine, require_quiet, skipped, write_figures  # noqa: E402

from dictlearn.core.runtime import cpu_has_bf16  # noqa: E402
from dictlearn.lm.checkpoint import build_gpt2  # noqa: E402
from dictlearn.lm.config import TrainLM  # noqa: E402
from dictlearn.lm.train import compiled, make_optimizer, train_lm  # noqa: E402

# (domain, sequence length, vocabulary) of the default profile's models
SHAPES = {"text": (128, 1024), "culture": (405, 15), "strokes": (128, 100)}


def load_nanogpt(checkout: Path):
    spec = importlib.util.spec_from_file_location("nanogpt_model", checkout / "model.py")
    if spec is None or not (checkout / "model.py").is_file():
        raise SystemExit(f"error: {checkout}/model.py not found; pass --nanogpt <checkout of "
                         "karpathy/nanoGPT>")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ways(cfg: TrainLM, seq_len: int, vocab: int, steps: int, nanogpt) -> dict:
    """name → a call that trains `steps` steps and returns the tokens it trained on."""
    torch.manual_seed(0)
    data = torch.randint(0, vocab, (4096, seq_len))
    # nanoGPT takes inputs and targets apart: seq_len inputs per sequence, as ours
    shifted = torch.randint(0, vocab, (4096, seq_len + 1))
    tokens = steps * cfg.batch_size * seq_len
    out = {}
    for precision in ("fp32", "bf16"):
        pcfg = cfg.model_copy(update={"precision": precision, "steps": steps,
                                      "eval_every": 10**9, "warmup_steps": 1})
        bf16 = precision == "bf16"
        ours = build_gpt2(pcfg, vocab, seq_len, 0)

        def loop(model=ours, c=pcfg):
            train_lm(model, data, data[:1], torch.zeros_like(data[:1]), ["all"], c,
                     torch.device("cpu"), seed=0)
            return tokens

        bare_model = build_gpt2(pcfg, vocab, seq_len, 0)
        if bf16:  # the attention train_lm picks under CPU bf16 (lm/train.py)
            bare_model.set_attn_implementation("eager")
        bare_opt = make_optimizer(bare_model, pcfg)

        def bare(model=bare_model, opt=bare_opt, bf16=bf16):
            model.train()
            with compiled(model, cfg.compile) as step_model:  # as train_lm compiles it
                for _ in range(steps):
                    x = data[torch.randint(len(data), (cfg.batch_size,))]
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                        loss = step_model(input_ids=x, labels=x).loss
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
            return tokens

        out[f"ours_loop_{precision}"], out[f"ours_bare_{precision}"] = loop, bare
        if cfg.compile:  # what compiling brings: the same loop, uncompiled
            ecfg = pcfg.model_copy(update={"compile": False})
            out[f"ours_loop_{precision}_uncompiled"] = functools.partial(
                loop, build_gpt2(ecfg, vocab, seq_len, 0), ecfg)
        if nanogpt is not None:
            gpt = nanogpt.GPT(nanogpt.GPTConfig(block_size=seq_len, vocab_size=vocab,
                                                n_layer=cfg.n_layer, n_head=cfg.n_head,
                                                n_embd=cfg.n_embd, dropout=0.0, bias=True))
            gopt = gpt.configure_optimizers(cfg.weight_decay, cfg.lr, (0.9, 0.95), "cpu")

            def theirs(model=gpt, opt=gopt, bf16=bf16):
                model.train()
                for _ in range(steps):
                    xy = shifted[torch.randint(len(shifted), (cfg.batch_size,))]
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                        _, loss = model(xy[:, :-1].contiguous(), xy[:, 1:].contiguous())
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
                return tokens

            out[f"nanogpt_{precision}"] = theirs
    return out


def quality(prepared: Path, cfg: TrainLM) -> dict:
    """The default text model trained twice from one seed, fp32 and bf16: validation loss."""
    from dictlearn.domains.prepared import load_split
    from dictlearn.lm.checkpoint import load_tokenizer

    tok = load_tokenizer(prepared)
    train, val = load_split(prepared, "train"), load_split(prepared, "validation")
    out = {}
    for precision in ("fp32", "bf16"):
        c = cfg.model_copy(update={"precision": precision})
        torch.manual_seed(0)
        model = build_gpt2(c, len(tok), train.seq_len, tok.eos_token_id)
        m = train_lm(model, train.ids, val.ids, val.labels, train.label_names, c,
                     torch.device("cpu"), seed=0)
        out[precision] = {"val_loss": m["val_loss"], **m["timing"]}
    out["relative_difference"] = abs(out["bf16"]["val_loss"] / out["fp32"]["val_loss"] - 1)
    out["within_1_percent"] = out["relative_difference"] <= 0.01
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", default="profiles/default.yaml")
    ap.add_argument("--nanogpt", type=Path, help="a checkout of karpathy/nanoGPT")
    ap.add_argument("--steps", type=int, default=20, help="steps per timed call")
    ap.add_argument("--quality", type=Path, help="data/prepared/text: also compare val loss")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (>= 3)")
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--out", default="metrics/bench/train_lm.json")
    ap.add_argument("--force", action="store_true",
                    help="measure even on a busy machine (prints figures, never writes them)")
    args = ap.parse_args()
    load = require_quiet("bench/train_lm.py", args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    nanogpt = load_nanogpt(args.nanogpt) if args.nanogpt else None
    result = {"cpu_has_bf16": cpu_has_bf16(), "steps_per_call": args.steps,
              "rounds": max(3, args.rounds), "threads": torch.get_num_threads(),
              "skipped": {}, "shapes": {}}
    if nanogpt is None:
        skipped(result, "nanoGPT", "pass --nanogpt <checkout of karpathy/nanoGPT> (make bench "
                "NANOGPT=...), e.g. git clone https://github.com/karpathy/nanoGPT")
    train_lm_cfg = yaml.safe_load(Path(args.params).read_text())["train_lm"]
    for domain in args.shapes:
        seq_len, vocab = SHAPES[domain]
        cfg = TrainLM.model_validate(train_lm_cfg[domain])
        rates = compare(ways(cfg, seq_len, vocab, args.steps, nanogpt), args.rounds,
                        label=f"{domain}: ")
        best = {k: v["best"] for k, v in rates.items()}
        row = {"batch_size": cfg.batch_size, "seq_len": seq_len,
               "tokens_per_s": {k: {"best": round(v["best"]), "median": round(v["median"]),
                                    "rates": [round(x) for x in v["rates"]]}
                                for k, v in rates.items()},
               "loop_over_bare_fp32": best["ours_loop_fp32"] / best["ours_bare_fp32"],
               "loop_over_bare_bf16": best["ours_loop_bf16"] / best["ours_bare_bf16"]}
        if nanogpt is not None:
            # like for like (each precision against the same precision), and bf16 against
            # nanoGPT's fp32, labelled as such: a precision change is not a faster loop
            for ours_p, theirs_p in (("fp32", "fp32"), ("bf16", "bf16"), ("bf16", "fp32")):
                row[f"ours_{ours_p}_over_nanogpt_{theirs_p}"] = \
                    best[f"ours_loop_{ours_p}"] / best[f"nanogpt_{theirs_p}"]
        result["shapes"][domain] = row
        print(domain, json.dumps({k: v for k, v in row.items() if k != "tokens_per_s"}),
              {k: v["best"] for k, v in row["tokens_per_s"].items()})
    if args.quality:
        result["quality_text_default"] = quality(args.quality,
                                                 TrainLM.model_validate(train_lm_cfg["text"]))
        print("quality", json.dumps(result["quality_text_default"]))
    result["machine"] = machine(load)
    write_figures(args.out, result, load)


if __name__ == "__main__":
    main()
