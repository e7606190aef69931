"""Stage culture_loop: Fleuret's culture loop on the culture models (params `culture_loop`;
an empty `models` list turns it off): each model writes new quizzes, all models try them, and
a quiz is kept when exactly one model fails it."""

import argparse
import json
from pathlib import Path

from safetensors.torch import save_file

from dictlearn.core.schema import load_settings
from dictlearn.domains.base import escape
from dictlearn.domains.culture.domain import grid_html
from dictlearn.domains.culture.config import CultureLoopSettings
from dictlearn.domains.culture.loop import culture_loop, grids_of
from dictlearn.lm.checkpoint import load_model
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import pick_device, seed_everything, stage_main

TITLES = ("A", "f(A)", "B", "f(B)")


def sample_html(metrics: dict, kept: dict, sample: dict) -> str:
    parts = []
    for name, quizzes in kept.items():
        shown, what = (quizzes, "kept") if len(quizzes) else (sample[name], "generated, none kept")
        parts.append(f"<h2>{escape(name)}: {metrics[name]['kept']} kept of "
                     f"{metrics[name]['generated']} ({escape(what)})</h2>")
        for grids in grids_of(shown[:4]).tolist():
            parts.append("<div>" + "".join(grid_html(g, title=t) for g, t in zip(grids, TITLES))
                         + "</div>")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>culture loop'
            '</title></head><body style="font-family:system-ui,sans-serif"><h1>Culture loop'
            "</h1>" + "".join(parts) + "</body></html>")


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=Path, default=Path("data/models"))
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, CultureLoopSettings)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    models = {m: load_model(args.models / m, device) for m in cfg.models}
    metrics, kept, sample = {}, {}, {}
    if models:
        metrics, kept, sample = culture_loop(models, list(cfg.tasks),
                                             cfg.n_quizzes, cfg.temperature, cfg.batch_size,
                                             cfg.seed, device)
    with atomic_path(args.out) as tmp_out, atomic_path(args.metrics) as tmp_metrics:
        tmp_out.mkdir()
        tmp_metrics.mkdir()
        save_file({f"kept_{m}": q.contiguous() for m, q in kept.items()},
                  str(tmp_out / "kept.safetensors"), metadata={"models": json.dumps(cfg.models)})
        (tmp_out / "index.html").write_text(sample_html(metrics, kept, sample), encoding="utf-8")
        write_json(tmp_metrics / "metrics.json", {"enabled": bool(models), **metrics})
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
