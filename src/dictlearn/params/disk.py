"""What a profile will take, said by check_params before any stage runs: the activation
stores on disk (checked against the free space: on the gpu profile they are the bulk of the
run's disk, and running out hours into `cache_acts` loses the hours). Memory: params/memory.py."""

from __future__ import annotations

import configparser
import shutil
from pathlib import Path

from dictlearn.acts.config import store_bytes
from dictlearn.core.errors import ParamsError
from dictlearn.params.schema import Params


def copies(root: Path) -> int:
    """How many times DVC stores an output: in the workspace and, copied, in its cache
    (.dvc/cache), unless the repository's cache links instead (`dvc config cache.type
    hardlink,symlink`; DVC's default, reflink with copy as fallback, copies on most disks)."""
    cfg = configparser.ConfigParser()
    cfg.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    kinds = cfg.get("cache", "type", fallback="reflink,copy").replace(" ", "").split(",")
    return 2 if "copy" in kinds or "reflink" in kinds else 1


def acts_plan(p: Params) -> dict[str, tuple[dict[str, int], int]]:
    """{model: ({hook: width}, at most how many bytes its activation folder takes)}."""
    plan = {}
    for model in p.models:
        hooks = p.model_hooks(model)
        plan[model] = hooks, store_bytes(p.cache_acts.max_tokens, list(hooks.values()))
    return plan


def gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB"


def describe(plan: dict[str, tuple[dict[str, int], int]]) -> list[str]:
    return [f"cache_acts@{model}: ≤ {gb(size)}, "
            + (", ".join(f"{h} ({w} wide)" for h, w in hooks.items()) or "no SAE: nothing cached")
            for model, (hooks, size) in plan.items()]


def check_disk(plan: dict[str, tuple[dict[str, int], int]], root: Path) -> int:
    """Refuse (ParamsError naming the path and the shortfall) when the disk holding `root`
    cannot take the activation folders not written yet, twice (workspace and DVC cache).
    Returns the bytes still to be written."""
    pending = sum(size for model, (_, size) in plan.items()
                  if not (root / "data" / "acts" / model).exists())
    n, free = copies(root), shutil.disk_usage(root).free
    if n * pending > free:
        where = " and as much in DVC's cache" if n == 2 else ""
        raise ParamsError(
            f"{root.resolve()}: the activation stores of this profile need up to "
            f"{gb(n * pending)} ({gb(pending)} in data/acts/{where}), but the disk has "
            f"{gb(free)} free: {gb(n * pending - free)} short. Free space, lower "
            "cache_acts.max_tokens" + (", or let DVC's cache link instead of copying (`dvc "
                                       "config cache.type hardlink,symlink`)" if n == 2 else ""))
    return n * pending
