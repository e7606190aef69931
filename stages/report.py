"""Stage report: the feature browser, a static site (file://, no network) over every model's
results: index.html, a page per SAE and per feature."""

import argparse
from pathlib import Path

from dictlearn.core.schema import load_settings
from dictlearn.core.outputs import atomic_path
from dictlearn.report.build import ModelInputs, SAEInputs, build_report
from dictlearn.report.config import ReportSettings
from dictlearn.core.runtime import stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--metrics", type=Path, default=Path("metrics"))
    ap.add_argument("--models-dir", type=Path, default=Path("data/models"))
    ap.add_argument("--evals-dir", type=Path, default=Path("data/evals"))
    ap.add_argument("--saes-dir", type=Path, default=Path("data/saes"))
    ap.add_argument("--families-dir", type=Path, default=Path("data/families"))
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, ReportSettings)
    models = [ModelInputs(
        name=name, domain=spec.domain,
        lm_metrics=args.metrics / name / "train_lm" / "metrics.json",
        samples=args.metrics / name / "train_lm" / "samples.md",
        checkpoint=args.models_dir / name,
        saes=[SAEInputs(name=sae, train_metrics=args.metrics / "saes" / sae / "train" /
                        "metrics.json",
                        eval_metrics=args.metrics / "saes" / sae / "eval" / "metrics.json",
                        features=args.evals_dir / sae / "features.safetensors",
                        weights=args.saes_dir / sae)
              for sae in spec.saes])
        for name, spec in cfg.models.items()]
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        build_report(models, tmp, cfg.n_features, cfg.n_examples,
                     args.metrics / "frontier" / "frontier.png", Path("data/universality"),
                     args.metrics / "universality" / "metrics.json", Path("data/culture_loop"),
                     args.metrics / "culture_loop" / "metrics.json", args.metrics / "toy",
                     {f: args.families_dir / f"{f}.json" for f in cfg.families},
                     args.metrics / "families" / "metrics.json")
    print(f"report: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
