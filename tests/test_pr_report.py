"""dictlearn.pr_report on a throwaway git+DVC repo: two commits whose metrics, params and
frontier differ, compared the way the pull-request workflow does (BASE against the workspace)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
       "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

# No stage ever runs: the report only reads what git and `dvc ... diff` see.
DVC_YAML = """stages:
  eval:
    cmd: exit 1
    params: [sae.l1_coeff]
    metrics:
      - metrics/saes/x/eval/metrics.json: {cache: false}
    plots:
      - metrics/frontier/explained_variance.tsv: {cache: false, x: l0, y: explained_variance}
      - metrics/frontier/ce_loss_recovered.tsv: {cache: false, x: l0, y: ce_loss_recovered}
      - metrics/frontier/frontier.png: {cache: false}
"""
HEADER = "model\tarchitecture\tsae\tknob\tl0\texplained_variance\tce_loss_recovered\n"
PNG_BASE, PNG_HEAD = b"\x89PNG\r\n\x1a\nbase-image", b"\x89PNG\r\n\x1a\nhead-image"


def sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


def git(cwd: Path, *args: str) -> None:
    proc = sh(["git", *args], cwd)
    assert proc.returncode == 0, proc.stderr


def commit(repo: Path, l1: int, metrics: dict, saes: dict | None, png: bytes | None) -> None:
    """One revision: params, the SAE metric, and (when given) the frontier TSVs and png."""
    (repo / "params.yaml").write_text(f"sae:\n  l1_coeff: {l1}\n")
    (repo / "metrics/saes/x/eval").mkdir(parents=True, exist_ok=True)
    (repo / "metrics/saes/x/eval/metrics.json").write_text(json.dumps(metrics))
    if saes is not None:
        (repo / "metrics/frontier").mkdir(parents=True, exist_ok=True)
        body = HEADER + "".join(f"text\trelu\t{sae}\tl1_coeff={l1}\t{l0}\t{ev}\t{ce}\n"
                                for sae, (l0, ev, ce) in saes.items())
        for name in ("explained_variance.tsv", "ce_loss_recovered.tsv"):
            (repo / "metrics/frontier" / name).write_text(body)
        (repo / "metrics/frontier/frontier.png").write_bytes(png or b"")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"l1={l1}")


def make_repo(root: Path, base_frontier: bool) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert sh(["dvc", "init", "-q"], repo).returncode == 0
    (repo / "dvc.yaml").write_text(DVC_YAML)
    commit(repo, 3, {"l0": 10.0, "explained_variance": 0.5},
           {"x": (10.0, 0.5, 0.8), "z": (40.0, 0.7, 0.75)} if base_frontier else None, PNG_BASE)
    commit(repo, 5, {"l0": 12.5, "explained_variance": 0.75},
           {"x": (12.5, 0.75, 0.9), "y": (16.0, 0.6, 0.7)}, PNG_HEAD)
    return repo


def report(repo: Path, base: str, out: Path) -> subprocess.CompletedProcess[str]:
    return sh([sys.executable, "-m", "dictlearn.pr_report", base, "--out", str(out / "report.md"),
               "--images", str(out / "img")], repo)


def flat(md: str) -> str:
    """DVC pads table cells to the column width; compare with runs of spaces collapsed."""
    return re.sub(r" +", " ", md)


def test_report_diffs_metrics_params_and_frontier(tmp_path):
    repo, out = make_repo(tmp_path, base_frontier=True), tmp_path / "out"
    proc = report(repo, "HEAD~1", out)
    assert proc.returncode == 0, proc.stderr
    md = flat((out / "report.md").read_text())

    assert "| metrics/saes/x/eval/metrics.json | l0 | 10.0 | 12.5 | 2.5 |" in md
    assert "| metrics/saes/x/eval/metrics.json | explained_variance | 0.5 | 0.75 | 0.25 |" in md
    assert "| params.yaml | sae.l1_coeff | 3 | 5 |" in md
    # both images, byte for byte, linked relative to the markdown file (what CML publishes)
    assert (out / "img/frontier_base.png").read_bytes() == PNG_BASE
    assert (out / "img/frontier_head.png").read_bytes() == PNG_HEAD
    assert "| ![frontier base](img/frontier_base.png) | ![frontier head](img/frontier_head.png) |" in md
    assert "identical" not in md
    assert "| x | changed | 10.0 → 12.5 | 0.500 → 0.750 | 0.800 → 0.900 |" in md
    assert "| y | added | — → 16.0 | — → 0.600 | — → 0.700 |" in md
    assert "| z | removed | 40.0 → — | 0.700 → — | 0.750 → — |" in md
    short = sh(["git", "rev-parse", "--short", "HEAD~1"], repo).stdout.strip()
    assert f"Comparing base `{short}` (`HEAD~1`)" in md


def test_first_pr_without_base_frontier_and_nothing_changed(tmp_path):
    repo, out = make_repo(tmp_path, base_frontier=False), tmp_path / "out"
    assert report(repo, "HEAD~1", out).returncode == 0
    md = (out / "report.md").read_text()
    assert "| _no `metrics/frontier/frontier.png`_ | ![frontier head](img/frontier_head.png) |" in md
    assert not (out / "img/frontier_base.png").exists()
    assert "| x | added | — → 12.5 | — → 0.750 | — → 0.900 |" in md
    assert "| y | added |" in md

    proc = report(repo, "HEAD", out)  # the workspace is HEAD: no table rows from DVC
    md = (out / "report.md").read_text()
    assert proc.returncode == 0 and "No metric changed." in md and "No param changed." in md
    assert "The two images are identical." in md and "| x |  | 12.5 → 12.5 |" in md


@pytest.mark.parametrize("base", ["no-such-rev", "HEAD~7"])
def test_bad_base_exits_2_and_writes_nothing(tmp_path, base):
    repo, out = make_repo(tmp_path, base_frontier=True), tmp_path / "out"
    proc = report(repo, base, out)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and f"'{base}' is not a git revision" in proc.stderr
    assert not out.exists()


def test_outside_a_dvc_repo_exits_2(tmp_path):
    git(tmp_path, "init", "-q")
    proc = report(tmp_path, "HEAD", tmp_path / "out")
    assert proc.returncode == 2 and "expected a DVC repository" in proc.stderr
    assert not (tmp_path / "out").exists()
