"""Stage culture_loop: Fleuret's culture loop on the culture models (params `culture_loop`;
an empty `models` list turns it off). Each generation the models write new quizzes, every
model scores them, the quizzes some fail and the rest understand are kept, and every model is
re-trained on world quizzes plus the kept ones (domains/culture/loop.py)."""

import argparse
import json
from pathlib import Path

from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import pick_device, seed_everything, stage_main
from dictlearn.core.schema import load_settings
from dictlearn.domains.culture.config import CultureLoopSettings

TITLES = ("A", "f(A)", "B", "f(B)")


def sample_html(metrics: dict, kept: dict, seen: dict) -> str:
    from dictlearn.domains.base import escape
    from dictlearn.domains.culture.domain import grid_html

    parts = []
    for g, quizzes in kept.items():
        shown, what = (quizzes, "kept") if len(quizzes) else (seen[g], "written, none kept")
        parts.append(f"<h2>{escape(g.replace('_', ' '))}: {metrics[g]['kept']} kept of "
                     f"{metrics[g]['generated']} written ({escape(what)})</h2>")
        for grids in shown[:8].tolist():
            parts.append("<div>" + "".join(grid_html(c, title=t) for c, t in zip(grids, TITLES))
                         + "</div>")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>culture loop'
            '</title></head><body style="font-family:system-ui,sans-serif"><h1>Culture loop'
            "</h1>" + "".join(parts) + "</body></html>")


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=Path, default=Path("data/models"))
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared/culture"))
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, CultureLoopSettings)
    metrics, kept, seen = {}, {}, {}
    if cfg.models:  # the models and torch are loaded only when the loop is on
        from safetensors.torch import save_file

        from dictlearn.domains import get_domain
        from dictlearn.domains.culture.domain import heldout_quizzes
        from dictlearn.domains.culture.loop import culture_loop
        from dictlearn.lm.checkpoint import load_model

        device = pick_device(cfg.device)
        seed_everything(cfg.seed)
        models = {m: load_model(args.models / m, device) for m in cfg.models}
        for model in models.values():  # load_model gives eager attention (for hooks); the
            model.set_attn_implementation("sdpa")  # loop samples and trains as train_lm does
        heldout = heldout_quizzes(args.prepared, cfg.train.quizzes.eval_per_task)
        weights = get_domain("culture").loss_weights(cfg.train, heldout[0].shape[1])
        metrics, kept, seen = culture_loop(models, cfg, cfg.train, heldout, weights, device)
    with atomic_path(args.out) as tmp_out, atomic_path(args.metrics) as tmp_metrics:
        tmp_out.mkdir()
        tmp_metrics.mkdir()
        if kept:
            save_file({g: q.contiguous() for g, q in kept.items()},
                      str(tmp_out / "kept.safetensors"))
        (tmp_out / "index.html").write_text(sample_html(metrics, kept, seen), encoding="utf-8")
        write_json(tmp_metrics / "metrics.json", {"enabled": bool(cfg.models), **metrics})
    print(json.dumps(metrics, indent=1))

if __name__ == "__main__":
    main()
