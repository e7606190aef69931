"""The README's benchmark and culture-task blocks, rendered from metrics/bench/*.json (the
bench/ scripts' figures), and the small readers and formatters `dictlearn.results` shares."""

from __future__ import annotations

import functools
import json
from pathlib import Path


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _f(value: object, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _bench(metrics: Path, name: str, script: str, marker: str) -> dict | str:
    """metrics/bench/<name>.json, or the line to print instead: not run yet, or written by an
    earlier bench without `marker` (a key of the current format: warm-up call per way,
    alternating rounds, load before and after)."""
    b = _json(metrics / "bench" / f"{name}.json")
    if not b:
        return f"(no metrics/bench/{name}.json yet: run `python {script}` on a quiet machine)"
    if "machine" not in b or marker not in b:
        return (f"(metrics/bench/{name}.json comes from an earlier version of `{script}`: not "
                "yet measured with this bench; run `make bench` on a quiet machine)")
    return b


def _timing_line(b: dict, what: str) -> str:
    m = b["machine"]
    return (f"{what}, best (median) of {b.get('rounds', 3)} alternating rounds after a warm-up "
            f"call each; {m['cores']} cores, load {m['load_before']} before and "
            f"{m['load_after']} after:")


def _skipped(b: dict) -> list[str]:
    """The peers a bench could not measure, each with the way to get it (a paragraph)."""
    return [line for peer, how in b.get("skipped", {}).items()
            for line in ("", f"Skipped {peer}: {how}.")]


def _bench_block(name: str, script: str, marker: str):
    """A README block drawn from metrics/bench/<name>.json: the decorated body's figures, then
    the peers the bench skipped; or, with no figures of this bench's format, the line why."""
    def wrap(body):
        @functools.wraps(body)
        def block(metrics: Path) -> str:
            b = _bench(metrics, name, script, marker)
            return b if isinstance(b, str) else "\n".join([body(b), *_skipped(b)])
        return block
    return wrap


def _rate(r: dict | None, digits: int = 0) -> str:
    return "skipped" if r is None else f"{r['best']:,.{digits}f} ({r['median']:,.{digits}f})"


def _loop_over_bare(t: dict, precision: str) -> str:
    """best ÷ best (median ÷ median): one lucky round of either side moves the first"""
    loop, bare = t[f"ours_loop_{precision}"], t[f"ours_bare_{precision}"]
    return f"{loop['best'] / bare['best']:.2f} ({loop['median'] / bare['median']:.2f})"


@_bench_block("train_lm", "bench/train_lm.py", "shapes")
def bench_train_lm(b: dict) -> str:
    """bench/train_lm.py's figures (metrics/bench/train_lm.json), if it has been run."""
    rows = ["| shape | ours fp32 | ours bf16 | bare step fp32 | bare step bf16 | nanoGPT fp32 | "
            "nanoGPT bf16 | loop ÷ bare, best (median) (fp32, bf16) | ours ÷ nanoGPT, same precision (fp32, "
            "bf16) | ours bf16 ÷ nanoGPT fp32 (precision differs) |", "|---" * 10 + "|"]
    for name, r in b["shapes"].items():
        t = r["tokens_per_s"]
        ratios = "– | –"
        if "nanogpt_fp32" in t:
            ours = {p: t[f"ours_loop_{p}"]["best"] for p in ("fp32", "bf16")}
            nano = {p: t[f"nanogpt_{p}"]["best"] for p in ("fp32", "bf16")}
            ratios = (f"{ours['fp32'] / nano['fp32']:.2f}×, {ours['bf16'] / nano['bf16']:.2f}× | "
                      f"{ours['bf16'] / nano['fp32']:.2f}×")
        rows.append(f"| {name} (batch {r['batch_size']} × {r['seq_len']}) | " + " | ".join(
            _rate(t.get(way)) for way in ("ours_loop_fp32", "ours_loop_bf16", "ours_bare_fp32",
                                          "ours_bare_bf16", "nanogpt_fp32", "nanogpt_bf16"))
            + f" | {_loop_over_bare(t, 'fp32')}, {_loop_over_bare(t, 'bf16')} | {ratios} |")
    out = [_timing_line(b, "Training tokens/s"), "", *rows]
    gains = [f"{name} {t['ours_loop_fp32']['best'] / t['ours_loop_fp32_uncompiled']['best']:.2f}× "
             f"fp32, {t['ours_loop_bf16']['best'] / t['ours_loop_bf16_uncompiled']['best']:.2f}× bf16"
             for name, r in b["shapes"].items() if "ours_loop_fp32_uncompiled" in
             (t := r["tokens_per_s"])]
    if gains:
        out += ["", "Where a profile compiles the model (`train_lm.<domain>.compile`), the "
                "compiled loop against the same loop uncompiled: " + "; ".join(gains) + "."]
    q = b.get("quality_text_default")
    if q:
        out += ["", f"Default text model trained to the end from one seed: validation loss "
                f"{q['fp32']['val_loss']:.4f} in fp32, {q['bf16']['val_loss']:.4f} in bf16 "
                f"({100 * q['relative_difference']:.2f}% apart), at "
                f"{q['fp32']['train_tokens_per_s']:,.0f} and {q['bf16']['train_tokens_per_s']:,.0f}"
                " tokens/s."]
    return "\n".join(out)


@_bench_block("cache_acts", "bench/cache_acts.py", "stop_at_layer")
def bench_cache_acts(b: dict) -> str:
    """bench/cache_acts.py: caching beside the same model's forward to the same block."""
    t, last = b["tokens_per_s"], b["stop_at_layer"] - 1
    out = [_timing_line(b, "Tokens/s"), "",
           f"| model | forward to block {last} | caching | caching ÷ forward (best, median) "
           "| target |", "|---|---|---|---|---|",
           f"| {b['n_layer']} layers, "
           + (f"hooks {', '.join(b['hooks'])}" if "hooks" in b else
              f"hooks on MLP {', '.join(map(str, b['layers']))}")
           + f" (d_mlp {b['d_mlp']}), batch {b['batch_size']} × {b['seq_len']}, {b['tokens']:,} tokens | "
           f"{_rate(t['forward_to_block'])} | {_rate(t['caching'])} | "
           f"{b['caching_over_forward']:.2f}, {b['caching_over_forward_median']:.2f} | "
           f"≥ {b['target']:.2f} |"]
    if b["stop_at_layer"] >= b["n_layer"]:
        out += ["", "The hooked block is the model's last: TransformerLens's `stop_at_layer` "
                "then stops nowhere, and both columns include the final norm and unembedding."]
    return "\n".join(out)


@_bench_block("sae", "bench/sae_train.py", "steps_per_call")
def bench_sae(b: dict) -> str:
    """bench/sae_train.py: our SAE step beside SAELens's, same architecture and sparsity."""
    s = b["shapes"]
    rows = ["| SAE (start state) | ours tok/s | L0 ours | SAELens tok/s | L0 SAELens | "
            "ours ÷ SAELens (best, median) | of the encoder matmul |", "|---" * 7 + "|"]
    for variant, r in b["architectures"].items():
        name, _, l0 = variant.partition("@L0=")
        state = (f"b_enc shifted, aimed at L0 {l0}" if l0
                 else f"k {s['k']}" if "topk" in name else "dense, as initialised")
        theirs = r.get("saelens")
        rows.append(
            f"| {name} ({state}) | {_rate(r['ours'])} | {r['ours']['l0']:.1f} | "
            f"{_rate(theirs)} | {'–' if theirs is None else format(theirs['l0'], '.1f')} | "
            + ("–" if theirs is None else
               f"{r['ours_over_saelens']:.2f}, {r['ours_over_saelens_median']:.2f}")
            + f" | {r['fraction_of_encoder_only']:.2f} |")
    enc = b["encoder_only_tokens_per_s"]
    out = [_timing_line(b, f"Training tokens/s, {b['steps_per_call']} steps a call"), "", *rows,
           "", f"d_in {s['d_in']}, d_sae {s['d_sae']}, batch {s['batch']}, {s['dtype']}, "
           f"{b['threads']} threads, torch {b['torch']}, SAELens {b['saelens'] or '–'}, "
           f"allocator {b['allocator']}; L0 as measured on each side in the timed calls; the "
           f"encoder matmul x·W_enc alone: {_rate(enc)} tokens/s."]
    return "\n".join(out)


@_bench_block("toy", "bench/toy_sweep.py", "steps_per_call")
def bench_toy(b: dict) -> str:
    """bench/toy_sweep.py: s/member-step per way and precision, and like-for-like ratios."""
    sps = b["seconds_per_member_step"]
    rows = ["| run | seconds per member-step, best (median) |", "|---|---|"]
    for name, v in sps.items():
        rows.append(f"| {name.replace('_', ' ')} | {v['best']:.4f} ({v['median']:.4f}) |")
    ratios = []
    for key, r in b["ratios"].items():
        ours, _, theirs = key.partition("_vs_")
        mixed = ours.endswith("bfloat16") and theirs.endswith("float32")
        ratios.append(f"{ours.replace('_', ' ')} vs {theirs.replace('_', ' ')}: {r:.2f}×"
                      + (" (precision differs: not like for like)" if mixed else ""))
    out = [_timing_line(b, f"{b['members']}-member LR sweep, N {b['N']}, m {b['m']}, k "
                        f"{b['k']}, batch {b['batch']}, runs of {b['steps_per_call']} steps, "
                        f"{b['threads']} threads on {b['device']}"), "", *rows, "",
           "How many times faster (best figures): " + "; ".join(ratios) + "."]
    return "\n".join(out)


@_bench_block("culture_gen", "bench/culture_gen.py", "rounds")
def bench_culture_gen(b: dict) -> str:
    """bench/culture_gen.py: quizzes/s, ours beside Fleuret's grids.py, one thread each."""
    rows = ["| tasks | ours | reference | ours ÷ reference (best, median) |", "|---|---|---|---|"]
    for name, r in b["quizzes_per_s"].items():
        ratio = f"{r['ratio']:.1f}×, {r['ratio_median']:.1f}×" if "ratio" in r else "–"
        rows.append(f"| {name} | {_rate(r['ours'])} | {_rate(r.get('reference'))} | {ratio} |")
    out = [_timing_line(b, "Quizzes/s on one thread"), "", *rows]
    if "meets_target" in b:
        out += ["", f"Mix: {b['quizzes_per_s']['mix']['ratio']:.1f}× the reference (target "
                f"{b['target_ratio_mix']:.0f}×)."]
    return "\n".join(out)


@_bench_block("ci_repro", "bench/ci_repro.py", "startup_seconds")
def bench_ci_repro(b: dict) -> str:
    """bench/ci_repro.py: the ci profile's `dvc repro` by kind of stage, beside each process's
    start-up (its module-level imports), and `dvc status` with and without libyaml."""
    m, counts = b["machine"], {}
    for name in b["stage_seconds"]:
        counts[name.split("@")[0]] = counts.get(name.split("@")[0], 0) + 1
    rows = ["| stage | processes | seconds | start-up per process (s) |", "|---|---|---|---|"]
    rows += [f"| {kind} | {counts[kind]} | {s:.1f} | {b['startup_seconds'][kind]:.1f} |"
             for kind, s in b["seconds_by_kind"].items()]
    st = b["dvc_status_seconds"]
    return "\n".join([
        f"One `dvc repro` of the ci profile from nothing ({b['stages']} stages), {m['cores']} "
        f"cores, load {m['load_before']} before and {m['load_after']} after:", "", *rows, "",
        f"{b['repro_seconds']:.0f} s in all (target {b['target_seconds']:.0f} s); the "
        f"processes' start-up alone is {b['startup_floor_seconds']:.0f} s of it "
        f"({b['startup_share']:.0%}). `dvc status` of the finished run: {st['libyaml']:.2f} s "
        f"with libyaml, {st['pure_python']:.2f} s with ruamel's pure-Python parser "
        f"({b['dvc_status_speedup_libyaml']:.2f}×; best of {b.get('rounds', 3)} alternating "
        "rounds)."])


def _learnt(t: dict) -> float | None:
    """Share of the copy answer's wrong cells that the model gets right: 0 before it learns
    anything of the rule, 1 when every cell is right."""
    cell, copy = t.get("cell_accuracy_greedy"), t.get("cell_accuracy_copy")
    return None if cell is None or copy is None or copy >= 1 else (cell - copy) / (1 - copy)


def culture_tasks(metrics: Path) -> str:
    """bench/culture_tasks.py: culture tasks trained alone (most learnt first), then mixes."""
    b = _json(metrics / "bench" / "culture_tasks.json")
    if not b.get("runs"):
        return "(no metrics/bench/culture_tasks.json yet: run `python bench/culture_tasks.py`)"
    rec, m = b["recipe"], b.get("machine", {})
    rows = ["| trained on | tokens | task | greedy quiz accuracy | cell accuracy (copying the "
            "other grid) | copy errors removed | quiz accuracy on the way | per order "
            "0 / 1 / 2 / 3 | minutes |", "|---|---|---|---|---|---|---|---|---|"]

    def rank(item):
        r = item[1]
        t = next(iter(r["per_task"].values()))
        return (len(r["tasks"]), r["steps"], -(t["accuracy_greedy"] or 0), -(_learnt(t) or 0))

    for _, r in sorted(b["runs"].items(), key=rank):
        orders = " / ".join(_f(r["by_order"].get(str(o)), 2) for o in range(4))
        mix = "alone" if len(r["tasks"]) == 1 else " + ".join(r["tasks"])
        head = [mix, f"{r['train_tokens']:,}"]
        for task, t in r["per_task"].items():
            way = ", ".join(f"{v:.2f}" for _, v in t["quiz_greedy"][:-1]) or "–"
            cells = f"{_f(t['cell_accuracy_greedy'], 3)} ({_f(t.get('cell_accuracy_copy'), 3)})"
            tail = [orders, f"{r['minutes']:.1f}"] if head[0] else ["", ""]
            rows.append("| " + " | ".join([*head, task, _f(t["accuracy_greedy"], 2), cells,
                                            _f(_learnt(t), 2), way, *tail]) + " |")
            head = ["", ""]
    return "\n".join([
        f"The {rec['profile']} culture recipe, batch {rec['batch_size']}, "
        f"{rec['eval_per_task']} held-out quizzes per task; minutes on {m.get('cores', '?')} "
        "cores, data generation and evaluation included:", "", *rows])
