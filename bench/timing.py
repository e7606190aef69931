"""The timing discipline every bench script shares: each way is warmed up in a call of its
own (compile, first-touch allocation), then timed in >= 3 rounds that alternate the ways, so
that a noisy moment hurts all of them alike; best and median are reported with the load
average before and after. Figures taken on a busy machine are refused (exit 2)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable


def load_average() -> float:
    return os.getloadavg()[0]


def require_quiet(what: str, force: bool = False) -> float:
    """Refuse to measure when the 1-minute load exceeds the core count."""
    load, cores = load_average(), os.cpu_count() or 1
    if load > cores and not force:
        print(f"error: load average {load:.1f} > {cores} cores: {what} would measure the other "
              "jobs; wait for a quiet machine (or pass --force to print, not write, figures)",
              file=sys.stderr)
        sys.exit(2)
    return load


def compare(ways: dict[str, Callable[[], float]], rounds: int = 3) -> dict[str, dict]:
    """Each way returns the units of work it did (e.g. tokens); → {way: {best, median,
    rates}} in units per second."""
    for fn in ways.values():  # warm-up: a call of its own, never timed
        fn()
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(max(3, rounds)):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for name in order:
            t0 = time.perf_counter()
            work = ways[name]()
            rates[name].append(work / (time.perf_counter() - t0))
    return {name: {"best": max(v), "median": statistics.median(v), "rates": v}
            for name, v in rates.items()}


def machine(load_before: float) -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_before": round(load_before, 2), "load_after": round(load_average(), 2),
            "python": platform.python_version()}
