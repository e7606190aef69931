"""Process-level concerns shared by every stage: device choice, seeding, clean failures."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sys
from collections.abc import Callable, Iterator

from typing import TYPE_CHECKING

from dictlearn.core.errors import InputError, ParamsError

if TYPE_CHECKING:  # torch is imported where it is used: stages that never touch it start faster
    import torch

__all__ = ["InputError", "ParamsError", "pick_device", "seed_everything", "stage_main",
           "data_parallel"]


def pick_device(setting: str = "auto") -> torch.device:
    """`device` of a settings section: auto (the GPU if there is one, else the CPU), cpu, cuda,
    cuda:N (GPU N of those visible: with CUDA_VISIBLE_DEVICES, each `dvc queue` worker its
    own) or mps (Apple silicon)."""
    import torch

    if setting.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(setting.partition(":")[2] or 0)
        if index >= n:
            raise InputError(f"device: {setting!r} was requested but {n} CUDA device(s) are "
                             "visible" + (f" (CUDA_VISIBLE_DEVICES="
                                          f"{os.environ['CUDA_VISIBLE_DEVICES']!r})"
                                          if "CUDA_VISIBLE_DEVICES" in os.environ else ""))
    if setting == "mps" and not torch.backends.mps.is_available():
        raise InputError("device: 'mps' was requested but this machine has no Apple GPU")
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
    import numpy as np
    import torch

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


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def relaunch_under_torchrun(processes: int) -> None:
    """Run this very command again as `torchrun --standalone --nproc_per_node processes`
    (it does not return), unless there is one process or torchrun already started us."""
    if processes > 1 and not under_torchrun():
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  f"--nproc_per_node={processes}", *sys.argv])


@contextlib.contextmanager
def data_parallel(device: torch.device) -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, this process's device): under torchrun, the process group (gloo on
    CPU, NCCL on CUDA, where rank r takes GPU `LOCAL_RANK`), torn down on exit; else (0, 1,
    device)."""
    if not under_torchrun():
        yield 0, 1, device
        return
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size(), device
    finally:
        dist.destroy_process_group()


def rank_world() -> tuple[int, int]:
    """(rank, number of processes) under torch.distributed, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def summed(x: torch.Tensor) -> torch.Tensor:
    """x summed over the processes in place (a collective: every rank calls it); alone, x."""
    if rank_world()[1] > 1:
        import torch.distributed as dist

        dist.all_reduce(x, op=dist.ReduceOp.SUM)  # gloo has no AVG
    return x
