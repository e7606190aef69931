"""Culture quiz generation speed: quizzes/s of our vectorized generator on one thread, for the
all-task mix and per task, beside Fleuret's reference `grids.py` measured in the same run
when a checkout of its `culture/` folder is given.

Target: >= 40x the reference on the mix. Rates are per CPU second of this (single-threaded)
process, so other load on a shared machine disturbs them less than wall time would.
Writes metrics/bench/culture_gen.json.
    python bench/culture_gen.py [--reference PATH/TO/culture] [--seconds 1] [--ref-seconds 2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from dictlearn.domains.culture.tasks import TASKS, make_quizzes  # noqa: E402

TARGET = 40.0


def rate(make: Callable[[], int], seconds: float) -> float:
    """Quizzes per CPU second: call `make` (returns how many it made) for >= `seconds`."""
    made, t0 = 0, time.process_time()
    while True:
        made += make()
        spent = time.process_time() - t0
        if spent >= seconds:
            return made / spent


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
    ap.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per measure, ours")
    ap.add_argument("--ref-seconds", type=float, default=2.0,
                    help="CPU seconds per measure, reference")
    ap.add_argument("--batch", type=int, default=8192, help="quizzes per make_quizzes call")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset")
    ap.add_argument("--out", type=Path, default=Path("metrics/bench/culture_gen.json"))
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    if args.reference is not None and not (args.reference / "grids.py").is_file():
        sys.exit(f"--reference {args.reference}: no grids.py there; point it at the "
                 "reference repository's culture/ folder")

    rng = np.random.default_rng(0)
    ref = load_reference(args.reference) if args.reference else None
    rows: dict[str, dict[str, float | None]] = {}
    for name in ["mix", *tasks]:
        mix = tasks if name == "mix" else [name]
        make_quizzes(mix, 256, rng)  # warm-up: builds the lookup tables once

        def ours(mix=mix) -> int:
            return len(make_quizzes(mix, args.batch, rng)["input_ids"])

        row: dict[str, float | None] = {"ours": rate(ours, args.seconds),
                                        "reference": None, "ratio": None}
        if ref is not None:
            methods = [getattr(ref, "task_" + t) for t in mix]

            def theirs(methods=methods) -> int:
                return len(ref.generate_w_quizzes_(50, tasks=methods))

            row["reference"] = rate(theirs, args.ref_seconds)
            row["ratio"] = row["ours"] / row["reference"]
        rows[name] = {k: None if v is None else round(v, 1) for k, v in row.items()}
        ratio = "" if row["ratio"] is None else \
            f"   reference {row['reference']:9,.0f}/s   {row['ratio']:7.1f}x"
        print(f"{name:14s} ours {row['ours']:11,.0f}/s{ratio}", flush=True)

    result = {
        "cpu": platform.processor() or platform.machine(), "threads": 1,
        "timer": "process_time", "batch": args.batch, "seconds": args.seconds,
        "ref_seconds": args.ref_seconds, "reference_present": ref is not None,
        "target_ratio_mix": TARGET, "quizzes_per_s": rows,
    }
    if ref is not None:
        result["meets_target"] = rows["mix"]["ratio"] >= TARGET
        print(f"mix: {rows['mix']['ratio']:.1f}x the reference (target {TARGET:.0f}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
