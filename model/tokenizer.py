"""Byte-level BPE tokenizer for Python source, with a pre-tokenizer designed for code.

The pre-tokenizer decides where BPE may merge. GPT-2's regex splits `max_len` into `max`, `_`,
`len` and `self._x` into `self`, `._`, `x`; ours keeps whole identifiers (with an optional
leading space) as units, keeps `.` apart from the attribute after it, and glues each line break
to the next line's indentation so that an indented line start costs one token.

Invariant the server relies on: a line break (`\\n`, or `\\r\\n`) always starts a pre-token, so
no token spans across the start of a line break, and tokenizing text split at a line break
gives the same ids as tokenizing the whole (`tests/test_tokenizer.py` checks it).

The document-boundary token lives outside the HF vocabulary (id = HF vocab size), so no source
text, however odd, can ever be encoded as it: `decode(encode(s)) == s` for every string.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

# Alternatives are tried left to right at each position; nothing is lost between matches
# (HF's Split keeps unmatched text as its own piece).
PYTHON_PATTERN = (
    r"\r?\n[ \t]*"  # a line break plus the next line's indentation
    r"| ?[\p{L}_][\p{L}\p{N}_]*"  # an identifier or keyword, optionally after one space
    r"| ?\p{N}+"  # a number run
    r"| ?[^\s\p{L}\p{N}_]+"  # an operator / punctuation run
    r"|[^\S\r\n]+"  # other horizontal whitespace
)

# The GPT-2 regex, kept for the measured comparison in benchmarks/tokenizer_choice.py.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

DOCUMENT_BOUNDARY = "<|endoftext|>"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """`text` with each lone surrogate (legal in JSON and Python, not in UTF-8) as U+FFFD.

    U+FFFD is one code point and three UTF-8 bytes, as a lone surrogate is (surrogatepass),
    so character and byte offsets into the original text stay valid. ASCII text, known to be
    ASCII in O(1), is returned as is.
    """
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def _pre_tokenizer(pattern: str) -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def _byte_decoder() -> dict[str, int]:
    """Inverse of the ByteLevel alphabet: printable stand-in character -> raw byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    stand_ins = list(printable)
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            stand_ins.append(256 + shift)
            shift += 1
    return {chr(c): b for b, c in zip(printable, stand_ins, strict=True)}


class CodeTokenizer:
    """Wraps a HF byte-level BPE `Tokenizer`; adds the document boundary and raw token bytes."""

    def __init__(self, hf: Tokenizer) -> None:
        self.hf = hf
        self.boundary_id = hf.get_vocab_size(with_added_tokens=True)

    @property
    def vocab_size(self) -> int:
        return self.boundary_id + 1

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """The raw bytes each id stands for (the boundary is empty): exact, even mid-UTF-8."""
        byte_of = _byte_decoder()
        table = [b""] * self.vocab_size
        for piece, token_id in self.hf.get_vocab(with_added_tokens=True).items():
            table[token_id] = bytes(byte_of[ch] for ch in piece)
        return table

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the vocabulary and merges, stored in checkpoints to catch mismatches."""
        return hashlib.sha256(self.hf.to_str().encode()).hexdigest()[:16]

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(_encodable(text), add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encoded = self.hf.encode_batch([_encodable(t) for t in texts], add_special_tokens=False)
        return [e.ids for e in encoded]

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        table = self.token_bytes
        return b"".join(table[i] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def pre_tokenize(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the pre-tokens of `text`: BPE never merges across them."""
        spans = self.hf.pre_tokenizer.pre_tokenize_str(_encodable(text))
        # Offsets come back in characters of `text` (HF converts byte offsets for Python).
        return [span for _, span in spans]

    def save(self, path: Path) -> None:
        self.hf.save(str(path))

    @classmethod
    def load(cls, path: Path) -> CodeTokenizer:
        return cls(Tokenizer.from_file(str(path)))


def train_tokenizer(
    texts: Iterator[str], vocab_size: int = 8192, pattern: str = PYTHON_PATTERN
) -> CodeTokenizer:
    """Learn BPE merges from `texts`; `vocab_size` counts the 256 byte tokens and the boundary."""
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = _pre_tokenizer(pattern)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer=trainer)
    return CodeTokenizer(hf)
