"""Tokens as text a reader can see. A byte-level BPE token is a run of bytes, and one that holds
part of a multi-byte UTF-8 character decodes to '�'. Here such a byte shows as `<0xE2>`; in a
context, where the neighbouring tokens complete the character, the character itself shows."""

from __future__ import annotations

import json
from bisect import bisect_right
from itertools import accumulate

from transformers.convert_slow_tokenizer import bytes_to_unicode


def byte_alphabet() -> dict[str, int]:
    """The characters a byte-level BPE vocabulary spells bytes with (GPT-2's table, as
    transformers builds it), each mapped to its byte."""
    return {c: b for b, c in bytes_to_unicode().items()}


def _utf8_length(lead: int) -> int:
    """Bytes in the character that `lead` starts; 0 when it cannot start one (a continuation
    byte 0x80-0xBF, an overlong lead 0xC0-0xC1, or a byte above 0xF4)."""
    for top, n in ((0x7F, 1), (0xC1, 0), (0xDF, 2), (0xEF, 3), (0xF4, 4)):
        if lead <= top:
            return n
    return 0


def utf8_pieces(data: bytes) -> list[tuple[int, int, str]]:
    """`data` as (start, end, text): each complete character as itself, each byte of no
    complete character (a lone lead or continuation byte) as `<0xNN>`."""
    out, p = [], 0
    while p < len(data):
        n = _utf8_length(data[p])
        try:
            text = data[p:p + n].decode("utf-8") if n and p + n <= len(data) else None
        except UnicodeDecodeError:  # a bad continuation byte, an overlong form, a surrogate
            text = None
        if text is None:
            out.append((p, p + 1, f"<0x{data[p]:02X}>"))
            p += 1
        else:
            out.append((p, p + n, text))
            p += n
    return out


def readable(data: bytes) -> str:
    return "".join(text for _, _, text in utf8_pieces(data))


def context_text(tokens: list[bytes]) -> list[str]:
    """Each token of a run as text: the characters that end in it, so that the run reads as
    the text does and no character shows twice; a token in which no character ends (the
    leading bytes of one a later token completes) shows its bytes, `<0xE2>`."""
    ends = list(accumulate(len(t) for t in tokens))  # token i holds bytes [ends[i-1], ends[i])
    shown = [""] * len(tokens)
    for _, end, text in utf8_pieces(b"".join(tokens)):
        shown[bisect_right(ends, end - 1)] += text
    return [s or readable(t) for s, t in zip(shown, tokens)]


class Vocab:
    """A tokenizer's tokens as bytes: `token(i)` shows one alone, `text(ids)` a run of them."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = pieces

    @classmethod
    def from_tokenizer(cls, tokenizer) -> Vocab:
        """Byte-level BPE tokens as the bytes they stand for (special tokens as their text);
        any other tokenizer's tokens as they decode."""
        n = len(tokenizer)
        decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder") or {}
        if decoder.get("type") != "ByteLevel":
            return cls([tokenizer.decode([i]).encode("utf-8") for i in range(n)])
        alphabet, special = byte_alphabet(), set(tokenizer.get_added_vocab().values())
        pieces = []
        for i, tok in enumerate(tokenizer.convert_ids_to_tokens(list(range(n)))):
            spelt = i not in special and all(c in alphabet for c in tok)
            pieces.append(bytes(alphabet[c] for c in tok) if spelt else tok.encode("utf-8"))
        return cls(pieces)

    def token(self, i: int) -> str:
        return readable(self.pieces[i])

    def text(self, ids: list[int]) -> list[str]:
        return context_text([self.pieces[i] for i in ids])
