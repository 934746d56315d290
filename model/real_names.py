"""Real names: what may be offered where a name is used, so no suggestion is a name that
exists nowhere.

At a use (not after `.`, which static analysis judges), the legal names are the builtins and
keywords, the document's code (not its comments or strings), the workspace's identifiers and
what static analysis lists. A word outside them is offered only when the model is sure of it,
less sure where a name is being defined, and a line must begin with a legal name too, unless
it assigns to a new one.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from typing import Protocol, TypeVar

from .code_text import BUILTIN_NAMES, CodeText
from .decode_options import Candidate
from .prefix_constraint import HealedPrompt

# A name that exists nowhere is offered at a use only when the model gives it at least this
# share of its words (measured on tuning positions; docs/benchmarks.md, "Junk": the model's
# invented names there were never the expected one and never above 0.40).
INVENTED_NAME_MIN_SHARE = 0.5
# Where a name is defined, a new one needs less: at the tuning positions none below 0.6 was the
# name written, at the reported ones one was, at 0.63 (`junk_positions.py invented`).
INVENTED_DEFINITION_MIN_SHARE = 0.2
VOCABULARY_CHARS = 100_000  # the document's names come from this much text before the cursor
_NAME_HEAD = re.compile(r"[^\W\d]\w*")
# A line that assigns to new names (`total = 0`, `a, b = f()`, `x: int = 1`) defines them.
_ASSIGNS = re.compile(r"\s*[^\W\d]\w*(?:\s*,\s*[^\W\d]\w*)*\s*(?::[^=]*)?=(?!=)")


class _Word(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def probability(self) -> float: ...
    @property
    def complete(self) -> bool: ...


W = TypeVar("W", bound=_Word)


class LegalNames:
    """The names that exist at a use: builtins, keywords, the document's code, the workspace and
    static analysis's. The document is scanned only if a word needs it."""

    def __init__(
        self, code: CodeText, known: Sequence[str], workspace: Container[str] | None
    ) -> None:
        self.code, self.known, self.workspace = code, set(known), workspace
        self._document: set[str] | frozenset[str] | None = None

    def __contains__(self, name: object) -> bool:
        if name in BUILTIN_NAMES or name in self.known:
            return True
        if self.workspace is not None and name in self.workspace:
            return True
        if self._document is None:
            self._document = self.code.names(VOCABULARY_CHARS)
        return name in self._document


def keep_real_names(words: list[W], legal: Container[str], defining: bool) -> list[W]:
    """`words` without the names that exist nowhere, unless the model is sure of one: it has
    `INVENTED_NAME_MIN_SHARE` of the words' probability, or `INVENTED_DEFINITION_MIN_SHARE`
    where a name is being defined. A new name cut short (`test_get_`, `_VERBO`: the token
    budget or the deadline ended it) is no name, even where one is defined."""
    least = INVENTED_DEFINITION_MIN_SHARE if defining else INVENTED_NAME_MIN_SHARE
    total = sum(w.probability for w in words) or 1.0
    return [  # a word cut short by the deadline is no name the model is sure of
        w for w in words if w.label in legal or (w.complete and w.probability / total >= least)
    ]


def lines_of_real_names(
    lines: list[Candidate], healed: HealedPrompt, line_before: str, legal: Container[str]
) -> list[Candidate]:
    """The line candidates whose first name exists, or that assign to a new one."""
    typed_line = line_before[: len(line_before) - len(healed.typed)]
    kept = []
    for candidate in lines:
        rest = healed.typed + candidate.text[len(healed.removed) :]
        head = _NAME_HEAD.match(rest)
        if (
            head is None
            or head.group() in legal
            or (not typed_line.strip() and _ASSIGNS.match(rest) is not None)
        ):
            kept.append(candidate)
    return kept
