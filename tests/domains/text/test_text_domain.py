import filecmp

import numpy as np
from datasets import load_from_disk
from transformers import PreTrainedTokenizerFast

from conftest import TINY_PREPARE
from dictlearn.domains import get_domain
from dictlearn.domains.prepared import load_split


def test_prepare_writes_tokenizer_and_labelled_splits(prepared):
    tok = PreTrainedTokenizerFast(tokenizer_file=str(prepared / "tokenizer.json"))
    assert len(tok) == TINY_PREPARE.vocab_size
    text = "def greet(name):\n    return 1"
    assert tok.decode(tok.encode(text)) == text  # byte-level BPE round-trips exactly
    ds = load_from_disk(str(prepared / "dataset"))
    assert set(ds) == {"train", "validation"}
    assert ds["train"].features["label"].feature.names == ["python", "shakespeare"]
    train = load_split(prepared, "train")
    assert train.ids.shape[1] == TINY_PREPARE.seq_len and train.labels.shape == train.ids.shape
    # a sequence labelled python decodes to python, one labelled shakespeare to the play
    py = train.ids[train.labels[:, 0] == 0][0].tolist()
    play = train.ids[train.labels[:, 0] == 1][0].tolist()
    assert any(w in tok.decode(py) for w in ("def", "self", "return", "raise", "class"))
    assert any(w in tok.decode(play) for w in ("Romeo", "Juliet", "yonder", "east", "thy",
                                           "father", "wherefore", "soft"))


def test_prepare_is_deterministic(corpus, prepared, tmp_path):
    get_domain("text").prepare(TINY_PREPARE, corpus, tmp_path)
    assert filecmp.cmp(prepared / "tokenizer.json", tmp_path / "tokenizer.json", shallow=False)
    for split in ("train", "validation"):
        a, b = load_split(prepared, split), load_split(tmp_path, split)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.labels, b.labels)


def test_render_html_escapes_every_token():
    html = get_domain("text").render_html(["<script>", "alert('x')", "</script>", " & \"q\""],
                                          [0.0, 1.0, 0.5, 0.0], focus=1)
    assert "<script>" not in html and "</script>" not in html
    assert "&lt;script&gt;" in html and "&amp;" in html and "&quot;q&quot;" in html
    assert html.count('class="focus"') == 1
