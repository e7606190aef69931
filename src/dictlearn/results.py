"""The README's results tables, rendered from the committed metrics/ (and timing files) of
the last full `dvc repro`: `python -m dictlearn.results` rewrites the block between the
markers in README.md, `--check` exits 1 when the README and metrics/ disagree (a test runs
it), so no figure in the README outlives the run it came from."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from dictlearn.results_bench import (_f, _json, bench_cache_acts, bench_ci_repro,  # noqa: F401
                                     bench_culture_gen, bench_sae, bench_toy, bench_train_lm,
                                     culture_tasks)

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _minutes(seconds: object) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def _lm_rate(m: dict, t: dict) -> float | None:
    """A model's training tokens/s. A resumed run's train_seconds time only the steps after
    its checkpoint, while its rate is measured over those same steps: the rate holds."""
    if t.get("train_tokens_per_s"):
        return t["train_tokens_per_s"]
    return m["train_tokens"] / t["train_seconds"] if t.get("train_seconds") and m.get(
        "train_tokens") else None


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
        rate = _lm_rate(m, t) if m.get("train_tokens") else None  # all its tokens' minutes
        rows.append(f"| {folder.parent.name} | {_f(m.get('val_loss'))} | {measure} | "
                    f"{m.get('train_tokens', '–'):,} | "
                    f"{_minutes(m['train_tokens'] / rate if rate else None)} |")
    return rows


def quiz_tasks(m: dict) -> list[str]:
    """The tasks a culture model's metrics give quiz accuracy for (accuracy_<task>_greedy), in
    their order; not the overall figure or the per-order ones."""
    return [k.removeprefix("accuracy_").removesuffix("_greedy") for k in m
            if k.startswith("accuracy_") and k.endswith("_greedy")
            and not k.startswith("accuracy_order") and k != "accuracy_greedy"]


def quiz_table(metrics: Path) -> list[str]:
    """Culture models: greedy quiz accuracy per task (cell accuracy in brackets)."""
    found = {}
    for path in sorted(metrics.glob("*/train_lm/metrics.json")):
        m = _json(path)
        if tasks := quiz_tasks(m):
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


def order_table(metrics: Path) -> list[str]:
    """Culture models: greedy quiz accuracy per presentation order, all tasks together."""
    from dictlearn.domains.culture.tasks import GRIDS, ORDERS, POSED_ORDERS

    names = [f"{o}: (" + ", ".join(GRIDS[g].replace("f_", "f(") + (")" if "_" in GRIDS[g] else "")
                                   for g in ORDERS[o]) + ")" for o in POSED_ORDERS]
    found = {path.parent.parent.name: _json(path)
             for path in sorted(metrics.glob("*/train_lm/metrics.json"))}
    found = {k: m for k, m in found.items() if "accuracy_order0_greedy" in m}
    if not found:
        return []
    rows = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, m in found.items():
        rows.append(f"| {name} | " + " | ".join(
            _f(m.get(f"accuracy_order{o}_greedy"), 2) for o in POSED_ORDERS) + " |")
    return rows


def tokens_to(curve: list[tuple[float, float]], target: float = 0.9) -> float | None:
    """Training tokens at which a quiz-accuracy curve [(tokens, accuracy)] would reach
    `target`: logit(accuracy) fitted linear in log(tokens), least squares over the second half
    of training (points strictly between 0 and 1). None when it does not rise there."""
    end = curve[-1][0]
    pts = [(math.log(t), math.log(a / (1 - a))) for t, a in curve if t >= end / 2 and 0 < a < 1]
    if len(pts) < 2:
        return None
    mx, my = (sum(v) / len(pts) for v in zip(*pts))
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
    if slope <= 1e-9:
        return None
    return math.exp(mx + (math.log(target / (1 - target)) - my) / slope)


def _curve(path: Path) -> list[tuple[float, float]]:
    lines = path.read_text(encoding="utf-8").split("\n")[1:] if path.is_file() else []
    return [(float(a), float(b)) for a, b in (ln.split("\t") for ln in lines if ln.strip())]


def reach_table(metrics: Path, target: float = 0.9) -> list[str]:
    """Culture models: per task, the greedy accuracy reached, or the tokens (and minutes at the
    model's own training rate) at which its curve would reach `target`."""
    rows = []
    for path in sorted(metrics.glob("*/train_lm/plots/metrics/quiz")):
        folder = path.parent.parent.parent
        m, t = _json(folder / "metrics.json"), _json(folder / "timing.json")
        tasks = sorted(q.stem for q in path.glob("*.tsv") if q.stem != "all")
        if not rows:
            rows = ["| model | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
        rate = _lm_rate(m, t)
        cells = []
        for task in tasks:
            curve, final = _curve(path / f"{task}.tsv"), m.get(f"accuracy_{task}_greedy")
            need = tokens_to(curve, target) if curve else None
            if final is not None and final >= target:
                cells.append(f"reached ({_f(final, 2)})")
            elif need is None:
                cells.append("not rising")
            elif need > 100 * curve[-1][0]:
                cells.append("> 100× its tokens")
            else:
                mins = f", {need / rate / 60:,.0f} min" if rate else ""
                cells.append(f"{need / 1e6:,.0f}M tokens{mins}")
        rows.append(f"| {folder.parent.name} | " + " | ".join(cells) + " |")
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


def frequency_table(metrics: Path) -> list[str]:
    """Per SAE: the power-law fit of its rank-frequency curve, and the rare-feature cluster
    test (rare features' mean cosine to their mean direction, and a random draw's)."""
    rows = ["| SAE | rank-frequency slope | R² | rare features (< 1e-4) | their mean cosine | "
            "random draw's |", "|---|---|---|---|---|---|"]
    for folder in sorted(p.parent for p in (metrics / "saes").glob("*/eval/metrics.json")):
        m = _json(folder / "metrics.json")
        if "rank_frequency_slope" not in m:
            continue
        rows.append(f"| {folder.parent.name} | {_f(m['rank_frequency_slope'], 2)} | "
                    f"{_f(m['rank_frequency_r2'], 2)} | {m['rare_count']} | "
                    f"{_f(m['rare_mean_cosine'])} | {_f(m['random_mean_cosine'])} |")
    return rows if len(rows) > 2 else []


def studies_table(metrics: Path) -> list[str]:
    rows = ["| study | result |", "|---|---|"]
    u = _json(metrics / "universality" / "metrics.json")
    for kind in ("features", "neurons"):
        if kind in u:
            rows.append(f"| universality, {kind} ({u['models']} models) | universal share "
                        f"{_f(u[kind]['universal_share'])}, mean best correlation "
                        f"{_f(u[kind]['mean_best_correlation'])} |")
    loop = _json(metrics / "culture_loop" / "metrics.json")
    gens = [loop[f"generation_{i}"] for i in range(1, len(loop))
            if f"generation_{i}" in loop]
    if loop.get("enabled") and gens:
        per_gen = ", ".join(f"{g.get('kept', 0)} of {g.get('generated', 0)} "
                            f"({g.get('trivial', 0)} trivial)" for g in gens)
        understood = [b.get("understood", 0.0) for g in gens
                      for b in g.get("by_model", {}).values()]
        acc = [sum(a["all"] for a in g["accuracy"].values()) / len(g["accuracy"])
               for g in (loop["generation_0"], gens[-1])]
        rows.append(f"| culture loop ({len(gens)} generations) | quizzes kept of written, per "
                    f"generation: {per_gen}; "
                    + (f"the largest share of them a model understands {_f(max(understood))}; "
                       if understood else "")
                    + f"mean held-out accuracy {_f(acc[0])} before, "
                    f"{_f(acc[1])} after re-training |")
    for family, pairs in _json(metrics / "families" / "metrics.json").items():
        per = "; ".join(f"{large}: mean best cosine {_f(m['mean_best_cosine'])}, children "
                        f"{_f(m['close_fraction'])} of its live features, {m['split_parents']} "
                        "parents split" for large, m in pairs.items())
        rows.append(f"| dictionary family {family}, each member against the one before | "
                    f"{per} |")
    for path in sorted((metrics / "toy").glob("*/metrics.json")):
        m = _json(path)
        best = m["best"]
        rows.append(f"| toy {path.parent.name} (varies {m['variable']}) | best "
                    f"{m['variable']}={best[m['variable']]:g}: monosemantic fraction "
                    f"{_f(best['mono_fraction'])}, loss {_f(best['loss'], 4)} |")
    return rows if len(rows) > 2 else []


def _span(values: list[float], fmt: str = "{:.2f}") -> str:
    lo, hi = min(values), max(values)
    lo, hi = fmt.format(lo), fmt.format(hi)
    return lo if lo == hi else f"{lo}–{hi}"


def headline_table(metrics: Path) -> list[str]:
    """The ranges the README's prose speaks of, over the culture models and the SAEs."""
    from dictlearn.domains.culture.tasks import GRIDS, ORDERS, POSED_ORDERS

    rows = ["| figure | over the run |", "|---|---|"]
    culture = {}
    for path in sorted(metrics.glob("*/train_lm/metrics.json")):
        m = _json(path)
        if "accuracy_greedy" in m:
            culture[path.parent.parent.name] = (m, _json(path.parent / "timing.json"))
    if culture:
        ms = [m for m, _ in culture.values()]
        n = len(ms)
        rows.append(f"| culture models ({n}), greedy quiz accuracy, all tasks | "
                    f"{_span([m['accuracy_greedy'] for m in ms])} |")
        rows.append(f"| the same at temperature 1 | {_span([m['accuracy_t1'] for m in ms])} |")
        tasks = quiz_tasks(ms[0])
        for task in tasks:
            rows.append(f"| greedy, {task} | {_span([m[f'accuracy_{task}_greedy'] for m in ms])} |")
        # inverse orders: the answer is a grid before the rule (A or B), not after it
        inverse = [o for o in POSED_ORDERS if not GRIDS[ORDERS[o][-1]].startswith("f_")]
        for name, group in (("inverse", inverse),
                            ("forward", [o for o in POSED_ORDERS if o not in inverse])):
            vals = [m[f"accuracy_order{o}_greedy"] for m in ms for o in group
                    if f"accuracy_order{o}_greedy" in m]
            if vals:
                rows.append(f"| greedy, {name} orders ({', '.join(map(str, group))}) | "
                            f"{_span(vals)} |")
        reached = sorted(f"{name} {t}" for name, (m, _) in culture.items() for t in tasks
                         if m[f"accuracy_{t}_greedy"] >= 0.9)
        rows.append(f"| model and task at ≥ 0.9 greedy | {', '.join(reached) or 'none'} |")
        minutes = [m["train_tokens"] / r / 60 for m, t in culture.values()
                   if m.get("train_tokens") and (r := _lm_rate(m, t))]
        if minutes:
            rows.append(f"| culture train minutes per model | {_span(minutes, '{:.1f}')} |")
    freq = [_json(p) for p in sorted((metrics / "saes").glob("*/eval/metrics.json"))]
    r2 = [m["rank_frequency_r2"] for m in freq if m.get("rank_frequency_r2") is not None]
    if r2:
        rows.append(f"| R² of the rank-frequency line, {len(r2)} SAEs | {_span(r2)} |")
    return rows if len(rows) > 2 else []


def render(metrics: Path) -> str:
    parts = []
    headline = headline_table(metrics)
    if headline:
        parts += ["At a glance (the ranges the text below speaks of):", "", *headline, ""]
    parts += ["Models:", "", *models_table(metrics)]
    quizzes = quiz_table(metrics)
    if quizzes:
        parts += ["", "Culture models, greedy quiz accuracy per task on held-out quizzes (cell "
                  "accuracy in brackets):", "", *quizzes]
        parts += ["", "The same, per order in which the quiz is shown (the last grid is the "
                  "answer):", "", *order_table(metrics)]
        parts += ["", "Where each task's learning curve points (`tokens_to` in "
                  "`dictlearn/results.py`: logit of the greedy accuracy linear in log tokens "
                  "over the second half of training, extrapolated to 0.9; minutes at the "
                  "model's own training rate):", "", *reach_table(metrics)]
    parts += ["", "SAEs:", "", *saes_table(metrics)]
    frequency = frequency_table(metrics)
    if frequency:
        parts += ["", "Feature frequencies (eval_sae): the least-squares line of log frequency "
                  "against log rank over live features (a power law has R² = 1), and the "
                  "rare-feature cluster test:", "", *frequency]
    studies = studies_table(metrics)
    if studies:
        parts += ["", "Studies:", "", *studies]
    return "\n".join(parts)


BLOCKS = {"results": render, "bench-train-lm": bench_train_lm,
          "bench-cache-acts": bench_cache_acts, "bench-sae": bench_sae, "bench-toy": bench_toy,
          "bench-culture-gen": bench_culture_gen, "bench-ci-repro": bench_ci_repro,
          "culture-tasks": culture_tasks}


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
