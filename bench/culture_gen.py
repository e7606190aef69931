"""Culture quiz generation speed: quizzes/s of our vectorized generator on one thread, for the
all-task mix and per task, beside Fleuret's reference `grids.py` (also on one thread) when a
checkout of its `culture/` folder is given; without one it is reported and recorded as
skipped. Timed as bench/timing.py says: a warm-up call per way (ours builds its lookup
tables there), then >= 3 rounds alternating ours and the reference, each call generating for
about `--seconds` (ours) or `--ref-seconds` (reference) of wall time; best and median.

Target: >= 40x the reference on the mix. Writes metrics/bench/culture_gen.json.
    python bench/culture_gen.py [--reference PATH/TO/culture] [--seconds 1] [--ref-seconds 2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from timing import compare, machine, require_quiet, skipped, write_figures  # noqa: E402

from dictlearn.domains.culture.tasks import TASKS, make_quizzes  # noqa: E402

TARGET = 40.0
GET_REFERENCE = ("pass --reference <the culture/ folder of a checkout of Fleuret's culture "
                 "code, holding grids.py> (make bench CULTURE_REFERENCE=...), e.g. git clone "
                 "https://github.com/tom-pollak/interpretability-culture → its culture/")


def for_seconds(make: Callable[[], int], seconds: float) -> Callable[[], int]:
    """A way: call `make` (returns how many it made) until `seconds` have passed."""
    def call() -> int:
        made, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            made += make()
        return made
    return call


def load_reference(culture_dir: Path):
    """Fleuret's Grids, generating in the calling thread; cairo and torchvision (drawing
    only) replaced by empty modules when absent."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    stubs = Path(tempfile.mkdtemp(prefix="culture_stubs_"))
    for name in ("cairo", "torchvision"):
        try:
            __import__(name)
        except ImportError:
            (stubs / f"{name}.py").write_text("")
    sys.path[:0] = [str(stubs), str(culture_dir)]
    import grids

    return grids.Grids(nb_threads=-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, default=None,
                    help="a checkout of Fleuret's culture/ folder (holding grids.py)")
    ap.add_argument("--seconds", type=float, default=1.0, help="seconds per call, ours")
    ap.add_argument("--ref-seconds", type=float, default=2.0,
                    help="seconds per call, reference")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (>= 3)")
    ap.add_argument("--batch", type=int, default=8192, help="quizzes per make_quizzes call")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset")
    ap.add_argument("--out", type=Path, default=Path("metrics/bench/culture_gen.json"))
    ap.add_argument("--force", action="store_true",
                    help="measure even on a busy machine (prints figures, never writes them)")
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    if args.reference is not None and not (args.reference / "grids.py").is_file():
        sys.exit(f"--reference {args.reference}: no grids.py there; point it at the "
                 "reference repository's culture/ folder")
    load = require_quiet("bench/culture_gen.py", args.force)
    rng = np.random.default_rng(0)
    ref = load_reference(args.reference) if args.reference else None
    result = {"threads": 1, "timer": "wall (perf_counter)", "batch": args.batch,
              "seconds": args.seconds, "ref_seconds": args.ref_seconds,
              "rounds": max(3, args.rounds), "target_ratio_mix": TARGET, "skipped": {},
              "quizzes_per_s": {}}
    if ref is None:
        skipped(result, "Fleuret's grids.py", GET_REFERENCE)
    for name in ["mix", *tasks]:
        mix = tasks if name == "mix" else [name]
        ways = {"ours": for_seconds(
            lambda mix=mix: len(make_quizzes(mix, args.batch, rng)["input_ids"]), args.seconds)}
        if ref is not None:
            methods = [getattr(ref, "task_" + t) for t in mix]
            ways["reference"] = for_seconds(
                lambda m=methods: len(ref.generate_w_quizzes_(50, tasks=m)), args.ref_seconds)
        rates = compare(ways, args.rounds, unit="quizzes", label=f"{name}: ")
        row = result["quizzes_per_s"][name] = rates
        if ref is not None:
            row["ratio"] = rates["ours"]["best"] / rates["reference"]["best"]
            row["ratio_median"] = rates["ours"]["median"] / rates["reference"]["median"]
    print(f"\n{'task':14s} {'ours/s':>11s} {'reference/s':>12s} {'ratio':>8s}  (best)")
    for name, row in result["quizzes_per_s"].items():
        theirs = row.get("reference", {}).get("best")
        print(f"{name:14s} {row['ours']['best']:11,.0f} "
              + ("" if theirs is None else f"{theirs:12,.0f} {row['ratio']:7.1f}x"))
    if ref is not None:
        result["meets_target"] = result["quizzes_per_s"]["mix"]["ratio"] >= TARGET
        print(f"mix: {result['quizzes_per_s']['mix']['ratio']:.1f}x the reference "
              f"(target {TARGET:.0f}x)")
    result["machine"] = machine(load)
    write_figures(args.out, result, load)


if __name__ == "__main__":
    main()
