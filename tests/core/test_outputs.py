import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, section
from dictlearn.core.outputs import atomic_path, clean_stale_tmp, write_json


def test_atomic_path_replaces_only_on_success(tmp_path):
    out = tmp_path / "out"
    write_json(out / "a.json", {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "a.json").write_text("half")
            raise RuntimeError("stage failed")
    assert (out / "a.json").read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary left behind
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "b.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["b.json"]


def test_a_kill_between_a_folder_swaps_two_renames_loses_nothing(tmp_path):
    """A folder replaced in two renames (old aside, new in): killed between them, the old
    output sits at `.out.old-<pid>`; the next write puts it back first, and once the new
    one is in place a leftover `.old-*` goes."""
    out = tmp_path / "out"
    old = tmp_path / ".out.old-123"
    old.mkdir()
    (old / "a.json").write_text("{}")
    clean_stale_tmp(out)  # between the renames: `out` missing, the old one comes back
    assert (out / "a.json").is_file() and not old.exists()
    old.mkdir()  # killed after both renames, before the old one was removed
    clean_stale_tmp(out)
    assert (out / "a.json").is_file() and [p.name for p in tmp_path.iterdir()] == ["out"]


WRITER = """
import sys, time
from pathlib import Path
from dictlearn.core.outputs import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.mkdir()
    (tmp / "part-0").write_bytes(b"x" * 1000)
    print("writing", flush=True)
    time.sleep(60)
    (tmp / "part-1").write_bytes(b"y")
"""


def test_sigkill_mid_write_leaves_nothing_finished_looking(tmp_path):
    out = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    leftovers = list(tmp_path.iterdir())
    assert all(p.name.startswith(".store.tmp-") for p in leftovers)
    # the next run cleans the stale temporary up
    with atomic_path(out) as tmp:
        tmp.mkdir()
    assert [p.name for p in tmp_path.iterdir()] == ["store"]


def test_sigkilled_stage_keeps_the_old_output(tmp_path, prepared):
    """A real stage (train_lm) killed with SIGKILL while training: the previous model folder
    is untouched and no new folder appears."""
    train = section("train_lm", "text") | dict(steps=100000, n_layer=2, n_embd=32, n_head=2)
    settings = {"model": section("models", "text"), "train": train}
    (tmp_path / "text.json").write_text(json.dumps(settings))  # as check_params writes it
    old = tmp_path / "models" / "text"
    old.mkdir(parents=True)
    (old / "model.safetensors").write_bytes(b"old weights")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / "train_lm.py"), "--model", "text",
         "--settings", str(tmp_path / "text.json"), "--prepared", str(prepared),
         "--out", str(old), "--metrics", str(tmp_path / "m")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600  # a start-up wait: generous, the suite shares the cores
        while time.time() < deadline and not list(tmp_path.glob(".m.tmp-*/plots")):
            time.sleep(0.2)  # dvclive has started writing curves into the temporary folder
        assert list(tmp_path.glob(".m.tmp-*/plots")), "stage never started writing"
        time.sleep(1.0)
    finally:  # killed whatever happened: a failed wait must not leave 100,000 steps running
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (old / "model.safetensors").read_bytes() == b"old weights"
    assert not (tmp_path / "m").exists()
