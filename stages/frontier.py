"""Stage frontier: L0 against explained variance and CE loss recovered for every SAE."""

import argparse
from pathlib import Path

from dictlearn.analysis.frontier import FrontierSettings, collect, draw, write_tables
from dictlearn.core.schema import load_settings
from dictlearn.core.outputs import atomic_path
from dictlearn.core.runtime import stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evals", type=Path, required=True, help="metrics/saes: <name>/eval/")
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = collect(load_settings(args.settings, FrontierSettings), args.evals)
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        write_tables(rows, tmp)
        draw(rows, tmp / "frontier.png")
    for r in rows:
        print(f"{r['sae']:28s} L0 {r['l0']:8.1f}  EV {r['explained_variance']:.3f}  "
              f"CE rec {r['ce_loss_recovered']:.3f}")


if __name__ == "__main__":
    main()
