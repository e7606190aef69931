"""Stage families: feature splitting in each dictionary family of params `families` (the
`saes` entries that name it): every live feature of a larger member matched to its
best-cosine parent in the next smaller one, and the trees of children from the smallest."""

import argparse
from pathlib import Path

from dictlearn.analysis.family import FamiliesSettings, family_splits
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import stage_main
from dictlearn.core.schema import load_settings


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--saes", type=Path, default=Path("data/saes"))
    ap.add_argument("--out", type=Path, required=True, help="<family>.json: parents and trees")
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    families = load_settings(args.settings, FamiliesSettings).families
    records, metrics = {}, {}
    for name, family in families.items():
        records[name], metrics[name] = family_splits(family, args.saes)
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        for name, record in records.items():
            write_json(tmp / f"{name}.json", record)
    write_json(args.metrics / "metrics.json", metrics)
    for name, pairs in metrics.items():
        for large, m in pairs.items():
            print(f"{name}: {large:24s} " + "  ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()))


if __name__ == "__main__":
    main()
