"""The timing discipline every bench script shares: each way is warmed up in a call of its
own (compile, first-touch allocation), then timed in >= 3 rounds that alternate the ways, so
that a noisy moment hurts all of them alike; best and median are reported with the load
average before and after. Figures taken on a busy machine are refused (exit 2), and a peer
that is not there is reported and recorded as skipped, with the way to get it."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from dictlearn.core.outputs import write_json


class Timed(NamedTuple):
    """What a way returns when it times itself (a peer in another process answers the
    seconds it measured around its own work, without the round trip)."""

    work: float
    seconds: float


def load_average() -> float:
    return os.getloadavg()[0]


def cores() -> int:
    return os.cpu_count() or 1


def require_quiet(what: str, force: bool = False) -> float:
    """Refuse to measure when the 1-minute load exceeds the core count; → the load."""
    load = load_average()
    if load > cores() and not force:
        print(f"error: load average {load:.1f} > {cores()} cores: {what} would measure the "
              "other jobs; wait for a quiet machine (or pass --force to print, not write, "
              "figures)", file=sys.stderr)
        sys.exit(2)
    return load


def compare(ways: dict[str, Callable[[], float | Timed]], rounds: int = 3,
            unit: str = "tokens", label: str = "") -> dict[str, dict]:
    """Each way returns the units of work it did (e.g. tokens), or Timed(work, seconds);
    → {way: {best, median, rates}} in units per second."""
    for name, fn in ways.items():  # warm-up: a call of its own, never timed
        print(f"{label}warm-up: {name}", flush=True)
        fn()
    rates: dict[str, list[float]] = {name: [] for name in ways}
    n = max(3, rounds)
    for r in range(n):
        for name in list(ways) if r % 2 == 0 else list(reversed(ways)):
            t0 = time.perf_counter()
            done = ways[name]()
            seconds = time.perf_counter() - t0
            if isinstance(done, Timed):
                done, seconds = done
            rates[name].append(done / seconds)
            print(f"{label}round {r + 1}/{n} {name}: {rates[name][-1]:,.1f} {unit}/s",
                  flush=True)
    return {name: {"best": max(v), "median": statistics.median(v), "rates": v}
            for name, v in rates.items()}


def skipped(result: dict, peer: str, how: str) -> None:
    """Say that `peer` is not measured and how to get it, and record it in result["skipped"]."""
    print(f"skipped {peer}: {how}", flush=True)
    result.setdefault("skipped", {})[peer] = how


def machine(load_before: float) -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": cores(),
            "load_before": round(load_before, 2), "load_after": round(load_average(), 2),
            "python": platform.python_version()}


def write_figures(out: str | Path, result: dict, load_before: float) -> None:
    """Write `result` (which holds machine()) unless it was measured on a busy machine."""
    after = result["machine"]["load_after"]
    if load_before > cores():
        print(f"error: not writing {out}: the load average was {load_before:.1f} > {cores()} "
              "cores when the run began (--force prints figures, never writes them)",
              file=sys.stderr)
        sys.exit(2)
    if after > cores():
        print(f"warning: load average {after:.1f} after the run, on {cores()} cores: "
              "something else may have run meanwhile (recorded as machine.load_after)")
    write_json(out, result)
    print(f"→ {out}")
