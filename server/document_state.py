"""Per-document state: cached token ids and GRU hidden-state checkpoints of one open document.

A keystroke should cost only what changed, whatever the size of the file. Two caches make that
true:

- `IncrementalTokens` re-tokenizes only from the last line break before the first changed
  character. It relies on the tokenizer's invariant that a line break always starts a token,
  so the ids before that point are exactly those of a from-scratch tokenization.
- `HiddenStateCache` keeps the model state after every `CHUNK`-th token of the context window
  (`CompletionEngine.window_start`). A query restores the nearest checkpoint at or before the
  longest common token prefix and advances only the rest.

The model is always fed in chunks that end on multiples of `CHUNK` (as `CompletionEngine`
does too), so a cached state is bitwise the one a cold start computes, int8 weights included:
dynamic quantisation scales activations per chunk, so the chunking must not depend on history.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

import torch

from grucomplete.model.engine import CHUNK, CompletionEngine
from grucomplete.model.lm import State

# Typing happens at the end of the cached sequence: keep every checkpoint there, and only every
# FAR_STRIDE-th further back, where only a jump up the file needs one.
RECENT_TOKENS = 8 * CHUNK
FAR_STRIDE = 8 * CHUNK


def _common_prefix_length(a: str, b: str) -> int:
    """Length of the longest common prefix, by halving: each probe is one C-level compare."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # invariant: a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_ids(a: list[int], b: list[int], start: int = 0) -> int:
    n = min(len(a), len(b))
    i = start
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class IncrementalTokens:
    """Token ids of a text, updated by re-tokenizing only from a safe boundary before an edit."""

    engine: CompletionEngine
    text: str = ""
    ids: list[int] = field(default_factory=list)  # without the leading document boundary
    byte_ends: list[int] = field(default_factory=list)  # UTF-8 offset where each token ends
    unchanged: int = 0  # leading ids the last update kept without re-tokenizing
    _anchor: tuple[int, int] = (0, 0)  # a (character, UTF-8 byte) offset pair of `text`

    def update(self, text: str) -> list[int]:
        changed = _common_prefix_length(self.text, text)
        if changed == len(self.text) == len(text):
            self.unchanged = len(self.ids)
            return self.ids
        # Back off to the start of the line break before the change: a token boundary in both.
        safe = max(text.rfind("\n", 0, changed), 0)
        if safe > 0 and text[safe - 1] == "\r":
            safe -= 1
        safe_byte = self._utf8_offset(text, safe, changed)
        keep = bisect_right(self.byte_ends, safe_byte)
        tail = self.engine.tokenizer.encode(text[safe:])
        table = self.engine.tokenizer.token_bytes
        # In place: copying the ids of a 20,000-line file would cost more than the keystroke.
        del self.ids[keep:], self.byte_ends[keep:]
        offset = self.byte_ends[-1] if self.byte_ends else 0
        for token in tail:
            offset += len(table[token])
            self.byte_ends.append(offset)
        self.ids.extend(tail)
        self.text = text
        self.unchanged = keep
        self._anchor = (safe, safe_byte)
        return self.ids

    def _utf8_offset(self, text: str, index: int, same: int) -> int:
        """UTF-8 length of `text[:index]`, where `text[:same]` equals the previous text.

        Counted on from the previous edit's safe point when that lies in the shared part, so
        typing in a big file encodes one line, not the file.
        """
        char, byte = self._anchor
        if char > min(index, same):
            char, byte = 0, 0
        return byte + len(text[char:index].encode("utf-8", errors="surrogatepass"))


@dataclass
class PromptState:
    logits: torch.Tensor  # (1, V) next-token logits after the prompt
    state: State
    tokens_fed: int  # how many tokens this query had to run through the model


class HiddenStateCache:
    """Model states of one document's context window, for the last sequence it saw."""

    def __init__(self, engine: CompletionEngine, max_checkpoints: int = 512) -> None:
        self.engine = engine
        self.max_checkpoints = max_checkpoints
        self.ids: list[int] = []  # the boundary, then the document's tokens
        self.checkpoints: dict[int, State] = {0: engine.model.initial_state(1, engine.device)}
        self.stride = CHUNK  # kept checkpoints are multiples of this; doubles when thinned

    def state_after(self, ids: list[int], known_common: int = 0) -> PromptState:
        """Logits and state after `ids`, advancing from the best cached checkpoint.

        `known_common` leading ids are known to equal the cached ones (the tokenizer kept them),
        so the comparison, a Python loop, starts there instead of at the top of the file.
        """
        common = _common_ids(self.ids, ids, min(known_common, len(self.ids), len(ids)))
        if common < len(ids):  # a new sequence: checkpoints past the divergence are stale
            self.ids = list(ids)
            for pos in [p for p in self.checkpoints if p > common]:
                del self.checkpoints[pos]
        # Restore a checkpoint strictly before the end so there are logits to return.
        start = max(p for p in self.checkpoints if p <= common and p < len(ids))
        state = self.checkpoints[start]
        logits = None
        pos = start
        while pos < len(ids):
            end = min((pos // CHUNK + 1) * CHUNK, len(ids))
            logits, state = self.engine.advance(ids[pos:end], state)
            pos = end
            if pos % self.stride == 0 and pos not in self.checkpoints:
                self.checkpoints[pos] = state
        self._thin(len(ids))
        assert logits is not None  # len(ids) >= 1: the boundary is always there
        return PromptState(logits, state, len(ids) - start)

    def _thin(self, end: int) -> None:
        """Bound memory: sparse checkpoints far from `end`; over the cap, every other one."""
        far = end - RECENT_TOKENS
        self.checkpoints = {
            p: s for p, s in self.checkpoints.items() if p >= far or p % FAR_STRIDE == 0
        }
        while len(self.checkpoints) > self.max_checkpoints:
            self.stride *= 2
            self.checkpoints = {p: s for p, s in self.checkpoints.items() if p % self.stride == 0}


class DocumentSession:
    """Everything cached for one open document: its tokens and its model states."""

    def __init__(self, engine: CompletionEngine, max_checkpoints: int = 512) -> None:
        self.engine = engine
        self.tokens = IncrementalTokens(engine)
        self.states = HiddenStateCache(engine, max_checkpoints)
        self.window = 0  # where the context window of the last query started
        self.version: int | None = None

    def prompt(self, context: str) -> PromptState:
        """The model's state after `context` (text before the cursor, healed)."""
        ids = self.tokens.update(context)
        start = self.engine.window_start(ids)
        # The boundary, then the ids the tokenizer kept: in the same window these cannot
        # differ from the cache's. A moved window starts a new sequence.
        known = 1 + max(self.tokens.unchanged - start, 0) if start == self.window else 0
        self.window = start
        return self.states.state_after([self.engine.tokenizer.boundary_id, *ids[start:]], known)
