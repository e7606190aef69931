"""Caching throughput, like for like: tokens/s of `cache_activations` (the bridge's forward up
to and including the last hooked block, the hook, float16, Zstd zarr write) beside tokens/s
of the same bridge's forward up to and including that block alone (`stop_at_layer`, exactly
as caching runs it: when the hooked block is the model's last, TransformerLens stops nowhere
and both run the final norm and unembedding): same model, same batches, same precision,
timed as bench/timing.py says (a warm-up call each, >= 3 alternating rounds).

Target: caching at >= 80% of that forward's rate. Writes metrics/bench/cache_acts.json.
    python bench/cache_acts.py [--params profiles/default.yaml] [--tokens 262144]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from timing import Timed, compare, machine, require_quiet, write_figures  # noqa: E402

from dictlearn.acts.caching import cache_activations  # noqa: E402
from dictlearn.acts.config import CacheActsRun  # noqa: E402
from dictlearn.core.runtime import pick_device  # noqa: E402
from dictlearn.domains.prepared import Split  # noqa: E402
from dictlearn.lm.checkpoint import build_gpt2, load_bridge  # noqa: E402
from dictlearn.lm.sites import hook_layer  # noqa: E402
from dictlearn.params import load_params  # noqa: E402
from dictlearn.params.resolve import stage_settings  # noqa: E402

TARGET = 0.8


def save_checkpoint(lm_cfg, vocab: int, seq_len: int, folder: Path) -> None:
    """A freshly initialised model of the profile's shape, with a tiny tokenizer beside it
    (load_bridge reads one from the checkpoint folder; token ids come from the bench)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    build_gpt2(lm_cfg, vocab, seq_len, 0).save_pretrained(str(folder))
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(["a b c"], vocab_size=260, special_tokens=["<|endoftext|>"])
    PreTrainedTokenizerFast(tokenizer_object=tok._tokenizer,
                            eos_token="<|endoftext|>").save_pretrained(str(folder))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="profiles/default.yaml")
    ap.add_argument("--model", default="text")
    ap.add_argument("--tokens", type=int, default=262_144, help="tokens per timed call")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (>= 3)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--out", default="metrics/bench/cache_acts.json")
    ap.add_argument("--force", action="store_true",
                    help="measure even on a busy machine (prints figures, never writes them)")
    args = ap.parse_args()
    load = require_quiet("bench/cache_acts.py", args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(args.params)
    spec = params.models[args.model]
    lm_cfg, prep = params.train_lm[spec.domain], params.prepare_settings(spec.domain)
    seq_len, vocab = prep.seq_len, prep.vocab_size
    device = pick_device(params.cache_acts.device)
    torch.manual_seed(0)
    n_seq = max(1, args.tokens // seq_len)
    ids = torch.randint(0, vocab, (n_seq, seq_len))
    split = Split(ids, torch.zeros_like(ids), ["all"])
    hooks = stage_settings(params)[f"cache_acts/{args.model}.json"]["hooks"]
    cfg = CacheActsRun(**{**params.cache_acts.model_dump(), "max_tokens": n_seq * seq_len,
                          "hooks": hooks})
    # caching stops after the last hooked block (lm/hooks.py): the forward does the same
    stop_at = max(hook_layer(h) for h in hooks) + 1
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    with tempfile.TemporaryDirectory() as tmp:
        ckpt, acts = Path(tmp) / "model", Path(tmp) / "acts"
        save_checkpoint(lm_cfg, vocab, seq_len, ckpt)
        bridge = load_bridge(ckpt, device)

        @torch.no_grad()
        def forward_to_block() -> int:
            for i in tqdm(range(0, n_seq, cfg.batch_size), desc="forward", leave=False):
                bridge(ids[i:i + cfg.batch_size].to(device), stop_at_layer=stop_at)
            sync()
            return ids.numel()

        def caching() -> Timed:
            shutil.rmtree(acts, ignore_errors=True)  # the last call's stores, not timed
            t0 = time.perf_counter()
            cache_activations(bridge, ckpt, args.model, split, cfg, acts, device)
            sync()
            return Timed(ids.numel(), time.perf_counter() - t0)

        rates = compare({"forward_to_block": forward_to_block, "caching": caching},
                        args.rounds)
    fwd, cache = rates["forward_to_block"], rates["caching"]
    result = {
        "device": str(device), "threads": torch.get_num_threads(), "tokens": ids.numel(),
        "hooks": hooks, "layers": sorted({hook_layer(h) for h in hooks}),
        "stop_at_layer": stop_at, "n_layer": lm_cfg.n_layer,
        "d_mlp": 4 * lm_cfg.n_embd, "seq_len": seq_len, "batch_size": cfg.batch_size,
        "rounds": max(3, args.rounds), "target": TARGET,
        "tokens_per_s": rates,
        "caching_over_forward": cache["best"] / fwd["best"],
        "caching_over_forward_median": cache["median"] / fwd["median"],
        "machine": machine(load),
    }
    print(f"forward to block {stop_at - 1}: {fwd['best']:,.0f} tok/s (median "
          f"{fwd['median']:,.0f}) | caching {cache['best']:,.0f} (median {cache['median']:,.0f})"
          f" | ratio {result['caching_over_forward']:.2f} (target >= {TARGET:.2f})")
    write_figures(args.out, result, load)


if __name__ == "__main__":
    main()
