"""Python source as code: its names outside comments and strings, and the bracket state at a point.

Plain Python (no torch), fast enough to run on every keystroke: one regex pass finds comments and
string literals, so the identifier cache, the vocabulary of legal names and the line checks all
agree on what is code. `LineState` is the bracket-and-string state machine line decoding steps
byte by byte: a line candidate may not close a bracket it did not open, nor stop inside a string.
"""

from __future__ import annotations

import builtins
import keyword
import re
from array import array
from dataclasses import dataclass

# A comment, or a string literal (prefix, triple or single quotes); an unterminated one runs to
# the end of the text (triple) or of its line (single), as Python's tokenizer would read it.
_NON_CODE = re.compile(
    r"#[^\n]*"
    r"|(?:(?<![\w])[rRbBuUfF]{1,2})?"
    r'(?:"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:"""|$)'
    r"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'''|$)"
    r"|\"(?:\\.|[^\"\\\n])*(?:\"|(?=\n)|$)|'(?:\\.|[^'\\\n])*(?:'|(?=\n)|$))",
    re.DOTALL,
)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
BUILTIN_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
OPEN, CLOSE = b"([{", b")]}"


def code_only(text: str) -> tuple[str, bool]:
    """`text` with comments and strings replaced by a space, and whether its end is inside one.

    `text` should start at a line start outside a string; a window into a file is resynced by
    `code_window`.
    """
    pieces, last, inside = [], 0, False
    for m in _NON_CODE.finditer(text):
        pieces.append(text[last : m.start()])
        pieces.append(" ")
        last = m.end()
        if last == len(text):
            inside = _unterminated(m.group())
    pieces.append(text[last:])
    return "".join(pieces), inside


def _unterminated(literal: str) -> bool:
    if literal.startswith("#"):
        return True  # a comment runs to the line's end: the cursor is in it
    body = literal.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return len(body) < 2 * len(quote) or not body.endswith(quote) or body.endswith("\\" + quote)


def code_window(text: str, chars: int) -> str:
    """The last `chars` characters of `text` or a little more, starting at a line start outside
    a triple-quoted string (so that `code_only` reads it in step)."""
    start = max(0, len(text) - chars)
    if start == 0:
        return text
    start = text.rfind("\n", 0, start) + 1
    head = text[:start]
    for quote in ('"""', "'''"):
        if head.count(quote) % 2:  # inside a docstring: begin after it closes
            end = text.find(quote, start)
            start = len(text) if end < 0 else text.find("\n", end) + 1 or len(text)
    return text[start:]


def code_names(text: str) -> set[str]:
    """Identifiers in the code of `text` (comments and strings left out)."""
    return set(_IDENTIFIER.findall(code_only(text)[0]))


class CodeText:
    """A document's text before the cursor with its comments and strings blanked (each of their
    characters but line breaks a space, so positions agree with the text), kept up to date
    incrementally: an edit or a cursor move rescans only from the start of the first line that
    changed (or of the literal that line is in). The identifier cache, the legal names and the
    line state read it instead of scanning up to 100,000 characters per keystroke.
    """

    NAME_CHUNK = 8192  # the names of the code before a multiple of this are kept between requests

    def __init__(self) -> None:
        self.text = ""
        self.code = ""
        # The literals and comments, in order: their starts and ends, in flat arrays (no Python
        # object per literal: a closed document's would pin the allocator's arenas).
        self._starts, self._ends = array("q"), array("q")
        self._names: tuple[int, int, str, frozenset[str]] | None = None  # start, end, code, names

    @classmethod
    def of(cls, text: str) -> CodeText:
        code = cls()
        code.update(text)
        return code

    def update(self, text: str) -> None:
        """Follow the document to `text` (the whole text before the cursor)."""
        if text == self.text:
            return
        same = common_prefix_length(self.text, text)
        start = text.rfind("\n", 0, same) + 1
        starts, ends = self._starts, self._ends
        while ends and ends[-1] >= start:  # a literal reaching into the rescanned part
            ends.pop()
            start = min(start, starts.pop())
        pieces = [self.code[:start]]
        last = start
        for m in _NON_CODE.finditer(text, start):
            pieces.append(text[last : m.start()])
            pieces.append(_blank(m.group()))
            starts.append(m.start())
            ends.append(m.end())
            last = m.end()
        pieces.append(text[last:])
        self.text, self.code = text, "".join(pieces)

    @property
    def inside(self) -> bool:
        """Whether the end of the text is inside a comment or a string."""
        if not self._ends or self._ends[-1] != len(self.text):
            return False
        return _unterminated(self.text[self._starts[-1] :])

    def head(self, end: int, chars: int) -> str:
        """The code of the `chars` characters before `end` (or the text itself, if the cursor is
        inside a comment or string: there, words of text count)."""
        start = max(0, end - chars)
        if self.inside:
            return self.text[start:end]
        return self.code[start:end]

    def names(self, chars: int) -> set[str] | frozenset[str]:
        """Identifiers in the code of the last `chars` characters (about)."""
        n = len(self.code)
        end = n - n % self.NAME_CHUNK
        start = max(0, end - chars)
        cached = self._names
        if cached is None or cached[:2] != (start, end) or self.code[start:end] != cached[2]:
            stable = self.code[start:end]
            cached = (start, end, stable, frozenset(_IDENTIFIER.findall(stable)))
            self._names = cached
        # An identifier cut at the chunk's end is read whole from the rest.
        cut = end
        while cut > start and (self.code[cut - 1].isalnum() or self.code[cut - 1] == "_"):
            cut -= 1
        tail = _IDENTIFIER.findall(self.code, cut)
        return cached[3].union(tail) if tail else cached[3]

    def line_state(self, chars: int = 4000) -> LineState:
        """`line_state` of the text, from the kept code."""
        n = len(self.code)
        start = self.code.rfind("\n", 0, max(0, n - chars)) + 1 if n > chars else 0
        window = self.code[start:]
        depth, unknown = open_brackets(window, start == 0)
        if not self.inside:
            return LineState(depth, unknown_start=unknown)
        return _literal_state(depth, self.text[self._starts[-1] :], unknown)


_BRACKET = re.compile(r"[()[\]{}]")


# A line that begins a statement, at no bracket depth: one at column 0, or one that begins with
# a keyword no bracket can hold (`def`, `return`, ...).
_STATEMENT_START = re.compile(
    r"^(?:[A-Za-z_@]|[ \t]+(?:(?:async[ \t]+)?def|class|return|raise|import|from[ \t]+\S+"
    r"[ \t]+import|try[ \t]*:|except|finally[ \t]*:|elif|while|with|global|nonlocal|del|@)\b)",
    re.MULTILINE,
)


def open_brackets(code: str, whole: bool = True) -> tuple[int, bool]:
    """Brackets open at the end of `code` (comments and strings blanked), as Python's tokenizer
    counts them (`]{` leaves none open), from the last line that begins a statement. Without
    one, a close with none open is skipped: a statement begun before the window counts fewer
    open, never more (stricter, not looser). Also whether the statement may have begun before
    `code` (not `whole` text, no statement start in it): then more may be open."""
    starts = list(_STATEMENT_START.finditer(code))
    if starts:
        tail = code[starts[-1].start() :]
        return max(sum(map(tail.count, "([{")) - sum(map(tail.count, ")]}")), 0), False
    depth = 0
    for b in _BRACKET.findall(code):
        if b in "([{":
            depth += 1
        elif depth:
            depth -= 1
    return depth, not whole


def common_prefix_length(a: str, b: str) -> int:
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


_NOT_NEWLINE = re.compile(r"[^\n]+")


def _blank(literal: str) -> str:
    if "\n" not in literal:
        return " " * len(literal)
    return _NOT_NEWLINE.sub(lambda m: " " * len(m.group()), literal)


def _literal_state(depth: int, last: str, unknown: bool = False) -> LineState:
    """The state inside the unterminated comment or string `last`."""
    if last.startswith("#"):
        return LineState(depth, comment=True, unknown_start=unknown)
    body = last.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    escaped = body.endswith("\\") and not body.endswith("\\\\")
    return LineState(depth, quote.encode(), escaped=escaped, unknown_start=unknown)


# --- where a new name is being defined --------------------------------------------------------

_DEFINING = re.compile(
    r"(?:^|[^\w.])(?:def|class|as|global|nonlocal)\s+(?:[\w\s,]*,\s*)?\w*$"  # def f, as x
    # Module names (`import m`, `from m`) the package may lack; `from m import n` names a use of
    # what `m` defines (jedi lists those), not a new name.
    r"|^\s*import\s+[\w.\s,]*$|^\s*from\s+[\w.]*$"
    r"|^\s*(?:async\s+)?for\s+[\w\s,()]*$"  # for-targets
    r"|\blambda\s+[\w\s,=*]*$"  # lambda parameters
    r"|^\s*(?:async\s+)?def\s+\w+\s*\((?:[^()=]|=[^,]*,)*$"  # a parameter of a def
    r"|^\s*\w+(?:\s*,\s*\w+)*\s*,\s*\w*$"  # a tuple target: `a, b` at a statement start
)


def defines_name(line_before: str) -> bool:
    """Whether the word ending `line_before` (the current line up to the cursor) is a name
    being defined: a def/class/as name, a module imported, a parameter, a for-target or a
    tuple target (`from m import n`: `n` is a use of `m`'s name).
    A lone word at a statement start may as well be used as defined: it is not counted (the
    model's confidence decides there)."""
    return _DEFINING.search(line_before) is not None


# --- the bracket and string state of a line being written -------------------------------------


@dataclass(frozen=True)
class LineState:
    """Brackets open and the string (its quote) or comment the text is in, byte by byte."""

    depth: int = 0  # brackets open since the statement began
    quote: bytes = b""  # the quote of the string the text is in (b"" in code)
    escaped: bool = False  # the last byte was a backslash inside a string
    comment: bool = False
    # The statement began before the text read: `depth` is a lower bound (more may be open).
    unknown_start: bool = False

    def feed(self, data: bytes) -> LineState | None:
        """The state after `data`; None when it closes a bracket that is not open."""
        depth, quote, escaped, comment = self.depth, self.quote, self.escaped, self.comment
        i, n = 0, len(data)
        while i < n:
            b = data[i : i + 1]
            if comment:
                if b == b"\n":
                    comment = False
            elif quote:
                if escaped:
                    escaped = False
                elif b == b"\\":
                    escaped = True
                elif data.startswith(quote, i):
                    i += len(quote) - 1
                    quote = b""
                elif b == b"\n" and len(quote) == 1:
                    quote = b""  # an unterminated single-quoted string ends at the line
            elif b == b"#":
                comment = True
            elif b in (b'"', b"'"):
                quote = data[i : i + 3] if data[i : i + 3] in (b'"""', b"'''") else b
                i += len(quote) - 1
            elif b in (b"(", b"[", b"{"):
                depth += 1
            elif b in (b")", b"]", b"}"):
                depth -= 1
                if depth < 0:
                    return None
            i += 1
        return LineState(depth, quote, escaped, comment, self.unknown_start)


def line_state(text_before: str, chars: int = 4000) -> LineState:
    """The state at the end of `text_before`: brackets open (counted over a window of the last
    `chars` characters) and the string or comment the cursor is in."""
    window = code_window(text_before, chars)
    code, inside = code_only(window)
    depth, unknown = open_brackets(code, len(window) == len(text_before))
    if not inside:
        return LineState(depth, unknown_start=unknown)
    last = [m for m in _NON_CODE.finditer(window)][-1].group()
    return _literal_state(depth, last, unknown)


# A line no person would stop at: after an operator, a comma, a dot or a backslash, or after a
# keyword that needs more (`and`, `in`, `else` without its colon). `:` ends a block header.
_CUT_SHORT = re.compile(
    r"(?:[-+*/%=<>!&|^~,.@\\]|(?<![\w.])(?:and|or|not|in|is|if|else|elif|while|for|from|import|"
    r"as|with|lambda|assert|del|global|nonlocal|def|class|async|await))\s*$"
)
# Inside an open bracket a line ends after a comma (one argument or item a line), after `and`
# / `or` (a long condition), but not after `:` (an annotation or a dict key wants its value).
_ENDS_IN_BRACKET = re.compile(r"(?:,|(?<![\w.])(?:and|or))\s*$")


def well_formed_line(line_before: str, line: str, state: LineState) -> bool:
    """Whether `line` (typed part and completion: the whole line) is a place a person stops:
    not inside a string, not cut after an operator, a comma or a keyword that needs more.
    `state` is the state at its end. An open bracket at the end is fine (`foo(` and go on), and
    so, inside a bracket, is a comma (`"item",`, `arg: int = 0,`)."""
    if state.quote and len(state.quote) == 1:
        return False
    if state.quote:  # inside a docstring: a line of text, fine unless it closes nothing
        return True
    code = code_only(line)[0].rstrip()
    if not code.strip():
        return False
    if code.endswith(("(", "[", "{")):
        return True
    if state.depth > 0 or state.unknown_start:  # (a long list begun before the text read)
        if _ENDS_IN_BRACKET.search(code):
            return True
        if code.endswith(":"):
            return False
    return _CUT_SHORT.search(code) is None
