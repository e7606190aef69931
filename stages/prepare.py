"""Stage prepare@{domain}: the domain's tokenizer.json and HF dataset (train/validation)."""

import argparse
from pathlib import Path

from dictlearn.config import load_params
from dictlearn.domains import get_domain
from dictlearn.outputs import atomic_path, write_json
from dictlearn.runtime import InputError, stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--inputs", type=Path, default=None, help="raw material, if the domain has any")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    params = load_params()
    cfg = getattr(params.prepare, args.domain, None)
    if cfg is None:
        raise InputError(f"prepare.{args.domain}: no such section in params.yaml")
    domain = get_domain(args.domain)
    with atomic_path(args.out) as tmp:
        stats = domain.prepare(cfg, args.inputs, tmp)
        write_json(tmp / "stats.json", stats)
    print(stats)


if __name__ == "__main__":
    main()
