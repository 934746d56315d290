"""What the model reads for a prompt: where tokenizing starts, the token window, and the chunks.

Every caller (the CLI, the server's per-document sessions, `grucomplete eval`) must feed the
model exactly the same tokens in exactly the same pieces for the same text, so that a state
cached while typing is bitwise the one a cold start computes, int8 weights included (dynamic
quantisation scales activations per call, so the chunking must not depend on history):

- tokenizing starts at `text_origin` (0 unless the text is huge), a line break;
- the model reads at most `context_tokens` tokens, from `window_start`, a line start that moves
  in half-window steps, after a document boundary;
- the window is fed in chunks that end on multiples of `CHUNK` tokens, and at the end.

Plain Python: the server checks settings against these before torch is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

# Chunks end on multiples of this many tokens. Past 8 tokens a call costs the same per token,
# so a small chunk only shortens what a keystroke re-feeds.
CHUNK = 16

# A query feeds the model at most this many tokens (about 60 lines of Python): opening a file
# or jumping far down it starts reading this far back, while typing extends what was read. A
# GRU's memory is far shorter, and names from further up still reach completions through the
# identifier cache.
CONTEXT_TOKENS = 512
MIN_CONTEXT_TOKENS = 2 * CHUNK  # a window moves by half of itself: at least one chunk

# Text further back than this is never tokenized: far more than any window needs (a token is
# at least one byte), and it bounds the work of a 5 MB file to what a 128 KB one costs.
CONTEXT_CHARS = 128 * 1024


def text_origin(text: str) -> int:
    """Where tokenizing the text before the cursor starts: 0, or a line start near the end.

    The origin moves in steps of half of CONTEXT_CHARS, so typing rarely moves it, and it sits
    at a line break, where a token always starts: the ids of `text[origin:]` are then those of
    `text` past that point.
    """
    excess = len(text) - CONTEXT_CHARS
    if excess <= 0:
        return 0
    step = CONTEXT_CHARS // 2
    start = -(-excess // step) * step
    line = text.find("\n", start, start + step // 2)
    if line < 0:
        return start
    return line - 1 if text[line - 1] == "\r" else line


def window_start(ids: Sequence[int], context_tokens: int, starts_line: Sequence[bool]) -> int:
    """Where the model starts reading a context of `ids`: at most `context_tokens` back.

    The start moves in steps of half a window, so typing re-feeds the window only every
    `context_tokens / 2` tokens, and then begins at a token that starts a line (`starts_line`,
    per token id): the model reads lines whole, as after a document boundary. It depends on
    `ids` alone, so every caller feeds the same tokens for the same text.
    """
    excess = len(ids) - context_tokens
    if excess <= 0:
        return 0
    step = context_tokens // 2
    start = -(-excess // step) * step  # the first multiple of `step` at or after `excess`
    found = _line_start(ids, start, step // 2, starts_line)
    return start if found is None else found


def next_window_start(
    ids: Sequence[int], context_tokens: int, starts_line: Sequence[bool]
) -> int | None:
    """Where the window will start once text is added after `ids` and the window moves on
    (`window_start` of a longer text that keeps `ids`), or None while `ids` does not decide
    it yet (the line start it moves to may still be typed)."""
    step = context_tokens // 2
    following = (window_start(ids, context_tokens, starts_line) // step + 1) * step
    found = _line_start(ids, following, step // 2, starts_line)
    if found is None and len(ids) >= following + step // 2:
        return following  # no line starts within reach: the window starts mid-line
    return found


def _line_start(
    ids: Sequence[int], start: int, reach: int, starts_line: Sequence[bool]
) -> int | None:
    """The first of `ids[start : start + reach]` that starts a line, if any."""
    for pos in range(start, min(len(ids), start + reach)):
        if starts_line[ids[pos]]:
            return pos
    return None


def chunk_ends(start: int, end: int) -> list[int]:
    """Where the calls that feed ids `start..end` of a window end: on multiples of CHUNK."""
    return [*range((start // CHUNK + 1) * CHUNK, end, CHUNK), end]
