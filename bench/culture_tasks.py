"""Which culture tasks a small model learns fastest: each task trained alone, at the same
tokens, with the default profile's culture recipe, through the pipeline's own `prepare` and
`train_lm` stage scripts (so grid positions, the answer-weighted loss and the held-out
evaluation are exactly the pipeline's). The figures inform `prepare.culture.tasks`, but
how fast a task picks up its rule alone does not predict whole-quiz accuracy in a mix (tasks
that change few cells get whole quizzes right sooner): a candidate mix is checked with --mix.

    python bench/culture_tasks.py [--tasks frame detect] [--steps 300]   # each task alone
    python bench/culture_tasks.py --mix replace_color fill scale --steps 2500  # one mix

Per model and task: greedy quiz accuracy and cell accuracy on `eval_per_task` held-out
quizzes against training tokens, beside the cell accuracy of copying the other grid of the
pair (where a model starts); per model the final accuracy per posed order and its minutes.
Runs add to metrics/bench/culture_tasks.json, keyed by tasks, steps and seed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from timing import load_average, machine  # noqa: E402  (bench/timing.py)
from dictlearn.core.outputs import write_json  # noqa: E402
from dictlearn.results import _curve as results_curve  # noqa: E402
from dictlearn.domains.culture.tasks import TASKS, generate  # noqa: E402


def _curve(path: Path) -> list[list[float]]:
    """A dvclive curve (step = training tokens, value) as [[tokens, value], ...] (read as the
    README's reach table reads it)."""
    return [[int(t), round(v, 4)] for t, v in results_curve(path)] if path.is_file() else []


def copy_baseline(task: str, n: int = 2000, seed: int = 0) -> float:
    """Cell accuracy of answering each quiz with its other grid of the pair (f(B) := B, or B :=
    f(B) in the inverse orders): what a model scores before it learns anything of the rule."""
    import numpy as np

    grids = generate(task, n, np.random.default_rng(seed))
    return round(float((grids[:, 2] == grids[:, 3]).mean()), 4)


def probe(tasks: list[str], args, profile: dict, work: Path) -> dict:
    """One model trained on `tasks` (mixed as prepare.culture mixes them): per task, its
    greedy quiz and cell accuracy curves and final figures; the orders over all its tasks."""
    name = "+".join(tasks)
    prep = dict(profile["prepare"]["culture"], tasks=tasks, n_quizzes=args.quizzes,
                heldout_per_task=args.eval_per_task)
    train = dict(profile["train_lm"]["culture"], steps=args.steps, eval_every=args.eval_every,
                 checkpoint_every=0, warmup_steps=min(100, args.steps // 5))
    train["quizzes"] = dict(train["quizzes"], eval_per_task=args.eval_per_task)
    (work / "settings").mkdir(parents=True, exist_ok=True)
    sp, st = work / "settings" / f"prepare-{name}.json", work / "settings" / f"train-{name}.json"
    sp.write_text(json.dumps(prep))
    st.write_text(json.dumps({"model": {"domain": "culture", "seed": args.seed}, "train": train}))
    prepared, metrics = work / "prepared" / name, work / "metrics" / name
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t0 = time.perf_counter()
    for cmd in ([sys.executable, "stages/prepare.py", "--domain", "culture", "--settings", sp,
                 "--inputs", "src/dictlearn/domains/culture/tasks.py", "--out", prepared],
                [sys.executable, "stages/train_lm.py", "--model", f"probe-{name}", "--settings",
                 st, "--prepared", prepared, "--out", work / "models" / name, "--metrics",
                 metrics]):
        subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, check=True)
    m = json.loads((metrics / "metrics.json").read_text())
    plots = metrics / "plots" / "metrics"
    return {"tasks": tasks, "steps": args.steps, "seed": args.seed,
            "train_tokens": m.get("train_tokens"),
            "minutes": round((time.perf_counter() - t0) / 60, 2),
            "by_order": {o: m.get(f"accuracy_order{o}_greedy") for o in range(4)},
            "per_task": {task: {"quiz_greedy": _curve(plots / "quiz" / f"{task}.tsv"),
                                "cells": _curve(plots / "cells" / f"{task}.tsv"),
                                "accuracy_greedy": m.get(f"accuracy_{task}_greedy"),
                                "cell_accuracy_greedy": m.get(f"cell_accuracy_{task}_greedy"),
                                "cell_accuracy_copy": copy_baseline(task)} for task in tasks}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS,
                    help="each trained alone")
    ap.add_argument("--mix", nargs="+", choices=TASKS, help="instead: one model on these tasks")
    ap.add_argument("--steps", type=int, default=300, help="training steps per model")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-per-task", type=int, default=100)
    ap.add_argument("--quizzes", type=int, default=50_000, help="generated per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", type=Path, default=ROOT / "profiles" / "default.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "metrics" / "bench" / "culture_tasks.json")
    args = ap.parse_args()
    profile = yaml.safe_load(args.profile.read_text())
    out = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out.setdefault("runs", {})
    out["recipe"] = {"profile": args.profile.name, "eval_per_task": args.eval_per_task,
                     "batch_size": profile["train_lm"]["culture"]["batch_size"]}
    load = load_average()
    mixes = [args.mix] if args.mix else [[t] for t in args.tasks]
    with tempfile.TemporaryDirectory(prefix="culture-tasks-") as tmp:
        for tasks in mixes:
            key = f"{'+'.join(tasks)}@{args.steps}/seed{args.seed}"
            print(f"== {key}", flush=True)
            out["runs"][key] = r = probe(tasks, args, profile, Path(tmp))
            out["machine"] = machine(load)  # minutes are this machine's
            write_json(args.out, out)  # after each model: an interrupted run keeps the rest
            for task, t in r["per_task"].items():
                print(f"{key} {task}: quiz {t['accuracy_greedy']}, cells "
                      f"{t['cell_accuracy_greedy']} (copy {t['cell_accuracy_copy']})", flush=True)


if __name__ == "__main__":
    main()
