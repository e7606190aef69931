"""Stage prepare@{domain}: the domain's tokenizer.json and HF dataset (train/validation)."""

import argparse
from pathlib import Path

from dictlearn.core.schema import load_settings
from dictlearn.domains import get_domain, prepare_schema
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--inputs", type=Path, default=None, help="raw material, if the domain has any")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, prepare_schema(args.domain))
    domain = get_domain(args.domain)
    with atomic_path(args.out) as tmp:
        stats = domain.prepare(cfg, args.inputs, tmp)
        write_json(tmp / "stats.json", stats)
    print(stats)


if __name__ == "__main__":
    main()
