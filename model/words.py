"""What a Python identifier character is, and the word being typed before the cursor.

Plain Python (no torch): the server asks it on the event loop before the model is loaded.
"""

from __future__ import annotations


def is_identifier_char(ch: str) -> bool:
    """A character that may continue a Python name (Unicode letters and digits included)."""
    return ch == "_" or ch.isalnum()


def typed_length(text: str, limit: int = 256) -> int:
    """How many identifier characters end `text` (looking at most `limit` back)."""
    n = 0
    while n < min(len(text), limit) and is_identifier_char(text[-n - 1]):
        n += 1
    return n
