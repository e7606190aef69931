"""Caching throughput: tokens/s of `cache_acts` (bridge forward + hook + float16 + Zstd zarr
write) beside the model's plain forward-only tokens/s, measured in the same run.

Target: caching at >= 80% of the forward-only rate. Writes metrics/bench/cache_acts.json.
    python bench/cache_acts.py [--params profiles/default.yaml] [--tokens 262144] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dictlearn.acts.caching import cache_activations
from dictlearn.core.runtime import pick_device
from dictlearn.domains.prepared import Split
from dictlearn.lm.checkpoint import build_gpt2, load_bridge
from dictlearn.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="profiles/default.yaml")
    ap.add_argument("--model", default="text")
    ap.add_argument("--tokens", type=int, default=262_144)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="metrics/bench/cache_acts.json")
    args = ap.parse_args()
    params = load_params(args.params)
    spec = params.models[args.model]
    lm_cfg, prep, cfg = params.train_lm[spec.domain], params.prepare_settings(spec.domain), \
        params.cache_acts
    seq_len, vocab = prep.seq_len, prep.vocab_size
    device = pick_device(cfg.device)
    torch.manual_seed(0)
    n_seq = args.tokens // seq_len
    ids = torch.randint(0, vocab, (n_seq, seq_len))
    split = Split(ids, torch.zeros_like(ids), ["all"])
    cfg = cfg.model_copy(update={"max_tokens": n_seq * seq_len})

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "model"
        build_gpt2(lm_cfg, vocab, seq_len, 0).save_pretrained(str(ckpt))
        from tokenizers import ByteLevelBPETokenizer
        from transformers import PreTrainedTokenizerFast
        tok = ByteLevelBPETokenizer()
        tok.train_from_iterator(["a b c"], vocab_size=260, special_tokens=["<|endoftext|>"])
        PreTrainedTokenizerFast(tokenizer_object=tok._tokenizer,
                                eos_token="<|endoftext|>").save_pretrained(str(ckpt))
        bridge = load_bridge(ckpt, device)

        def forward_only() -> float:
            t0 = time.perf_counter()
            with torch.no_grad():
                for i in range(0, n_seq, cfg.batch_size):
                    bridge(ids[i:i + cfg.batch_size].to(device), return_type="logits")
            if device.type == "cuda":
                torch.cuda.synchronize()
            return ids.numel() / (time.perf_counter() - t0)

        def caching(rep: int) -> float:
            t0 = time.perf_counter()
            cache_activations(bridge, ckpt, args.model, split, cfg, Path(tmp) / f"acts{rep}", device)
            return ids.numel() / (time.perf_counter() - t0)

        forward_only()  # warm-up
        fwd, cache = [], []
        for rep in range(args.reps):  # interleaved, so machine noise hits both alike
            fwd.append(forward_only())
            cache.append(caching(rep))
    result = {
        "device": str(device), "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "tokens": ids.numel(), "layers": cfg.layers,
        "d_mlp": 4 * lm_cfg.n_embd, "n_layer": lm_cfg.n_layer, "seq_len": seq_len,
        "forward_only_tokens_per_s": statistics.median(fwd),
        "caching_tokens_per_s": statistics.median(cache),
    }
    result["caching_over_forward"] = result["caching_tokens_per_s"] / result["forward_only_tokens_per_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"forward-only {result['forward_only_tokens_per_s']:,.0f} tok/s | caching "
          f"{result['caching_tokens_per_s']:,.0f} tok/s | ratio "
          f"{result['caching_over_forward']:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
