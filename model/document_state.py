"""Per-document caches: the token ids and GRU hidden-state checkpoints of one open document.

A keystroke should cost only what changed, whatever the size of the file. Two caches make that
true, and both follow the rules of `window` so that what they hold is bitwise what a cold start
computes for the same text:

- `IncrementalTokens` re-tokenizes only from the last line break before the first changed
  character. It relies on the tokenizer's invariant that a line break always starts a token,
  so the ids before that point are exactly those of a from-scratch tokenization.
- `HiddenStateCache` keeps the model state after every `CHUNK`-th token of the context window.
  A query restores the nearest checkpoint at or before the longest common token prefix and
  advances only the rest. With the neural cache on, it also keeps the top layer's output at
  every position of the window (the cache's keys), so a keystroke computes only the new ones.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .code_text import common_prefix_length
from .engine import CompletionEngine
from .lm import State
from .neural_cache import KEY_DTYPE
from .window import CHUNK, chunk_ends, text_origin

# Typing happens at the end of the cached sequence: keep every checkpoint there, and only every
# FAR_STRIDE-th further back, where only a jump up the file needs one.
RECENT_TOKENS = 8 * CHUNK
FAR_STRIDE = 8 * CHUNK


@dataclass
class IncrementalTokens:
    """Token ids of a text, updated by re-tokenizing only from a safe boundary before an edit.

    Ids live in compact arrays rather than lists of Python ints: a 20,000-line file's tokens take
    a few hundred KB instead of megabytes, and closing the document gives the memory back.
    Tokenizing starts at `text_origin` (0 unless the text before the cursor is huge).
    """

    engine: CompletionEngine
    origin: int = 0  # where in the text tokenizing starts
    text: str = ""  # the text from origin
    ids: array[int] = field(default_factory=lambda: array("i"))  # without the boundary
    byte_ends: array[int] = field(default_factory=lambda: array("q"))  # UTF-8 end of each token
    unchanged: int = 0  # leading ids the last update kept without re-tokenizing
    _anchor: tuple[int, int] = (0, 0)  # a (character, UTF-8 byte) offset pair of `text`

    def update(self, full_text: str) -> array[int]:
        origin = text_origin(full_text)
        if origin != self.origin:  # a huge text whose start moved: tokenize it anew
            self.origin, self.text, self._anchor = origin, "", (0, 0)
            del self.ids[:], self.byte_ends[:]
        text = full_text[origin:] if origin else full_text
        changed = common_prefix_length(self.text, text)
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
    ids: Sequence[int] = ()  # the window fed: the boundary, then the document's tokens
    outputs: torch.Tensor | None = None  # (len(ids), H) top-layer outputs, if kept


class HiddenStateCache:
    """Model states along one document's context window, at CHUNK-th tokens of it.

    The window is `window.window_start`'s. Typing extends the cached chain of states; an edit
    restores the nearest checkpoint before it; when the window moves (every half window typed,
    or a jump) the chain starts anew where a cold run starts. The states are therefore bitwise
    those of a cold run over the same text, and no query feeds the model more than a window.
    """

    def __init__(
        self,
        engine: CompletionEngine,
        max_checkpoints: int = 512,
        keep_outputs: bool = False,
        far_stride: int = FAR_STRIDE,
    ) -> None:
        """`far_stride`: checkpoints kept this far apart back from the end of the chain (a
        prepared chain keeps them dense: a jump into it reads from the nearest)."""
        self.engine = engine
        self.far_stride = far_stride
        self.max_checkpoints = max_checkpoints
        self.origin = 0  # document token the chain starts at, after a boundary
        self.ids = array("i")  # the chain: the boundary, then document tokens from origin
        self.checkpoints: dict[int, State] = {}  # chain position -> state after that many ids
        self.stride = CHUNK  # kept checkpoints are multiples of this; doubles when thinned
        self.keep_outputs = keep_outputs
        # Row p: the top layer's output after chain id p (valid for rows < len(self.ids)).
        # Grown by doubling up to a window (context_tokens + 1 rows), so memory is bounded
        # and a keystroke writes only its new rows.
        self.outputs = torch.empty(0, 0, dtype=KEY_DTYPE)

    def state_after(
        self, doc_ids: Sequence[int], known_common: int = 0, threads: bool = True
    ) -> PromptState:
        """Logits and state after the window of `doc_ids`, advancing the cached chain.

        `known_common` leading ids are known to equal the cached ones (the tokenizer kept them),
        so the comparison, a Python loop, starts there instead of at the top of the file.
        `threads`: whether a long feed may use the engine's layer threads.
        """
        common = self._follow(doc_ids, known_common)
        # Restore a checkpoint strictly before the end so there are logits to return.
        start = max(p for p in self.checkpoints if p <= common and p < len(self.ids))
        # Chunks end on multiples of CHUNK and at the end, where a cold run's chunks end.
        ends = chunk_ends(start, len(self.ids))
        chunks = [self.ids[a:b] for a, b in zip([start, *ends[:-1]], ends, strict=True)]
        new_outputs: list[torch.Tensor] | None = [] if self.keep_outputs else None
        logits, states = self.engine.feed(chunks, self.checkpoints[start], new_outputs, threads)
        for end, state in zip(ends, states, strict=True):
            if end % self.stride == 0 and end not in self.checkpoints:
                self.checkpoints[end] = state
        self._thin(len(self.ids))
        outputs = None
        if new_outputs is not None:
            self._store_outputs(start, torch.cat(new_outputs))
            outputs = self.outputs[: len(self.ids)]
        return PromptState(logits, states[-1], len(self.ids) - start, self.ids, outputs)

    def prepare(
        self, doc_ids: Sequence[int], budget: int = CHUNK, origin: int | None = None
    ) -> bool:
        """Read on towards the end of `doc_ids` by about `budget` tokens, in the chunks a query
        would read (so the states are bitwise a cold run's); True once nothing is left.

        Background work: a later `state_after` at any point of `doc_ids` then feeds only from
        the nearest checkpoint. Like `state_after`, follows edits before reading on. `origin`:
        the window read, when not `doc_ids`' own (the next one, which typing on will reach).
        """
        common = self._follow(doc_ids, 0, origin)
        last = len(self.ids) - 1  # a query at the end restores a checkpoint before it
        start = max(p for p in self.checkpoints if p <= common and p <= last)
        if last - start < CHUNK:
            return False
        ends = [e for e in chunk_ends(start, len(self.ids)) if e % CHUNK == 0]
        ends = [e for i, e in enumerate(ends) if i == 0 or e - start <= budget]
        chunks = [self.ids[a:b] for a, b in zip([start, *ends[:-1]], ends, strict=True)]
        new_outputs: list[torch.Tensor] | None = [] if self.keep_outputs else None
        _, states = self.engine.feed(chunks, self.checkpoints[start], new_outputs, threads=False)
        for end, state in zip(ends, states, strict=True):
            if end % self.stride == 0:
                self.checkpoints[end] = state
        self._thin(ends[-1])  # dense behind where reading got to: the next slice goes on there
        if new_outputs is not None:
            self._store_outputs(start, torch.cat(new_outputs))
        return last - ends[-1] >= CHUNK

    def _store_outputs(self, start: int, new: torch.Tensor) -> None:
        """Write the outputs after chain ids start.. (rows before `start` are still valid)."""
        end = start + len(new)
        if self.outputs.shape[0] < end or self.outputs.shape[1] != new.shape[1]:
            rows = max(end, min(2 * self.outputs.shape[0], self.engine.context_tokens + 1))
            grown = torch.empty(rows, new.shape[1], dtype=KEY_DTYPE)
            if self.outputs.shape[1] == new.shape[1]:
                grown[:start] = self.outputs[:start]
            self.outputs = grown
        self.outputs[start:end] = new

    def _follow(self, doc_ids: Sequence[int], known_common: int, origin: int | None = None) -> int:
        """Make the chain end where `doc_ids` ends, read from `origin` (default: the window of
        `doc_ids`); return how many chain ids were kept."""
        if origin is None:
            origin = self.engine.window_start(doc_ids)
        chain = self.ids
        if not chain or origin != self.origin:
            self._restart(doc_ids, origin)  # the window moved: read what a cold run reads
            return 1
        n = min(len(chain), len(doc_ids) - origin + 1)
        i = min(max(known_common - origin, 0) + 1, n)
        while i < n and chain[i] == doc_ids[origin + i - 1]:
            i += 1
        if i < len(chain) or len(chain) < len(doc_ids) - origin + 1:
            del chain[i:]  # from the first id that differs, the chain follows the document
            chain.extend(doc_ids[origin + i - 1 :])
            for pos in [p for p in self.checkpoints if p > i]:
                del self.checkpoints[pos]  # states past the divergence are stale
        return i

    def _restart(self, doc_ids: Sequence[int], origin: int) -> None:
        self.origin = origin
        self.ids = array("i", [self.engine.tokenizer.boundary_id])
        self.ids.extend(doc_ids[self.origin :])
        self.checkpoints = {0: self.engine.model.initial_state(1, self.engine.device)}
        self.stride = CHUNK

    def _thin(self, end: int) -> None:
        """Bound memory: sparse checkpoints far from `end`; over the cap, every other one."""
        far = end - RECENT_TOKENS
        self.checkpoints = {
            p: s for p, s in self.checkpoints.items() if p >= far or p % self.far_stride == 0
        }
        while len(self.checkpoints) > self.max_checkpoints:
            self.stride *= 2
            self.checkpoints = {p: s for p, s in self.checkpoints.items() if p % self.stride == 0}
