"""A profile at its real shapes for a handful of steps: `python -m dictlearn.params.smoke gpu
DIR` (or `make smoke-gpu`).

Every count shrinks to a few (training steps and tokens, quizzes, samples, evaluation
sequences, toy sweep points); every shape stays (layers, widths, heads, contexts, vocabularies,
batch sizes, d_sae, the hook sites, every model and SAE entry). DIR becomes a git repository
holding this tree with that params.yaml, and `dvc repro` runs there, so a shape, memory or
config error of profiles/<name>.yaml shows on a CPU in minutes, not after hours on a GPU."""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from dictlearn.core.errors import ParamsError
from dictlearn.params.schema import parse_params

# section path ('*' = every entry) → the counts it holds, shrunk; fields absent from a profile
# are left out, so a profile without some section or knob still runs
COUNTS: dict[tuple[str, ...], dict[str, Any]] = {
    ("prepare", "text"): {"max_tokens_per_label": 200_000},
    ("prepare", "culture"): {"n_quizzes": 2048, "heldout_per_task": 2, "chunk": 1024},
    ("prepare", "strokes"): {"n_samples": 1024, "corpus_words": 40,
                             "heldout_samples_per_word": 1},
    ("train_lm", "*"): {"steps": 2, "warmup_steps": 1, "eval_every": 2, "eval_batches": 1},
    ("train_lm", "*", "samples"): {"max_new_tokens": 8},
    ("train_lm", "*", "quizzes"): {"eval_per_task": 1},
    ("eval_sae",): {"max_sequences": 4},
    ("universality",): {"max_sequences": 4},
    ("culture_loop",): {"generations": 1, "keep": 2, "max_generated": 4, "retrain_quizzes": 8},
    ("toy",): {"steps": 2},
    ("report",): {"n_features": 3, "n_examples": 2},
}
SAE_STEPS = 3  # each SAE trains on SAE_STEPS batches of its (real) batch size


def nodes(tree: dict, path: tuple[str, ...]):
    if not path:
        yield tree
        return
    head, rest = path[0], path[1:]
    for key in (tree if head == "*" else [head]):
        if isinstance(tree.get(key), dict):
            yield from nodes(tree[key], rest)


def shrink(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with every count shrunk and every shape kept (see the module doc)."""
    out = copy.deepcopy(params)
    for path, counts in COUNTS.items():
        for node in nodes(out, path):
            node.update({k: v for k, v in counts.items() if k in node})
    sae = out["sae"]
    batch = max([sae["batch_size"]] + [e["batch_size"] for e in out["saes"].values()
                                       if "batch_size" in e])
    sae.update(training_tokens=SAE_STEPS * batch, warmup_steps=1, resample_every=1)
    for entry in out["saes"].values():
        entry.pop("training_tokens", None)
    # the store must hold a few SAE batches, in whole sequences of the longest context
    out["cache_acts"]["max_tokens"] = (SAE_STEPS + 1) * batch
    for sweep in out["toy"]["sweeps"].values():
        sweep["values"] = sweep["values"][:2]
    return out


def copy_tree(root: Path, dest: Path) -> None:
    """The tree at `root` (tracked and untracked, not ignored files) copied to `dest`, without
    a run's results (metrics/, dvc.lock): what a fresh clone would `dvc repro` from."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=root, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (root / f).is_file() and not f.startswith(("metrics/", "dvc.lock")):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / f, dest / f)


def make_repo(profile: str, dest: Path, root: Path = Path(".")) -> Path:
    """DIR as a fresh git repository of the tree at `root` (tracked and untracked, not ignored
    files; no metrics/ or dvc.lock) with the shrunk profile as params.yaml."""
    src = root / "profiles" / f"{profile}.yaml"
    if not src.is_file():
        available = sorted(p.stem for p in (root / "profiles").glob("*.yaml"))
        raise ParamsError(f"profiles/{profile}.yaml: no such profile; available: {available}")
    params = shrink(yaml.safe_load(src.read_text(encoding="utf-8")))
    parse_params(params, f"profiles/{profile}.yaml, shrunk")  # refused here, before any copy
    if dest.exists() and any(dest.iterdir()):
        raise ParamsError(f"{dest}: exists and is not empty; give a new directory")
    return seed_repo(root, dest, f"# profiles/{profile}.yaml at its real shapes, every count "
                     "shrunk (python -m dictlearn.params.smoke)\n"
                     + yaml.safe_dump(params, sort_keys=False), f"smoke: {profile}")


def seed_repo(root: Path, dest: Path, params_text: str, message: str) -> Path:
    """`dest` as a fresh git repository of the tree at `root` (copy_tree) with `params_text` as
    its params.yaml, all of it in one commit: what `dvc repro` runs from."""
    copy_tree(root, dest)
    (dest / "params.yaml").write_text(params_text, encoding="utf-8")
    git = ["git", "-c", "user.name=dictlearn", "-c", "user.email=dictlearn@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dest, check=True)
    subprocess.run(git + ["commit", "-qm", message], cwd=dest, check=True)
    return dest


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", help="a profile of profiles/, e.g. gpu")
    ap.add_argument("dir", type=Path, help="a new directory for the smoke repository")
    ap.add_argument("--no-repro", action="store_true", help="set the repository up only")
    args = ap.parse_args(argv)
    try:
        repo = make_repo(args.profile, args.dir)
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{repo}: profiles/{args.profile}.yaml at its real shapes, every count shrunk")
    if args.no_repro:
        return 0
    return subprocess.run(["dvc", "repro"], cwd=repo).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
