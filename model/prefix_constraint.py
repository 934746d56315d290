"""Token healing: back the prompt off to a token boundary; constrain decoding to the removed text.

A prompt that ends mid-word (`os.pa|`) or on punctuation BPE would merge with what follows
ends on a token the model rarely saw in that form, and the continuation is garbage. So we cut
the prompt at the start of its last pre-token (BPE never merges across pre-tokens, and our
pre-tokenizer has no look-ahead, so everything before that cut tokenizes the same whatever is
typed next), and every candidate must start with the removed text. `VocabularyIndex` answers
"which tokens are consistent with this remaining prefix" in O(log V + len(prefix)).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np
import torch

from .tokenizer import CodeTokenizer


def is_identifier_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _is_identifier_byte(b: int) -> bool:
    # Bytes >= 0x80 belong to non-ASCII characters, which in source code are nearly always
    # letters of identifiers (strings and comments don't matter inside a word).
    return b == 0x5F or 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or b >= 0x80


@dataclass(frozen=True)
class HealedPrompt:
    context: str  # text the model is fed
    removed: str  # text every candidate must start with
    typed: str  # identifier characters just before the cursor (a suffix of `removed`)


def heal_prompt(tokenizer: CodeTokenizer, text: str) -> HealedPrompt:
    """Split `text` before the cursor into a context and the removed last pre-token(s)."""
    typed_len = 0
    while typed_len < len(text) and is_identifier_char(text[-typed_len - 1]):
        typed_len += 1
    word_start = len(text) - typed_len
    # Pre-tokenizing from the last line break is enough: a line break always starts a pre-token.
    line_start = max(text.rfind("\n"), 0)
    if line_start > 0 and text[line_start - 1] == "\r":
        line_start -= 1
    spans = tokenizer.pre_tokenize(text[line_start:])
    cut = len(text)
    for start, _end in reversed(spans):
        cut = line_start + start
        if cut <= word_start and cut < len(text):
            break
    return HealedPrompt(text[:cut], text[cut:], text[word_start:])


class VocabularyIndex:
    """Per-token byte facts and masks used by constrained decoding, computed once per model."""

    def __init__(self, tokenizer: CodeTokenizer) -> None:
        table = tokenizer.token_bytes
        self.token_bytes = table
        self.vocab_size = len(table)
        self.boundary_id = tokenizer.boundary_id
        self._id_of = {b: i for i, b in enumerate(table) if b}
        order = sorted((b, i) for i, b in enumerate(table) if b)
        self._sorted_keys = [b for b, _ in order]
        self._sorted_ids = np.array([i for _, i in order], dtype=np.int64)
        self.lengths = np.array([len(b) for b in table], dtype=np.int64)
        # Trailing run of identifier bytes: a token extends a word by its part after the
        # constrained prefix only if that whole part is identifier bytes.
        self.identifier_tail = np.array(
            [
                len(b) - len(b.rstrip(bytes(c for c in range(256) if _is_identifier_byte(c))))
                for b in table
            ],
            dtype=np.int64,
        )
        # Offset of the first line break in a token (len if none).
        self.newline_at = np.array(
            [min((b.find(c) for c in (b"\n", b"\r") if c in b), default=len(b)) for b in table],
            dtype=np.int64,
        )
        nonempty = self.lengths > 0
        first = np.array([b[0] if b else -1 for b in table])
        starts_word = np.array([f >= 0 and _is_identifier_byte(int(f)) for f in first])
        all_word = nonempty & (self.identifier_tail == self.lengths)
        self.word_continues = torch.from_numpy(all_word)  # tokens that extend a word
        self.word_ends = torch.from_numpy(~nonempty | ~starts_word)  # tokens after a whole word
        self.line_continues = torch.from_numpy(nonempty & (self.newline_at == self.lengths))
        self.line_ends = torch.from_numpy(~nonempty | (self.newline_at == 0))
        self.any_token = torch.from_numpy(nonempty)
        self.starts_line: list[bool] = (nonempty & (self.newline_at == 0)).tolist()

    def consistent_with(self, remaining: bytes) -> np.ndarray:
        """Ids of tokens that start with `remaining` or are a proper prefix of it."""
        lo = bisect_left(self._sorted_keys, remaining)
        hi = len(self._sorted_keys)
        successor = remaining.rstrip(b"\xff")
        if successor:
            hi = bisect_left(self._sorted_keys, successor[:-1] + bytes([successor[-1] + 1]))
        extending = self._sorted_ids[lo:hi]
        shorter = [
            self._id_of[remaining[:k]]
            for k in range(1, len(remaining))
            if remaining[:k] in self._id_of
        ]
        return np.concatenate([extending, np.array(shorter, dtype=np.int64)])
