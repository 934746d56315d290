"""A document identifier cache: names already used in the file, mixed into the word ranking.

Most identifiers a person types next already occur earlier in the same file (local variables,
the module's own functions, `self.` attributes), and a global model ranks them poorly. This is
the classic cache language model (Kuhn and De Mori, 1990) at the word level:
P(word) = (1 - weight) * P_model(word) + weight * P_cache(word), where P_cache counts the
identifiers before the cursor, favouring recent ones. After `.`, only names seen after a `.`
count, and names seen after the same receiver (`self.` -> `self.x`) count most. Words in
comments and strings (`LATIN`, `the`) count only when the cursor is in a comment or string too.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from functools import lru_cache

from .code_text import CodeText, code_window

_RECEIVER = re.compile(r"([^\W\d]\w*)\s*\.\s*$")
RECENT_CHARS = 3000  # names in this many characters before the cursor count double
SCAN_CHARS = 30_000  # only this much text before the cursor is read: bounded time per request


def cache_distribution(
    text_before: str, typed: str, code: CodeText | None = None
) -> dict[str, float]:
    """P_cache over identifiers starting with `typed`, from the text before the word.

    `code`: the document's `CodeText`, up to date with `text_before` (kept by the session, so
    that the comments and strings are not scanned again at each keystroke).
    """
    if typed[:1].isdigit():
        return {}  # a number is being typed, not a name
    if code is None or code.text != text_before:
        code = CodeText.of(code_window(text_before, SCAN_CHARS + len(typed)))
    # At a code position only code's names count; in a comment or string, its words too.
    head = code.head(len(code.text) - len(typed), SCAN_CHARS)
    member = head.rstrip().endswith(".")
    recent_from = len(head) - RECENT_CHARS
    counts = _tally(_names_starting_with(typed, "." if member else ""), head, recent_from)
    if member and (receiver := _RECEIVER.search(head[-200:])):  # right before the cursor
        # The same receiver (`self.` attributes for `self.`) counts four times in all.
        same = _tally(_names_starting_with(typed, receiver.group(1) + "."), head, recent_from)
        counts.update({name: 3 * c for name, c in same.items()})
    for word in keyword.kwlist:
        counts.pop(word, None)
    total = sum(counts.values())
    return {name: c / total for name, c in counts.items()} if total else {}


def _tally(pattern: re.Pattern[str], head: str, recent_from: int) -> Counter[str]:
    """Occurrences of each name, those in the last RECENT_CHARS counted twice (in C, no loop)."""
    counts = Counter(pattern.findall(head))
    counts.update(pattern.findall(head, max(recent_from, 0)))
    return counts


@lru_cache(maxsize=256)
def _names_starting_with(typed: str, after: str) -> re.Pattern[str]:
    """Whole identifiers that start with `typed` and follow `after` (`.`, `self.` or nothing)."""
    name = re.escape(typed) + r"\w*" if typed else r"[^\W\d]\w*"
    if not after:
        return re.compile(r"(?<!\w)(" + name + ")")
    if after == ".":
        return re.compile(r"\.\s*(" + name + ")")
    return re.compile(r"(?<![\w.])" + re.escape(after[:-1]) + r"\s*\.\s*(" + name + ")")


# Below this probability for all the words found at a line's start, the model expects no name.
UNEXPECTED_NAME_MASS = 1e-3


def mix(
    model: dict[str, float], cache: dict[str, float], weight: float, line_start: bool = False
) -> list[tuple[str, float]]:
    """Words ranked by the interpolated probability, highest first (`line_start`: nothing
    but indentation before the cursor on its line)."""
    if not cache or weight <= 0:
        return sorted(model.items(), key=lambda kv: -kv[1])
    # Both sides as distributions over words with the typed prefix: the model's probabilities
    # are of the whole word, the cache's are already conditional on the prefix.
    total = sum(model.values())
    model = {n: p / total for n, p in model.items()} if total > 0 else {}
    # Trust the cache less when the model is sure: a confident model is usually right. Not at
    # a line's start where the model gives all its words almost nothing (it expects no name
    # there): one word found by chance is then all of them, and no sign of confidence.
    if not line_start or total >= UNEXPECTED_NAME_MASS:
        weight *= 1.0 - max(model.values(), default=0.0)
    names = dict.fromkeys([*model, *cache])  # ordered, so ties rank the same in every run
    mixed = {n: (1 - weight) * model.get(n, 0.0) + weight * cache.get(n, 0.0) for n in names}
    return sorted(mixed.items(), key=lambda kv: -kv[1])
