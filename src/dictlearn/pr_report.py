"""One markdown document for a pull-request comment: the workspace (HEAD) against git revision BASE.

    python -m dictlearn.pr_report BASE [--out FILE] [--images DIR]

Sections: `dvc metrics diff`, `dvc params diff`, and the SAE frontier (both revisions'
`frontier.png` side by side, written to --images and linked relatively, so that
`cml comment update --publish FILE` uploads them; and a per-SAE table of L0, explained
variance and CE loss recovered). Errors print one line and exit 2 before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

FRONTIER = "metrics/frontier"
PNG = f"{FRONTIER}/frontier.png"
TSVS = (f"{FRONTIER}/explained_variance.tsv", f"{FRONTIER}/ce_loss_recovered.tsv")
COLUMNS = (("L0", "l0", "{:.1f}"), ("EV", "explained_variance", "{:.3f}"),
           ("CE recovered", "ce_loss_recovered", "{:.3f}"))


class ReportError(Exception):
    """A precondition failed; the message is the one line the user sees."""


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a command (never through a shell); a missing executable is a ReportError."""
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise ReportError(f"expected `{args[0]}` on PATH") from None


def git_show(root: Path, rev: str, path: str) -> bytes | None:
    """The file at `rev`, or None when that revision lacks it (first PR, new files)."""
    proc = run(["git", "show", f"{rev}:{path}"], root)
    return proc.stdout if proc.returncode == 0 else None


def workspace(root: Path, path: str) -> bytes | None:
    """The file as it is on disk: `dvc ... diff BASE` compares against the workspace too."""
    return (root / path).read_bytes() if (root / path).is_file() else None


def dvc_diff(root: Path, kind: str, base: str) -> str:
    """`dvc <kind> diff BASE --md`, or a sentence when the table has no rows."""
    proc = run(["dvc", kind, "diff", base, "--md"], root)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
        raise ReportError(f"`dvc {kind} diff {base}` failed: {err[-1]}")
    table = proc.stdout.decode().strip()
    # DVC prints the header and separator even when nothing changed.
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    text = table if rows else f"No {kind.rstrip('s')} changed."
    # e.g. "failed to load some metrics": declared files missing from git, so not compared
    warning = proc.stderr.decode(errors="replace").strip()
    return f"{text}\n\n> dvc: {' '.join(warning.split())}" if warning else text


def frontier_rows(blobs: list[bytes | None]) -> dict[str, dict[str, str]]:
    """One dict per SAE, merged over the TSVs (each has l0 plus its own y column)."""
    rows: dict[str, dict[str, str]] = {}
    for blob in blobs:
        if blob is not None:
            for row in csv.DictReader(io.StringIO(blob.decode()), delimiter="\t"):
                rows.setdefault(row["sae"], {}).update(row)
    return rows


def change(fmt: str, old: str | None, new: str | None) -> str:
    """`old → new`, with an em dash for a side that lacks the value."""
    def show(v: str | None) -> str:
        return fmt.format(float(v)) if v not in (None, "") else "—"
    return f"{show(old)} → {show(new)}"


def frontier_table(base: dict[str, dict[str, str]], head: dict[str, dict[str, str]]) -> str:
    """Markdown table: one row per SAE in either revision, added/removed ones marked."""
    if not base and not head:
        return "No frontier TSVs in either revision."
    lines = ["| SAE | status | " + " | ".join(f"{name} base → head" for name, _, _ in COLUMNS)
             + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for sae in sorted(base.keys() | head.keys()):
        old, new = base.get(sae, {}), head.get(sae, {})
        cells = [change(fmt, old.get(key), new.get(key)) for _, key, fmt in COLUMNS]
        moved = any(old.get(key) != new.get(key) for _, key, _ in COLUMNS)
        status = "added" if not old else "removed" if not new else "changed" if moved else ""
        lines.append(f"| {sae} | {status} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same directory, then os.replace: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp: its 0600 mode would survive os.replace; open() honours the umask
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def build(base: str, out: Path, images: Path) -> tuple[str, dict[Path, bytes]]:
    """The markdown and the image files to write; raises ReportError before any write."""
    top = run(["git", "rev-parse", "--show-toplevel"])
    if top.returncode != 0:
        raise ReportError(f"expected a git repository, but {Path.cwd()} is not inside one")
    root = Path(top.stdout.decode().strip())
    if not (root / ".dvc").is_dir():
        raise ReportError(f"expected a DVC repository, but {root} has no .dvc/ directory")
    if shutil.which("dvc") is None:
        raise ReportError("expected `dvc` on PATH (activate the venv: .venv/bin first on PATH)")
    rev = run(["git", "rev-parse", "--verify", "--quiet", "--short", f"{base}^{{commit}}"], root)
    if rev.returncode != 0:
        raise ReportError(f"BASE {base!r} is not a git revision (expected a commit, branch or tag)")
    base_hash = rev.stdout.decode().strip()
    head_hash = run(["git", "rev-parse", "--short", "HEAD"], root).stdout.decode().strip()

    files: dict[Path, bytes] = {}
    cells = []
    pngs = {"base": git_show(root, base, PNG), "head": workspace(root, PNG)}
    for side, blob in pngs.items():
        if blob is None:
            cells.append(f"_no `{PNG}`_")
            continue
        files[images / f"frontier_{side}.png"] = blob
        # relative to the markdown file: that is where CML's --publish resolves local images
        link = Path(os.path.relpath(images / f"frontier_{side}.png", out.parent)).as_posix()
        cells.append(f"![frontier {side}]({link})")
    same = pngs["base"] is not None and pngs["base"] == pngs["head"]
    table = frontier_table(frontier_rows([git_show(root, base, t) for t in TSVS]),
                           frontier_rows([workspace(root, t) for t in TSVS]))
    md = "\n".join([
        "# dictlearn pipeline: this PR against its base", "",
        f"Comparing base `{base_hash}` (`{base}`) → head `{head_hash}` (workspace).", "",
        "## Metrics", "", dvc_diff(root, "metrics", base), "",
        "## Params", "", dvc_diff(root, "params", base), "",
        "## Frontier", "", f"| base `{base_hash}` | head `{head_hash}` |", "|---|---|",
        f"| {cells[0]} | {cells[1]} |", "",
        *(["The two images are identical.", ""] if same else []), table, ""])
    return md, files


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 on any precondition error)."""
    p = argparse.ArgumentParser(prog="python -m dictlearn.pr_report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE", help="git revision to compare against")
    p.add_argument("--out", type=Path, default=Path("pr_report.md"), help="markdown file")
    p.add_argument("--images", type=Path, default=Path("pr_report"), help="image directory")
    args = p.parse_args(argv)
    try:
        md, files = build(args.base, args.out.absolute(), args.images.absolute())
    except ReportError as e:
        print(f"pr_report: error: {e}", file=sys.stderr)
        return 2
    for path, data in files.items():
        atomic_write(path, data)
    atomic_write(args.out, md.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
