"""Lines written before, recalled whole: the rest of a line the project has finished the same way.

Code repeats itself line for line: an import every module makes, a decorator followed by the same
`def`, a call a sibling file makes the same way. The model writes such a line token by token and
often misses one of them; a line written before can be offered whole instead. Two keys find it:

- inside a line: the line typed so far (at least MIN_TYPED characters, indentation aside) and the
  lines that start with it;
- at a line start: the line before (the last one not blank) and the lines that followed it.

Counts come from the document's own text before the cursor and from the project's other files
(`LineMemory`, kept by the server's workspace index, the document itself left out). A line is
recalled only when its key went on that way at least as often as every other way together; its
probability, n / (total + 1), is the share of times it did, discounted by one way not seen yet
(about how often such lines proved right on held-out code: docs/benchmarks.md, round 7), and it
competes with the model's lines on it. Inside a line, the word the ways go on with is recalled
the same way, for the words, even where no whole line prevails.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol

# Fewer typed characters than this say too little of the line (`x = ` starts a thousand lines).
MIN_TYPED = 6
MAX_LINE_CHARS = 200  # a longer line is data, not a line anyone retypes
_WORD = re.compile(r"\w*")
# The document's text searched for earlier lines: as far back as the model's tokenizer reads.
DOCUMENT_CHARS = 128 * 1024


@dataclass(frozen=True)
class RecalledLine:
    insert: str  # the rest of the line, to insert at the cursor
    probability: float


class LineSource(Protocol):
    """Lines of other files: how each way of going on from a key was written there."""

    def continuations(self, typed: str, previous: str) -> Counter[str]: ...


@dataclass(frozen=True)
class Recalled:
    """How the line at the cursor went on before: each rest of the line, counted."""

    ways: Counter[str]

    def line(self) -> RecalledLine | None:
        """The rest of the line taken at least as often as every other together."""
        found = _prevailing(self.ways)
        return None if found is None else RecalledLine(*found)

    def word(self, typed: str) -> tuple[str, float] | None:
        """The word at the cursor (`typed` is its start) taken at least as often as every
        other way together, whatever followed it, and its probability, as for a line."""
        words: Counter[str] = Counter()
        for rest, count in self.ways.items():
            words[_leading_word(typed + rest)] += count
        found = _prevailing(words)
        return found if found is not None and found[0].isidentifier() else None


def recall(before: str, source: LineSource | None = None) -> Recalled | None:
    """The ways the line at the end of `before` went on in the document before it and in
    `source`; None where nothing is known (too little typed, nothing found)."""
    start = before.rfind("\n") + 1
    typed = before[start:].lstrip()
    if typed and len(typed) < MIN_TYPED:
        return None
    earlier = before[max(0, start - DOCUMENT_CHARS) : start]
    previous = "" if typed else _last_line(earlier)
    if not typed and not previous:
        return None
    ways = _continuations_in(earlier, typed, previous)
    if source is not None:
        ways.update(source.continuations(typed, previous))
    rests = Counter({line[len(typed) :]: n for line, n in ways.items()})
    return Recalled(rests) if rests else None


def recall_line(before: str, source: LineSource | None = None) -> RecalledLine | None:
    """The rest of the line at the end of `before` as written before, if one way prevails."""
    found = recall(before, source)
    return None if found is None else found.line()


def _leading_word(text: str) -> str:
    """The identifier characters `text` begins with."""
    found = _WORD.match(text)
    return found.group() if found else ""


def _prevailing(ways: Counter[str]) -> tuple[str, float] | None:
    """The way taken at least as often as all others together, with probability n / (total
    + 1): the share of times it was taken, discounted by one way not seen yet."""
    if not ways:
        return None
    way, count = ways.most_common(1)[0]
    total = sum(ways.values())
    return (way, count / (total + 1)) if 2 * count >= total else None


class LineMemory:
    """The lines of a set of files (a workspace's), counted by the keys `recall_line` uses.

    Thread-safe: the workspace index updates it on its own thread while requests read it.
    Bounded: past `max_lines` lines (about 170 bytes each), a file's lines are left out
    (`truncated`).
    """

    def __init__(self, max_lines: int = 300_000) -> None:
        self.max_lines = max_lines
        self.truncated = False
        self._files: dict[Hashable, tuple[str, ...]] = {}  # a file's lines, stripped, not blank
        self._lines = 0
        self._starting: _Table = {}  # the first MIN_TYPED characters -> lines
        self._following: _Table = {}  # a line -> the lines after it
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._lines

    @property
    def files(self) -> int:
        return len(self._files)

    def update(self, file: Hashable, text: str | None) -> None:
        """`file`'s lines are now those of `text` (None: the file is gone)."""
        lines = _code_lines(text) if text is not None else ()
        with self._lock:
            old = self._files.pop(file, None)
            if old is not None:
                self._lines -= len(old)
                self._count(old, _forget)
            if self._lines + len(lines) > self.max_lines:
                self.truncated = True
                return
            if lines:
                self._files[file] = lines
                self._lines += len(lines)
                self._count(lines, _remember)

    def for_file(self, file: Hashable) -> LineSource:
        """The lines `file` may recall: every file's but its own (the editor has that one)."""
        return _Excluding(self, file)

    def continuations(
        self, typed: str, previous: str, exclude: Hashable | None = None
    ) -> Counter[str]:
        with self._lock:
            if typed:
                ways = _ways(self._starting, typed[:MIN_TYPED], typed)
            else:
                ways = _ways(self._following, previous)
            own = self._files.get(exclude) if exclude is not None else None
        if own:  # what the file itself adds to the counts is taken out again
            ways.subtract(_continuations_of(own, typed, previous))
            ways = +ways
        return ways

    def _count(self, lines: tuple[str, ...], change: Callable[[_Table, str, str], None]) -> None:
        for before, line in zip(("", *lines), lines, strict=False):
            if len(line) > MIN_TYPED:
                change(self._starting, line[:MIN_TYPED], line)
            if before:
                change(self._following, before, line)


# A key's lines, counted. Most keys have one line, seen once: that line stands for its count
# (a Counter each would take three times the memory of the lines themselves).
_Table = dict[str, "str | Counter[str]"]


def _remember(table: _Table, key: str, line: str) -> None:
    ways = table.get(key)
    if ways is None:
        table[key] = line
    elif isinstance(ways, str):
        table[key] = Counter((ways, line))
    else:
        ways[line] += 1


def _forget(table: _Table, key: str, line: str) -> None:
    ways = table[key]
    if isinstance(ways, str):
        del table[key]
        return
    ways[line] -= 1
    if ways[line] <= 0:
        del ways[line]
        if not ways:
            del table[key]


def _ways(table: _Table, key: str, typed: str = "") -> Counter[str]:
    """The lines counted under `key` that go on from `typed`."""
    ways = table.get(key)
    if ways is None:
        return Counter()
    if isinstance(ways, str):
        return Counter((ways,)) if _goes_on(ways, typed) else Counter()
    return Counter({line: n for line, n in ways.items() if _goes_on(line, typed)})


@dataclass(frozen=True)
class _Excluding:
    memory: LineMemory
    file: Hashable

    def continuations(self, typed: str, previous: str) -> Counter[str]:
        return self.memory.continuations(typed, previous, self.file)


def _code_lines(text: str) -> tuple[str, ...]:
    """The lines of `text` stripped, blank and long ones left out; each text once in memory."""
    stripped = (line.strip() for line in text.splitlines())
    return tuple(sys.intern(line) for line in stripped if line and len(line) <= MAX_LINE_CHARS)


def _goes_on(line: str, typed: str) -> bool:
    return len(line) > len(typed) and line.startswith(typed)


def _continuations_of(lines: Iterable[str], typed: str, previous: str) -> Counter[str]:
    if typed:
        return Counter(line for line in lines if _goes_on(line, typed))
    lines = tuple(lines)
    return Counter(
        line for before, line in zip(lines, lines[1:], strict=False) if before == previous
    )


def _continuations_in(text: str, typed: str, previous: str) -> Counter[str]:
    """Ways of going on in `text` (whole lines), found without splitting it into lines."""
    if typed:
        pattern = rf"^[ \t]*({re.escape(typed)}[^\n]*\S)"
    else:  # the line after each line equal to `previous`, blank lines skipped
        pattern = rf"^[ \t]*{re.escape(previous)}[ \t]*\r?\n(?:[ \t]*\r?\n)*[ \t]*(\S[^\n]*\S|\S)"
    found = (m.group(1) for m in re.finditer(pattern, text, re.MULTILINE))
    return Counter(line for line in found if len(line) <= MAX_LINE_CHARS)


def _last_line(text: str) -> str:
    """The last line of `text` that is not blank, stripped ('' when there is none)."""
    for line in reversed(text[-8 * MAX_LINE_CHARS :].splitlines()):
        if line.strip():
            return line.strip()
    return ""
