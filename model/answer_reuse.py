"""What a document's last answer covers, so that the model need not run again.

An editor asks again at every keystroke. A keystroke that continues a word of the last
answer is answered from it (`continued`: the words that still match, renormalised), and a
popup carries the last answer's lines while the typing follows them (`carried_lines`).
`DocumentSession` keeps the last answer; this module is what may be read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .completion_settings import CompletionSettings
from .completions import Completions, Suggestion
from .words import is_identifier_char

# A word continued by a keystroke is answered from the last answer when at least this many of
# its words still match (with none, what matches lies only among the search's unseen
# candidates). The first words found are settled, more likely than any left unseen, so one
# match is enough (benchmarks/keystroke_reuse.py --min-matches compares with a fresh answer).
REUSE_MIN_MATCHES = 1


@dataclass(frozen=True)
class LastAnswer:
    """A session's last answer and what it answered (replaced whole, never changed)."""

    text_before: str
    settings: CompletionSettings
    result: Completions


def without_lines(result: Completions) -> Completions:
    """The words of `result` alone."""
    return replace(result, lines=[], lines_decoded=False) if result.lines_decoded else result


def continued(last: Completions, typed: str) -> Completions | None:
    """The answer after `typed` (identifier characters) continues the word of `last`, from
    `last` alone: its words that still match, their probabilities renormalised over them, and
    its lines that still match (their probabilities, given less typed, are a lower bound; when
    none does, the line is left to decode).

    None when that is not safe: not a continued word, a word cut short among the matches, or
    fewer than REUSE_MIN_MATCHES matches where the words were not every name possible.
    """
    word = last.typed + typed
    if not typed or not all(map(is_identifier_char, typed)) or not word.isidentifier():
        return None  # not a continued word, or a number
    matching = [w for w in last.words if w.label.startswith(word)]
    if any(not w.complete for w in matching):
        return None
    if not last.closed and len(matching) < REUSE_MIN_MATCHES:
        return None
    total = sum(w.probability for w in matching)
    words = [
        Suggestion(w.label, w.label[len(word) :], w.probability / total if total else 0.0)
        for w in matching
    ]
    lines = lines_after(last.lines, typed)
    # A line the keystroke left behind is decoded anew when ghost text is asked for.
    decoded = last.lines_decoded and (bool(lines) or not last.lines)
    return Completions(word, words, lines, last.closed, last.checked, decoded)


def lines_after(lines: list[Suggestion], typed: str) -> list[Suggestion]:
    """The lines that begin with `typed`, continued after it (those with something left)."""
    return [
        replace(line, insert=line.insert[len(typed) :])
        for line in lines
        if line.insert.startswith(typed) and line.insert[len(typed) :].strip()
    ]


def carried_lines(last: LastAnswer, text_before: str) -> list[Suggestion]:
    """The last answer's lines that the text typed since (anything, not only a word) follows."""
    if not text_before.startswith(last.text_before):
        return []
    return lines_after(last.result.lines, text_before[len(last.text_before) :])


def wanted_lines(
    text_before: str, settings: CompletionSettings, lines: bool | None, defer_line: bool
) -> tuple[bool, bool]:
    """(whether to decode lines now, whether the popup's line is deferred: `complete`'s
    `defer_line` where no line begins at the cursor)."""
    want_lines = settings.line_completions if lines is None else lines
    deferred = defer_line and want_lines and not begins_line(text_before)
    return want_lines and not deferred, deferred


def begins_line(text_before: str) -> bool:
    """Whether the cursor is where a line of code begins: nothing but indentation before it."""
    return not text_before[text_before.rfind("\n") + 1 :].strip()
