"""Tokens read as text: a byte of a split UTF-8 character shows as <0xNN> alone, and as the
character where its neighbours in a context complete it; nothing shows as '�'."""

import re

from tokenizers import ByteLevelBPETokenizer, Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import ByteLevel, WhitespaceSplit
from transformers import PreTrainedTokenizerFast

from dictlearn.lm.checkpoint import load_tokenizer
from dictlearn.report.tokens import Vocab, byte_alphabet, context_text, readable


def test_byte_alphabet_is_the_byte_level_pre_tokenizers():
    table = byte_alphabet()
    assert set(table) == set(ByteLevel.alphabet())
    assert sorted(table.values()) == list(range(256))
    assert table["A"] == 0x41 and table["Ġ"] == 0x20  # GPT-2 spells a space Ġ


def test_a_lone_byte_shows_as_its_value():
    assert readable(b"\xe2") == "<0xE2>"
    assert readable(b"a\xe2\x80") == "a<0xE2><0x80>"
    assert readable("é—".encode()) == "é—"
    assert readable(b"\xed\xa0\x80") == "<0xED><0xA0><0x80>"  # a surrogate is no character


def test_a_context_shows_each_character_where_it_ends():
    # "café —!" cut mid-character: é over two tokens, — over three
    pieces = [b"caf\xc3", b"\xa9", b" \xe2", b"\x80", b"\x94!"]
    assert context_text(pieces) == ["caf", "é", " ", "<0x80>", "—!"]
    # a character the context does not complete stays bytes, at either end
    assert context_text([b"\x94", b"ok", b"\xe2\x80"]) == ["<0x94>", "ok", "<0xE2><0x80>"]


def test_vocab_of_a_byte_level_bpe(tmp_path):
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["naïve café, ok " * 20 + "€"], vocab_size=262, min_frequency=2,
                            special_tokens=["<|endoftext|>"])
    bpe.save(str(tmp_path / "tokenizer.json"))
    vocab = Vocab.from_tokenizer(load_tokenizer(tmp_path))
    ids = bpe.encode("€").ids  # seen once: its three bytes stay three tokens
    assert [vocab.token(i) for i in ids] == ["<0xE2>", "<0x82>", "<0xAC>"]
    assert vocab.text(ids) == ["<0xE2>", "<0x82>", "€"]
    assert vocab.token(bpe.token_to_id("<|endoftext|>")) == "<|endoftext|>"
    shown = "".join(vocab.text(bpe.encode("naïve café").ids))
    assert "�" not in shown and re.sub(r"<0x[0-9A-F]{2}>", "", shown) == "naïve café"


def test_vocab_of_a_word_level_tokenizer_is_its_words():
    words = WordLevel({"a": 0, "<sep>": 1, "[UNK]": 2}, unk_token="[UNK]")
    tok = Tokenizer(words)
    tok.pre_tokenizer = WhitespaceSplit()
    vocab = Vocab.from_tokenizer(PreTrainedTokenizerFast(tokenizer_object=tok))
    assert [vocab.token(i) for i in range(3)] == ["a", "<sep>", "[UNK]"]
