"""Atomic outputs: everything is written to a temporary sibling and renamed into place.

A stage killed mid-write (even with SIGKILL) leaves at most a `.tmp-*` sibling, never a
file or folder that looks finished. Old outputs stay untouched until the new one is complete;
a folder is swapped in two renames, and a kill between them leaves the old one as `.old-*`,
which the next write to that path puts back or removes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def clean_stale_tmp(path: str | Path) -> None:
    """Remove the `.name.tmp-*` siblings a killed earlier run left, and its `.name.old-*`:
    put back in place when the kill came between a folder swap's two renames (`path` is
    missing), removed otherwise."""
    path = Path(path)
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            _remove(stale)
        for old in sorted(path.parent.glob(f".{path.name}.old-*")):
            if path.exists() or path.is_symlink():
                _remove(old)
            else:
                os.replace(old, path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder to; rename it to `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: nothing was written for {path}")
        if tmp.is_file():
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        else:
            # A folder cannot replace a non-empty folder atomically: move the old one aside
            # first, so at every instant `path` is either the old or the new complete output.
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            if path.exists() or path.is_symlink():
                os.replace(path, old)
            os.replace(tmp, path)
            if old.exists() or old.is_symlink():
                _remove(old)
    finally:
        if tmp.exists():
            _remove(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def write_tsv(path: str | Path, header: list[str], rows: list[list]) -> None:
    """A tab-separated table with a header row (what DVC plots read)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
