"""A document identifier cache: names already used in the file, mixed into the word ranking.

Most identifiers a person types next already occur earlier in the same file (local variables,
the module's own functions, `self.` attributes), and a global model ranks them poorly. This is
the classic cache language model (Kuhn and De Mori, 1990) at the word level:
P(word) = (1 - weight) * P_model(word) + weight * P_cache(word), where P_cache counts the
identifiers before the cursor, favouring recent ones. After `.`, only names seen after a `.`
count, and names seen after the same receiver (`self.` -> `self.x`) count most.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter

_NAME = re.compile(r"[^\W\d]\w*")
_RECEIVER = re.compile(r"([^\W\d]\w*)\s*\.\s*$")
RECENT_CHARS = 3000  # names in this many characters before the cursor count double
SCAN_CHARS = 30_000  # only this much text before the cursor is read: bounded time per request


def cache_distribution(text_before: str, typed: str) -> dict[str, float]:
    """P_cache over identifiers starting with `typed`, from the text before the word."""
    head = text_before[
        max(0, len(text_before) - len(typed) - SCAN_CHARS) : len(text_before) - len(typed)
    ]
    receiver_match = _RECEIVER.search(head)
    member = head.rstrip().endswith(".")
    counts: Counter[str] = Counter()
    recent_from = len(head) - RECENT_CHARS
    for match in _NAME.finditer(head):
        name = match.group()
        if not name.startswith(typed) or keyword.iskeyword(name):
            continue
        before = head[max(0, match.start() - 80) : match.start()].rstrip()
        if member and not before.endswith("."):
            continue
        weight = 2.0 if match.start() >= recent_from else 1.0
        if member and receiver_match and before[:-1].rstrip().endswith(receiver_match.group(1)):
            weight *= 4.0  # the same receiver: `self.` attributes for `self.`
        counts[name] += weight
    total = sum(counts.values())
    return {name: c / total for name, c in counts.items()} if total else {}


def mix(model: dict[str, float], cache: dict[str, float], weight: float) -> list[tuple[str, float]]:
    """Words ranked by the interpolated probability, highest first."""
    if not cache or weight <= 0:
        return sorted(model.items(), key=lambda kv: -kv[1])
    # Both sides as distributions over words with the typed prefix: the model's probabilities
    # are of the whole word, the cache's are already conditional on the prefix.
    total = sum(model.values())
    model = {n: p / total for n, p in model.items()} if total > 0 else {}
    # Trust the cache less when the model is sure: a confident model is usually right.
    weight *= 1.0 - max(model.values(), default=0.0)
    names = set(model) | set(cache)
    mixed = {n: (1 - weight) * model.get(n, 0.0) + weight * cache.get(n, 0.0) for n in names}
    return sorted(mixed.items(), key=lambda kv: -kv[1])
