"""LSP positions <-> text offsets, in the negotiated encoding (UTF-16 by default, or UTF-8/32).

LSP lines end at `\\n`, `\\r\\n` or `\\r` only (not at the other characters `str.splitlines`
knows), and a column counts code units of the encoding. A column inside a character (half a
surrogate pair) snaps to that character's start; a position past the end of a line or the
document is out of range, and the caller answers with nothing.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _units(ch: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(ch.encode("utf-8", errors="surrogatepass"))
    if encoding == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    return 1


# A known line start this close before the wanted line is walked from, line by line.
NEARBY_LINES = 64


def line_bounds(source: str, line: int, known: tuple[int, int] = (0, 0)) -> tuple[int, int] | None:
    """Start and end offsets of line `line` (without its line break), or None if absent.

    `known` is a (line, offset where it starts) pair of `source`; when it is a few lines
    before `line`, the search walks from there instead of counting the whole document.
    """
    if line < 0:
        return None
    known_line, start = known
    if 0 <= line - known_line <= NEARBY_LINES:
        for _ in range(line - known_line):
            start = _next_line_start(source, start)
            if start < 0:
                return None
        return start, _line_end(source, start)
    if source.count("\r") == source.count("\r\n"):  # no lone "\r": lines end at "\n"
        nth = _nth_line_start(source, line)
        return None if nth is None else (nth, _line_end(source, nth))
    start = breaks = 0
    for match in _LINE_BREAK.finditer(source):
        if breaks == line:
            return start, match.start()
        start, breaks = match.end(), breaks + 1
    return (start, len(source)) if line == breaks else None


def _next_line_start(source: str, pos: int) -> int:
    """The offset just past the first line break at or after `pos` (-1 if there is none)."""
    newline = source.find("\n", pos)
    cr = source.find("\r", pos, len(source) if newline < 0 else newline)
    if cr >= 0:
        return cr + 2 if source.startswith("\n", cr + 1) else cr + 1
    return -1 if newline < 0 else newline + 1


def _line_end(source: str, start: int) -> int:
    newline = source.find("\n", start)
    end = len(source) if newline < 0 else newline
    cr = source.find("\r", start, end)
    return end if cr < 0 else cr


def _nth_line_start(source: str, line: int) -> int | None:
    """Offset where line `line` starts when lines end at "\n"; C-speed splits, no Python loop.

    Splitting from whichever end is nearer costs time in the distance from it, so a cursor
    near the end of a 20,000-line file costs what it costs in a short one.
    """
    total = source.count("\n")
    if line > total:
        return None
    if line <= total - line:
        return len(source) - len(source.split("\n", line)[-1])
    return len(source.rsplit("\n", total - line + 1)[0]) + 1 if line else 0


def offset_at(
    source: str,
    line: int,
    character: int,
    encoding: str = "utf-16",
    known: tuple[int, int] = (0, 0),
) -> int | None:
    """Index into `source` of an LSP position, or None when it is out of range.

    `known` is a (line, offset where it starts) hint, as for `line_bounds`.
    """
    bounds = line_bounds(source, line, known)
    if bounds is None or character < 0:
        return None
    start, end = bounds
    if source[start:end].isascii():  # one unit per character in every encoding
        return start + character if character <= end - start else None
    units = 0
    for index in range(start, end):
        if units >= character:
            return index
        units += _units(source[index], encoding)
        if units > character:  # the column falls inside this character
            return index
    return end if units == character else None


def character_at(source: str, offset: int, encoding: str = "utf-16") -> int:
    """The LSP character (column) of an index into `source`; reads only its line."""
    # A "\r\n" split by the offset counts its "\r" as a finished line break. The "\r" is
    # looked for after the last "\n" only: a file without one is not searched to its top.
    newline = source.rfind("\n", 0, offset)
    line_start = max(newline, source.rfind("\r", newline + 1, offset)) + 1
    text = source[line_start:offset]
    return len(text) if text.isascii() else sum(_units(ch, encoding) for ch in text)
