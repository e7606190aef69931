"""Where the ci profile's `dvc repro` spends its time: the whole run from nothing in a fresh git
repo (as tests/test_e2e.py runs it), each stage's seconds from DVC's own "Running stage" lines,
and the two fixed costs every stage pays before and after its work:

- start-up: `python stages/<script>.py --help` per stage script (the interpreter and the
  imports a stage needs: torch, transformers and TransformerLens for the model stages);
- DVC's bookkeeping: `dvc status` of the finished run, with DVC's YAML parsed by the libyaml
  C parser (ruamel.yaml.clib, pinned in requirements.lock) against ruamel's pure-Python one,
  like for like in alternating rounds (bench/timing.py).

Target: the whole `dvc repro` in <= 180 s on 2 cores. Writes metrics/bench/ci_repro.json.
    python bench/ci_repro.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from timing import Timed, compare, machine, require_quiet, write_figures  # noqa: E402

from dictlearn.params.smoke import seed_repo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 180.0
# `dvc` with ruamel's C parser made unimportable: every YAML file parsed in pure Python
PURE_DVC = ("import sys; sys.modules['_ruamel_yaml'] = None; from dvc.cli import main; "
            "sys.exit(main(sys.argv[1:]))")


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def repro(repo: Path) -> tuple[float, dict[str, float]]:
    """`dvc repro` from nothing; → its seconds and each stage's (start to the next start)."""
    starts: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(["dvc", "repro"], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
        if m := re.search(r"Running stage '([^']+)'", line):
            starts.append((m.group(1), time.perf_counter()))
            print(f"{starts[-1][1] - t0:6.1f} s  {m.group(1)}", flush=True)
    if proc.wait():
        sys.exit(f"error: dvc repro failed in {repo} (exit {proc.returncode})")
    total = time.perf_counter() - t0
    ends = [t for _, t in starts[1:]] + [t0 + total]
    return total, {name: round(end - t, 2) for (name, t), end in zip(starts, ends)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (>= 3)")
    ap.add_argument("--out", type=Path, default=ROOT / "metrics/bench/ci_repro.json")
    ap.add_argument("--force", action="store_true", help="measure on a busy machine; print only")
    args = ap.parse_args()
    load = require_quiet("the ci repro", args.force)
    if shutil.which("dvc") is None:
        sys.exit("error: dvc not on PATH: run with the venv's bin first (make test builds it)")

    with tempfile.TemporaryDirectory(prefix="ci_repro_") as tmp:
        repo = seed_repo(ROOT, Path(tmp), (ROOT / "profiles/ci.yaml").read_text(), "ci")
        total, stages = repro(repo)

        kinds = collections.Counter(name.split("@")[0] for name in stages)
        help_of = {kind: (lambda k=kind: Timed(1, timed([sys.executable, f"stages/{k}.py",
                                                         "--help"], repo))) for kind in kinds}
        startup = {kind: round(1 / r["best"], 2) for kind, r in compare(
            help_of, rounds=args.rounds, unit="starts", label="start-up ").items()}
        status = compare({
            "libyaml": lambda: Timed(1, timed(["dvc", "status", "-q"], repo)),
            "pure_python": lambda: Timed(1, timed([sys.executable, "-c", PURE_DVC, "status",
                                                   "-q"], repo))},
            rounds=args.rounds, unit="calls", label="dvc status ")

    by_kind: dict[str, float] = collections.defaultdict(float)
    for name, s in stages.items():
        by_kind[name.split("@")[0]] += s
    floor = sum(startup[k] * n for k, n in kinds.items())
    seconds = {way: round(1 / r["best"], 2) for way, r in status.items()}
    result = {
        "repro_seconds": round(total, 1), "target_seconds": TARGET_S,
        "meets_target": total <= TARGET_S, "stages": len(stages),
        "seconds_by_kind": {k: round(v, 1) for k, v in sorted(by_kind.items(),
                                                              key=lambda kv: -kv[1])},
        "startup_seconds": startup, "startup_floor_seconds": round(floor, 1),
        "startup_share": round(floor / total, 3),
        "dvc_status_seconds": seconds,
        "dvc_status_speedup_libyaml": round(seconds["pure_python"] / seconds["libyaml"], 2),
        "rounds": max(3, args.rounds), "stage_seconds": stages, "machine": machine(load),
    }
    print(f"dvc repro: {total:.0f} s for {len(stages)} stages (target {TARGET_S:.0f} s); "
          f"start-up alone {floor:.0f} s ({floor / total:.0%}); dvc status "
          f"{seconds['libyaml']:.2f} s with libyaml, {seconds['pure_python']:.2f} s without")
    if args.force:
        print(result)
        return
    write_figures(args.out, result, load)


if __name__ == "__main__":
    main()
