"""Process-level concerns shared by every stage: device choice, seeding, clean failures."""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable

import numpy as np
import torch

from dictlearn.core.errors import InputError, ParamsError

__all__ = ["InputError", "ParamsError", "pick_device", "seed_everything", "stage_main"]


def pick_device(setting: str = "auto") -> torch.device:
    if setting == "cuda" and not torch.cuda.is_available():
        raise InputError("device: 'cuda' was requested but no CUDA device is visible")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX): there bf16 autocast
    roughly doubles a small GPT's training step; elsewhere it is emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(precision: str, device: torch.device) -> bool:
    """`precision` auto: bf16 autocast on a GPU and on CPUs with native bf16; fp32 elsewhere."""
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def stage_main(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a stage; turn expected failures into one clear line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ParamsError, InputError) as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper
