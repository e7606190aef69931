"""The README's results tables, rendered from the committed metrics/ (and timing files) of
the last full `dvc repro`: `python -m dictlearn.results` rewrites the block between the
markers in README.md, `--check` exits 1 when the README and metrics/ disagree (a test runs
it), so no figure in the README outlives the run it came from."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _f(value: object, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _minutes(seconds: object) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def models_table(metrics: Path) -> list[str]:
    rows = ["| model | validation loss | domain measure | train tokens | train minutes |",
            "|---|---|---|---|---|"]
    for folder in sorted(p.parent for p in metrics.glob("*/train_lm/metrics.json")):
        m, t = _json(folder / "metrics.json"), _json(folder / "timing.json")
        if "accuracy_greedy" in m:
            measure = f"quiz accuracy {_f(m['accuracy_greedy'])} greedy, {_f(m['accuracy_t1'])} at T=1"
        elif "stroke_accuracy" in m:
            measure = (f"stroke accuracy {_f(m['stroke_accuracy'])} "
                       f"(held-out words {_f(m['stroke_accuracy_heldout'])})")
        else:
            measure = ", ".join(f"{k.removeprefix('val_loss_')} {_f(v)}" for k, v in m.items()
                                if k.startswith("val_loss_"))
        rows.append(f"| {folder.parent.name} | {_f(m.get('val_loss'))} | {measure} | "
                    f"{m.get('train_tokens', '–'):,} | {_minutes(t.get('train_seconds'))} |")
    return rows


def quiz_table(metrics: Path) -> list[str]:
    """Culture models: greedy quiz accuracy per task (cell accuracy in brackets)."""
    found = {}
    for path in sorted(metrics.glob("*/train_lm/metrics.json")):
        m = _json(path)
        tasks = [k.removeprefix("cell_accuracy_").removesuffix("_greedy") for k in m
                 if k.startswith("cell_accuracy_") and k.endswith("_greedy")
                 and k != "cell_accuracy_greedy"]
        if tasks:
            found[path.parent.parent.name] = (m, tasks)
    if not found:
        return []
    tasks = next(iter(found.values()))[1]
    rows = ["| model | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for name, (m, _) in found.items():
        rows.append(f"| {name} | " + " | ".join(
            f"{_f(m.get(f'accuracy_{t}_greedy'), 2)} ({_f(m.get(f'cell_accuracy_{t}_greedy'), 3)})"
            for t in tasks) + " |")
    return rows


def saes_table(metrics: Path) -> list[str]:
    rows = ["| SAE | L0 | explained variance | CE loss recovered | dead | train minutes |",
            "|---|---|---|---|---|---|"]
    for folder in sorted(p.parent for p in (metrics / "saes").glob("*/eval/metrics.json")):
        m = _json(folder / "metrics.json")
        t = _json(folder.parent / "train" / "timing.json")
        rows.append(f"| {folder.parent.name} | {_f(m['l0'], 1)} | {_f(m['explained_variance'])} "
                    f"| {_f(m['ce_loss_recovered'])} | {_f(m['dead_fraction'])} | "
                    f"{_minutes(t.get('seconds'))} |")
    return rows


def studies_table(metrics: Path) -> list[str]:
    rows = ["| study | result |", "|---|---|"]
    u = _json(metrics / "universality" / "metrics.json")
    for kind in ("features", "neurons"):
        if kind in u:
            rows.append(f"| universality, {kind} ({u['models']} models) | universal share "
                        f"{_f(u[kind]['universal_share'])}, mean best correlation "
                        f"{_f(u[kind]['mean_best_correlation'])} |")
    loop = _json(metrics / "culture_loop" / "metrics.json")
    gens = [v for k, v in sorted(loop.items()) if k.startswith("generation_") and k != "generation_0"]
    if loop.get("enabled") and gens:
        per_gen = ", ".join(str(g.get("kept", 0)) for g in gens)
        made = sum(g.get("generated", 0) for g in gens)
        acc = [sum(a["all"] for a in g["accuracy"].values()) / len(g["accuracy"])
               for g in (loop["generation_0"], gens[-1])]
        rows.append(f"| culture loop ({len(gens)} generations) | kept {per_gen} quizzes per "
                    f"generation of {made} written; mean held-out accuracy {_f(acc[0])} before, "
                    f"{_f(acc[1])} after re-training |")
    for path in sorted((metrics / "toy").glob("*/metrics.json")):
        m = _json(path)
        best = m["best"]
        rows.append(f"| toy {path.parent.name} (varies {m['variable']}) | best "
                    f"{m['variable']}={best[m['variable']]:g}: monosemantic fraction "
                    f"{_f(best['mono_fraction'])}, loss {_f(best['loss'], 4)} |")
    return rows if len(rows) > 2 else []


def render(metrics: Path) -> str:
    parts = ["Models:", "", *models_table(metrics)]
    quizzes = quiz_table(metrics)
    if quizzes:
        parts += ["", "Culture models, greedy quiz accuracy per task on held-out quizzes (cell "
                  "accuracy in brackets):", "", *quizzes]
    parts += ["", "SAEs:", "", *saes_table(metrics)]
    studies = studies_table(metrics)
    if studies:
        parts += ["", "Studies:", "", *studies]
    return "\n".join(parts)


def bench_train_lm(metrics: Path) -> str:
    """bench/train_lm.py's figures (metrics/bench/train_lm.json), if it has been run."""
    b = _json(metrics / "bench" / "train_lm.json")
    if not b:
        return "(no metrics/bench/train_lm.json yet: run `python bench/train_lm.py`)"
    rows = ["| shape | ours fp32 | ours bf16 | bare step fp32 / bf16 | nanoGPT fp32 / bf16 | "
            "loop ÷ bare (fp32, bf16) | ours bf16 ÷ nanoGPT fp32 |", "|---|---|---|---|---|---|---|"]
    for name, r in b["shapes"].items():
        t = {k: v["best"] for k, v in r["tokens_per_s"].items()}
        nano = (f"{t['nanogpt_fp32']:,} / {t['nanogpt_bf16']:,}" if "nanogpt_fp32" in t
                else "skipped")
        ratio = _f(r.get("ours_bf16_over_nanogpt_fp32"), 2) + "×" \
            if "ours_bf16_over_nanogpt_fp32" in r else "–"
        rows.append(f"| {name} (batch {r['batch_size']} × {r['seq_len']}) | "
                    f"{t['ours_loop_fp32']:,} | {t['ours_loop_bf16']:,} | "
                    f"{t['ours_bare_fp32']:,} / {t['ours_bare_bf16']:,} | {nano} | "
                    f"{_f(r['loop_over_bare_fp32'], 2)}, {_f(r['loop_over_bare_bf16'], 2)} | "
                    f"{ratio} |")
    m = b["machine"]
    out = ["Training tokens/s (best of 3 alternating rounds after a warm-up call each; "
           f"{m['cores']} cores, load {m['load_before']} before and {m['load_after']} after):",
           "", *rows]
    q = b.get("quality_text_default")
    if q:
        out += ["", f"Default text model trained to the end from one seed: validation loss "
                f"{q['fp32']['val_loss']:.4f} in fp32, {q['bf16']['val_loss']:.4f} in bf16 "
                f"({100 * q['relative_difference']:.2f}% apart), at "
                f"{q['fp32']['train_tokens_per_s']:,.0f} and {q['bf16']['train_tokens_per_s']:,.0f}"
                " tokens/s."]
    return "\n".join(out)


BLOCKS = {"results": render, "bench-train-lm": bench_train_lm}


def render_blocks(text: str, metrics: Path) -> str:
    for name, fn in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = f"{head}{start}\n{fn(metrics)}\n{end}{rest.split(end, 1)[1]}"
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics"))
    ap.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = ap.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"error: {args.readme}: no {START} … {END} block", file=sys.stderr)
        return 2
    new = render_blocks(text, args.metrics)
    if args.check:
        if new != text:
            print(f"{args.readme}: results differ from {args.metrics}/; run "
                  "`python -m dictlearn.results`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        tmp = args.readme.with_name(f".{args.readme.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
